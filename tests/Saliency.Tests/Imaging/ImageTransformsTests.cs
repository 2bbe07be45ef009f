using NUnit.Framework;
using Saliency.Imaging;

namespace Saliency.Tests.Imaging;

/// <summary>Resizing, cropping and colour/alpha conversions of <see cref="ImageBuffer"/>, against exact oracles.</summary>
[TestFixture]
internal class ImageTransformsTests
{
    private static ImageBuffer Formula(int width, int height, PixelFormat format) =>
        new(width, height, format, Enumerable.Range(0, width * height * (int)format)
            .Select(i => ImageCodecTests.FixtureSample(i / (int)format % width, i / (int)format / width, i % (int)format)).ToArray());

    private static byte At(ImageBuffer image, int x, int y, int c) => image.Pixels[(y * image.Width + x) * image.Channels + c];

    [Test]
    public void ResizingAConstantImageGivesTheSameConstant(
        [Values] ResizeFilter filter,
        [Values(PixelFormat.Gray, PixelFormat.Rgb, PixelFormat.Rgba)] PixelFormat format)
    {
        byte[] colour = [137, 12, 250, 200];
        var constant = new ImageBuffer(13, 7, format,
            Enumerable.Range(0, 13 * 7 * (int)format).Select(i => colour[i % (int)format]).ToArray());
        foreach (var (w, h) in new[] { (5, 11), (40, 3), (1, 1), (26, 14), (64, 64) })
        {
            var resized = ImageTransforms.Resize(constant, w, h, filter);
            Assert.That((resized.Width, resized.Height, resized.Format), Is.EqualTo((w, h, format)));
            for (int i = 0; i < resized.Pixels.Length; i++)
                Assert.That(resized.Pixels[i], Is.EqualTo(colour[i % (int)format]), $"{filter} {format} → {w}×{h}, sample {i}");
        }
    }

    [Test]
    public void NearestEnlargementByAnIntegerFactorReplicatesBlocks([Values(PixelFormat.Gray, PixelFormat.Rgb)] PixelFormat format)
    {
        var image = Formula(5, 3, format);
        var big = ImageTransforms.Resize(image, 15, 12, ResizeFilter.Nearest);
        for (int y = 0; y < 12; y++)
            for (int x = 0; x < 15; x++)
                for (int c = 0; c < image.Channels; c++)
                    Assert.That(At(big, x, y, c), Is.EqualTo(At(image, x / 3, y / 4, c)), $"({x},{y}) channel {c}");
    }

    [Test]
    public void LinearHalvingAveragesTwoByTwoBlocks()
    {
        // Each 2×2 block holds a, a+2, a+4, a+6: the box average a+3 is what halving must give (mip level 1, sampled at
        // its texel centres).
        int w = 8, h = 6;
        var pixels = new byte[w * h];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                pixels[y * w + x] = (byte)(20 * (x / 2) + 50 * (y / 2) + 2 * (x % 2) + 4 * (y % 2));
        var half = ImageTransforms.Resize(new ImageBuffer(w, h, PixelFormat.Gray, pixels), 4, 3, ResizeFilter.Linear);
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 4; x++)
                Assert.That(half.Pixels[y * 4 + x], Is.EqualTo(20 * x + 50 * y + 3).Within(1), $"({x},{y})");
    }

    [Test]
    public void CropPicksTheExactPixels([Values(PixelFormat.Gray, PixelFormat.Rgb, PixelFormat.Rgba)] PixelFormat format)
    {
        var image = Formula(11, 9, format);
        var crop = ImageTransforms.Crop(image, 3, 2, 5, 4);
        Assert.That((crop.Width, crop.Height, crop.Format), Is.EqualTo((5, 4, format)));
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 5; x++)
                for (int c = 0; c < image.Channels; c++)
                    Assert.That(At(crop, x, y, c), Is.EqualTo(ImageCodecTests.FixtureSample(x + 3, y + 2, c)), $"({x},{y}) channel {c}");

        // Center crop: margins 11 − 4 = 7 → left 3, 9 − 9 = 0 → top 0.
        var center = ImageTransforms.CenterCrop(image, 4, 9);
        Assert.That(center.Pixels, Is.EqualTo(ImageTransforms.Crop(image, 3, 0, 4, 9).Pixels));
        Assert.That(ImageTransforms.CenterCrop(image, 11, 9).Pixels, Is.EqualTo(image.Pixels));
    }

    [Test]
    public void BadCropsAndSizesAreRefused()
    {
        var image = Formula(4, 3, PixelFormat.Gray);
        Assert.Throws<ArgumentException>(() => ImageTransforms.Crop(image, 1, 0, 4, 3));
        Assert.Throws<ArgumentException>(() => ImageTransforms.Crop(image, -1, 0, 2, 2));
        Assert.Throws<ArgumentException>(() => ImageTransforms.Crop(image, 0, 0, 0, 2));
        Assert.Throws<ArgumentException>(() => ImageTransforms.CenterCrop(image, 5, 3));
        Assert.Throws<ArgumentException>(() => ImageTransforms.Resize(image, 0, 3));
        Assert.Throws<ArgumentException>(() => ImageTransforms.Resize(image, 20_000, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => ImageTransforms.Resize(image, 2, 2, (ResizeFilter)9));
    }

    [Test]
    public void ResizeAndCenterCropScalesTheShorterSideThenTakesTheMiddle()
    {
        // 84×168 → 28×28: the shorter side shrinks 3× (28×56), then rows 14..41 are kept. Nearest at an exact 3× shrink
        // samples the source pixel under the destination centre 3i + 1.5, i.e. 3i + 1, so output (x, y) = source
        // (3x + 1, 3(y + 14) + 1). (A 2× shrink would put the centre on a pixel boundary, a tie.)
        var tall = Formula(84, 168, PixelFormat.Rgb);
        var fitted = ImageTransforms.ResizeAndCenterCrop(tall, 28, 28, ResizeFilter.Nearest);
        Assert.That((fitted.Width, fitted.Height), Is.EqualTo((28, 28)));
        for (int y = 0; y < 28; y++)
            for (int x = 0; x < 28; x++)
                for (int c = 0; c < 3; c++)
                    Assert.That(At(fitted, x, y, c), Is.EqualTo(ImageCodecTests.FixtureSample(3 * x + 1, 3 * (y + 14) + 1, c)), $"({x},{y})");
    }

    [Test]
    public void ResizeAndCenterCropKeepsOnlyTheCentralBand([Values(true, false)] bool landscape)
    {
        // 60×30 → 28×28 keeps source columns 15..44 (scale 28/30). Paint columns 12..47 gray 100 and the rest black/white:
        // with bilinear + mipmap filtering reaching at most 2 pixels, the whole output must be 100.
        int w = landscape ? 60 : 30, h = landscape ? 30 : 60;
        var pixels = new byte[w * h];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int along = landscape ? x : y;
                pixels[y * w + x] = along is >= 12 and < 48 ? (byte)100 : along < 12 ? (byte)0 : (byte)255;
            }
        var fitted = ImageTransforms.ResizeAndCenterCrop(new ImageBuffer(w, h, PixelFormat.Gray, pixels), 28, 28);
        Assert.That((fitted.Width, fitted.Height), Is.EqualTo((28, 28)));
        Assert.That(fitted.Pixels, Is.All.EqualTo(100));
    }

    [Test]
    public void ColourConversions()
    {
        var rgb = new ImageBuffer(2, 1, PixelFormat.Rgb, [255, 0, 0, 10, 20, 30]);
        var gray = rgb.ToGrayFloats();
        Assert.That(gray[0], Is.EqualTo(0.299f).Within(1e-6));
        Assert.That(gray[1], Is.EqualTo((0.299f * 10 + 0.587f * 20 + 0.114f * 30) / 255f).Within(1e-6));
        Assert.That(rgb.ToGray().Pixels, Is.EqualTo(new byte[] { 76, 18 }), "round(76.245), round(18.15)");
        var planar = rgb.ToPlanarFloats(3);
        Assert.That(planar, Is.EqualTo(new[] { 1f, 10 / 255f, 0f, 20 / 255f, 0f, 30 / 255f }).Within(1e-7));
        Assert.That(rgb.ToPlanarFloats(1), Is.EqualTo(gray));
        Assert.Throws<ArgumentOutOfRangeException>(() => rgb.ToPlanarFloats(2));

        var g = new ImageBuffer(2, 1, PixelFormat.Gray, [51, 204]);
        Assert.That(g.ToPlanarFloats(3), Is.EqualTo(new[] { 0.2f, 0.8f, 0.2f, 0.8f, 0.2f, 0.8f }).Within(1e-7));
        Assert.That(g.ToRgba().Pixels, Is.EqualTo(new byte[] { 51, 51, 51, 255, 204, 204, 204, 255 }));
    }

    [Test]
    public void AlphaIsDroppedOrCompositedOnWhite()
    {
        // (100, 50, 0) at alpha 51 (0.2): dropped → as stored; on white → 0.2·c + 0.8·255 = 224, 214, 204.
        var rgba = new ImageBuffer(1, 1, PixelFormat.Rgba, [100, 50, 0, 51]);
        Assert.That(rgba.ToRgb(AlphaMode.Drop).Pixels, Is.EqualTo(new byte[] { 100, 50, 0 }));
        Assert.That(rgba.ToRgb(AlphaMode.CompositeOnWhite).Pixels, Is.EqualTo(new byte[] { 224, 214, 204 }));
        Assert.That(rgba.ToPlanarFloats(3, AlphaMode.CompositeOnWhite), Is.EqualTo(new[] { 224 / 255f, 214 / 255f, 204 / 255f }).Within(1e-6));
        Assert.That(rgba.ToGrayFloats(AlphaMode.CompositeOnWhite)[0],
            Is.EqualTo((0.299 * 224 + 0.587 * 214 + 0.114 * 204) / 255).Within(1e-6));
        Assert.That(rgba.ToGrayFloats(AlphaMode.Drop)[0], Is.EqualTo((0.299 * 100 + 0.587 * 50) / 255).Within(1e-6));
    }

    [Test]
    public void ConstructorAndFloatFactoryCheckTheirArguments()
    {
        Assert.Throws<ArgumentException>(() => new ImageBuffer(2, 2, PixelFormat.Rgb, new byte[11]));
        Assert.Throws<ArgumentException>(() => new ImageBuffer(0, 2, PixelFormat.Gray, []));
        Assert.Throws<ArgumentException>(() => new ImageBuffer(1, 1, (PixelFormat)2, new byte[2]));
        Assert.Throws<ArgumentException>(() => ImageBuffer.FromFloats(2, 1, PixelFormat.Gray, [0f, float.NaN]));
        Assert.Throws<ArgumentException>(() => ImageBuffer.FromFloats(2, 1, PixelFormat.Gray, [0f]));
        Assert.That(ImageBuffer.FromFloats(3, 1, PixelFormat.Gray, [-1f, 0.5f, 2f]).Pixels, Is.EqualTo(new byte[] { 0, 128, 255 }));
    }
}
