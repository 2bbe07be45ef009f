using Saliency.Kernels.Backends;
using Saliency.Kernels.Ops;

namespace Saliency.Kernels.Tests;

/// <summary>D and Dᵀ against an explicit dense D built from the documented row order, and adjointness.</summary>
internal class TotalVariationTests
{
    private static readonly int[][] Grids = [[1, 1], [1, 7], [7, 1], [3, 5], [28, 28], [37, 23]];

    [TestCaseSource(nameof(Grids))]
    public void ForwardAndAdjointMatchDenseMatrix_Double(int[] grid)
    {
        int p1 = grid[0], p2 = grid[1], p = p1 * p2, m = TotalVariation.DifferenceCount(p1, p2);
        Assert.That(m, Is.EqualTo(2 * p1 * p2 - p1 - p2));
        var dense = TestData.DenseD(p1, p2);
        const int batch = 3;
        var x = TestData.Uniform(batch * p, 1);
        var u = TestData.Uniform(batch * m, 2);
        using var xb = TestData.Cpu(x);
        using var ub = TestData.Cpu(u);
        using var dx = TestData.Cpu(new double[batch * m]);
        using var dtu = TestData.Cpu(new double[batch * p]);
        TotalVariation.Forward(xb, dx, p1, p2);
        TotalVariation.Adjoint(ub, dtu, p1, p2);
        for (int b = 0; b < batch; b++)
        {
            var expectD = TestData.MatVec(dense, x.AsSpan(b * p, p).ToArray());
            var expectDt = TestData.MatTVec(dense, u.AsSpan(b * m, m).ToArray());
            Assert.That(TestData.MaxAbsDiff(dx.Span.Slice(b * m, m), expectD), Is.LessThanOrEqualTo(1e-15));
            Assert.That(TestData.MaxAbsDiff(dtu.Span.Slice(b * p, p), expectDt), Is.LessThanOrEqualTo(1e-14));
        }
    }

    [TestCaseSource(nameof(Grids))]
    public void AdjointnessHolds_Float(int[] grid)
    {
        int p1 = grid[0], p2 = grid[1], p = p1 * p2, m = TotalVariation.DifferenceCount(p1, p2);
        const int batch = 2;
        var x = TestData.UniformF(batch * p, 3);
        var y = TestData.UniformF(batch * m, 4);
        var dx = new float[batch * m];
        var dty = new float[batch * p];
        TotalVariation.Forward<float>(x, dx, p1, p2);
        TotalVariation.Adjoint<float>(y, dty, p1, p2);
        double lhs = 0, rhs = 0, scale = 0;
        for (int i = 0; i < dx.Length; i++)
        {
            lhs += (double)dx[i] * y[i];
            scale += Math.Abs((double)dx[i] * y[i]);
        }
        for (int i = 0; i < x.Length; i++) rhs += (double)x[i] * dty[i];
        // Float rounding of each difference (≤ 2⁻²⁴·2 relative) bounds |⟨Dx,y⟩ − ⟨x,Dᵀy⟩| by ~1e-7 of Σ|terms|.
        Assert.That(lhs, Is.EqualTo(rhs).Within(1e-6 * (scale + 1e-30) + 1e-12));
    }

    [Test]
    public void ConstantGridHasZeroDifferences()
    {
        var x = Enumerable.Repeat(2.5, 12).ToArray();
        var dx = new double[TotalVariation.DifferenceCount(3, 4)];
        TotalVariation.Forward<double>(x, dx, 3, 4);
        Assert.That(dx, Is.All.EqualTo(0.0));
    }

    [Test]
    public void MismatchedSizesThrowBeforeRunning()
    {
        using var x = TestData.Cpu(new double[12]);
        using var wrong = TestData.Cpu(new double[16]);
        Assert.Throws<BufferSizeMismatchException>(() => TotalVariation.Forward(x, wrong, 3, 4));
        using var dx = TestData.Cpu(new double[17]);
        Assert.Throws<BufferSizeMismatchException>(() => TotalVariation.Forward(wrong, dx, 3, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => TotalVariation.Forward(x, dx, 0, 4));
    }
}
