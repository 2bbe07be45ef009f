using Saliency.Kernels.Backends;
using NUnit.Framework;
using Saliency.Linalg.Covariance;
using Saliency.Kernels.Ops;
using Saliency.Linalg.Grid;
using Saliency.Solvers.Leg;

namespace Saliency.Solvers.Tests.Leg;

[TestFixture]
internal class LegEstimatorTests
{
    private static double[] RandomVector(int n, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => 2 * rng.NextDouble() - 1).ToArray();
    }

    private static double Dot(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        double s = 0;
        for (int i = 0; i < x.Length; i++) s += x[i] * y[i];
        return s;
    }

    /// <summary>
    /// For linear f(x) = aᵀx the perturbation response on the grid is exact: ỹ = Σ_c γ_cᵀz_c with γ_c = Uᵀa_c (U the
    /// upsampling, channels drawn independently). Then γ̂_c − γ_c = Σ⁻¹((1/n)Σᵢ ỹᵢz_{i,c} − Σγ_c) and, for Gaussian z
    /// (Isserlis), E‖γ̂_c − γ_c‖² = (‖γ_c‖² + V · tr Σ⁻¹)/n exactly, with V = Σ_c' γ_c'ᵀΣγ_c' = Var ỹ (the other
    /// channels' share of ỹ is noise for channel c). The test checks the root-mean-square error over seeds against
    /// that prediction at n = 1e3, 1e4, 1e5 (within [0.7, 1.4]×; 4 seeds × 32 coordinates) and that the log-log slope
    /// of the error is −½ ± 0.1.
    /// </summary>
    [TestCase("tv")]
    [TestCase("isotropic")]
    public void EmpiricalLeg_OfLinearFunction_ConvergesLikeOneOverSqrtN(string kind)
    {
        var grid = new GridShape(4, 4);
        const int channels = 2, height = 8, width = 8; // nearest ×2
        var a = RandomVector(channels * height * width, 3);
        var f = new LinearFunction(channels, height, width, a);
        var x0 = new float[channels * height * width];
        ICovarianceOperator cov = kind == "tv" ? new TvCovariance(grid, 0.1) : new IsotropicCovariance(grid, 0.1);

        // γ_c = Uᵀa_c and the predicted mean squared error.
        var up = new PerturbationUpsampler(grid, height, width, UpsamplingMode.Nearest);
        int p = grid.Count;
        var gamma = new double[channels * p];
        double traceInverse = 0, normSquared = 0, varianceOfY = 0;
        var unit = new double[p];
        var col = new double[p];
        for (int k = 0; k < p; k++)
        {
            Array.Clear(unit);
            unit[k] = 1;
            cov.Solve(unit, col);
            traceInverse += col[k];
        }
        for (int c = 0; c < channels; c++)
        {
            var gc = gamma.AsSpan(c * p, p);
            up.ApplyTranspose(a.AsSpan(c * height * width, height * width).ToArray().AsSpan(), gc);
            var sg = new double[p];
            cov.Apply(gc, sg);
            normSquared += Dot(gc, gc);
            varianceOfY += Dot(gc, sg);
        }
        double predictedNumerator = normSquared + channels * varianceOfY * traceInverse;

        int[] sizes = [1_000, 10_000, 100_000];
        const int seeds = 4;
        var rms = new double[sizes.Length];
        for (int s = 0; s < sizes.Length; s++)
        {
            double sum = 0;
            for (int seed = 0; seed < seeds; seed++)
            {
                var options = new LegOptions { Grid = grid, Covariance = cov, SampleCount = sizes[s], BatchSize = 500, Seed = (ulong)(100 + seed) };
                var result = LegEstimator.EmpiricalLeg(LegEstimator.EstimateMoments(f, x0, options));
                for (int k = 0; k < gamma.Length; k++)
                    sum += Math.Pow(result.PerChannel[k] - gamma[k], 2);
            }
            rms[s] = Math.Sqrt(sum / seeds);
            double predicted = Math.Sqrt(predictedNumerator / sizes[s]);
            TestContext.Out.WriteLine($"n = {sizes[s]}: RMS error / predicted = {rms[s] / predicted:F3}");
            Assert.That(rms[s] / predicted, Is.InRange(0.7, 1.4), $"n = {sizes[s]}: RMS error {rms[s]:E3}, predicted {predicted:E3}");
        }

        // Least-squares slope of log(rms) against log(n).
        var lx = sizes.Select(n => Math.Log(n)).ToArray();
        var ly = rms.Select(r => Math.Log(r)).ToArray();
        double mx = lx.Average(), my = ly.Average();
        double slope = lx.Zip(ly, (x, y) => (x - mx) * (y - my)).Sum() / lx.Sum(x => (x - mx) * (x - mx));
        Assert.That(slope, Is.EqualTo(-0.5).Within(0.1), $"errors {string.Join(", ", rms.Select(r => r.ToString("E3")))}");
    }

    /// <summary>
    /// The default pipeline end to end: 3×224×224 input, 28×28 grid, nearest ×8 upsampling, paper covariance σ² = 0.1.
    /// For linear f the empirical LEG of channel c estimates Uᵀa_c (a summed over each 8×8 block) with the exact
    /// mean squared error (‖γ_c‖² + Var ỹ · tr Σ⁻¹)/n of the test above; checked at n = 400 within [0.7, 1.4]×
    /// (one seed; tr Σ⁻¹ is dominated by a few smooth modes, about 60 effective degrees of freedom over the three
    /// channels, so the ratio's standard deviation is ≈ 0.1), plus the channel-sum map and f(x₀).
    /// </summary>
    [Test]
    public void EmpiricalLeg_DefaultPipeline_224x224_MatchesPredictedError()
    {
        const int channels = 3, side = 224, n = 400;
        var a = RandomVector(channels * side * side, 17);
        for (int k = 0; k < a.Length; k++) a[k] *= 0.01;
        var f = new LinearFunction(channels, side, side, a);
        var x0 = Array.ConvertAll(RandomVector(a.Length, 18), v => (float)(0.5 + 0.5 * v));
        var options = new LegOptions { SampleCount = n, Seed = 11 };
        var moments = LegEstimator.EstimateMoments(f, x0, options);
        var result = LegEstimator.EmpiricalLeg(moments);

        var grid = new GridShape(28, 28);
        var cov = new TvCovariance(grid, 0.1);
        var up = new PerturbationUpsampler(grid, side, side, UpsamplingMode.Nearest);
        double traceInverse = cov.Eigenvalues.ToArray().Sum(e => 1 / e);
        double normSquared = 0, varianceOfY = 0, squaredError = 0;
        var expectedMap = new double[grid.Count];
        for (int c = 0; c < channels; c++)
        {
            var gamma = new double[grid.Count];
            up.ApplyTranspose(a.AsSpan(c * side * side, side * side), gamma);
            var sg = new double[grid.Count];
            cov.Apply(gamma, sg);
            normSquared += Dot(gamma, gamma);
            varianceOfY += Dot(gamma, sg);
            for (int k = 0; k < grid.Count; k++)
            {
                squaredError += Math.Pow(result.Channel(c)[k] - gamma[k], 2);
                expectedMap[k] += Math.Abs(result.Channel(c)[k]);
            }
        }
        double predicted = (normSquared + channels * varianceOfY * traceInverse) / n;
        TestContext.Out.WriteLine($"RMS error / predicted = {Math.Sqrt(squaredError / predicted):F3}");
        Assert.That(Math.Sqrt(squaredError / predicted), Is.InRange(0.7, 1.4));
        Assert.That(result.Map, Is.EqualTo(expectedMap).Within(1e-12));
        Assert.That(moments.BaselineValue, Is.EqualTo(Enumerable.Range(0, a.Length).Sum(k => a[k] * x0[k])).Within(1e-6));
    }

    [Test]
    public void Moments_DependOnSeedOnly_NotOnBatchSize()
    {
        var grid = new GridShape(3, 5);
        var f = new LinearFunction(3, 6, 10, RandomVector(180, 5));
        var x0 = Array.ConvertAll(RandomVector(180, 6), v => (float)v);
        var m1 = LegEstimator.EstimateMoments(f, x0, new LegOptions { Grid = grid, SampleCount = 60, BatchSize = 7, Seed = 42 });
        var m2 = LegEstimator.EstimateMoments(f, x0, new LegOptions { Grid = grid, SampleCount = 60, BatchSize = 60, Seed = 42 });
        var m3 = LegEstimator.EstimateMoments(f, x0, new LegOptions { Grid = grid, SampleCount = 60, BatchSize = 7, Seed = 43 });
        Assert.That(m2.Y, Is.EqualTo(m1.Y));
        Assert.That(m3.Y, Is.Not.EqualTo(m1.Y));
        Assert.That(f.MaxBatch, Is.LessThanOrEqualTo(60));
    }

    [Test]
    public void BatchSize_BoundsThePerturbedInputsInFlight()
    {
        var f = new LinearFunction(1, 4, 4, RandomVector(16, 1));
        LegEstimator.EstimateMoments(f, new float[16], new LegOptions { Grid = new GridShape(4, 4), SampleCount = 100, BatchSize = 8 });
        Assert.That(f.MaxBatch, Is.EqualTo(8));
        Assert.That(f.Calls, Is.EqualTo(1 + 13)); // baseline + ⌈100/8⌉ batches
    }

    [Test]
    public void Antithetic_CancelsEvenOrderTermsExactly()
    {
        // At x₀ = 0, f(z) − f(−z) = 2aᵀz for f = aᵀx + q(1ᵀx)²: the antithetic estimate of f equals that of aᵀx.
        var grid = new GridShape(3, 3);
        var a = RandomVector(9, 7);
        var options = new LegOptions { Grid = grid, SampleCount = 400, Antithetic = true, Seed = 3 };
        var linear = LegEstimator.EstimateMoments(new LinearFunction(1, 3, 3, a), new float[9], options);
        var withQuadratic = LegEstimator.EstimateMoments(new LinearFunction(1, 3, 3, a, quadratic: 5.0), new float[9], options);
        for (int k = 0; k < 9; k++)
            Assert.That(withQuadratic.Y[k], Is.EqualTo(linear.Y[k]).Within(1e-6 * (1 + Math.Abs(linear.Y[k]))));

        // Without antithetic sampling the quadratic term does change the estimate.
        var plain = options with { Antithetic = false };
        var l2 = LegEstimator.EstimateMoments(new LinearFunction(1, 3, 3, a), new float[9], plain);
        var q2 = LegEstimator.EstimateMoments(new LinearFunction(1, 3, 3, a, quadratic: 5.0), new float[9], plain);
        Assert.That(Enumerable.Range(0, 9).Max(k => Math.Abs(q2.Y[k] - l2.Y[k])), Is.GreaterThan(1e-3));
    }

    [Test]
    public void BadInput_ThrowsTypedExceptions()
    {
        var f = new LinearFunction(1, 4, 4, RandomVector(16, 1));
        var grid = new GridShape(2, 2);
        var ok = new LegOptions { Grid = grid, SampleCount = 10 };
        Assert.Throws<ArgumentException>(() => LegEstimator.EstimateMoments(f, new float[15], ok));
        var withNaN = new float[16];
        withNaN[3] = float.NaN;
        Assert.Throws<NonFiniteValueException>(() => LegEstimator.EstimateMoments(f, withNaN, ok));
        Assert.Throws<NonFiniteFunctionValueException>(() => LegEstimator.EstimateMoments(new NaNFunction(1, 4, 4), new float[16], ok));
        Assert.Throws<ArgumentException>(() => LegEstimator.EstimateMoments(f, new float[16], ok with { Covariance = new TvCovariance(new GridShape(3, 3), 0.1) }));
        Assert.Throws<ArgumentOutOfRangeException>(() => LegEstimator.EstimateMoments(f, new float[16], ok with { Antithetic = true, SampleCount = 11 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => LegEstimator.EstimateMoments(f, new float[16], ok with { SampleCount = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => LegEstimator.EstimateMoments(f, new float[16], ok with { NoiseVariance = -1 }));
        Assert.Throws<CovarianceNotPositiveDefiniteException>(() => DenseCovariance.FromRowMajor(grid,
            [1, 0, 0, 0, 0, -1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]));
        var moments = LegEstimator.EstimateMoments(f, new float[16], ok);
        Assert.Throws<ArgumentOutOfRangeException>(() => LegEstimator.LegTv(moments, new LegTvOptions { BoundRule = LegTvBoundRule.Fixed, Bound = -1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => LegEstimator.LegTv(moments, new LegTvOptions { BoundFactor = double.NaN }));
    }
}
