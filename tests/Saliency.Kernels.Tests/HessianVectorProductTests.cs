using Saliency.Kernels.Backends;
using Saliency.Kernels.Ops;

namespace Saliency.Kernels.Tests;

/// <summary>Batched HVP against the dense float64 H = W (diag(p) − ppᵀ) Wᵀ applied to each right-hand side.</summary>
internal class HessianVectorProductTests
{
    internal static (float[] W, float[] P) Problem(int d, int c, int seed)
    {
        var w = TestData.UniformF(d * c, seed);
        var logits = TestData.Uniform(c, seed + 1, -3, 3);
        double max = logits.Max();
        var e = logits.Select(l => Math.Exp(l - max)).ToArray();
        double s = e.Sum();
        return (w, e.Select(v => (float)(v / s)).ToArray());
    }

    /// <summary>Dense H_S (d×d) in float64 from class-major W and the subset S.</summary>
    internal static double[,] DenseH(float[] w, float[] p, int d, int[] classes)
    {
        int cs = classes.Length;
        var a = new double[cs, cs];
        for (int i = 0; i < cs; i++)
            for (int j = 0; j < cs; j++)
                a[i, j] = (i == j ? p[classes[i]] : 0.0) - (double)p[classes[i]] * p[classes[j]];
        var wa = new double[d, cs]; // W_S A
        for (int x = 0; x < d; x++)
            for (int j = 0; j < cs; j++)
            {
                double acc = 0;
                for (int l = 0; l < cs; l++) acc += w[classes[l] * d + x] * a[l, j];
                wa[x, j] = acc;
            }
        var h = new double[d, d];
        for (int x = 0; x < d; x++)
            for (int y = 0; y < d; y++)
            {
                double acc = 0;
                for (int j = 0; j < cs; j++) acc += wa[x, j] * w[classes[j] * d + y];
                h[x, y] = acc;
            }
        return h;
    }

    internal static double[] Expected(double[,] h, float[] v, int d, int k)
    {
        var result = new double[k * d];
        for (int r = 0; r < k; r++)
        {
            var vr = v.AsSpan(r * d, d).ToArray().Select(f => (double)f).ToArray();
            TestData.MatVec(h, vr).CopyTo(result, r * d);
        }
        return result;
    }

    [TestCase(1, 1, 1, false)]
    [TestCase(7, 3, 2, false)]
    [TestCase(200, 10, 1, false)]
    [TestCase(200, 10, 5, false)]
    [TestCase(499, 13, 16, false)]
    [TestCase(499, 13, 7, true)]
    [TestCase(3000, 9, 4, true)]
    public void MatchesDenseReference(int d, int c, int k, bool subset)
    {
        var (w, p) = Problem(d, c, 30 + d + c);
        int[] classes = subset ? Enumerable.Range(0, c).Where(j => j % 3 != 1).Reverse().ToArray() : Enumerable.Range(0, c).ToArray();
        var v = TestData.UniformF(k * d, 31);
        using var wb = TestData.Cpu(w);
        using var vb = TestData.Cpu(v);
        using var hv = TestData.Cpu(new float[k * d]);
        using var op = new HessianVectorProduct(wb, d, c, p, subset ? classes : default);
        op.Apply(vb, hv);
        double[] expect;
        if (d <= 500)
        {
            expect = Expected(DenseH(w, p, d, classes), v, d, k);
        }
        else
        {
            // d too large for a dense H: the same float64 factors applied in sequence, W_S (A (W_Sᵀ v)).
            expect = new double[k * d];
            for (int r = 0; r < k; r++)
            {
                var u = classes.Select(j => Enumerable.Range(0, d).Sum(x => (double)w[j * d + x] * v[r * d + x])).ToArray();
                double pu = classes.Select((j, l) => p[j] * u[l]).Sum();
                var z = classes.Select((j, l) => p[j] * (u[l] - pu)).ToArray();
                for (int x = 0; x < d; x++) expect[r * d + x] = classes.Select((j, l) => w[j * d + x] * z[l]).Sum();
            }
        }
        double scale = TestData.MaxAbs(expect) + 1e-30;
        var actual = hv.Span.ToArray().Select(f => (double)f).ToArray();
        // Float storage and float dot products over d terms: relative error ≲ d·2⁻²⁴ of the scale, we allow 1e-4 (d ≤ 3000).
        Assert.That(TestData.MaxAbsDiff(actual, expect) / scale, Is.LessThan(1e-4));
    }

    [Test]
    public void ResultIsSymmetricPsdQuadraticForm()
    {
        // vᵀHv = ‖Lₐᵀ Wᵀ v‖² ≥ 0 for A = diag(p) − ppᵀ ⪰ 0 (p a probability vector).
        const int d = 120, c = 6;
        var (w, p) = Problem(d, c, 40);
        var v = TestData.UniformF(d, 41);
        using var wb = TestData.Cpu(w);
        using var vb = TestData.Cpu(v);
        using var hv = TestData.Cpu(new float[d]);
        using var op = new HessianVectorProduct(wb, d, c, p);
        op.Apply(vb, hv);
        double q = 0;
        for (int i = 0; i < d; i++) q += (double)v[i] * hv.Span[i];
        Assert.That(q, Is.GreaterThanOrEqualTo(-1e-6));
    }

    [Test]
    public void BadInputThrowsTypedExceptions()
    {
        var (w, p) = Problem(10, 3, 50);
        using var wb = TestData.Cpu(w);
        Assert.Throws<BufferSizeMismatchException>(() => new HessianVectorProduct(wb, 11, 3, p));
        Assert.Throws<BufferSizeMismatchException>(() => new HessianVectorProduct(wb, 10, 3, p.Take(2).ToArray()));
        Assert.Throws<NonFiniteValueException>(() => new HessianVectorProduct(wb, 10, 3, [0.5f, float.NaN, 0.1f]));
        Assert.Throws<NonFiniteValueException>(() => new HessianVectorProduct(wb, 10, 3, [0.9f, 0.9f, 0.1f]));
        Assert.Throws<NonFiniteValueException>(() => new HessianVectorProduct(wb, 10, 3, [-0.1f, 0.5f, 0.1f]));
        Assert.Throws<ArgumentException>(() => new HessianVectorProduct(wb, 10, 3, p, [0, 0]));
        Assert.Throws<ArgumentException>(() => new HessianVectorProduct(wb, 10, 3, p, [3]));
        var bad = (float[])w.Clone();
        bad[7] = float.PositiveInfinity;
        using var badW = TestData.Cpu(bad);
        Assert.Throws<NonFiniteValueException>(() => new HessianVectorProduct(badW, 10, 3, p));

        using var op = new HessianVectorProduct(wb, 10, 3, p);
        using var v = TestData.Cpu(new float[20]);
        using var odd = TestData.Cpu(new float[15]);
        using var hv = TestData.Cpu(new float[10]);
        Assert.Throws<BufferSizeMismatchException>(() => op.Apply(odd, odd));
        Assert.Throws<BufferSizeMismatchException>(() => op.Apply(v, hv));
        Assert.Throws<ArgumentException>(() => op.Apply(v, v));
        using var nanV = TestData.Cpu(new float[10]);
        nanV.Span[3] = float.NaN;
        Assert.Throws<NonFiniteValueException>(() => op.Apply(nanV, hv));
    }
}
