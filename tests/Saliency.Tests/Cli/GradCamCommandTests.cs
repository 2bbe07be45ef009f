using NUnit.Framework;
using Saliency.Explainers;
using Saliency.Imaging;
using Saliency.Models.Classifiers;
using Saliency.TestSupport;

namespace Saliency.Tests.Cli;

/// <summary><c>saliency explain --method gradcam [--layer]</c> and <c>--method lime --features superpixel</c>: the PNG is the library's map.</summary>
[TestFixture]
public sealed class GradCamCommandTests : CliTestBase
{
    [TestCase("gradcam", new string[0], "[16×10×10]")]
    [TestCase("gradcam", new[] { "--layer", "/conv1/Conv" }, "/conv1/Conv_output_0 [8×28×28]")]
    [TestCase("lime", new[] { "--features", "superpixel", "--segments", "20", "--compactness", "5", "--samples", "64", "--seed", "1" }, "SLIC superpixels (asked 20, compactness m = 5)")]
    public void WritesTheMapOfTheMethodAsAPng(string method, string[] options, string reportText)
    {
        string outPath = Path.Combine(Temp, $"{method}.png");
        var (exit, output, error) = Invoke(["explain", "--method", method, "--digit", "4", "--out", outPath, "--scale", "1", .. options]);
        Assert.That(exit, Is.EqualTo(0), error);
        Assert.That(output, Does.Contain(reportText));
        var png = ImageCodec.Read(outPath);
        Assert.That((png.Width, png.Height), Is.EqualTo((28, 28)));

        using var classifier = OnnxClassifier.Create(RepoFiles.LeNetModel);
        IExplainer explainer = method == "gradcam"
            ? new GradCamExplainer(new GradCamOptions { Layer = options.Length > 0 ? options[1] : null })
            : new LimeExplainer(new LimeOptions { Features = LimeFeatureKind.Superpixel, Segments = 20, Compactness = 5, SampleCount = 64, Seed = 1 });
        var map = explainer.Explain(classifier, BundledLeNet.Digits().ImageFloats(4)).Map;
        for (int i = 0; i < 28 * 28; i++)
        {
            var (r, g, b) = MapRenderer.Lookup(ColorMap.Hot, map.Normalized[i]);
            Assert.That((int)png.Pixels[3 * i], Is.EqualTo((int)Math.Round(r * 255)).Within(1), $"red at {i}");
            Assert.That((int)png.Pixels[3 * i + 1], Is.EqualTo((int)Math.Round(g * 255)).Within(1), $"green at {i}");
            Assert.That((int)png.Pixels[3 * i + 2], Is.EqualTo((int)Math.Round(b * 255)).Within(1), $"blue at {i}");
        }
    }

    [TestCase(new[] { "--method", "gradcam", "--layer", "nope" }, "no node or node output named 'nope'")]
    [TestCase(new[] { "--method", "gradcam", "--layer", "logits" }, "spatial activation")]
    [TestCase(new[] { "--method", "lime", "--features", "superpixel", "--segments", "0" }, "segments must lie in 1..784")]
    public void BadOptionsGiveOneLineAndExitOne(string[] args, string expected)
    {
        string outPath = Path.Combine(Temp, "never.png");
        var (exit, output, error) = Invoke(["explain", .. args, "--digit", "0", "--out", outPath]);
        Assert.That(exit, Is.EqualTo(1), output);
        Assert.That(error, Does.StartWith("error: ").And.Contain(expected));
        Assert.That(error + output, Does.Not.Contain("   at "));
        Assert.That(File.Exists(outPath), Is.False);
    }
}
