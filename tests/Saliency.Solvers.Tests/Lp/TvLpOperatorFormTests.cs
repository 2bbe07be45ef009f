using NUnit.Framework;
using Saliency.Linalg.Grid;
using Saliency.Solvers.Lp;

namespace Saliency.Solvers.Tests.Lp;

/// <summary>The general path K = D⁺ᵀΣ as an operator.</summary>
[TestFixture]
internal class TvLpOperatorFormTests
{
    private const double Tol = 1e-6;

    /// <summary>Dense K = D (DᵀD)⁺ Σ for a random SPD Σ = AAᵀ/p + 0.2 I, with (DᵀD)⁺ = (DᵀD + 11ᵀ/p)⁻¹ − 11ᵀ/p.</summary>
    internal static double[] DenseK(GridShape s, int seed, out double[,] sigma)
    {
        int p = s.Count, m = s.DifferenceCount;
        var rng = new Random(seed);
        var a = new double[p, p];
        for (int i = 0; i < p; i++) for (int j = 0; j < p; j++) a[i, j] = rng.NextDouble() - 0.5;
        sigma = new double[p, p];
        for (int i = 0; i < p; i++)
            for (int j = 0; j < p; j++)
            {
                double sum = 0;
                for (int q = 0; q < p; q++) sum += a[i, q] * a[j, q];
                sigma[i, j] = sum / p + (i == j ? 0.2 : 0);
            }
        // Laplacian plus 11ᵀ/p (SPD); columns of its inverse minus 1/p give (DᵀD)⁺.
        var lap = new double[p, p];
        for (int j = 0; j < p; j++)
        {
            var e = new double[p];
            e[j] = 1;
            var col = LpReference.DT(s, LpReference.D(s, e));
            for (int i = 0; i < p; i++) lap[i, j] = col[i] + 1.0 / p;
        }
        var k = new double[m * p];
        for (int j = 0; j < p; j++)
        {
            var sigmaCol = new double[p];
            for (int i = 0; i < p; i++) sigmaCol[i] = sigma[i, j];
            var solved = LpReference.CholeskySolve(lap, sigmaCol);
            double mean = sigmaCol.Sum() / p;
            var pinvSigma = solved.Select(x => x - mean).ToArray();
            var dcol = LpReference.D(s, pinvSigma);
            for (int e = 0; e < m; e++) k[e * p + j] = dcol[e];
        }
        return k;
    }

    [Test]
    public void ScaledDifferenceOperator_AgreesWithTheStencilForm()
    {
        var shape = new GridShape(20, 17);
        var (b, _) = LpReference.Instance(shape, 8, structured: true, 0.1);
        double bound = 0.1 * b.Max(Math.Abs);
        var stencil = TvLpSolver.Solve(TvLpProblem.ForPaperCovariance(shape, b, bound, 0.1));
        var general = TvLpSolver.Solve(TvLpProblem.ForOperator(shape, b, bound, new ScaledDifferenceOperator(shape, 0.1)));
        Assert.That(stencil.Status, Is.EqualTo(TvLpStatus.Optimal));
        Assert.That(general.Status, Is.EqualTo(TvLpStatus.Optimal));
        Assert.That(general.Certificate.PrimalObjective,
            Is.EqualTo(stencil.Certificate.PrimalObjective).Within(5e-6 * stencil.Certificate.PrimalObjective));
    }

    [Test]
    public void DenseCovariance_IsCertified_AndMaxBoundIsTheZeroTvThreshold()
    {
        var shape = new GridShape(6, 5);
        var k = DenseK(shape, 21, out _);
        var op = new DenseConstraintOperator(shape.DifferenceCount, shape.Count, k);
        var h = Enumerable.Range(0, shape.Count).Select(i => Math.Sin(0.7 * i) + (i % 5 > 2 ? 1.0 : 0.0)).ToArray();
        var b = new double[shape.DifferenceCount];
        op.Apply(h, b);                       // b = K h is feasible at L = 0
        var problem = TvLpProblem.ForOperator(shape, b, 0, op);

        double lmax = TvLpSolver.MaxBound(problem);
        var k1 = new double[b.Length];
        op.Apply(Enumerable.Repeat(1.0, shape.Count).ToArray(), k1);
        // L_max = min_c ‖b − c K1‖∞: no c on a fine grid does better.
        for (double c = -20; c <= 20; c += 0.01)
            Assert.That(b.Select((bi, i) => Math.Abs(bi - c * k1[i])).Max(), Is.GreaterThanOrEqualTo(lmax - 1e-9));

        var at = TvLpSolver.Solve(problem.WithBound(lmax * (1 + 1e-9)));
        Assert.That(at.Status, Is.EqualTo(TvLpStatus.Optimal));
        Assert.That(at.MeanFixed, Is.False, "K1 ≠ 0 for a dense Σ: the constant of g is part of the LP's solution");
        Assert.That(LpReference.D(shape, at.G).Sum(Math.Abs), Is.LessThan(1e-4));

        foreach (double fraction in new[] { 0.0, 0.1, 0.5 })
        {
            var s = TvLpSolver.Solve(problem.WithBound(fraction * lmax));
            Assert.That(s.Status, Is.EqualTo(TvLpStatus.Optimal), $"L = {fraction}·L_max");
            var mine = LpReference.Certificate(shape, b, fraction * lmax,
                g => { var r = new double[b.Length]; op.Apply(g, r); return r; },
                v => { var r = new double[shape.Count]; op.ApplyTranspose(v, r); return r; }, s.G, s.U, s.V);
            Assert.That(mine.Gap, Is.LessThanOrEqualTo(Tol));
            Assert.That(mine.Rp, Is.LessThanOrEqualTo(Tol));
            Assert.That(mine.Rd, Is.LessThanOrEqualTo(Tol));
        }
    }

    [Test]
    public void CovarianceConstraintOperator_ComposesSigmaAndTheLaplacianSolve()
    {
        var shape = new GridShape(5, 4);
        var kDense = DenseK(shape, 3, out var sigma);
        int p = shape.Count;
        var lap = new double[p, p];
        for (int j = 0; j < p; j++)
        {
            var e = new double[p];
            e[j] = 1;
            var col = LpReference.DT(shape, LpReference.D(shape, e));
            for (int i = 0; i < p; i++) lap[i, j] = col[i] + 1.0 / p;
        }
        var op = new CovarianceConstraintOperator(shape,
            (x, r) => { for (int i = 0; i < p; i++) { double s = 0; for (int j = 0; j < p; j++) s += sigma[i, j] * x[j]; r[i] = s; } },
            (x, r) => { var sol = LpReference.CholeskySolve(lap, x.ToArray()); double mean = x.ToArray().Sum() / p; for (int i = 0; i < p; i++) r[i] = sol[i] - mean; });
        var rng = new Random(1);
        var g = Enumerable.Range(0, p).Select(_ => rng.NextDouble()).ToArray();
        var v = Enumerable.Range(0, shape.DifferenceCount).Select(_ => rng.NextDouble()).ToArray();
        var kg = new double[shape.DifferenceCount];
        op.Apply(g, kg);
        var ktv = new double[p];
        op.ApplyTranspose(v, ktv);
        for (int e = 0; e < shape.DifferenceCount; e++)
        {
            double expected = 0;
            for (int j = 0; j < p; j++) expected += kDense[e * p + j] * g[j];
            Assert.That(kg[e], Is.EqualTo(expected).Within(1e-10));
        }
        for (int j = 0; j < p; j++)
        {
            double expected = 0;
            for (int e = 0; e < shape.DifferenceCount; e++) expected += kDense[e * p + j] * v[e];
            Assert.That(ktv[j], Is.EqualTo(expected).Within(1e-10));
        }
    }
}
