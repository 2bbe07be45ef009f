using NUnit.Framework;
using Saliency.Imaging;

namespace Saliency.Tests.Imaging;

[TestFixture]
public class MapRendererTests
{
    [Test]
    public void GrayMapsTheRangeLinearlyAndScalesByBlocks()
    {
        float[] map = [-1f, 0f, 1f, 3f];
        var image = MapRenderer.RenderGray(map, 2, 2, scale: 3);
        Assert.That((image.Width, image.Height, image.ColorType), Is.EqualTo((6, 6, PngColorType.Gray)));
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
        Assert.That((image.Width, image.Height, image.ColorType), Is.EqualTo((6, 2, PngColorType.Rgb)));
        Assert.That(image.Pixels[..3], Is.EqualTo(new byte[] { 0, 0, 0 }));
        Assert.That(image.Pixels[^3..], Is.EqualTo(new byte[] { 255, 255, 255 }));
        // t = 0.5 in "hot": red saturated, green (0.5 − 0.375) / 0.375 = 1/3, blue 0.
        Assert.That(image.Pixels.AsSpan(6, 3).ToArray(), Is.EqualTo(new byte[] { 255, 85, 0 }));
        Assert.That(PngCodec.Decode(PngCodec.Encode(image)).Pixels, Is.EqualTo(image.Pixels));
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
}
