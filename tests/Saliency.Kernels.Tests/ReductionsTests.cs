using Saliency.Kernels.Backends;
using Saliency.Kernels.Ops;

namespace Saliency.Kernels.Tests;

/// <summary>Per-slice reductions against float64 loops.</summary>
internal class ReductionsTests
{
    [TestCase(1, 1)]
    [TestCase(7, 3)]
    [TestCase(150_528, 2)]
    public void FloatReductionsMatchDoubleLoops(int n, int slices)
    {
        var x = TestData.UniformF(n * slices, 20);
        var y = TestData.UniformF(n * slices, 21);
        for (int i = 0; i < x.Length; i += 3) x[i] = 0f;
        using var xb = TestData.Cpu(x);
        using var yb = TestData.Cpu(y);
        var dot = new double[slices];
        var l1 = new double[slices];
        var l2 = new double[slices];
        var inf = new double[slices];
        var zeros = new long[slices];
        Reductions.Dot(xb, yb, n, dot);
        Reductions.L1Norm(xb, n, l1);
        Reductions.L2Norm(xb, n, l2);
        Reductions.MaxAbs(xb, n, inf);
        Reductions.CountZeros(xb, n, zeros);
        for (int s = 0; s < slices; s++)
        {
            double d = 0, a = 0, q = 0, m = 0, absDot = 0;
            long z = 0;
            for (int i = s * n; i < (s + 1) * n; i++)
            {
                d += (double)x[i] * y[i];
                absDot += Math.Abs((double)x[i] * y[i]);
                a += Math.Abs(x[i]);
                q += (double)x[i] * x[i];
                m = Math.Max(m, Math.Abs(x[i]));
                if (x[i] == 0f) z++;
            }
            // Float blocks of 4,096 summed in double: error ≤ ~4096·2⁻²⁴ relative to Σ|terms| per block.
            Assert.That(dot[s], Is.EqualTo(d).Within(1e-5 * absDot + 1e-12));
            Assert.That(l1[s], Is.EqualTo(a).Within(1e-5 * a + 1e-12));
            Assert.That(l2[s], Is.EqualTo(Math.Sqrt(q)).Within(1e-5 * Math.Sqrt(q) + 1e-12));
            Assert.That(inf[s], Is.EqualTo(m));
            Assert.That(zeros[s], Is.EqualTo(z));
        }
    }

    [Test]
    public void CountNonFiniteFindsNanAndInfinity()
    {
        using var xb = TestData.Cpu(new double[] { 1, double.NaN, 2, double.PositiveInfinity, 0, 0 });
        var bad = new long[2];
        Reductions.CountNonFinite(xb, 3, bad);
        Assert.That(bad, Is.EqualTo(new long[] { 1, 1 }));
    }

    [Test]
    public void MismatchedResultCountThrows()
    {
        using var xb = TestData.Cpu(new double[6]);
        using var yb = TestData.Cpu(new double[5]);
        Assert.Throws<BufferSizeMismatchException>(() => Reductions.L1Norm(xb, 3, new double[3]));
        Assert.Throws<BufferSizeMismatchException>(() => Reductions.Dot(xb, yb, 3, new double[2]));
        Assert.Throws<BufferSizeMismatchException>(() => Reductions.L2Norm(xb, 4, new double[1]));
    }
}
