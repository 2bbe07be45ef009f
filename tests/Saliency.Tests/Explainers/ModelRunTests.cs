using NUnit.Framework;
using Saliency.Explainers;
using Saliency.Models.Classifiers;
using Saliency.Solvers.Caso;
using Saliency.TestSupport;

namespace Saliency.Tests.Explainers;

/// <summary>
/// Which classifier calls an explanation makes, counted by a wrapper: CASO/CAFO take W, the logits and p from one
/// Jacobian run (no separate forward pass); the gradient explainer makes one Jacobian run when the target is given;
/// LEG reuses its forward run at x₀ as f(x₀). Also the explainers on LeNet with the last layer scaled by 20
/// (logits above float32's exp range) and on a model whose logits are NaN.
/// </summary>
[TestFixture]
internal sealed class ModelRunTests
{
    private OnnxClassifier _lenet = null!;
    private OnnxClassifier _scaled = null!;
    private float[] _digit = [];

    [OneTimeSetUp]
    public void Open()
    {
        _lenet = OnnxClassifier.Create(RepoFiles.LeNetModel);
        _scaled = OnnxClassifier.Create(BundledLeNet.WithScaledLastGemm(20f).Proto);
        _digit = BundledLeNet.Digits().ImageFloats(0);
    }

    [OneTimeTearDown]
    public void Close()
    {
        _lenet.Dispose();
        _scaled.Dispose();
    }

    [TestCase(null)]
    [TestCase(4)]
    public void CasoMakesOneJacobianRunAndReportsItsScores(int? target)
    {
        var counting = new CountingClassifier(_lenet);
        var explanation = new CasoExplainer(new CasoExplainerOptions { Lambda1 = 0 }).Explain(counting, _digit, target);
        Assert.That(counting.Calls, Is.EqualTo(new[] { "JacobianInto" }), "all classes: the chunked Jacobian into the kernel's W");
        Assert.That(explanation.Scores, Is.SameAs(counting.LastScores));
        Assert.That(explanation.Target, Is.EqualTo(target ?? _lenet.Predict(_digit).PredictedClass()));
    }

    [TestCase(1)]
    [TestCase(3)]
    [TestCase(9)]
    public void CasoWithAChunkedJacobianEqualsTheOneRunProblem(int chunk)
    {
        // Oracle: the problem built from the one-run W (FromClassMajor, the route before streaming), solved the same way;
        // the chunked W is the same floats, so the solutions are identical.
        var options = new CasoExplainerOptions { Lambda1 = 1e-3, Solver = new CasoOptions { Tolerance = 1e-9, MaxIterations = 5000 } };
        var chunked = new CasoExplainer(options with { JacobianChunk = chunk }).Explain(_lenet, _digit);
        var unchunked = new CasoExplainer(options with { JacobianChunk = 64 }).Explain(_lenet, _digit);
        var full = _lenet.Jacobian(_digit);
        var p = Softmax.Probabilities(full.Scores.LogitsOf(0));
        using var reference = CasoProblem.FromClassMajor(Saliency.Kernels.Backends.ComputeBackends.Cpu, full.Data, _lenet.InputSize, _lenet.ClassCount, p,
            new CasoProblemOptions { Target = chunked.Target });
        var expected = CasoSolver.Solve(reference, [1e-3], options.Solver)[0];
        Assert.That(chunked.Result.Solution, Is.EqualTo(expected.Solution));
        Assert.That(chunked.Result.LambdaMax, Is.EqualTo(expected.LambdaMax));
        Assert.That(unchunked.Result.Solution, Is.EqualTo(chunked.Result.Solution));
        Assert.That(chunked.Scores.Logits, Is.EqualTo(full.Scores.Logits));
    }

    [Test]
    public void CasoRefusesAChunkBelowOne() =>
        Assert.Throws<ExplainerInputException>(() => new CasoExplainer(new CasoExplainerOptions { JacobianChunk = 0 }).Explain(_lenet, _digit));

    [Test]
    public void CasoTopKRunsTheJacobianForTheKeptClassesOnly()
    {
        // Oracle: the problem from the full W with the same top-k selection (the route before the kept-rows path).
        const int k = 3;
        var counting = new CountingClassifier(_lenet);
        var options = new CasoExplainerOptions { Lambda1 = 1e-3, TopClasses = k, Solver = new CasoOptions { Tolerance = 1e-9, MaxIterations = 5000 } };
        var explanation = new CasoExplainer(options).Explain(counting, _digit);
        Assert.That(counting.Calls, Is.EqualTo(new[] { "Predict", "Jacobian" }));
        Assert.That(counting.LastJacobianClasses, Has.Count.EqualTo(k), "W holds the k kept classes only");

        var full = _lenet.Jacobian(_digit);
        var p = Softmax.Probabilities(full.Scores.LogitsOf(0));
        using var reference = CasoProblem.FromClassMajor(Saliency.Kernels.Backends.ComputeBackends.Cpu, full.Data, _lenet.InputSize, _lenet.ClassCount, p,
            new CasoProblemOptions { TopClasses = k, Target = explanation.Target });
        var expected = CasoSolver.Solve(reference, [1e-3], options.Solver)[0].Solution;
        double num = 0, den = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            num += Math.Pow(explanation.Result.Solution[i] - expected[i], 2);
            den += expected[i] * expected[i];
        }
        Assert.That(Math.Sqrt(num / den), Is.LessThan(1e-4));
    }

    [TestCase(null, null)]
    [TestCase(3, 1e-3)]
    public void CasoPhaseTimingsAreDisjointAndCountTheProducts(int? topClasses, double? lambda1)
    {
        var e = new CasoExplainer(new CasoExplainerOptions { TopClasses = topClasses, Lambda1 = lambda1 }).Explain(_lenet, _digit);
        var t = e.Timings!;
        Assert.That(new[] { t.Forward, t.Jacobian, t.Setup, t.Spectrum, t.Solve, t.Hvp, t.Fista }, Has.All.GreaterThanOrEqualTo(TimeSpan.Zero));
        Assert.That(t.Forward + t.Jacobian + t.Setup + t.Spectrum + t.Solve, Is.LessThanOrEqualTo(t.Total));
        Assert.That(t.Hvp, Is.LessThanOrEqualTo(t.Solve));
        Assert.That(t.Forward == TimeSpan.Zero, Is.EqualTo(topClasses is null), "a forward run only picks the top-k classes");
        Assert.That(t.Sweep, Is.EqualTo(lambda1 is null));
        // Each FISTA iteration multiplies at least one vector by H (more in the sweep's batches).
        Assert.That(t.HvpProducts, Is.GreaterThanOrEqualTo(e.Result.Iterations));
    }

    [TestCase(false)]
    [TestCase(true)]
    public void LegPhaseTimingsAreDisjoint(bool tv)
    {
        var e = new LegExplainer(new LegExplainerOptions { SampleCount = 64, TotalVariation = tv }).Explain(_lenet, _digit);
        var t = e.Timings!;
        Assert.That(new[] { t.Predict, t.Sampling, t.Forward, t.Moments, t.Estimate }, Has.All.GreaterThanOrEqualTo(TimeSpan.Zero));
        Assert.That(t.Forward, Is.GreaterThan(TimeSpan.Zero));
        Assert.That(t.Predict + t.Sampling + t.Forward + t.Moments + t.Estimate, Is.LessThanOrEqualTo(t.Total));
        Assert.That(t.Overhead, Is.EqualTo(t.Total - t.Forward - t.Predict));
        Assert.That(e.Moments.Timings, Is.Not.Null);
    }

    [Test]
    public void GradientMakesOnlyTheRunsItNeeds()
    {
        var counting = new CountingClassifier(_lenet);
        var logit = new GradientExplainer().Explain(counting, _digit, 3);
        Assert.That(counting.Calls, Is.EqualTo(new[] { "Jacobian" }), "a given target needs no forward pass");
        Assert.That(logit.Scores, Is.SameAs(counting.LastScores));

        counting.Calls.Clear();
        new GradientExplainer().Explain(counting, _digit);
        Assert.That(counting.Calls, Is.EqualTo(new[] { "Predict", "Jacobian" }), "the forward pass picks the class, then one column");

        counting.Calls.Clear();
        var loss = new GradientExplainer(GradientObjective.Loss).Explain(counting, _digit);
        Assert.That(counting.Calls, Is.EqualTo(new[] { "LossGradient" }));
        Assert.That(loss.Scores, Is.SameAs(counting.LastScores));
    }

    [Test]
    public void LegEvaluatesTheModelAtX0Once()
    {
        var counting = new CountingClassifier(_lenet);
        var explanation = new LegExplainer(new LegExplainerOptions { SampleCount = 64 }).Explain(counting, _digit);
        Assert.That(counting.Calls.Count(c => c == "Predict"), Is.EqualTo(counting.Calls.Count));
        Assert.That(counting.PredictBatches.Count(b => b.SequenceEqual(_digit)), Is.EqualTo(1), "x₀ goes through the model once");
        Assert.That(counting.PredictBatches.Sum(b => b.Length) / _digit.Length, Is.EqualTo(1 + 64));
        var p = Softmax.Probabilities(explanation.Scores.LogitsOf(0));
        Assert.That(explanation.Moments.BaselineValue, Is.EqualTo(p[explanation.Target]));
    }

    [Test]
    public void ExplainersOnScaledLeNetGiveFiniteProbabilitiesAndMaps()
    {
        foreach (IExplainer explainer in new IExplainer[]
                 {
                     new GradientExplainer(GradientObjective.Loss), new GradientExplainer(),
                     new CasoExplainer(new CasoExplainerOptions { Lambda1 = 0 }),
                     new CasoExplainer(new CasoExplainerOptions { Solver = new CasoOptions { Kind = CasoObjectiveKind.Cafo }, Lambda1 = 0 }),
                 })
        {
            var explanation = explainer.Explain(_scaled, _digit, target: 5);
            var p = explanation.Scores.ProbabilitiesOf(0).ToArray();
            Assert.That(explanation.Scores.Logits.Max(), Is.GreaterThan(89), "logits beyond float32's exp range");
            Assert.That(p, Is.All.Matches<float>(float.IsFinite), explainer.Name);
            Assert.That(p.Sum(v => (double)v), Is.EqualTo(1.0).Within(1e-6), explainer.Name);
            Assert.That(explanation.Map.Values, Is.All.Matches<float>(float.IsFinite), explainer.Name);
            Assert.That(explanation.Map.Values.Max(Math.Abs), Is.GreaterThan(0), explainer.Name);
        }
    }

    [Test]
    public void NaNLogitsAreATypedErrorNotANaNMap()
    {
        using var broken = OnnxClassifier.Create(BundledLeNet.WithLastBias(2, float.NaN).Proto);
        foreach (IExplainer explainer in new IExplainer[]
                 {
                     new GradientExplainer(), new GradientExplainer(GradientObjective.Loss),
                     new CasoExplainer(new CasoExplainerOptions { Lambda1 = 0 }), new LegExplainer(new LegExplainerOptions { SampleCount = 8 }),
                 })
            Assert.Throws<ClassifierOutputException>(() => explainer.Explain(broken, _digit), explainer.Name);
    }

    /// <summary>Forwards to a classifier and records each call (and the scores it returned).</summary>
    private sealed class CountingClassifier(IClassifier inner) : IClassifier
    {
        public List<string> Calls { get; } = [];
        public List<float[]> PredictBatches { get; } = [];
        public ClassScores? LastScores { get; private set; }
        public IReadOnlyList<int>? LastJacobianClasses { get; private set; }

        public IReadOnlyList<long> InputShape => inner.InputShape;
        public int InputSize => inner.InputSize;
        public int ClassCount => inner.ClassCount;

        public ClassScores Predict(ReadOnlySpan<float> images)
        {
            Calls.Add("Predict");
            PredictBatches.Add(images.ToArray());
            return LastScores = inner.Predict(images);
        }

        public JacobianMatrix Jacobian(ReadOnlySpan<float> image, IReadOnlyList<int>? classes = null)
        {
            Calls.Add("Jacobian");
            var w = inner.Jacobian(image, classes);
            LastScores = w.Scores;
            LastJacobianClasses = w.Classes;
            return w;
        }

        public ClassScores JacobianInto(ReadOnlySpan<float> image, Memory<float> destination, int chunkClasses = IClassifier.DefaultJacobianChunk)
        {
            Calls.Add("JacobianInto");
            return LastScores = inner.JacobianInto(image, destination, chunkClasses);
        }

        public JacobianMatrix TopKJacobian(ReadOnlySpan<float> image, int k)
        {
            Calls.Add("TopKJacobian");
            var w = inner.TopKJacobian(image, k);
            LastScores = w.Scores;
            return w;
        }

        public LossGradient LossGradient(ReadOnlySpan<float> image, int? target = null)
        {
            Calls.Add("LossGradient");
            var g = inner.LossGradient(image, target);
            LastScores = g.Scores;
            return g;
        }

        public ClassScores VectorJacobianProduct(ReadOnlySpan<float> image, ReadOnlySpan<float> cotangents, Span<float> destination)
        {
            Calls.Add("VectorJacobianProduct");
            return LastScores = inner.VectorJacobianProduct(image, cotangents, destination);
        }

        public void Dispose() { }
    }
}
