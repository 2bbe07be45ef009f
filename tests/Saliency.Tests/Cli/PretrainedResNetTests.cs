using NUnit.Framework;
using Saliency.Imaging;
using Saliency.Imaging.Preprocessing;
using Saliency.Models.Classifiers;
using Saliency.Tests.Imaging;
using Saliency.TestSupport;
using SkiaSharp;

namespace Saliency.Tests.Cli;

/// <summary>
/// End to end on a real pretrained third-party model: the ResNet-18 trunk of NuGet Microsoft.ML.DnnImageFeaturizer.ResNet18
/// 0.23.1 (CNTK export, opset 8, output [1, 512, 1, 1]), a JPEG of a size unlike 224×224, the imagenet preset, one output
/// channel explained with the gradient and LEG-TV and overlaid on the original picture. Oracles: central differences of the
/// channel through forward runs (the trunk is piecewise linear), and the decoded JPEG for the overlay's unseen border.
/// </summary>
[TestFixture]
internal sealed class PretrainedResNetTests : CliTestBase
{
    /// <summary>
    /// A 320×240 scene drawn with Skia (gradient, a white disc, a green block) with seeded ±12 noise, as JPEG. The noise
    /// matters for the oracle: in a flat region a max-pool window holds equal values, where the network has a kink
    /// at the image itself (central differences then average two one-sided slopes, measured 8 % off W).
    /// </summary>
    internal static byte[] SceneJpeg()
    {
        using var surface = SKSurface.Create(new SKImageInfo(320, 240, SKColorType.Rgba8888, SKAlphaType.Premul));
        var canvas = surface.Canvas;
        using var shader = SKShader.CreateLinearGradient(new SKPoint(0, 0), new SKPoint(320, 240),
            [new SKColor(255, 165, 0), new SKColor(0, 0, 128)], SKShaderTileMode.Clamp);
        using (var paint = new SKPaint { Shader = shader }) canvas.DrawRect(0, 0, 320, 240, paint);
        using (var white = new SKPaint { Color = SKColors.White, IsAntialias = true }) canvas.DrawCircle(210, 120, 45, white);
        using (var green = new SKPaint { Color = SKColors.ForestGreen }) canvas.DrawRect(30, 60, 80, 140, green);
        using var image = surface.Snapshot();
        using var bitmap = SKBitmap.FromImage(image);
        var rng = new Random(7);
        for (int y = 0; y < 240; y++)
            for (int x = 0; x < 320; x++)
            {
                var c = bitmap.GetPixel(x, y);
                byte Noisy(byte v) => (byte)Math.Clamp(v + rng.Next(-12, 13), 0, 255);
                bitmap.SetPixel(x, y, new SKColor(Noisy(c.Red), Noisy(c.Green), Noisy(c.Blue)));
            }
        using var data = bitmap.Encode(SKEncodedImageFormat.Jpeg, 90);
        return data.ToArray();
    }

    [Test]
    public void JpegWithTheImagenetPresetIsExplainedAndOverlaidOnTheOriginal()
    {
        string model = PretrainedModels.ResNet18Path;
        string jpeg = Path.Combine(Temp, "scene.jpg");
        File.WriteAllBytes(jpeg, SceneJpeg());
        var decoded = ImageCodec.Read(jpeg);
        var prepared = Preprocess.Apply(decoded, PreprocessSpec.Preset("imagenet"), 3, 224, 224);

        // The channel with the largest activation, and its gradient against central differences (oracle).
        int channel;
        using (var trunk = OnnxClassifier.Open(model))
        {
            Assert.That((trunk.ClassCount, trunk.OutputKind), Is.EqualTo((512, OutputKind.Logits)));
            channel = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(trunk.Predict(prepared.Input).LogitsOf(0));
            using var view = new SingleScoreClassifier(trunk, channel);
            var gradient = view.Jacobian(prepared.Input, [1]).Column(0).ToArray();
            // Directions along which the channel moves most (the gradient's, and its sign pattern), with steps small
            // enough to stay in one activation region of the ReLU network: there the channel is linear and the
            // central difference is exact up to float32 rounding.
            double norm = Math.Sqrt(gradient.Sum(g => (double)g * g));
            var directions = new[] { gradient.Select(g => (float)(g / norm)).ToArray(), gradient.Select(g => (float)Math.Sign(g)).ToArray() };
            foreach (var direction in directions)
            {
                float F(float s) => trunk.Predict(prepared.Input.Zip(direction, (x, d) => x + s * d).ToArray()).LogitsOf(0)[channel];
                double exact = gradient.Zip(direction, (g, d) => (double)g * d).Sum();
                float h = (float)(1e-2 / Math.Sqrt(direction.Sum(d => (double)d * d)));
                double fd = (F(h) - F(-h)) / (2.0 * h);
                Assert.That(fd, Is.EqualTo(exact).Within(0.02 * Math.Abs(exact)), "directional derivative");
            }
        }

        string outDir = Path.Combine(Temp, "out");
        foreach (var (method, extra) in new[] { ("gradient", Array.Empty<string>()), ("leg-tv", new[] { "--samples", "32" }) })
        {
            string map = Path.Combine(outDir, $"{method}.png"), over = Path.Combine(outDir, $"{method}-over.png");
            var r = Invoke(["explain", "--method", method, "--model", model, "--image", jpeg, "--preprocess", "imagenet",
                "--channel", channel.ToString(System.Globalization.CultureInfo.InvariantCulture), "--scale", "1", "--out", map, "--overlay", over, .. extra]);
            Assert.That(r.Exit, Is.EqualTo(0), r.Err);
            Assert.That(r.Out, Does.Contain("Pooling395_Output_0 [512 scores]").And.Contain($"channel {channel}").And.Contain("shorter side 256, center crop 224×224"));
            var mapPng = ImageCodec.Read(map);
            Assert.That((mapPng.Width, mapPng.Height), Is.EqualTo((224, 224)), "the map at the model's resolution");
            var overlay = ImageCodec.Read(over);
            Assert.That((overlay.Width, overlay.Height), Is.EqualTo((320, 240)), "the overlay at the original's size");
            // Columns 0..50 lie left of the crop (resized 341 wide, crop from 58: original u < 58·320/341 − ½ ≈ 53.9).
            var rgb = decoded.ToRgb().Pixels;
            for (int v = 0; v < 240; v += 13)
                for (int u = 0; u < 50; u += 7)
                    for (int c = 0; c < 3; c++)
                        Assert.That(overlay.Pixels[(v * 320 + u) * 3 + c], Is.EqualTo(rgb[(v * 320 + u) * 3 + c] / 2), $"{method} ({u},{v})");
        }
    }
}
