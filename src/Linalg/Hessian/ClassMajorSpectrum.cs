using System.Numerics.Tensors;
using System.Runtime.InteropServices;
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
    /// <summary>Rows of W per block: c × 128 float64 values (1 MB at c = 1,000) stay in the L2 cache while every class pair is multiplied over them.</summary>
    internal const int BlockRows = 128;

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
    /// class-major W. Row blocks of <see cref="BlockRows"/> are widened to float64 once (c × 128 values, 1 MB at
    /// c = 1,000: an L2 cache), then the upper-triangle tiles of 4×4 class pairs (AVX-512: 8 lanes, 16 sums in
    /// registers, 8 loads per 16 fused multiply-adds) or 2×4 (Vector256) are spread over the cores. Every entry is summed
    /// in the same order whatever the thread count, so G is deterministic on a given machine.
    /// </summary>
    /// <param name="jacobian">W, class-major.</param>
    /// <param name="dimension">d.</param>
    /// <param name="classCount">c.</param>
    /// <param name="wide">The AVX-512 tiles (default: where they run in hardware); tests run both kernels everywhere.</param>
    internal static double[] Gram(ReadOnlySpan<float> jacobian, int dimension, int classCount, bool? wide = null)
    {
        int d = dimension, c = classCount;
        if ((long)d * c != jacobian.Length)
            throw new HessianInputException($"W holds {jacobian.Length} values, d·c = {(long)d * c}.", nameof(jacobian));
        var gram = new double[(long)c * c];
        bool use512 = wide ?? Vector512.IsHardwareAccelerated;
        int rowsPerTile = use512 ? 4 : 2;
        int tileRows = (c + rowsPerTile - 1) / rowsPerTile;
        var block = new double[(long)c * BlockRows];
        for (int start = 0; start < d; start += BlockRows)
        {
            int n = Math.Min(BlockRows, d - start);
            // Widen class j's rows [start, start + n) to block[j·n, (j+1)·n): O(dc) in all, against O(dc²) below.
            for (int j = 0; j < c; j++)
                TensorPrimitives.ConvertChecked<float, double>(jacobian.Slice(j * d + start, n), block.AsSpan(j * n, n));
            if (use512) Parallel.For(0, tileRows, tile => TileRow512(block, n, c, 4 * tile, gram));
            else Parallel.For(0, tileRows, tile => TileRow256(block, n, c, 2 * tile, gram));
        }
        for (int a = 0; a < c; a++)
            for (int b = a + 1; b < c; b++) gram[(long)b * c + a] = gram[(long)a * c + b];
        return gram;
    }

    /// <summary>
    /// Adds the block's products to <c>G[a, b]</c> for a ∈ a0 … a0 + 3, b ≥ a: 4×4 tiles of dot products over the n block
    /// rows, 8 lanes at a time, then a scalar tail. Rows or columns past c repeat the last class; their sums are dropped.
    /// </summary>
    private static void TileRow512(double[] block, int n, int c, int a0, double[] gram)
    {
        ref double origin = ref MemoryMarshal.GetArrayDataReference(block);
        Span<int> a = [a0, Math.Min(a0 + 1, c - 1), Math.Min(a0 + 2, c - 1), Math.Min(a0 + 3, c - 1)];
        Span<double> sums = stackalloc double[16];
        int vectorEnd = n - n % 8;
        for (int b0 = a0; b0 < c; b0 += 4)
        {
            int b1 = Math.Min(b0 + 1, c - 1), b2 = Math.Min(b0 + 2, c - 1), b3 = Math.Min(b0 + 3, c - 1);
            nuint x0 = (nuint)(a[0] * n), x1 = (nuint)(a[1] * n), x2 = (nuint)(a[2] * n), x3 = (nuint)(a[3] * n);
            nuint y0 = (nuint)(b0 * n), y1 = (nuint)(b1 * n), y2 = (nuint)(b2 * n), y3 = (nuint)(b3 * n);
            Vector512<double> s00 = default, s01 = default, s02 = default, s03 = default, s10 = default, s11 = default, s12 = default, s13 = default;
            Vector512<double> s20 = default, s21 = default, s22 = default, s23 = default, s30 = default, s31 = default, s32 = default, s33 = default;
            for (nuint i = 0; i < (nuint)vectorEnd; i += 8)
            {
                var v0 = Vector512.LoadUnsafe(ref origin, y0 + i);
                var v1 = Vector512.LoadUnsafe(ref origin, y1 + i);
                var v2 = Vector512.LoadUnsafe(ref origin, y2 + i);
                var v3 = Vector512.LoadUnsafe(ref origin, y3 + i);
                var u = Vector512.LoadUnsafe(ref origin, x0 + i);
                s00 = Vector512.FusedMultiplyAdd(u, v0, s00); s01 = Vector512.FusedMultiplyAdd(u, v1, s01);
                s02 = Vector512.FusedMultiplyAdd(u, v2, s02); s03 = Vector512.FusedMultiplyAdd(u, v3, s03);
                u = Vector512.LoadUnsafe(ref origin, x1 + i);
                s10 = Vector512.FusedMultiplyAdd(u, v0, s10); s11 = Vector512.FusedMultiplyAdd(u, v1, s11);
                s12 = Vector512.FusedMultiplyAdd(u, v2, s12); s13 = Vector512.FusedMultiplyAdd(u, v3, s13);
                u = Vector512.LoadUnsafe(ref origin, x2 + i);
                s20 = Vector512.FusedMultiplyAdd(u, v0, s20); s21 = Vector512.FusedMultiplyAdd(u, v1, s21);
                s22 = Vector512.FusedMultiplyAdd(u, v2, s22); s23 = Vector512.FusedMultiplyAdd(u, v3, s23);
                u = Vector512.LoadUnsafe(ref origin, x3 + i);
                s30 = Vector512.FusedMultiplyAdd(u, v0, s30); s31 = Vector512.FusedMultiplyAdd(u, v1, s31);
                s32 = Vector512.FusedMultiplyAdd(u, v2, s32); s33 = Vector512.FusedMultiplyAdd(u, v3, s33);
            }
            sums[0] = Vector512.Sum(s00); sums[1] = Vector512.Sum(s01); sums[2] = Vector512.Sum(s02); sums[3] = Vector512.Sum(s03);
            sums[4] = Vector512.Sum(s10); sums[5] = Vector512.Sum(s11); sums[6] = Vector512.Sum(s12); sums[7] = Vector512.Sum(s13);
            sums[8] = Vector512.Sum(s20); sums[9] = Vector512.Sum(s21); sums[10] = Vector512.Sum(s22); sums[11] = Vector512.Sum(s23);
            sums[12] = Vector512.Sum(s30); sums[13] = Vector512.Sum(s31); sums[14] = Vector512.Sum(s32); sums[15] = Vector512.Sum(s33);
            ReadOnlySpan<nuint> xs = [x0, x1, x2, x3], ys = [y0, y1, y2, y3];
            for (int r = 0; r < 4; r++)
                for (int q = 0; q < 4; q++)
                    for (int i = vectorEnd; i < n; i++)
                        sums[4 * r + q] += block[(int)xs[r] + i] * block[(int)ys[q] + i];
            Scatter(sums, 4, a0, b0, c, gram);
        }
    }

    /// <summary>As <see cref="TileRow512"/> for a ∈ {a0, a0 + 1} with Vector256 (4 lanes), where AVX-512 is missing.</summary>
    private static void TileRow256(double[] block, int n, int c, int a0, double[] gram)
    {
        ref double origin = ref MemoryMarshal.GetArrayDataReference(block);
        Span<double> sums = stackalloc double[8];
        int vectorEnd = n - n % 4;
        nuint x0 = (nuint)(a0 * n), x1 = (nuint)(Math.Min(a0 + 1, c - 1) * n);
        for (int b0 = a0; b0 < c; b0 += 4)
        {
            nuint y0 = (nuint)(b0 * n), y1 = (nuint)(Math.Min(b0 + 1, c - 1) * n);
            nuint y2 = (nuint)(Math.Min(b0 + 2, c - 1) * n), y3 = (nuint)(Math.Min(b0 + 3, c - 1) * n);
            Vector256<double> s00 = default, s01 = default, s02 = default, s03 = default, s10 = default, s11 = default, s12 = default, s13 = default;
            for (nuint i = 0; i < (nuint)vectorEnd; i += 4)
            {
                var u0 = Vector256.LoadUnsafe(ref origin, x0 + i);
                var u1 = Vector256.LoadUnsafe(ref origin, x1 + i);
                var v = Vector256.LoadUnsafe(ref origin, y0 + i);
                s00 = Vector256.FusedMultiplyAdd(u0, v, s00); s10 = Vector256.FusedMultiplyAdd(u1, v, s10);
                v = Vector256.LoadUnsafe(ref origin, y1 + i);
                s01 = Vector256.FusedMultiplyAdd(u0, v, s01); s11 = Vector256.FusedMultiplyAdd(u1, v, s11);
                v = Vector256.LoadUnsafe(ref origin, y2 + i);
                s02 = Vector256.FusedMultiplyAdd(u0, v, s02); s12 = Vector256.FusedMultiplyAdd(u1, v, s12);
                v = Vector256.LoadUnsafe(ref origin, y3 + i);
                s03 = Vector256.FusedMultiplyAdd(u0, v, s03); s13 = Vector256.FusedMultiplyAdd(u1, v, s13);
            }
            sums[0] = Vector256.Sum(s00); sums[1] = Vector256.Sum(s01); sums[2] = Vector256.Sum(s02); sums[3] = Vector256.Sum(s03);
            sums[4] = Vector256.Sum(s10); sums[5] = Vector256.Sum(s11); sums[6] = Vector256.Sum(s12); sums[7] = Vector256.Sum(s13);
            ReadOnlySpan<nuint> xs = [x0, x1], ys = [y0, y1, y2, y3];
            for (int r = 0; r < 2; r++)
                for (int q = 0; q < 4; q++)
                    for (int i = vectorEnd; i < n; i++)
                        sums[4 * r + q] += block[(int)xs[r] + i] * block[(int)ys[q] + i];
            Scatter(sums, 2, a0, b0, c, gram);
        }
    }

    /// <summary>Adds a tile's sums (rows a0 …, columns b0 … b0 + 3) to the upper triangle of G, dropping the padding.</summary>
    private static void Scatter(ReadOnlySpan<double> sums, int rows, int a0, int b0, int c, double[] gram)
    {
        for (int r = 0; r < rows && a0 + r < c; r++)
            for (int q = 0; q < 4 && b0 + q < c; q++)
                if (b0 + q >= a0 + r) gram[(long)(a0 + r) * c + b0 + q] += sums[4 * r + q];
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
