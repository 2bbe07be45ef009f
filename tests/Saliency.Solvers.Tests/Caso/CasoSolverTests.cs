using MathNet.Numerics.LinearAlgebra;
using NUnit.Framework;
using Saliency.Linalg.Hessian;
using Saliency.Solvers.Caso;
using Saliency.Solvers.Fista;
using Saliency.Solvers.Tests.Fista;

namespace Saliency.Solvers.Tests.Caso;

[TestFixture]
internal class CasoSolverTests
{
    private static readonly CasoOptions Tight = new() { Tolerance = 1e-11, MaxIterations = 20_000 };

    [TestCase(40, 10, 1, 2.0)]
    [TestCase(120, 25, 2, 0.5)]
    [TestCase(9, 30, 3, 2.0)]
    public void LambdaOneZero_CafoReachesClosedForm(int d, int c, int seed, double margin)
    {
        var w = CasoTestData.RandomJacobian(d, c, seed);
        var p = CasoTestData.RandomProbabilities(c, seed + 1);
        var problem = CasoProblem.FromJacobian(w, p);
        var r = CasoSolver.Solve(problem, new[] { 0.0 }, Tight with { Kind = CasoObjectiveKind.Cafo, Lambda2Margin = margin })[0];
        Assert.That(r.Converged, Is.True);
        var expected = CasoTestData.Gradient(w, p, problem.Target) / (2 * r.Lambda2);
        Assert.That(CasoTestData.RelativeError(r.Solution, expected), Is.LessThan(1e-6));
        Assert.That(r.Lambda2, Is.EqualTo(problem.LambdaMax / 2 + margin).Within(1e-12));
    }

    [TestCase(40, 10, 1, 2.0)]
    [TestCase(120, 25, 2, 0.5)]
    [TestCase(9, 30, 3, 2.0)]
    [TestCase(60, 10, 4, 0.01)] // nearly singular 2λ2 I − H: condition number (L + 0.02)/0.02
    public void LambdaOneZero_CasoReachesClosedForm(int d, int c, int seed, double margin)
    {
        var w = CasoTestData.RandomJacobian(d, c, seed);
        var p = CasoTestData.RandomProbabilities(c, seed + 1);
        var problem = CasoProblem.FromJacobian(w, p);
        var r = CasoSolver.Solve(problem, new[] { 0.0 }, Tight with { Lambda2Margin = margin })[0];
        Assert.That(r.Converged, Is.True);
        var h = CasoTestData.DenseHessian(w, p);
        var g = CasoTestData.Gradient(w, p, problem.Target);
        var expected = (2 * r.Lambda2 * Matrix<double>.Build.DenseIdentity(d) - h).Solve(g);
        Assert.That(CasoTestData.RelativeError(r.Solution, expected), Is.LessThan(1e-6));
        // L is the dense λ_max, and the reported objective/loss match the dense evaluation.
        Assert.That(r.LambdaMax, Is.EqualTo(CasoTestData.LambdaMax(h)).Within(1e-10 * r.LambdaMax));
        var x = Vector<double>.Build.Dense(r.Solution);
        double loss = g.DotProduct(x) + 0.5 * x.DotProduct(h * x);
        Assert.That(r.Loss, Is.EqualTo(loss).Within(1e-9 * Math.Abs(loss)));
        Assert.That(r.Objective, Is.EqualTo(loss - r.Lambda2 * x.DotProduct(x)).Within(1e-9 * Math.Abs(loss)));
        Assert.That(r.SparsityRatio, Is.EqualTo(0.0));
    }

    [TestCase(30, 8, 5, 0.1)]
    [TestCase(30, 8, 6, 0.5)]
    [TestCase(50, 20, 7, 0.9)]
    public void LambdaOnePositive_MatchesCoordinateDescentAndSubgradientConditions(int d, int c, int seed, double fraction)
    {
        var w = CasoTestData.RandomJacobian(d, c, seed);
        var p = CasoTestData.RandomProbabilities(c, seed + 1);
        var problem = CasoProblem.FromJacobian(w, p);
        var g = CasoTestData.Gradient(w, p, problem.Target);
        double lambda1 = fraction * g.AbsoluteMaximum();
        var r = CasoSolver.Solve(problem, new[] { lambda1 }, Tight)[0];
        Assert.That(r.Converged, Is.True);
        // The minimisation FISTA solves: ½Δᵀ(2λ2 I − H)Δ − gᵀΔ + λ1‖Δ‖₁.
        var q = 2 * r.Lambda2 * Matrix<double>.Build.DenseIdentity(d) - CasoTestData.DenseHessian(w, p);
        var reference = CoordinateDescent.Solve(q, g.ToArray(), lambda1);
        Assert.That(CasoTestData.RelativeError(r.Solution, Vector<double>.Build.Dense(reference)), Is.LessThan(1e-6));
        // Stated tolerance: every coordinate's subgradient condition holds to 1e-7·‖g‖∞.
        Assert.That(FistaSolverTests.SubgradientViolation(q, g.ToArray(), lambda1, r.Solution), Is.LessThan(1e-7 * g.AbsoluteMaximum()));
        int zeros = reference.Count(v => v == 0);
        Assert.That(r.SparsityRatio, Is.EqualTo((double)zeros / d).Within(1e-12));
        Assert.That(zeros, Is.GreaterThan(0), "λ1 > 0 should produce some exact zeros on this instance");
    }

    [Test]
    public void BatchOfLambdaOneValuesEqualsSeparateSolvesAndIsChunked()
    {
        var w = CasoTestData.RandomJacobian(30, 6, 8);
        var p = CasoTestData.RandomProbabilities(6, 9);
        var problem = CasoProblem.FromJacobian(w, p);
        var lambdas = new[] { 0.0, 1e-3, 1e-2, 0.1, 0.3, 1.0, 3.0 };
        var batch = CasoSolver.Solve(problem, lambdas, Tight with { MaxBatch = 3 });
        for (int j = 0; j < lambdas.Length; j++)
        {
            var single = CasoSolver.Solve(problem, new[] { lambdas[j] }, Tight)[0];
            Assert.That(batch[j].Lambda1, Is.EqualTo(lambdas[j]));
            for (int i = 0; i < 30; i++) Assert.That(batch[j].Solution[i], Is.EqualTo(single.Solution[i]).Within(1e-9 * (1 + Math.Abs(single.Solution[i]))));
        }
    }

    [Test]
    public void Theorem5_CasoAndCafoBecomeParallelWithConfidenceAndClasses()
    {
        // λ1 = 0: Δ_CAFO ∝ g, Δ_CASO = (2λ2 I − H)⁻¹ g. When H ≈ ggᵀ/κ (Theorem 4) g is nearly an eigenvector of H and
        // the two are parallel. λ2 = L/2 + margin with a small margin so that H matters.
        int d = 300;
        var cosines = new List<double>();
        foreach (int c in new[] { 10, 100, 1000 })
        {
            var w = CasoTestData.RandomJacobian(d, c, 500 + c);
            var problem = CasoProblem.FromJacobian(w, CasoTestData.TheoremProbabilities(c, 1e-3));
            var options = Tight with { Lambda2Margin = 0.05 * problem.LambdaMax };
            var caso = CasoSolver.Solve(problem, new[] { 0.0 }, options)[0];
            var cafo = CasoSolver.Solve(problem, new[] { 0.0 }, options with { Kind = CasoObjectiveKind.Cafo })[0];
            cosines.Add(CasoTestData.Cosine(caso.Solution, cafo.Solution));
            TestContext.Out.WriteLine($"high confidence, c = {c}: cos(CASO, CAFO) = {cosines[^1]:F6}");
        }
        Assert.That(cosines[1], Is.GreaterThan(cosines[0]));
        Assert.That(cosines[2], Is.GreaterThan(cosines[1]));
        Assert.That(cosines[2], Is.GreaterThan(0.99));

        // Low confidence (softmax of Gaussian logits over 100 classes: top probability ≈ 0.1, the rest spread unevenly):
        // H is far from rank one and the solutions differ.
        var wLow = CasoTestData.RandomJacobian(d, 100, 600);
        var pLow = CasoTestData.RandomProbabilities(100, 601);
        TestContext.Out.WriteLine($"low confidence: top probability {pLow.Max():F3}");
        var low = CasoProblem.FromJacobian(wLow, pLow);
        var lowOptions = Tight with { Lambda2Margin = 0.05 * low.LambdaMax };
        double lowCos = CasoTestData.Cosine(CasoSolver.Solve(low, new[] { 0.0 }, lowOptions)[0].Solution,
            CasoSolver.Solve(low, new[] { 0.0 }, lowOptions with { Kind = CasoObjectiveKind.Cafo })[0].Solution);
        TestContext.Out.WriteLine($"low confidence, c = 100: cos(CASO, CAFO) = {lowCos:F6}");
        // Measured here: 1 − cos ≈ 0.04 at low confidence against ≈ 2e-5 at high confidence with the same c.
        Assert.That(lowCos, Is.LessThan(0.99));
        Assert.That(1 - lowCos, Is.GreaterThan(100 * (1 - cosines[1])));
    }

    [Test]
    public void Lambda2Rule_UsesExactLambdaMaxAndExposesTheMargin()
    {
        var w = CasoTestData.RandomJacobian(50, 12, 10);
        var p = CasoTestData.RandomProbabilities(12, 11);
        var problem = CasoProblem.FromJacobian(w, p);
        double l = CasoTestData.LambdaMax(CasoTestData.DenseHessian(w, p));
        Assert.That(problem.LambdaMaxKind, Is.EqualTo(LambdaMaxKind.Exact));
        Assert.That(problem.LambdaMax, Is.EqualTo(l).Within(1e-10 * l));
        Assert.That(CasoSolver.Lambda2(problem, new CasoOptions()), Is.EqualTo(l / 2 + 2).Within(1e-9));
        Assert.That(CasoSolver.Lambda2(problem, new CasoOptions { Lambda2Margin = 0.25 }), Is.EqualTo(l / 2 + 0.25).Within(1e-9));
        // The authors' 10 power iterations: a Rayleigh quotient, so never above the exact value.
        var estimated = CasoProblem.FromJacobian(w, p, new CasoProblemOptions { LambdaMaxMethod = LambdaMaxKind.PowerIterationEstimate });
        Assert.That(estimated.LambdaMaxKind, Is.EqualTo(LambdaMaxKind.PowerIterationEstimate));
        Assert.That(estimated.LambdaMax, Is.LessThanOrEqualTo(l * (1 + 1e-12)));
        Assert.That(estimated.LambdaMax, Is.GreaterThan(0.5 * l));
    }

    [Test]
    public void TopKClasses_ReportDroppedMassAndUseTheSubBlock()
    {
        int d = 40, c = 20, k = 5;
        var w = CasoTestData.RandomJacobian(d, c, 12);
        var p = CasoTestData.RandomProbabilities(c, 13, temperature: 0.5);
        var problem = CasoProblem.FromJacobian(w, p, new CasoProblemOptions { TopClasses = k });
        var keep = Enumerable.Range(0, c).OrderByDescending(i => p[i]).Take(k).ToArray();
        double dropped = Enumerable.Range(0, c).Where(i => !keep.Contains(i)).Sum(i => p[i]);
        Assert.That(problem.DroppedProbabilityMass, Is.EqualTo(dropped).Within(1e-14));
        Assert.That(problem.ClassCount, Is.EqualTo(k));
        Assert.That(problem.TotalClasses, Is.EqualTo(c));

        var wS = Matrix<double>.Build.DenseOfColumns(keep.Select(i => w.Column(i)));
        var pS = keep.Select(i => p[i]).ToArray();
        var hS = CasoTestData.DenseHessian(wS, pS);
        var gS = wS * Vector<double>.Build.Dense(k, i => pS[i] - (keep[i] == problem.Target ? 1 : 0));
        for (int i = 0; i < d; i++) Assert.That(problem.Gradient[i], Is.EqualTo(gS[i]).Within(1e-12));
        var r = CasoSolver.Solve(problem, new[] { 0.0 }, Tight)[0];
        Assert.That(r.DroppedProbabilityMass, Is.EqualTo(dropped).Within(1e-14));
        var expected = (2 * r.Lambda2 * Matrix<double>.Build.DenseIdentity(d) - hS).Solve(gS);
        Assert.That(CasoTestData.RelativeError(r.Solution, expected), Is.LessThan(1e-6));

        var all = CasoProblem.FromJacobian(w, p, new CasoProblemOptions { TopClasses = c });
        Assert.That(all.DroppedProbabilityMass, Is.EqualTo(0.0));
        // A target outside the top k is kept anyway (it carries the loss).
        int rare = Enumerable.Range(0, c).MinBy(i => p[i]);
        var withTarget = CasoProblem.FromJacobian(w, p, new CasoProblemOptions { TopClasses = k, Target = rare });
        Assert.That(withTarget.ClassCount, Is.EqualTo(k + 1));
    }

    [Test]
    public void SmoothCaso_AveragesGradientAndHessianOverNoisyCopies()
    {
        int d = 25, c = 6, n = 5;
        var samples = Enumerable.Range(0, n).Select(j => new JacobianSample(CasoTestData.RandomJacobian(d, c, 30 + j),
            CasoTestData.RandomProbabilities(c, 60 + j, 0.4))).ToArray();
        var problem = CasoProblem.FromNoisyCopies(new PrecomputedJacobianProvider(samples), new CasoProblemOptions { Target = 2 });
        var hBar = Matrix<double>.Build.Dense(d, d);
        var gBar = Vector<double>.Build.Dense(d);
        foreach (var s in samples)
        {
            hBar += CasoTestData.DenseHessian(s.Jacobian, s.Probabilities) / n;
            gBar += CasoTestData.Gradient(s.Jacobian, s.Probabilities, 2) / n;
        }
        Assert.That(problem.Copies, Is.EqualTo(n));
        Assert.That(problem.LambdaMaxKind, Is.EqualTo(LambdaMaxKind.Exact));
        Assert.That(problem.LambdaMax, Is.EqualTo(CasoTestData.LambdaMax(hBar)).Within(1e-10 * problem.LambdaMax));
        var r = CasoSolver.Solve(problem, new[] { 0.0 }, Tight)[0];
        var expected = (2 * r.Lambda2 * Matrix<double>.Build.DenseIdentity(d) - hBar).Solve(gBar);
        Assert.That(CasoTestData.RelativeError(r.Solution, expected), Is.LessThan(1e-6));

        // Too many stacked classes for the joint spectrum: Σ λ_max(Hⱼ)/n, a valid upper bound, is used and labelled.
        var bounded = CasoProblem.FromNoisyCopies(new PrecomputedJacobianProvider(samples),
            new CasoProblemOptions { Target = 2, ExactSpectrumMaxColumns = 10 });
        Assert.That(bounded.LambdaMaxKind, Is.EqualTo(LambdaMaxKind.UpperBound));
        Assert.That(bounded.LambdaMax, Is.GreaterThanOrEqualTo(problem.LambdaMax * (1 - 1e-12)));
        Assert.That(new SmoothingOptions().Copies, Is.EqualTo(16));
        Assert.That(new SmoothingOptions().NoiseStandardDeviation(new[] { -1f, 0.5f, 1f }), Is.EqualTo(0.3).Within(1e-12));
    }

    [Test]
    public void NonConvergenceIsReportedNotSilent()
    {
        var w = CasoTestData.RandomJacobian(30, 8, 14);
        var problem = CasoProblem.FromJacobian(w, CasoTestData.RandomProbabilities(8, 15));
        var r = CasoSolver.Solve(problem, new[] { 0.01 }, new CasoOptions { Tolerance = 1e-15, MaxIterations = 2, Lambda2Margin = 1e-3 })[0];
        Assert.That(r.Status, Is.EqualTo(FistaStatus.IterationLimit));
        Assert.That(r.Converged, Is.False);
        Assert.That(r.Iterations, Is.EqualTo(2));
    }

    [Test]
    public void BadInputGivesTypedExceptions()
    {
        var w = CasoTestData.RandomJacobian(10, 4, 16);
        var p = CasoTestData.RandomProbabilities(4, 17);
        Assert.Throws<HessianInputException>(() => CasoProblem.FromJacobian(w, p.Take(3).ToArray()));
        Assert.Throws<ProbabilityVectorException>(() => CasoProblem.FromJacobian(w, new[] { 0.5, 0.5, 0.5, -0.5 }));
        Assert.Throws<ProbabilityVectorException>(() => CasoProblem.FromJacobian(w, new[] { 0.5, 0.5, 0.5, 0.5 }));
        Assert.Throws<CasoInputException>(() => CasoProblem.FromJacobian(w, p, new CasoProblemOptions { Target = 4 }));
        Assert.Throws<CasoInputException>(() => CasoProblem.FromJacobian(w, p, new CasoProblemOptions { TopClasses = 0 }));

        var problem = CasoProblem.FromJacobian(w, p);
        double half = problem.LambdaMax / 2;
        var ex = Assert.Throws<NotStronglyConcaveException>(() => CasoSolver.Solve(problem, new[] { 0.1 }, new CasoOptions { Lambda2 = 0.9 * half }));
        Assert.That(ex!.Bound, Is.EqualTo(half).Within(1e-12));
        Assert.Throws<NotStronglyConcaveException>(() => CasoSolver.Solve(problem, new[] { 0.1 }, new CasoOptions { Lambda2 = half }));
        Assert.Throws<NotStronglyConcaveException>(() => CasoSolver.Solve(problem, new[] { 0.1 }, new CasoOptions { Lambda2Margin = 0 }));
        Assert.Throws<NotStronglyConcaveException>(() => CasoSolver.Solve(problem, new[] { 0.1 }, new CasoOptions { Kind = CasoObjectiveKind.Cafo, Lambda2 = 0 }));
        Assert.DoesNotThrow(() => CasoSolver.Solve(problem, new[] { 0.1 }, new CasoOptions { Kind = CasoObjectiveKind.Cafo, Lambda2 = 0.9 * half }));
        Assert.Throws<CasoInputException>(() => CasoSolver.Solve(problem, new[] { -0.1 }));
        Assert.Throws<CasoInputException>(() => CasoSolver.Solve(problem, Array.Empty<double>()));
        Assert.Throws<CasoInputException>(() => CasoProblem.FromNoisyCopies(new PrecomputedJacobianProvider([])));
        Assert.Throws<CasoInputException>(() => CasoProblem.FromNoisyCopies(new PrecomputedJacobianProvider(
            [new JacobianSample(w, p), new JacobianSample(CasoTestData.RandomJacobian(11, 4, 1), p)])));
        Assert.Throws<CasoInputException>(() => CasoProblem.FromOperator(new double[3], problem.Hessian, 1.0, LambdaMaxKind.Exact));
    }
}
