using System.Text.Json;
using NUnit.Framework;
using Saliency.Explainers;
using Saliency.Models.Classifiers;
using Saliency.TestSupport;

namespace Saliency.Tests.Engine;

/// <summary>
/// The public reports of occlusion, LIME and Kernel SHAP (<see cref="BaselineReports"/>) against the explainers' own
/// figures and closed forms: occlusion evaluations = window positions + 1 = (⌈(n − w)/s⌉ + 1)² + 1, counted again by a
/// wrapping classifier; weighted R² = 1 for LIME (α → 0) and Kernel SHAP on models exactly additive over the cells;
/// LIME's and Kernel SHAP's R² on LeNet recomputed here from the definition (the samples re-scored in one batch).
/// Grad-CAM's report is checked in <c>GradCamTests</c>, the engine's wiring in <c>SaliencyEngineTests</c>.
/// </summary>
[TestFixture]
internal sealed class BaselineReportTests
{
    private OnnxClassifier _lenet = null!;
    private float[] _digit = [];
    private KnownFunctionModel _linear = null!;
    private OnnxClassifier _linearClassifier = null!;
    private float[] _x = [];

    [OneTimeSetUp]
    public void Open()
    {
        _lenet = OnnxClassifier.Create(RepoFiles.LeNetModel);
        _digit = BundledLeNet.Digits().ImageFloats(0);
        _linear = KnownFunctionModel.Create(1, 8, 8, classes: 4, seed: 21);
        _linearClassifier = OnnxClassifier.Create(_linear.Proto);
        var rng = new Random(22);
        _x = Enumerable.Range(0, 64).Select(_ => (float)rng.NextDouble()).ToArray();
    }

    [OneTimeTearDown]
    public void Close()
    {
        _lenet.Dispose();
        _linearClassifier.Dispose();
    }

    [TestCase(4, 2, 0f)]
    [TestCase(5, 3, 0.25f)]
    [TestCase(28, 1, 0f)]
    public void OcclusionEvaluationsAreTheWindowPositionsPlusTheImage(int window, int stride, float baselineValue)
    {
        var counting = new CountingClassifier(_lenet);
        var explanation = new OcclusionExplainer(new OcclusionOptions { Window = window, Stride = stride, BaselineValue = baselineValue })
            .Explain(counting, _digit);
        var report = BaselineReports.From(explanation.Report);

        // Origins 0, s, 2s, … below n − w, then n − w itself: ⌈(n − w)/s⌉ + 1 per axis of n = 28.
        int perAxis = (28 - window + stride - 1) / stride + 1;
        Assert.That(report.Positions, Is.EqualTo(perAxis * perAxis));
        Assert.That(report.Evaluations, Is.EqualTo(report.Positions + 1));
        Assert.That(counting.PredictBatchSizes.Sum(), Is.EqualTo(report.Evaluations), "images the model actually scored");
        Assert.That((report.Window, report.Stride, report.BaselineValue), Is.EqualTo((window, stride, (float?)baselineValue)));
        Assert.That(report.InputScore, Is.EqualTo((double)_lenet.Predict(_digit).LogitsOf(0)[explanation.Target]));
        Assert.That(report.Positions, Is.EqualTo(explanation.Report.Windows));

        var withImage = new OcclusionExplainer(new OcclusionOptions { Window = window, Stride = stride, Baseline = new float[784] }).Explain(_lenet, _digit);
        Assert.That(BaselineReports.From(withImage.Report).BaselineValue, Is.Null, "a baseline image has no single fill value");
    }

    [Test]
    public void LimeOnALinearModelFitsWithRSquaredOneAndReportsItsSettings()
    {
        // The logit is exactly affine in the cell switches z, so the (nearly unpenalised) surrogate fits every sample.
        var options = new LimeOptions { Cell = 2, SampleCount = 300, Ridge = 1e-9, BaselineValue = 0.2f, Seed = 5, KernelWidth = 0.4 };
        var explanation = new LimeExplainer(options).Explain(_linearClassifier, _x, target: 1);
        var report = BaselineReports.From(explanation.Report);
        Assert.That(report.WeightedR2, Is.EqualTo(1).Within(1e-9));
        Assert.That(report, Is.EqualTo(new LimeReport(FeatureKind.GridCells, 16, 2, null, 300, 0.4, 1e-9, explanation.Report.Intercept,
            explanation.Report.WeightedR2, 5)));
        // β₀ is the score with every cell off: the baseline image's logit.
        Assert.That(report.Intercept, Is.EqualTo(_linear.Logits(Enumerable.Repeat(0.2f, 64).ToArray())[1]).Within(1e-4));
    }

    [Test]
    public void LimesRSquaredOnLeNetFollowsTheDefinition()
    {
        var options = new LimeOptions { Cell = 7, SampleCount = 60, Seed = 3 };
        var explanation = new LimeExplainer(options).Explain(_lenet, _digit);
        var report = BaselineReports.From(explanation.Report);
        const int f = 16;
        Assert.That((report.Features, report.FeatureCount, report.Cell, report.Segments, report.Samples), Is.EqualTo((FeatureKind.GridCells, f, (int?)7, (int?)null, 60)));
        Assert.That((report.KernelWidth, report.Ridge, report.Seed), Is.EqualTo((0.25, 1.0, 3UL)));

        // The same masks, re-scored in one batch; π = exp(−D²/σ²) with the cosine distance 1 − √(|z|/F).
        var grid = new GridFeatures(1, 28, 28, 7);
        var masks = new bool[60][];
        var images = new float[60 * 784];
        for (int i = 0; i < 60; i++)
        {
            masks[i] = new bool[f];
            LimeExplainer.Mask(3, f, i, masks[i]);
            grid.Compose(_digit, new float[784], masks[i], images.AsSpan(i * 784, 784));
        }
        var scores = _lenet.Predict(images);
        var y = Enumerable.Range(0, 60).Select(i => (double)scores.LogitsOf(i)[explanation.Target]).ToArray();
        var w = masks.Select(m => { double d = 1 - Math.Sqrt(m.Count(on => on) / (double)f); return Math.Exp(-d * d / 0.0625); }).ToArray();
        var fit = masks.Select(m => report.Intercept + Enumerable.Range(0, f).Where(c => m[c]).Sum(c => explanation.Report.Coefficients[c])).ToArray();
        double expected = RSquared(y, fit, w);
        TestContext.Out.WriteLine($"LIME on LeNet, 4×4 cells, n = 60: weighted R² = {report.WeightedR2:F6} (recomputed {expected:F6})");
        Assert.That(report.WeightedR2, Is.EqualTo(expected).Within(1e-6));
        Assert.That(report.WeightedR2, Is.LessThan(1 - 1e-6), "ridge α = 1 on a nonlinear model cannot fit exactly");
    }

    [Test]
    public void LimeWithSuperpixelsReportsTheSegmentsAskedAndFound()
    {
        var explanation = new LimeExplainer(new LimeOptions { Features = LimeFeatureKind.Superpixel, Segments = 12, SampleCount = 40, Seed = 1 }).Explain(_lenet, _digit);
        var report = BaselineReports.From(explanation.Report);
        Assert.That((report.Features, report.Cell, report.Segments), Is.EqualTo((FeatureKind.Superpixels, (int?)null, (int?)12)));
        Assert.That(report.FeatureCount, Is.EqualTo(explanation.Report.Segments!.Count).And.EqualTo(explanation.Report.Coefficients.Length));
    }

    [Test]
    public void KernelShapOnAdditiveGamesFitsWithRSquaredOne()
    {
        // Enumerated: logit = Σ wᵢ tanh(xᵢ) + b is additive over the 9 cells of 3×3 pixels (all 512 coalitions).
        var additive = KnownFunctionModel.Create(1, 8, 8, classes: 3, seed: 28, tanh: true);
        using var classifier = OnnxClassifier.Create(additive.Proto);
        var counting = new CountingClassifier(classifier);
        var enumerated = BaselineReports.From(new KernelShapExplainer(new KernelShapOptions { Cell = 3, Seed = 4 }).Explain(counting, _x, target: 1).Report);
        Assert.That((enumerated.FeatureCount, enumerated.Cell, enumerated.Enumerated, enumerated.Coalitions, enumerated.Seed),
            Is.EqualTo((9, 3, true, 512, (ulong?)null)), "nothing is drawn when every coalition is evaluated");
        Assert.That(counting.PredictBatchSizes.Sum(), Is.EqualTo(enumerated.Coalitions));
        Assert.That(enumerated.WeightedR2, Is.EqualTo(1).Within(1e-9));
        Assert.That(enumerated.EfficiencyGap, Is.LessThan(1e-12));

        // Sampled: 16 cells of a linear model, 200 coalitions in complement pairs plus ∅ and the full set.
        var sampledExplanation = new KernelShapExplainer(new KernelShapOptions { Cell = 2, SampleCount = 200, Seed = 9 }).Explain(_linearClassifier, _x, target: 3);
        var sampled = BaselineReports.From(sampledExplanation.Report);
        Assert.That((sampled.FeatureCount, sampled.Enumerated, sampled.Coalitions, sampled.Seed), Is.EqualTo((16, false, 202, (ulong?)9)));
        Assert.That(sampled.WeightedR2, Is.EqualTo(1).Within(1e-9));
        Assert.That(sampled.BaseValue, Is.EqualTo(_linear.Logits(new float[64])[3]).Within(1e-5));
        Assert.That(sampled.InputValue, Is.EqualTo(_linear.Logits(_x)[3]).Within(1e-5));
    }

    [Test]
    public void KernelShapsRSquaredOnLeNetFollowsTheDefinition()
    {
        // A non-additive game: LeNet's logit over 3×3 cells of 10 pixels, all 2⁹ coalitions re-scored here in one batch.
        var explanation = new KernelShapExplainer(new KernelShapOptions { Cell = 10 }).Explain(_lenet, _digit);
        var report = BaselineReports.From(explanation.Report);
        const int f = 9;
        var grid = new GridFeatures(1, 28, 28, 10);
        var images = new float[(1 << f) * 784];
        var on = new bool[f];
        for (int s = 0; s < 1 << f; s++)
        {
            for (int k = 0; k < f; k++) on[k] = (s >> k & 1) == 1;
            grid.Compose(_digit, new float[784], on, images.AsSpan(s * 784, 784));
        }
        var scores = _lenet.Predict(images);
        var phi = explanation.Report.ShapleyValues;
        // Every coalition but ∅ and the full set, weighted by the Shapley kernel π(|S|) = (F − 1)/(C(F, |S|)|S|(F − |S|)).
        var coalitions = Enumerable.Range(1, (1 << f) - 2).ToArray();
        var y = coalitions.Select(s => (double)scores.LogitsOf(s)[explanation.Target]).ToArray();
        var fit = coalitions.Select(s => report.BaseValue + Enumerable.Range(0, f).Where(k => (s >> k & 1) == 1).Sum(k => phi[k])).ToArray();
        var w = coalitions.Select(s =>
        {
            int size = System.Numerics.BitOperations.PopCount((uint)s);
            double binomial = 1;
            for (int i = 1; i <= size; i++) binomial = binomial * (f - size + i) / i;
            return (f - 1) / (binomial * size * (f - size));
        }).ToArray();
        double expected = RSquared(y, fit, w);
        TestContext.Out.WriteLine($"Kernel SHAP on LeNet, 9 cells: weighted R² = {report.WeightedR2:F6} (recomputed {expected:F6})");
        Assert.That(report.WeightedR2, Is.EqualTo(expected).Within(1e-6));
        Assert.That(report.WeightedR2, Is.LessThan(1 - 1e-6), "LeNet is not additive over its cells");
        Assert.That(report.BaseValue, Is.EqualTo((double)scores.LogitsOf(0)[explanation.Target]).Within(1e-5));
        Assert.That(report.InputValue, Is.EqualTo((double)scores.LogitsOf((1 << f) - 1)[explanation.Target]).Within(1e-5));
    }

    [Test]
    public void TheReportsRoundTripThroughJsonWithTheirKind()
    {
        ExplanationReport[] reports =
        [
            new GradCamReport("/relu2/Relu_output_0", 16, 10, 10, 7, 31),
            new OcclusionReport(4, 2, 169, 0f, 170, 3.25),
            new OcclusionReport(4, 2, 169, null, 170, -1.5),
            new LimeReport(FeatureKind.Superpixels, 23, null, 25, 1000, 0.25, 1, 0.5, 0.75, 9),
            new KernelShapReport(16, 7, true, 65536, null, 0.1, 2.5, 1e-15, 0.875),
        ];
        string[] kinds = ["gradcam", "occlusion", "occlusion", "lime", "kernelshap"];
        for (int i = 0; i < reports.Length; i++)
        {
            string json = JsonSerializer.Serialize(reports[i]);
            Assert.That(json, Does.StartWith($"{{\"kind\":\"{kinds[i]}\""), json);
            Assert.That(JsonSerializer.Deserialize<ExplanationReport>(json), Is.EqualTo(reports[i]), json);
        }
    }

    /// <summary>1 − Σ w (y − ŷ)² / Σ w (y − ȳ_w)², in float64.</summary>
    private static double RSquared(double[] y, double[] fit, double[] w)
    {
        double mean = y.Zip(w, (v, weight) => v * weight).Sum() / w.Sum();
        double residual = 0, total = 0;
        for (int i = 0; i < y.Length; i++)
        {
            residual += w[i] * (y[i] - fit[i]) * (y[i] - fit[i]);
            total += w[i] * (y[i] - mean) * (y[i] - mean);
        }
        return 1 - residual / total;
    }
}
