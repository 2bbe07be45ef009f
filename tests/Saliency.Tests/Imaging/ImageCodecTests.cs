using System.Buffers.Binary;
using System.IO.Hashing;
using NUnit.Framework;
using Saliency.Imaging;
using SkiaSharp;

namespace Saliency.Tests.Imaging;

/// <summary>
/// <see cref="ImageCodec"/> against oracles: fixtures written by encoders independent of Skia (Python zlib for PNG,
/// Pillow for BMP/GIF) with pixel formulas recomputed here, Skia's own encoders for JPEG/WebP, exact PNG round trips.
/// </summary>
[TestFixture]
internal class ImageCodecTests
{
    /// <summary>The formula tools/make_png_fixtures.py and tools/make_bmp_gif_fixtures.py used for the fixture pixels.</summary>
    internal static byte FixtureSample(int x, int y, int c) => (byte)((x * 31 + y * 17 + c * 59 + x * y * 7) % 256);

    /// <summary>Colour i of the GIF fixtures' 8-entry palette (tools/make_bmp_gif_fixtures.py).</summary>
    private static byte[] GifColour(int i) => [(byte)(i * 31), (byte)(i * 17 + 5), (byte)(255 - i * 29)];

    internal static ImageBuffer RandomImage(int width, int height, PixelFormat format, int seed)
    {
        var pixels = new byte[width * height * (int)format];
        new Random(seed).NextBytes(pixels);
        return new ImageBuffer(width, height, format, pixels);
    }

    /// <summary>A smooth test picture (JPEG/WebP lossy are meant for such content, not for noise).</summary>
    internal static ImageBuffer SmoothImage(int width, int height, PixelFormat format)
    {
        int c = (int)format;
        var pixels = new byte[width * height * c];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                for (int k = 0; k < c; k++)
                    pixels[(y * width + x) * c + k] = k == 3 ? (byte)255
                        : (byte)(128 + 100 * Math.Sin(0.11 * x + 0.07 * y + 1.3 * k) * Math.Cos(0.05 * y - 0.4 * k));
        return new ImageBuffer(width, height, format, pixels);
    }

    /// <summary>Encodes with Skia's own encoder (an independent path from <see cref="ImageCodec.EncodePng"/>'s caller side).</summary>
    internal static unsafe byte[] SkiaEncode(ImageBuffer image, Func<SKPixmap, SKData?> encode)
    {
        var rgba = image.Format == PixelFormat.Gray ? image : image.ToRgba();
        var info = image.Format switch
        {
            PixelFormat.Gray => new SKImageInfo(image.Width, image.Height, SKColorType.Gray8, SKAlphaType.Opaque),
            PixelFormat.Rgb => new SKImageInfo(image.Width, image.Height, SKColorType.Rgba8888, SKAlphaType.Opaque),
            _ => new SKImageInfo(image.Width, image.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul),
        };
        fixed (byte* p = rgba.Pixels)
        {
            using var pixmap = new SKPixmap(info, (IntPtr)p);
            using var data = encode(pixmap) ?? throw new InvalidOperationException("Skia's encoder returned null.");
            return data.ToArray();
        }
    }

    internal static byte[] Jpeg(ImageBuffer image, int quality = 95) =>
        SkiaEncode(image, p => p.Encode(new SKJpegEncoderOptions(quality, SKJpegEncoderDownsample.Downsample444, SKJpegEncoderAlphaOption.Ignore)));

    internal static byte[] Webp(ImageBuffer image, bool lossless, float quality = 90) =>
        SkiaEncode(image, p => p.Encode(new SKWebpEncoderOptions(lossless ? SKWebpEncoderCompression.Lossless : SKWebpEncoderCompression.Lossy, quality)));

    private static void AssertFormula(ImageBuffer image, int w, int h, PixelFormat format, Func<int, int, int, byte> expected)
    {
        Assert.That((image.Width, image.Height, image.Format), Is.EqualTo((w, h, format)));
        int c = image.Channels;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int k = 0; k < c; k++)
                    Assert.That(image.Pixels[(y * w + x) * c + k], Is.EqualTo(expected(x, y, k)), $"pixel ({x},{y}) channel {k}");
    }

    // ---- PNG fixtures (tools/make_png_fixtures.py: Python zlib and its own filter code) ----

    [TestCase("gray-7x5-allfilters.png", 7, 5, PixelFormat.Gray)]
    [TestCase("rgb-9x6-allfilters.png", 9, 6, PixelFormat.Rgb)]
    [TestCase("rgba-5x11-allfilters.png", 5, 11, PixelFormat.Rgba)]
    [TestCase("gray-1x1.png", 1, 1, PixelFormat.Gray)]
    public void DecodesPngFixturesExactly(string name, int w, int h, PixelFormat format)
    {
        // Rows use filter types 0–4 in turn; the RGB file splits its data over three IDAT chunks and carries a tEXt chunk.
        AssertFormula(ImageCodec.Read(TestPaths.Fixture("png", name)), w, h, format, FixtureSample);
    }

    [Test]
    public void GrayAlphaPngBecomesRgbaWithTheGrayReplicated()
    {
        // Fixture channel 0 is the gray sample, channel 1 the alpha.
        AssertFormula(ImageCodec.Read(TestPaths.Fixture("png", "grayalpha-3x4-paeth.png")), 3, 4, PixelFormat.Rgba,
            (x, y, k) => FixtureSample(x, y, k == 3 ? 1 : 0));
    }

    [Test]
    public void PngKindsTheOldCodecRefusedAreRead()
    {
        // Palette (indices 0,1,0,1 per row into black, white), Adam7 interlacing, 16-bit gray.
        AssertFormula(ImageCodec.Read(TestPaths.Fixture("png", "palette-4x3.png")), 4, 3, PixelFormat.Rgb, (x, _, _) => (byte)(x % 2 * 255));
        AssertFormula(ImageCodec.Read(TestPaths.Fixture("png", "interlaced-2x2.png")), 2, 2, PixelFormat.Gray, FixtureSample);
        AssertFormula(ImageCodec.Read(TestPaths.Fixture("png", "gray16-4x3.png")), 4, 3, PixelFormat.Gray, (_, _, _) => 0);

        // 16-bit ramp: the 8-bit value is the 16-bit one scaled by 255/65535, to within one step (Skia keeps the high byte).
        var ramp = ImageCodec.Read(TestPaths.Fixture("png", "gray16-5x3-ramp.png"));
        Assert.That((ramp.Width, ramp.Height, ramp.Format), Is.EqualTo((5, 3, PixelFormat.Gray)));
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 5; x++)
            {
                double exact = (x * 4099 + y * 13001 + 7) % 65536 / 257.0;
                Assert.That(ramp.Pixels[y * 5 + x], Is.EqualTo(exact).Within(1.0), $"({x},{y})");
            }
    }

    // ---- BMP and GIF fixtures (tools/make_bmp_gif_fixtures.py: Pillow) ----

    [Test]
    public void DecodesBmpFixturesExactly()
    {
        // 24-bit bottom-up rows padded to 4 bytes; 8-bit with a gray palette (read as RGB, the three samples equal).
        AssertFormula(ImageCodec.Read(TestPaths.Fixture("bmp", "rgb24-7x5.bmp")), 7, 5, PixelFormat.Rgb, FixtureSample);
        AssertFormula(ImageCodec.Read(TestPaths.Fixture("bmp", "gray8-6x3.bmp")), 6, 3, PixelFormat.Rgb, (x, y, _) => FixtureSample(x, y, 0));
    }

    [Test]
    public void DecodesGifFixturesExactlyAndOnlyTheFirstFrame()
    {
        AssertFormula(ImageCodec.Read(TestPaths.Fixture("gif", "palette-6x4.gif")), 6, 4, PixelFormat.Rgb,
            (x, y, k) => GifColour((x + 2 * y) % 8)[k]);
        // Frame 2 would be (x + y + 3) % 8.
        AssertFormula(ImageCodec.Read(TestPaths.Fixture("gif", "animated-5x3.gif")), 5, 3, PixelFormat.Rgb,
            (x, y, k) => GifColour((x + 2 * y) % 8)[k]);

        // Index 0 transparent: alpha 0 there, the palette colour with alpha 255 elsewhere.
        var transparent = ImageCodec.Read(TestPaths.Fixture("gif", "transparent-4x4.gif"));
        Assert.That((transparent.Width, transparent.Height, transparent.Format), Is.EqualTo((4, 4, PixelFormat.Rgba)));
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 4; x++)
            {
                int index = (x + 2 * y) % 8, o = (y * 4 + x) * 4;
                Assert.That(transparent.Pixels[o + 3], Is.EqualTo(index == 0 ? 0 : 255), $"alpha ({x},{y})");
                if (index != 0)
                    Assert.That(transparent.Pixels[o..(o + 3)], Is.EqualTo(GifColour(index)), $"colour ({x},{y})");
            }
    }

    // ---- Skia-encoded PNG, JPEG, WebP ----

    [Test]
    public void PngRoundTripsExactlyForEveryFormatAndOddSize(
        [Values(PixelFormat.Gray, PixelFormat.Rgb, PixelFormat.Rgba)] PixelFormat format)
    {
        int seed = 1;
        foreach (var (w, h) in new[] { (1, 1), (1, 9), (3, 7), (17, 5), (64, 33) })
        {
            var image = RandomImage(w, h, format, seed++);
            var decoded = ImageCodec.Decode(ImageCodec.EncodePng(image));
            Assert.That((decoded.Width, decoded.Height, decoded.Format), Is.EqualTo((w, h, format)));
            Assert.That(decoded.Pixels, Is.EqualTo(image.Pixels), $"{w}×{h} {format}");
        }
    }

    [Test]
    public void EncodePngWritesAStandardPngOfTheRightColourType()
    {
        // Signature, IHDR colour type (byte 25: 0 gray, 2 RGB, 6 RGBA) and the fixed IEND chunk (PNG spec §11.2.5).
        foreach (var (format, colourType) in new[] { (PixelFormat.Gray, 0), (PixelFormat.Rgb, 2), (PixelFormat.Rgba, 6) })
        {
            var bytes = ImageCodec.EncodePng(RandomImage(3, 2, format, 4));
            Assert.That(bytes[..8], Is.EqualTo(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }));
            Assert.That(bytes[25], Is.EqualTo(colourType), format.ToString());
            Assert.That(bytes[^12..], Is.EqualTo(new byte[] { 0, 0, 0, 0, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82 }));
        }
    }

    [Test]
    public void SkiaPngAndLosslessWebpDecodeExactly()
    {
        var rgb = RandomImage(13, 7, PixelFormat.Rgb, 21);
        Assert.That(ImageCodec.Decode(SkiaEncode(rgb, p => p.Encode(SKPngEncoderOptions.Default))).Pixels, Is.EqualTo(rgb.Pixels));
        var webp = ImageCodec.Decode(Webp(rgb, lossless: true));
        Assert.That((webp.Width, webp.Height, webp.Format), Is.EqualTo((13, 7, PixelFormat.Rgb)));
        Assert.That(webp.Pixels, Is.EqualTo(rgb.Pixels));
    }

    // Stated tolerances (|decoded − source| per 8-bit sample) for lossy formats on the smooth 48×40 picture. Measured
    // with SkiaSharp 4.155.0: JPEG q95 4:4:4 RGB max 4, mean 0.73; gray max 1, mean 0.23; WebP q90 max 13, mean 1.99
    // (WebP lossy always subsamples chroma 4:2:0).
    private const int JpegMaxError = 6;
    private const double JpegMeanError = 1.5;
    private const int WebpMaxError = 24;
    private const double WebpMeanError = 3.0;

    [TestCase(PixelFormat.Rgb)]
    [TestCase(PixelFormat.Gray)]
    public void JpegDecodesWithinTheStatedToleranceOfTheSource(PixelFormat format)
    {
        var source = SmoothImage(48, 40, format);
        var decoded = ImageCodec.Decode(Jpeg(source));
        Assert.That((decoded.Width, decoded.Height, decoded.Format), Is.EqualTo((48, 40, format)), "gray JPEG stays gray");
        AssertClose(decoded.Pixels, source.Pixels, JpegMaxError, JpegMeanError);
    }

    [Test]
    public void LossyWebpDecodesWithinTheStatedToleranceOfTheSource()
    {
        var source = SmoothImage(48, 40, PixelFormat.Rgb);
        var decoded = ImageCodec.Decode(Webp(source, lossless: false));
        Assert.That((decoded.Width, decoded.Height, decoded.Format), Is.EqualTo((48, 40, PixelFormat.Rgb)));
        AssertClose(decoded.Pixels, source.Pixels, WebpMaxError, WebpMeanError);
    }

    private static void AssertClose(byte[] actual, byte[] expected, int maxError, double meanError)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length));
        var errors = actual.Zip(expected, (a, e) => Math.Abs(a - e)).ToArray();
        TestContext.Out.WriteLine($"max |error| {errors.Max()}, mean {errors.Average():0.000}");
        Assert.That(errors.Max(), Is.LessThanOrEqualTo(maxError));
        Assert.That(errors.Average(), Is.LessThanOrEqualTo(meanError));
    }

    // ---- Failures: typed, with the source and the reason ----

    [Test]
    public void EmptyUnknownAndMissingInputsAreTypedErrors()
    {
        var empty = Assert.Throws<ImageFormatException>(() => ImageCodec.Decode([]))!;
        Assert.That(empty.Reason, Is.EqualTo(ImageFailure.Empty));
        Assert.That(empty, Is.InstanceOf<FormatException>());

        var hello = Assert.Throws<ImageFormatException>(() => ImageCodec.Decode("hello"u8, source: "greeting.png"))!;
        Assert.That(hello.Reason, Is.EqualTo(ImageFailure.UnknownFormat));
        Assert.That(hello.Message, Does.StartWith("greeting.png: not a PNG, JPEG, WebP, BMP or GIF image"));
        var text = Assert.Throws<ImageFormatException>(() => ImageCodec.Decode(new byte[4096]))!;
        Assert.That(text.Reason, Is.EqualTo(ImageFailure.UnknownFormat));

        string missing = Path.Combine(Path.GetTempPath(), $"no-such-image-{Guid.NewGuid():N}.png");
        Assert.That(Assert.Throws<FileNotFoundException>(() => ImageCodec.Read(missing))!.Message, Does.Contain(missing));

        string emptyFile = Path.Combine(Path.GetTempPath(), $"empty-{Guid.NewGuid():N}.jpg");
        File.WriteAllBytes(emptyFile, []);
        try
        {
            var e = Assert.Throws<ImageFormatException>(() => ImageCodec.Read(emptyFile))!;
            Assert.That((e.Reason, e.SourceName), Is.EqualTo((ImageFailure.Empty, emptyFile)));
            Assert.That(e.Message, Does.Contain(emptyFile).And.Contain("empty"));
        }
        finally
        {
            File.Delete(emptyFile);
        }
    }

    [Test]
    public void EveryTruncationOfEachFormatIsATypedErrorUnlessOnlyTrailingBytesAreMissing()
    {
        var picture = SmoothImage(9, 7, PixelFormat.Rgb);
        var png = ImageCodec.EncodePng(picture);
        var webp = Webp(picture, lossless: false);
        var gif = File.ReadAllBytes(TestPaths.Fixture("gif", "palette-6x4.gif"));
        // The shortest prefix that still holds every pixel, per format:
        //  PNG: the IDAT bytes whose inflation (System.IO.Compression) yields all 7 filtered rows; the Adler-32 trailer,
        //       the CRC and IEND are not needed for the pixels.
        //  WebP: all but the last byte (libwebp's boolean decoder reads missing bytes of the last partition as zeros;
        //        this file's chunk size is even, so there is no RIFF pad byte).
        //  GIF: everything but the trailer byte 0x3B.
        //  JPEG, BMP: the whole file (libjpeg-turbo needs the EOI marker to finish; BMP rows run to the end).
        var files = new (string Name, byte[] Bytes, int Shortest)[]
        {
            ("png", png, ShortestCompletePng(png, 7 * (1 + 9 * 3))),
            ("jpeg", Jpeg(picture), -1),
            ("webp", webp, webp.Length - 1),
            ("bmp", File.ReadAllBytes(TestPaths.Fixture("bmp", "rgb24-7x5.bmp")), -1),
            ("gif", gif, gif.Length - 1),
        };
        foreach (var (name, good, shortest) in files)
        {
            int expectedShortest = shortest < 0 ? good.Length : shortest;
            Assert.That(expectedShortest, Is.LessThanOrEqualTo(good.Length), name);
            for (int n = 1; n < good.Length; n++)
                try
                {
                    var image = ImageCodec.Decode(good.AsSpan(0, n));
                    Assert.That(n, Is.GreaterThanOrEqualTo(expectedShortest), $"{name} cut to {n} of {good.Length} bytes decoded");
                }
                catch (ImageFormatException e)
                {
                    Assert.That(n, Is.LessThan(expectedShortest), $"{name} cut to {n} of {good.Length} bytes refused: {e.Message}");
                    Assert.That(e.Reason, Is.AnyOf(ImageFailure.UnknownFormat, ImageFailure.Truncated, ImageFailure.Corrupt), $"{name} cut to {n}");
                }
        }
    }

    /// <summary>Offset just past the shortest IDAT prefix of a one-IDAT PNG that inflates to <paramref name="rawLength"/> bytes.</summary>
    private static int ShortestCompletePng(byte[] png, int rawLength)
    {
        var idats = PngChunks(png).Where(c => png.AsSpan(c.Offset + 4, 4).SequenceEqual("IDAT"u8)).ToList();
        Assert.That(idats, Has.Count.EqualTo(1), "Skia writes small images in one IDAT");
        var (offset, length) = idats[0];
        for (int k = 1; k <= length; k++)
        {
            using var z = new System.IO.Compression.ZLibStream(new MemoryStream(png, offset + 8, k), System.IO.Compression.CompressionMode.Decompress);
            var raw = new MemoryStream();
            try { z.CopyTo(raw); }
            catch (InvalidDataException) { }
            if (raw.Length >= rawLength) return offset + 8 + k;
        }
        throw new InvalidOperationException("The IDAT data does not inflate to the expected rows.");
    }

    [Test]
    public void HugeHeadersAreRefusedBeforeAnyPixelMemoryIsAllocated()
    {
        var png = ImageCodec.EncodePng(RandomImage(3, 3, PixelFormat.Gray, 8));
        foreach (var (w, h) in new[] { (1 << 30, 1 << 30), (60_000, 60_000), (16_385, 1), (16_384, 16_384), (1, 100_000) })
        {
            var forged = WithPngSize(png, w, h);
            long before = GC.GetAllocatedBytesForCurrentThread();
            var e = Assert.Throws<ImageFormatException>(() => ImageCodec.Decode(forged))!;
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.That(e.Reason, Is.EqualTo(ImageFailure.TooLarge).Or.EqualTo(ImageFailure.UnknownFormat), $"{w}×{h}: {e.Message}");
            // libpng itself refuses sizes above 2^31 − 1 and above its own user limit (1,000,000 per side) before Skia
            // reports a size; everything else must reach our check. Managed allocations stay tiny either way.
            if (w <= 1_000_000 && h <= 1_000_000)
                Assert.That(e.Reason, Is.EqualTo(ImageFailure.TooLarge), $"{w}×{h}");
            Assert.That(allocated, Is.LessThan(64 * 1024), $"{w}×{h}: bytes allocated while refusing");
        }

        // Configurable: a 9×6 fixture is too large for an 8-pixel side limit or a 50-pixel area limit.
        var fixture = File.ReadAllBytes(TestPaths.Fixture("png", "rgb-9x6-allfilters.png"));
        Assert.That(Assert.Throws<ImageFormatException>(() => ImageCodec.Decode(fixture, new ImageLimits { MaxSide = 8 }))!.Message,
            Does.EndWith("the PNG header declares 9×6 exceeds the limit of 8 pixels per side"));
        Assert.That(Assert.Throws<ImageFormatException>(() => ImageCodec.Decode(fixture, new ImageLimits { MaxPixels = 50 }))!.Reason,
            Is.EqualTo(ImageFailure.TooLarge));
        Assert.That(ImageCodec.Decode(fixture, new ImageLimits { MaxSide = 9, MaxPixels = 54 }).Width, Is.EqualTo(9));
        Assert.That(Assert.Throws<ImageFormatException>(() => ImageCodec.Decode(fixture, new ImageLimits { MaxEncodedBytes = 100 }))!.Reason,
            Is.EqualTo(ImageFailure.TooLarge));
        Assert.Throws<ArgumentOutOfRangeException>(() => ImageCodec.Decode(fixture, new ImageLimits { MaxSide = 0 }));
    }

    [Test]
    public void BmpHeaderSizesAreChecked()
    {
        var bmp = File.ReadAllBytes(TestPaths.Fixture("bmp", "rgb24-7x5.bmp"));
        // BITMAPINFOHEADER: width at byte 18, height at 22 (little-endian int32; a negative height means top-down rows).
        var huge = (byte[])bmp.Clone();
        BinaryPrimitives.WriteInt32LittleEndian(huge.AsSpan(18), 40_000);
        Assert.That(Assert.Throws<ImageFormatException>(() => ImageCodec.Decode(huge))!.Reason, Is.EqualTo(ImageFailure.TooLarge));
        var zero = (byte[])bmp.Clone();
        BinaryPrimitives.WriteInt32LittleEndian(zero.AsSpan(18), 0);
        Assert.That(Assert.Throws<ImageFormatException>(() => ImageCodec.Decode(zero))!.Reason,
            Is.AnyOf(ImageFailure.InvalidSize, ImageFailure.UnknownFormat));
        var negative = (byte[])bmp.Clone();
        BinaryPrimitives.WriteInt32LittleEndian(negative.AsSpan(18), -7);
        Assert.That(Assert.Throws<ImageFormatException>(() => ImageCodec.Decode(negative))!.Reason,
            Is.AnyOf(ImageFailure.InvalidSize, ImageFailure.UnknownFormat));
    }

    [Test]
    public void FormatsSkiaReadsButWeDoNotAreRefused()
    {
        // An ICO file wrapping a PNG (ICONDIR + one ICONDIRENTRY, then the PNG): Skia decodes it, the codec must refuse it.
        var png = ImageCodec.EncodePng(RandomImage(4, 4, PixelFormat.Rgba, 3));
        var ico = new byte[6 + 16 + png.Length];
        BinaryPrimitives.WriteUInt16LittleEndian(ico.AsSpan(2), 1); // type: icon
        BinaryPrimitives.WriteUInt16LittleEndian(ico.AsSpan(4), 1); // one image
        ico[6] = 4; ico[7] = 4;                                     // 4×4
        BinaryPrimitives.WriteUInt16LittleEndian(ico.AsSpan(10), 1); // planes
        BinaryPrimitives.WriteUInt16LittleEndian(ico.AsSpan(12), 32); // bits per pixel
        BinaryPrimitives.WriteInt32LittleEndian(ico.AsSpan(14), png.Length);
        BinaryPrimitives.WriteInt32LittleEndian(ico.AsSpan(18), 22);
        png.CopyTo(ico, 22);
        var e = Assert.Throws<ImageFormatException>(() => ImageCodec.Decode(ico))!;
        Assert.That(e.Reason, Is.EqualTo(ImageFailure.UnsupportedFormat));
        Assert.That(e.Message, Does.Contain("ICO images are not supported"));
    }

    [Test]
    public void CorruptPngDataIsATypedError()
    {
        // Flip a byte inside the compressed pixel data and re-seal the CRC, so libpng reaches zlib.
        var png = ImageCodec.EncodePng(SmoothImage(16, 16, PixelFormat.Rgb));
        int idat = IndexOf(png, "IDAT"u8) + 4;
        int length = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(idat - 8));
        var bad = (byte[])png.Clone();
        for (int i = 2; i < length; i += 7) bad[idat + i] ^= 0x5A;
        ResealPngCrcs(bad);
        var e = Assert.Throws<ImageFormatException>(() => ImageCodec.Decode(bad))!;
        Assert.That(e.Reason, Is.AnyOf(ImageFailure.Corrupt, ImageFailure.Truncated));
    }

    [Test]
    public void WriteThenReadAFile()
    {
        var image = RandomImage(13, 3, PixelFormat.Rgba, 10);
        var path = Path.Combine(Path.GetTempPath(), $"saliency-image-{Guid.NewGuid():N}.png");
        try
        {
            ImageCodec.WritePng(path, image);
            Assert.That(ImageCodec.Read(path).Pixels, Is.EqualTo(image.Pixels));
        }
        finally
        {
            File.Delete(path);
        }
    }

    // ---- helpers shared with the fuzz tests ----

    internal static byte[] WithPngSize(byte[] png, int width, int height)
    {
        var forged = (byte[])png.Clone();
        BinaryPrimitives.WriteInt32BigEndian(forged.AsSpan(16), width);
        BinaryPrimitives.WriteInt32BigEndian(forged.AsSpan(20), height);
        ResealPngCrcs(forged);
        return forged;
    }

    internal static int IndexOf(byte[] haystack, ReadOnlySpan<byte> needle) => haystack.AsSpan().IndexOf(needle);

    /// <summary>(offset, data length) of each well-formed chunk of a PNG, in order, until the structure breaks.</summary>
    internal static List<(int Offset, int Length)> PngChunks(byte[] png)
    {
        var list = new List<(int, int)>();
        for (int pos = 8; pos + 12 <= png.Length;)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(pos));
            if (length < 0 || pos + 12 + (long)length > png.Length) break;
            list.Add((pos, length));
            pos += 12 + length;
        }
        return list;
    }

    /// <summary>Recomputes every chunk's CRC-32 (System.IO.Hashing), so that a mutation reaches past libpng's CRC check.</summary>
    internal static void ResealPngCrcs(byte[] png)
    {
        foreach (var (offset, length) in PngChunks(png))
            BinaryPrimitives.WriteUInt32BigEndian(png.AsSpan(offset + 8 + length), Crc32.HashToUInt32(png.AsSpan(offset + 4, 4 + length)));
    }
}
