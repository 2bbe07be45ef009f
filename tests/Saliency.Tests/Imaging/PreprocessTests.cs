using NUnit.Framework;
using Saliency.Imaging;
using Saliency.Imaging.Preprocessing;
using Saliency.Models.Classifiers;

namespace Saliency.Tests.Imaging;

/// <summary>
/// <see cref="Preprocess"/> and <see cref="PreprocessSpec"/>: values against the closed form (v·scale − mean)/std on
/// uniform pictures, geometry against the shorter-side rule and direct Skia resize/crop calls, and the map-back to the
/// original picture against exact cases (integer scale factors).
/// </summary>
[TestFixture]
internal sealed class PreprocessTests
{
    private static ImageBuffer Uniform(int width, int height, byte r, byte g, byte b)
    {
        var pixels = new byte[width * height * 3];
        for (int i = 0; i < width * height; i++) { pixels[3 * i] = r; pixels[3 * i + 1] = g; pixels[3 * i + 2] = b; }
        return new ImageBuffer(width, height, PixelFormat.Rgb, pixels);
    }

    [Test]
    public void PresetsGiveTheClosedFormValues()
    {
        var picture = Uniform(300, 200, 200, 100, 50);
        var imagenet = Preprocess.Apply(picture, PreprocessSpec.Preset("imagenet"), 3, 224, 224);
        double[] mean = [0.485, 0.456, 0.406], std = [0.229, 0.224, 0.225];
        byte[] v = [200, 100, 50];
        int n = 224 * 224;
        for (int p = 0; p < 3; p++)
            Assert.That(imagenet.Input.AsSpan(p * n, n).ToArray(), Is.All.EqualTo((float)((v[p] / 255.0 - mean[p]) / std[p])).Within(1e-5f), $"plane {p}");

        var inception = Preprocess.Apply(picture, PreprocessSpec.Preset("inception"), 3, 32, 32);
        Assert.That(inception.Input[0], Is.EqualTo(200 * 2 / 255.0 - 1).Within(1e-6));
        var bgr = Preprocess.Apply(picture, PreprocessSpec.Preset("unit") with { Channels = ChannelOrder.Bgr }, 3, 32, 32);
        Assert.That(new[] { bgr.Input[0], bgr.Input[32 * 32], bgr.Input[2 * 32 * 32] }, Is.EqualTo(new[] { 50 / 255f, 100 / 255f, 200 / 255f }).Within(1e-6f));
        var mnist = Preprocess.Apply(picture, PreprocessSpec.Preset("mnist"), 1, 28, 28);
        Assert.That(mnist.Input[0], Is.EqualTo((0.299 * 200 + 0.587 * 100 + 0.114 * 50) / 255).Within(1e-5));
    }

    [Test]
    public void ImagenetResizesTheShorterSideTo256ThenCropsTheCentre()
    {
        var rng = new Random(3);
        var pixels = new byte[400 * 300 * 3];
        rng.NextBytes(pixels);
        var picture = new ImageBuffer(400, 300, PixelFormat.Rgb, pixels);
        var prepared = Preprocess.Apply(picture, PreprocessSpec.Preset("imagenet"), 3, 224, 224);
        // 300 → 256: 400·256/300 = 341.33 → 341; crop offsets ⌊(341 − 224)/2⌋ = 58, (256 − 224)/2 = 16.
        Assert.That((prepared.ResizedWidth, prepared.ResizedHeight, prepared.CropX, prepared.CropY), Is.EqualTo((341, 256, 58, 16)));
        var direct = ImageTransforms.Crop(ImageTransforms.Resize(picture, 341, 256, ResizeFilter.Linear), 58, 16, 224, 224);
        Assert.That(prepared.Crop.Pixels, Is.EqualTo(direct.Pixels));
        // For another input size the 256/224 ratio scales: 112 → shorter side 128.
        var small = Preprocess.Apply(picture, PreprocessSpec.Preset("imagenet"), 3, 112, 112);
        Assert.That(small.ResizedHeight, Is.EqualTo(128));
    }

    [Test]
    public void MapsGoBackOntoTheOriginalPicture()
    {
        // 300×200 fitted to 100×100: scale ½ exactly (150×100), crop from column 25; original column u lies in crop
        // column (u − 50)/2 for 50 ≤ u < 250, outside otherwise. Map 50×50 (half the crop): map column (u − 50)/4.
        var prepared = Preprocess.Apply(Uniform(300, 200, 10, 20, 30), PreprocessSpec.Preset("unit"), 3, 100, 100);
        Assert.That((prepared.ResizedWidth, prepared.ResizedHeight, prepared.CropX, prepared.CropY), Is.EqualTo((150, 100, 25, 0)));
        var map = Enumerable.Range(0, 50 * 50).Select(i => (float)i).ToArray();
        var back = prepared.MapToOriginal(map, 50, 50);
        for (int v = 0; v < 200; v += 7)
            for (int u = 0; u < 300; u++)
            {
                float got = back[v * 300 + u];
                if (u < 50 || u >= 250) Assert.That(float.IsNaN(got), $"({u},{v}) outside the crop");
                else Assert.That(got, Is.EqualTo((float)((v / 4) * 50 + (u - 50) / 4)), $"({u},{v})");
            }
        // The overlay: outside the crop the picture at half brightness, inside at α = 0 the picture itself.
        var over = prepared.OverlayOnOriginal(Enumerable.Repeat(0.5f, 2500).ToArray(), 50, 50, 0f);
        Assert.That(over.Pixels.AsSpan(0, 3).ToArray(), Is.EqualTo(new byte[] { 5, 10, 15 }));
        Assert.That(over.Pixels.AsSpan(3 * 100, 3).ToArray(), Is.EqualTo(new byte[] { 10, 20, 30 }));
    }

    [Test]
    public void SpecsParseStrictly()
    {
        var spec = PreprocessSpec.Parse("""{ "preset": "imagenet", "channels": "bgr", "layout": "nhwc", "resize": 300 }""", "s.json");
        Assert.That((spec.Channels, spec.Layout, spec.ResizeShorter, spec.ResizeRatio, spec.Mean[0]), Is.EqualTo((ChannelOrder.Bgr, InputLayout.Nhwc, (int?)300, (double?)null, 0.485)));
        foreach (var (json, message) in new[]
        {
            ("""{ "sclae": 1 }""", "unknown key \"sclae\""),
            ("""{ "std": [0.2, 0] }""", "array of 1 or 3 numbers"),
            ("""{ "std": [0.2, 0, 1] }""", "std must be 1 or 3 positive"),
            ("""{ "channels": "rgba" }""", "\"channels\" must be one of"),
            ("""{ "resize": -4 }""", "\"resize\" must be an integer"),
            ("""{ "preset": "coco" }""", "unknown preprocessing preset 'coco'"),
            ("""[1, 2]""", "must be a JSON object"),
            ("""{ "scale": """, "not valid JSON"),
        })
        {
            var e = Assert.Throws<PreprocessSpecException>(() => PreprocessSpec.Parse(json, "s.json"));
            Assert.That(e!.Message, Does.Contain(message), json);
        }
        var gray = Uniform(8, 8, 1, 2, 3);
        Assert.That(Assert.Throws<PreprocessSpecException>(() => Preprocess.Apply(gray, PreprocessSpec.Preset("imagenet"), 1, 8, 8))!.Message,
            Does.Contain("gives 3 plane(s)"));
        Assert.That(Assert.Throws<PreprocessSpecException>(() => Preprocess.Apply(gray, PreprocessSpec.Preset("unit"), 4, 8, 8))!.Message,
            Does.Contain("4 channels"));
    }
}
