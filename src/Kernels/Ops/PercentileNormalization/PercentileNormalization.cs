using Saliency.Kernels.Backends;
using Saliency.Kernels.Cpu;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Algorithms.RadixSortOperations;
using ILGPU.Runtime;
using Saliency.Kernels.Ilgpu;

namespace Saliency.Kernels.Ops;

/// <summary>
/// SmoothGrad's non-diverging normalisation of saliency maps (docs/mathematics.md, "Visualisation"): absolute value, sum over
/// channels, cap at the q-th percentile (default 99), divide, clip to [0, 1]. Batched over maps.
/// </summary>
/// <remarks>
/// <para><b>Layout.</b> Input map b is <c>channels</c> planes of <c>pixels</c> values at <c>b·channels·pixels</c>
/// (channel-major, "CHW"); output map b is one plane at <c>b·pixels</c>.</para>
/// <para><b>Percentile</b> as numpy's default (linear interpolation): with the sorted sums s₍₀₎ ≤ … ≤ s₍P−1₎,
/// rank = q/100·(P−1), cap = s₍⌊rank⌋₎ + (rank − ⌊rank⌋)(s₍⌊rank⌋+1₎ − s₍⌊rank⌋₎). If cap = 0 the output is 1 where
/// s &gt; 0 and 0 elsewhere (the limit of clip(s/cap)). Unlike the PAIR saliency library's
/// <c>VisualizeImageGrayscale</c>, the minimum is not subtracted (docs/mathematics.md's definition).</para>
/// <para>The CPU finds the order statistics by quickselect, the ILGPU backends by sorting each map's sums with
/// ILGPU.Algorithms' radix sort; both sum channels in the same order in float and divide in double, so the outputs
/// agree bit for bit.</para>
/// </remarks>
internal static class PercentileNormalization
{
    /// <summary>Normalises every map of <paramref name="maps"/> into <paramref name="result"/>.</summary>
    /// <exception cref="BufferSizeMismatchException">Lengths are not B·channels·pixels and B·pixels for one B ≥ 1.</exception>
    /// <exception cref="NonFiniteValueException">A map value is NaN/∞, or the percentile is outside [0, 100].</exception>
    public static void Apply(DeviceBuffer<float> maps, DeviceBuffer<float> result, int channels, int pixels, double percentile = 99)
    {
        ArgumentNullException.ThrowIfNull(maps);
        KernelGuard.SameBackend(maps.Backend, maps);
        KernelGuard.SameBackend(maps.Backend, result);
        int batch = CheckSizes(maps.Length, result.Length, channels, pixels, percentile);
        switch (maps.Backend)
        {
            case CpuBackend cpu:
                KernelGuard.Finite((ReadOnlySpan<float>)cpu.Own(maps).Span, "maps");
                Cpu(cpu.Own(maps).Span, cpu.Own(result).Span, channels, pixels, batch, percentile);
                break;
            case IlgpuBackend gpu:
                Span<long> bad = stackalloc long[1];
                Reductions.CountNonFinite(maps, maps.Length, bad);
                if (bad[0] != 0) throw new NonFiniteValueException($"The maps contain {bad[0]} non-finite values.", nameof(maps));
                RunIlgpu(gpu, gpu.Own(maps), gpu.Own(result), channels, pixels, batch, percentile);
                break;
            default:
                throw new NotSupportedException($"Backend {maps.Backend.Kind} has no normalisation kernel.");
        }
    }

    /// <summary>Host version of <see cref="Apply(DeviceBuffer{float}, DeviceBuffer{float}, int, int, double)"/> on spans.</summary>
    public static void Apply(ReadOnlySpan<float> maps, Span<float> result, int channels, int pixels, double percentile = 99)
    {
        int batch = CheckSizes(maps.Length, result.Length, channels, pixels, percentile);
        KernelGuard.Finite(maps, nameof(maps));
        Cpu(maps, result, channels, pixels, batch, percentile);
    }

    /// <summary>The q-th percentile (numpy's linear interpolation) of <paramref name="values"/>; reorders <paramref name="values"/>.</summary>
    public static double Percentile(Span<float> values, double percentile)
    {
        if (values.IsEmpty) throw new ArgumentException("No values.", nameof(values));
        double rank = percentile / 100.0 * (values.Length - 1);
        int lo = (int)Math.Floor(rank);
        double frac = rank - lo;
        float vlo = Select(values, lo);
        float vhi = vlo;
        if (frac > 0 && lo + 1 < values.Length)
        {
            // After selecting lo, everything right of it is ≥ s₍lo₎: the next order statistic is their minimum.
            vhi = float.PositiveInfinity;
            foreach (var v in values[(lo + 1)..]) vhi = Math.Min(vhi, v);
        }
        return vlo + frac * ((double)vhi - vlo);
    }

    private static int CheckSizes(int mapLength, int resultLength, int channels, int pixels, double percentile)
    {
        KernelGuard.AtLeast(channels, 1);
        KernelGuard.AtLeast(pixels, 1);
        if (!(percentile >= 0 && percentile <= 100))
            throw new NonFiniteValueException($"The percentile must lie in [0, 100], got {percentile}.", nameof(percentile));
        int batch = KernelGuard.SliceCount(mapLength, checked(channels * pixels), "maps");
        if (resultLength != (long)batch * pixels) KernelGuard.Length(resultLength, (long)batch * pixels, $"result for {batch} map(s) of {pixels} pixels");
        return batch;
    }

    private static void Cpu(ReadOnlySpan<float> maps, Span<float> result, int channels, int pixels, int batch, double percentile)
    {
        var scratch = new float[pixels];
        for (int b = 0; b < batch; b++)
        {
            var s = result.Slice(b * pixels, pixels);
            var x = maps.Slice(b * channels * pixels, channels * pixels);
            // Σ_c |x_c| in channel order (the GPU kernel adds in the same order, so the float sums are identical).
            for (int i = 0; i < pixels; i++)
            {
                float acc = 0f;
                for (int c = 0; c < channels; c++) acc += Math.Abs(x[c * pixels + i]);
                s[i] = acc;
            }
            s.CopyTo(scratch);
            double cap = Percentile(scratch, percentile);
            for (int i = 0; i < pixels; i++)
            {
                double v = s[i];
                double r = cap > 0 ? v / cap : (v > 0 ? 1.0 : 0.0);
                s[i] = (float)Math.Min(Math.Max(r, 0.0), 1.0);
            }
        }
    }

    private static void RunIlgpu(IlgpuBackend gpu, IlgpuBuffer<float> maps, IlgpuBuffer<float> result, int channels, int pixels, int batch,
        double percentile)
    {
        var acc = gpu.Accelerator;
        var absSum = gpu.GetKernel("PercentileNormalization.AbsSum",
            a => a.LoadAutoGroupedStreamKernel<Index1D, Spread, ArrayView<float>, ArrayView<float>, int, int>(AbsSumKernel));
        var caps = gpu.GetKernel("PercentileNormalization.Cap",
            a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, int, double, ArrayView<double>>(CapKernel));
        var divide = gpu.GetKernel("PercentileNormalization.DivideClip",
            a => a.LoadAutoGroupedStreamKernel<Index1D, Spread, ArrayView<double>, ArrayView<float>, int>(DivideClipKernel));
        var sort = gpu.GetKernel("PercentileNormalization.Sort", a => a.CreateRadixSort<float, Stride1D.Dense, AscendingFloat>());
        using var sorted = acc.Allocate1D<float>(result.Length);
        using var cap = acc.Allocate1D<double>(batch);
        using var temp = acc.Allocate1D<int>(acc.ComputeRadixSortTempStorageSize<float, AscendingFloat>(pixels));
        // s = Σ_c |x_c| straight into the result (then divided in place), and a copy that is sorted map by map.
        var spread = gpu.Spread(result.Length);
        absSum(spread.Threads, spread, maps.View, result.View, channels, pixels);
        result.View.CopyTo(gpu.Stream, sorted.View.BaseView);
        for (int b = 0; b < batch; b++) sort(gpu.Stream, sorted.View.SubView(b * pixels, pixels), temp.View.BaseView);
        caps(batch, sorted.View.BaseView, pixels, percentile, cap.View.BaseView);
        divide(spread.Threads, spread, cap.View.BaseView, result.View, pixels);
        gpu.Stream.Synchronize(); // the temporaries are freed on leaving this scope
    }

    /// <summary>ILGPU kernel: s[b, i] = Σ_c |x[b, c, i]| in channel order (the CPU's order, so the float sums are identical).</summary>
    private static void AbsSumKernel(Index1D t, Spread spread, ArrayView<float> x, ArrayView<float> s, int channels, int pixels)
    {
        for (int i = spread.First(t); i < spread.End(t); i += spread.Step) AbsSumKernelItem(i, x, s, channels, pixels);
    }

    private static void AbsSumKernelItem(int i, ArrayView<float> x, ArrayView<float> s, int channels, int pixels)
    {
        int b = i / pixels, k = i - b * pixels;
        long origin = (long)b * channels * pixels + k;
        float acc = 0f;
        for (int c = 0; c < channels; c++) acc += XMath.Abs(x[origin + (long)c * pixels]);
        s[i] = acc;
    }

    /// <summary>ILGPU kernel, one thread per map: numpy's linearly interpolated percentile of the sorted sums.</summary>
    private static void CapKernel(Index1D b, ArrayView<float> sorted, int pixels, double percentile, ArrayView<double> caps)
    {
        long origin = (long)(int)b * pixels;
        double rank = percentile / 100.0 * (pixels - 1);
        int lo = (int)XMath.Floor(rank);
        double frac = rank - lo;
        float vlo = sorted[origin + lo];
        float vhi = frac > 0 && lo + 1 < pixels ? sorted[origin + lo + 1] : vlo;
        caps[b] = vlo + frac * ((double)vhi - vlo);
    }

    /// <summary>ILGPU kernel: out = clip(s / cap, 0, 1) in double (cap = 0: 1 where s &gt; 0), in place over the sums.</summary>
    private static void DivideClipKernel(Index1D t, Spread spread, ArrayView<double> caps, ArrayView<float> s, int pixels)
    {
        for (int i = spread.First(t); i < spread.End(t); i += spread.Step) DivideClipKernelItem(i, caps, s, pixels);
    }

    private static void DivideClipKernelItem(int i, ArrayView<double> caps, ArrayView<float> s, int pixels)
    {
        double cap = caps[i / pixels];
        double v = s[i];
        double r = cap > 0 ? v / cap : (v > 0 ? 1.0 : 0.0);
        s[i] = (float)XMath.Min(XMath.Max(r, 0.0), 1.0);
    }

    // Hoare-partition quickselect: after it returns, a[k] is the k-th smallest, a[..k] ≤ a[k] ≤ a[(k+1)..].
    // Equal keys are split between both sides, so maps with many zeros do not degrade it.
    private static float Select(Span<float> a, int k)
    {
        int lo = 0, hi = a.Length - 1;
        while (lo < hi)
        {
            int mid = lo + (hi - lo) / 2;
            // Median of three as pivot.
            if (a[mid] < a[lo]) (a[mid], a[lo]) = (a[lo], a[mid]);
            if (a[hi] < a[lo]) (a[hi], a[lo]) = (a[lo], a[hi]);
            if (a[hi] < a[mid]) (a[hi], a[mid]) = (a[mid], a[hi]);
            float pivot = a[mid];
            int i = lo, j = hi;
            while (i <= j)
            {
                while (a[i] < pivot) i++;
                while (a[j] > pivot) j--;
                if (i <= j)
                {
                    (a[i], a[j]) = (a[j], a[i]);
                    i++;
                    j--;
                }
            }
            if (k <= j) hi = j;
            else if (k >= i) lo = i;
            else return a[k];
        }
        return a[k];
    }
}
