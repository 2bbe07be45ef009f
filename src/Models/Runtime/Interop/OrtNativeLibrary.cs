using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;

namespace Saliency.Models.Runtime.Interop;

/// <summary>
/// Finds and loads <c>libonnxruntime.so</c> and reads its C API table, in this order:
/// <list type="number">
/// <item>the full path in the environment variable <c>SALIENCY_ORT_LIBRARY</c> (if set, it must work: no fallback),</item>
/// <item>a system copy on the loader path (<c>libonnxruntime.so</c>, <c>libonnxruntime.so.1</c>), used if it serves API 29,</item>
/// <item>the copy the build fetched (native/onnxruntime/fetch.sh) next to the assemblies.</item>
/// </list>
/// Failure of all of them raises <see cref="OnnxRuntimeNotFoundException"/> listing what was tried and how to fix it.
/// </summary>
internal static unsafe class OrtNativeLibrary
{
    /// <summary>Environment variable naming the library to use (full path).</summary>
    public const string LibraryEnvironmentVariable = "SALIENCY_ORT_LIBRARY";

    /// <summary>File name of the library on Linux.</summary>
    public const string LibraryFileName = "libonnxruntime.so";

    /// <summary>Loads the library by the default resolution order.</summary>
    public static OrtApi LoadDefault()
    {
        string? overridePath = Environment.GetEnvironmentVariable(LibraryEnvironmentVariable);
        var bundledDirectories = new List<string>();
        string? assemblyDir = Path.GetDirectoryName(typeof(OrtNativeLibrary).Assembly.Location);
        if (!string.IsNullOrEmpty(assemblyDir)) bundledDirectories.Add(assemblyDir);
        if (!bundledDirectories.Contains(AppContext.BaseDirectory.TrimEnd('/')))
            bundledDirectories.Add(AppContext.BaseDirectory.TrimEnd('/'));
        return Load(string.IsNullOrWhiteSpace(overridePath) ? null : overridePath, trySystem: true, bundledDirectories);
    }

    /// <summary>
    /// Loads the library from the given candidates (the test hook behind <see cref="LoadDefault"/>).
    /// </summary>
    /// <param name="overridePath">The user's explicit path; when non-null it is the only candidate.</param>
    /// <param name="trySystem">Whether to try the dynamic loader's search path.</param>
    /// <param name="bundledDirectories">Folders that may hold the fetched copy.</param>
    internal static OrtApi Load(string? overridePath, bool trySystem, IReadOnlyList<string> bundledDirectories)
    {
        var tried = new List<string>();
        if (overridePath is not null)
        {
            if (TryLoadPath(overridePath, $"{LibraryEnvironmentVariable}={overridePath}", tried, out var api)) return api!;
            throw new OnnxRuntimeNotFoundException(BuildMessage(tried, overrideGiven: true));
        }

        if (trySystem)
        {
            foreach (string name in new[] { LibraryFileName, LibraryFileName + ".1" })
            {
                if (!NativeLibrary.TryLoad(name, out nint handle))
                {
                    tried.Add($"system {name}: not found on the loader path");
                    continue;
                }
                if (TryReadApi(handle, $"system {name}", tried, out var api)) return api!;
                NativeLibrary.Free(handle);
            }
        }

        foreach (string dir in bundledDirectories)
        {
            string path = Path.Combine(dir, LibraryFileName);
            if (TryLoadPath(path, path, tried, out var api)) return api!;
        }
        throw new OnnxRuntimeNotFoundException(BuildMessage(tried, overrideGiven: false));
    }

    private static bool TryLoadPath(string path, string label, List<string> tried, out OrtApi? api)
    {
        api = null;
        if (!File.Exists(path))
        {
            tried.Add($"{label}: file not found");
            return false;
        }
        nint handle;
        try
        {
            handle = NativeLibrary.Load(path);
        }
        catch (DllNotFoundException e)
        {
            tried.Add($"{label}: the dynamic loader refused it ({e.Message.Trim()})");
            return false;
        }
        catch (BadImageFormatException e)
        {
            tried.Add($"{label}: not a loadable library for this platform ({e.Message.Trim()})");
            return false;
        }
        if (TryReadApi(handle, label, tried, out api)) return true;
        NativeLibrary.Free(handle);
        return false;
    }

    // struct OrtApiBase { const OrtApi* (*GetApi)(uint32_t version); const char* (*GetVersionString)(void); }
    private static bool TryReadApi(nint library, string label, List<string> tried, out OrtApi? api)
    {
        api = null;
        if (!NativeLibrary.TryGetExport(library, "OrtGetApiBase", out nint getApiBase))
        {
            tried.Add($"{label}: loaded, but it does not export OrtGetApiBase (not an ONNX Runtime library)");
            return false;
        }
        var apiBase = ((delegate* unmanaged[Cdecl]<nint*>)getApiBase)();
        return TryReadApiBase(apiBase, label, tried, out api);
    }

    /// <summary>Reads the API table out of an <c>OrtApiBase</c>, checking that it serves <see cref="OrtApi.ApiVersion"/>.</summary>
    internal static bool TryReadApiBase(nint* apiBase, string label, List<string> tried, out OrtApi? api)
    {
        api = null;
        if (apiBase == null)
        {
            tried.Add($"{label}: OrtGetApiBase returned null");
            return false;
        }
        var getApi = (delegate* unmanaged[Cdecl]<uint, nint*>)apiBase[0];
        var getVersionString = (delegate* unmanaged[Cdecl]<byte*>)apiBase[1];
        string version = Marshal.PtrToStringUTF8((nint)getVersionString()) ?? "unknown";
        nint* table = getApi(OrtApi.ApiVersion);
        if (table == null)
        {
            tried.Add($"{label}: ONNX Runtime {version} does not provide C API version {OrtApi.ApiVersion} " +
                      "(ONNX Runtime 1.29 or newer is needed)");
            return false;
        }
        string where = label.StartsWith("system ", StringComparison.Ordinal) ? label["system ".Length..] : label;
        if (label.StartsWith(LibraryEnvironmentVariable + "=", StringComparison.Ordinal))
            where = label[(LibraryEnvironmentVariable.Length + 1)..];
        api = new OrtApi(table, version, where);
        return true;
    }

    internal static string BuildMessage(List<string> tried, bool overrideGiven)
    {
        var sb = new StringBuilder();
        sb.Append("ONNX Runtime could not be loaded: Saliency.Models needs libonnxruntime.so with C API version ")
          .Append(OrtApi.ApiVersion).Append(" (ONNX Runtime 1.29 or newer, linux-x64). Tried:");
        foreach (string t in tried) sb.Append("\n  - ").Append(t);
        sb.Append("\nTo fix, do one of:");
        if (overrideGiven)
            sb.Append("\n  - point ").Append(LibraryEnvironmentVariable)
              .Append(" at an existing libonnxruntime.so 1.29+ (full path), or unset it to use the copy fetched by the build;");
        sb.Append("\n  - rebuild (dotnet build): the build runs native/onnxruntime/fetch.sh, which downloads the npm package ")
          .Append("com.github.asus4.onnxruntime@0.4.9 (SHA-256 pinned) and copies libonnxruntime.so next to the assemblies;")
          .Append("\n  - or run native/onnxruntime/fetch.sh yourself and set ").Append(LibraryEnvironmentVariable)
          .Append("=<repo>/native/onnxruntime/lib/libonnxruntime.so;")
          .Append("\n  - or install ONNX Runtime 1.29+ so that libonnxruntime.so is on the dynamic loader path (e.g. /usr/lib, LD_LIBRARY_PATH).");
        return sb.ToString();
    }
}
