using System.CommandLine;
using NUnit.Framework;
using Saliency.Cli;
using Saliency.Explainers;
using Saliency.Imaging;
using Saliency.Models.Classifiers;
using Saliency.Models.Data;
using Saliency.TestSupport;

namespace Saliency.Tests.Cli;

/// <summary><c>saliency explain</c>, run in-process through the real command tree.</summary>
[TestFixture]
internal class ExplainCommandTests : CliTestBase
{

    [TestCase("gradient", 4)]
    [TestCase("cafo", 2)]
    [TestCase("caso", 8)]
    [TestCase("leg", 1)]
    [TestCase("leg-tv", 3)]
    public void WritesTheNormalisedMapAsAPngOfTheImageSizeTimesScale(string method, int scale)
    {
        string outPath = Path.Combine(Temp, "sub", $"{method}.png");
        var (exit, output, error) = Invoke("explain", "--method", method, "--digit", "2", "--out", outPath,
            "--scale", scale.ToString(System.Globalization.CultureInfo.InvariantCulture), "--samples", "200", "--seed", "4");
        Assert.That(exit, Is.EqualTo(0), error);
        var png = ImageCodec.Read(outPath);
        Assert.That((png.Width, png.Height), Is.EqualTo((28 * scale, 28 * scale)));
        Assert.That(png.Format, Is.EqualTo(PixelFormat.Rgb));

        // The picture is the hot colour map of the library's normalised map at the same settings (block (0,0) of each pixel).
        var digits = BundledLeNet.Digits();
        using var classifier = OnnxClassifier.Create(RepoFiles.LeNetModel);
        var image = digits.ImageFloats(2);
        var map = ExplainerAsTheCliBuildsIt(method, seed: 4, samples: 200).Explain(classifier, image).Map;
        for (int y = 0; y < 28; y++)
            for (int x = 0; x < 28; x++)
            {
                var (r, g, b) = MapRenderer.Lookup(ColorMap.Hot, map.Normalized[y * 28 + x]);
                int at = (y * scale * png.Width + x * scale) * 3;
                Assert.That(png.Pixels[at], Is.EqualTo((byte)Math.Round(r * 255)).Within(1), $"red at ({x}, {y})");
                Assert.That(png.Pixels[at + 2], Is.EqualTo((byte)Math.Round(b * 255)).Within(1), $"blue at ({x}, {y})");
                Assert.That(png.Pixels[at + 1], Is.EqualTo((byte)Math.Round(g * 255)).Within(1), $"green at ({x}, {y})");
            }

        int predicted = classifier.Predict(image).PredictedClass();
        Assert.That(output, Does.Match($@"predicted class\s*│ {predicted} \(p = "));
        Assert.That(output, Does.Contain(method));
        Assert.That(output, Does.Contain($"({28 * scale}×{28 * scale})"));
    }

    /// <summary>The documented meaning of the CLI options, built through the public API.</summary>
    private static IExplainer ExplainerAsTheCliBuildsIt(string method, ulong seed, int samples) => method switch
    {
        "gradient" => new GradientExplainer(GradientObjective.Logit),
        "cafo" => new CasoExplainer(new CasoExplainerOptions { Solver = new Saliency.Solvers.Caso.CasoOptions { Kind = Saliency.Solvers.Caso.CasoObjectiveKind.Cafo } }),
        "caso" => new CasoExplainer(),
        _ => new LegExplainer(new LegExplainerOptions { TotalVariation = method == "leg-tv", SampleCount = samples, Seed = seed }),
    };

    [Test]
    public void ExplainsAPngImageForAGivenTarget()
    {
        string sample = Directory.GetFiles(RepoFiles.Samples, "digit-*.png").Order().First();
        string outPath = Path.Combine(Temp, "map.png");
        var (exit, output, error) = Invoke("explain", "--method", "cafo", "--image", sample, "--target", "7", "--lambda1", "0", "--out", outPath);
        Assert.That(exit, Is.EqualTo(0), error);
        Assert.That(output, Does.Match(@"explained class\s*│ 7 \(p = "));
        Assert.That(output, Does.Contain("0 (given)"));
        var png = ImageCodec.Read(outPath);
        Assert.That((png.Width, png.Height), Is.EqualTo((224, 224)), "default scale 8");
    }

    [TestCase(new[] { "--method", "nope", "--digit", "0" }, "nope")]
    [TestCase(new[] { "--digit", "0" }, "--method")]
    [TestCase(new[] { "--method", "caso" }, "exactly one of --image and --digit")]
    [TestCase(new[] { "--method", "caso", "--digit", "0", "--image", "x.png" }, "exactly one of --image and --digit")]
    [TestCase(new[] { "--method", "caso", "--digit", "100000" }, "--digit must be between 0 and")]
    [TestCase(new[] { "--method", "gradient", "--digit", "0", "--target", "10" }, "Target class 10 is outside 0..9")]
    [TestCase(new[] { "--method", "caso", "--digit", "0", "--lambda1", "-1" }, "λ1 = -1")]
    [TestCase(new[] { "--method", "leg", "--digit", "0", "--samples", "1" }, "--samples must be ≥ 2")]
    [TestCase(new[] { "--method", "gradient", "--digit", "0", "--scale", "0" }, "--scale must be between 1 and 64")]
    [TestCase(new[] { "--method", "leg-tv", "--digit", "0", "--bound-factor", "1.5" }, "--bound-factor must lie in [0, 1]")]
    [TestCase(new[] { "--method", "gradient", "--image", "missing.png" }, "image file not found")]
    [TestCase(new[] { "--method", "gradient", "--digit", "0", "--model", "missing.onnx" }, "model file not found")]
    public void BadArgumentsGiveOneLineAndExitOne(string[] args, string expected)
    {
        var (exit, output, error) = Invoke(["explain", .. args, "--out", Path.Combine(Temp, "never.png")]);
        Assert.That(exit, Is.EqualTo(1));
        Assert.That(error, Does.Contain(expected));
        Assert.That(error + output, Does.Not.Contain("   at "), "no stack trace for user errors");
        Assert.That(File.Exists(Path.Combine(Temp, "never.png")), Is.False);
    }

    [Test]
    public void BoundFactorOneGivesTheConstantLegTvMap()
    {
        // L = L_max is the smallest level whose LEG-TV solution has zero total variation: a constant map.
        string outPath = Path.Combine(Temp, "flat.png");
        var (exit, output, error) = Invoke("explain", "--method", "leg-tv", "--digit", "1", "--samples", "200", "--bound-factor", "1", "--out", outPath);
        Assert.That(exit, Is.EqualTo(0), error);
        var png = ImageCodec.Read(outPath);
        Assert.That(png.Pixels.Chunk(3).Select(px => (px[0], px[1], px[2])).Distinct().Count(), Is.EqualTo(1), output);
    }

    [Test]
    public void AWrongSizedImageIsAUserError()
    {
        string path = Path.Combine(Temp, "small.png");
        ImageCodec.WritePng(path, new ImageBuffer(5, 5, PixelFormat.Gray, new byte[25]));
        var (exit, _, error) = Invoke("explain", "--method", "gradient", "--image", path, "--out", Path.Combine(Temp, "o.png"));
        Assert.That(exit, Is.EqualTo(1));
        Assert.That(error, Does.StartWith("error: ").And.Contain("5×5"));
    }
    [TestCase("gradient")]
    [TestCase("caso")]
    public void AModelWithNaNLogitsIsAUserError(string method)
    {
        string model = Path.Combine(Temp, "nan.onnx");
        Saliency.TestSupport.BundledLeNet.WithLastBias(1, float.NaN).Save(model);
        var (exit, output, error) = Invoke("explain", "--method", method, "--model", model, "--digit", "0", "--out", Path.Combine(Temp, "nan.png"));
        Assert.That(exit, Is.EqualTo(1), output);
        Assert.That(error, Does.StartWith("error: ").And.Contain("non-finite logit"));
        Assert.That(File.Exists(Path.Combine(Temp, "nan.png")), Is.False);
    }

    [Test]
    public void LogitsBeyondTheExpRangeGiveFiniteProbabilities()
    {
        string model = Path.Combine(Temp, "scaled.onnx");
        Saliency.TestSupport.BundledLeNet.WithScaledLastGemm(20f).Save(model);
        var (exit, output, error) = Invoke("explain", "--method", "gradient", "--model", model, "--digit", "0", "--out", Path.Combine(Temp, "s.png"));
        Assert.That(exit, Is.EqualTo(0), error);
        Assert.That(output, Does.Not.Contain("NaN"));
    }
}
