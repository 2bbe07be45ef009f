namespace Saliency.Models.Runtime;

/// <summary>Element types of ONNX tensors (<c>ONNXTensorElementDataType</c>; same numbers as ONNX's <c>TensorProto.DataType</c>).</summary>
public enum TensorElementType
{
    /// <summary>Not a tensor, or unknown.</summary>
    Undefined = 0,
    /// <summary>32-bit float.</summary>
    Float = 1,
    /// <summary>8-bit unsigned integer.</summary>
    UInt8 = 2,
    /// <summary>8-bit signed integer.</summary>
    Int8 = 3,
    /// <summary>16-bit unsigned integer.</summary>
    UInt16 = 4,
    /// <summary>16-bit signed integer.</summary>
    Int16 = 5,
    /// <summary>32-bit signed integer.</summary>
    Int32 = 6,
    /// <summary>64-bit signed integer.</summary>
    Int64 = 7,
    /// <summary>String.</summary>
    String = 8,
    /// <summary>Boolean.</summary>
    Bool = 9,
    /// <summary>IEEE half precision.</summary>
    Float16 = 10,
    /// <summary>64-bit float.</summary>
    Double = 11,
    /// <summary>32-bit unsigned integer.</summary>
    UInt32 = 12,
    /// <summary>64-bit unsigned integer.</summary>
    UInt64 = 13,
    /// <summary>Complex of two floats.</summary>
    Complex64 = 14,
    /// <summary>Complex of two doubles.</summary>
    Complex128 = 15,
    /// <summary>bfloat16.</summary>
    BFloat16 = 16,
}

/// <summary>Name, element type and shape of a model input or output as ONNX Runtime reports them.</summary>
/// <param name="Name">The tensor's name in the graph.</param>
/// <param name="ElementType">Its element type (<see cref="TensorElementType.Undefined"/> for non-tensor values).</param>
/// <param name="Shape">Its dimensions; -1 marks a dynamic (symbolic or unknown) dimension.</param>
public sealed record TensorMetadata(string Name, TensorElementType ElementType, long[] Shape)
{
    /// <summary>Whether every dimension is fixed.</summary>
    public bool IsStatic => Array.TrueForAll(Shape, d => d >= 0);

    /// <inheritdoc />
    public override string ToString() => $"{Name}: {ElementType}[{ShapeText(Shape)}]";

    internal static string ShapeText(long[] shape) => string.Join(",", shape.Select(d => d < 0 ? "?" : d.ToString()));
}
