using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Saliency.Kernels.Ops;

/// <summary>
/// Host implementation of the two passes of <see cref="HessianVectorProduct"/> over a class-major W (class j's d
/// values contiguous at j·d). Both passes walk W once, split into contiguous d-ranges per core and tiles of
/// <see cref="Tile"/> pixels so that the right-hand sides' tile stays in L1/L2 while W streams from memory;
/// inner loops are register-blocked over 4 classes × 4 right-hand sides with 256-bit FMAs.
/// </summary>
internal static class HvpCpu
{
    /// <summary>Pixels per tile: 4 W rows × 1,024 floats = 16 KB stay in L1 while reused for every right-hand side.</summary>
    public const int Tile = 1024;

    /// <summary>
    /// Pass 1 on pixels [lo, hi): <c>partial[j·k + r] += Σᵢ W[class_j, i] V[r, i]</c> for the active classes j.
    /// </summary>
    public static void Project(ReadOnlySpan<float> w, int d, ReadOnlySpan<int> classes, ReadOnlySpan<float> v, int k,
        int lo, int hi, Span<double> partial)
    {
        int cActive = classes.Length;
        for (int t0 = lo; t0 < hi; t0 += Tile)
        {
            int len = Math.Min(Tile, hi - t0);
            int jj = 0;
            // 4 classes × 4 right-hand sides per sweep: 8 loads feed 16 FMAs (register blocking).
            for (; jj + 4 <= cActive; jj += 4)
            {
                var w0 = w.Slice(classes[jj] * d + t0, len);
                var w1 = w.Slice(classes[jj + 1] * d + t0, len);
                var w2 = w.Slice(classes[jj + 2] * d + t0, len);
                var w3 = w.Slice(classes[jj + 3] * d + t0, len);
                int r = 0;
                for (; r + 4 <= k; r += 4)
                    Dot4x4(w0, w1, w2, w3, v.Slice(r * d + t0, len), v.Slice((r + 1) * d + t0, len), v.Slice((r + 2) * d + t0, len),
                        v.Slice((r + 3) * d + t0, len), partial, jj * k + r, k);
                for (; r < k; r++)
                {
                    var vr = v.Slice(r * d + t0, len);
                    partial[jj * k + r] += TensorPrimitives.Dot(w0, vr);
                    partial[(jj + 1) * k + r] += TensorPrimitives.Dot(w1, vr);
                    partial[(jj + 2) * k + r] += TensorPrimitives.Dot(w2, vr);
                    partial[(jj + 3) * k + r] += TensorPrimitives.Dot(w3, vr);
                }
            }
            for (; jj < cActive; jj++)
            {
                var wj = w.Slice(classes[jj] * d + t0, len);
                var acc = partial.Slice(jj * k, k);
                int r = 0;
                for (; r + 4 <= k; r += 4)
                {
                    Dot4(wj, v.Slice(r * d + t0, len), v.Slice((r + 1) * d + t0, len), v.Slice((r + 2) * d + t0, len),
                        v.Slice((r + 3) * d + t0, len), out float s0, out float s1, out float s2, out float s3);
                    acc[r] += s0;
                    acc[r + 1] += s1;
                    acc[r + 2] += s2;
                    acc[r + 3] += s3;
                }
                for (; r < k; r++) acc[r] += TensorPrimitives.Dot(wj, v.Slice(r * d + t0, len));
            }
        }
    }

    /// <summary>
    /// Pass 2 on pixels [lo, hi): <c>HV[r, i] = Σ_j W[class_j, i] Z[j·k + r]</c> (overwrites HV's range).
    /// </summary>
    public static void Expand(ReadOnlySpan<float> w, int d, ReadOnlySpan<int> classes, ReadOnlySpan<float> z, int k,
        int lo, int hi, Span<float> hv)
    {
        int cActive = classes.Length;
        for (int t0 = lo; t0 < hi; t0 += Tile)
        {
            int len = Math.Min(Tile, hi - t0);
            for (int r = 0; r < k; r++) hv.Slice(r * d + t0, len).Clear();
            int jj = 0;
            for (; jj + 4 <= cActive; jj += 4)
            {
                var w0 = w.Slice(classes[jj] * d + t0, len);
                var w1 = w.Slice(classes[jj + 1] * d + t0, len);
                var w2 = w.Slice(classes[jj + 2] * d + t0, len);
                var w3 = w.Slice(classes[jj + 3] * d + t0, len);
                int r = 0;
                // 4 classes × 4 right-hand sides per sweep: 4 W loads and 4 output load/stores feed 16 FMAs.
                for (; r + 4 <= k; r += 4)
                    Axpy4x4(w0, w1, w2, w3, z, jj * k + r, k, hv.Slice(r * d + t0, len), hv.Slice((r + 1) * d + t0, len),
                        hv.Slice((r + 2) * d + t0, len), hv.Slice((r + 3) * d + t0, len));
                for (; r < k; r++)
                    Axpy4(w0, w1, w2, w3, z[jj * k + r], z[(jj + 1) * k + r], z[(jj + 2) * k + r], z[(jj + 3) * k + r], hv.Slice(r * d + t0, len));
            }
            for (; jj < cActive; jj++)
            {
                var wj = w.Slice(classes[jj] * d + t0, len);
                for (int r = 0; r < k; r++)
                {
                    var o = hv.Slice(r * d + t0, len);
                    TensorPrimitives.MultiplyAdd(wj, z[jj * k + r], o, o);
                }
            }
        }
    }

    // Four dot products sharing one pass over w: s_q = Σ w[i] v_q[i].
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dot4(ReadOnlySpan<float> w, ReadOnlySpan<float> v0, ReadOnlySpan<float> v1, ReadOnlySpan<float> v2,
        ReadOnlySpan<float> v3, out float s0, out float s1, out float s2, out float s3)
    {
        int n = w.Length, i = 0;
        s0 = s1 = s2 = s3 = 0;
        if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            ref float rw = ref MemoryMarshal.GetReference(w);
            ref float r0 = ref MemoryMarshal.GetReference(v0);
            ref float r1 = ref MemoryMarshal.GetReference(v1);
            ref float r2 = ref MemoryMarshal.GetReference(v2);
            ref float r3 = ref MemoryMarshal.GetReference(v3);
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; i <= n - 8; i += 8)
            {
                var wv = Vector256.LoadUnsafe(ref rw, (nuint)i);
                a0 = Vector256.FusedMultiplyAdd(wv, Vector256.LoadUnsafe(ref r0, (nuint)i), a0);
                a1 = Vector256.FusedMultiplyAdd(wv, Vector256.LoadUnsafe(ref r1, (nuint)i), a1);
                a2 = Vector256.FusedMultiplyAdd(wv, Vector256.LoadUnsafe(ref r2, (nuint)i), a2);
                a3 = Vector256.FusedMultiplyAdd(wv, Vector256.LoadUnsafe(ref r3, (nuint)i), a3);
            }
            s0 = Vector256.Sum(a0);
            s1 = Vector256.Sum(a1);
            s2 = Vector256.Sum(a2);
            s3 = Vector256.Sum(a3);
        }
        for (; i < n; i++)
        {
            float wi = w[i];
            s0 += wi * v0[i];
            s1 += wi * v1[i];
            s2 += wi * v2[i];
            s3 += wi * v3[i];
        }
    }

    // o += z0 w0 + z1 w1 + z2 w2 + z3 w3 (one load/store of o per four FMAs).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Axpy4(ReadOnlySpan<float> w0, ReadOnlySpan<float> w1, ReadOnlySpan<float> w2, ReadOnlySpan<float> w3,
        float z0, float z1, float z2, float z3, Span<float> o)
    {
        int n = o.Length, i = 0;
        if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            ref float r0 = ref MemoryMarshal.GetReference(w0);
            ref float r1 = ref MemoryMarshal.GetReference(w1);
            ref float r2 = ref MemoryMarshal.GetReference(w2);
            ref float r3 = ref MemoryMarshal.GetReference(w3);
            ref float ro = ref MemoryMarshal.GetReference(o);
            var (b0, b1, b2, b3) = (Vector256.Create(z0), Vector256.Create(z1), Vector256.Create(z2), Vector256.Create(z3));
            for (; i <= n - 8; i += 8)
            {
                var acc = Vector256.LoadUnsafe(ref ro, (nuint)i);
                acc = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref r0, (nuint)i), b0, acc);
                acc = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref r1, (nuint)i), b1, acc);
                acc = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref r2, (nuint)i), b2, acc);
                acc = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref r3, (nuint)i), b3, acc);
                acc.StoreUnsafe(ref ro, (nuint)i);
            }
        }
        for (; i < n; i++) o[i] += z0 * w0[i] + z1 * w1[i] + z2 * w2[i] + z3 * w3[i];
    }

    // partial[at + q·k + r] += Σᵢ w_q[i] v_r[i] for 4 classes q and 4 right-hand sides r.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dot4x4(ReadOnlySpan<float> w0, ReadOnlySpan<float> w1, ReadOnlySpan<float> w2, ReadOnlySpan<float> w3,
        ReadOnlySpan<float> v0, ReadOnlySpan<float> v1, ReadOnlySpan<float> v2, ReadOnlySpan<float> v3, Span<double> partial, int at, int k)
    {
        int n = w0.Length;
        if (!Vector256.IsHardwareAccelerated || n < 8)
        {
            Dot4(w0, v0, v1, v2, v3, out float a0, out float a1, out float a2, out float a3);
            Add(partial, at, a0, a1, a2, a3);
            Dot4(w1, v0, v1, v2, v3, out a0, out a1, out a2, out a3);
            Add(partial, at + k, a0, a1, a2, a3);
            Dot4(w2, v0, v1, v2, v3, out a0, out a1, out a2, out a3);
            Add(partial, at + 2 * k, a0, a1, a2, a3);
            Dot4(w3, v0, v1, v2, v3, out a0, out a1, out a2, out a3);
            Add(partial, at + 3 * k, a0, a1, a2, a3);
            return;
        }
        ref float rw0 = ref MemoryMarshal.GetReference(w0);
        ref float rw1 = ref MemoryMarshal.GetReference(w1);
        ref float rw2 = ref MemoryMarshal.GetReference(w2);
        ref float rw3 = ref MemoryMarshal.GetReference(w3);
        ref float rv0 = ref MemoryMarshal.GetReference(v0);
        ref float rv1 = ref MemoryMarshal.GetReference(v1);
        ref float rv2 = ref MemoryMarshal.GetReference(v2);
        ref float rv3 = ref MemoryMarshal.GetReference(v3);
        Vector256<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector256<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector256<float> a20 = default, a21 = default, a22 = default, a23 = default;
        Vector256<float> a30 = default, a31 = default, a32 = default, a33 = default;
        int i = 0;
        for (; i <= n - 8; i += 8)
        {
            var x0 = Vector256.LoadUnsafe(ref rv0, (nuint)i);
            var x1 = Vector256.LoadUnsafe(ref rv1, (nuint)i);
            var x2 = Vector256.LoadUnsafe(ref rv2, (nuint)i);
            var x3 = Vector256.LoadUnsafe(ref rv3, (nuint)i);
            var w = Vector256.LoadUnsafe(ref rw0, (nuint)i);
            a00 = Vector256.FusedMultiplyAdd(w, x0, a00); a01 = Vector256.FusedMultiplyAdd(w, x1, a01);
            a02 = Vector256.FusedMultiplyAdd(w, x2, a02); a03 = Vector256.FusedMultiplyAdd(w, x3, a03);
            w = Vector256.LoadUnsafe(ref rw1, (nuint)i);
            a10 = Vector256.FusedMultiplyAdd(w, x0, a10); a11 = Vector256.FusedMultiplyAdd(w, x1, a11);
            a12 = Vector256.FusedMultiplyAdd(w, x2, a12); a13 = Vector256.FusedMultiplyAdd(w, x3, a13);
            w = Vector256.LoadUnsafe(ref rw2, (nuint)i);
            a20 = Vector256.FusedMultiplyAdd(w, x0, a20); a21 = Vector256.FusedMultiplyAdd(w, x1, a21);
            a22 = Vector256.FusedMultiplyAdd(w, x2, a22); a23 = Vector256.FusedMultiplyAdd(w, x3, a23);
            w = Vector256.LoadUnsafe(ref rw3, (nuint)i);
            a30 = Vector256.FusedMultiplyAdd(w, x0, a30); a31 = Vector256.FusedMultiplyAdd(w, x1, a31);
            a32 = Vector256.FusedMultiplyAdd(w, x2, a32); a33 = Vector256.FusedMultiplyAdd(w, x3, a33);
        }
        float s00 = Vector256.Sum(a00), s01 = Vector256.Sum(a01), s02 = Vector256.Sum(a02), s03 = Vector256.Sum(a03);
        float s10 = Vector256.Sum(a10), s11 = Vector256.Sum(a11), s12 = Vector256.Sum(a12), s13 = Vector256.Sum(a13);
        float s20 = Vector256.Sum(a20), s21 = Vector256.Sum(a21), s22 = Vector256.Sum(a22), s23 = Vector256.Sum(a23);
        float s30 = Vector256.Sum(a30), s31 = Vector256.Sum(a31), s32 = Vector256.Sum(a32), s33 = Vector256.Sum(a33);
        for (; i < n; i++)
        {
            float x0 = v0[i], x1 = v1[i], x2 = v2[i], x3 = v3[i];
            float q = w0[i]; s00 += q * x0; s01 += q * x1; s02 += q * x2; s03 += q * x3;
            q = w1[i]; s10 += q * x0; s11 += q * x1; s12 += q * x2; s13 += q * x3;
            q = w2[i]; s20 += q * x0; s21 += q * x1; s22 += q * x2; s23 += q * x3;
            q = w3[i]; s30 += q * x0; s31 += q * x1; s32 += q * x2; s33 += q * x3;
        }
        Add(partial, at, s00, s01, s02, s03);
        Add(partial, at + k, s10, s11, s12, s13);
        Add(partial, at + 2 * k, s20, s21, s22, s23);
        Add(partial, at + 3 * k, s30, s31, s32, s33);
    }

    private static void Add(Span<double> partial, int at, float a0, float a1, float a2, float a3)
    {
        partial[at] += a0;
        partial[at + 1] += a1;
        partial[at + 2] += a2;
        partial[at + 3] += a3;
    }

    // o_r += Σ_q z[at + q·k + r] w_q for 4 classes q and 4 outputs r, one sweep over the tile.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Axpy4x4(ReadOnlySpan<float> w0, ReadOnlySpan<float> w1, ReadOnlySpan<float> w2, ReadOnlySpan<float> w3,
        ReadOnlySpan<float> z, int at, int k, Span<float> o0, Span<float> o1, Span<float> o2, Span<float> o3)
    {
        int n = o0.Length, i = 0;
        if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            ref float rw0 = ref MemoryMarshal.GetReference(w0);
            ref float rw1 = ref MemoryMarshal.GetReference(w1);
            ref float rw2 = ref MemoryMarshal.GetReference(w2);
            ref float rw3 = ref MemoryMarshal.GetReference(w3);
            ref float ro0 = ref MemoryMarshal.GetReference(o0);
            ref float ro1 = ref MemoryMarshal.GetReference(o1);
            ref float ro2 = ref MemoryMarshal.GetReference(o2);
            ref float ro3 = ref MemoryMarshal.GetReference(o3);
            // z[q][r] broadcasts, q = class, r = output.
            var b00 = Vector256.Create(z[at]); var b01 = Vector256.Create(z[at + 1]); var b02 = Vector256.Create(z[at + 2]); var b03 = Vector256.Create(z[at + 3]);
            var b10 = Vector256.Create(z[at + k]); var b11 = Vector256.Create(z[at + k + 1]); var b12 = Vector256.Create(z[at + k + 2]); var b13 = Vector256.Create(z[at + k + 3]);
            var b20 = Vector256.Create(z[at + 2 * k]); var b21 = Vector256.Create(z[at + 2 * k + 1]); var b22 = Vector256.Create(z[at + 2 * k + 2]); var b23 = Vector256.Create(z[at + 2 * k + 3]);
            var b30 = Vector256.Create(z[at + 3 * k]); var b31 = Vector256.Create(z[at + 3 * k + 1]); var b32 = Vector256.Create(z[at + 3 * k + 2]); var b33 = Vector256.Create(z[at + 3 * k + 3]);
            for (; i <= n - 8; i += 8)
            {
                var x0 = Vector256.LoadUnsafe(ref rw0, (nuint)i);
                var x1 = Vector256.LoadUnsafe(ref rw1, (nuint)i);
                var x2 = Vector256.LoadUnsafe(ref rw2, (nuint)i);
                var x3 = Vector256.LoadUnsafe(ref rw3, (nuint)i);
                var acc = Vector256.LoadUnsafe(ref ro0, (nuint)i);
                acc = Vector256.FusedMultiplyAdd(x0, b00, acc); acc = Vector256.FusedMultiplyAdd(x1, b10, acc);
                acc = Vector256.FusedMultiplyAdd(x2, b20, acc); acc = Vector256.FusedMultiplyAdd(x3, b30, acc);
                acc.StoreUnsafe(ref ro0, (nuint)i);
                acc = Vector256.LoadUnsafe(ref ro1, (nuint)i);
                acc = Vector256.FusedMultiplyAdd(x0, b01, acc); acc = Vector256.FusedMultiplyAdd(x1, b11, acc);
                acc = Vector256.FusedMultiplyAdd(x2, b21, acc); acc = Vector256.FusedMultiplyAdd(x3, b31, acc);
                acc.StoreUnsafe(ref ro1, (nuint)i);
                acc = Vector256.LoadUnsafe(ref ro2, (nuint)i);
                acc = Vector256.FusedMultiplyAdd(x0, b02, acc); acc = Vector256.FusedMultiplyAdd(x1, b12, acc);
                acc = Vector256.FusedMultiplyAdd(x2, b22, acc); acc = Vector256.FusedMultiplyAdd(x3, b32, acc);
                acc.StoreUnsafe(ref ro2, (nuint)i);
                acc = Vector256.LoadUnsafe(ref ro3, (nuint)i);
                acc = Vector256.FusedMultiplyAdd(x0, b03, acc); acc = Vector256.FusedMultiplyAdd(x1, b13, acc);
                acc = Vector256.FusedMultiplyAdd(x2, b23, acc); acc = Vector256.FusedMultiplyAdd(x3, b33, acc);
                acc.StoreUnsafe(ref ro3, (nuint)i);
            }
        }
        for (; i < n; i++)
        {
            float x0 = w0[i], x1 = w1[i], x2 = w2[i], x3 = w3[i];
            o0[i] += z[at] * x0 + z[at + k] * x1 + z[at + 2 * k] * x2 + z[at + 3 * k] * x3;
            o1[i] += z[at + 1] * x0 + z[at + k + 1] * x1 + z[at + 2 * k + 1] * x2 + z[at + 3 * k + 1] * x3;
            o2[i] += z[at + 2] * x0 + z[at + k + 2] * x1 + z[at + 2 * k + 2] * x2 + z[at + 3 * k + 2] * x3;
            o3[i] += z[at + 3] * x0 + z[at + k + 3] * x1 + z[at + 2 * k + 3] * x2 + z[at + 3 * k + 3] * x3;
        }
    }
}
