using Saliency.Models.Onnx;

namespace Saliency.Models.Runtime;

/// <summary>
/// The runtime's names for element types. ONNX Runtime's <c>ONNXTensorElementDataType</c> uses the numbers of ONNX's
/// <c>TensorProto.DataType</c>, so the runtime reports <see cref="OnnxElementType"/> values
/// (<see cref="TensorMetadata.ElementType"/>, <see cref="TensorElementTypeException"/>); these constants keep
/// <c>TensorElementType.Float</c> working for runtime callers. New code can use <see cref="OnnxElementType"/> directly.
/// </summary>
internal static class TensorElementType
{
    // Each constant is the OnnxElementType member of the same name (the former enum's members, 0 … 16).
    public const OnnxElementType Undefined = OnnxElementType.Undefined;
    public const OnnxElementType Float = OnnxElementType.Float;
    public const OnnxElementType UInt8 = OnnxElementType.UInt8;
    public const OnnxElementType Int8 = OnnxElementType.Int8;
    public const OnnxElementType UInt16 = OnnxElementType.UInt16;
    public const OnnxElementType Int16 = OnnxElementType.Int16;
    public const OnnxElementType Int32 = OnnxElementType.Int32;
    public const OnnxElementType Int64 = OnnxElementType.Int64;
    public const OnnxElementType String = OnnxElementType.String;
    public const OnnxElementType Bool = OnnxElementType.Bool;
    public const OnnxElementType Float16 = OnnxElementType.Float16;
    public const OnnxElementType Double = OnnxElementType.Double;
    public const OnnxElementType UInt32 = OnnxElementType.UInt32;
    public const OnnxElementType UInt64 = OnnxElementType.UInt64;
    public const OnnxElementType Complex64 = OnnxElementType.Complex64;
    public const OnnxElementType Complex128 = OnnxElementType.Complex128;
    public const OnnxElementType BFloat16 = OnnxElementType.BFloat16;
}

/// <summary>Name, element type and shape of a model input or output as ONNX Runtime reports them.</summary>
/// <param name="Name">The tensor's name in the graph.</param>
/// <param name="ElementType">Its element type (<see cref="OnnxElementType.Undefined"/> for non-tensor values).</param>
/// <param name="Shape">Its dimensions; -1 marks a dynamic (symbolic or unknown) dimension.</param>
internal sealed record TensorMetadata(string Name, OnnxElementType ElementType, long[] Shape)
{
    /// <summary>Whether every dimension is fixed.</summary>
    public bool IsStatic => Array.TrueForAll(Shape, d => d >= 0);

    /// <inheritdoc />
    public override string ToString() => $"{Name}: {ElementType}[{ShapeText(Shape)}]";

    internal static string ShapeText(long[] shape) => string.Join(",", shape.Select(d => d < 0 ? "?" : d.ToString()));
}
