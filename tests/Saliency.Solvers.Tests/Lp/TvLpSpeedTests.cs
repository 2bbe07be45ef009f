using NUnit.Framework;
using Saliency.Kernels.Ops.PrimalDual;
using Saliency.Linalg.Grid;
using Saliency.Solvers.Lp;

namespace Saliency.Solvers.Tests.Lp;

/// <summary>
/// The 224² speed work: the float step against the double one (itself checked against the textbook formulas), the float
/// iteration's double certificate, the dual projection and the multilevel start — each against an oracle, and every
/// solve's certificate recomputed with the test's own D and objectives.
/// </summary>
[TestFixture]
internal class TvLpSpeedTests
{
    private const double S2 = 0.1;
    private const double Tol = 1e-6;

    /// <summary>Everything this work added, switched off: the reference solve.</summary>
    private static readonly TvLpOptions Plain = new()
    {
        SinglePrecisionIterations = false, DualProjection = false, Multilevel = false, FixedPointRestarts = false,
    };

    [TestCase(7, 9, true)]
    [TestCase(1, 6, false)]
    [TestCase(6, 1, true)]
    [TestCase(2, 2, false)]
    [TestCase(17, 23, true)]
    [TestCase(40, 37, false)]
    public void SingleStep_MatchesTheDoubleStep(int rows, int cols, bool halpern)
    {
        int p = rows * cols, m = PrimalDualTvStep.EdgeCount(rows, cols);
        var rng = new Random(rows * 97 + cols);
        // Values exactly representable in float, so both kernels start from the same point.
        double[] Rand(int n, double scale) => Enumerable.Range(0, n).Select(_ => (double)(float)(scale * (rng.NextDouble() * 2 - 1))).ToArray();
        float[] F(double[] a) => a.Select(v => (float)v).ToArray();
        var (x, y, b, x0, y0) = (Rand(p, 3), Rand(m, 2), Rand(m, 1), Rand(p, 3), Rand(m, 2));
        const double tau = 0.3125, sigma = 0.28125, bound = 0.25, invS2 = 8, weight = 0.875;
        var (xs, ys) = (F(x), F(y));
        PrimalDualStepStats statsD = default, statsS = default;
        if (halpern)
        {
            PrimalDualTvStep.HalpernStep(rows, cols, x, y, b, x0, y0, weight, tau, sigma, bound, invS2, [], new double[5 * cols]);
            PrimalDualTvStepSingle.HalpernStep(rows, cols, xs, ys, F(b), F(x0), F(y0), (float)weight, (float)tau, (float)sigma,
                (float)bound, (float)invS2, new float[PrimalDualTvStepSingle.ScratchLength(cols)]);
        }
        else
        {
            var (xo, yo, xso, yso) = (new double[p], new double[m], new float[p], new float[m]);
            PrimalDualTvStep.Step(rows, cols, x, y, b, xo, yo, tau, sigma, bound, invS2, [], [], [], 0, new double[5 * cols], true, out statsD);
            PrimalDualTvStepSingle.Step(rows, cols, xs, ys, F(b), xso, yso, (float)tau, (float)sigma, (float)bound, (float)invS2,
                new float[PrimalDualTvStepSingle.ScratchLength(cols)], true, out statsS);
            (x, y, xs, ys) = (xo, yo, xso, yso);
            Assert.That(statsS.PrimalMoveSquared, Is.EqualTo(statsD.PrimalMoveSquared).Within(1e-5).Percent);
            Assert.That(statsS.DualMoveSquared, Is.EqualTo(statsD.DualMoveSquared).Within(1e-5).Percent);
            Assert.That(statsS.Interaction, Is.EqualTo(statsD.Interaction).Within(1e-5 * (statsD.PrimalMoveSquared + statsD.DualMoveSquared)));
        }
        // Float rounding of a few operations on values of size ≤ 20: a few ulps.
        for (int j = 0; j < p; j++) Assert.That(xs[j], Is.EqualTo(x[j]).Within(2e-5 * (1 + Math.Abs(x[j]))), $"x[{j}]");
        for (int e = 0; e < m; e++) Assert.That(ys[e], Is.EqualTo(y[e]).Within(2e-5 * (1 + Math.Abs(y[e]))), $"y[{e}]");
    }

    [Test]
    public void SingleStep_ShortBuffers_Throw()
    {
        var scratch = new float[PrimalDualTvStepSingle.ScratchLength(4)];
        Assert.Throws<ArgumentException>(() => PrimalDualTvStepSingle.Step(4, 4, new float[15], new float[24], new float[24],
            new float[16], new float[24], 0.1f, 0.1f, 0.1f, 1f, scratch, false, out _));
        Assert.Throws<ArgumentException>(() => PrimalDualTvStepSingle.HalpernStep(4, 4, new float[16], new float[24], new float[24],
            new float[16], new float[24], 0.5f, 0.1f, 0.1f, 0.1f, 1f, new float[3]));
    }

    [TestCase(17, 23, 2, true)]
    [TestCase(17, 23, 3, false)]
    [TestCase(40, 13, 5, true)]
    [TestCase(64, 70, 2, false)]
    [TestCase(64, 70, 3, true)]
    [TestCase(5, 8, 2, false)]
    [TestCase(6, 1, 3, true)]
    [TestCase(3, 7, 9, false)]
    public void SingleStep_RowBlocks_GiveExactlyTheOneSweepStep(int rows, int cols, int blocks, bool halpern)
    {
        // Oracle: the one-sweep float step (itself checked against the double step above). Every entry and every row's
        // statistics are computed by the same float arithmetic in either partition and the rows summed in the same
        // order, so x⁺, y⁺ and the statistics must agree bit for bit (the driver's restarts read the statistics).
        int p = rows * cols, m = PrimalDualTvStep.EdgeCount(rows, cols);
        var rng = new Random(rows * 53 + cols + blocks);
        float[] Rand(int n, double scale) => Enumerable.Range(0, n).Select(_ => (float)(scale * (rng.NextDouble() * 2 - 1))).ToArray();
        var (x, y, b, x0, y0) = (Rand(p, 3), Rand(m, 2), Rand(m, 1), Rand(p, 3), Rand(m, 2));
        const float tau = 0.31f, sigma = 0.27f, bound = 0.2f, invS2 = 10f, weight = 0.83f;
        var oneScratch = new float[PrimalDualTvStepSingle.ScratchLength(cols)];
        var manyScratch = new float[PrimalDualTvStepSingle.ScratchLength(rows, cols, blocks)];
        if (halpern)
        {
            var (x1, y1, xk, yk) = ((float[])x.Clone(), (float[])y.Clone(), (float[])x.Clone(), (float[])y.Clone());
            PrimalDualTvStepSingle.HalpernStep(rows, cols, x1, y1, b, x0, y0, weight, tau, sigma, bound, invS2, oneScratch);
            PrimalDualTvStepSingle.HalpernStep(rows, cols, xk, yk, b, x0, y0, weight, tau, sigma, bound, invS2, manyScratch, blocks);
            Assert.That(xk, Is.EqualTo(x1).AsCollection);
            Assert.That(yk, Is.EqualTo(y1).AsCollection);
            return;
        }
        var (xo1, yo1, xoK, yoK) = (new float[p], new float[m], new float[p], new float[m]);
        PrimalDualTvStepSingle.Step(rows, cols, x, y, b, xo1, yo1, tau, sigma, bound, invS2, oneScratch, true, out var one);
        PrimalDualTvStepSingle.Step(rows, cols, x, y, b, xoK, yoK, tau, sigma, bound, invS2, manyScratch, true, out var many, blocks);
        Assert.That(xoK, Is.EqualTo(xo1).AsCollection);
        Assert.That(yoK, Is.EqualTo(yo1).AsCollection);
        Assert.That(many.PrimalMoveSquared, Is.EqualTo(one.PrimalMoveSquared));
        Assert.That(many.DualMoveSquared, Is.EqualTo(one.DualMoveSquared));
        Assert.That(many.Interaction, Is.EqualTo(one.Interaction));
        Assert.That(one.DualMoveSquared, Is.GreaterThan(0), "the statistics were computed");
    }

    [Test]
    public void SingleStep_ScratchTooShortForItsRowBlocks_Throws()
    {
        int rows = 8, cols = 5, p = rows * cols, m = PrimalDualTvStep.EdgeCount(rows, cols);
        var shortScratch = new float[PrimalDualTvStepSingle.ScratchLength(rows, cols, 2) - 1];
        Assert.Throws<ArgumentException>(() => PrimalDualTvStepSingle.Step(rows, cols, new float[p], new float[m], new float[m],
            new float[p], new float[m], 0.1f, 0.1f, 0.1f, 1f, shortScratch, true, out _, rowBlocks: 2));
    }

    [Test]
    public void RowBlocksAndSharedBatchCores_DoNotChangeTheSolutions()
    {
        // Oracle: each LP solved alone on one thread. Row blocks (from 128² pixels) and a batch whose finished workers
        // lend their cores to the LPs still running (2 cores, 2 workers: the third LP waits in the queue) must give the
        // same iterates, hence bit-identical solutions. The iteration cap keeps the test short (the comparison covers
        // float Halpern steps, plain steps before checks, checks and restarts; certification is tested above).
        var shape = new GridShape(128, 128);
        var problems = Enumerable.Range(0, 3).Select(k => Problem(shape, 40 + k, structured: true, 0.1)).ToArray();
        // Per-problem target means (LEG's per-channel mean) too: the batch's must equal each solve's own TargetMean.
        double[] means = [0.25, -1.5, 2.0];
        var capped = new TvLpOptions { MaxIterations = 1000 + 64 * 4 };
        var alone = problems.Select((q, k) => TvLpSolver.Solve(q, capped with { StepThreads = 1, TargetMean = means[k] })).ToArray();
        var blocked = TvLpSolver.Solve(problems[0], capped with { StepThreads = 2, TimedStepThreads = false, TargetMean = means[0] });
        var batch = TvLpSolver.SolveBatch(problems, capped with { MaxDegreeOfParallelism = 2, StepThreads = 1 }, targetMeans: means);
        foreach (var (s, reference) in alone.Zip(batch).Select(t => (t.Second, t.First)).Prepend((blocked, alone[0])))
        {
            Assert.That(s.Iterations, Is.EqualTo(reference.Iterations));
            Assert.That(s.Restarts, Is.EqualTo(reference.Restarts));
            Assert.That(s.G, Is.EqualTo(reference.G).AsCollection);
            Assert.That(s.U, Is.EqualTo(reference.U).AsCollection);
            Assert.That(s.V, Is.EqualTo(reference.V).AsCollection);
        }
        Assert.That(alone.Sum(a => a.Restarts), Is.GreaterThan(0), "the cap leaves room for restarts");
        for (int k = 0; k < problems.Length; k++) Assert.That(batch[k].G.Average(), Is.EqualTo(means[k]).Within(1e-12));
    }

    [Test]
    public void StepThreadTuner_TimesTheSplitThenOneThread_ThenPicksOneOfThem()
    {
        // The first two windows are fixed (split, then one thread, to time both); later ones depend on timings, so
        // only their range is checked. A candidate of 1 is never split.
        var tuner = new StepThreadTuner();
        var first = Enumerable.Range(0, StepThreadTuner.Window).Select(_ => tuner.Next(3)).ToArray();
        var second = Enumerable.Range(0, StepThreadTuner.Window).Select(_ => tuner.Next(3)).ToArray();
        Assert.That(first, Is.All.EqualTo(3));
        Assert.That(second, Is.All.EqualTo(1));
        var later = Enumerable.Range(0, 40 * StepThreadTuner.Window).Select(_ => tuner.Next(3)).ToArray();
        Assert.That(later, Is.All.EqualTo(1).Or.EqualTo(3));
        // A window is one mode throughout.
        for (int w = 0; w < 40; w++) Assert.That(later.Skip(w * StepThreadTuner.Window).Take(StepThreadTuner.Window).Distinct().Count(), Is.EqualTo(1));
        Assert.That(tuner.Next(1), Is.EqualTo(1));
    }

    [Test]
    public void CoreShare_GivesTheIdleWorkersCores_ToTheBusyOnes()
    {
        var share = new TvLpCoreShare(2);
        Assert.That(share.RowBlocks(), Is.EqualTo(2), "before any worker starts");
        share.Enter();
        share.Enter();
        Assert.That(share.RowBlocks(), Is.EqualTo(1));
        share.Leave();
        Assert.That(share.RowBlocks(), Is.EqualTo(2), "one worker left: the other gets both cores");
        share.Enter();
        share.Enter();
        Assert.That(share.RowBlocks(), Is.EqualTo(1), "3 LPs time-sliced on 2 cores");
        var three = new TvLpCoreShare(3);
        three.Enter();
        three.Enter();
        Assert.That(three.RowBlocks(), Is.EqualTo(1), "3 cores over 2 LPs: rounded down");
    }

    private static TvLpProblem Problem(GridShape shape, int seed, bool structured, double fraction)
    {
        var (b, _) = LpReference.Instance(shape, seed, structured, S2);
        return TvLpProblem.ForPaperCovariance(shape, b, fraction * b.Max(Math.Abs), S2);
    }

    private static (double Gap, double Rp, double Rd, double P, double Dual) Recomputed(TvLpProblem problem, TvLpSolution s)
    {
        var shape = problem.Shape;
        return LpReference.Certificate(shape, problem.B, problem.Bound,
            g => LpReference.D(shape, g).Select(v => S2 * v).ToArray(),
            v => LpReference.DT(shape, v).Select(t => S2 * t).ToArray(), s.G, s.U, s.V);
    }

    private static void AssertCertifiedLike(TvLpProblem problem, TvLpSolution s, TvLpSolution reference)
    {
        Assert.That(s.Status, Is.EqualTo(TvLpStatus.Optimal));
        var mine = Recomputed(problem, s);
        Assert.That(mine.Gap, Is.LessThanOrEqualTo(Tol), "recomputed gap");
        Assert.That(mine.Rp, Is.LessThanOrEqualTo(Tol), "recomputed primal residual");
        Assert.That(mine.Rd, Is.LessThanOrEqualTo(Tol), "recomputed dual residual");
        // Both are 1e-6-optimal: their objectives agree to about 1e-6 relative.
        Assert.That(mine.P, Is.EqualTo(reference.Certificate.PrimalObjective).Within(1e-3).Percent.Or.EqualTo(reference.Certificate.PrimalObjective).Within(1e-8));
    }

    [TestCase(64, 64, true, 0.1)]
    [TestCase(37, 23, false, 0.3)]
    [TestCase(28, 28, true, 0.05)]
    public void SinglePrecisionIterations_EndWithADoubleCertificateWithinTolerance(int rows, int cols, bool structured, double fraction)
    {
        var problem = Problem(new GridShape(rows, cols), rows * 7 + cols, structured, fraction);
        var reference = TvLpSolver.Solve(problem, Plain);
        var single = TvLpSolver.Solve(problem, Plain with { SinglePrecisionIterations = true });
        AssertCertifiedLike(problem, single, reference);
        // The returned vectors are double and not all float-representable (the certificate is of these, not of floats).
        Assert.That(single.U.Concat(single.G).Any(v => v != (float)v), Is.True);
    }

    [Test]
    public void SinglePrecision_WithStalledFloat_SwitchesToDoubleAndStillCertifies()
    {
        // A tolerance below float's reach (about 1e-7 relative here) forces the switch to double iterations.
        var problem = Problem(new GridShape(24, 24), 5, structured: true, 0.1);
        var s = TvLpSolver.Solve(problem, Plain with { SinglePrecisionIterations = true, RelativeTolerance = 1e-9 });
        Assert.That(s.Status, Is.EqualTo(TvLpStatus.Optimal));
        var mine = Recomputed(problem, s);
        Assert.That(Math.Max(mine.Gap, Math.Max(mine.Rp, mine.Rd)), Is.LessThanOrEqualTo(1e-9));
    }

    [TestCase(40, 56)]
    [TestCase(9, 13)]
    public void DualProjection_RemovesTheDualResidual_AndIsAProjection(int rows, int cols)
    {
        var problem = Problem(new GridShape(rows, cols), 3, structured: true, 0.1);
        var form = new StencilTvLpForm(problem);
        var rng = new Random(rows + cols);
        var y = Enumerable.Range(0, problem.Shape.DifferenceCount).Select(_ => rng.NextDouble() * 4 - 2).ToArray();
        var projected = new double[y.Length];
        Assert.That(form.TryProjectDual(y, projected), Is.True);
        // Dᵀy' = 0 (the test's own Dᵀ).
        Assert.That(LpReference.Norm2(LpReference.DT(problem.Shape, projected)), Is.LessThan(1e-10 * LpReference.Norm2(y)));
        // Orthogonal projection: y − y' ∈ range(D) ⟂ null(Dᵀ) ∋ y', so ⟨y − y', y'⟩ = 0, and projecting again changes nothing.
        double inner = y.Select((v, e) => (v - projected[e]) * projected[e]).Sum();
        Assert.That(Math.Abs(inner), Is.LessThan(1e-9 * y.Sum(v => v * v)));
        var twice = new double[y.Length];
        form.TryProjectDual(projected, twice);
        for (int e = 0; e < y.Length; e++) Assert.That(twice[e], Is.EqualTo(projected[e]).Within(1e-10));
    }

    [TestCase(64, 64)]
    [TestCase(30, 50)]
    public void DualProjection_DoesNotLoosenTheCertificate(int rows, int cols)
    {
        var problem = Problem(new GridShape(rows, cols), rows + 2 * cols, structured: true, 0.1);
        var reference = TvLpSolver.Solve(problem, Plain);
        var polished = TvLpSolver.Solve(problem, Plain with { DualProjection = true });
        AssertCertifiedLike(problem, polished, reference);
    }

    /// <summary>An upsampled instance: h constant on f×f blocks of a coarse random field (LEG's nearest upsampling).</summary>
    private static (TvLpProblem Problem, double[] Coarse) Upsampled(int coarseSide, int factor, int seed)
    {
        var coarseShape = new GridShape(coarseSide, coarseSide);
        var (_, hc) = LpReference.Instance(coarseShape, seed, structured: true, S2);
        int n = coarseSide * factor;
        var shape = new GridShape(n, n);
        var h = new double[shape.Count];
        for (int r = 0; r < n; r++)
            for (int c = 0; c < n; c++)
                h[r * n + c] = hc[(r / factor) * coarseSide + c / factor];
        var b = LpReference.D(shape, h);
        return (TvLpProblem.ForPaperCovariance(shape, b, 0.1 * b.Max(Math.Abs), S2), hc);
    }

    [Test]
    public void Coarsen_OfABlockConstantField_IsTheCoarseFieldsLp()
    {
        // h constant on 2×2 blocks: the restricted b must be D_c h_c exactly (h_c = the coarse field).
        var (problem, _) = Upsampled(30, 2, 11);
        var coarse = TvLpMultilevel.Coarsen(problem)!;
        Assert.That(coarse, Is.Not.Null);
        Assert.That(coarse.Shape, Is.EqualTo(new GridShape(30, 30)));
        Assert.That(coarse.Bound, Is.EqualTo(problem.Bound));
        var (_, hc) = LpReference.Instance(new GridShape(30, 30), 11, structured: true, S2);
        var expected = LpReference.D(coarse.Shape, hc);
        for (int e = 0; e < expected.Length; e++) Assert.That(coarse.B[e], Is.EqualTo(expected[e]).Within(1e-12));
    }

    [Test]
    public void Coarsen_RefusesOddSmallAndOperatorForms()
    {
        Assert.That(TvLpMultilevel.Coarsen(Problem(new GridShape(57, 64), 1, true, 0.1)), Is.Null, "odd side");
        Assert.That(TvLpMultilevel.Coarsen(Problem(new GridShape(54, 64), 1, true, 0.1)), Is.Null, "coarse side below 28");
        var shape = new GridShape(56, 56);
        var (b, _) = LpReference.Instance(shape, 1, true, S2);
        var op = TvLpProblem.ForOperator(shape, b, 0.1, new ScaledDifferenceOperator(shape, S2));
        Assert.That(TvLpMultilevel.Coarsen(op), Is.Null, "operator form");
        Assert.That(TvLpMultilevel.Coarsen(TvLpProblem.ForPaperCovariance(shape, b, 0.1, S2)), Is.Null, "pixel-level noise: not exact");
        Assert.That(TvLpMultilevel.Coarsen(Upsampled(28, 2, 1).Problem), Is.Not.Null, "block-constant: exact");
    }

    [Test]
    public void Prolong_CopiesGToBlocks_DoublesTheObjective_AndHasNoDualResidual()
    {
        var (problem, _) = Upsampled(28, 2, 4);
        var coarse = TvLpMultilevel.Coarsen(problem)!;
        var cs = TvLpSolver.Solve(coarse, Plain);
        var start = TvLpMultilevel.Prolong(problem, cs);
        var shape = problem.Shape;
        for (int r = 0; r < shape.Rows; r++)
            for (int c = 0; c < shape.Cols; c++)
                Assert.That(start.G[r * shape.Cols + c], Is.EqualTo(cs.G[(r / 2) * coarse.Shape.Cols + c / 2]));
        // Each coarse edge becomes two fine edges with the same jump, block interiors have none: TV doubles, and the
        // constraint violation of the block-constant b grows by exactly √2.
        double tvFine = LpReference.D(shape, start.G).Sum(Math.Abs), tvCoarse = LpReference.D(coarse.Shape, cs.G).Sum(Math.Abs);
        Assert.That(tvFine, Is.EqualTo(2 * tvCoarse).Within(1e-9).Percent);
        var kg = LpReference.D(shape, start.G);
        double violation = LpReference.Norm2(problem.B.Select((bi, e) => Math.Max(Math.Abs(bi - S2 * kg[e]) - problem.Bound, 0)));
        var kgc = LpReference.D(coarse.Shape, cs.G);
        double violationCoarse = LpReference.Norm2(coarse.B.Select((bi, e) => Math.Max(Math.Abs(bi - S2 * kgc[e]) - coarse.Bound, 0)));
        Assert.That(violation, Is.EqualTo(Math.Sqrt(2) * violationCoarse).Within(1e-12 + 1e-9 * violationCoarse));
        // The start's dual y = U + s²V is divergence-free.
        var y = start.U.Select((u, e) => u + S2 * start.V[e]).ToArray();
        Assert.That(LpReference.Norm2(LpReference.DT(shape, y)), Is.LessThan(1e-9 * LpReference.Norm2(y)));
    }

    [TestCase(28, 2)]
    [TestCase(14, 8)]
    public void Multilevel_IsOnlyAStart_TheFineSolveIsCertified(int coarseSide, int factor)
    {
        var (problem, _) = Upsampled(coarseSide, factor, 9);
        var reference = TvLpSolver.Solve(problem, Plain);
        var multilevel = TvLpSolver.Solve(problem, Plain with { Multilevel = true });
        AssertCertifiedLike(problem, multilevel, reference);
    }

    [Test]
    public void Defaults_OnANoisyGrid_AreCertifiedAndAgreeWithThePlainSolve()
    {
        var problem = Problem(new GridShape(64, 64), 21, structured: true, 0.1);
        AssertCertifiedLike(problem, TvLpSolver.Solve(problem), TvLpSolver.Solve(problem, Plain));
    }
}
