namespace Saliency.Models.Onnx;

/// <summary>
/// ONNX tensor element types (<c>TensorProto.DataType</c>); the numeric values are the ONNX ones.
/// </summary>
internal enum OnnxElementType
{
    Undefined = 0,
    Float = 1,
    UInt8 = 2,
    Int8 = 3,
    UInt16 = 4,
    Int16 = 5,
    Int32 = 6,
    Int64 = 7,
    String = 8,
    Bool = 9,
    Float16 = 10,
    Double = 11,
    UInt32 = 12,
    UInt64 = 13,
    Complex64 = 14,
    Complex128 = 15,
    BFloat16 = 16,
    Float8E4M3FN = 17,
    Float8E4M3FNUZ = 18,
    Float8E5M2 = 19,
    Float8E5M2FNUZ = 20,
    UInt4 = 21,
    Int4 = 22,
    Float4E2M1 = 23,
}

/// <summary>Facts about <see cref="OnnxElementType"/> values.</summary>
internal static class OnnxElementTypes
{
    /// <summary>True for the element types defined by ONNX up to IR version 11 (1 … 23).</summary>
    public static bool IsDefined(int dataType) => dataType >= 1 && dataType <= 23;

    /// <summary>
    /// Storage size of one element in bits inside <c>raw_data</c> (4 for the packed 4-bit types),
    /// or 0 for variable-size types (string).
    /// </summary>
    public static int BitsPerElement(OnnxElementType type) => type switch
    {
        OnnxElementType.Float or OnnxElementType.Int32 or OnnxElementType.UInt32 => 32,
        OnnxElementType.UInt8 or OnnxElementType.Int8 or OnnxElementType.Bool => 8,
        OnnxElementType.Float8E4M3FN or OnnxElementType.Float8E4M3FNUZ => 8,
        OnnxElementType.Float8E5M2 or OnnxElementType.Float8E5M2FNUZ => 8,
        OnnxElementType.UInt16 or OnnxElementType.Int16 => 16,
        OnnxElementType.Float16 or OnnxElementType.BFloat16 => 16,
        OnnxElementType.Int64 or OnnxElementType.UInt64 or OnnxElementType.Double => 64,
        OnnxElementType.Complex64 => 64,
        OnnxElementType.Complex128 => 128,
        OnnxElementType.UInt4 or OnnxElementType.Int4 or OnnxElementType.Float4E2M1 => 4,
        _ => 0,
    };
}
