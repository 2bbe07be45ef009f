using System.Numerics;
using System.Numerics.Tensors;
using Saliency.Kernels.Backends;
using Saliency.Kernels.Cpu;
using Saliency.Kernels.Cuda;

namespace Saliency.Kernels.Ops;

/// <summary>
/// Reductions per slice (a buffer of equal slices of length n, e.g. one FISTA iterate per λ₁): dot product,
/// ‖·‖₁, ‖·‖₂, ‖·‖∞, the count of exact zeros (sparsity η = zeros / n) and the count of non-finite values.
/// Results come back to the host in double precision. Float data are accumulated in double (the CPU sums
/// 4,096-element blocks with <c>TensorPrimitives</c> in the data's precision and adds the blocks in double; the GPU
/// accumulates each element in double), so CPU and GPU agree to about 1e-6 relative for float input.
/// </summary>
public static class Reductions
{
    private const int CpuBlock = 4096;
    private static readonly Lazy<CudaKernelSource> Source = new(() => CudaKernelSource.Embedded("Reductions.cu"));

    /// <summary><c>results[s] = ⟨x_s, y_s⟩</c>.</summary>
    /// <exception cref="BufferSizeMismatchException">Lengths do not split into <paramref name="results"/>.Length slices.</exception>
    public static void Dot<T>(DeviceBuffer<T> x, DeviceBuffer<T> y, int sliceLength, Span<double> results)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int slices = Check(x, sliceLength, results.Length);
        KernelGuard.SameBackend(x.Backend, y);
        KernelGuard.Length(y.Length, x.Length, "y length");
        if (x.Backend is CpuBackend cpu)
        {
            var xs = cpu.Own(x).Span;
            var ys = cpu.Own(y).Span;
            for (int s = 0; s < slices; s++)
                results[s] = Blocked(xs.Slice(s * sliceLength, sliceLength), ys.Slice(s * sliceLength, sliceLength), static (a, b) => TensorPrimitives.Dot(a, b));
            return;
        }
        RunCuda((CudaBackend)x.Backend, "reduce_dot_", x, y, sliceLength, slices, results, max: false);
    }

    /// <summary><c>results[s] = ‖x_s‖₁</c>.</summary>
    public static void L1Norm<T>(DeviceBuffer<T> x, int sliceLength, Span<double> results) where T : unmanaged, IFloatingPointIeee754<T> =>
        Unary(x, sliceLength, results, "reduce_sumabs_", static (a, _) => TensorPrimitives.SumOfMagnitudes(a), max: false, sqrt: false);

    /// <summary><c>results[s] = ‖x_s‖₂</c>.</summary>
    public static void L2Norm<T>(DeviceBuffer<T> x, int sliceLength, Span<double> results) where T : unmanaged, IFloatingPointIeee754<T> =>
        Unary(x, sliceLength, results, "reduce_sumsq_", static (a, _) => TensorPrimitives.SumOfSquares(a), max: false, sqrt: true);

    /// <summary><c>results[s] = ‖x_s‖∞</c> (0 for an all-zero slice).</summary>
    public static void MaxAbs<T>(DeviceBuffer<T> x, int sliceLength, Span<double> results) where T : unmanaged, IFloatingPointIeee754<T> =>
        Unary(x, sliceLength, results, "reduce_maxabs_", static (a, _) => T.Abs(TensorPrimitives.MaxMagnitude(a)), max: true, sqrt: false);

    /// <summary><c>results[s]</c> = number of entries of slice s equal to 0 (±0).</summary>
    public static void CountZeros<T>(DeviceBuffer<T> x, int sliceLength, Span<long> results) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Span<double> tmp = results.Length <= 256 ? stackalloc double[results.Length] : new double[results.Length];
        Unary(x, sliceLength, tmp, "reduce_zeros_", static (a, _) => T.CreateTruncating(CountZerosCpu(a)), max: false, sqrt: false);
        for (int i = 0; i < tmp.Length; i++) results[i] = (long)tmp[i];
    }

    /// <summary><c>results[s]</c> = number of NaN or infinite entries of slice s (for validating device data).</summary>
    public static void CountNonFinite<T>(DeviceBuffer<T> x, int sliceLength, Span<long> results) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Span<double> tmp = results.Length <= 256 ? stackalloc double[results.Length] : new double[results.Length];
        Unary(x, sliceLength, tmp, "reduce_nonfinite_", static (a, _) => T.CreateTruncating(CountNonFiniteCpu(a)), max: false, sqrt: false);
        for (int i = 0; i < tmp.Length; i++) results[i] = (long)tmp[i];
    }

    private static int CountZerosCpu<T>(ReadOnlySpan<T> a) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = 0;
        foreach (var v in a) if (v == T.Zero) n++;
        return n;
    }

    private static int CountNonFiniteCpu<T>(ReadOnlySpan<T> a) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (TensorPrimitives.IsFiniteAll(a)) return 0;
        int n = 0;
        foreach (var v in a) if (!T.IsFinite(v)) n++;
        return n;
    }

    private delegate T BlockReduce<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b);

    private static void Unary<T>(DeviceBuffer<T> x, int sliceLength, Span<double> results, string kernel, BlockReduce<T> block, bool max, bool sqrt)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int slices = Check(x, sliceLength, results.Length);
        if (x.Backend is CpuBackend cpu)
        {
            var xs = cpu.Own(x).Span;
            for (int s = 0; s < slices; s++)
            {
                var slice = xs.Slice(s * sliceLength, sliceLength);
                double r = max ? double.CreateTruncating(block(slice, default)) : Blocked(slice, default, block);
                results[s] = sqrt ? Math.Sqrt(r) : r;
            }
            return;
        }
        RunCuda((CudaBackend)x.Backend, kernel, x, null, sliceLength, slices, results, max);
        if (sqrt)
            for (int s = 0; s < slices; s++) results[s] = Math.Sqrt(results[s]);
    }

    // Sums a reduction over 4,096-element blocks in double so that float error does not grow with the length.
    private static double Blocked<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, BlockReduce<T> block) where T : unmanaged, IFloatingPointIeee754<T>
    {
        double sum = 0;
        for (int o = 0; o < a.Length; o += CpuBlock)
        {
            int len = Math.Min(CpuBlock, a.Length - o);
            sum += double.CreateTruncating(block(a.Slice(o, len), b.IsEmpty ? default : b.Slice(o, len)));
        }
        return sum;
    }

    private static int Check<T>(DeviceBuffer<T> x, int sliceLength, int resultCount) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(x);
        KernelGuard.SameBackend(x.Backend, x);
        int slices = KernelGuard.SliceCount(x.Length, sliceLength, "x");
        KernelGuard.Length(resultCount, slices, "results: one per slice");
        if (x.Backend is not CpuBackend and not CudaBackend) throw new NotSupportedException($"Backend {x.Backend.Kind} has no reduction kernels.");
        return slices;
    }

    private static void RunCuda<T>(CudaBackend cuda, string kernelPrefix, DeviceBuffer<T> x, DeviceBuffer<T>? y, int sliceLength, int slices,
        Span<double> results, bool max) where T : unmanaged
    {
        var kernel = cuda.GetKernel(Source.Value, kernelPrefix + ElementTypes.CudaSuffix<T>());
        int parts = (int)Math.Clamp((sliceLength + 8191L) / 8192, 1, 128);
        double[] partialsHost;
        lock (cuda.ScratchLock)
        {
            var partials = cuda.ReductionScratch(checked(slices * parts));
            var args = CudaLaunchArgs.Rent().Add(cuda.Own(x));
            if (y is not null) args.Add(cuda.Own(y));
            args.Add((long)sliceLength).Add(parts).Add(partials);
            cuda.Launch(kernel, ((uint)parts, (uint)slices, 1), (256, 1, 1), 0, args);
            partialsHost = new double[partials.Length];
            cuda.Download(partials, partialsHost);
        }
        for (int s = 0; s < slices; s++)
        {
            double acc = 0;
            for (int b = 0; b < parts; b++)
            {
                double v = partialsHost[s * parts + b];
                acc = max ? Math.Max(acc, v) : acc + v;
            }
            results[s] = acc;
        }
    }
}
