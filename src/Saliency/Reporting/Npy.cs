using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Saliency.Reporting;

/// <summary>A .npy file that is not one this reader accepts (bad magic, header, dtype or size).</summary>
public sealed class NpyFormatException(string message) : Exception(message);

/// <summary>An array read from a .npy file: its shape, and its values widened to float64 (float32 values are exact).</summary>
/// <param name="Shape">The dimensions, C order.</param>
/// <param name="Descr">The dtype as the header gives it (<c>&lt;f4</c> or <c>&lt;f8</c>).</param>
/// <param name="Values">The values, row-major.</param>
public sealed record NpyArray(IReadOnlyList<int> Shape, string Descr, double[] Values);

/// <summary>
/// NumPy's <c>.npy</c> format, version 1.0 (numpy/lib/format.py, NEP 1): the magic <c>\x93NUMPY</c>, the version bytes
/// 1, 0, a little-endian uint16 header length, then an ASCII Python dict literal
/// <c>{'descr': '&lt;f4', 'fortran_order': False, 'shape': (1, 28, 28), }</c> padded with spaces and ended by '\n' so that
/// the data starts on a multiple of 64 bytes, then the raw little-endian values in C order. A notebook loads the
/// report's maps with <c>numpy.load</c>.
/// </summary>
public static class Npy
{
    private static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>Data alignment numpy ≥ 1.14 writes (format.ARRAY_ALIGN); readers accept any.</summary>
    private const int Alignment = 64;

    /// <summary>The .npy bytes of float32 <paramref name="values"/> with <paramref name="shape"/> (C order).</summary>
    /// <exception cref="ArgumentException">The shape's product is not the number of values, or a dimension is negative.</exception>
    public static byte[] Encode(ReadOnlySpan<float> values, IReadOnlyList<int> shape)
    {
        var bytes = Header("<f4", shape, values.Length, out int offset, sizeof(float));
        for (int i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(offset + 4 * i), values[i]);
        return bytes;
    }

    /// <summary>The .npy bytes of float64 <paramref name="values"/> with <paramref name="shape"/> (C order).</summary>
    /// <exception cref="ArgumentException">The shape's product is not the number of values, or a dimension is negative.</exception>
    public static byte[] Encode(ReadOnlySpan<double> values, IReadOnlyList<int> shape)
    {
        var bytes = Header("<f8", shape, values.Length, out int offset, sizeof(double));
        for (int i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(offset + 8 * i), values[i]);
        return bytes;
    }

    private static byte[] Header(string descr, IReadOnlyList<int> shape, int count, out int offset, int itemSize)
    {
        ArgumentNullException.ThrowIfNull(shape);
        long product = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException($"Dimension {d} of shape ({string.Join(", ", shape)}) is negative.", nameof(shape));
            product *= d;
        }
        if (product != count)
            throw new ArgumentException($"Shape ({string.Join(", ", shape)}) holds {product} values, got {count}.", nameof(shape));
        // A 1-tuple needs its trailing comma in Python: (5,).
        string dims = shape.Count == 1 ? $"{shape[0]}," : string.Join(", ", shape.Select(d => d.ToString(CultureInfo.InvariantCulture)));
        string dict = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': ({dims}), }}";
        int unpadded = Magic.Length + 2 + 2 + dict.Length + 1;
        int headerLength = dict.Length + 1 + (Alignment - unpadded % Alignment) % Alignment;
        offset = Magic.Length + 2 + 2 + headerLength;
        var bytes = new byte[offset + (long)count * itemSize];
        Magic.CopyTo(bytes, 0);
        bytes[6] = 1; // major version
        bytes[7] = 0; // minor version
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), (ushort)headerLength);
        var text = dict.PadRight(headerLength - 1) + "\n";
        Encoding.ASCII.GetBytes(text, bytes.AsSpan(10));
        return bytes;
    }

    /// <summary>Parses a version 1.0 or 2.0 .npy file of little-endian float32 or float64 values in C order.</summary>
    /// <exception cref="NpyFormatException">Anything else, or a truncated file.</exception>
    public static NpyArray Decode(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < 10 || !bytes[..6].SequenceEqual(Magic)) throw new NpyFormatException("Not a .npy file (no \\x93NUMPY magic).");
        int major = bytes[6];
        int lengthBytes = major switch { 1 => 2, 2 or 3 => 4, _ => throw new NpyFormatException($"Unsupported .npy version {major}.{bytes[7]}.") };
        if (bytes.Length < 8 + lengthBytes) throw new NpyFormatException("Truncated .npy header.");
        long headerLength = lengthBytes == 2 ? BinaryPrimitives.ReadUInt16LittleEndian(bytes[8..]) : BinaryPrimitives.ReadUInt32LittleEndian(bytes[8..]);
        long offset = 8 + lengthBytes + headerLength;
        if (offset > bytes.Length) throw new NpyFormatException("Truncated .npy header.");
        string header = Encoding.ASCII.GetString(bytes[(8 + lengthBytes)..(int)offset]);
        var descr = Regex.Match(header, @"'descr'\s*:\s*'([^']*)'");
        var fortran = Regex.Match(header, @"'fortran_order'\s*:\s*(True|False)");
        var shapeText = Regex.Match(header, @"'shape'\s*:\s*\(([^)]*)\)");
        if (!descr.Success || !fortran.Success || !shapeText.Success) throw new NpyFormatException($"Malformed .npy header: {header.Trim()}");
        if (fortran.Groups[1].Value == "True") throw new NpyFormatException("Fortran-ordered arrays are not supported.");
        int itemSize = descr.Groups[1].Value switch
        {
            "<f4" => 4,
            "<f8" => 8,
            var other => throw new NpyFormatException($"Unsupported dtype '{other}'; expected '<f4' or '<f8'."),
        };
        var shape = shapeText.Groups[1].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int d) ? d : throw new NpyFormatException($"Bad dimension '{s}'."))
            .ToArray();
        long count = shape.Aggregate(1L, (a, d) => a * d);
        if (bytes.Length - offset != count * itemSize)
            throw new NpyFormatException($"Shape ({string.Join(", ", shape)}) needs {count * itemSize} data bytes, the file has {bytes.Length - offset}.");
        var data = bytes[(int)offset..];
        var values = new double[count];
        for (int i = 0; i < values.Length; i++)
            values[i] = itemSize == 4 ? BinaryPrimitives.ReadSingleLittleEndian(data[(4 * i)..]) : BinaryPrimitives.ReadDoubleLittleEndian(data[(8 * i)..]);
        return new NpyArray(shape, descr.Groups[1].Value, values);
    }
}
