using System.Numerics;
using Saliency.Kernels.Backends;
using Saliency.Kernels.Cpu;
using ILGPU;
using ILGPU.Runtime;
using Saliency.Kernels.Ilgpu;

namespace Saliency.Kernels.Ops;

/// <summary>
/// Soft-thresholding, the proximal map of <c>τ‖·‖₁</c>: <c>S_τ(x)ᵢ = sign(xᵢ)·max(|xᵢ| − τ, 0)</c>, batched over
/// equal slices with one threshold per slice (FISTA runs several λ₁ at once; the prox of <c>tλ‖·‖₁</c> is
/// <c>S_{tλ}</c>). Entries with <c>|xᵢ| ≤ τ</c> become exactly 0, which the sparsity ratio η counts.
/// </summary>
internal static class SoftThreshold
{
    /// <summary>
    /// <paramref name="result"/>[s·n + i] = S_{τ_s}(<paramref name="x"/>[s·n + i]) with n = <paramref name="sliceLength"/>.
    /// <paramref name="result"/> may be <paramref name="x"/> (in place).
    /// </summary>
    /// <exception cref="BufferSizeMismatchException">Lengths are not slices·n or the threshold count is not the slice count.</exception>
    /// <exception cref="NonFiniteValueException">A threshold is negative or not finite.</exception>
    public static void Apply<T>(DeviceBuffer<T> x, DeviceBuffer<T> result, int sliceLength, ReadOnlySpan<T> thresholds)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(x);
        var backend = x.Backend;
        KernelGuard.SameBackend(backend, x);
        KernelGuard.SameBackend(backend, result);
        int slices = KernelGuard.SliceCount(x.Length, sliceLength);
        KernelGuard.Length(result.Length, x.Length, "result length");
        KernelGuard.Length(thresholds.Length, slices, "one threshold per slice");
        KernelGuard.FiniteNonNegative(thresholds);
        switch (backend)
        {
            case CpuBackend cpu:
                Cpu(cpu.Own(x).Span, cpu.Own(result).Span, sliceLength, thresholds);
                break;
            case IlgpuBackend gpu when Retype.IsSingle<T>():
                Launch<float, F32>(gpu, Retype.As<T, float>(x), Retype.As<T, float>(result), sliceLength, Retype.As<T, float>(thresholds));
                break;
            case IlgpuBackend gpu:
                Launch<double, F64>(gpu, Retype.As<T, double>(x), Retype.As<T, double>(result), sliceLength, Retype.As<T, double>(thresholds));
                break;
            default:
                throw new NotSupportedException($"Backend {backend.Kind} has no soft-threshold kernel.");
        }
    }

    /// <summary>Host version of <see cref="Apply{T}"/> on spans (validated the same way). <paramref name="result"/> may overlap <paramref name="x"/> exactly.</summary>
    public static void Apply<T>(ReadOnlySpan<T> x, Span<T> result, int sliceLength, ReadOnlySpan<T> thresholds)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int slices = KernelGuard.SliceCount(x.Length, sliceLength);
        KernelGuard.Length(result.Length, x.Length, "result length");
        KernelGuard.Length(thresholds.Length, slices, "one threshold per slice");
        KernelGuard.FiniteNonNegative(thresholds);
        Cpu(x, result, sliceLength, thresholds);
    }

    private static void Cpu<T>(ReadOnlySpan<T> x, Span<T> result, int sliceLength, ReadOnlySpan<T> thresholds)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int s = 0; s < thresholds.Length; s++)
            ApplySlice(x.Slice(s * sliceLength, sliceLength), result.Slice(s * sliceLength, sliceLength), thresholds[s]);
    }

    /// <summary>S_τ on one contiguous span, vectorised: <c>max(x − τ, 0) + min(x + τ, 0)</c> (no branch, exact zeros).</summary>
    internal static void ApplySlice<T>(ReadOnlySpan<T> x, Span<T> y, T tau) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated && x.Length >= Vector<T>.Count)
        {
            var vt = new Vector<T>(tau);
            for (; i <= x.Length - Vector<T>.Count; i += Vector<T>.Count)
            {
                var v = new Vector<T>(x[i..]);
                (Vector.Max(v - vt, Vector<T>.Zero) + Vector.Min(v + vt, Vector<T>.Zero)).CopyTo(y[i..]);
            }
        }
        for (; i < x.Length; i++)
        {
            T v = x[i];
            y[i] = T.Max(v - tau, T.Zero) + T.Min(v + tau, T.Zero);
        }
    }

    private static void Launch<T, TE>(IlgpuBackend gpu, DeviceBuffer<T> x, DeviceBuffer<T> y, int sliceLength, ReadOnlySpan<T> thresholds)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var kernel = gpu.GetKernel($"SoftThreshold<{typeof(T).Name}>",
            a => a.LoadAutoGroupedStreamKernel<Index1D, Spread, ArrayView<T>, ArrayView<T>, int, ArrayView<T>>(Kernel<T, TE>));
        lock (gpu.ScalarGate)
        {
            var tau = gpu.UploadScalars(thresholds);
            var spread = gpu.Spread(x.Length);
            kernel(spread.Threads, spread, gpu.Own(x).View, gpu.Own(y).View, sliceLength, tau);
        }
    }

    /// <summary>ILGPU kernel, one work item per element (see Spread): the same branch-free formula as <see cref="ApplySlice{T}"/>.</summary>
    private static void Kernel<T, TE>(Index1D t, Spread spread, ArrayView<T> x, ArrayView<T> y, int sliceLength, ArrayView<T> tau)
        where T : unmanaged where TE : struct, IElement<T>
    {
        for (int i = spread.First(t); i < spread.End(t); i += spread.Step) KernelItem<T, TE>(i, x, y, sliceLength, tau);
    }

    private static void KernelItem<T, TE>(int i, ArrayView<T> x, ArrayView<T> y, int sliceLength, ArrayView<T> tau)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        T t = tau[i / sliceLength];
        T v = x[i];
        y[i] = e.Add(e.Max(e.Sub(v, t), default), e.Min(e.Add(v, t), default));
    }
}
