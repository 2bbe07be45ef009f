using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;

namespace Saliency.Imaging;

/// <summary>How the encoder filters each row before compression (PNG filter types 0–4, or a per-row choice).</summary>
public enum PngFilterMode
{
    /// <summary>Filter type 0: raw bytes.</summary>
    None = 0,
    /// <summary>Filter type 1: difference to the pixel on the left.</summary>
    Sub = 1,
    /// <summary>Filter type 2: difference to the pixel above.</summary>
    Up = 2,
    /// <summary>Filter type 3: difference to the mean of left and above.</summary>
    Average = 3,
    /// <summary>Filter type 4: difference to the Paeth predictor of left, above and upper-left.</summary>
    Paeth = 4,
    /// <summary>Per row, the filter with the smallest sum of absolute (signed) residuals — the heuristic libpng uses.</summary>
    Adaptive = 5,
}

/// <summary>
/// PNG reading and writing (ISO/IEC 15948) for 8-bit gray, gray+alpha, RGB and RGBA, non-interlaced images.
/// Every chunk's CRC-32 is checked; the image data is inflated with <see cref="ZLibStream"/>. 16-bit samples,
/// sub-byte gray, palette images and Adam7 interlacing are refused with a <see cref="PngFormatException"/>.
/// Ancillary chunks (gAMA, tEXt, pHYs, ...) are skipped; unknown critical chunks are an error, as the
/// specification requires.
/// </summary>
public static class PngCodec
{
    private static ReadOnlySpan<byte> Signature => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Upper bound on decoded pixel bytes (1 GiB), so a forged header cannot ask for an absurd allocation.</summary>
    public const long MaxPixelBytes = 1L << 30;

    /// <summary>Reads a PNG file.</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="PngFormatException">Not a valid PNG, or an unsupported kind.</exception>
    public static PngImage Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"PNG file not found: {path}", path);
        return Decode(File.ReadAllBytes(path));
    }

    /// <summary>Decodes a whole PNG file held in memory.</summary>
    /// <exception cref="PngFormatException">Not a valid PNG, or an unsupported kind.</exception>
    public static PngImage Decode(ReadOnlySpan<byte> file)
    {
        if (file.Length < Signature.Length || !file[..Signature.Length].SequenceEqual(Signature))
            throw new PngFormatException("Not a PNG file: the 8-byte PNG signature is missing.");

        int pos = Signature.Length;
        Header? header = null;
        var idat = new MemoryStream();
        bool sawIend = false, idatClosed = false;
        while (!sawIend)
        {
            if (file.Length - pos < 12)
                throw new PngFormatException(
                    $"Truncated PNG: file ends at byte {file.Length} inside a chunk header (no IEND chunk).");
            uint length = BinaryPrimitives.ReadUInt32BigEndian(file[pos..]);
            if (length > int.MaxValue)
                throw new PngFormatException($"Invalid PNG: chunk length {length} at byte {pos} exceeds 2^31 − 1.");
            var typeBytes = file.Slice(pos + 4, 4);
            string type = ChunkName(typeBytes);
            if (file.Length - pos - 12 < length)
                throw new PngFormatException(
                    $"Truncated PNG: chunk '{type}' at byte {pos} declares {length} data bytes but the file ends first.");
            var data = file.Slice(pos + 8, (int)length);
            uint storedCrc = BinaryPrimitives.ReadUInt32BigEndian(file[(pos + 8 + (int)length)..]);
            uint actualCrc = Crc32.HashToUInt32(file.Slice(pos + 4, 4 + (int)length));
            if (storedCrc != actualCrc)
                throw new PngFormatException(
                    $"Corrupt PNG: CRC mismatch in chunk '{type}' at byte {pos} (stored 0x{storedCrc:X8}, computed 0x{actualCrc:X8}).");
            pos += 12 + (int)length;

            if (header is null && type != "IHDR")
                throw new PngFormatException($"Invalid PNG: the first chunk must be IHDR, found '{type}'.");
            switch (type)
            {
                case "IHDR":
                    if (header is not null)
                        throw new PngFormatException("Invalid PNG: more than one IHDR chunk.");
                    header = ParseHeader(data);
                    break;
                case "IDAT":
                    if (idatClosed)
                        throw new PngFormatException("Invalid PNG: IDAT chunks are not consecutive.");
                    idat.Write(data);
                    break;
                case "IEND":
                    sawIend = true;
                    break;
                case "PLTE":
                    // A suggested palette in a truecolour image is allowed and irrelevant to the pixels.
                    break;
                default:
                    if (char.IsUpper(type[0]))
                        throw new PngFormatException($"Unsupported PNG: unknown critical chunk '{type}'.");
                    break; // ancillary chunk: safe to skip
            }
            if (type != "IDAT" && idat.Length > 0)
                idatClosed = true;
        }
        if (header is null)
            throw new PngFormatException("Invalid PNG: no IHDR chunk.");
        if (idat.Length == 0)
            throw new PngFormatException("Invalid PNG: no IDAT (image data) chunk.");
        return DecodeImageData(header.Value, idat);
    }

    /// <summary>Writes <paramref name="image"/> to a PNG file, creating or replacing it.</summary>
    public static void Write(string path, PngImage image, PngFilterMode filter = PngFilterMode.Adaptive)
    {
        ArgumentNullException.ThrowIfNull(path);
        File.WriteAllBytes(path, Encode(image, filter));
    }

    /// <summary>Encodes <paramref name="image"/> as a PNG file (IHDR, one IDAT, IEND).</summary>
    public static byte[] Encode(PngImage image, PngFilterMode filter = PngFilterMode.Adaptive,
        CompressionLevel compression = CompressionLevel.Optimal)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (!Enum.IsDefined(filter))
            throw new ArgumentOutOfRangeException(nameof(filter), filter, "Unknown PNG filter mode.");
        int bpp = image.Channels;
        int stride = image.Width * bpp;

        var compressed = new MemoryStream();
        using (var z = new ZLibStream(compressed, compression, leaveOpen: true))
        {
            var filtered = new byte[1 + stride];
            var trial = filter == PngFilterMode.Adaptive ? new byte[1 + stride] : null;
            var previous = new byte[stride]; // the row above the first row is all zeros
            for (int y = 0; y < image.Height; y++)
            {
                var row = image.Pixels.AsSpan(y * stride, stride);
                if (trial is null)
                {
                    FilterRow((byte)filter, row, previous, bpp, filtered);
                }
                else
                {
                    long best = long.MaxValue;
                    for (byte f = 0; f <= 4; f++)
                    {
                        FilterRow(f, row, previous, bpp, trial);
                        long cost = 0;
                        for (int i = 1; i < trial.Length; i++)
                            cost += Math.Abs((int)(sbyte)trial[i]); // widen first: |−128| overflows sbyte
                        if (cost < best) { best = cost; trial.CopyTo(filtered, 0); }
                    }
                }
                z.Write(filtered);
                row.CopyTo(previous);
            }
        }

        var output = new MemoryStream();
        output.Write(Signature);
        Span<byte> ihdr = stackalloc byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, image.Width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr[4..], image.Height);
        ihdr[8] = 8;                      // bit depth
        ihdr[9] = (byte)image.ColorType;
        ihdr[10] = 0;                     // compression: deflate
        ihdr[11] = 0;                     // filter method 0
        ihdr[12] = 0;                     // no interlace
        WriteChunk(output, "IHDR"u8, ihdr);
        WriteChunk(output, "IDAT"u8, compressed.GetBuffer().AsSpan(0, (int)compressed.Length));
        WriteChunk(output, "IEND"u8, ReadOnlySpan<byte>.Empty);
        return output.ToArray();
    }

    private readonly record struct Header(int Width, int Height, PngColorType ColorType);

    private static Header ParseHeader(ReadOnlySpan<byte> d)
    {
        if (d.Length != 13)
            throw new PngFormatException($"Invalid PNG: IHDR holds {d.Length} bytes, expected 13.");
        uint width = BinaryPrimitives.ReadUInt32BigEndian(d);
        uint height = BinaryPrimitives.ReadUInt32BigEndian(d[4..]);
        byte depth = d[8], colorType = d[9], compression = d[10], filterMethod = d[11], interlace = d[12];
        if (width == 0 || height == 0 || width > int.MaxValue || height > int.MaxValue)
            throw new PngFormatException($"Invalid PNG: image size {width}×{height} (each must be 1 … 2^31 − 1).");

        bool validDepth = colorType switch
        {
            0 => depth is 1 or 2 or 4 or 8 or 16,
            3 => depth is 1 or 2 or 4 or 8,
            2 or 4 or 6 => depth is 8 or 16,
            _ => throw new PngFormatException($"Invalid PNG: colour type {colorType} does not exist."),
        };
        if (!validDepth)
            throw new PngFormatException($"Invalid PNG: bit depth {depth} is not allowed with colour type {colorType}.");
        if (compression != 0)
            throw new PngFormatException($"Invalid PNG: compression method {compression} (only 0, deflate, exists).");
        if (filterMethod != 0)
            throw new PngFormatException($"Invalid PNG: filter method {filterMethod} (only 0 exists).");
        if (interlace > 1)
            throw new PngFormatException($"Invalid PNG: interlace method {interlace} (only 0 and 1 exist).");

        if (colorType == 3)
            throw new PngFormatException(
                "Unsupported PNG: palette (indexed-colour) images are not supported; save the image as 8-bit gray, RGB or RGBA.");
        if (depth != 8)
            throw new PngFormatException(
                $"Unsupported PNG: {depth}-bit samples are not supported; only 8-bit gray, gray+alpha, RGB and RGBA images are.");
        if (interlace == 1)
            throw new PngFormatException(
                "Unsupported PNG: Adam7-interlaced images are not supported; save the image without interlacing.");

        var type = (PngColorType)colorType;
        long bytes = (long)width * height * PngImage.ChannelsOf(type);
        if (bytes > MaxPixelBytes)
            throw new PngFormatException(
                $"Unsupported PNG: a {width}×{height} image needs {bytes} pixel bytes, more than the limit of {MaxPixelBytes}.");
        return new Header((int)width, (int)height, type);
    }

    private static PngImage DecodeImageData(Header h, MemoryStream idat)
    {
        int bpp = PngImage.ChannelsOf(h.ColorType);
        int stride = h.Width * bpp;
        var pixels = new byte[(long)stride * h.Height];
        var line = new byte[1 + stride];
        idat.Position = 0;
        try
        {
            using var z = new ZLibStream(idat, CompressionMode.Decompress);
            for (int y = 0; y < h.Height; y++)
            {
                int got = z.ReadAtLeast(line, line.Length, throwOnEndOfStream: false);
                if (got < line.Length)
                    throw new PngFormatException(
                        $"Corrupt PNG: the image data ends in row {y} of {h.Height} (truncated or corrupt IDAT).");
                var row = pixels.AsSpan(y * stride, stride);
                var prior = y == 0 ? Span<byte>.Empty : pixels.AsSpan((y - 1) * stride, stride);
                UnfilterRow(line[0], line.AsSpan(1), prior, bpp, row, y);
            }
        }
        catch (InvalidDataException e)
        {
            throw new PngFormatException($"Corrupt PNG: the compressed image data is not valid zlib ({e.Message}).", e);
        }
        return new PngImage(h.Width, h.Height, h.ColorType, pixels);
    }

    /// <summary>Reverses one row's filter (PNG spec §9.2). <paramref name="prior"/> is empty for the first row.</summary>
    private static void UnfilterRow(byte filter, ReadOnlySpan<byte> src, ReadOnlySpan<byte> prior, int bpp, Span<byte> dst, int y)
    {
        int n = dst.Length;
        bool first = prior.IsEmpty;
        switch (filter)
        {
            case 0:
                src.CopyTo(dst);
                break;
            case 1:
                for (int i = 0; i < n; i++)
                    dst[i] = (byte)(src[i] + (i >= bpp ? dst[i - bpp] : 0));
                break;
            case 2:
                for (int i = 0; i < n; i++)
                    dst[i] = (byte)(src[i] + (first ? 0 : prior[i]));
                break;
            case 3:
                for (int i = 0; i < n; i++)
                {
                    int a = i >= bpp ? dst[i - bpp] : 0, b = first ? 0 : prior[i];
                    dst[i] = (byte)(src[i] + ((a + b) >> 1));
                }
                break;
            case 4:
                for (int i = 0; i < n; i++)
                {
                    int a = i >= bpp ? dst[i - bpp] : 0;
                    int b = first ? 0 : prior[i];
                    int c = i >= bpp && !first ? prior[i - bpp] : 0;
                    dst[i] = (byte)(src[i] + Paeth(a, b, c));
                }
                break;
            default:
                throw new PngFormatException($"Corrupt PNG: row {y} uses filter type {filter} (only 0–4 exist).");
        }
    }

    /// <summary>Applies filter <paramref name="filter"/> to one row; writes the filter byte then the residuals.</summary>
    private static void FilterRow(byte filter, ReadOnlySpan<byte> row, ReadOnlySpan<byte> prior, int bpp, Span<byte> dst)
    {
        dst[0] = filter;
        var o = dst[1..];
        for (int i = 0; i < row.Length; i++)
        {
            int a = i >= bpp ? row[i - bpp] : 0, b = prior[i], c = i >= bpp ? prior[i - bpp] : 0;
            int predictor = filter switch
            {
                0 => 0,
                1 => a,
                2 => b,
                3 => (a + b) >> 1,
                _ => Paeth(a, b, c),
            };
            o[i] = (byte)(row[i] - predictor);
        }
    }

    /// <summary>The Paeth predictor (PNG spec §9.4): whichever of left, above, upper-left is closest to a + b − c.</summary>
    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c;
        int pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        if (pa <= pb && pa <= pc) return a;
        return pb <= pc ? b : c;
    }

    private static void WriteChunk(Stream output, ReadOnlySpan<byte> type, ReadOnlySpan<byte> data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        output.Write(word);
        var crc = new Crc32();
        crc.Append(type);
        crc.Append(data);
        output.Write(type);
        output.Write(data);
        BinaryPrimitives.WriteUInt32BigEndian(word, crc.GetCurrentHashAsUInt32());
        output.Write(word);
    }

    private static string ChunkName(ReadOnlySpan<byte> type)
    {
        Span<char> chars = stackalloc char[4];
        for (int i = 0; i < 4; i++)
        {
            byte b = type[i];
            bool letter = b is >= (byte)'A' and <= (byte)'Z' or >= (byte)'a' and <= (byte)'z';
            if (!letter)
                throw new PngFormatException($"Invalid PNG: chunk type byte 0x{b:X2} is not an ASCII letter (corrupt or truncated file).");
            chars[i] = (char)b;
        }
        return new string(chars);
    }
}
