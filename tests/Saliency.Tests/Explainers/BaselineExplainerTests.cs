using NUnit.Framework;
using Saliency.Explainers;
using Saliency.Kernels.Ops;
using Saliency.Models.Classifiers;
using Saliency.Solvers.Caso;
using Saliency.TestSupport;

namespace Saliency.Tests.Explainers;

/// <summary>
/// The baseline explainers against closed forms on models with known functions (linear, logistic, per-pixel tanh; built
/// with the graph builder, run through ONNX Runtime) and against definitions recomputed here on the bundled LeNet.
/// float32 logits carry ~1e-7 relative rounding, which bounds every tolerance below.
/// </summary>
[TestFixture]
internal sealed class BaselineExplainerTests
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
        var digits = BundledLeNet.Digits();
        // The least confident of the first 50 digits (as ExplainerTests): gradients far from zero.
        int index = Enumerable.Range(0, 50).MinBy(i => _lenet.Predict(digits.ImageFloats(i)).Probabilities.Max());
        _digit = digits.ImageFloats(index);
        _linear = KnownFunctionModel.Create(1, 8, 8, classes: 4, seed: 21);
        _linearClassifier = OnnxClassifier.Create(_linear.Proto);
        _x = RandomImage(64, seed: 22);
    }

    [OneTimeTearDown]
    public void Close()
    {
        _lenet.Dispose();
        _linearClassifier.Dispose();
    }

    // ---- gradient × input ----

    [Test]
    public void GradientTimesInputIsTheGradientTimesTheImage()
    {
        var explanation = new GradientTimesInputExplainer().Explain(_lenet, _digit);
        var gradient = new GradientExplainer().Explain(_lenet, _digit).Map.Values;
        Assert.That(explanation.Map.Values, Is.EqualTo(gradient.Select((g, i) => g * _digit[i]).ToArray()));
        Assert.That(explanation.Map.Values.Max(Math.Abs), Is.GreaterThan(0));
        Assert.That(explanation.Report.Runs, Is.EqualTo(new ModelRuns(1, 1, 2)));
    }

    [Test]
    public void GradientTimesInputOfALinearModelIsWTimesX()
    {
        var explanation = new GradientTimesInputExplainer().Explain(_linearClassifier, _x, target: 1);
        AssertClose(explanation.Map.Values, Enumerable.Range(0, 64).Select(i => _linear.Weight(1, i) * _x[i]).ToArray(), 1e-6);
    }

    // ---- SmoothGrad ----

    [TestCase(0.15)]
    [TestCase(1.0)]
    public void SmoothGradOfALinearModelIsTheWeightsForAnySigma(double fraction)
    {
        var explanation = new SmoothGradExplainer(new SmoothGradOptions { SampleCount = 10, NoiseFraction = fraction, Seed = 3 })
            .Explain(_linearClassifier, _x, target: 2);
        Assert.That(explanation.Report.Sigma, Is.EqualTo(fraction * (_x.Max() - _x.Min())).Within(1e-12));
        AssertClose(explanation.Map.Values, Enumerable.Range(0, 64).Select(i => _linear.Weight(2, i)).ToArray(), 1e-6);
    }

    [Test]
    public void SmoothGradAveragesGradientsAtTheSeededNoiseStream()
    {
        const int n = 6;
        const ulong seed = 41;
        var counting = new CountingClassifier(_lenet);
        var explanation = new SmoothGradExplainer(new SmoothGradOptions { SampleCount = n, Seed = seed }).Explain(counting, _digit);
        Assert.That(counting.Count("Predict"), Is.EqualTo(1));
        Assert.That(counting.Count("VectorJacobianProduct"), Is.EqualTo(n), "one Jacobian run per copy (the exported model is batch 1)");
        Assert.That(explanation.Report.Runs, Is.EqualTo(new ModelRuns(1, n, 1 + n)));

        // Oracle: copy j = x + σ ξⱼ with ξⱼ the window [j·d, (j+1)·d) of the Philox/Box–Muller stream, σ = 0.15 (max − min).
        double sigma = 0.15 * (_digit.Max() - _digit.Min());
        int d = _digit.Length;
        var mean = new double[d];
        var noise = new double[d];
        for (int j = 0; j < n; j++)
        {
            GaussianRng.Fill<double>(noise, seed, (ulong)(j * d));
            var copy = _digit.Select((v, i) => (float)(v + (float)(sigma * noise[i]))).ToArray();
            var g = new GradientExplainer().Explain(_lenet, copy, explanation.Target).Map.Values;
            for (int i = 0; i < d; i++) mean[i] += g[i] / (double)n;
        }
        AssertClose(explanation.Map.Values, mean, 1e-5);

        var again = new SmoothGradExplainer(new SmoothGradOptions { SampleCount = n, Seed = seed }).Explain(_lenet, _digit);
        Assert.That(again.Map.Values, Is.EqualTo(explanation.Map.Values), "same seed, same map");
        var other = new SmoothGradExplainer(new SmoothGradOptions { SampleCount = n, Seed = seed + 1 }).Explain(_lenet, _digit);
        Assert.That(other.Map.Values, Is.Not.EqualTo(explanation.Map.Values), "another seed, another noise stream");
    }

    // ---- Integrated Gradients ----

    [Test]
    public void IntegratedGradientsOnLeNetAreCompleteToOnePercentAt64Steps()
    {
        var counting = new CountingClassifier(_lenet);
        var explanation = new IntegratedGradientsExplainer(new IntegratedGradientsOptions { Steps = 64 }).Explain(counting, _digit);
        var report = explanation.Report;
        Assert.That(counting.Count("Predict"), Is.EqualTo(1));
        Assert.That(counting.Count("VectorJacobianProduct"), Is.EqualTo(64));

        // Recomputed independently: F(x) − F(0) from a forward run, Σ attributions from the map.
        var scores = _lenet.Predict([.. _digit, .. new float[_digit.Length]]);
        double difference = scores.LogitsOf(0)[explanation.Target] - scores.LogitsOf(1)[explanation.Target];
        double sum = explanation.Map.Values.Sum(v => (double)v);
        Assert.That(report.InputScore - report.BaselineScore, Is.EqualTo(difference).Within(1e-6 * Math.Abs(difference)));
        Assert.That(sum, Is.EqualTo(report.AttributionSum).Within(1e-5 * Math.Abs(difference)));
        double gap = Math.Abs(sum - difference) / Math.Abs(difference);
        Assert.That(gap, Is.LessThan(0.01), $"completeness gap {gap}");
        Assert.That(report.CompletenessGap, Is.EqualTo(gap).Within(1e-4));
        TestContext.Out.WriteLine($"IG on LeNet, m = 64: completeness gap {report.CompletenessGap:E3}");
    }

    [Test]
    public void IntegratedGradientsOfALinearModelAreWTimesTheDisplacement()
    {
        var baseline = RandomImage(64, seed: 23);
        var explanation = new IntegratedGradientsExplainer(new IntegratedGradientsOptions { Steps = 5, Baseline = baseline })
            .Explain(_linearClassifier, _x, target: 3);
        AssertClose(explanation.Map.Values, Enumerable.Range(0, 64).Select(i => _linear.Weight(3, i) * ((double)_x[i] - baseline[i])).ToArray(), 1e-6);
        Assert.That(explanation.Report.CompletenessGap, Is.LessThan(1e-5));
    }

    [Test]
    public void IntegratedGradientsOfALogisticProbabilityMatchTheClosedForm()
    {
        // Two classes: p₁ = σ(z), z = (w₁ − w₀)ᵀx + b₁ − b₀, affine along the path, so
        // IGᵢ = (xᵢ − x′ᵢ)(w₁ − w₀)ᵢ (σ(z(x)) − σ(z(x′))) / (z(x) − z(x′)). The midpoint rule errs by O(1/m²).
        var logistic = KnownFunctionModel.Create(1, 4, 4, classes: 2, seed: 24);
        using var classifier = OnnxClassifier.Create(logistic.Proto);
        var x = RandomImage(16, seed: 25);
        var explanation = new IntegratedGradientsExplainer(new IntegratedGradientsOptions { Steps = 64, Score = TargetScore.Probability })
            .Explain(classifier, x, target: 1);
        double zx = logistic.Logits(x)[1] - logistic.Logits(x)[0], z0 = logistic.Bias[1] - logistic.Bias[0];
        double ratio = (Sigmoid(zx) - Sigmoid(z0)) / (zx - z0);
        var expected = Enumerable.Range(0, 16).Select(i => x[i] * (logistic.Weight(1, i) - logistic.Weight(0, i)) * ratio).ToArray();
        AssertClose(explanation.Map.Values, expected, 1e-3);
        Assert.That(explanation.Report.InputScore, Is.EqualTo(Sigmoid(zx)).Within(1e-6));
        Assert.That(explanation.Report.CompletenessGap, Is.LessThan(1e-3));
    }

    // ---- Occlusion ----

    [Test]
    public void OcclusionWithAOnePixelWindowOnALinearModelIsWTimesTheDisplacement()
    {
        var counting = new CountingClassifier(_linearClassifier);
        var explanation = new OcclusionExplainer(new OcclusionOptions { Window = 1, Stride = 1, BaselineValue = 0.3f, BatchSize = 16 })
            .Explain(counting, _x, target: 0);
        AssertClose(explanation.Map.Values, Enumerable.Range(0, 64).Select(i => _linear.Weight(0, i) * (_x[i] - 0.3)).ToArray(), 1e-5);
        // 64 windows and the clean image, 16 per run.
        Assert.That(counting.PredictBatchSizes, Is.EqualTo(new[] { 16, 16, 16, 16, 1 }));
        Assert.That(explanation.Report.Runs, Is.EqualTo(new ModelRuns(5, 0, 65)));
        Assert.That(explanation.Report.Windows, Is.EqualTo(64));
    }

    [TestCase(2, 2, 1)]
    [TestCase(3, 2, 1)]
    [TestCase(3, 1, 2)]
    public void OcclusionAveragesTheSpreadDropsOverOverlappingWindows(int window, int stride, int channels)
    {
        var model = KnownFunctionModel.Create(channels, 8, 8, classes: 3, seed: 26);
        using var classifier = OnnxClassifier.Create(model.Proto);
        int d = channels * 64;
        var x = RandomImage(d, seed: 27);
        var explanation = new OcclusionExplainer(new OcclusionOptions { Window = window, Stride = stride }).Explain(classifier, x, target: 2);

        // Oracle from the definition: the drop of window S is Σ_{i∈S} wᵢxᵢ (baseline 0); each covered value gets
        // drop/|S|, averaged over the windows that cover its pixel.
        var origins = new List<int>();
        for (int p = 0; p < 8 - window; p += stride) origins.Add(p);
        origins.Add(8 - window);
        var sum = new double[64];
        var cover = new int[64];
        foreach (int y0 in origins)
            foreach (int x0 in origins)
            {
                double drop = 0;
                for (int ch = 0; ch < channels; ch++)
                    for (int y = y0; y < y0 + window; y++)
                        for (int xx = x0; xx < x0 + window; xx++)
                            drop += model.Weight(2, ch * 64 + y * 8 + xx) * x[ch * 64 + y * 8 + xx];
                for (int y = y0; y < y0 + window; y++)
                    for (int xx = x0; xx < x0 + window; xx++)
                    {
                        sum[y * 8 + xx] += drop / (channels * window * window);
                        cover[y * 8 + xx]++;
                    }
            }
        var expected = Enumerable.Range(0, d).Select(i => sum[i % 64] / cover[i % 64]).ToArray();
        AssertClose(explanation.Map.Values, expected, 1e-5);
        Assert.That(explanation.Report.Windows, Is.EqualTo(origins.Count * origins.Count));
    }

    // ---- LIME ----

    [Test]
    public void LimeOnALinearModelRecoversThePerCellContributions()
    {
        var counting = new CountingClassifier(_linearClassifier);
        var explanation = new LimeExplainer(new LimeOptions { Cell = 2, SampleCount = 300, Ridge = 1e-9, BaselineValue = 0.2f, Seed = 5 })
            .Explain(counting, _x, target: 1);
        var expected = CellSums(_linear, 1, _x, 0.2f, cell: 2);
        AssertClose(explanation.Report.Coefficients, expected, 1e-5);
        Assert.That(explanation.Report.WeightedR2, Is.EqualTo(1).Within(1e-9));
        Assert.That(explanation.Report.Intercept, Is.EqualTo(_linear.Logits(Enumerable.Repeat(0.2f, 64).ToArray())[1]).Within(1e-4));
        // The map spreads each coefficient over its cell: cell sums of the map give the coefficients back.
        AssertClose(CellSumsOfMap(explanation.Map.Values, 8, 8, 2), expected, 1e-5);
        Assert.That(counting.PredictBatchSizes, Is.EqualTo(new[] { 64, 64, 64, 64, 44 }), "300 samples, 64 per run, the image first");
    }

    [Test]
    public void LimeRidgeShrinksTowardsZeroAndSeedsReproduce()
    {
        var options = new LimeOptions { Cell = 4, SampleCount = 64, Ridge = 1e6, Seed = 8 };
        var strong = new LimeExplainer(options).Explain(_linearClassifier, _x, target: 0);
        Assert.That(strong.Report.Coefficients.Max(Math.Abs), Is.LessThan(1e-3 * CellSums(_linear, 0, _x, 0f, 4).Max(Math.Abs)));
        var a = new LimeExplainer(options with { Ridge = 1 }).Explain(_lenet, _digit);
        var b = new LimeExplainer(options with { Ridge = 1 }).Explain(_lenet, _digit);
        Assert.That(a.Report.Coefficients, Is.EqualTo(b.Report.Coefficients));
    }

    // ---- KernelSHAP ----

    [Test]
    public void KernelShapOnAnAdditiveModelRecoversEachCellsOwnContribution()
    {
        // logit = Σᵢ wᵢ tanh(xᵢ) + b is additive over pixels, so the Shapley value of a cell is its own contribution
        // Σ_{i∈c} wᵢ (tanh xᵢ − tanh x′ᵢ). 8×8 in 3×3 cells: 9 features, all 512 coalitions.
        var additive = KnownFunctionModel.Create(1, 8, 8, classes: 3, seed: 28, tanh: true);
        using var classifier = OnnxClassifier.Create(additive.Proto);
        var x = RandomImage(64, seed: 29).Select(v => 2 * v - 1).ToArray();
        var explanation = new KernelShapExplainer(new KernelShapOptions { Cell = 3, BaselineValue = 0.1f }).Explain(classifier, x, target: 1);
        var report = explanation.Report;
        Assert.That((report.Enumerated, report.Features, report.Coalitions), Is.EqualTo((true, 9, 512)));
        var expected = new double[9];
        for (int i = 0; i < 64; i++)
            expected[(i / 8 / 3) * 3 + i % 8 / 3] += additive.Weight(1, i) * (Math.Tanh(x[i]) - Math.Tanh(0.1f));
        double error = report.ShapleyValues.Zip(expected, (a, b) => Math.Abs(a - b)).Max();
        TestContext.Out.WriteLine($"KernelSHAP, additive tanh model: max |φ − exact| = {error:E2}");
        Assert.That(error, Is.LessThan(1e-6));
        Assert.That(report.EfficiencyGap, Is.LessThan(1e-12));
        Assert.That(report.ShapleyValues.Sum(), Is.EqualTo(report.InputValue - report.BaseValue).Within(1e-12));
    }

    [Test]
    public void KernelShapWithAllCoalitionsIsTheExactShapleyValueOfLeNet()
    {
        // A non-additive game: LeNet's target logit over 3×3 cells of 10 pixels. Oracle: the Shapley formula
        // φᵢ = Σ_{S∌i} |S|!(F−|S|−1)!/F! (v(S∪i) − v(S)) over all 2⁹ coalitions, evaluated here in one batch.
        var explanation = new KernelShapExplainer(new KernelShapOptions { Cell = 10 }).Explain(_lenet, _digit);
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
        var v = Enumerable.Range(0, 1 << f).Select(s => (double)scores.LogitsOf(s)[explanation.Target]).ToArray();
        var factorial = new double[f + 1];
        factorial[0] = 1;
        for (int k = 1; k <= f; k++) factorial[k] = factorial[k - 1] * k;
        var exact = new double[f];
        for (int i = 0; i < f; i++)
            for (int s = 0; s < 1 << f; s++)
                if ((s >> i & 1) == 0)
                {
                    int size = System.Numerics.BitOperations.PopCount((uint)s);
                    exact[i] += factorial[size] * factorial[f - size - 1] / factorial[f] * (v[s | 1 << i] - v[s]);
                }
        AssertClose(explanation.Report.ShapleyValues, exact, 1e-5);
        Assert.That(explanation.Report.EfficiencyGap, Is.LessThan(1e-9));
    }

    [Test]
    public void SampledKernelShapOnALinearModelIsExactAndEfficient()
    {
        // 16 features (> 14): sampled coalitions in complement pairs. The game is exactly linear in z, so any full-rank
        // sample recovers the cell contributions; efficiency is imposed.
        var counting = new CountingClassifier(_linearClassifier);
        var explanation = new KernelShapExplainer(new KernelShapOptions { Cell = 2, SampleCount = 200, Seed = 9, BatchSize = 128 })
            .Explain(counting, _x, target: 3);
        var report = explanation.Report;
        Assert.That((report.Enumerated, report.Features, report.Coalitions), Is.EqualTo((false, 16, 202)));
        AssertClose(report.ShapleyValues, CellSums(_linear, 3, _x, 0f, 2), 1e-5);
        Assert.That(report.EfficiencyGap, Is.LessThan(1e-12));
        Assert.That(counting.PredictBatchSizes, Is.EqualTo(new[] { 128, 74 }));
    }

    [Test]
    public void ShapleyKernelWeightsMatchTheirDefinition()
    {
        // π(s) = (F − 1)/(C(F, s) s (F − s)); e.g. F = 4: π(1) = 3/(4·1·3) = 1/4, π(2) = 3/(6·2·2) = 1/8.
        Assert.That(KernelShapExplainer.ShapleyKernel(4, 1), Is.EqualTo(0.25).Within(1e-15));
        Assert.That(KernelShapExplainer.ShapleyKernel(4, 2), Is.EqualTo(0.125).Within(1e-15));
        Assert.That(KernelShapExplainer.ShapleyKernel(4, 3), Is.EqualTo(0.25).Within(1e-15));
    }

    // ---- Smooth CASO / CAFO ----

    [Test]
    public void SmoothCasoWithoutNoiseIsCaso()
    {
        var smooth = new SmoothCasoExplainer(new SmoothCasoExplainerOptions
        {
            Smoothing = new SmoothingOptions { Copies = 3, NoiseFraction = 0 }, Lambda1 = 0, Solver = new CasoOptions { Tolerance = 1e-10 },
        }).Explain(_lenet, _digit);
        var caso = new CasoExplainer(new CasoExplainerOptions { Lambda1 = 0, Solver = new CasoOptions { Tolerance = 1e-10 } }).Explain(_lenet, _digit);
        Assert.That(smooth.Method, Is.EqualTo("smooth-caso"));
        AssertClose(smooth.Map.Values, caso.Map.Values.Select(v => (double)v).ToArray(), 1e-4);
    }

    [Test]
    public void SmoothCafoAtZeroLambda1IsTheAveragedLossGradientOverTwoLambda2()
    {
        const int n = 4;
        const ulong seed = 12;
        var counting = new CountingClassifier(_lenet);
        IExplainer explainer = new SmoothCasoExplainer(new SmoothCasoExplainerOptions
        {
            Smoothing = new SmoothingOptions { Copies = n }, Seed = seed, Lambda1 = 0, Solver = new CasoOptions { Kind = CasoObjectiveKind.Cafo },
        });
        var explanation = (CasoExplanation)explainer.Explain(counting, _digit);
        Assert.That(explanation.Method, Is.EqualTo("smooth-cafo"));
        Assert.That((counting.Count("Predict"), counting.Count("Jacobian")), Is.EqualTo((1, n)));

        // ḡ = (1/n) Σ W(x + σξⱼ)(pⱼ − y) from the classifier's loss gradient at the same noisy copies.
        double sigma = 0.15 * (_digit.Max() - _digit.Min());
        var noise = new double[784];
        var g = new double[784];
        for (int j = 0; j < n; j++)
        {
            GaussianRng.Fill<double>(noise, seed, (ulong)(j * 784));
            var copy = _digit.Select((v, i) => v + (float)(sigma * noise[i])).ToArray();
            var gj = _lenet.LossGradient(copy, explanation.Target).Gradient;
            for (int i = 0; i < 784; i++) g[i] += gj[i] / (double)n;
        }
        double lambda2 = explanation.Result.Lambda2;
        AssertClose(explanation.Map.Values, g.Select(v => v / (2 * lambda2)).ToArray(), 1e-4);
    }

    // ---- bad input ----

    [Test]
    public void BadSettingsAreTypedExceptions()
    {
        IExplainer[] bad =
        [
            new SmoothGradExplainer(new SmoothGradOptions { SampleCount = 0 }),
            new SmoothGradExplainer(new SmoothGradOptions { NoiseFraction = double.NaN }),
            new IntegratedGradientsExplainer(new IntegratedGradientsOptions { Steps = 0 }),
            new IntegratedGradientsExplainer(new IntegratedGradientsOptions { Baseline = new float[3] }),
            new OcclusionExplainer(new OcclusionOptions { Window = 0 }),
            new OcclusionExplainer(new OcclusionOptions { Window = 2, Stride = 3 }),
            new OcclusionExplainer(new OcclusionOptions { Window = 29 }),
            new OcclusionExplainer(new OcclusionOptions { BatchSize = 0 }),
            new LimeExplainer(new LimeOptions { Cell = 0 }),
            new LimeExplainer(new LimeOptions { SampleCount = 1 }),
            new LimeExplainer(new LimeOptions { KernelWidth = 0 }),
            new LimeExplainer(new LimeOptions { Ridge = -1 }),
            new KernelShapExplainer(new KernelShapOptions { MaxEnumeratedFeatures = 30 }),
            new KernelShapExplainer(new KernelShapOptions { BaselineValue = float.NaN }),
            new SmoothCasoExplainer(new SmoothCasoExplainerOptions { Smoothing = new SmoothingOptions { Copies = 0 } }),
        ];
        foreach (var explainer in bad)
            Assert.Throws<ExplainerInputException>(() => explainer.Explain(_lenet, _digit), explainer.Name);
        Assert.Throws<ExplainerInputException>(() => new OcclusionExplainer().Explain(_lenet, _digit, target: 10));
        Assert.Throws<ExplainerInputException>(() => new KernelShapExplainer().Explain(_lenet, new float[5]));
    }

    [Test]
    public void NaNLogitsAreATypedErrorNotANaNMap()
    {
        using var broken = OnnxClassifier.Create(BundledLeNet.WithLastBias(2, float.NaN).Proto);
        IExplainer[] explainers =
        [
            new GradientTimesInputExplainer(), new SmoothGradExplainer(new SmoothGradOptions { SampleCount = 2 }),
            new IntegratedGradientsExplainer(new IntegratedGradientsOptions { Steps = 2 }), new OcclusionExplainer(new OcclusionOptions { Window = 14, Stride = 14 }),
            new LimeExplainer(new LimeOptions { Cell = 14, SampleCount = 8 }), new KernelShapExplainer(new KernelShapOptions { Cell = 14 }),
            new SmoothCasoExplainer(new SmoothCasoExplainerOptions { Smoothing = new SmoothingOptions { Copies = 2 }, Lambda1 = 0 }),
        ];
        foreach (var explainer in explainers)
            Assert.Throws<ClassifierOutputException>(() => explainer.Explain(broken, _digit), explainer.Name);
    }

    // ---- helpers ----

    private static float[] RandomImage(int d, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, d).Select(_ => (float)rng.NextDouble()).ToArray();
    }

    private static double Sigmoid(double z) => 1 / (1 + Math.Exp(-z));

    /// <summary>Σ_{i∈cell} W[t, i](xᵢ − b) per cell of a 1×8×8 linear model, cells row-major.</summary>
    private static double[] CellSums(KnownFunctionModel model, int target, float[] x, float baseline, int cell)
    {
        int cols = (8 + cell - 1) / cell;
        var sums = new double[cols * cols];
        for (int i = 0; i < 64; i++)
            sums[(i / 8 / cell) * cols + i % 8 / cell] += model.Weight(target, i) * ((double)x[i] - baseline);
        return sums;
    }

    private static double[] CellSumsOfMap(float[] map, int height, int width, int cell)
    {
        int cols = (width + cell - 1) / cell, rows = (height + cell - 1) / cell;
        var sums = new double[rows * cols];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++) sums[(y / cell) * cols + x / cell] += map[y * width + x];
        return sums;
    }

    /// <summary>Elementwise agreement within <paramref name="relative"/> × the largest |expected| value.</summary>
    private static void AssertClose(IReadOnlyList<float> actual, double[] expected, double relative) =>
        AssertClose(actual.Select(v => (double)v).ToArray(), expected, relative);

    private static void AssertClose(double[] actual, double[] expected, double relative)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length));
        double scale = expected.Max(Math.Abs);
        Assert.That(scale, Is.GreaterThan(0), "a non-trivial oracle");
        for (int i = 0; i < expected.Length; i++)
            Assert.That(actual[i], Is.EqualTo(expected[i]).Within(relative * scale), $"entry {i}");
    }
}
