using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;
using NUnit.Framework;
using Saliency.Imaging;

namespace Saliency.Tests.Imaging;

[TestFixture]
public class PngCodecTests
{
    private static readonly PngColorType[] ColorTypes = [PngColorType.Gray, PngColorType.GrayAlpha, PngColorType.Rgb, PngColorType.Rgba];
    private static readonly (int W, int H)[] OddSizes = [(1, 1), (1, 9), (3, 7), (17, 5), (64, 33)];

    private static PngImage RandomImage(int width, int height, PngColorType type, int seed)
    {
        var pixels = new byte[width * height * PngImage.ChannelsOf(type)];
        new Random(seed).NextBytes(pixels);
        return new PngImage(width, height, type, pixels);
    }

    /// <summary>The formula tools/make_png_fixtures.py used for the fixture pixels.</summary>
    private static byte FixtureSample(int x, int y, int c) => (byte)((x * 31 + y * 17 + c * 59 + x * y * 7) % 256);

    [Test]
    public void RoundTripsEveryColourTypeFilterAndOddSize(
        [ValueSource(nameof(ColorTypes))] PngColorType type,
        [Values] PngFilterMode filter)
    {
        int seed = 1;
        foreach (var (w, h) in OddSizes)
        {
            var image = RandomImage(w, h, type, seed++);
            var decoded = PngCodec.Decode(PngCodec.Encode(image, filter));
            Assert.That(decoded.Width, Is.EqualTo(w));
            Assert.That(decoded.Height, Is.EqualTo(h));
            Assert.That(decoded.ColorType, Is.EqualTo(type));
            Assert.That(decoded.Pixels, Is.EqualTo(image.Pixels), $"{w}×{h} {type} {filter}");
        }
    }

    [Test]
    public void SmoothImagesRoundTripAndCompress()
    {
        // A smooth gradient: the filters make it highly compressible, so a broken filter would show as a size blow-up
        // as well as a mismatch.
        int w = 200, h = 150;
        var pixels = new byte[w * h * 3];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < 3; c++)
                    pixels[(y * w + x) * 3 + c] = (byte)(x + 2 * y + 40 * c);
        var image = new PngImage(w, h, PngColorType.Rgb, pixels);
        var bytes = PngCodec.Encode(image);
        Assert.That(PngCodec.Decode(bytes).Pixels, Is.EqualTo(pixels));
        Assert.That(bytes.Length, Is.LessThan(pixels.Length / 20));
    }

    [Test]
    public void FixedFilterModeWritesThatFilterOnEveryRow([Values(PngFilterMode.None, PngFilterMode.Sub, PngFilterMode.Up, PngFilterMode.Average, PngFilterMode.Paeth)] PngFilterMode filter)
    {
        var image = RandomImage(6, 4, PngColorType.Rgb, 3);
        var raw = InflateImageData(PngCodec.Encode(image, filter));
        int stride = 1 + 6 * 3;
        Assert.That(raw.Length, Is.EqualTo(4 * stride));
        for (int y = 0; y < 4; y++)
            Assert.That(raw[y * stride], Is.EqualTo((byte)filter));
    }

    [Test]
    public void WritesTheStandardIendChunk()
    {
        // Every PNG ends with the same 12 bytes: length 0, "IEND", CRC-32 0xAE426082 (PNG specification, §11.2.5).
        var bytes = PngCodec.Encode(RandomImage(2, 2, PngColorType.Gray, 4));
        Assert.That(bytes[^12..], Is.EqualTo(new byte[] { 0, 0, 0, 0, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82 }));
    }

    [TestCase("gray-7x5-allfilters.png", 7, 5, PngColorType.Gray)]
    [TestCase("rgb-9x6-allfilters.png", 9, 6, PngColorType.Rgb)]
    [TestCase("rgba-5x11-allfilters.png", 5, 11, PngColorType.Rgba)]
    [TestCase("grayalpha-3x4-paeth.png", 3, 4, PngColorType.GrayAlpha)]
    [TestCase("gray-1x1.png", 1, 1, PngColorType.Gray)]
    public void DecodesFilesFromAnIndependentEncoder(string name, int w, int h, PngColorType type)
    {
        // Written by tools/make_png_fixtures.py (Python zlib, its own filter code): rows use filter types 0–4 in turn,
        // the RGB file splits its data over three IDAT chunks and carries a tEXt chunk.
        var image = PngCodec.Read(TestPaths.Fixture("png", name));
        Assert.That((image.Width, image.Height, image.ColorType), Is.EqualTo((w, h, type)));
        int channels = image.Channels;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < channels; c++)
                    Assert.That(image.Pixels[(y * w + x) * channels + c], Is.EqualTo(FixtureSample(x, y, c)), $"pixel ({x},{y}) channel {c}");
    }

    [TestCase("gray16-4x3.png", "16-bit")]
    [TestCase("palette-4x3.png", "palette")]
    [TestCase("interlaced-2x2.png", "interlac")]
    public void RefusesUnsupportedKindsWithAClearMessage(string name, string expected)
    {
        var e = Assert.Throws<PngFormatException>(() => PngCodec.Read(TestPaths.Fixture("png", name)));
        Assert.That(e!.Message, Does.Contain(expected).IgnoreCase);
        Assert.That(e.Message, Does.StartWith("Unsupported PNG"));
    }

    [Test]
    public void BadCrcInAnyChunkIsRefused()
    {
        var good = PngCodec.Encode(RandomImage(5, 4, PngColorType.Rgb, 5));
        foreach (var (offset, length, type) in Chunks(good))
        {
            // Flip one bit in the chunk's data (or in its type when it has no data, as IEND).
            var bad = (byte[])good.Clone();
            int target = length > 0 ? offset + 8 + length / 2 : offset + 4;
            bad[target] ^= 0x10;
            var e = Assert.Throws<PngFormatException>(() => PngCodec.Decode(bad), type);
            Assert.That(e!.Message, Does.Contain("CRC").Or.Contains("chunk"), type);
        }
    }

    [Test]
    public void EveryTruncationIsRefused()
    {
        var good = PngCodec.Encode(RandomImage(4, 3, PngColorType.Rgba, 6));
        for (int n = 0; n < good.Length; n++)
            Assert.Throws<PngFormatException>(() => PngCodec.Decode(good.AsSpan(0, n)), $"prefix of {n} bytes");
    }

    [Test]
    public void SeededFuzzNeverThrowsAnythingButPngFormatException()
    {
        // Random byte changes, with the chunk CRCs recomputed half of the time so that the header checks, the
        // zlib stream and the filter bytes are reached too. Either it decodes to an image of the declared size, or
        // it is refused with PngFormatException; nothing else may escape.
        var rng = new Random(2024);
        var good = PngCodec.Encode(RandomImage(7, 6, PngColorType.Rgb, 7), PngFilterMode.Paeth);
        int decoded = 0, refused = 0;
        for (int i = 0; i < 2000; i++)
        {
            var bytes = (byte[])good.Clone();
            int edits = 1 + rng.Next(3);
            for (int k = 0; k < edits; k++)
                bytes[8 + rng.Next(bytes.Length - 8)] = (byte)rng.Next(256);
            if (i % 2 == 0)
                FixCrcs(bytes);
            try
            {
                var image = PngCodec.Decode(bytes);
                Assert.That(image.Pixels.Length, Is.EqualTo(image.Width * image.Height * image.Channels));
                decoded++;
            }
            catch (PngFormatException)
            {
                refused++;
            }
        }
        Assert.That(refused, Is.GreaterThan(0));
        Assert.That(decoded + refused, Is.EqualTo(2000));
    }

    [Test]
    public void HeaderAndStructureErrorsAreNamed()
    {
        var good = PngCodec.Encode(RandomImage(3, 3, PngColorType.Gray, 8));
        Assert.That(Assert.Throws<PngFormatException>(() => PngCodec.Decode("GIF89a.."u8))!.Message, Does.Contain("signature"));

        var zeroWidth = (byte[])good.Clone();
        BinaryPrimitives.WriteInt32BigEndian(zeroWidth.AsSpan(16), 0);
        FixCrcs(zeroWidth);
        Assert.That(Assert.Throws<PngFormatException>(() => PngCodec.Decode(zeroWidth))!.Message, Does.Contain("size"));

        var badType = (byte[])good.Clone();
        badType[25] = 5; // colour type 5 does not exist
        FixCrcs(badType);
        Assert.That(Assert.Throws<PngFormatException>(() => PngCodec.Decode(badType))!.Message, Does.Contain("colour type 5"));

        var huge = (byte[])good.Clone();
        BinaryPrimitives.WriteInt32BigEndian(huge.AsSpan(16), 1 << 30);
        BinaryPrimitives.WriteInt32BigEndian(huge.AsSpan(20), 1 << 30);
        FixCrcs(huge);
        Assert.That(Assert.Throws<PngFormatException>(() => PngCodec.Decode(huge))!.Message, Does.Contain("limit"));

        var taller = (byte[])good.Clone();
        BinaryPrimitives.WriteInt32BigEndian(taller.AsSpan(20), 4); // header promises a row the data lacks
        FixCrcs(taller);
        Assert.That(Assert.Throws<PngFormatException>(() => PngCodec.Decode(taller))!.Message, Does.Contain("row 3"));
    }

    [Test]
    public void SkipsUnknownAncillaryChunksAndRefusesUnknownCriticalOnes()
    {
        var image = RandomImage(3, 2, PngColorType.Gray, 9);
        var good = PngCodec.Encode(image);
        var withAncillary = InsertChunkAfterHeader(good, "zzZz"u8.ToArray(), [1, 2, 3]);
        Assert.That(PngCodec.Decode(withAncillary).Pixels, Is.EqualTo(image.Pixels));
        var withCritical = InsertChunkAfterHeader(good, "ZZZZ"u8.ToArray(), [1, 2, 3]);
        Assert.That(Assert.Throws<PngFormatException>(() => PngCodec.Decode(withCritical))!.Message, Does.Contain("critical chunk 'ZZZZ'"));
    }

    [Test]
    public void FileErrorsAndBadArguments()
    {
        Assert.Throws<FileNotFoundException>(() => PngCodec.Read(Path.Combine(Path.GetTempPath(), "no-such-image-7f3a.png")));
        Assert.Throws<ArgumentException>(() => new PngImage(2, 2, PngColorType.Rgb, new byte[11]));
        Assert.Throws<ArgumentException>(() => new PngImage(0, 2, PngColorType.Gray, []));
        Assert.Throws<ArgumentException>(() => new PngImage(1, 1, (PngColorType)3, new byte[1]));
    }

    [Test]
    public void WriteThenReadAFile()
    {
        var image = RandomImage(13, 3, PngColorType.Rgba, 10);
        var path = Path.Combine(Path.GetTempPath(), $"saliency-png-{Guid.NewGuid():N}.png");
        try
        {
            PngCodec.Write(path, image);
            Assert.That(PngCodec.Read(path).Pixels, Is.EqualTo(image.Pixels));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void FloatConversions()
    {
        var rgb = new PngImage(2, 1, PngColorType.Rgb, [255, 0, 0, 10, 20, 30]);
        var gray = rgb.ToGrayFloats();
        Assert.That(gray[0], Is.EqualTo(0.299f).Within(1e-6));
        Assert.That(gray[1], Is.EqualTo((0.299f * 10 + 0.587f * 20 + 0.114f * 30) / 255f).Within(1e-6));
        var planar = rgb.ToPlanarFloats();
        Assert.That(planar, Is.EqualTo(new[] { 1f, 10 / 255f, 0f, 20 / 255f, 0f, 30 / 255f }).Within(1e-7));
        var grayAlpha = new PngImage(1, 1, PngColorType.GrayAlpha, [51, 7]);
        Assert.That(grayAlpha.ToPlanarFloats(), Is.EqualTo(new[] { 0.2f }).Within(1e-7));
    }

    private static byte[] InflateImageData(byte[] png)
    {
        var idat = new MemoryStream();
        foreach (var (offset, length, type) in Chunks(png))
            if (type == "IDAT")
                idat.Write(png, offset + 8, length);
        idat.Position = 0;
        using var z = new ZLibStream(idat, CompressionMode.Decompress);
        var raw = new MemoryStream();
        z.CopyTo(raw);
        return raw.ToArray();
    }

    private static List<(int Offset, int Length, string Type)> Chunks(byte[] png)
    {
        var list = new List<(int, int, string)>();
        for (int pos = 8; pos + 12 <= png.Length;)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(pos));
            if (length < 0 || pos + 12 + (long)length > png.Length) break;
            list.Add((pos, length, System.Text.Encoding.ASCII.GetString(png, pos + 4, 4)));
            pos += 12 + length;
        }
        return list;
    }

    private static void FixCrcs(byte[] png)
    {
        foreach (var (offset, length, _) in Chunks(png))
            BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(offset + 8 + length), Crc32.HashToUInt32(png.AsSpan(offset + 4, 4 + length)));
    }

    private static byte[] InsertChunkAfterHeader(byte[] png, byte[] type, byte[] data)
    {
        var chunk = new byte[12 + data.Length];
        BinaryPrimitives.WriteInt32BigEndian(chunk, data.Length);
        type.CopyTo(chunk, 4);
        data.CopyTo(chunk, 8);
        BinaryPrimitives.WriteUInt32BigEndian(chunk.AsSpan(8 + data.Length), Crc32.HashToUInt32(chunk.AsSpan(4, 4 + data.Length)));
        int afterHeader = 8 + 25;
        return [.. png[..afterHeader], .. chunk, .. png[afterHeader..]];
    }
}
