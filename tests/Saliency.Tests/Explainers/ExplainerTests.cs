using MathNet.Numerics.LinearAlgebra;
using NUnit.Framework;
using Saliency.Explainers;
using Saliency.Linalg.Covariance;
using Saliency.Linalg.Grid;
using Saliency.Models.Classifiers;
using Saliency.Models.Data;
using Saliency.Models.Onnx;
using Saliency.Models.Onnx.Proto;
using Saliency.Solvers.Caso;
using Saliency.Solvers.Leg;
using Saliency.Solvers.Lp;
using Saliency.TestSupport;

namespace Saliency.Tests.Explainers;

/// <summary>The explainers end to end on real ONNX models, against closed forms and finite differences.</summary>
[TestFixture]
public class ExplainerTests
{
    private OnnxClassifier _lenet = null!;
    private float[] _digit = [];

    [OneTimeSetUp]
    public void OpenLeNet()
    {
        _lenet = OnnxClassifier.Create(RepoFiles.LeNetModel);
        var digits = BundledLeNet.Digits();
        // The least confident of the first 50 digits: a loss gradient far from zero makes the comparisons meaningful.
        int index = Enumerable.Range(0, 50).MinBy(i => _lenet.Predict(digits.ImageFloats(i)).Probabilities.Max());
        _digit = digits.ImageFloats(index);
    }

    [OneTimeTearDown]
    public void CloseLeNet() => _lenet.Dispose();

    [Test]
    public void CafoWithZeroLambda1IsTheLossGradientOverTwoLambda2()
    {
        var explanation = new CasoExplainer(new CasoExplainerOptions { Solver = new CasoOptions { Kind = CasoObjectiveKind.Cafo }, Lambda1 = 0 }).Explain(_lenet, _digit);
        var g = _lenet.LossGradient(_digit).Gradient;
        double lambda2 = explanation.Result.Lambda2;
        // λ2 rule: L/2 + 2 with L = λmax(W A Wᵀ), computed here from the c×c matrix (WᵀW)A, which has H's nonzero eigenvalues.
        Assert.That(lambda2, Is.EqualTo(LambdaMax(_lenet, _digit) / 2 + 2).Within(1e-6 * lambda2));
        Assert.That(explanation.Result.Converged, Is.True);
        Assert.That(explanation.Map.Values, Has.Length.EqualTo(28 * 28));
        double scale = g.Max(v => Math.Abs(v)) / (2 * lambda2);
        Assert.That(scale, Is.GreaterThan(1e-6), "the chosen digit has a non-negligible loss gradient");
        for (int i = 0; i < g.Length; i++)
            Assert.That(explanation.Map.Values[i], Is.EqualTo(g[i] / (2 * lambda2)).Within(1e-4 * scale), $"pixel {i}");
        Assert.That(explanation.Target, Is.EqualTo(explanation.PredictedClass));
    }

    [Test]
    public void CasoWithZeroLambda1SolvesTheShiftedNewtonSystem()
    {
        var explanation = new CasoExplainer(new CasoExplainerOptions { Lambda1 = 0, Solver = new CasoOptions { Tolerance = 1e-10 } })
            .Explain(_lenet, _digit);
        // Oracle: Δ = (2λ2 I − H)⁻¹ g with H = W A Wᵀ formed densely in float64 (d = 784).
        var (w, p) = DenseJacobian(_lenet, _digit);
        int target = explanation.Target;
        var a = Matrix<double>.Build.DenseOfDiagonalArray(p) - Matrix<double>.Build.Dense(p.Length, 1, p) * Matrix<double>.Build.Dense(1, p.Length, p);
        var r = Vector<double>.Build.Dense(p.Length, j => p[j] - (j == target ? 1 : 0));
        var g = w * r;
        var h = w * a * w.Transpose();
        double lambda2 = explanation.Result.Lambda2;
        var delta = (2 * lambda2 * Matrix<double>.Build.DenseIdentity(g.Count) - h).Solve(g);
        double scale = delta.AbsoluteMaximum();
        for (int i = 0; i < g.Count; i++)
            Assert.That(explanation.Map.Values[i], Is.EqualTo(delta[i]).Within(1e-4 * scale), $"pixel {i}");
    }

    [Test]
    public void CasoSweepGivesASparseMapWithinTheParametersRange()
    {
        var explanation = new CasoExplainer().Explain(_lenet, _digit);
        // LeNet (Conv, ReLU, MaxPool, Gemm) is piecewise linear: W A Wᵀ is its exact loss Hessian.
        Assert.That(explanation.Details.Single(d => d.Key == "Hessian").Value, Is.EqualTo("exact Hessian (piecewise-linear network)"));
        Assert.That(explanation.Sweep, Is.Not.Null);
        Assert.That(explanation.Sweep!.FoundInRange, Is.True, explanation.Sweep.Message);
        Assert.That(explanation.Map.SparsityRatio, Is.GreaterThan(0.75).And.LessThan(1.0));
        Assert.That(explanation.Map.SparsityRatio, Is.EqualTo(explanation.Result.SparsityRatio).Within(1e-12));
        Assert.That(explanation.Map.Normalized.Max(), Is.EqualTo(1f), "the 99th-percentile cap saturates the top pixels");
        Assert.That(explanation.Map.Normalized.Min(), Is.EqualTo(0f));
    }

    [Test]
    public void CafoOnASmoothNetworkSaysItUsesTheGaussNewtonPart()
    {
        // A sigmoid hidden layer makes the logits curved in the image: W A Wᵀ is then only the Gauss–Newton part.
        var rng = new Random(9);
        var b = new OnnxGraphBuilder("smooth");
        string x = b.Input("input", OnnxElementType.Float, "N", 1, 4, 4);
        string h = b.Sigmoid(b.Linear(b.Flatten(x), 16, 8, rng));
        b.Output(b.Linear(h, 8, 3, rng), OnnxElementType.Float, "N", 3);
        using var classifier = OnnxClassifier.Create(b.Build());
        Assert.That(classifier.IsPiecewiseLinear, Is.False);
        var image = Enumerable.Range(0, 16).Select(i => i / 16f).ToArray();
        var explanation = new CasoExplainer(new CasoExplainerOptions { Solver = new CasoOptions { Kind = CasoObjectiveKind.Cafo }, Lambda1 = 0 }).Explain(classifier, image);
        Assert.That(explanation.Details.Single(d => d.Key == "Hessian").Value, Is.EqualTo("Gauss–Newton part of the Hessian"));
    }

    [Test]
    public void GradientExplainerMatchesFiniteDifferencesOfTheTargetLogit()
    {
        // A generic point: the digit's flat background makes exact max-pool ties, where a central difference averages
        // two one-sided slopes; a little noise moves the point off every kink.
        var rng = new Random(3);
        var image = _digit.Select(v => v + 0.02f * (float)rng.NextDouble()).ToArray();
        var explanation = new GradientExplainer().Explain(_lenet, image);
        int target = explanation.Target;
        var gradient = explanation.Map.Values;
        double scale = gradient.Max(v => Math.Abs(v));
        // The largest few coordinates and a few fixed ones. LeNet is piecewise linear: a step small enough to stay on one
        // piece (1e-3; 1e-2 already crosses a ReLU/max-pool kink at some pixels) gives the slope up to float32 rounding
        // of the logits (~1e-6 · |logit| / step ≈ 1e-2 here).
        var coordinates = Enumerable.Range(0, gradient.Length).OrderByDescending(i => Math.Abs(gradient[i])).Take(4)
            .Concat([300, 406, 512]).Distinct();
        const float step = 1e-3f;
        foreach (int i in coordinates)
        {
            var plus = (float[])image.Clone();
            var minus = (float[])image.Clone();
            plus[i] += step;
            minus[i] -= step;
            var scores = _lenet.Predict([.. plus, .. minus]);
            double fd = (scores.LogitsOf(0)[target] - scores.LogitsOf(1)[target]) / (2.0 * step);
            Assert.That(gradient[i], Is.EqualTo(fd).Within(1e-2 * scale), $"pixel {i}");
        }
    }

    [Test]
    public void GradientOfTheLossIsTheClassifiersLossGradient()
    {
        var explanation = new GradientExplainer(GradientObjective.Loss).Explain(_lenet, _digit, target: 3);
        Assert.That(explanation.Target, Is.EqualTo(3));
        Assert.That(explanation.Map.Values, Is.EqualTo(_lenet.LossGradient(_digit, 3).Gradient));
    }

    [Test]
    public void LegRecoversTheDirectionOfTheProbabilityGradientOfALinearModel()
    {
        var (model, weights, bias) = LinearModel(height: 8, width: 8, classes: 4, seed: 5);
        using var classifier = OnnxClassifier.Create(model);
        var rng = new Random(6);
        var x0 = Enumerable.Range(0, 64).Select(_ => (float)rng.NextDouble()).ToArray();
        var grid = new GridShape(8, 8);
        var explainer = new LegExplainer(new LegExplainerOptions
        {
            Sampling = new LegOptions
            {
                Grid = grid, Covariance = new IsotropicCovariance(grid, 1e-3), SampleCount = 6000, Antithetic = true, BatchSize = 500, Seed = 7,
            },
        });
        var explanation = explainer.Explain(classifier, x0, target: 2);
        // Oracle: ∇p_t = p_t (w_t − Σ_j p_j w_j) from the weights, in float64.
        var expected = ProbabilityGradient(weights, bias, x0, 2);
        double cosine = Cosine(explanation.Map.Values.Select(v => (double)v).ToArray(), expected);
        Assert.That(cosine, Is.GreaterThan(0.98));
        Assert.That(explanation.Moments.BaselineValue, Is.EqualTo(Softmax(Logits(weights, bias, x0))[2]).Within(1e-6));
    }

    [Test]
    public void LegTvOnALinearModelIsACertifiedLpSolutionAlignedWithTheGradient()
    {
        var (model, weights, bias) = LinearModel(height: 8, width: 8, classes: 4, seed: 8);
        using var classifier = OnnxClassifier.Create(model);
        var x0 = new float[64];
        Array.Fill(x0, 0.5f);
        var explanation = new LegExplainer(new LegExplainerOptions
        {
            TotalVariation = true,
            Sampling = new LegOptions { Grid = new GridShape(8, 8), NoiseVariance = 1e-3, SampleCount = 4000, Antithetic = true, BatchSize = 500, Seed = 9 },
        }).Explain(classifier, x0);
        var solution = explanation.Result.Solutions!.Single();
        Assert.That(solution.Status, Is.EqualTo(TvLpStatus.Optimal));
        var expected = ProbabilityGradient(weights, bias, x0, explanation.Target);
        Assert.That(Cosine(explanation.Map.Values.Select(v => (double)v).ToArray(), expected), Is.GreaterThan(0.5),
            "the TV-regularised estimate still points along the gradient");
    }

    [Test]
    public void BadInputIsATypedException()
    {
        Assert.Throws<ExplainerInputException>(() => new GradientExplainer().Explain(_lenet, new float[10]));
        Assert.Throws<ExplainerInputException>(() => new GradientExplainer().Explain(_lenet, _digit, target: 10));
        var nan = (float[])_digit.Clone();
        nan[5] = float.NaN;
        Assert.Throws<ExplainerInputException>(() => new CasoExplainer().Explain(_lenet, nan));
        Assert.Throws<ExplainerInputException>(() => new CasoExplainer(new CasoExplainerOptions { Lambda1 = -1 }).Explain(_lenet, _digit));
        Assert.Throws<ExplainerInputException>(() => new ClassifierProbabilityFunction(_lenet, -1));
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            new LegExplainer(new LegExplainerOptions { SampleCount = 0 }).Explain(_lenet, _digit));
    }

    // ---- helpers ----

    /// <summary>logits = W x + b on [N, 1, H, W] through Flatten and one Gemm; returns the model and its weights (classes × pixels).</summary>
    private static (ModelProto Model, double[,] Weights, double[] Bias) LinearModel(int height, int width, int classes, int seed)
    {
        int d = height * width;
        var rng = new Random(seed);
        var w = new float[classes * d];
        for (int i = 0; i < w.Length; i++) w[i] = (float)(rng.NextDouble() * 2 - 1);
        var b = Enumerable.Range(0, classes).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var builder = new OnnxGraphBuilder("linear");
        string x = builder.Input("input", OnnxElementType.Float, "N", 1, height, width);
        string flat = builder.Flatten(x);
        string logits = builder.Gemm(flat, builder.Initializer("W", w, classes, d), builder.Initializer("b", b, classes), transB: true, name: "logits");
        builder.Output(logits, OnnxElementType.Float, "N", classes);
        var weights = new double[classes, d];
        for (int c = 0; c < classes; c++)
            for (int i = 0; i < d; i++) weights[c, i] = w[c * d + i];
        return (builder.Build(), weights, b.Select(v => (double)v).ToArray());
    }

    private static double[] Logits(double[,] w, double[] b, float[] x) =>
        Enumerable.Range(0, b.Length).Select(c => b[c] + Enumerable.Range(0, x.Length).Sum(i => w[c, i] * x[i])).ToArray();

    private static double[] Softmax(double[] z)
    {
        double max = z.Max();
        var e = z.Select(v => Math.Exp(v - max)).ToArray();
        double s = e.Sum();
        return e.Select(v => v / s).ToArray();
    }

    private static double[] ProbabilityGradient(double[,] w, double[] b, float[] x, int target)
    {
        var p = Softmax(Logits(w, b, x));
        return Enumerable.Range(0, x.Length)
            .Select(i => p[target] * (w[target, i] - Enumerable.Range(0, p.Length).Sum(j => p[j] * w[j, i]))).ToArray();
    }

    private static double Cosine(double[] a, double[] b) =>
        a.Zip(b, (u, v) => u * v).Sum() / Math.Sqrt(a.Sum(u => u * u) * b.Sum(v => v * v));

    /// <summary>W (d×c) in float64 and p from the logits in float64.</summary>
    private static (Matrix<double> W, double[] P) DenseJacobian(IClassifier classifier, float[] image)
    {
        var jacobian = classifier.Jacobian(image);
        var w = Matrix<double>.Build.Dense(jacobian.InputSize, jacobian.ColumnCount, (i, j) => jacobian[i, j]);
        var logits = jacobian.Scores.LogitsOf(0).ToArray().Select(v => (double)v).ToArray();
        return (w, Softmax(logits));
    }

    private static double LambdaMax(IClassifier classifier, float[] image)
    {
        var (w, p) = DenseJacobian(classifier, image);
        var a = Matrix<double>.Build.DenseOfDiagonalArray(p) - Matrix<double>.Build.Dense(p.Length, 1, p) * Matrix<double>.Build.Dense(1, p.Length, p);
        var evd = (w.TransposeThisAndMultiply(w) * a).Evd();
        return evd.EigenValues.Max(e => e.Real);
    }
}
