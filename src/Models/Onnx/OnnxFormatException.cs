namespace Saliency.Models.Onnx;

/// <summary>
/// Thrown when bytes or a <see cref="Proto.ModelProto"/> are not a model Saliency.Gpu can read:
/// malformed protobuf, a missing graph, dangling tensor references, inconsistent initializer sizes,
/// or an unsupported tensor element type. The message names the offending part of the model.
/// </summary>
internal sealed class OnnxFormatException : Exception
{
    /// <summary>Creates the exception with a message naming the problem.</summary>
    public OnnxFormatException(string message) : base(message) { }

    /// <summary>Creates the exception wrapping a lower-level parse error.</summary>
    public OnnxFormatException(string message, Exception innerException) : base(message, innerException) { }
}
