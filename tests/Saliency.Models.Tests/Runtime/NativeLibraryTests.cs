using System.Runtime.InteropServices;
using NUnit.Framework;
using Saliency.Models.Runtime;
using Saliency.Models.Runtime.Interop;

namespace Saliency.Models.Tests.Runtime;

/// <summary>
/// Library resolution through the loader's test hook (<c>OrtNativeLibrary.Load</c>), which takes the candidates
/// explicitly instead of reading SALIENCY_ORT_LIBRARY, so the process-wide runtime is left alone.
/// </summary>
[TestFixture]
public unsafe class NativeLibraryTests
{
    private static readonly nint OldVersionString = Marshal.StringToCoTaskMemUTF8("1.20.0");

    [UnmanagedCallersOnly(CallConvs = [typeof(System.Runtime.CompilerServices.CallConvCdecl)])]
    private static nint* GetApiOfOldRuntime(uint version) => null; // what ONNX Runtime < 1.29 answers to GetApi(29)

    [UnmanagedCallersOnly(CallConvs = [typeof(System.Runtime.CompilerServices.CallConvCdecl)])]
    private static byte* VersionOfOldRuntime() => (byte*)OldVersionString;

    private static string FetchedLibraryDirectory => Path.GetDirectoryName(InferenceSession.RuntimeLibraryPath) is { Length: > 0 } dir && File.Exists(Path.Combine(dir, "libonnxruntime.so"))
        ? dir
        : AppContext.BaseDirectory;

    [Test]
    public void DefaultResolution_FindsTheFetchedCopyNextToTheAssemblies()
    {
        Assume.That(Environment.GetEnvironmentVariable(OrtNativeLibrary.LibraryEnvironmentVariable), Is.Null.Or.Empty,
            "SALIENCY_ORT_LIBRARY is set in this environment, so the default resolution legitimately uses it");
        Assert.That(File.Exists(Path.Combine(AppContext.BaseDirectory, "libonnxruntime.so")), Is.True,
            "the build copies libonnxruntime.so next to the test assembly");
        Assert.That(InferenceSession.RuntimeVersion, Is.EqualTo("1.29.0"));
    }

    [Test]
    public void OverridePath_ThatExists_IsUsed()
    {
        string path = InferenceSession.RuntimeLibraryPath; // the library this process already uses
        var api = OrtNativeLibrary.Load(path, trySystem: false, []);
        Assert.That(api.VersionString, Is.EqualTo("1.29.0"));
        Assert.That(api.LibraryPath, Is.EqualTo(path));
    }

    [Test]
    public void OverridePath_Missing_SaysWhatToSetOrRun()
    {
        string missing = "/nonexistent/dir/libonnxruntime.so";
        var ex = Assert.Throws<OnnxRuntimeNotFoundException>(() =>
            OrtNativeLibrary.Load(missing, trySystem: true, [AppContext.BaseDirectory]));
        Assert.That(ex!.Message, Does.Contain($"SALIENCY_ORT_LIBRARY={missing}: file not found"));
        Assert.That(ex.Message, Does.Contain("point SALIENCY_ORT_LIBRARY at an existing libonnxruntime.so"));
        Assert.That(ex.Message, Does.Contain("native/onnxruntime/fetch.sh"));
        Assert.That(ex.Message, Does.Contain("com.github.asus4.onnxruntime@0.4.9"));
        // An explicit override never falls back silently, even though a good copy sits next to the assembly.
        Assert.That(ex.Message, Does.Not.Contain(Path.Combine(AppContext.BaseDirectory, "libonnxruntime.so") + ":"));
    }

    [Test]
    public void OverridePath_NotOnnxRuntime_IsRecognised()
    {
        // A real shared library that is not ONNX Runtime: .NET's own System.Native.
        string other = Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "libSystem.Native.so");
        Assume.That(File.Exists(other), Is.True, "the .NET runtime ships libSystem.Native.so");
        var ex = Assert.Throws<OnnxRuntimeNotFoundException>(() => OrtNativeLibrary.Load(other, trySystem: false, []));
        Assert.That(ex!.Message, Does.Contain("does not export OrtGetApiBase"));
    }

    [Test]
    public void OverridePath_NotALibrary_IsRefusedByTheLoader()
    {
        string text = Path.Combine(Path.GetTempPath(), $"not-a-library-{Guid.NewGuid():N}.so");
        File.WriteAllText(text, "this is not an ELF file");
        try
        {
            var ex = Assert.Throws<OnnxRuntimeNotFoundException>(() => OrtNativeLibrary.Load(text, trySystem: false, []));
            Assert.That(ex!.Message, Does.Contain("refused"));
        }
        finally
        {
            File.Delete(text);
        }
    }

    [Test]
    public void NothingFound_ListsEveryCandidateAndTheFix()
    {
        string empty = Directory.CreateTempSubdirectory("saliency-ort-empty").FullName;
        try
        {
            var ex = Assert.Throws<OnnxRuntimeNotFoundException>(() => OrtNativeLibrary.Load(null, trySystem: false, [empty]));
            Assert.That(ex!.Message, Does.Contain(Path.Combine(empty, "libonnxruntime.so") + ": file not found"));
            Assert.That(ex.Message, Does.Contain("rebuild (dotnet build)"));
            Assert.That(ex.Message, Does.Contain("SALIENCY_ORT_LIBRARY=<repo>/native/onnxruntime/lib/libonnxruntime.so"));
            Assert.That(ex.Message, Does.Contain("C API version 29"));
        }
        finally
        {
            Directory.Delete(empty);
        }
    }

    [Test]
    public void BundledDirectory_IsUsedWhenNoOverride()
    {
        var api = OrtNativeLibrary.Load(null, trySystem: false, ["/nonexistent", FetchedLibraryDirectory]);
        Assert.That(api.VersionString, Is.EqualTo("1.29.0"));
    }

    [Test]
    [NonParallelizable]
    public void EnvironmentVariable_WinsOverTheBundledCopy()
    {
        // LoadDefault is the resolution the process-wide runtime uses; called directly it does not touch that runtime.
        string? saved = Environment.GetEnvironmentVariable(OrtNativeLibrary.LibraryEnvironmentVariable);
        try
        {
            Environment.SetEnvironmentVariable(OrtNativeLibrary.LibraryEnvironmentVariable, "/nonexistent/libonnxruntime.so");
            var ex = Assert.Throws<OnnxRuntimeNotFoundException>(() => OrtNativeLibrary.LoadDefault());
            Assert.That(ex!.Message, Does.Contain("SALIENCY_ORT_LIBRARY=/nonexistent/libonnxruntime.so: file not found"));

            string good = InferenceSession.RuntimeLibraryPath;
            Environment.SetEnvironmentVariable(OrtNativeLibrary.LibraryEnvironmentVariable, good);
            Assert.That(OrtNativeLibrary.LoadDefault().LibraryPath, Is.EqualTo(good));
        }
        finally
        {
            Environment.SetEnvironmentVariable(OrtNativeLibrary.LibraryEnvironmentVariable, saved);
        }
    }

    [Test]
    public void OlderRuntime_WithoutApi29_IsReportedWithItsVersion()
    {
        // A stand-in OrtApiBase of an older ONNX Runtime: GetApi(29) returns null, GetVersionString "1.20.0".
        nint* apiBase = stackalloc nint[2];
        apiBase[0] = (nint)(delegate* unmanaged[Cdecl]<uint, nint*>)&GetApiOfOldRuntime;
        apiBase[1] = (nint)(delegate* unmanaged[Cdecl]<byte*>)&VersionOfOldRuntime;
        var tried = new List<string>();
        bool ok = OrtNativeLibrary.TryReadApiBase(apiBase, "system libonnxruntime.so", tried, out var api);

        Assert.That(ok, Is.False);
        Assert.That(api, Is.Null);
        string message = OrtNativeLibrary.BuildMessage(tried, overrideGiven: false);
        Assert.That(message, Does.Contain("system libonnxruntime.so: ONNX Runtime 1.20.0 does not provide C API version 29"));
        Assert.That(message, Does.Contain("install ONNX Runtime 1.29+"));
    }
}
