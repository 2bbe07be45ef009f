using MathNet.Numerics.LinearAlgebra;
using NUnit.Framework;
using Saliency.Solvers.Fista;

namespace Saliency.Solvers.Tests.Fista;

[TestFixture]
internal class FistaSolverTests
{
    /// <summary>Per coordinate: xᵢ ≠ 0 ⇒ (Qx − b)ᵢ = −λ sign xᵢ; xᵢ = 0 ⇒ |(Qx − b)ᵢ| ≤ λ. Returns the worst violation.</summary>
    internal static double SubgradientViolation(Matrix<double> q, double[] b, double lambda, double[] x)
    {
        var grad = q * Vector<double>.Build.Dense(x) - Vector<double>.Build.Dense(b);
        double worst = 0;
        for (int i = 0; i < x.Length; i++)
        {
            double v = x[i] != 0 ? Math.Abs(grad[i] + lambda * Math.Sign(x[i])) : Math.Max(0, Math.Abs(grad[i]) - lambda);
            worst = Math.Max(worst, v);
        }
        return worst;
    }

    [TestCase(30, 0.1, 0.0, 1)]
    [TestCase(30, 0.1, 0.2, 2)]
    [TestCase(50, 0.05, 0.5, 3)]
    [TestCase(7, 1.0, 0.9, 4)]
    public void MatchesCoordinateDescentAndSubgradientConditions(int d, double mu, double lambdaFraction, int seed)
    {
        var f = DenseQuadratic.Random(d, mu, seed);
        double lambda = lambdaFraction * f.B.Max(Math.Abs);
        var r = FistaSolver.Solve(f, new[] { lambda }, new FistaOptions { Tolerance = 1e-12, MaxIterations = 20_000 })[0];
        Assert.That(r.Status, Is.EqualTo(FistaStatus.Converged));
        var reference = CoordinateDescent.Solve(f.Q, f.B, lambda);
        double diff = Math.Sqrt(r.Solution.Zip(reference, (a, b) => (a - b) * (a - b)).Sum());
        double norm = Math.Sqrt(reference.Sum(v => v * v));
        Assert.That(diff, Is.LessThanOrEqualTo(1e-8 * norm));
        // Stated tolerance: 1e-8 · ‖b‖∞ on every coordinate's optimality condition.
        Assert.That(SubgradientViolation(f.Q, f.B, lambda, r.Solution), Is.LessThan(1e-8 * f.B.Max(Math.Abs)));
        Assert.That(r.Objective, Is.EqualTo(f.Objective(r.Solution, lambda)).Within(1e-12 * Math.Abs(r.Objective) + 1e-14));
        // Exact zeros where the reference is zero (soft-thresholding gives exact zeros).
        for (int i = 0; i < d; i++) if (reference[i] == 0) Assert.That(r.Solution[i], Is.EqualTo(0.0), $"coordinate {i}");
    }

    [Test]
    public void OneBatchedPassPerIterationForTheWholeBatch()
    {
        var f = DenseQuadratic.Random(40, 0.1, 5);
        double bInf = f.B.Max(Math.Abs);
        var lambdas = new[] { 0.0, 0.05 * bInf, 0.2 * bInf, 0.5 * bInf, 2 * bInf };
        var results = FistaSolver.Solve(f, lambdas, new FistaOptions { Tolerance = 1e-10, MaxIterations = 5000 });
        Assert.That(results.Sum(r => r.BacktrackingSteps), Is.EqualTo(0), "the known Lipschitz bound passes the test at once");
        // Every iteration is one call for all running slices: the call count is the longest slice's iteration count.
        Assert.That(f.Calls, Is.EqualTo(results.Max(r => r.Iterations)));
        Assert.That(results[4].Solution.All(v => v == 0), Is.True, "λ1 ≥ ‖b‖∞ gives the zero solution");
        Assert.That(results[4].Iterations, Is.EqualTo(1));
    }

    [Test]
    public void BatchGivesTheSameSolutionsAsSeparateSolves()
    {
        var f = DenseQuadratic.Random(25, 0.2, 6);
        var lambdas = new[] { 0.01, 0.3, 0.8 };
        var options = new FistaOptions { Tolerance = 1e-11, MaxIterations = 5000 };
        var batch = FistaSolver.Solve(f, lambdas, options);
        for (int j = 0; j < lambdas.Length; j++)
        {
            var single = FistaSolver.Solve(f, new[] { lambdas[j] }, options)[0];
            Assert.That(batch[j].Iterations, Is.EqualTo(single.Iterations));
            for (int i = 0; i < 25; i++) Assert.That(batch[j].Solution[i], Is.EqualTo(single.Solution[i]).Within(1e-12));
        }
    }

    [TestCase(true)]
    [TestCase(false)]
    public void BacktrackingRecoversFromTooLargeAStep(bool explicitStep)
    {
        // Without a Lipschitz bound the solver starts at t = 1 ≫ 1/L; with one we force t₀ = 64/L.
        var f = DenseQuadratic.Random(30, 0.5, 7, knownBound: false);
        double l = f.LambdaMax;
        var options = new FistaOptions { Tolerance = 1e-12, MaxIterations = 20_000, InitialStep = explicitStep ? 64 / l : null };
        Assert.That(explicitStep ? 64 / l : 1.0, Is.GreaterThan(2 / l), "the first step must be too long for this test to mean anything");
        var r = FistaSolver.Solve(f, new[] { 0.3 }, options)[0];
        Assert.That(r.Status, Is.EqualTo(FistaStatus.Converged));
        Assert.That(r.BacktrackingSteps, Is.GreaterThan(0));
        // Halving stops at the first passing step, and every t ≤ 1/L passes: t_final ≥ 0.5/L.
        Assert.That(r.FinalStep, Is.GreaterThanOrEqualTo(0.5 / l));
        var reference = CoordinateDescent.Solve(f.Q, f.B, 0.3);
        for (int i = 0; i < 30; i++) Assert.That(r.Solution[i], Is.EqualTo(reference[i]).Within(1e-8));
    }

    [Test]
    public void WithRestartTheObjectiveNeverIncreases()
    {
        // Ill-conditioned (κ ≈ 400): plain FISTA oscillates here; the monotone restart must suppress every increase.
        var f = DenseQuadratic.Random(60, 0.01, 8);
        var r = FistaSolver.Solve(f, new[] { 0.05 }, new FistaOptions { Tolerance = 1e-12, MaxIterations = 20_000, RecordHistory = true })[0];
        Assert.That(r.Status, Is.EqualTo(FistaStatus.Converged));
        var h = r.ObjectiveHistory!;
        Assert.That(h.Count, Is.EqualTo(r.Iterations + 1));
        // Exact arithmetic: never increases. A momentum-free step at the optimum may move F by round-off (the
        // solver accepts it rather than loop), hence the 1e-13 relative allowance.
        for (int k = 1; k < h.Count; k++) Assert.That(h[k], Is.LessThanOrEqualTo(h[k - 1] + 1e-13 * Math.Abs(h[k - 1])), $"iteration {k}");
        Assert.That(r.Restarts, Is.GreaterThan(0), "the instance is chosen so that restarts happen");

        // The same instance without restart does increase somewhere (so the test above can fail).
        var plain = FistaSolver.Solve(f, new[] { 0.05 }, new FistaOptions { Tolerance = 1e-12, MaxIterations = 20_000, RecordHistory = true, RestartOnIncrease = false })[0];
        var hp = plain.ObjectiveHistory!;
        Assert.That(Enumerable.Range(1, hp.Count - 1).Any(k => hp[k] > hp[k - 1]), Is.True);
        TestContext.Out.WriteLine($"iterations with restart {r.Iterations} ({r.Restarts} restarts), without {plain.Iterations}");
    }

    [Test]
    public void WithoutRestartTheGapObeysBeckTeboulleAndDecaysAtLeastLikeOneOverKSquared()
    {
        // Strongly convex (μ = 0.02, L ≈ 4). Beck–Teboulle: F(x_k) − F* ≤ 2‖x₀ − x*‖² / (t (k+1)²), x₀ = 0.
        var f = DenseQuadratic.Random(40, 0.02, 9);
        double lambda = 0.1;
        var xStar = CoordinateDescent.Solve(f.Q, f.B, lambda);
        double fStar = f.Objective(xStar, lambda);
        var r = FistaSolver.Solve(f, new[] { lambda }, new FistaOptions { Tolerance = 1e-13, MaxIterations = 3000, RecordHistory = true, RestartOnIncrease = false })[0];
        var h = r.ObjectiveHistory!;
        double r0 = xStar.Sum(v => v * v);
        var logK = new List<double>();
        var logGap = new List<double>();
        for (int k = 1; k < h.Count; k++)
        {
            double gap = h[k] - fStar;
            Assert.That(gap, Is.LessThanOrEqualTo(2 * r0 / (r.FinalStep * (k + 1.0) * (k + 1.0)) + 1e-12), $"iteration {k}");
            if (gap > 1e-9 * (h[0] - fStar)) { logK.Add(Math.Log(k)); logGap.Add(Math.Log(gap)); }
            else break;
        }
        Assert.That(logK.Count, Is.GreaterThan(10));
        var (_, slope) = MathNet.Numerics.Fit.Line(logK.ToArray(), logGap.ToArray());
        TestContext.Out.WriteLine($"fitted slope of log gap vs log k over {logK.Count} iterations: {slope:F2}");
        Assert.That(slope, Is.LessThanOrEqualTo(-2.0));
    }

    [Test]
    public void NonConvergenceIsReported()
    {
        var f = DenseQuadratic.Random(30, 0.01, 10);
        var r = FistaSolver.Solve(f, new[] { 0.01 }, new FistaOptions { Tolerance = 1e-14, MaxIterations = 3 })[0];
        Assert.That(r.Status, Is.EqualTo(FistaStatus.IterationLimit));
        Assert.That(r.Iterations, Is.EqualTo(3));
        Assert.That(r.Residual, Is.GreaterThan(1e-14));
    }

    [Test]
    public void BadInputGivesTypedExceptions()
    {
        var f = DenseQuadratic.Random(5, 1, 11);
        Assert.Throws<ArgumentException>(() => FistaSolver.Solve(f, Array.Empty<double>()));
        Assert.Throws<ArgumentException>(() => FistaSolver.Solve(f, new[] { -1.0 }));
        Assert.Throws<ArgumentException>(() => FistaSolver.Solve(f, new[] { double.NaN }));
        Assert.Throws<ArgumentOutOfRangeException>(() => FistaSolver.Solve(f, new[] { 0.1 }, new FistaOptions { BacktrackingDecay = 1.0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => FistaSolver.Solve(f, new[] { 0.1 }, new FistaOptions { MaxIterations = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => FistaSolver.Solve(f, new[] { 0.1 }, new FistaOptions { InitialStep = -1 }));
        var nanB = new DenseQuadratic(f.Q, new[] { 1.0, double.NaN, 0, 0, 0 }, null);
        Assert.Throws<ArgumentException>(() => FistaSolver.Solve(nanB, new[] { 0.1 }));
    }
}
