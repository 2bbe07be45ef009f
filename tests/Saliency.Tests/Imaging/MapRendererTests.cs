using NUnit.Framework;
using Saliency.Imaging;

namespace Saliency.Tests.Imaging;

[TestFixture]
internal class MapRendererTests
{
    [Test]
    public void GrayMapsTheRangeLinearlyAndScalesByBlocks()
    {
        float[] map = [-1f, 0f, 1f, 3f];
        var image = MapRenderer.RenderGray(map, 2, 2, scale: 3);
        Assert.That((image.Width, image.Height, image.Format), Is.EqualTo((6, 6, PixelFormat.Gray)));
        // (v − min) / (max − min) × 255, rounded: −1 → 0, 0 → 63.75 → 64, 1 → 127.5 → 128, 3 → 255.
        byte[] expected = [0, 64, 128, 255];
        for (int y = 0; y < 6; y++)
            for (int x = 0; x < 6; x++)
                Assert.That(image.Pixels[y * 6 + x], Is.EqualTo(expected[(y / 3) * 2 + x / 3]), $"({x},{y})");
    }

    [Test]
    public void ExplicitRangeClipsAndConstantMapsRenderBlack()
    {
        var clipped = MapRenderer.RenderGray([-5f, 0.5f, 5f], 3, 1, min: 0f, max: 1f);
        Assert.That(clipped.Pixels, Is.EqualTo(new byte[] { 0, 128, 255 }));
        var constant = MapRenderer.RenderGray([2f, 2f, 2f, 2f], 4, 1);
        Assert.That(constant.Pixels, Is.All.EqualTo(0));
    }

    [Test]
    public void ColourMapsHitTheirEndpointsAndRoundTripThroughPng()
    {
        Assert.That(MapRenderer.Lookup(ColorMap.Hot, 0f), Is.EqualTo((0f, 0f, 0f)));
        Assert.That(MapRenderer.Lookup(ColorMap.Hot, 1f), Is.EqualTo((1f, 1f, 1f)));
        Assert.That(MapRenderer.Lookup(ColorMap.BlueWhiteRed, 0.5f), Is.EqualTo((1f, 1f, 1f)));
        Assert.That(MapRenderer.Lookup(ColorMap.BlueWhiteRed, 0f), Is.EqualTo((0f, 0f, 1f)));
        Assert.That(MapRenderer.Lookup(ColorMap.Viridis, 1f).G, Is.EqualTo(0.906f).Within(1e-6));

        var image = MapRenderer.RenderColor([0f, 0.5f, 1f], 3, 1, ColorMap.Hot, scale: 2);
        Assert.That((image.Width, image.Height, image.Format), Is.EqualTo((6, 2, PixelFormat.Rgb)));
        Assert.That(image.Pixels[..3], Is.EqualTo(new byte[] { 0, 0, 0 }));
        Assert.That(image.Pixels[^3..], Is.EqualTo(new byte[] { 255, 255, 255 }));
        // t = 0.5 in "hot": red saturated, green (0.5 − 0.375) / 0.375 = 1/3, blue 0.
        Assert.That(image.Pixels.AsSpan(6, 3).ToArray(), Is.EqualTo(new byte[] { 255, 85, 0 }));
        Assert.That(ImageCodec.Decode(ImageCodec.EncodePng(image)).Pixels, Is.EqualTo(image.Pixels));
    }

    [Test]
    public void BadMapsAreRefused()
    {
        Assert.Throws<ArgumentException>(() => MapRenderer.RenderGray([1f, float.NaN], 2, 1));
        Assert.Throws<ArgumentException>(() => MapRenderer.RenderGray([1f, float.PositiveInfinity], 2, 1));
        Assert.Throws<ArgumentException>(() => MapRenderer.RenderGray([1f, 2f, 3f], 2, 1));
        Assert.Throws<ArgumentException>(() => MapRenderer.RenderGray([1f, 2f], 2, 1, scale: 0));
        Assert.Throws<ArgumentException>(() => MapRenderer.RenderGray([1f, 2f], 2, 1, min: 1f, max: 1f));
    }

    // A 3×2 map over a 6×4 picture: each map value covers a 2×2 block of the picture.
    private static readonly float[] OverlayMap = [0f, 0.25f, 0.5f, 0.75f, 1f, 1.5f];

    private static ImageBuffer Picture(PixelFormat format) =>
        ImageCodecTests.RandomImage(6, 4, format, 17);

    /// <summary>The Hot colour of map value t as bytes (the oracle does not go through MapRenderer's rendering).</summary>
    private static byte[] HotBytes(float t)
    {
        var (r, g, b) = MapRenderer.Lookup(ColorMap.Hot, t);
        return [.. new[] { r, g, b }.Select(v => (byte)MathF.Round(v * 255))];
    }

    [Test]
    public void OverlayAtAlphaZeroIsThePicture([Values(PixelFormat.Gray, PixelFormat.Rgb, PixelFormat.Rgba)] PixelFormat format)
    {
        var picture = Picture(format);
        var overlay = MapRenderer.Overlay(picture, OverlayMap, 3, 2, 0f);
        Assert.That((overlay.Width, overlay.Height, overlay.Format), Is.EqualTo((6, 4, PixelFormat.Rgb)));
        // As RGB: gray replicated, alpha dropped.
        for (int i = 0; i < 24; i++)
            for (int c = 0; c < 3; c++)
                Assert.That(overlay.Pixels[i * 3 + c], Is.EqualTo(picture.Pixels[i * picture.Channels + (format == PixelFormat.Gray ? 0 : c)]), $"pixel {i} channel {c}");
    }

    [Test]
    public void OverlayAtAlphaOneIsTheColourMapResizedToThePicture()
    {
        var overlay = MapRenderer.Overlay(Picture(PixelFormat.Rgb), OverlayMap, 3, 2, 1f);
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 6; x++)
                Assert.That(overlay.Pixels.AsSpan((y * 6 + x) * 3, 3).ToArray(), Is.EqualTo(HotBytes(OverlayMap[(y / 2) * 3 + x / 2])), $"({x},{y})");
        // And the same as rendering the map, then resizing it with Skia.
        var rendered = ImageTransforms.Resize(MapRenderer.RenderColor(OverlayMap, 3, 2, ColorMap.Hot, 0f, 1f), 6, 4, ResizeFilter.Nearest);
        Assert.That(overlay.Pixels, Is.EqualTo(rendered.Pixels));
        var smooth = MapRenderer.Overlay(Picture(PixelFormat.Rgb), OverlayMap, 3, 2, 1f, filter: ResizeFilter.Linear);
        Assert.That(smooth.Pixels, Is.EqualTo(ImageTransforms.Resize(MapRenderer.RenderColor(OverlayMap, 3, 2, ColorMap.Hot, 0f, 1f), 6, 4).Pixels));
    }

    [Test]
    public void OverlayBlendsLinearly()
    {
        var picture = Picture(PixelFormat.Rgb);
        var overlay = MapRenderer.Overlay(picture, OverlayMap, 3, 2, 0.3f);
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 6; x++)
            {
                var map = HotBytes(OverlayMap[(y / 2) * 3 + x / 2]);
                for (int c = 0; c < 3; c++)
                {
                    int i = (y * 6 + x) * 3 + c;
                    Assert.That(overlay.Pixels[i], Is.EqualTo(0.7 * picture.Pixels[i] + 0.3 * map[c]).Within(0.5 + 1e-4), $"({x},{y}) channel {c}");
                }
            }
        Assert.Throws<ArgumentOutOfRangeException>(() => MapRenderer.Overlay(picture, OverlayMap, 3, 2, 1.5f));
        Assert.Throws<ArgumentOutOfRangeException>(() => MapRenderer.Overlay(picture, OverlayMap, 3, 2, float.NaN));
        Assert.Throws<ArgumentException>(() => MapRenderer.Overlay(picture, OverlayMap, 2, 2, 0.5f));
    }
}
