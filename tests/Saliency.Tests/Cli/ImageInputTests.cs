using System.Globalization;
using System.Text.RegularExpressions;
using NUnit.Framework;
using Saliency.Imaging;
using Saliency.Models.Classifiers;
using Saliency.Models.Data;
using Saliency.Models.Runtime;
using Saliency.Tests.Imaging;
using Saliency.TestSupport;

namespace Saliency.Tests.Cli;

/// <summary>
/// Image files other than PNG through <c>predict</c> and <c>explain</c>: JPEG/WebP/BMP/GIF input, <c>--resize</c>,
/// <c>--overlay</c>, and one-line errors for corrupt files. The oracle for each prediction is a direct ONNX Runtime run
/// on the pixels the library decodes (and, with --resize, resizes and crops) from the same file.
/// </summary>
[TestFixture]
internal class ImageInputTests : CliTestBase
{
    private static string Sample => Path.Combine(RepoFiles.Samples, "digit-3-0.png");

    private static List<(int Class, double Probability)> TopRows(string output) =>
        Regex.Matches(output, @"│\s*(\d+)\s*│\s*(\d+)\s*│\s*([0-9.]+)\s*│")
            .Select(m => (int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture), double.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture)))
            .ToList();

    /// <summary>Softmax probabilities (float64) of the bundled model on a 28×28 gray input.</summary>
    private static double[] Expected(float[] pixels)
    {
        using var session = InferenceSession.Create(RepoFiles.LeNetModel);
        var logits = session.Run([new FloatTensor("input", pixels, [1, 1, 28, 28])])[0].Data;
        double max = logits.Max();
        var e = logits.Select(v => Math.Exp(v - max)).ToArray();
        return e.Select(v => v / e.Sum()).ToArray();
    }

    private static void AssertPredictMatches(string output, double[] expected)
    {
        var rows = TopRows(output);
        Assert.That(rows, Has.Count.EqualTo(3), output);
        var order = Enumerable.Range(0, expected.Length).OrderByDescending(c => expected[c]).ToArray();
        for (int r = 0; r < 3; r++)
        {
            Assert.That(rows[r].Class, Is.EqualTo(order[r]), $"rank {r + 1}");
            Assert.That(rows[r].Probability, Is.EqualTo(expected[order[r]]).Within(6e-5), $"rank {r + 1}");
        }
    }

    private string WriteJpeg(string name, int quality = 95)
    {
        var path = Path.Combine(Temp, name);
        File.WriteAllBytes(path, ImageCodecTests.Jpeg(ImageCodec.Read(Sample), quality));
        return path;
    }

    [Test]
    public void PredictReadsJpegAndWebpLikeTheLibraryDecodesThem()
    {
        var jpeg = WriteJpeg("digit.jpg");
        var webp = Path.Combine(Temp, "digit.webp");
        File.WriteAllBytes(webp, ImageCodecTests.Webp(ImageCodec.Read(Sample).ToRgb(), lossless: true));
        foreach (var path in new[] { jpeg, webp })
        {
            var (exit, output, error) = Invoke("predict", "--image", path);
            Assert.That(exit, Is.EqualTo(0), error);
            AssertPredictMatches(output, Expected(ImageCodec.Read(path).ToGrayFloats()));
        }
        // Lossless WebP of the PNG sample is the same picture: the same probabilities as the PNG itself.
        AssertPredictMatches(Invoke("predict", "--image", webp).Out, Expected(ImageCodec.Read(Sample).ToGrayFloats()));
    }

    [TestCase("bmp", "rgb24-7x5.bmp")]
    [TestCase("gif", "animated-5x3.gif")]
    public void PredictResizesBmpAndGifOnRequest(string folder, string name)
    {
        var path = TestPaths.Fixture(folder, name);
        var (exit, output, error) = Invoke("predict", "--image", path, "--resize");
        Assert.That(exit, Is.EqualTo(0), error);
        var fitted = ImageTransforms.ResizeAndCenterCrop(ImageCodec.Read(path), 28, 28);
        AssertPredictMatches(output, Expected(fitted.ToGrayFloats()));
    }

    [Test]
    public void WithoutResizeTheSizeMustMatch()
    {
        var (exit, output, error) = Invoke("predict", "--image", TestPaths.Fixture("bmp", "rgb24-7x5.bmp"));
        Assert.That(exit, Is.EqualTo(1));
        Assert.That(error.TrimEnd().Split('\n'), Has.Length.EqualTo(1), error);
        Assert.That(error, Does.StartWith("error: the image is 7×5 but the model expects 28×28; pass --resize or a --preprocess preset"));
        Assert.That(output + error, Does.Not.Contain("   at "));
    }

    [Test]
    public void CorruptJpegGivesOneLineErrorAndExitOne()
    {
        var good = File.ReadAllBytes(WriteJpeg("good.jpg"));
        var truncated = Path.Combine(Temp, "truncated.jpg");
        File.WriteAllBytes(truncated, good[..(good.Length / 2)]);
        var garbage = Path.Combine(Temp, "garbage.jpg");
        File.WriteAllBytes(garbage, [.. good[..4], .. Enumerable.Repeat((byte)0x5A, 300)]);
        var empty = Path.Combine(Temp, "empty.jpg");
        File.WriteAllBytes(empty, []);
        foreach (var path in new[] { truncated, garbage, empty })
            foreach (var args in new[]
            {
                new[] { "predict", "--image", path },
                new[] { "explain", "--method", "gradient", "--image", path, "--out", Path.Combine(Temp, "never.png") },
            })
            {
                var (exit, output, error) = Invoke(args);
                Assert.That(exit, Is.EqualTo(1), $"{args[0]} {Path.GetFileName(path)}");
                Assert.That(error.TrimEnd().Split('\n'), Has.Length.EqualTo(1), error);
                Assert.That(error, Does.StartWith($"error: {path}: "));
                Assert.That(output + error, Does.Not.Contain("   at "));
                Assert.That(File.Exists(Path.Combine(Temp, "never.png")), Is.False);
            }
    }

    [Test]
    public void ExplainReadsAJpegAndOverlaysTheMapOnIt()
    {
        var jpeg = WriteJpeg("digit.jpg");
        var decoded = ImageCodec.Read(jpeg);
        string map = Path.Combine(Temp, "map.png"), over0 = Path.Combine(Temp, "o0.png"), over1 = Path.Combine(Temp, "o1.png");
        var first = Invoke("explain", "--method", "gradient", "--image", jpeg, "--out", map, "--overlay", over0, "--overlay-alpha", "0");
        Assert.That(first.Exit, Is.EqualTo(0), first.Err);
        Assert.That(first.Out, Does.Match(@"│ image\s*│ /").And.Match(@"│ overlay\s*│ /"), "the table names the input and the overlay file");
        var second = Invoke("explain", "--method", "gradient", "--image", jpeg, "--out", map, "--overlay", over1, "--overlay-alpha", "1");
        Assert.That(second.Exit, Is.EqualTo(0), second.Err);

        // The explained input is the decoded JPEG: the reported prediction is the classifier's on those pixels.
        using var classifier = OnnxClassifier.Create(RepoFiles.LeNetModel);
        int predicted = classifier.Predict(decoded.ToGrayFloats()).PredictedClass();
        Assert.That(first.Out, Does.Match($@"predicted class\s*│ {predicted} \(p = "));

        // α = 0: the picture, enlarged ×8 by blocks (gray replicated to RGB); α = 1: exactly the map PNG.
        var picture = ImageCodec.Read(over0);
        Assert.That((picture.Width, picture.Height, picture.Format), Is.EqualTo((224, 224, PixelFormat.Rgb)));
        for (int y = 0; y < 224; y++)
            for (int x = 0; x < 224; x++)
                for (int c = 0; c < 3; c++)
                    Assert.That(picture.Pixels[(y * 224 + x) * 3 + c], Is.EqualTo(decoded.Pixels[(y / 8) * 28 + x / 8]), $"({x},{y})");
        Assert.That(ImageCodec.Read(over1).Pixels, Is.EqualTo(ImageCodec.Read(map).Pixels));
    }

    [Test]
    public void OverlayOptionsAreChecked()
    {
        var (exit, _, error) = Invoke("explain", "--method", "gradient", "--digit", "0", "--overlay", Path.Combine(Temp, "o.png"),
            "--overlay-alpha", "1.5", "--out", Path.Combine(Temp, "m.png"));
        Assert.That(exit, Is.EqualTo(1));
        Assert.That(error, Does.StartWith("error: --overlay-alpha must lie in [0, 1]"));

        // --digit: the picture is the digit itself.
        string over = Path.Combine(Temp, "digit-over.png");
        var ok = Invoke("explain", "--method", "gradient", "--digit", "0", "--overlay", over, "--overlay-alpha", "0", "--scale", "2",
            "--out", Path.Combine(Temp, "m.png"));
        Assert.That(ok.Exit, Is.EqualTo(0), ok.Err);
        var digit = BundledLeNet.Digits().ImageBytes(0).ToArray();
        var picture = ImageCodec.Read(over);
        Assert.That((picture.Width, picture.Height), Is.EqualTo((56, 56)));
        for (int y = 0; y < 56; y++)
            for (int x = 0; x < 56; x++)
                Assert.That(picture.Pixels[(y * 56 + x) * 3], Is.EqualTo(digit[(y / 2) * 28 + x / 2]), $"({x},{y})");
    }
}
