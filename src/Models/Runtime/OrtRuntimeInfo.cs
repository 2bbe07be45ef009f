using Ort = Microsoft.ML.OnnxRuntime;

namespace Saliency.Models.Runtime;

/// <summary>
/// The process-wide ONNX Runtime, as the official binding loads it: its version, providers and the file it came from.
/// The binding resolves <c>libonnxruntime.so</c> through the NuGet runtime assets (<c>runtimes/linux-x64/native/</c>,
/// copied next to the app by the build) and creates one <c>OrtEnv</c> per process on first use; a failure to load it is
/// turned into <see cref="OnnxRuntimeNotFoundException"/> here, once, and cached.
/// </summary>
internal static class OrtRuntimeInfo
{
    private static readonly Lazy<(string Version, string[] Providers)> Loaded = new(Load, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Loads the native library (if not yet) or throws <see cref="OnnxRuntimeNotFoundException"/>.</summary>
    public static void EnsureLoaded() => _ = Loaded.Value;

    public static string Version => Loaded.Value.Version;

    public static IReadOnlyList<string> Providers => Loaded.Value.Providers;

    /// <summary>
    /// The mapped <c>libonnxruntime.so</c> of this process, read from <c>/proc/self/maps</c> (the binding does not say
    /// which file the loader picked).
    /// </summary>
    public static string LibraryPath
    {
        get
        {
            EnsureLoaded();
            const string Maps = "/proc/self/maps";
            if (File.Exists(Maps))
                foreach (string line in File.ReadLines(Maps))
                {
                    int slash = line.IndexOf('/');
                    if (slash >= 0 && line.Contains("libonnxruntime.so", StringComparison.Ordinal)
                        && !line.Contains("providers", StringComparison.Ordinal))
                        return line[slash..].Trim();
                }
            return "(loaded by Microsoft.ML.OnnxRuntime from its runtimes/ assets)";
        }
    }

    private static (string, string[]) Load()
    {
        try
        {
            OrtTelemetry.DisableUnlessChosen();
            var env = Ort.OrtEnv.Instance();
            OrtTelemetry.AfterEnvironmentCreated(env);
            return (env.GetVersionString(), env.GetAvailableProviders());
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException or TypeInitializationException)
        {
            throw new OnnxRuntimeNotFoundException(
                "The ONNX Runtime native library (libonnxruntime.so of the NuGet package Microsoft.ML.OnnxRuntime, or " +
                "Microsoft.ML.OnnxRuntime.Gpu.Linux with -p:SaliencyOrtGpu=true) could not be loaded: " +
                $"{(e.InnerException ?? e).Message}\nIt is resolved from runtimes/<rid>/native/ next to the application " +
                "(restored and copied by `dotnet build`); rebuild, and on publish keep the runtimes/ folder or publish for a RID.", e);
        }
    }
}
