using Saliency.Models.Onnx;

namespace Saliency.Models.Runtime;

/// <summary>An input or output name that the model does not have, is missing, or is given twice.</summary>
internal sealed class TensorNameException : ArgumentException
{
    /// <summary>Creates the exception.</summary>
    public TensorNameException(string tensorName, string message) : base(message) => TensorName = tensorName;

    /// <summary>The offending name.</summary>
    public string TensorName { get; }
}

/// <summary>
/// A tensor whose rank, fixed dimensions or data length disagree with the model or with its own shape.
/// The message names the tensor, the expected and the actual shape.
/// </summary>
internal sealed class TensorShapeException : ArgumentException
{
    /// <summary>Creates the exception.</summary>
    public TensorShapeException(string tensorName, long[] expected, long[] actual, string message) : base(message)
    {
        TensorName = tensorName;
        Expected = expected;
        Actual = actual;
    }

    /// <summary>The tensor's name.</summary>
    public string TensorName { get; }

    /// <summary>The model's shape (-1 for a dynamic dimension).</summary>
    public long[] Expected { get; }

    /// <summary>The shape given.</summary>
    public long[] Actual { get; }
}

/// <summary>A tensor whose element type is not the one the model declares (this binding runs float tensors).</summary>
internal sealed class TensorElementTypeException : ArgumentException
{
    /// <summary>Creates the exception.</summary>
    public TensorElementTypeException(string tensorName, OnnxElementType expected, OnnxElementType actual, string message)
        : base(message)
    {
        TensorName = tensorName;
        Expected = expected;
        Actual = actual;
    }

    /// <summary>The tensor's name.</summary>
    public string TensorName { get; }

    /// <summary>The model's element type.</summary>
    public OnnxElementType Expected { get; }

    /// <summary>The element type given.</summary>
    public OnnxElementType Actual { get; }
}
