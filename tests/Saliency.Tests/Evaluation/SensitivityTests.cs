using NUnit.Framework;
using Saliency.Evaluation;
using Saliency.Explainers;
using Saliency.Models.Classifiers;
using Saliency.TestSupport;

namespace Saliency.Tests.Evaluation;

/// <summary>
/// Masking curves on a two-class linear model, where the log-odds are affine in the image:
/// <c>log(p₀/p₁) = (w₀ − w₁)ᵀx + (b₀ − b₁)</c>, so every point of a curve has a closed form.
/// </summary>
[TestFixture]
internal sealed class SensitivityTests
{
    private KnownFunctionModel _linear = null!;
    private OnnxClassifier _classifier = null!;
    private float[] _x = [];

    [OneTimeSetUp]
    public void Open()
    {
        _linear = KnownFunctionModel.Create(1, 8, 8, classes: 2, seed: 41);
        _classifier = OnnxClassifier.Create(_linear.Proto);
        _x = EvaluationOracles.Uniform(64, 42);
    }

    [OneTimeTearDown]
    public void Close() => _classifier.Dispose();

    [TestCase(0)]
    [TestCase(1)]
    public void ZeroMaskingLogOddsOfTheGradientMapMatchTheClosedForm(int target)
    {
        var map = new GradientExplainer().Explain(_classifier, _x, target).Map;
        var curves = Sensitivity.Curves(_classifier, _x, map, target, new SensitivityOptions { CellSize = 2 });
        // Cells of 2×2 over 8×8: 16 cells; saliency Σ|w_t| per cell; order by decreasing saliency, ties by index.
        var saliency = new double[16];
        for (int i = 0; i < 64; i++) saliency[(i / 8 / 2) * 4 + (i % 8) / 2] += Math.Abs(_linear.Weight(target, i));
        var order = Enumerable.Range(0, 16).OrderByDescending(f => saliency[f]).ThenBy(f => f).ToArray();
        Assert.That(curves.Order, Is.EqualTo(order));
        Assert.That(curves.CellSaliency, Is.EqualTo(saliency).Within(1e-5));
        var expected = ClosedFormDeletion(target, order, 16);
        Assert.That(curves.Deletion.LogOdds, Is.EqualTo(expected).Within(2e-5));
        Assert.That(curves.Deletion.Probabilities, Is.EqualTo(expected.Select(l => 1 / (1 + Math.Exp(-l))).ToArray()).Within(1e-6));
        Assert.That(curves.Deletion.LogOddsAuc, Is.EqualTo(TrapezoidOverK(expected)).Within(2e-5));
        Assert.That(curves.Deletion.LogOdds[16], Is.EqualTo(_linear.Bias[target] - _linear.Bias[1 - target]).Within(1e-6));
    }

    [Test]
    public void OrderingMatters()
    {
        const int target = 0;
        var gradient = Sensitivity.Curves(_classifier, _x, new GradientExplainer().Explain(_classifier, _x, target).Map, target, new SensitivityOptions { CellSize = 2 });
        var randomMap = new SaliencyMap(EvaluationOracles.Uniform(64, 43), 1, 8, 8);
        var random = Sensitivity.Curves(_classifier, _x, randomMap, target, new SensitivityOptions { CellSize = 2 });
        Assert.That(random.Order, Is.Not.EqualTo(gradient.Order));
        Assert.That(random.Deletion.LogOdds, Is.EqualTo(ClosedFormDeletion(target, random.Order, 16)).Within(2e-5));
        // Same end points (nothing masked, everything masked), different paths in between.
        Assert.That(random.Deletion.LogOdds[0], Is.EqualTo(gradient.Deletion.LogOdds[0]));
        Assert.That(random.Deletion.LogOdds[16], Is.EqualTo(gradient.Deletion.LogOdds[16]));
        double largest = random.Deletion.LogOdds.Zip(gradient.Deletion.LogOdds, (a, b) => Math.Abs(a - b)).Max();
        Assert.That(largest, Is.GreaterThan(0.1));
        Assert.That(random.Deletion.LogOddsAuc, Is.Not.EqualTo(gradient.Deletion.LogOddsAuc).Within(1e-3));
    }

    [Test]
    public void AnExplicitOrderGivesTheSameCurvesAsTheMapThatInducesIt()
    {
        var map = new SaliencyMap(EvaluationOracles.Uniform(64, 44), 1, 8, 8);
        var byMap = Sensitivity.Curves(_classifier, _x, map, 1, new SensitivityOptions { CellSize = 4 });
        var byOrder = Sensitivity.Curves(_classifier, _x, byMap.Order, 1, new SensitivityOptions { CellSize = 4 });
        Assert.That(byOrder.Deletion.LogOdds, Is.EqualTo(byMap.Deletion.LogOdds));
        Assert.That(byOrder.Insertion.Probabilities, Is.EqualTo(byMap.Insertion.Probabilities));
        Assert.Throws<EvaluationInputException>(() => Sensitivity.Curves(_classifier, _x, [0, 1, 2, 2], 1, new SensitivityOptions { CellSize = 4 }));
    }

    [TestCase(MaskFill.Zero)]
    [TestCase(MaskFill.Constant)]
    [TestCase(MaskFill.Blur)]
    public void CurveEndsAreTheScoresOfTheCanvasAndOfTheImage(MaskFill fill)
    {
        var mask = new MaskOptions { Fill = fill, Value = 0.3f, BlurSigma = 1.5 };
        var options = new SensitivityOptions { CellSize = 3, Deletion = mask, Insertion = mask };
        var map = new SaliencyMap(EvaluationOracles.Uniform(64, 45), 1, 8, 8);
        var curves = Sensitivity.Curves(_classifier, _x, map, 0, options);
        Assert.That(curves.CellCount, Is.EqualTo(9));
        var canvas = Sensitivity.Canvas(_x, 1, 8, 8, mask);
        double canvasP = _linear.Probabilities(canvas)[0], imageP = _linear.Probabilities(_x)[0];
        // Deletion at k = K is the fully masked image; insertion starts from it and ends at the image.
        Assert.That(curves.Deletion.Probabilities[9], Is.EqualTo(canvasP).Within(1e-6));
        Assert.That(curves.Insertion.Probabilities[0], Is.EqualTo(canvasP).Within(1e-6));
        Assert.That(curves.Deletion.Probabilities[0], Is.EqualTo(imageP).Within(1e-6));
        Assert.That(curves.Insertion.Probabilities[9], Is.EqualTo(imageP).Within(1e-6));
        // Insertion of the top k cells = deletion of the other F − k, which for a linear model is the reflected curve
        // about the mean of the two end points: L_ins(k) + L_del(k) = L(image) + L(canvas).
        var z = _linear.Logits(_x);
        var zc = _linear.Logits(canvas);
        for (int k = 0; k <= 9; k++)
            Assert.That(curves.Insertion.LogOdds[k] + curves.Deletion.LogOdds[k], Is.EqualTo(z[0] - z[1] + zc[0] - zc[1]).Within(3e-5));
    }

    [Test]
    public void EachCurveIsOneBatchedRun()
    {
        var counting = new CountingClassifier(_classifier);
        var map = new SaliencyMap(EvaluationOracles.Uniform(64, 46), 1, 8, 8);
        var curves = Sensitivity.Curves(counting, _x, map, 0, new SensitivityOptions { CellSize = 2 });
        Assert.That(counting.PredictBatchSizes, Is.EqualTo(new[] { 17, 17 }));
        Assert.That(curves.ForwardRuns, Is.EqualTo(2));
        var split = new CountingClassifier(_classifier);
        var splitCurves = Sensitivity.Curves(split, _x, map, 0, new SensitivityOptions { CellSize = 2, MaxCells = 10, BatchSize = 4 });
        Assert.That(split.PredictBatchSizes, Is.EqualTo(new[] { 4, 4, 3, 4, 4, 3 }));
        Assert.That(splitCurves.Deletion.LogOdds, Is.EqualTo(curves.Deletion.LogOdds.Take(11).ToArray()).Within(1e-9));
    }

    [Test]
    public void TheAreaOfAConstantCurveIsTheConstantAndOfARampHalfItsEnd()
    {
        Assert.That(Sensitivity.Auc([2.5, 2.5, 2.5, 2.5, 2.5]), Is.EqualTo(2.5).Within(1e-15));
        Assert.That(Sensitivity.Auc([0, 1, 2, 3, 4, 5]), Is.EqualTo(2.5).Within(1e-15));
        Assert.That(Sensitivity.Auc([1, 0]), Is.EqualTo(0.5));
        Assert.Throws<EvaluationInputException>(() => Sensitivity.Auc([1]));
        Assert.Throws<EvaluationInputException>(() => Sensitivity.Auc([1, double.NaN]));
    }

    [Test]
    public void LogOddsAreStableWhereTheProbabilityRoundsToOne()
    {
        Assert.That(Sensitivity.LogOdds([50f, 0f], 0), Is.EqualTo(50).Within(1e-12));
        Assert.That(Sensitivity.LogOdds([1f, 2f, 3f], 2), Is.EqualTo(3 - Math.Log(Math.Exp(1) + Math.Exp(2))).Within(1e-12));
        Assert.Throws<EvaluationInputException>(() => Sensitivity.LogOdds([1f], 0));
    }

    [Test]
    public void TheBlurIsANormalisedSeparableGaussian()
    {
        var constant = Enumerable.Repeat(0.7f, 3 * 9 * 11).ToArray();
        Assert.That(Sensitivity.GaussianBlur(constant, 3, 9, 11, 1.3), Is.All.EqualTo(0.7f).Within(1e-6));
        // An impulse far from the border: the outer product of the normalised 1-D weights e^{−i²/2σ²}, |i| ≤ ⌈3σ⌉ = 3.
        const double sigma = 0.9;
        var impulse = new float[15 * 15];
        impulse[7 * 15 + 7] = 1;
        var blurred = Sensitivity.GaussianBlur(impulse, 1, 15, 15, sigma);
        var g = Enumerable.Range(-3, 7).Select(i => Math.Exp(-i * i / (2 * sigma * sigma))).ToArray();
        double norm = g.Sum();
        for (int y = 0; y < 15; y++)
            for (int x = 0; x < 15; x++)
            {
                int dy = y - 7, dx = x - 7;
                double expected = Math.Abs(dy) <= 3 && Math.Abs(dx) <= 3 ? g[dy + 3] * g[dx + 3] / (norm * norm) : 0;
                Assert.That(blurred[y * 15 + x], Is.EqualTo(expected).Within(1e-7));
            }
    }

    [Test]
    public void AMapOnACoarserGridIsReadByNearestNeighbour()
    {
        var map = new SaliencyMap([1f, -4f, 2f, 0.5f], 1, 2, 2);
        var cells = new GridFeatures(1, 8, 8, 4);
        Assert.That(Sensitivity.CellSaliency(map, cells), Is.EqualTo(new[] { 16.0, 64, 32, 8 }));
    }

    [Test]
    public void EvaluateAveragesCurvesOverImages()
    {
        var images = new[] { _x, EvaluationOracles.Uniform(64, 47), EvaluationOracles.Uniform(64, 48) };
        var options = new SensitivityOptions { CellSize = 4 };
        var results = Sensitivity.Evaluate(_classifier, [new GradientExplainer(), new GradientTimesInputExplainer()], images, options: options);
        Assert.That(results.Select(r => r.Method), Is.EqualTo(new[] { "gradient", "gradient-x-input" }));
        foreach (var r in results)
        {
            Assert.That(r.PerImage, Has.Count.EqualTo(3));
            for (int i = 0; i < 3; i++)
            {
                var z = _linear.Logits(images[i]);
                Assert.That(r.PerImage[i].Target, Is.EqualTo(z[0] >= z[1] ? 0 : 1));
            }
            Assert.That(r.MeanDeletionLogOddsAuc, Is.EqualTo(r.PerImage.Average(c => c.Deletion.LogOddsAuc)).Within(1e-12));
            Assert.That(r.MeanInsertionAuc, Is.EqualTo(r.PerImage.Average(c => c.Insertion.ProbabilityAuc)).Within(1e-12));
            for (int k = 0; k <= 4; k++)
                Assert.That(r.MeanDeletionLogOdds[k], Is.EqualTo(r.PerImage.Average(c => c.Deletion.LogOdds[k])).Within(1e-12));
        }
    }

    [Test]
    public void BadOptionsAreRefused()
    {
        var map = new SaliencyMap(new float[64], 1, 8, 8);
        Assert.Throws<EvaluationInputException>(() => Sensitivity.Curves(_classifier, _x, map, 0, new SensitivityOptions { CellSize = 0 }));
        Assert.Throws<EvaluationInputException>(() => Sensitivity.Curves(_classifier, _x, map, 0, new SensitivityOptions { MaxCells = 5 }));
        Assert.Throws<EvaluationInputException>(() => Sensitivity.Curves(_classifier, _x, map, 0, new SensitivityOptions { BatchSize = 0 }));
        Assert.Throws<EvaluationInputException>(() =>
            Sensitivity.Curves(_classifier, _x, map, 0, new SensitivityOptions { Deletion = new MaskOptions { Fill = MaskFill.Blur, BlurSigma = 0 } }));
        var counting = new CountingClassifier(_classifier);
        Assert.Throws<EvaluationInputException>(() =>
            Sensitivity.Curves(counting, _x, map, 0, new SensitivityOptions { Insertion = new MaskOptions { Fill = MaskFill.Blur, BlurSigma = double.NaN } }));
        Assert.That(counting.Calls, Is.Empty, "refused before any model run");
        Assert.Throws<ExplainerInputException>(() => Sensitivity.Curves(_classifier, new float[63], map, 0));
        Assert.Throws<ExplainerInputException>(() => Sensitivity.Curves(_classifier, _x, map, 2));
    }

    /// <summary>log-odds after zeroing the top-k cells: Σ over kept pixels of (w_t − w_o)ᵢxᵢ + b_t − b_o, for k = 0…K.</summary>
    private double[] ClosedFormDeletion(int target, int[] order, int steps)
    {
        int other = 1 - target;
        var result = new double[steps + 1];
        for (int k = 0; k <= steps; k++)
        {
            var masked = order.Take(k).ToHashSet();
            double l = _linear.Bias[target] - (double)_linear.Bias[other];
            for (int i = 0; i < 64; i++)
                if (!masked.Contains((i / 8 / 2) * 4 + (i % 8) / 2))
                    l += (_linear.Weight(target, i) - _linear.Weight(other, i)) * _x[i];
            result[k] = l;
        }
        return result;
    }

    private static double TrapezoidOverK(double[] f)
    {
        double area = 0;
        for (int k = 1; k < f.Length; k++) area += (f[k - 1] + f[k]) / 2;
        return area / (f.Length - 1);
    }
}
