using NUnit.Framework;
using Saliency.Linalg.Grid;
using Saliency.Solvers.Lp;

namespace Saliency.Solvers.Tests.Lp;

[TestFixture]
internal class TvLpSolverTests
{
    private const double S2 = 0.1;
    private const double Tol = 1e-6;

    private static TvLpProblem Problem(int rows, int cols, int seed, bool structured, double boundFraction, out double[] h)
    {
        var shape = new GridShape(rows, cols);
        (var b, h) = LpReference.Instance(shape, seed, structured, S2);
        double lmax = b.Max(Math.Abs);
        return TvLpProblem.ForPaperCovariance(shape, b, boundFraction * lmax, S2);
    }

    private static void AssertCertified(TvLpProblem problem, TvLpSolution s, double tol)
    {
        Assert.That(s.Status, Is.EqualTo(TvLpStatus.Optimal));
        var c = s.Certificate;
        Assert.That(c.RelativeGap, Is.LessThanOrEqualTo(tol));
        Assert.That(c.RelativePrimalResidual, Is.LessThanOrEqualTo(tol));
        Assert.That(c.RelativeDualResidual, Is.LessThanOrEqualTo(tol));

        // Recompute everything from the returned vectors with the test's own D, Dᵀ and objectives.
        var shape = problem.Shape;
        Func<double[], double[]> k, kt;
        if (problem.Operator is { } op)
        {
            k = g => { var r = new double[op.OutputLength]; op.Apply(g, r); return r; };
            kt = v => { var r = new double[op.InputLength]; op.ApplyTranspose(v, r); return r; };
        }
        else
        {
            k = g => LpReference.D(shape, g).Select(x => problem.NoiseVariance * x).ToArray();
            kt = v => LpReference.DT(shape, v).Select(x => problem.NoiseVariance * x).ToArray();
        }
        var mine = LpReference.Certificate(shape, problem.B, problem.Bound, k, kt, s.G, s.U, s.V);
        Assert.That(mine.Gap, Is.LessThanOrEqualTo(tol), "independently recomputed relative gap");
        Assert.That(mine.Rp, Is.LessThanOrEqualTo(tol), "independently recomputed primal residual");
        Assert.That(mine.Rd, Is.LessThanOrEqualTo(tol), "independently recomputed dual residual");
        Assert.That(mine.P, Is.EqualTo(c.PrimalObjective).Within(1e-9).Percent);
        Assert.That(mine.Dual, Is.EqualTo(c.DualObjective).Within(1e-9).Percent);
    }

    [TestCase(28, 28, true, 0.1)]
    [TestCase(28, 28, false, 0.05)]
    [TestCase(37, 23, true, 0.1)]
    [TestCase(37, 23, false, 0.3)]
    [TestCase(64, 64, true, 0.05)]
    [TestCase(112, 112, true, 0.1)]
    public void Certificate_IsWithinTolerance_AndRecomputesFromReturnedVectors(int rows, int cols, bool structured, double fraction)
    {
        var problem = Problem(rows, cols, seed: rows * 31 + cols, structured, fraction, out _);
        var s = TvLpSolver.Solve(problem);
        AssertCertified(problem, s, Tol);
        Assert.That(s.Certificate.PrimalObjective, Is.GreaterThan(0), "a non-trivial instance");
    }

    [Test]
    public void Lemma3_BoundZero_GivesEmpiricalLegUpToTheTargetMean()
    {
        // b = D h ⇒ y = DᵀD h and the empirical LEG is Σ⁻¹y = (h − mean h)/s²; with L = 0 the only feasible Dg is
        // b/s², so g must equal it up to the constant, which TargetMean fixes.
        var problem = Problem(28, 28, seed: 5, structured: true, boundFraction: 0, out var h);
        const double targetMean = 0.37;
        var s = TvLpSolver.Solve(problem, new TvLpOptions { RelativeTolerance = 1e-9, TargetMean = targetMean });
        Assert.That(s.Status, Is.EqualTo(TvLpStatus.Optimal));
        double hMean = h.Average();
        var expected = h.Select(x => (x - hMean) / S2 + targetMean).ToArray();
        Assert.That(s.MeanFixed, Is.True);
        Assert.That(s.G.Average(), Is.EqualTo(targetMean).Within(1e-12));
        // ‖g − g*‖₂ ≤ ‖s²D(g − g*)‖₂ / (s² σ_min(D)) with σ_min² = 4 sin²(π/2p1) (smallest nonzero Neumann eigenvalue),
        // and ‖s²Dg − b‖₂ is the primal residual (L = 0).
        double sigmaMin = 2 * Math.Sin(Math.PI / (2 * 28));
        double bound = s.Certificate.PrimalResidual / (S2 * sigmaMin);
        double err = LpReference.Norm2(s.G.Zip(expected, (a, e) => a - e));
        Assert.That(err, Is.LessThanOrEqualTo(bound * 1.000001 + 1e-12));
        Assert.That(err / LpReference.Norm2(expected), Is.LessThan(1e-6));
    }

    [TestCase(28, 28)]
    [TestCase(37, 23)]
    public void AtMaxBound_SolutionHasZeroTotalVariation_AndJustBelowItDoesNot(int rows, int cols)
    {
        var problem = Problem(rows, cols, seed: 11, structured: true, boundFraction: 0, out _);
        double lmax = TvLpSolver.MaxBound(problem);
        Assert.That(lmax, Is.EqualTo(problem.B.Max(Math.Abs)));
        var at = TvLpSolver.Solve(problem.WithBound(lmax));
        Assert.That(at.Status, Is.EqualTo(TvLpStatus.Optimal));
        Assert.That(LpReference.D(problem.Shape, at.G).Sum(Math.Abs), Is.LessThanOrEqualTo(1e-6 * problem.B.Sum(Math.Abs) / S2));
        var above = TvLpSolver.Solve(problem.WithBound(2 * lmax));
        Assert.That(LpReference.D(problem.Shape, above.G).Sum(Math.Abs), Is.LessThanOrEqualTo(1e-6 * problem.B.Sum(Math.Abs) / S2));
        // Just below L_max a constant g is infeasible, so the optimum has positive TV (L_max is the smallest such L).
        var below = TvLpSolver.Solve(problem.WithBound(0.95 * lmax));
        AssertCertified(below.Problem, below, Tol);
        Assert.That(below.Certificate.PrimalObjective, Is.GreaterThan(1e-3));
    }

    [Test]
    public void Path_WarmStarted_IsCertifiedAndMonotoneInL()
    {
        var problem = Problem(28, 28, seed: 3, structured: true, boundFraction: 0, out _);
        double lmax = TvLpSolver.MaxBound(problem);
        double[] fractions = [0.05, 1.0, 0.5, 0.2, 0.1];
        var path = TvLpSolver.SolvePath(problem, fractions.Select(f => f * lmax).ToArray());
        for (int i = 0; i < path.Length; i++)
        {
            Assert.That(path[i].Problem.Bound, Is.EqualTo(fractions[i] * lmax), "results follow the input order");
            AssertCertified(path[i].Problem, path[i], Tol);
        }
        // The feasible set grows with L, so the optimal TV cannot increase with L.
        var byL = path.OrderBy(s => s.Problem.Bound).Select(s => s.Certificate.PrimalObjective).ToArray();
        for (int i = 1; i < byL.Length; i++) Assert.That(byL[i], Is.LessThanOrEqualTo(byL[i - 1] * (1 + 2e-6)));
    }

    [Test]
    public void WarmStart_FromTheSolution_StopsAtTheFirstCheck()
    {
        var problem = Problem(37, 23, seed: 2, structured: true, boundFraction: 0.1, out _);
        var s = TvLpSolver.Solve(problem);
        var again = TvLpSolver.Solve(problem, warmStart: s.AsWarmStart());
        Assert.That(again.Status, Is.EqualTo(TvLpStatus.Optimal));
        Assert.That(again.Iterations, Is.EqualTo(0));
        Assert.That(again.Certificate.PrimalObjective, Is.EqualTo(s.Certificate.PrimalObjective).Within(1e-12).Percent);
    }

    [Test]
    public void Batch_ChannelsTimesBounds_MatchesSingleSolves()
    {
        var problems = new List<TvLpProblem>();
        for (int channel = 0; channel < 3; channel++)
            foreach (double f in new[] { 0.1, 0.3 })
                problems.Add(Problem(20, 24, seed: 100 + channel, structured: channel != 1, f, out _));
        var batch = TvLpSolver.SolveBatch(problems);
        for (int i = 0; i < problems.Count; i++)
        {
            AssertCertified(problems[i], batch[i], Tol);
            var single = TvLpSolver.Solve(problems[i]);
            Assert.That(batch[i].G, Is.EqualTo(single.G), "batched and single solves run the same deterministic iteration");
        }
    }

    [Test]
    public void Paths_ForSeveralChannels_AreEachCertified()
    {
        var problems = Enumerable.Range(0, 3).Select(c => Problem(16, 16, seed: 40 + c, structured: true, 0, out _)).ToArray();
        double[] bounds = [0.05, 0.02];
        var paths = TvLpSolver.SolvePaths(problems, bounds);
        Assert.That(paths, Has.Length.EqualTo(3));
        foreach (var path in paths)
            foreach (var s in path) AssertCertified(s.Problem, s, Tol);
    }

    [Test]
    public void IterationCap_IsReportedNotSilent()
    {
        var problem = Problem(28, 28, seed: 1, structured: true, 0.1, out _);
        var s = TvLpSolver.Solve(problem, new TvLpOptions { MaxIterations = 10, CheckInterval = 5 });
        Assert.That(s.Status, Is.EqualTo(TvLpStatus.IterationLimit));
        Assert.That(s.Iterations, Is.EqualTo(10));
        Assert.That(s.Certificate.Within(Tol), Is.False);
    }

    [TestCase(true, false, false, false)]
    [TestCase(true, false, false, true)]
    [TestCase(false, false, false, false)]
    [TestCase(false, true, false, false)]
    [TestCase(false, false, true, false)]
    [TestCase(false, true, true, true)]
    [TestCase(false, false, true, true)]
    public void EveryEnhancementCombination_ReachesACertifiedOptimum(bool halpern, bool adaptiveStep, bool average, bool precondition)
    {
        var problem = Problem(24, 20, seed: 9, structured: true, 0.1, out _);
        var s = TvLpSolver.Solve(problem, new TvLpOptions
        {
            HalpernReflection = halpern, AdaptiveStepSize = adaptiveStep, RestartToAverage = average, DiagonalPreconditioning = precondition,
        });
        AssertCertified(problem, s, Tol);
    }

    [Test]
    public void TargetMean_FixesTheConstant_WithoutChangingTheObjective()
    {
        var problem = Problem(20, 20, seed: 4, structured: true, 0.1, out _);
        var a = TvLpSolver.Solve(problem, new TvLpOptions { TargetMean = 0 });
        var b = TvLpSolver.Solve(problem, new TvLpOptions { TargetMean = -2.5 });
        Assert.That(a.G.Average(), Is.EqualTo(0).Within(1e-12));
        Assert.That(b.G.Average(), Is.EqualTo(-2.5).Within(1e-12));
        for (int j = 0; j < a.G.Length; j++) Assert.That(b.G[j] - a.G[j], Is.EqualTo(-2.5).Within(1e-9));
    }
}
