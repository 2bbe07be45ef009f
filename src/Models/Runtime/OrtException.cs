namespace Saliency.Models.Runtime;

/// <summary>ONNX Runtime's error codes (<c>OrtErrorCode</c> in <c>onnxruntime_error_code.h</c>, 1.31).</summary>
internal enum OrtErrorCode
{
    /// <summary>Success (never carried by an exception).</summary>
    Ok = 0,
    /// <summary>Generic failure.</summary>
    Fail = 1,
    /// <summary>A caller-supplied argument was invalid.</summary>
    InvalidArgument = 2,
    /// <summary>A required file (such as a model file) does not exist.</summary>
    NoSuchFile = 3,
    /// <summary>Legacy code retained for ABI compatibility.</summary>
    NoModel = 4,
    /// <summary>A hardware accelerator or backend engine failed.</summary>
    EngineError = 5,
    /// <summary>An exception was raised while running the model.</summary>
    RuntimeException = 6,
    /// <summary>The model bytes are not a valid ONNX protobuf.</summary>
    InvalidProtobuf = 7,
    /// <summary>The model was already loaded.</summary>
    ModelLoaded = 8,
    /// <summary>The operation is not implemented.</summary>
    NotImplemented = 9,
    /// <summary>The graph is invalid (bad node, type or shape).</summary>
    InvalidGraph = 10,
    /// <summary>An execution provider failed.</summary>
    EpFail = 11,
    /// <summary>Model loading was cancelled.</summary>
    ModelLoadCanceled = 12,
    /// <summary>The model must be compiled first.</summary>
    ModelRequiresCompilation = 13,
    /// <summary>Something looked up was not found.</summary>
    NotFound = 14,
    /// <summary>The device was reset.</summary>
    DeviceReset = 15,
}

/// <summary>
/// An error reported by ONNX Runtime: its code and message. The official binding throws
/// <c>Microsoft.ML.OnnxRuntime.OnnxRuntimeException</c>, whose code is internal and only spelled into the message as
/// <c>[ErrorCode:Name] text</c>; <see cref="From"/> reads it back so that callers can branch on <see cref="ErrorCode"/>,
/// and keeps the original as <see cref="Exception.InnerException"/>.
/// </summary>
internal class OrtException : Exception
{
    /// <summary>Creates the exception for an ONNX Runtime status.</summary>
    public OrtException(OrtErrorCode errorCode, string ortMessage)
        : base($"ONNX Runtime error {errorCode}: {ortMessage}")
    {
        ErrorCode = errorCode;
        OrtMessage = ortMessage;
    }

    /// <summary>Creates the exception with a message of our own that wraps ONNX Runtime's.</summary>
    public OrtException(OrtErrorCode errorCode, string ortMessage, string message, Exception? inner = null)
        : base(message, inner)
    {
        ErrorCode = errorCode;
        OrtMessage = ortMessage;
    }

    /// <summary>ONNX Runtime's error code.</summary>
    public OrtErrorCode ErrorCode { get; }

    /// <summary>ONNX Runtime's message, verbatim (without the binding's <c>[ErrorCode:…]</c> prefix).</summary>
    public string OrtMessage { get; }

    // The names OnnxRuntimeException writes (csharp/src/Microsoft.ML.OnnxRuntime/Exceptions.shared.cs): the C
    // names, except that codes 11 and 12 keep the binding's historical names.
    private static readonly Dictionary<string, OrtErrorCode> CodeNames = new(StringComparer.Ordinal)
    {
        ["ShapeInferenceNotRegistered"] = OrtErrorCode.EpFail,
        ["RequirementNotRegistered"] = OrtErrorCode.ModelLoadCanceled,
    };

    /// <summary>Converts the official binding's exception, reading the code from its message.</summary>
    public static OrtException From(Microsoft.ML.OnnxRuntime.OnnxRuntimeException e)
    {
        ArgumentNullException.ThrowIfNull(e);
        var (code, text) = ParseMessage(e.Message);
        return new OrtException(code, text, $"ONNX Runtime error {code}: {text}", e);
    }

    /// <summary>Splits <c>[ErrorCode:Name] text</c>; an unknown or absent code reads as <see cref="OrtErrorCode.Fail"/>.</summary>
    internal static (OrtErrorCode Code, string Text) ParseMessage(string message)
    {
        const string Prefix = "[ErrorCode:";
        if (!message.StartsWith(Prefix, StringComparison.Ordinal)) return (OrtErrorCode.Fail, message);
        int close = message.IndexOf(']', Prefix.Length);
        if (close < 0) return (OrtErrorCode.Fail, message);
        string name = message[Prefix.Length..close];
        string text = message[(close + 1)..].TrimStart();
        if (CodeNames.TryGetValue(name, out var aliased)) return (aliased, text);
        return Enum.TryParse<OrtErrorCode>(name, ignoreCase: false, out var code) && Enum.IsDefined(code)
            ? (code, text)
            : (OrtErrorCode.Fail, text);
    }
}

/// <summary>
/// The CUDA execution provider was requested but cannot be used. <see cref="Missing"/> names each missing piece —
/// the GPU build of ONNX Runtime (<c>-p:SaliencyOrtGpu=true</c>), the driver (<c>libcuda.so.1</c>), the CUDA runtime,
/// cuBLAS, cuDNN — and the message says how to get it. Thrown instead of silently running on the CPU.
/// </summary>
internal sealed class CudaProviderUnavailableException : OrtException
{
    internal CudaProviderUnavailableException(IReadOnlyList<string> missing, string ortMessage, string message, Exception? inner = null)
        : base(OrtErrorCode.EpFail, ortMessage, message, inner)
    {
        Missing = missing;
    }

    /// <summary>What is missing, one entry per component (empty when everything was found and ONNX Runtime still refused).</summary>
    public IReadOnlyList<string> Missing { get; }
}

/// <summary>
/// The ONNX Runtime native library of the NuGet package could not be loaded (e.g. a platform without runtime assets,
/// or a published app whose <c>runtimes/</c> folder was removed). The message says what was tried.
/// </summary>
internal sealed class OnnxRuntimeNotFoundException : Exception
{
    /// <summary>Creates the exception with the full diagnostic message.</summary>
    public OnnxRuntimeNotFoundException(string message, Exception? inner = null) : base(message, inner)
    {
    }
}
