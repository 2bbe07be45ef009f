namespace Saliency.Models.Runtime;

/// <summary>ONNX Runtime's error codes (<c>OrtErrorCode</c> in <c>onnxruntime_error_code.h</c>, 1.29).</summary>
public enum OrtErrorCode
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

/// <summary>An error reported by ONNX Runtime through a non-null <c>OrtStatus</c>: its code and message.</summary>
public class OrtException : Exception
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

    /// <summary>ONNX Runtime's message, verbatim.</summary>
    public string OrtMessage { get; }
}

/// <summary>
/// The CUDA execution provider was requested but cannot be used (its library is absent, or CUDA/cuDNN or the GPU
/// is missing). The message says what to fetch or install.
/// </summary>
public sealed class CudaProviderUnavailableException : OrtException
{
    internal CudaProviderUnavailableException(OrtErrorCode code, string ortMessage, string message)
        : base(code, ortMessage, message)
    {
    }
}

/// <summary>
/// No usable ONNX Runtime library (C API version 29) was found. The message lists every place that was tried and
/// exactly what to run, set or install.
/// </summary>
public sealed class OnnxRuntimeNotFoundException : Exception
{
    /// <summary>Creates the exception with the full diagnostic message.</summary>
    public OnnxRuntimeNotFoundException(string message) : base(message)
    {
    }
}
