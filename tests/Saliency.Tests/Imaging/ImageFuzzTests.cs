using System.Buffers.Binary;
using NUnit.Framework;
using Saliency.Imaging;

namespace Saliency.Tests.Imaging;

/// <summary>
/// Seeded mutation fuzz of <see cref="ImageCodec.Decode"/> over PNG, JPEG, WebP (lossy and lossless), BMP and GIF seeds:
/// bit flips, byte insertions and deletions, truncations, header dimension blow-ups and chunk/segment-length
/// corruption. Every input must either decode to a consistent image within the limits or be refused with
/// <see cref="ImageFormatException"/>; any other exception (or a crash of the test host) fails.
/// </summary>
[TestFixture]
internal class ImageFuzzTests
{
    private const int CasesPerSeed = 1000;

    // Small limits keep blown-up headers cheap: anything above 1024 per side or 2^18 pixels is refused before decoding.
    private static readonly ImageLimits Limits = new() { MaxSide = 1024, MaxPixels = 1 << 18 };

    private enum Mutation { BitFlips, Insertion, Deletion, Truncation, DimensionBlowUp, LengthCorruption, ResealedOverwrite }

    private static Dictionary<string, byte[]> Seeds()
    {
        var picture = ImageCodecTests.SmoothImage(24, 17, PixelFormat.Rgb);
        return new()
        {
            ["png"] = ImageCodec.EncodePng(ImageCodecTests.RandomImage(12, 9, PixelFormat.Rgba, 5)),
            ["png-fixture"] = File.ReadAllBytes(TestPaths.Fixture("png", "rgb-9x6-allfilters.png")),
            ["jpeg"] = ImageCodecTests.Jpeg(picture, 80),
            ["webp-lossy"] = ImageCodecTests.Webp(picture, lossless: false),
            ["webp-lossless"] = ImageCodecTests.Webp(picture, lossless: true),
            ["bmp"] = File.ReadAllBytes(TestPaths.Fixture("bmp", "rgb24-7x5.bmp")),
            ["gif"] = File.ReadAllBytes(TestPaths.Fixture("gif", "animated-5x3.gif")),
        };
    }

    [Test]
    public void MutatedImagesDecodeWithinLimitsOrGiveATypedError()
    {
        var rng = new Random(20261130);
        var failures = new List<string>();
        var outcomes = new Dictionary<string, (int Decoded, int Refused, int TooLarge)>();
        int total = 0;
        foreach (var (name, seed) in Seeds())
        {
            Assert.That(ImageCodec.Decode(seed, Limits).Width, Is.GreaterThan(0), $"seed {name} must decode");
            var counts = (Decoded: 0, Refused: 0, TooLarge: 0);
            for (int i = 0; i < CasesPerSeed; i++, total++)
            {
                var mutation = (Mutation)(i % 7);
                var bytes = Mutate(name, seed, mutation, rng);
                try
                {
                    var image = ImageCodec.Decode(bytes, Limits);
                    if (image.Width <= 0 || image.Height <= 0 || Limits.Check(image.Width, image.Height) is not null
                        || image.Pixels.Length != image.Width * image.Height * image.Channels)
                        failures.Add($"{name} case {i} ({mutation}): inconsistent image {image.Width}×{image.Height}×{image.Channels}");
                    counts.Decoded++;
                }
                catch (ImageFormatException e)
                {
                    counts.Refused++;
                    if (e.Reason == ImageFailure.TooLarge) counts.TooLarge++;
                }
                catch (Exception e)
                {
                    failures.Add($"{name} case {i} ({mutation}): {e.GetType().Name}: {e.Message}");
                }
            }
            outcomes[name] = counts;
        }
        foreach (var (name, c) in outcomes)
            TestContext.Out.WriteLine($"{name}: {c.Decoded} decoded, {c.Refused} refused ({c.TooLarge} too large)");
        Assert.That(total, Is.GreaterThanOrEqualTo(1000));
        Assert.That(failures, Is.Empty);
        foreach (var (name, c) in outcomes)
        {
            // The fuzz reaches both sides of every decoder, and the blow-ups reach the limit check.
            Assert.That(c.Decoded, Is.GreaterThan(0), $"{name}: nothing decoded");
            Assert.That(c.Refused, Is.GreaterThan(0), $"{name}: nothing refused");
            Assert.That(c.TooLarge, Is.GreaterThan(0), $"{name}: no header blow-up reached the limit check");
        }
    }

    private static byte[] Mutate(string name, byte[] seed, Mutation mutation, Random rng)
    {
        var bytes = (byte[])seed.Clone();
        switch (mutation)
        {
            case Mutation.BitFlips:
                for (int k = 1 + rng.Next(4); k > 0; k--)
                    bytes[rng.Next(bytes.Length)] ^= (byte)(1 << rng.Next(8));
                return bytes;
            case Mutation.Insertion:
            {
                int at = rng.Next(bytes.Length + 1);
                var inserted = new byte[1 + rng.Next(4)];
                rng.NextBytes(inserted);
                return [.. bytes[..at], .. inserted, .. bytes[at..]];
            }
            case Mutation.Deletion:
            {
                int at = rng.Next(bytes.Length);
                int count = Math.Min(1 + rng.Next(8), bytes.Length - at);
                return [.. bytes[..at], .. bytes[(at + count)..]];
            }
            case Mutation.Truncation:
                return bytes[..rng.Next(bytes.Length)];
            case Mutation.DimensionBlowUp:
                BlowUpDimensions(name, bytes, rng);
                return bytes;
            case Mutation.LengthCorruption:
                CorruptLengths(name, bytes, rng);
                return bytes;
            default:
                // Random bytes overwritten past the signature; PNG chunk CRCs re-sealed so libpng's inflate and filters are reached.
                for (int k = 1 + rng.Next(3); k > 0; k--)
                    bytes[8 + rng.Next(bytes.Length - 8)] = (byte)rng.Next(256);
                if (name.StartsWith("png", StringComparison.Ordinal)) ImageCodecTests.ResealPngCrcs(bytes);
                return bytes;
        }
    }

    /// <summary>
    /// A dimension value: mostly huge (beyond the limits; for 32-bit fields half of the time at most 65,535, which the
    /// decoders' own sanity checks let through to ours), sometimes 0, 1 or random.
    /// </summary>
    private static int Dimension(Random rng, int max)
    {
        if (max > 65535 && rng.Next(2) == 0) max = 65535;
        return rng.Next(5) switch
        {
            0 => 0,
            1 => 1,
            2 => rng.Next(max) + 1,
            _ => max - rng.Next(Math.Min(max, 1000)),
        };
    }

    private static void BlowUpDimensions(string name, byte[] b, Random rng)
    {
        bool width = rng.Next(3) != 0, height = rng.Next(3) != 0 || !width;
        switch (name)
        {
            case var _ when name.StartsWith("png", StringComparison.Ordinal):
                // IHDR: width at 16, height at 20 (big-endian); re-sealed half of the time so libpng reads the header.
                if (width) BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(16), Dimension(rng, int.MaxValue));
                if (height) BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(20), Dimension(rng, int.MaxValue));
                if (rng.Next(4) != 0) ImageCodecTests.ResealPngCrcs(b);
                break;
            case "jpeg":
            {
                // SOFn: FF C0..C2, length (2), precision (1), height (2), width (2), big-endian.
                int sof = FindJpegMarker(b, m => m is 0xC0 or 0xC1 or 0xC2);
                if (width) BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(sof + 7), (ushort)Dimension(rng, 65535));
                if (height) BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(sof + 5), (ushort)Dimension(rng, 65535));
                break;
            }
            case "webp-lossy":
                // "VP8 " chunk: frame tag (3), start code 9D 01 2A, then 14-bit width and height (little-endian, 2 scale bits on top).
                if (width) BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(26), (ushort)Dimension(rng, 65535));
                if (height) BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(28), (ushort)Dimension(rng, 65535));
                break;
            case "webp-lossless":
            {
                // "VP8L" chunk: signature 0x2F, then width − 1 and height − 1 in 14 bits each (little-endian bit packing).
                uint packed = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(21));
                uint w = width ? (uint)Dimension(rng, 16384) - 1 & 0x3FFF : packed & 0x3FFF;
                uint h = height ? (uint)Dimension(rng, 16384) - 1 & 0x3FFF : packed >> 14 & 0x3FFF;
                BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(21), packed & 0xF0000000 | h << 14 | w);
                break;
            }
            case "bmp":
                // BITMAPINFOHEADER: width at 18, height at 22 (little-endian int32; negative height = top-down).
                if (width) BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(18), Dimension(rng, int.MaxValue) * (rng.Next(4) == 0 ? -1 : 1));
                if (height) BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(22), Dimension(rng, int.MaxValue) * (rng.Next(4) == 0 ? -1 : 1));
                break;
            case "gif":
            {
                // Logical screen at 6/8, and the first image descriptor's size (little-endian uint16).
                int descriptor = FirstGifImageDescriptor(b);
                int at = rng.Next(2) == 0 ? 6 : descriptor + 5;
                if (width) BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(at), (ushort)Dimension(rng, 65535));
                if (height) BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(at + 2), (ushort)Dimension(rng, 65535));
                break;
            }
            default:
                throw new ArgumentException($"no dimension fields known for {name}");
        }
    }

    private static void CorruptLengths(string name, byte[] b, Random rng)
    {
        // A length: 0, a small change, or huge.
        uint Length(uint old, uint max) => rng.Next(3) switch
        {
            0 => 0,
            1 => (uint)Math.Clamp((long)old + rng.Next(-16, 17), 0, max),
            _ => max - (uint)rng.Next(1000),
        };
        switch (name)
        {
            case var _ when name.StartsWith("png", StringComparison.Ordinal):
            {
                var chunks = ImageCodecTests.PngChunks(b);
                var (offset, length) = chunks[rng.Next(chunks.Count)];
                BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(offset), Length((uint)length, int.MaxValue));
                break;
            }
            case "jpeg":
            {
                // Segment lengths (big-endian uint16 after FF xx) of the header segments up to the scan.
                var segments = new List<int>();
                for (int pos = 2; pos + 4 <= b.Length && b[pos] == 0xFF && b[pos + 1] != 0xDA;)
                {
                    segments.Add(pos + 2);
                    pos += 2 + BinaryPrimitives.ReadUInt16BigEndian(b.AsSpan(pos + 2));
                }
                int at = segments[rng.Next(segments.Count)];
                BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(at), (ushort)Length(BinaryPrimitives.ReadUInt16BigEndian(b.AsSpan(at)), 65535));
                break;
            }
            case "webp-lossy" or "webp-lossless":
            {
                // RIFF size at 4, first chunk's size at 16 (little-endian uint32).
                int at = rng.Next(2) == 0 ? 4 : 16;
                BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(at), Length(BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(at)), uint.MaxValue));
                break;
            }
            case "bmp":
            {
                // File size (2), pixel-data offset (10), header size (14), image size (34), palette size (46).
                int[] fields = [2, 10, 14, 34, 46];
                int at = fields[rng.Next(fields.Length)];
                BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(at), Length(BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(at)), uint.MaxValue));
                break;
            }
            case "gif":
            {
                // The LZW minimum code size or the first data sub-block length after the image descriptor.
                int data = FirstGifImageDescriptor(b) + 10;
                if (rng.Next(2) == 0) b[data] = (byte)rng.Next(256);
                else b[data + 1] = (byte)Length(b[data + 1], 255);
                break;
            }
            default:
                throw new ArgumentException($"no length fields known for {name}");
        }
    }

    private static int FindJpegMarker(byte[] b, Func<byte, bool> kind)
    {
        for (int pos = 2; pos + 4 <= b.Length && b[pos] == 0xFF;)
        {
            if (kind(b[pos + 1])) return pos;
            pos += 2 + BinaryPrimitives.ReadUInt16BigEndian(b.AsSpan(pos + 2));
        }
        throw new InvalidOperationException("JPEG seed has no SOF marker before the scan.");
    }

    /// <summary>Offset of the first image descriptor (0x2C) of a GIF: after the header, global palette and extensions.</summary>
    private static int FirstGifImageDescriptor(byte[] b)
    {
        int pos = 13 + ((b[10] & 0x80) != 0 ? 3 << ((b[10] & 7) + 1) : 0);
        while (b[pos] == 0x21)
        {
            pos += 2;
            while (b[pos] != 0) pos += b[pos] + 1;
            pos++;
        }
        if (b[pos] != 0x2C) throw new InvalidOperationException("GIF seed has no image descriptor where expected.");
        return pos;
    }
}
