using System.Globalization;
using NUnit.Framework;
using Saliency.Explainers;
using Saliency.Imaging;
using Saliency.Models.Classifiers;
using Saliency.Solvers.Caso;
using Saliency.TestSupport;

namespace Saliency.Tests.Cli;

/// <summary><c>saliency explain</c> with the baseline methods: the PNG is the library's map at the documented settings.</summary>
[TestFixture]
internal sealed class BaselineMethodCommandTests : CliTestBase
{
    [TestCase("gradient-x-input", new string[0], "gradient-x-input")]
    [TestCase("smoothgrad", new[] { "--samples", "8", "--seed", "3", "--noise", "0.2" }, "σ")]
    [TestCase("ig", new[] { "--steps", "16", "--baseline-value", "0.1" }, "completeness gap")]
    [TestCase("occlusion", new[] { "--window", "3", "--stride", "2" }, "14×14 = 196 positions")]
    [TestCase("lime", new[] { "--cell", "7", "--samples", "100", "--seed", "2", "--kernel-width", "0.5" }, "weighted R²")]
    [TestCase("kernelshap", new[] { "--cell", "10" }, "512 (all)")]
    [TestCase("smooth-cafo", new[] { "--samples", "3", "--lambda1", "0" }, "smooth-cafo")]
    public void WritesTheMapOfTheMethodAsAPng(string method, string[] options, string reportText)
    {
        const int scale = 2;
        string outPath = Path.Combine(Temp, $"{method}.png");
        var (exit, output, error) = Invoke(["explain", "--method", method, "--digit", "5", "--out", outPath, "--scale", "2", .. options]);
        Assert.That(exit, Is.EqualTo(0), error);
        Assert.That(output, Does.Contain(reportText));
        Assert.That(output, Does.Contain("model runs").Or.Contain("FISTA"));
        var png = ImageCodec.Read(outPath);
        Assert.That((png.Width, png.Height), Is.EqualTo((28 * scale, 28 * scale)));

        // Block (0, 0) of each pixel is the hot colour of the library's normalised map at the same settings.
        using var classifier = OnnxClassifier.Create(RepoFiles.LeNetModel);
        var map = AsTheCliBuildsIt(method).Explain(classifier, BundledLeNet.Digits().ImageFloats(5)).Map;
        for (int y = 0; y < 28; y++)
            for (int x = 0; x < 28; x++)
            {
                var (r, g, b) = MapRenderer.Lookup(ColorMap.Hot, map.Normalized[y * 28 + x]);
                int at = (y * scale * png.Width + x * scale) * 3;
                Assert.That((int)png.Pixels[at], Is.EqualTo((int)Math.Round(r * 255)).Within(1), $"red at ({x}, {y})");
                Assert.That((int)png.Pixels[at + 1], Is.EqualTo((int)Math.Round(g * 255)).Within(1), $"green at ({x}, {y})");
                Assert.That((int)png.Pixels[at + 2], Is.EqualTo((int)Math.Round(b * 255)).Within(1), $"blue at ({x}, {y})");
            }
    }

    /// <summary>The documented meaning of the options above, through the public API.</summary>
    private static IExplainer AsTheCliBuildsIt(string method) => method switch
    {
        "gradient-x-input" => new GradientTimesInputExplainer(),
        "smoothgrad" => new SmoothGradExplainer(new SmoothGradOptions { SampleCount = 8, Seed = 3, NoiseFraction = 0.2 }),
        "ig" => new IntegratedGradientsExplainer(new IntegratedGradientsOptions { Steps = 16, BaselineValue = 0.1f }),
        "occlusion" => new OcclusionExplainer(new OcclusionOptions { Window = 3, Stride = 2 }),
        "lime" => new LimeExplainer(new LimeOptions { Cell = 7, SampleCount = 100, Seed = 2, KernelWidth = 0.5 }),
        "kernelshap" => new KernelShapExplainer(new KernelShapOptions { Cell = 10 }),
        _ => new SmoothCasoExplainer(new SmoothCasoExplainerOptions
        {
            Smoothing = new SmoothingOptions { Copies = 3 }, Lambda1 = 0, Solver = new CasoOptions { Kind = CasoObjectiveKind.Cafo },
        }),
    };

    [TestCase(new[] { "--method", "occlusion", "--window", "0" }, "occlusion window 0")]
    [TestCase(new[] { "--method", "occlusion", "--window", "2", "--stride", "3" }, "stride 3")]
    [TestCase(new[] { "--method", "ig", "--steps", "0" }, "steps m must be ≥ 1")]
    [TestCase(new[] { "--method", "lime", "--cell", "0" }, "cell size 0")]
    [TestCase(new[] { "--method", "lime", "--kernel-width", "0" }, "kernel width must be finite and > 0")]
    [TestCase(new[] { "--method", "smoothgrad", "--noise", "-1" }, "--noise must be finite")]
    [TestCase(new[] { "--method", "kernelshap", "--samples", "1" }, "--samples must be ≥ 2")]
    public void BadBaselineOptionsGiveOneLineAndExitOne(string[] args, string expected)
    {
        string outPath = Path.Combine(Temp, "never.png");
        var (exit, output, error) = Invoke(["explain", .. args, "--digit", "0", "--out", outPath]);
        Assert.That(exit, Is.EqualTo(1), output);
        Assert.That(error, Does.StartWith("error: ").And.Contain(expected));
        Assert.That(error + output, Does.Not.Contain("   at "));
        Assert.That(File.Exists(outPath), Is.False);
    }

    [Test]
    public void DefaultSamplesFollowTheMethod()
    {
        var (exit, output, error) = Invoke("explain", "--method", "smoothgrad", "--digit", "0", "--out", Path.Combine(Temp, "s.png"));
        Assert.That(exit, Is.EqualTo(0), error);
        Assert.That(output, Does.Contain(string.Create(CultureInfo.InvariantCulture, $"50, seed 0")));
    }
}
