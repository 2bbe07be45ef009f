using System.Text;

namespace Saliency.Models.Runtime.Interop;

/// <summary>
/// Process-wide ONNX Runtime state, created lazily and thread-safely on first use: the API table, one
/// <c>OrtEnv</c> (ONNX Runtime wants a single environment per process; it is never released), the CPU memory
/// info used for caller-owned tensors and the default allocator.
/// </summary>
internal static unsafe class OrtRuntime
{
    /// <summary>Logging severity of the environment: errors only, so that warnings do not flood a host's stderr.</summary>
    private const int LoggingLevelError = 3;

    // OrtAllocatorType / OrtMemType values from onnxruntime_c_api.h.
    private const int OrtDeviceAllocator = 0;
    private const int OrtMemTypeDefault = 0;

    private static readonly Lazy<OrtApi> LazyApi = new(OrtNativeLibrary.LoadDefault, LazyThreadSafetyMode.ExecutionAndPublication);
    private static readonly Lazy<OrtEnvHandle> LazyEnv = new(CreateEnvironment, LazyThreadSafetyMode.ExecutionAndPublication);
    private static readonly Lazy<OrtMemoryInfoHandle> LazyCpuMemory = new(CreateCpuMemoryInfo, LazyThreadSafetyMode.ExecutionAndPublication);
    private static readonly Lazy<nint> LazyAllocator = new(GetDefaultAllocator, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The API table; loading failures surface as <see cref="OnnxRuntimeNotFoundException"/> (and are cached).</summary>
    public static OrtApi Api => LazyApi.Value;

    /// <summary>The process-wide environment.</summary>
    public static OrtEnvHandle Env => LazyEnv.Value;

    /// <summary>Memory info describing plain CPU memory (the pinned managed arrays handed to ONNX Runtime).</summary>
    public static OrtMemoryInfoHandle CpuMemoryInfo => LazyCpuMemory.Value;

    /// <summary>ONNX Runtime's default CPU allocator (owned by ONNX Runtime, never released).</summary>
    public static nint DefaultAllocator => LazyAllocator.Value;

    private static OrtEnvHandle CreateEnvironment()
    {
        var api = Api;
        nint env;
        byte[] logId = Encoding.UTF8.GetBytes("saliency\0");
        fixed (byte* id = logId)
            api.Check(api.CreateEnv(LoggingLevelError, id, &env));
        return new OrtEnvHandle(env);
    }

    private static OrtMemoryInfoHandle CreateCpuMemoryInfo()
    {
        var api = Api;
        nint info;
        api.Check(api.CreateCpuMemoryInfo(OrtDeviceAllocator, OrtMemTypeDefault, &info));
        return new OrtMemoryInfoHandle(info);
    }

    private static nint GetDefaultAllocator()
    {
        var api = Api;
        nint allocator;
        api.Check(api.GetAllocatorWithDefaultOptions(&allocator));
        return allocator;
    }
}
