using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Saliency.Kernels.Ops;

/// <summary>
/// Host implementation of the two passes of <see cref="HessianVectorProduct"/> over a class-major W (class j's d
/// values contiguous at j·d). Both passes walk W once, split into contiguous d-ranges per core and tiles of
/// <see cref="Tile"/> pixels so that the right-hand sides' tile stays in L1/L2 while W streams from memory;
/// inner loops handle 4 right-hand sides (pass 1) or 4 classes (pass 2) per W load with 256-bit FMAs.
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
            for (int jj = 0; jj < cActive; jj++)
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
                for (int r = 0; r < k; r++)
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
}
