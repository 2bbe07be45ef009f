using System.Buffers.Binary;
using Google.Protobuf;
using Saliency.Models.Onnx.Proto;

namespace Saliency.Models.Onnx;

/// <summary>
/// Reading and writing the data of ONNX <see cref="TensorProto"/>s (initializers and constant attributes).
/// ONNX stores tensor data either in <c>raw_data</c> (little-endian, packed) or in one of the typed
/// repeated fields (<c>float_data</c>, <c>int32_data</c>, <c>int64_data</c>, ...); both are decoded here.
/// </summary>
internal static class OnnxTensors
{
    /// <summary>
    /// Number of elements of a tensor with the given dims (1 for a scalar). Throws
    /// <see cref="OnnxFormatException"/> for a negative dim or a count above <see cref="int.MaxValue"/>.
    /// </summary>
    public static long ElementCount(IReadOnlyList<long> dims, string what = "tensor")
    {
        long n = 1;
        for (int i = 0; i < dims.Count; i++)
        {
            long d = dims[i];
            if (d < 0)
                throw new OnnxFormatException($"{what} has a negative dimension {d} at axis {i} (dims [{string.Join(", ", dims)}]).");
            if (d != 0 && n > int.MaxValue / d)
                throw new OnnxFormatException($"{what} has too many elements (dims [{string.Join(", ", dims)}]).");
            n *= d;
        }
        return n;
    }

    /// <summary>The element type of a tensor, validated to be one ONNX defines.</summary>
    public static OnnxElementType ElementType(TensorProto tensor)
    {
        if (!OnnxElementTypes.IsDefined(tensor.DataType))
            throw new OnnxFormatException($"tensor '{tensor.Name}' has an unsupported or undefined data_type {tensor.DataType}.");
        return (OnnxElementType)tensor.DataType;
    }

    /// <summary>True when the tensor's data lives in an external file (not supported for decoding here).</summary>
    public static bool IsExternal(TensorProto tensor) => tensor.DataLocation == TensorProto.Types.DataLocation.External;

    /// <summary>
    /// Checks that the stored data of <paramref name="tensor"/> holds exactly as many elements as its dims
    /// say, for every encoding ONNX allows. External data is not checked (it is not in the model bytes).
    /// </summary>
    public static void ValidateSize(TensorProto tensor, string what)
    {
        var type = ElementType(tensor);
        long n = ElementCount(tensor.Dims, what);
        if (IsExternal(tensor)) return;

        if (!tensor.RawData.IsEmpty)
        {
            if (type == OnnxElementType.String)
                throw new OnnxFormatException($"{what} is a string tensor with raw_data, which ONNX does not allow.");
            long bits = OnnxElementTypes.BitsPerElement(type);
            long expectedBytes = (n * bits + 7) / 8;
            if (tensor.RawData.Length != expectedBytes)
                throw new OnnxFormatException(
                    $"{what} has {tensor.RawData.Length} bytes of raw_data but dims [{string.Join(", ", tensor.Dims)}] of {type} need {expectedBytes}.");
            return;
        }

        long stored = type switch
        {
            OnnxElementType.Float => tensor.FloatData.Count,
            OnnxElementType.Complex64 => tensor.FloatData.Count / 2,
            OnnxElementType.Double => tensor.DoubleData.Count,
            OnnxElementType.Complex128 => tensor.DoubleData.Count / 2,
            OnnxElementType.Int64 => tensor.Int64Data.Count,
            OnnxElementType.UInt32 or OnnxElementType.UInt64 => tensor.Uint64Data.Count,
            OnnxElementType.String => tensor.StringData.Count,
            _ => tensor.Int32Data.Count,
        };
        bool packed4 = OnnxElementTypes.BitsPerElement(type) == 4;
        bool ok = stored == n || (packed4 && stored == (n + 1) / 2);
        if (!ok)
            throw new OnnxFormatException(
                $"{what} stores {stored} values of {type} but dims [{string.Join(", ", tensor.Dims)}] need {n}.");
    }

    /// <summary>
    /// The data of a FLOAT (or DOUBLE, converted) tensor as <see cref="float"/>s in row-major order.
    /// </summary>
    public static float[] ToFloatArray(TensorProto tensor)
    {
        var type = ElementType(tensor);
        if (type == OnnxElementType.Double)
            return Array.ConvertAll(ToDoubleArray(tensor), v => (float)v);
        if (type != OnnxElementType.Float)
            throw new OnnxFormatException($"tensor '{tensor.Name}' is {type}, not Float.");
        CheckReadable(tensor);
        int n = checked((int)ElementCount(tensor.Dims, $"tensor '{tensor.Name}'"));
        var result = new float[n];
        if (!tensor.RawData.IsEmpty)
        {
            var raw = RawChecked(tensor, n, 4);
            for (int i = 0; i < n; i++) result[i] = BinaryPrimitives.ReadSingleLittleEndian(raw.Slice(4 * i, 4));
        }
        else
        {
            CountChecked(tensor, tensor.FloatData.Count, n);
            tensor.FloatData.CopyTo(result, 0);
        }
        return result;
    }

    /// <summary>
    /// The data of an integer tensor (INT64, INT32, INT16, INT8, UINT8, UINT16, UINT32, BOOL) as
    /// <see cref="long"/>s in row-major order.
    /// </summary>
    public static long[] ToInt64Array(TensorProto tensor)
    {
        var type = ElementType(tensor);
        switch (type)
        {
            case OnnxElementType.Int64: case OnnxElementType.Int32: case OnnxElementType.Int16:
            case OnnxElementType.Int8: case OnnxElementType.UInt8: case OnnxElementType.UInt16:
            case OnnxElementType.UInt32: case OnnxElementType.Bool:
                break;
            default:
                throw new OnnxFormatException($"tensor '{tensor.Name}' is {type}, not an integer type.");
        }
        var d = ToDoubleArrayCore(tensor, type, asInt64: true, out var longs);
        return longs ?? Array.ConvertAll(d, v => (long)v);
    }

    /// <summary>
    /// The data of any real numeric tensor (float, double, float16, bfloat16, the integer types, bool)
    /// converted to <see cref="double"/>, row-major. String, complex, 8-bit and 4-bit float types are refused.
    /// </summary>
    public static double[] ToDoubleArray(TensorProto tensor)
    {
        var type = ElementType(tensor);
        return ToDoubleArrayCore(tensor, type, asInt64: false, out _);
    }

    private static double[] ToDoubleArrayCore(TensorProto tensor, OnnxElementType type, bool asInt64, out long[]? longs)
    {
        longs = null;
        CheckReadable(tensor);
        int n = checked((int)ElementCount(tensor.Dims, $"tensor '{tensor.Name}'"));
        var result = new double[n];
        bool raw = !tensor.RawData.IsEmpty;
        ReadOnlySpan<byte> bytes = raw ? tensor.RawData.Span : default;
        switch (type)
        {
            case OnnxElementType.Float:
                if (raw) { bytes = RawChecked(tensor, n, 4); for (int i = 0; i < n; i++) result[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.Slice(4 * i)); }
                else { CountChecked(tensor, tensor.FloatData.Count, n); for (int i = 0; i < n; i++) result[i] = tensor.FloatData[i]; }
                break;
            case OnnxElementType.Double:
                if (raw) { bytes = RawChecked(tensor, n, 8); for (int i = 0; i < n; i++) result[i] = BinaryPrimitives.ReadDoubleLittleEndian(bytes.Slice(8 * i)); }
                else { CountChecked(tensor, tensor.DoubleData.Count, n); tensor.DoubleData.CopyTo(result, 0); }
                break;
            case OnnxElementType.Int64:
                longs = new long[n];
                if (raw) { bytes = RawChecked(tensor, n, 8); for (int i = 0; i < n; i++) longs[i] = BinaryPrimitives.ReadInt64LittleEndian(bytes.Slice(8 * i)); }
                else { CountChecked(tensor, tensor.Int64Data.Count, n); tensor.Int64Data.CopyTo(longs, 0); }
                for (int i = 0; i < n; i++) result[i] = longs[i];
                break;
            case OnnxElementType.UInt32:
            case OnnxElementType.UInt64:
            {
                int size = type == OnnxElementType.UInt32 ? 4 : 8;
                if (raw) bytes = RawChecked(tensor, n, size);
                else CountChecked(tensor, tensor.Uint64Data.Count, n);
                if (type == OnnxElementType.UInt64 && asInt64)
                    throw new OnnxFormatException($"tensor '{tensor.Name}' is UInt64, which does not fit Int64 in general.");
                for (int i = 0; i < n; i++)
                {
                    ulong v = raw ? (size == 4 ? BinaryPrimitives.ReadUInt32LittleEndian(bytes.Slice(4 * i)) : BinaryPrimitives.ReadUInt64LittleEndian(bytes.Slice(8 * i)))
                                  : tensor.Uint64Data[i];
                    result[i] = v;
                }
                if (asInt64) { longs = new long[n]; for (int i = 0; i < n; i++) longs[i] = (long)result[i]; }
                break;
            }
            case OnnxElementType.Int32: case OnnxElementType.Int16: case OnnxElementType.Int8:
            case OnnxElementType.UInt8: case OnnxElementType.UInt16: case OnnxElementType.Bool:
            case OnnxElementType.Float16: case OnnxElementType.BFloat16:
            {
                int size = type switch
                {
                    OnnxElementType.Int32 => 4,
                    OnnxElementType.Int16 or OnnxElementType.UInt16 or OnnxElementType.Float16 or OnnxElementType.BFloat16 => 2,
                    _ => 1,
                };
                if (raw) bytes = RawChecked(tensor, n, size);
                else CountChecked(tensor, tensor.Int32Data.Count, n);
                for (int i = 0; i < n; i++)
                {
                    // Typed storage keeps every one of these types in int32_data (16-bit floats as their bit pattern).
                    int bitsOrValue = raw ? size switch
                    {
                        4 => BinaryPrimitives.ReadInt32LittleEndian(bytes.Slice(4 * i)),
                        2 => BinaryPrimitives.ReadUInt16LittleEndian(bytes.Slice(2 * i)),
                        _ => bytes[i],
                    } : tensor.Int32Data[i];
                    result[i] = type switch
                    {
                        OnnxElementType.Int16 => (short)bitsOrValue,
                        OnnxElementType.Int8 => (sbyte)bitsOrValue,
                        OnnxElementType.UInt16 => (ushort)bitsOrValue,
                        OnnxElementType.UInt8 => (byte)bitsOrValue,
                        OnnxElementType.Bool => bitsOrValue != 0 ? 1.0 : 0.0,
                        OnnxElementType.Float16 => (double)BitConverter.UInt16BitsToHalf((ushort)bitsOrValue),
                        OnnxElementType.BFloat16 => BitConverter.Int32BitsToSingle(((ushort)bitsOrValue) << 16),
                        _ => bitsOrValue,
                    };
                }
                break;
            }
            default:
                throw new OnnxFormatException($"tensor '{tensor.Name}' has element type {type}, which cannot be decoded as real numbers.");
        }
        return result;
    }

    private static void CheckReadable(TensorProto tensor)
    {
        if (IsExternal(tensor))
            throw new OnnxFormatException($"tensor '{tensor.Name}' keeps its data in an external file, which Saliency.Gpu does not read.");
    }

    private static ReadOnlySpan<byte> RawChecked(TensorProto tensor, int n, int size)
    {
        var raw = tensor.RawData.Span;
        if (raw.Length != (long)n * size)
            throw new OnnxFormatException(
                $"tensor '{tensor.Name}' has {raw.Length} bytes of raw_data but dims [{string.Join(", ", tensor.Dims)}] need {(long)n * size}.");
        return raw;
    }

    private static void CountChecked(TensorProto tensor, int stored, int n)
    {
        if (stored != n)
            throw new OnnxFormatException(
                $"tensor '{tensor.Name}' stores {stored} values but dims [{string.Join(", ", tensor.Dims)}] need {n}.");
    }

    /// <summary>A FLOAT tensor with the data in little-endian <c>raw_data</c> (the layout PyTorch writes).</summary>
    public static TensorProto FromFloats(string name, ReadOnlySpan<float> data, IReadOnlyList<long> dims)
    {
        CheckCount(name, data.Length, dims);
        var bytes = new byte[data.Length * 4];
        for (int i = 0; i < data.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), data[i]);
        var t = new TensorProto { Name = name, DataType = (int)OnnxElementType.Float, RawData = ByteString.CopyFrom(bytes) };
        t.Dims.AddRange(dims);
        return t;
    }

    /// <summary>An INT64 tensor with the data in little-endian <c>raw_data</c>.</summary>
    public static TensorProto FromInt64s(string name, ReadOnlySpan<long> data, IReadOnlyList<long> dims)
    {
        CheckCount(name, data.Length, dims);
        var bytes = new byte[data.Length * 8];
        for (int i = 0; i < data.Length; i++) BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(8 * i), data[i]);
        var t = new TensorProto { Name = name, DataType = (int)OnnxElementType.Int64, RawData = ByteString.CopyFrom(bytes) };
        t.Dims.AddRange(dims);
        return t;
    }

    private static void CheckCount(string name, int count, IReadOnlyList<long> dims)
    {
        long n;
        try { n = ElementCount(dims, $"tensor '{name}'"); }
        catch (OnnxFormatException e) { throw new ArgumentException(e.Message, nameof(dims)); }
        if (n != count)
            throw new ArgumentException($"tensor '{name}': {count} values given but dims [{string.Join(", ", dims)}] need {n}.", nameof(dims));
    }
}
