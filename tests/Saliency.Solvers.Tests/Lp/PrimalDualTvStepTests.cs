using NUnit.Framework;
using Saliency.Kernels.Ops.PrimalDual;
using Saliency.Linalg.Grid;

namespace Saliency.Solvers.Tests.Lp;

/// <summary>The fused CPU step against the textbook formulas evaluated with the test's own D and Dᵀ.</summary>
[TestFixture]
internal class PrimalDualTvStepTests
{
    [TestCase(7, 9, false)]
    [TestCase(13, 4, true)]
    [TestCase(1, 6, false)]
    [TestCase(6, 1, true)]
    [TestCase(2, 2, false)]
    [TestCase(17, 23, true)]
    public void FusedStep_MatchesTheUnfusedFormulas(int rows, int cols, bool preconditioned)
    {
        var s = new GridShape(rows, cols);
        int p = s.Count, m = s.DifferenceCount;
        var rng = new Random(rows * 100 + cols);
        double[] Rand(int n, double scale) => Enumerable.Range(0, n).Select(_ => scale * (rng.NextDouble() * 2 - 1)).ToArray();
        var x = Rand(p, 3);
        var y = Rand(m, 2);
        var b = Rand(m, 1);
        var scale = preconditioned ? Rand(p, 0.5).Select(v => 1 + v).ToArray() : [];
        double tau = 0.31, sigma = 0.27, bound = 0.2, s2 = 0.1;
        var xs = Rand(p, 1);
        var ys = Rand(m, 1);
        var xs0 = (double[])xs.Clone();
        var ys0 = (double[])ys.Clone();
        var xo = new double[p];
        var yo = new double[m];
        PrimalDualTvStep.Step(rows, cols, x, y, b, xo, yo, tau, sigma, bound, 1 / s2, scale, xs, ys, 0.7,
            new double[5 * cols], wantStats: true, out var stats);

        var dty = LpReference.DT(s, y);
        var xExp = x.Select((xi, j) => xi - tau * (preconditioned ? scale[j] : 1) * dty[j]).ToArray();
        var dbar = LpReference.D(s, xExp.Select((xn, j) => 2 * xn - x[j]).ToArray());
        var yExp = new double[m];
        for (int e = 0; e < m; e++)
        {
            double w = y[e] + sigma * dbar[e];
            double shrink = Math.Sign(w) * Math.Max(Math.Abs(w) - 1, 0);
            double lo = sigma * (b[e] - bound) / s2, hi = sigma * (b[e] + bound) / s2;
            yExp[e] = w - Math.Min(Math.Max(shrink, lo), hi);
        }
        for (int j = 0; j < p; j++)
        {
            Assert.That(xo[j], Is.EqualTo(xExp[j]).Within(1e-12));
            Assert.That(xs[j], Is.EqualTo(xs0[j] + 0.7 * xExp[j]).Within(1e-12));
        }
        for (int e = 0; e < m; e++)
        {
            Assert.That(yo[e], Is.EqualTo(yExp[e]).Within(1e-12));
            Assert.That(ys[e], Is.EqualTo(ys0[e] + 0.7 * yExp[e]).Within(1e-12));
        }
        var dx = xExp.Select((v, j) => v - x[j]).ToArray();
        var dy = yExp.Select((v, e) => v - y[e]).ToArray();
        var ddx = LpReference.D(s, dx);
        Assert.That(stats.PrimalMoveSquared, Is.EqualTo(dx.Sum(v => v * v)).Within(1e-10));
        Assert.That(stats.DualMoveSquared, Is.EqualTo(dy.Sum(v => v * v)).Within(1e-10));
        Assert.That(stats.Interaction, Is.EqualTo(dy.Select((v, e) => v * ddx[e]).Sum()).Within(1e-10));
    }

    [TestCase(17, 23, 2, true)]
    [TestCase(17, 23, 3, false)]
    [TestCase(40, 13, 5, true)]
    [TestCase(5, 8, 2, false)]
    [TestCase(6, 1, 3, true)]
    [TestCase(3, 7, 9, true)]
    public void RowBlocks_GiveExactlyTheOneSweepStep(int rows, int cols, int blocks, bool preconditioned)
    {
        // Oracle: the single-sweep step (itself checked against the textbook formulas above). Every entry is computed
        // by the same arithmetic in either partition, so x⁺, y⁺ and the running sums must agree bit for bit; only the
        // stats' summation order differs.
        var s = new GridShape(rows, cols);
        int p = s.Count, m = s.DifferenceCount;
        var rng = new Random(rows * 31 + cols + blocks);
        double[] Rand(int n, double scale) => Enumerable.Range(0, n).Select(_ => scale * (rng.NextDouble() * 2 - 1)).ToArray();
        var x = Rand(p, 3);
        var y = Rand(m, 2);
        var b = Rand(m, 1);
        var scale = preconditioned ? Rand(p, 0.5).Select(v => 1 + v).ToArray() : [];
        var xs1 = Rand(p, 1);
        var ys1 = Rand(m, 1);
        var xsK = (double[])xs1.Clone();
        var ysK = (double[])ys1.Clone();
        var xo1 = new double[p];
        var yo1 = new double[m];
        var xoK = new double[p];
        var yoK = new double[m];
        PrimalDualTvStep.Step(rows, cols, x, y, b, xo1, yo1, 0.31, 0.27, 0.2, 10, scale, xs1, ys1, 0.7,
            new double[PrimalDualTvStep.ScratchLength(cols, 1)], wantStats: true, out var one);
        PrimalDualTvStep.Step(rows, cols, x, y, b, xoK, yoK, 0.31, 0.27, 0.2, 10, scale, xsK, ysK, 0.7,
            new double[PrimalDualTvStep.ScratchLength(cols, blocks)], wantStats: true, out var many, blocks);

        Assert.That(xoK, Is.EqualTo(xo1).AsCollection);
        Assert.That(yoK, Is.EqualTo(yo1).AsCollection);
        Assert.That(xsK, Is.EqualTo(xs1).AsCollection);
        Assert.That(ysK, Is.EqualTo(ys1).AsCollection);
        Assert.That(many.PrimalMoveSquared, Is.EqualTo(one.PrimalMoveSquared).Within(1e-12 * (1 + one.PrimalMoveSquared)));
        Assert.That(many.DualMoveSquared, Is.EqualTo(one.DualMoveSquared).Within(1e-12 * (1 + one.DualMoveSquared)));
        Assert.That(many.Interaction, Is.EqualTo(one.Interaction).Within(1e-12 * (1 + Math.Abs(one.Interaction))));
    }

    [TestCase(7, 9, 1, false)]
    [TestCase(17, 23, 2, true)]
    [TestCase(40, 13, 3, false)]
    [TestCase(6, 1, 2, false)]
    [TestCase(1, 6, 1, true)]
    [TestCase(2, 2, 1, false)]
    public void HalpernStep_IsTheStepFollowedByTheReflection(int rows, int cols, int blocks, bool preconditioned)
    {
        // Oracle: T(z) from the plain step, then z ← a(2T(z) − z) + (1 − a)z₀ written out here.
        var s = new GridShape(rows, cols);
        int p = s.Count, m = s.DifferenceCount;
        var rng = new Random(rows * 7 + cols);
        double[] Rand(int n, double scale) => Enumerable.Range(0, n).Select(_ => scale * (rng.NextDouble() * 2 - 1)).ToArray();
        var x = Rand(p, 3);
        var y = Rand(m, 2);
        var b = Rand(m, 1);
        var x0 = Rand(p, 3);
        var y0 = Rand(m, 2);
        var scale = preconditioned ? Rand(p, 0.5).Select(v => 1 + v).ToArray() : [];
        double a = 0.83;
        var xt = new double[p];
        var yt = new double[m];
        PrimalDualTvStep.Step(rows, cols, x, y, b, xt, yt, 0.31, 0.27, 0.2, 10, scale, [], [], 0,
            new double[PrimalDualTvStep.ScratchLength(cols, 1)], wantStats: false, out _);
        var xExp = x.Select((z, j) => a * (2 * xt[j] - z) + (1 - a) * x0[j]).ToArray();
        var yExp = y.Select((z, e) => a * (2 * yt[e] - z) + (1 - a) * y0[e]).ToArray();

        PrimalDualTvStep.HalpernStep(rows, cols, x, y, b, x0, y0, a, 0.31, 0.27, 0.2, 10, scale,
            new double[PrimalDualTvStep.ScratchLength(cols, blocks)], blocks);

        Assert.That(x, Is.EqualTo(xExp).AsCollection.Within(1e-13));
        Assert.That(y, Is.EqualTo(yExp).AsCollection.Within(1e-13));
    }

    [Test]
    public void Step_RejectsScratchTooShortForItsRowBlocks()
    {
        int rows = 8, cols = 5, p = rows * cols, m = new Saliency.Linalg.Grid.GridShape(rows, cols).DifferenceCount;
        Assert.Throws<ArgumentException>(() => PrimalDualTvStep.Step(rows, cols, new double[p], new double[m], new double[m],
            new double[p], new double[m], 0.1, 0.1, 0.1, 1, [], [], [], 0, new double[PrimalDualTvStep.ScratchLength(cols, 1)],
            false, out _, rowBlocks: 2));
    }

    [TestCase(1, 2)]
    [TestCase(28, 28)]
    [TestCase(37, 23)]
    public void OperatorNorm_IsTheLargestEigenvalueOfTheNeumannLaplacian(int rows, int cols)
    {
        // Power iteration on DᵀD with the test's own D; the closed form must bound it and be nearly attained.
        var s = new GridShape(rows, cols);
        var rng = new Random(3);
        var v = Enumerable.Range(0, s.Count).Select(_ => rng.NextDouble() - 0.5).ToArray();
        double lambda = 0;
        for (int it = 0; it < 3000; it++)
        {
            var w = LpReference.DT(s, LpReference.D(s, v));
            lambda = LpReference.Norm2(w) / LpReference.Norm2(v);
            double n = LpReference.Norm2(w);
            v = w.Select(t => t / n).ToArray();
        }
        double exact = PrimalDualTvStep.OperatorNormSquared(rows, cols);
        Assert.That(exact, Is.LessThan(8));
        Assert.That(lambda, Is.LessThanOrEqualTo(exact * (1 + 1e-12)));
        Assert.That(lambda, Is.GreaterThan(exact * 0.999));
    }
}
