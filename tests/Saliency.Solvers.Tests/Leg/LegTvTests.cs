using NUnit.Framework;
using Saliency.Linalg.Covariance;
using Saliency.Linalg.Grid;
using Saliency.Solvers.Leg;
using Saliency.Solvers.Lp;

namespace Saliency.Solvers.Tests.Leg;

[TestFixture]
internal class LegTvTests
{
    private static double PrecisionAtSupportSize(ReadOnlySpan<double> map, HashSet<int> support)
    {
        var values = map.ToArray();
        var top = Enumerable.Range(0, values.Length).OrderByDescending(k => values[k]).ThenBy(k => k).Take(support.Count);
        return top.Count(support.Contains) / (double)support.Count;
    }

    /// <summary>
    /// Theorem 1's point: for a piecewise-constant gradient, LEG-TV (default K_L = 0.1) locates the support with
    /// fewer model evaluations than empirical LEG. f(x) = aᵀx on a 16×16 grid, a = 1 on a 5×5 block and 0 elsewhere;
    /// support recovery = fraction of the 25 largest map entries that lie on the block, averaged over 10 seeds.
    /// Asserted: LEG-TV is at least as good at every n; LEG-TV reaches 0.9 at n = 200 while empirical LEG does not
    /// (it needs n = 400), and both reach it by n = 400 (the estimates are consistent).
    /// </summary>
    [Test]
    public void LegTv_RecoversPiecewiseConstantSupport_WithFewerSamplesThanEmpiricalLeg()
    {
        const int size = 16, seeds = 10;
        var grid = new GridShape(size, size);
        var a = new double[size * size];
        for (int r = 4; r < 9; r++)
            for (int c = 6; c < 11; c++)
                a[r * size + c] = 1;
        var support = Enumerable.Range(0, a.Length).Where(k => a[k] != 0).ToHashSet();
        var f = new LinearFunction(1, size, size, a);

        int[] sizes = [100, 200, 400];
        var empirical = new double[sizes.Length];
        var tv = new double[sizes.Length];
        for (int s = 0; s < sizes.Length; s++)
        {
            for (int seed = 0; seed < seeds; seed++)
            {
                var moments = LegEstimator.EstimateMoments(f, new float[a.Length],
                    new LegOptions { Grid = grid, NoiseVariance = 0.1, SampleCount = sizes[s], Seed = (ulong)seed });
                empirical[s] += PrecisionAtSupportSize(LegEstimator.EmpiricalLeg(moments).Map, support) / seeds;
                var legTv = LegEstimator.LegTv(moments);
                Assert.That(legTv.Solutions![0].Status, Is.EqualTo(TvLpStatus.Optimal));
                tv[s] += PrecisionAtSupportSize(legTv.Map, support) / seeds;
            }
        }
        string report = string.Join("; ", sizes.Select((n, s) => $"n={n}: empirical {empirical[s]:F3}, LEG-TV {tv[s]:F3}"));
        TestContext.Out.WriteLine(report);
        for (int s = 0; s < sizes.Length; s++)
            Assert.That(tv[s], Is.GreaterThanOrEqualTo(empirical[s]), report);
        Assert.That(tv[1], Is.GreaterThanOrEqualTo(0.9), report);
        Assert.That(empirical[1], Is.LessThan(0.9), report);
        Assert.That(empirical[2], Is.GreaterThanOrEqualTo(0.9), report);
    }

    [Test]
    public void LegTv_AtOrAboveLmax_IsTheConstantMeanOfEmpiricalLeg()
    {
        // L ≥ L_max ⇒ zero total variation; the free constant is fixed to the mean of the empirical LEG.
        var grid = new GridShape(6, 5);
        var rng = new Random(4);
        var a = Enumerable.Range(0, 3 * 30).Select(_ => rng.NextDouble()).ToArray();
        var f = new LinearFunction(3, 6, 5, a);
        var moments = LegEstimator.EstimateMoments(f, new float[90], new LegOptions { Grid = grid, SampleCount = 300, Seed = 1 });
        var empirical = LegEstimator.EmpiricalLeg(moments);
        var result = LegEstimator.LegTv(moments, new LegTvOptions { BoundFactor = 1.0 });
        for (int c = 0; c < 3; c++)
        {
            double mean = empirical.Channel(c).ToArray().Average();
            Assert.That(result.Channel(c).ToArray(), Is.All.EqualTo(mean).Within(1e-5 * (1 + Math.Abs(mean))));
            Assert.That(result.Solutions![c].Certificate.PrimalObjective, Is.LessThan(1e-6));
        }
        var expectedMap = new double[30];
        for (int c = 0; c < 3; c++)
            for (int k = 0; k < 30; k++) expectedMap[k] += Math.Abs(result.Channel(c)[k]);
        Assert.That(result.Map, Is.EqualTo(expectedMap).Within(1e-12));
    }

    [Test]
    public void LegTv_WithGeneralCovariance_UsesOperatorForm_AndIsCertified()
    {
        // Isotropic Σ: K = D⁺ᵀΣ = σ²D⁺ᵀ (operator form). Small L: the solution must satisfy ‖b − Kg‖∞ ≤ L.
        var grid = new GridShape(5, 5);
        var cov = new IsotropicCovariance(grid, 0.2);
        var rng = new Random(8);
        var f = new LinearFunction(1, 5, 5, Enumerable.Range(0, 25).Select(_ => rng.NextDouble()).ToArray());
        var moments = LegEstimator.EstimateMoments(f, new float[25], new LegOptions { Grid = grid, Covariance = cov, SampleCount = 500, Seed = 2 });
        var result = LegEstimator.LegTv(moments, new LegTvOptions { BoundRule = LegTvBoundRule.Fixed, Bound = 0.01 });
        var solution = result.Solutions![0];
        Assert.That(solution.Problem.IsStencilForm, Is.False);
        Assert.That(solution.Status, Is.EqualTo(TvLpStatus.Optimal));

        // Independent feasibility check: b = D⁺ᵀy, K g = D⁺ᵀ Σ g computed through the Linalg operators.
        var b = new double[grid.DifferenceCount];
        NeumannLaplacian.For(grid).ApplyDPseudoInverseTranspose(moments.Channel(0), b);
        var kg = new double[grid.DifferenceCount];
        cov.ApplyDPseudoInverseTransposeSigma(result.Channel(0), kg);
        double violation = b.Zip(kg, (x, y) => Math.Abs(x - y)).Max() - 0.01;
        Assert.That(violation, Is.LessThan(1e-5));
    }

    [Test]
    public void LegTvPath_TotalVariationFallsWithL_AndMatchesSingleSolves()
    {
        var grid = new GridShape(8, 8);
        var a = new double[128];
        for (int r = 2; r < 5; r++) for (int c = 3; c < 7; c++) { a[r * 8 + c] = 1; a[64 + r * 8 + c] = -0.5; }
        var f = new LinearFunction(2, 8, 8, a);
        var moments = LegEstimator.EstimateMoments(f, new float[128], new LegOptions { Grid = grid, SampleCount = 300, Seed = 5 });
        double[] factors = [0.05, 0.3, 0.1, 1.0];
        var path = LegEstimator.LegTvPath(moments, factors);
        Assert.That(path, Has.Length.EqualTo(4));
        for (int c = 0; c < 2; c++)
        {
            // TV objective ‖Dg‖₁ is non-increasing in L (the feasible set grows); zero at L = L_max.
            var tvByFactor = factors.Select((k, j) => (k, path[j].Solutions![c].Certificate.PrimalObjective)).OrderBy(t => t.k).ToArray();
            for (int j = 1; j < tvByFactor.Length; j++)
                Assert.That(tvByFactor[j].PrimalObjective, Is.LessThanOrEqualTo(tvByFactor[j - 1].PrimalObjective * (1 + 1e-5) + 1e-9));
            Assert.That(path[3].Solutions![c].Certificate.PrimalObjective, Is.LessThan(1e-6));
        }
        // The warm-started path point at K_L = 0.1 equals a cold single solve at the same L (LP optimum is unique in value).
        var single = LegEstimator.LegTv(moments, new LegTvOptions { BoundFactor = 0.1 });
        for (int c = 0; c < 2; c++)
        {
            Assert.That(path[2].Bounds![c], Is.EqualTo(single.Bounds![c]).Within(1e-15));
            double expected = single.Solutions![c].Certificate.PrimalObjective;
            Assert.That(path[2].Solutions![c].Certificate.PrimalObjective, Is.EqualTo(expected).Within(1e-4 * (1 + expected)));
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => LegEstimator.LegTvPath(moments, [0.1, -1]));
    }

    [Test]
    public void TheoreticalBound_FollowsItsFormula()
    {
        var grid = new GridShape(7, 6);
        double norm = NeumannLaplacian.For(grid).DPseudoInverseL1Norm(out bool exact);
        Assert.That(exact, Is.True);
        double expected = Math.Sqrt(2 * norm * Math.Log(42 / 0.05) / 1000);
        Assert.That(LegEstimator.TheoreticalBound(grid, 1000, 0.05), Is.EqualTo(expected).Within(1e-14));
        Assert.That(LegEstimator.TheoreticalBound(grid, 4000, 0.05), Is.EqualTo(expected / 2).Within(1e-14));
    }
    [Test]
    public void ATargetMeanThatLegTvWouldReplaceIsRejected()
    {
        var grid = new GridShape(4, 4);
        var f = new LinearFunction(1, 4, 4, Enumerable.Range(0, 16).Select(i => (double)i).ToArray());
        var moments = LegEstimator.EstimateMoments(f, new float[16], new LegOptions { Grid = grid, SampleCount = 40, Seed = 3 });
        var solver = new TvLpOptions { TargetMean = 0.5 };
        Assert.Throws<ArgumentOutOfRangeException>(() => LegEstimator.LegTv(moments, new LegTvOptions { Solver = solver }));
        Assert.Throws<ArgumentOutOfRangeException>(() => LegEstimator.LegTvPath(moments, [0.1], solver));
        Assert.DoesNotThrow(() => LegEstimator.LegTv(moments, new LegTvOptions { Solver = new TvLpOptions() }));
    }
}
