using System.Buffers.Binary;
using Saliency.Models.Onnx.Proto;

namespace Saliency.Models.Autodiff;

/// <summary>
/// What the exporter needs beyond <see cref="Onnx.OnnxAttributes"/> and <see cref="Onnx.OnnxTensors"/>: node names for
/// messages, and a lenient integer-tensor reader for shape inference (null, not an exception, for tensors it cannot
/// read, so an unreadable constant only leaves a shape unknown).
/// </summary>
internal static class NodeAttributes
{
    /// <summary>The display name of a node in messages: its name, or its position when it has none.</summary>
    public static string DisplayName(NodeProto node, int index) => string.IsNullOrEmpty(node.Name) ? $"#{index}" : node.Name;

    /// <summary>Decodes an INT64, INT32 or BOOL tensor into int64 values; null for other types or a size mismatch.</summary>
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
}
