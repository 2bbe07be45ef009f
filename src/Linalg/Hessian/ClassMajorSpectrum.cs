using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using MathNet.Numerics.LinearAlgebra;
using MathNet.Numerics.LinearAlgebra.Factorization;

namespace Saliency.Linalg.Hessian;

/// <summary>
/// The spectrum of <c>H = W A Wᵀ</c> straight from the float32 class-major W that the HVP kernel uses (class j's
/// gradient at <c>[j·d, (j+1)·d)</c>), with no float64 or transposed copy of W: the c×c Gram <c>G = WᵀW</c> is
/// accumulated in float64 (float32 products are exact in float64, so G carries only the float64 summation round-off),
/// then <c>C = Lₐᵀ G Lₐ</c> and its eigenvalues as in <see cref="HessianSpectrum"/> (docs/mathematics.md, "Spectrum
/// without forming H"). Extra memory O(c²) plus one row block; at c = 1,000, d = 150,528 W is 602 MB, G 8 MB.
/// </summary>
internal static class ClassMajorSpectrum
{
    /// <summary>Rows of W per block: c × 256 float64 values (2 MB at c = 1,000) stay in the L2/L3 cache while every class pair is multiplied over them.</summary>
    internal const int BlockRows = 256;

    /// <summary>
    /// The nonzero part of the spectrum of <c>H = W A Wᵀ</c>, <c>A = diag(p) − ppᵀ</c> (the sub-block on the kept classes
    /// when <paramref name="classSubset"/>): its c largest eigenvalues in descending order (non-negative; the rest are zero).
    /// </summary>
    /// <param name="jacobian">W, class-major, d·c float32 values.</param>
    /// <param name="dimension">d.</param>
    /// <param name="probabilities">p of the c classes of W.</param>
    /// <param name="classSubset">True when W and p keep only some classes (Σp ≤ 1).</param>
    /// <exception cref="HessianInputException">Mismatched sizes or a non-finite W entry.</exception>
    /// <exception cref="ProbabilityVectorException">p is not a probability vector.</exception>
    public static double[] Eigenvalues(ReadOnlySpan<float> jacobian, int dimension, ReadOnlySpan<double> probabilities, bool classSubset = false)
    {
        int c = probabilities.Length;
        JacobianInput.Validate(jacobian, dimension, c, probabilities, classSubset);
        var gram = Gram(jacobian, dimension, c);
        var reduced = Matrix<double>.Build.Dense(c, c, ReducedFromGram(gram, probabilities));
        var evd = reduced.Evd(Symmetricity.Symmetric);
        var values = new double[c];
        for (int k = 0; k < c; k++) values[k] = Math.Max(0.0, evd.EigenValues[c - 1 - k].Real); // PSD: negatives are round-off
        return values;
    }

    /// <summary>
    /// <c>G = WᵀW</c> (c×c, symmetric, both triangles filled, row-major = column-major) in float64 from the float32
    /// class-major W. Row blocks of <see cref="BlockRows"/> are widened to float64 once (c × 256 values), then the
    /// upper-triangle tiles of 2×4 class pairs are spread over the cores; each tile keeps its 8 sums in registers across
    /// the block (6 vector loads per 8 fused multiply-adds, against 2 per 1 for one dot product at a time). Every entry is
    /// summed in the same order whatever the thread count, so G is deterministic.
    /// </summary>
    internal static double[] Gram(ReadOnlySpan<float> jacobian, int dimension, int classCount)
    {
        int d = dimension, c = classCount;
        if ((long)d * c != jacobian.Length)
            throw new HessianInputException($"W holds {jacobian.Length} values, d·c = {(long)d * c}.", nameof(jacobian));
        var gram = new double[(long)c * c];
        int tileRows = (c + 1) / 2;
        var block = new double[(long)c * BlockRows];
        for (int start = 0; start < d; start += BlockRows)
        {
            int n = Math.Min(BlockRows, d - start);
            // Widen class j's rows [start, start + n) to block[j·n, (j+1)·n): O(dc) in all, against O(dc²) below.
            for (int j = 0; j < c; j++)
                TensorPrimitives.ConvertChecked<float, double>(jacobian.Slice(j * d + start, n), block.AsSpan(j * n, n));
            Parallel.For(0, tileRows, tile => AccumulateTileRow(block, n, c, 2 * tile, gram));
        }
        for (int a = 0; a < c; a++)
            for (int b = a + 1; b < c; b++) gram[(long)b * c + a] = gram[(long)a * c + b];
        return gram;
    }

    /// <summary>Adds the block's contribution to <c>G[a, b]</c> for a ∈ {a0, a0 + 1}, b ≥ a (upper triangle).</summary>
    private static void AccumulateTileRow(double[] block, int n, int c, int a0, double[] gram)
    {
        int a1 = Math.Min(a0 + 1, c - 1);
        var x0 = block.AsSpan(a0 * n, n);
        var x1 = block.AsSpan(a1 * n, n);
        Span<double> sums = stackalloc double[8];
        for (int b0 = a0; b0 < c; b0 += 4)
        {
            int width = Math.Min(4, c - b0);
            Tile(x0, x1, block, n, b0, width, sums);
            for (int j = 0; j < width; j++)
            {
                int b = b0 + j;
                if (b >= a0) gram[(long)a0 * c + b] += sums[j];
                if (a1 != a0 && b >= a1) gram[(long)a1 * c + b] += sums[4 + j];
            }
        }
    }

    /// <summary>
    /// The 2×<paramref name="width"/> dot products of rows x0, x1 with block rows b0 … b0 + width − 1, over n values:
    /// Vector256 fused multiply-adds (4 lanes), then a scalar tail. Each sum's order depends on n only.
    /// </summary>
    private static void Tile(ReadOnlySpan<double> x0, ReadOnlySpan<double> x1, double[] block, int n, int b0, int width, Span<double> sums)
    {
        // Missing columns of a narrow last tile repeat the last real one; their sums are ignored.
        var y0 = block.AsSpan(b0 * n, n);
        var y1 = block.AsSpan((b0 + Math.Min(1, width - 1)) * n, n);
        var y2 = block.AsSpan((b0 + Math.Min(2, width - 1)) * n, n);
        var y3 = block.AsSpan((b0 + Math.Min(3, width - 1)) * n, n);
        Vector256<double> s00 = default, s01 = default, s02 = default, s03 = default;
        Vector256<double> s10 = default, s11 = default, s12 = default, s13 = default;
        int i = 0;
        for (; i <= n - 4; i += 4)
        {
            var u0 = Vector256.Create(x0.Slice(i, 4));
            var u1 = Vector256.Create(x1.Slice(i, 4));
            var v = Vector256.Create(y0.Slice(i, 4));
            s00 = Vector256.FusedMultiplyAdd(u0, v, s00);
            s10 = Vector256.FusedMultiplyAdd(u1, v, s10);
            v = Vector256.Create(y1.Slice(i, 4));
            s01 = Vector256.FusedMultiplyAdd(u0, v, s01);
            s11 = Vector256.FusedMultiplyAdd(u1, v, s11);
            v = Vector256.Create(y2.Slice(i, 4));
            s02 = Vector256.FusedMultiplyAdd(u0, v, s02);
            s12 = Vector256.FusedMultiplyAdd(u1, v, s12);
            v = Vector256.Create(y3.Slice(i, 4));
            s03 = Vector256.FusedMultiplyAdd(u0, v, s03);
            s13 = Vector256.FusedMultiplyAdd(u1, v, s13);
        }
        sums[0] = Vector256.Sum(s00); sums[1] = Vector256.Sum(s01); sums[2] = Vector256.Sum(s02); sums[3] = Vector256.Sum(s03);
        sums[4] = Vector256.Sum(s10); sums[5] = Vector256.Sum(s11); sums[6] = Vector256.Sum(s12); sums[7] = Vector256.Sum(s13);
        for (; i < n; i++)
        {
            sums[0] += x0[i] * y0[i]; sums[1] += x0[i] * y1[i]; sums[2] += x0[i] * y2[i]; sums[3] += x0[i] * y3[i];
            sums[4] += x1[i] * y0[i]; sums[5] += x1[i] * y1[i]; sums[6] += x1[i] * y2[i]; sums[7] += x1[i] * y3[i];
        }
    }

    /// <summary>
    /// <c>C = Lₐᵀ G Lₐ</c> with <c>Lₐ = diag(q)(I − α q qᵀ)</c>, q = √p (<see cref="SoftmaxCurvature.Factor"/>), in O(c²):
    /// with <c>S = diag(q) G diag(q)</c>, <c>u = S q</c>, <c>s = qᵀu</c>: <c>C = S − α(q uᵀ + u qᵀ) + α² s q qᵀ</c>.
    /// Symmetric by construction (G is). Column-major c×c (= row-major).
    /// </summary>
    internal static double[] ReducedFromGram(double[] gram, ReadOnlySpan<double> probabilities)
    {
        int c = probabilities.Length;
        var q = new double[c];
        double mass = 0;
        for (int i = 0; i < c; i++)
        {
            q[i] = Math.Sqrt(probabilities[i]);
            mass += probabilities[i];
        }
        double alpha = SoftmaxCurvature.FactorAlpha(mass);
        var s = new double[(long)c * c];
        for (int a = 0; a < c; a++)
            for (int b = 0; b < c; b++) s[(long)a * c + b] = q[a] * gram[(long)a * c + b] * q[b];
        var u = new double[c];
        for (int a = 0; a < c; a++) u[a] = TensorPrimitives.Dot<double>(s.AsSpan(a * c, c), q);
        double qu = TensorPrimitives.Dot<double>(q, u);
        for (int a = 0; a < c; a++)
            for (int b = 0; b < c; b++)
                s[(long)a * c + b] += -alpha * (q[a] * u[b] + u[a] * q[b]) + alpha * alpha * qu * q[a] * q[b];
        return s;
    }
}
