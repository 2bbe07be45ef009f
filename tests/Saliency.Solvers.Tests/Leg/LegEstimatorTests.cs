using NUnit.Framework;
using Saliency.Linalg.Covariance;
using Saliency.Kernels.Ops;
using Saliency.Linalg.Grid;
using Saliency.Solvers.Leg;

namespace Saliency.Solvers.Tests.Leg;

[TestFixture]
public class LegEstimatorTests
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
    /// For linear f(x) = aᵀx the perturbation response on the grid is exact: ỹ = γᵀz with γ = Uᵀa (U the upsampling),
    /// so γ̂ − γ = Σ⁻¹(Ŝ − Σ)γ and, for Gaussian z (Isserlis), E‖γ̂ − γ‖² = (‖γ‖² + γᵀΣγ · tr Σ⁻¹)/n exactly.
    /// The test checks the root-mean-square error over seeds against that prediction at n = 1e3, 1e4, 1e5
    /// (within [0.5, 1.6]× — 4 seeds × 32 coordinates) and that the log-log slope of the error is −½ ± 0.1.
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
        double traceInverse = 0, predictedNumerator = 0;
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
            predictedNumerator += Dot(gc, gc) + Dot(gc, sg) * traceInverse;
        }

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
            Assert.That(rms[s] / predicted, Is.InRange(0.5, 1.6), $"n = {sizes[s]}: RMS error {rms[s]:E3}, predicted {predicted:E3}");
        }

        // Least-squares slope of log(rms) against log(n).
        var lx = sizes.Select(n => Math.Log(n)).ToArray();
        var ly = rms.Select(r => Math.Log(r)).ToArray();
        double mx = lx.Average(), my = ly.Average();
        double slope = lx.Zip(ly, (x, y) => (x - mx) * (y - my)).Sum() / lx.Sum(x => (x - mx) * (x - mx));
        Assert.That(slope, Is.EqualTo(-0.5).Within(0.1), $"errors {string.Join(", ", rms.Select(r => r.ToString("E3")))}");
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
