using System.Buffers.Binary;
using Google.Protobuf;
using Saliency.Models.Onnx.Proto;

namespace Saliency.Models.Autodiff;

/// <summary>Reading and writing node attributes and small constant tensors, as the backward rules need them.</summary>
internal static class NodeAttributes
{
    public static AttributeProto? Find(NodeProto node, string name) => node.Attribute.FirstOrDefault(a => a.Name == name);

    public static long Int(NodeProto node, string name, long fallback) => Find(node, name) is { } a ? a.I : fallback;

    public static float Float(NodeProto node, string name, float fallback) => Find(node, name) is { } a ? a.F : fallback;

    public static long[]? Ints(NodeProto node, string name) => Find(node, name) is { } a ? a.Ints.ToArray() : null;

    public static string? String(NodeProto node, string name) => Find(node, name) is { } a ? a.S.ToStringUtf8() : null;

    public static AttributeProto MakeInt(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto MakeFloat(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    public static AttributeProto MakeString(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    public static AttributeProto MakeInts(string name, IEnumerable<long> values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    /// <summary>The display name of a node in messages: its name, or its position when it has none.</summary>
    public static string DisplayName(NodeProto node, int index) => string.IsNullOrEmpty(node.Name) ? $"#{index}" : node.Name;

    /// <summary>Decodes an integer tensor (INT64, INT32, or a float tensor holding integers) into int64 values.</summary>
    public static long[]? ReadInt64s(TensorProto t)
    {
        var type = (TensorProto.Types.DataType)t.DataType;
        long count = t.Dims.Aggregate(1L, (a, b) => a * b);
        switch (type)
        {
            case TensorProto.Types.DataType.Int64:
                if (t.Int64Data.Count > 0) return t.Int64Data.ToArray();
                return Decode(t.RawData.Span, count, 8, s => BinaryPrimitives.ReadInt64LittleEndian(s));
            case TensorProto.Types.DataType.Int32:
                if (t.Int32Data.Count > 0) return t.Int32Data.Select(v => (long)v).ToArray();
                return Decode(t.RawData.Span, count, 4, s => BinaryPrimitives.ReadInt32LittleEndian(s));
            case TensorProto.Types.DataType.Bool:
                if (t.Int32Data.Count > 0) return t.Int32Data.Select(v => (long)v).ToArray();
                return Decode(t.RawData.Span, count, 1, s => s[0]);
            default:
                return null;
        }
    }

    private delegate long ElementReader(ReadOnlySpan<byte> bytes);

    private static long[]? Decode(ReadOnlySpan<byte> raw, long count, int size, ElementReader read)
    {
        if (raw.Length != count * size) return null;
        var values = new long[count];
        for (int i = 0; i < values.Length; i++) values[i] = read(raw.Slice(i * size, size));
        return values;
    }

    public static TensorProto Int64Tensor(string name, long[] values, long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
        t.Dims.AddRange(dims);
        var bytes = new byte[values.Length * 8];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(i * 8), values[i]);
        t.RawData = ByteString.CopyFrom(bytes);
        return t;
    }

    public static TensorProto FloatTensor(string name, float[] values, long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        t.Dims.AddRange(dims);
        var bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        t.RawData = ByteString.CopyFrom(bytes);
        return t;
    }
}
