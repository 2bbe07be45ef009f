using System.Numerics;
using System.Numerics.Tensors;
using Saliency.Kernels.Backends;
using Saliency.Kernels.Cpu;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Algorithms.ScanReduceOperations;
using ILGPU.Runtime;
using Saliency.Kernels.Ilgpu;

namespace Saliency.Kernels.Ops;

/// <summary>
/// Reductions per slice (a buffer of equal slices of length n, e.g. one FISTA iterate per λ₁): dot product,
/// ‖·‖₁, ‖·‖₂, ‖·‖∞, the count of exact zeros (sparsity η = zeros / n) and the count of non-finite values.
/// Results come back to the host in double precision. Float data are accumulated in double (the CPU sums
/// 4,096-element blocks with <c>TensorPrimitives</c> in the data's precision and adds the blocks in double; the ILGPU
/// kernel accumulates each element in double), so the two agree to about 1e-6 relative for float input and to
/// rounding (1e-12 relative) for double input. Maxima and counts are exact on both.
/// </summary>
internal static class Reductions
{
    private const int CpuBlock = 4096;

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
        RunIlgpu((IlgpuBackend)x.Backend, Op.Dot, x, y, sliceLength, slices, results);
    }

    /// <summary><c>results[s] = ‖x_s‖₁</c>.</summary>
    public static void L1Norm<T>(DeviceBuffer<T> x, int sliceLength, Span<double> results) where T : unmanaged, IFloatingPointIeee754<T> =>
        Unary(x, sliceLength, results, Op.SumAbs, static (a, _) => TensorPrimitives.SumOfMagnitudes(a), max: false, sqrt: false);

    /// <summary><c>results[s] = ‖x_s‖₂</c>.</summary>
    public static void L2Norm<T>(DeviceBuffer<T> x, int sliceLength, Span<double> results) where T : unmanaged, IFloatingPointIeee754<T> =>
        Unary(x, sliceLength, results, Op.SumSquares, static (a, _) => TensorPrimitives.SumOfSquares(a), max: false, sqrt: true);

    /// <summary><c>results[s] = ‖x_s‖∞</c> (0 for an all-zero slice).</summary>
    public static void MaxAbs<T>(DeviceBuffer<T> x, int sliceLength, Span<double> results) where T : unmanaged, IFloatingPointIeee754<T> =>
        Unary(x, sliceLength, results, Op.MaxAbs, static (a, _) => T.Abs(TensorPrimitives.MaxMagnitude(a)), max: true, sqrt: false);

    /// <summary><c>results[s]</c> = number of entries of slice s equal to 0 (±0).</summary>
    public static void CountZeros<T>(DeviceBuffer<T> x, int sliceLength, Span<long> results) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Span<double> tmp = results.Length <= 256 ? stackalloc double[results.Length] : new double[results.Length];
        Unary(x, sliceLength, tmp, Op.Zeros, static (a, _) => T.CreateTruncating(CountZerosCpu(a)), max: false, sqrt: false);
        for (int i = 0; i < tmp.Length; i++) results[i] = (long)tmp[i];
    }

    /// <summary><c>results[s]</c> = number of NaN or infinite entries of slice s (for validating device data).</summary>
    public static void CountNonFinite<T>(DeviceBuffer<T> x, int sliceLength, Span<long> results) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Span<double> tmp = results.Length <= 256 ? stackalloc double[results.Length] : new double[results.Length];
        Unary(x, sliceLength, tmp, Op.NonFinite, static (a, _) => T.CreateTruncating(CountNonFiniteCpu(a)), max: false, sqrt: false);
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

    private static void Unary<T>(DeviceBuffer<T> x, int sliceLength, Span<double> results, Op op, BlockReduce<T> block, bool max, bool sqrt)
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
        RunIlgpu((IlgpuBackend)x.Backend, op, x, x, sliceLength, slices, results);
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
        if (x.Backend is not CpuBackend and not IlgpuBackend) throw new NotSupportedException($"Backend {x.Backend.Kind} has no reduction kernels.");
        return slices;
    }

    /// <summary>What <see cref="Kernel{T, TE}"/> reduces (uniform per launch).</summary>
    private enum Op
    {
        Dot,
        SumAbs,
        SumSquares,
        MaxAbs,
        Zeros,
        NonFinite,
    }

    // Slices are cut into `parts` segments; one group per (segment, slice) writes one double partial, and the host adds
    // (or takes the maximum of) a slice's partials in segment order, so results do not depend on scheduling.
    private static void RunIlgpu<T>(IlgpuBackend gpu, Op op, DeviceBuffer<T> x, DeviceBuffer<T> y, int sliceLength, int slices, Span<double> results)
        where T : unmanaged
    {
        int parts = (int)Math.Clamp((sliceLength + 8191L) / 8192, 1, 128);
        int group = Math.Min(256, gpu.Accelerator.MaxNumThreadsPerGroup);
        var partialsHost = new double[checked(slices * parts)];
        lock (gpu.ScalarGate)
        {
            var partials = gpu.ReductionScratch(partialsHost.Length);
            // Slices along x (CUDA allows 2³¹ − 1 groups there), segments along y (≤ 128).
            var config = new KernelConfig(new Index2D(slices, parts), new Index2D(group, 1));
            if (Retype.IsSingle<T>())
                KernelFor<float, F32>(gpu)(config, gpu.Own(Retype.As<T, float>(x)).View, gpu.Own(Retype.As<T, float>(y)).View, sliceLength, parts, (int)op, partials);
            else
                KernelFor<double, F64>(gpu)(config, gpu.Own(Retype.As<T, double>(x)).View, gpu.Own(Retype.As<T, double>(y)).View, sliceLength, parts, (int)op, partials);
            partials.CopyToCPU(gpu.Stream, partialsHost);
            gpu.Stream.Synchronize();
        }
        bool max = op == Op.MaxAbs;
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

    private static Action<KernelConfig, ArrayView<T>, ArrayView<T>, int, int, int, ArrayView<double>> KernelFor<T, TE>(IlgpuBackend gpu)
        where T : unmanaged where TE : struct, IElement<T> =>
        gpu.GetKernel($"Reductions<{typeof(T).Name}>",
            a => a.LoadStreamKernel<ArrayView<T>, ArrayView<T>, int, int, int, ArrayView<double>>(Kernel<T, TE>));

    /// <summary>
    /// ILGPU kernel (explicitly grouped): group (slice, segment) accumulates its segment's terms in double per thread,
    /// then combines the group with ILGPU.Algorithms' group reductions (sum and maximum).
    /// </summary>
    private static void Kernel<T, TE>(ArrayView<T> x, ArrayView<T> y, int sliceLength, int parts, int op, ArrayView<double> partials)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        int slice = Grid.IdxX, part = Grid.IdxY;
        int chunk = (sliceLength + parts - 1) / parts;
        int begin = part * chunk;
        int end = Math.Min(begin + chunk, sliceLength);
        long origin = (long)slice * sliceLength;
        double sum = 0, max = 0;
        // Group.IdxX/DimX read once: on the CPU accelerator each read is a thread-local lookup.
        int lane = Group.IdxX, lanes = Group.DimX;
        for (int i = begin + lane; i < end; i += lanes)
        {
            T v = x[origin + i];
            double term;
            if (op == (int)Op.Dot) term = e.ToDouble(v) * e.ToDouble(y[origin + i]);
            else if (op == (int)Op.SumAbs || op == (int)Op.MaxAbs) term = e.ToDouble(e.Abs(v));
            else if (op == (int)Op.SumSquares) term = e.ToDouble(v) * e.ToDouble(v);
            else if (op == (int)Op.Zeros) term = e.ToDouble(v) == 0.0 ? 1.0 : 0.0;
            else term = e.IsFinite(v) ? 0.0 : 1.0;
            sum += term;
            max = XMath.Max(max, term);
        }
        sum = GroupExtensions.Reduce<double, AddDouble>(sum);
        max = GroupExtensions.Reduce<double, MaxDouble>(max);
        if (Group.IsFirstThread) partials[(long)slice * parts + part] = op == (int)Op.MaxAbs ? max : sum;
    }
}
