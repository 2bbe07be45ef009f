using System.Globalization;
using System.Text;
using NUnit.Framework;
using Saliency.Evaluation;
using Saliency.Explainers;
using Saliency.Models.Classifiers;
using Saliency.Solvers.Leg;
using Saliency.TestSupport;

namespace Saliency.Tests.Evaluation;

/// <summary>
/// The measurements behind docs/evaluation.md on the bundled LeNet: the cascading-randomization check for gradient,
/// CASO, LEG and LEG-TV, and the masking curves of the same methods. Explicit (minutes, not a CI test); it asserts only
/// what holds by construction (step 0 compares each map with itself) and writes its tables to
/// <c>TestResults/evaluation-lenet.md</c> under the test's working directory and to the test output. The LEG paper's
/// empirical claim is recorded, not asserted.
/// </summary>
[TestFixture]
[Explicit("Measurement for docs/evaluation.md; several minutes on 2 cores.")]
internal sealed class LeNetEvaluationMeasurement
{
    private const int Digits = 5;
    private const int Samples = 1000;

    private static IExplainer[] Methods() =>
    [
        new GradientExplainer(),
        new CasoExplainer(),
        new LegExplainer(new LegExplainerOptions { SampleCount = Samples, Seed = 1 }),
        new LegExplainer(new LegExplainerOptions { SampleCount = Samples, Seed = 1, TotalVariation = true }),
        new LegExplainer(new LegExplainerOptions
        {
            SampleCount = Samples, Seed = 1, TotalVariation = true, TvOptions = new LegTvOptions { BoundRule = LegTvBoundRule.Theoretical },
        }),
        new LegExplainer(new LegExplainerOptions
        {
            SampleCount = 4 * Samples, Seed = 1, TotalVariation = true, TvOptions = new LegTvOptions { BoundRule = LegTvBoundRule.Theoretical },
        }),
    ];

    private static readonly string[] Labels = ["gradient", "caso", "leg", "leg-tv (K_L = 0.1)", "leg-tv (theoretical L, n = 1000)", "leg-tv (theoretical L, n = 4000)"];

    [Test]
    public void CascadingRandomizationOnLeNet()
    {
        var digits = BundledLeNet.Digits();
        var images = Enumerable.Range(0, Digits).Select(digits.ImageFloats).ToArray();
        var result = SanityChecks.CascadingRandomization(BundledLeNet.Model(), Methods(), images, options: new SanityCheckOptions { Seed = 1 });

        foreach (var row in result.Comparisons.Where(c => c.Depth == 0))
        {
            Assert.That(row.Ssim, Is.EqualTo(1.0));
            if (!double.IsNaN(row.SpearmanSigned)) Assert.That(row.SpearmanSigned, Is.EqualTo(1).Within(1e-12));
        }

        var text = new StringBuilder();
        text.AppendLine($"Cascading randomization, bundled LeNet, digits 0..{Digits - 1} of the held-out set, seed 1, biases re-drawn (Gaussian).");
        text.AppendLine($"Layers from the logits: {string.Join(", ", result.Layers.Select(l => $"{l.OpType} {l.Weight} (std {F(l.WeightStd)})"))}.");
        text.AppendLine();
        text.AppendLine("| method | step k | randomized down to | ρ signed | ρ abs | SSIM | max\\|map\\| / step 0 | zero maps | undefined ρ | p_target |");
        text.AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (var s in result.Summary())
        {
            var rows = result.Comparisons.Where(c => c.MethodIndex == s.MethodIndex && c.Depth == s.Depth).OrderBy(c => c.Image).ToArray();
            var baseRows = result.Comparisons.Where(c => c.MethodIndex == s.MethodIndex && c.Depth == 0).OrderBy(c => c.Image).ToArray();
            double ratio = rows.Zip(baseRows, (r, b) => b.MaxAbs > 0 ? r.MaxAbs / b.MaxAbs : double.NaN).Where(double.IsFinite).DefaultIfEmpty(double.NaN).Average();
            string layer = s.Depth == 0 ? "—" : result.Layers[s.Depth - 1].Weight;
            text.AppendLine($"| {Labels[s.MethodIndex]} | {s.Depth} | {layer} | {F(s.SpearmanSigned)} | {F(s.SpearmanAbsolute)} | {F(s.Ssim)} | {F(ratio)} | {s.ZeroMaps}/{s.Images} | {s.UndefinedCorrelations} | {F(rows.Average(r => r.TargetProbability))} |");
        }
        Write("sanity", text.ToString());
    }

    [Test]
    public void MaskingCurvesOnLeNet()
    {
        var digits = BundledLeNet.Digits();
        var images = Enumerable.Range(0, Digits).Select(digits.ImageFloats).ToArray();
        using var classifier = OnnxClassifier.Create(RepoFiles.LeNetModel);
        var options = new SensitivityOptions { CellSize = 4 };
        var results = Sensitivity.Evaluate(classifier, Methods(), images, options: options);
        var text = new StringBuilder();
        text.AppendLine($"Masking curves, bundled LeNet, digits 0..{Digits - 1}, 4×4 cells (49), K = 49, deletion to 0, insertion from a Gaussian blur (σ = 2.8 px).");
        text.AppendLine();
        text.AppendLine("| method | log-odds AUC (deletion, lower = better) | deletion AUC of p (lower) | insertion AUC of p (higher) | log-odds at k = 0, 5, 10, 20 |");
        text.AppendLine("| --- | --- | --- | --- | --- |");
        foreach (var r in results)
        {
            Assert.That(r.MeanDeletionLogOdds, Has.Length.EqualTo(50));
            text.AppendLine($"| {Labels[r.MethodIndex]} | {F(r.MeanDeletionLogOddsAuc)} | {F(r.MeanDeletionAuc)} | {F(r.MeanInsertionAuc)} | " +
                $"{string.Join(", ", new[] { 0, 5, 10, 20 }.Select(k => F(r.MeanDeletionLogOdds[k])))} |");
        }
        Write("sensitivity", text.ToString());
    }

    private static string F(double v) => double.IsNaN(v) ? "n/a" : v.ToString("0.000", CultureInfo.InvariantCulture);

    private static void Write(string name, string text)
    {
        TestContext.Out.WriteLine(text);
        string folder = Path.Combine(TestContext.CurrentContext.WorkDirectory, "TestResults");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, $"evaluation-lenet-{name}.md"), text);
    }
}
