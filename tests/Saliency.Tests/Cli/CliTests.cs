using System.CommandLine;
using System.Globalization;
using System.Text.RegularExpressions;
using NUnit.Framework;
using Saliency.Cli;
using Saliency.Imaging;
using Saliency.Models.Data;
using Saliency.Models.Onnx;
using Saliency.Models.Runtime;
using Saliency.TestSupport;

namespace Saliency.Tests.Cli;

/// <summary>The info, predict and demo commands, run in-process through the real command tree.</summary>
[TestFixture]
internal class CliTests : CliTestBase
{

    private static void AssertUserError((int Exit, string Out, string Err) r, string expected)
    {
        Assert.That(r.Exit, Is.Not.EqualTo(0));
        Assert.That(r.Err, Does.Contain(expected));
        Assert.That(r.Err + r.Out, Does.Not.Contain("   at "), "no stack trace for user errors");
    }

    /// <summary>Rows "│ rank │ class │ probability │" of the predict table.</summary>
    private static List<(int Class, double Probability)> TopRows(string output) =>
        Regex.Matches(output, @"│\s*(\d+)\s*│\s*(\d+)\s*│\s*([0-9.]+)\s*│")
            .Select(m => (int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture), double.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture)))
            .ToList();

    /// <summary>Softmax in float64 (independent of the CLI's float implementation).</summary>
    private static double[] Softmax(float[] logits)
    {
        double max = logits.Max();
        var e = logits.Select(v => Math.Exp(v - max)).ToArray();
        double sum = e.Sum();
        return e.Select(v => v / sum).ToArray();
    }

    [Test]
    public void InfoDescribesTheBundledModel()
    {
        var (exit, output, error) = Invoke("info");
        Assert.That(exit, Is.EqualTo(0), error);
        Assert.That(output, Does.Contain("[batch, 1, 28, 28]"));
        Assert.That(output, Does.Contain("[batch, 10]"));
        Assert.That(output, Does.Contain("ai.onnx 13"));
        var model = OnnxModel.Load(RepoFiles.LeNetModel);
        foreach (var (op, count) in model.OpHistogram)
            Assert.That(output, Does.Match($@"│ {op}\s*│\s*{count} │"), op);
        long parameters = model.Graph.Initializer.Sum(t => t.Dims.Aggregate(1L, (a, d) => a * d));
        Assert.That(parameters, Is.EqualTo(8 * 25 + 8 + 16 * 8 * 25 + 16 + 400 * 64 + 64 + 64 * 10 + 10), "LeNet parameter count");
        Assert.That(output, Does.Contain(parameters.ToString("N0", CultureInfo.InvariantCulture)));
        Assert.That(output, Does.Contain($"ONNX Runtime {InferenceSession.RuntimeVersion}"));
    }

    [Test]
    public void PredictMatchesADirectOrtRunOnEverySample()
    {
        var digits = BundledLeNet.Digits();
        using var session = InferenceSession.Create(RepoFiles.LeNetModel);
        foreach (var file in Directory.GetFiles(RepoFiles.Samples, "digit-*.png").Order())
        {
            var (exit, output, error) = Invoke("predict", "--image", file, "--top", "3");
            Assert.That(exit, Is.EqualTo(0), error);
            var rows = TopRows(output);
            Assert.That(rows, Has.Count.EqualTo(3), output);

            var pixels = ImageCodec.Read(file).ToGrayFloats();
            var expected = Softmax(session.Run([new FloatTensor("input", pixels, [1, 1, 28, 28])])[0].Data);
            var order = Enumerable.Range(0, 10).OrderByDescending(c => expected[c]).ToArray();
            for (int r = 0; r < 3; r++)
            {
                Assert.That(rows[r].Class, Is.EqualTo(order[r]), $"{Path.GetFileName(file)} rank {r + 1}");
                Assert.That(rows[r].Probability, Is.EqualTo(expected[order[r]]).Within(6e-5), $"{Path.GetFileName(file)} rank {r + 1}");
            }
        }
    }

    [Test]
    public void PredictTopTenIsADistribution()
    {
        var (exit, output, _) = Invoke("predict", "--image", Path.Combine(RepoFiles.Samples, "digit-3-0.png"), "--top", "10");
        Assert.That(exit, Is.EqualTo(0));
        var rows = TopRows(output);
        Assert.That(rows.Select(r => r.Class), Is.EquivalentTo(Enumerable.Range(0, 10)));
        Assert.That(rows.Sum(r => r.Probability), Is.EqualTo(1.0).Within(10 * 5e-5), "rounded to 4 decimals");
        Assert.That(rows.Select(r => r.Probability), Is.Ordered.Descending);
    }

    [Test]
    public void PredictHandlesRgbModelsAndImages()
    {
        // A C#-built 3-channel CNN and an RGB PNG: the CLI must feed planar RGB, as a direct run does.
        var modelPath = Path.Combine(Temp, "cnn.onnx");
        OnnxModel.FromProto(RandomModels.SmallCnn(channels: 3, size: 8, classes: 4, seed: 11)).Save(modelPath);
        var pixels = new byte[8 * 8 * 3];
        new Random(5).NextBytes(pixels);
        var image = new ImageBuffer(8, 8, PixelFormat.Rgb, pixels);
        var imagePath = Path.Combine(Temp, "rgb.png");
        ImageCodec.WritePng(imagePath, image);

        var (exit, output, error) = Invoke("predict", "--model", modelPath, "--image", imagePath, "--top", "4");
        Assert.That(exit, Is.EqualTo(0), error);
        using var session = InferenceSession.Create(modelPath);
        var expected = Softmax(session.Run([new FloatTensor("input", image.ToPlanarFloats(3), [1, 3, 8, 8])])[0].Data);
        foreach (var (cls, p) in TopRows(output))
            Assert.That(p, Is.EqualTo(expected[cls]).Within(6e-5), $"class {cls}");
    }

    [Test]
    public void DemoPrintsSummaryPredictionsAndTheReadmeAccuracy()
    {
        var (exit, output, error) = Invoke("demo", "--count", "5", "--report-digits", "0");
        Assert.That(exit, Is.EqualTo(0), error);
        // The model path sits in a table cell that wraps wherever the checkout's path length puts the 80-column edge.
        Assert.That(Regex.Replace(output, @"[\s│]", ""), Does.Contain("lenet.onnx"));
        Assert.That(output, Does.Contain("ONNX Runtime"));
        Assert.That(output, Does.Contain("Accuracy on 500 digits: 492/500 = 98.40 %"));
        var predictionRows = Regex.Matches(output, @"│\s*\d+\s*│\s*\d\s*│\s*\d\s*│\s*[0-9.]+\s*│\s*(ok|wrong)\s*│");
        Assert.That(predictionRows, Has.Count.EqualTo(5));
    }

    [Test]
    public void MissingFilesGiveAMessageAndExitCodeOne()
    {
        var missing = Path.Combine(Temp, "missing.png");
        AssertUserError(Invoke("predict", "--image", missing), "image file not found");
        AssertUserError(Invoke("info", "--model", Path.Combine(Temp, "missing.onnx")), "model file not found");
        AssertUserError(Invoke("demo", "--labels", Path.Combine(Temp, "missing.idx")), "label file not found");
        Assert.That(Invoke("predict", "--image", missing).Exit, Is.EqualTo(1));
    }

    [Test]
    public void MalformedInputsAreNamed()
    {
        var notPng = Path.Combine(Temp, "not.png");
        File.WriteAllText(notPng, "hello");
        AssertUserError(Invoke("predict", "--image", notPng), "not a PNG, JPEG, WebP, BMP or GIF image");

        var notOnnx = Path.Combine(Temp, "not.onnx");
        File.WriteAllBytes(notOnnx, [0xFF, 0xFF, 0xFF, 0x01, 0x02]);
        AssertUserError(Invoke("info", "--model", notOnnx), "not.onnx");

        var small = Path.Combine(Temp, "small.png");
        ImageCodec.WritePng(small, new ImageBuffer(5, 5, PixelFormat.Gray, new byte[25]));
        AssertUserError(Invoke("predict", "--image", small), "expects 28×28");

        var mlp = Path.Combine(Temp, "mlp.onnx");
        OnnxModel.FromProto(RandomModels.Mlp([784, 10], seed: 1)).Save(mlp);
        AssertUserError(Invoke("predict", "--model", mlp, "--image", Path.Combine(RepoFiles.Samples, "digit-0-0.png")),
            "is not an image [channels, height, width]");

        AssertUserError(Invoke("demo", "--images", RepoFiles.DigitLabels), "magic");
    }

    [Test]
    public void BadOptionsAreRefused()
    {
        var sample = Path.Combine(RepoFiles.Samples, "digit-0-0.png");
        AssertUserError(Invoke("predict", "--image", sample, "--top", "0"), "--top must be at least 1");
        // More than the class count is clamped to it (a default of 3 must not fail on a 2-class model): all 10 rows.
        var all = Invoke("predict", "--image", sample, "--top", "11");
        Assert.That(all.Exit, Is.EqualTo(0), all.Err);
        Assert.That(Regex.Matches(all.Out, @"│\s*\d+\s*│\s*\d\s*│\s*[01]\.\d{4}\s*│"), Has.Count.EqualTo(10));
        var noImage = Invoke("predict");
        Assert.That(noImage.Exit, Is.Not.EqualTo(0));
        Assert.That(noImage.Err, Does.Contain("--image"));
        Assert.That(Invoke("demo", "--count", "-1").Exit, Is.EqualTo(1));
    }
}
