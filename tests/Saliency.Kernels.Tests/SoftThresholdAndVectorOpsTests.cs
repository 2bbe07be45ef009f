using Saliency.Kernels.Backends;
using Saliency.Kernels.Ops;

namespace Saliency.Kernels.Tests;

/// <summary>Soft-thresholding, axpby and the FISTA steps against scalar float64 formulas, per slice.</summary>
internal class SoftThresholdAndVectorOpsTests
{
    private static double Soft(double v, double t) => Math.Sign(v) * Math.Max(Math.Abs(v) - t, 0);

    [TestCase(1, 1)]
    [TestCase(37, 3)]
    [TestCase(1000, 4)]
    public void SoftThresholdMatchesDefinitionPerSlice(int n, int slices)
    {
        var x = TestData.Uniform(n * slices, 5, -2, 2);
        var tau = Enumerable.Range(0, slices).Select(s => 0.3 * s).ToArray();
        using var xb = TestData.Cpu(x);
        using var yb = TestData.Cpu(new double[x.Length]);
        SoftThreshold.Apply(xb, yb, n, tau);
        for (int i = 0; i < x.Length; i++)
            Assert.That(yb.Span[i], Is.EqualTo(Soft(x[i], tau[i / n])).Within(1e-15));
    }

    [Test]
    public void SoftThresholdGivesExactZerosAndWorksInPlace()
    {
        var x = new float[] { 0.5f, -0.5f, 0.49f, -2f, 3f, 0f, 1e-30f, -0.51f };
        using var xb = TestData.Cpu(x);
        SoftThreshold.Apply(xb, xb, x.Length, [0.5f]);
        Assert.That(xb.Span.ToArray(), Is.EqualTo(new[] { 0f, 0f, 0f, -1.5f, 2.5f, 0f, 0f, -0.01f }).Within(1e-6f));
        Assert.That(xb.Span[0], Is.EqualTo(0f)); // exact
        Span<long> zeros = stackalloc long[1];
        Reductions.CountZeros(xb, x.Length, zeros);
        Assert.That(zeros[0], Is.EqualTo(5));
    }

    [Test]
    public void SoftThresholdRejectsBadThresholds()
    {
        using var xb = TestData.Cpu(new float[6]);
        Assert.Throws<NonFiniteValueException>(() => SoftThreshold.Apply(xb, xb, 3, [1f, float.NaN]));
        Assert.Throws<NonFiniteValueException>(() => SoftThreshold.Apply(xb, xb, 3, [1f, -1f]));
        Assert.Throws<BufferSizeMismatchException>(() => SoftThreshold.Apply(xb, xb, 3, [1f]));
        Assert.Throws<BufferSizeMismatchException>(() => SoftThreshold.Apply(xb, xb, 4, [1f]));
        using var other = TestData.Cpu(new float[5]);
        Assert.Throws<BufferSizeMismatchException>(() => SoftThreshold.Apply(xb, other, 3, [1f, 1f]));
    }

    [TestCase(1, 2)]
    [TestCase(101, 3)]
    public void AxpbyMatchesFormula(int n, int slices)
    {
        var x = TestData.Uniform(n * slices, 6);
        var y = TestData.Uniform(n * slices, 7);
        double[] a = Enumerable.Range(0, slices).Select(s => 0.5 + s).ToArray(), b = Enumerable.Range(0, slices).Select(s => -1.0 + 0.25 * s).ToArray();
        using var xb = TestData.Cpu(x);
        using var yb = TestData.Cpu((double[])y.Clone());
        VectorOps.Axpby(xb, yb, n, a, b);
        for (int i = 0; i < x.Length; i++)
            Assert.That(yb.Span[i], Is.EqualTo(a[i / n] * x[i] + b[i / n] * y[i]).Within(1e-14));
    }

    [TestCase(1, 1)]
    [TestCase(257, 4)]
    public void FistaUpdateMatchesProxThenExtrapolate(int n, int slices)
    {
        var y = TestData.Uniform(n * slices, 8, -3, 3);
        var g = TestData.Uniform(n * slices, 9, -3, 3);
        var xo = TestData.Uniform(n * slices, 10);
        var t = Enumerable.Range(0, slices).Select(s => 0.1 + 0.2 * s).ToArray();
        var lam = Enumerable.Range(0, slices).Select(s => 0.5 * s).ToArray();
        var beta = Enumerable.Range(0, slices).Select(s => 0.1 * s).ToArray();
        using var yb = TestData.Cpu(y);
        using var gb = TestData.Cpu(g);
        using var xob = TestData.Cpu(xo);
        using var xn = TestData.Cpu(new double[y.Length]);
        using var yn = TestData.Cpu(new double[y.Length]);
        VectorOps.FistaUpdate(yb, gb, xob, xn, yn, n, t, lam, beta);
        using var xp = TestData.Cpu(new double[y.Length]);
        using var yp = TestData.Cpu(new double[y.Length]);
        VectorOps.ProxGradient(yb, gb, xp, n, t, lam);
        VectorOps.Extrapolate(xp, xob, yp, n, beta);
        for (int i = 0; i < y.Length; i++)
        {
            int s = i / n;
            double expectX = Soft(y[i] - t[s] * g[i], t[s] * lam[s]);
            Assert.That(xn.Span[i], Is.EqualTo(expectX).Within(1e-14));
            Assert.That(yn.Span[i], Is.EqualTo(expectX + beta[s] * (expectX - xo[i])).Within(1e-13));
            Assert.That(xp.Span[i], Is.EqualTo(xn.Span[i]));
            Assert.That(yp.Span[i], Is.EqualTo(yn.Span[i]).Within(1e-15));
        }
    }

    [Test]
    public void FistaUpdateInPlaceEqualsOutOfPlace()
    {
        const int n = 50;
        var y = TestData.UniformF(2 * n, 11);
        var g = TestData.UniformF(2 * n, 12);
        var xo = TestData.UniformF(2 * n, 13);
        float[] t = [0.5f, 0.25f], lam = [0.1f, 0.3f], beta = [0.4f, 0.7f];
        using var yb = TestData.Cpu((float[])y.Clone());
        using var gb = TestData.Cpu(g);
        using var xb = TestData.Cpu((float[])xo.Clone());
        using var xo2 = TestData.Cpu(xo);
        using var yb2 = TestData.Cpu(y);
        using var xn2 = TestData.Cpu(new float[2 * n]);
        using var yn2 = TestData.Cpu(new float[2 * n]);
        VectorOps.FistaUpdate(yb, gb, xb, xb, yb, n, t, lam, beta);      // x_new over x_old, y_new over y
        VectorOps.FistaUpdate(yb2, gb, xo2, xn2, yn2, n, t, lam, beta);
        Assert.That(xb.Span.ToArray(), Is.EqualTo(xn2.Span.ToArray()));
        Assert.That(yb.Span.ToArray(), Is.EqualTo(yn2.Span.ToArray()));
    }

    [Test]
    public void FistaRejectsNonPositiveStepAndMismatchedBuffers()
    {
        using var a = TestData.Cpu(new float[4]);
        using var b = TestData.Cpu(new float[4]);
        using var c = TestData.Cpu(new float[3]);
        Assert.Throws<NonFiniteValueException>(() => VectorOps.FistaUpdate(a, a, a, b, b, 4, [0f], [0f], [0f]));
        Assert.Throws<NonFiniteValueException>(() => VectorOps.FistaUpdate(a, a, a, b, b, 4, [1f], [float.PositiveInfinity], [0f]));
        Assert.Throws<NonFiniteValueException>(() => VectorOps.Axpby(a, b, 4, [float.NaN], [1f]));
        Assert.Throws<BufferSizeMismatchException>(() => VectorOps.FistaUpdate(a, a, a, c, b, 4, [1f], [0f], [0f]));
    }
}
