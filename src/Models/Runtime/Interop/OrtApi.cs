using System.Runtime.InteropServices;

namespace Saliency.Models.Runtime.Interop;

/// <summary>
/// The part of ONNX Runtime's <c>OrtApi</c> function table (C API version 29, ONNX Runtime 1.29) that the
/// binding uses, read as unmanaged function pointers from the table <c>OrtGetApiBase()->GetApi(29)</c> returns.
/// </summary>
/// <remarks>
/// <para>The slot numbers are the member indices in <c>struct OrtApi</c> of <c>onnxruntime_c_api.h</c> 1.29.0,
/// computed by the C compiler (<c>offsetof(OrtApi, X) / sizeof(void*)</c>) with
/// <c>native/onnxruntime/print_slots.sh</c>, not counted by hand. ONNX Runtime only appends members, so a
/// newer library serves version 29 with the same layout. Every slot listed here is exercised by a test in
/// <c>tests/Saliency.Models.Tests/Runtime</c>.</para>
/// <para>Every <c>ORT_API2_STATUS</c> function returns an <c>OrtStatus*</c> (null on success).</para>
/// </remarks>
internal sealed unsafe class OrtApi
{
    /// <summary>The C API version the slots below belong to.</summary>
    public const uint ApiVersion = 29;

    // Slot indices in struct OrtApi (ONNX Runtime 1.29.0). Keep sorted by slot.
    internal const int SlotGetErrorCode = 1;
    internal const int SlotGetErrorMessage = 2;
    internal const int SlotCreateEnv = 3;
    internal const int SlotCreateSession = 7;
    internal const int SlotCreateSessionFromArray = 8;
    internal const int SlotRun = 9;
    internal const int SlotCreateSessionOptions = 10;
    internal const int SlotSetSessionGraphOptimizationLevel = 23;
    internal const int SlotSetIntraOpNumThreads = 24;
    internal const int SlotSessionGetInputCount = 30;
    internal const int SlotSessionGetOutputCount = 31;
    internal const int SlotSessionGetInputTypeInfo = 33;
    internal const int SlotSessionGetOutputTypeInfo = 34;
    internal const int SlotSessionGetInputName = 36;
    internal const int SlotSessionGetOutputName = 37;
    internal const int SlotCreateTensorWithDataAsOrtValue = 49;
    internal const int SlotGetTensorMutableData = 51;
    internal const int SlotCastTypeInfoToTensorInfo = 55;
    internal const int SlotGetOnnxTypeFromTypeInfo = 56;
    internal const int SlotGetTensorElementType = 60;
    internal const int SlotGetDimensionsCount = 61;
    internal const int SlotGetDimensions = 62;
    internal const int SlotGetTensorTypeAndShape = 65;
    internal const int SlotCreateCpuMemoryInfo = 69;
    internal const int SlotAllocatorFree = 76;
    internal const int SlotGetAllocatorWithDefaultOptions = 78;
    internal const int SlotReleaseEnv = 92;
    internal const int SlotReleaseStatus = 93;
    internal const int SlotReleaseMemoryInfo = 94;
    internal const int SlotReleaseSession = 95;
    internal const int SlotReleaseValue = 96;
    internal const int SlotReleaseTypeInfo = 98;
    internal const int SlotReleaseTensorTypeAndShapeInfo = 99;
    internal const int SlotReleaseSessionOptions = 100;
    internal const int SlotSessionOptionsAppendExecutionProviderCuda = 152;

    // OrtErrorCode GetErrorCode(const OrtStatus*)
    public readonly delegate* unmanaged[Cdecl]<nint, int> GetErrorCode;
    // const char* GetErrorMessage(const OrtStatus*)
    public readonly delegate* unmanaged[Cdecl]<nint, byte*> GetErrorMessage;
    // CreateEnv(OrtLoggingLevel, const char* logid, OrtEnv** out)
    public readonly delegate* unmanaged[Cdecl]<int, byte*, nint*, nint> CreateEnv;
    // CreateSession(const OrtEnv*, const char* model_path, const OrtSessionOptions*, OrtSession** out)
    public readonly delegate* unmanaged[Cdecl]<nint, byte*, nint, nint*, nint> CreateSession;
    // CreateSessionFromArray(const OrtEnv*, const void* data, size_t length, const OrtSessionOptions*, OrtSession** out)
    public readonly delegate* unmanaged[Cdecl]<nint, void*, nuint, nint, nint*, nint> CreateSessionFromArray;
    // Run(OrtSession*, const OrtRunOptions*, const char* const* input_names, const OrtValue* const* inputs, size_t n_in,
    //     const char* const* output_names, size_t n_out, OrtValue** outputs)
    public readonly delegate* unmanaged[Cdecl]<nint, nint, byte**, nint*, nuint, byte**, nuint, nint*, nint> Run;
    // CreateSessionOptions(OrtSessionOptions** out)
    public readonly delegate* unmanaged[Cdecl]<nint*, nint> CreateSessionOptions;
    // SetSessionGraphOptimizationLevel(OrtSessionOptions*, GraphOptimizationLevel)
    public readonly delegate* unmanaged[Cdecl]<nint, int, nint> SetSessionGraphOptimizationLevel;
    // SetIntraOpNumThreads(OrtSessionOptions*, int)
    public readonly delegate* unmanaged[Cdecl]<nint, int, nint> SetIntraOpNumThreads;
    // SessionGetInputCount / SessionGetOutputCount(const OrtSession*, size_t* out)
    public readonly delegate* unmanaged[Cdecl]<nint, nuint*, nint> SessionGetInputCount;
    public readonly delegate* unmanaged[Cdecl]<nint, nuint*, nint> SessionGetOutputCount;
    // SessionGetInputTypeInfo / SessionGetOutputTypeInfo(const OrtSession*, size_t index, OrtTypeInfo** out)
    public readonly delegate* unmanaged[Cdecl]<nint, nuint, nint*, nint> SessionGetInputTypeInfo;
    public readonly delegate* unmanaged[Cdecl]<nint, nuint, nint*, nint> SessionGetOutputTypeInfo;
    // SessionGetInputName / SessionGetOutputName(const OrtSession*, size_t index, OrtAllocator*, char** out)
    public readonly delegate* unmanaged[Cdecl]<nint, nuint, nint, byte**, nint> SessionGetInputName;
    public readonly delegate* unmanaged[Cdecl]<nint, nuint, nint, byte**, nint> SessionGetOutputName;
    // CreateTensorWithDataAsOrtValue(const OrtMemoryInfo*, void* data, size_t data_bytes, const int64_t* shape,
    //     size_t rank, ONNXTensorElementDataType, OrtValue** out)
    public readonly delegate* unmanaged[Cdecl]<nint, void*, nuint, long*, nuint, int, nint*, nint> CreateTensorWithDataAsOrtValue;
    // GetTensorMutableData(OrtValue*, void** out)
    public readonly delegate* unmanaged[Cdecl]<nint, void**, nint> GetTensorMutableData;
    // CastTypeInfoToTensorInfo(const OrtTypeInfo*, const OrtTensorTypeAndShapeInfo** out) — out is owned by the type info
    public readonly delegate* unmanaged[Cdecl]<nint, nint*, nint> CastTypeInfoToTensorInfo;
    // GetOnnxTypeFromTypeInfo(const OrtTypeInfo*, ONNXType* out)
    public readonly delegate* unmanaged[Cdecl]<nint, int*, nint> GetOnnxTypeFromTypeInfo;
    // GetTensorElementType(const OrtTensorTypeAndShapeInfo*, ONNXTensorElementDataType* out)
    public readonly delegate* unmanaged[Cdecl]<nint, int*, nint> GetTensorElementType;
    // GetDimensionsCount(const OrtTensorTypeAndShapeInfo*, size_t* out)
    public readonly delegate* unmanaged[Cdecl]<nint, nuint*, nint> GetDimensionsCount;
    // GetDimensions(const OrtTensorTypeAndShapeInfo*, int64_t* dims, size_t count)
    public readonly delegate* unmanaged[Cdecl]<nint, long*, nuint, nint> GetDimensions;
    // GetTensorTypeAndShape(const OrtValue*, OrtTensorTypeAndShapeInfo** out)
    public readonly delegate* unmanaged[Cdecl]<nint, nint*, nint> GetTensorTypeAndShape;
    // CreateCpuMemoryInfo(OrtAllocatorType, OrtMemType, OrtMemoryInfo** out)
    public readonly delegate* unmanaged[Cdecl]<int, int, nint*, nint> CreateCpuMemoryInfo;
    // AllocatorFree(OrtAllocator*, void*)
    public readonly delegate* unmanaged[Cdecl]<nint, void*, nint> AllocatorFree;
    // GetAllocatorWithDefaultOptions(OrtAllocator** out) — the allocator is owned by ONNX Runtime, never released
    public readonly delegate* unmanaged[Cdecl]<nint*, nint> GetAllocatorWithDefaultOptions;
    // void Release*(T*)
    public readonly delegate* unmanaged[Cdecl]<nint, void> ReleaseEnv;
    public readonly delegate* unmanaged[Cdecl]<nint, void> ReleaseStatus;
    public readonly delegate* unmanaged[Cdecl]<nint, void> ReleaseMemoryInfo;
    public readonly delegate* unmanaged[Cdecl]<nint, void> ReleaseSession;
    public readonly delegate* unmanaged[Cdecl]<nint, void> ReleaseValue;
    public readonly delegate* unmanaged[Cdecl]<nint, void> ReleaseTypeInfo;
    public readonly delegate* unmanaged[Cdecl]<nint, void> ReleaseTensorTypeAndShapeInfo;
    public readonly delegate* unmanaged[Cdecl]<nint, void> ReleaseSessionOptions;
    // SessionOptionsAppendExecutionProvider_CUDA(OrtSessionOptions*, const OrtCUDAProviderOptions*).
    // The V1 entry point on purpose: it loads libonnxruntime_providers_cuda.so at run time in every build, whereas
    // the V2 options (CreateCUDAProviderOptions) exist only in CUDA-enabled builds — not in the CPU build we fetch.
    public readonly delegate* unmanaged[Cdecl]<nint, OrtCudaProviderOptions*, nint> SessionOptionsAppendExecutionProviderCuda;

    /// <summary>The ONNX Runtime version string of the loaded library, e.g. "1.29.0".</summary>
    public string VersionString { get; }

    /// <summary>Full path (or name) of the library the table was read from.</summary>
    public string LibraryPath { get; }

    /// <summary>Reads the function pointers out of a non-null <c>const OrtApi*</c>.</summary>
    internal OrtApi(nint* table, string versionString, string libraryPath)
    {
        VersionString = versionString;
        LibraryPath = libraryPath;
        GetErrorCode = (delegate* unmanaged[Cdecl]<nint, int>)table[SlotGetErrorCode];
        GetErrorMessage = (delegate* unmanaged[Cdecl]<nint, byte*>)table[SlotGetErrorMessage];
        CreateEnv = (delegate* unmanaged[Cdecl]<int, byte*, nint*, nint>)table[SlotCreateEnv];
        CreateSession = (delegate* unmanaged[Cdecl]<nint, byte*, nint, nint*, nint>)table[SlotCreateSession];
        CreateSessionFromArray = (delegate* unmanaged[Cdecl]<nint, void*, nuint, nint, nint*, nint>)table[SlotCreateSessionFromArray];
        Run = (delegate* unmanaged[Cdecl]<nint, nint, byte**, nint*, nuint, byte**, nuint, nint*, nint>)table[SlotRun];
        CreateSessionOptions = (delegate* unmanaged[Cdecl]<nint*, nint>)table[SlotCreateSessionOptions];
        SetSessionGraphOptimizationLevel = (delegate* unmanaged[Cdecl]<nint, int, nint>)table[SlotSetSessionGraphOptimizationLevel];
        SetIntraOpNumThreads = (delegate* unmanaged[Cdecl]<nint, int, nint>)table[SlotSetIntraOpNumThreads];
        SessionGetInputCount = (delegate* unmanaged[Cdecl]<nint, nuint*, nint>)table[SlotSessionGetInputCount];
        SessionGetOutputCount = (delegate* unmanaged[Cdecl]<nint, nuint*, nint>)table[SlotSessionGetOutputCount];
        SessionGetInputTypeInfo = (delegate* unmanaged[Cdecl]<nint, nuint, nint*, nint>)table[SlotSessionGetInputTypeInfo];
        SessionGetOutputTypeInfo = (delegate* unmanaged[Cdecl]<nint, nuint, nint*, nint>)table[SlotSessionGetOutputTypeInfo];
        SessionGetInputName = (delegate* unmanaged[Cdecl]<nint, nuint, nint, byte**, nint>)table[SlotSessionGetInputName];
        SessionGetOutputName = (delegate* unmanaged[Cdecl]<nint, nuint, nint, byte**, nint>)table[SlotSessionGetOutputName];
        CreateTensorWithDataAsOrtValue = (delegate* unmanaged[Cdecl]<nint, void*, nuint, long*, nuint, int, nint*, nint>)table[SlotCreateTensorWithDataAsOrtValue];
        GetTensorMutableData = (delegate* unmanaged[Cdecl]<nint, void**, nint>)table[SlotGetTensorMutableData];
        CastTypeInfoToTensorInfo = (delegate* unmanaged[Cdecl]<nint, nint*, nint>)table[SlotCastTypeInfoToTensorInfo];
        GetOnnxTypeFromTypeInfo = (delegate* unmanaged[Cdecl]<nint, int*, nint>)table[SlotGetOnnxTypeFromTypeInfo];
        GetTensorElementType = (delegate* unmanaged[Cdecl]<nint, int*, nint>)table[SlotGetTensorElementType];
        GetDimensionsCount = (delegate* unmanaged[Cdecl]<nint, nuint*, nint>)table[SlotGetDimensionsCount];
        GetDimensions = (delegate* unmanaged[Cdecl]<nint, long*, nuint, nint>)table[SlotGetDimensions];
        GetTensorTypeAndShape = (delegate* unmanaged[Cdecl]<nint, nint*, nint>)table[SlotGetTensorTypeAndShape];
        CreateCpuMemoryInfo = (delegate* unmanaged[Cdecl]<int, int, nint*, nint>)table[SlotCreateCpuMemoryInfo];
        AllocatorFree = (delegate* unmanaged[Cdecl]<nint, void*, nint>)table[SlotAllocatorFree];
        GetAllocatorWithDefaultOptions = (delegate* unmanaged[Cdecl]<nint*, nint>)table[SlotGetAllocatorWithDefaultOptions];
        ReleaseEnv = (delegate* unmanaged[Cdecl]<nint, void>)table[SlotReleaseEnv];
        ReleaseStatus = (delegate* unmanaged[Cdecl]<nint, void>)table[SlotReleaseStatus];
        ReleaseMemoryInfo = (delegate* unmanaged[Cdecl]<nint, void>)table[SlotReleaseMemoryInfo];
        ReleaseSession = (delegate* unmanaged[Cdecl]<nint, void>)table[SlotReleaseSession];
        ReleaseValue = (delegate* unmanaged[Cdecl]<nint, void>)table[SlotReleaseValue];
        ReleaseTypeInfo = (delegate* unmanaged[Cdecl]<nint, void>)table[SlotReleaseTypeInfo];
        ReleaseTensorTypeAndShapeInfo = (delegate* unmanaged[Cdecl]<nint, void>)table[SlotReleaseTensorTypeAndShapeInfo];
        ReleaseSessionOptions = (delegate* unmanaged[Cdecl]<nint, void>)table[SlotReleaseSessionOptions];
        SessionOptionsAppendExecutionProviderCuda = (delegate* unmanaged[Cdecl]<nint, OrtCudaProviderOptions*, nint>)table[SlotSessionOptionsAppendExecutionProviderCuda];
    }

    /// <summary>Throws <see cref="OrtException"/> for a non-null <c>OrtStatus*</c>, releasing the status first.</summary>
    public void Check(nint status)
    {
        if (status == 0) return;
        throw ToException(status);
    }

    /// <summary>Converts and releases a non-null status.</summary>
    public OrtException ToException(nint status)
    {
        using var handle = new OrtStatusHandle(this, status);
        int code = GetErrorCode(status);
        string message = Marshal.PtrToStringUTF8((nint)GetErrorMessage(status)) ?? "(no message)";
        return new OrtException((OrtErrorCode)code, message);
    }
}

/// <summary>
/// <c>struct OrtCUDAProviderOptions</c> (the V1 CUDA options) of onnxruntime_c_api.h 1.29; 64 bytes on x64, field
/// offsets 0, 4, 8, 16, 20, 24, 32, 40, 48, 52, 56 (checked by a test against the C compiler's offsetof values).
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct OrtCudaProviderOptions
{
    public int DeviceId;
    /// <summary>OrtCudnnConvAlgoSearch: 0 exhaustive, 1 heuristic, 2 default.</summary>
    public int CudnnConvAlgoSearch;
    public nuint GpuMemLimit;
    public int ArenaExtendStrategy;
    public int DoCopyInDefaultStream;
    public int HasUserComputeStream;
    public nint UserComputeStream;
    public nint DefaultMemoryArenaCfg;
    public int TunableOpEnable;
    public int TunableOpTuningEnable;
    public int TunableOpMaxTuningDurationMs;

    /// <summary>The defaults of the C++ constructor in the header, on the given device.</summary>
    public static OrtCudaProviderOptions Defaults(int deviceId) => new()
    {
        DeviceId = deviceId,
        CudnnConvAlgoSearch = 0,
        GpuMemLimit = nuint.MaxValue,
        DoCopyInDefaultStream = 1,
    };
}
