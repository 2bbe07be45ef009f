using System.Numerics;
using Saliency.Kernels.Backends;
using Saliency.Kernels.Cpu;
using ILGPU;
using ILGPU.Runtime;
using Saliency.Kernels.Ilgpu;

namespace Saliency.Kernels.Ops;

/// <summary>
/// Element-wise updates batched over equal slices of length n with one scalar per slice: axpby and the
/// FISTA (Beck–Teboulle) steps for <c>min f(x) + λ‖x‖₁</c>:
/// <c>x⁺ = S_{tλ}(y − t∇f(y))</c> (<see cref="ProxGradient{T}"/>), <c>y⁺ = x⁺ + β(x⁺ − x)</c>
/// (<see cref="Extrapolate{T}"/>), or both fused (<see cref="FistaUpdate{T}"/>, one pass instead of two).
/// Outputs may be the same buffer as an input (element-wise in place).
/// </summary>
internal static class VectorOps
{
    /// <summary><c>y ← α_s x + β_s y</c> per slice s.</summary>
    /// <exception cref="BufferSizeMismatchException">Lengths or scalar counts do not match the slices.</exception>
    /// <exception cref="NonFiniteValueException">A scalar is not finite.</exception>
    public static void Axpby<T>(DeviceBuffer<T> x, DeviceBuffer<T> y, int sliceLength, ReadOnlySpan<T> alpha, ReadOnlySpan<T> beta)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var backend = Check(x, sliceLength, out int slices, [y]);
        Scalars(slices, alpha, nameof(alpha));
        Scalars(slices, beta, nameof(beta));
        if (backend is CpuBackend cpu)
        {
            var xs = cpu.Own(x).Span;
            var ys = cpu.Own(y).Span;
            for (int s = 0; s < slices; s++)
            {
                var yy = ys.Slice(s * sliceLength, sliceLength);
                // y = α x + β y via two vectorised passes (β y first, then += α x).
                System.Numerics.Tensors.TensorPrimitives.Multiply(yy, beta[s], yy);
                System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(xs.Slice(s * sliceLength, sliceLength), alpha[s], yy, yy);
            }
            return;
        }
        var gpu = (IlgpuBackend)backend;
        if (Retype.IsSingle<T>())
            Launch<float, F32>(gpu, Mode.Axpby, Retype.As<T, float>(x), null, null, Retype.As<T, float>(y), null, sliceLength,
                Retype.As<T, float>(alpha), Retype.As<T, float>(beta), default);
        else
            Launch<double, F64>(gpu, Mode.Axpby, Retype.As<T, double>(x), null, null, Retype.As<T, double>(y), null, sliceLength,
                Retype.As<T, double>(alpha), Retype.As<T, double>(beta), default);
    }

    /// <summary>Proximal gradient step <c>x⁺ = S_{t_s λ_s}(y − t_s g)</c> per slice s.</summary>
    /// <exception cref="BufferSizeMismatchException">Lengths or scalar counts do not match the slices.</exception>
    /// <exception cref="NonFiniteValueException">A step is not finite and positive, or a λ is negative or not finite.</exception>
    public static void ProxGradient<T>(DeviceBuffer<T> y, DeviceBuffer<T> gradient, DeviceBuffer<T> xNew, int sliceLength,
        ReadOnlySpan<T> steps, ReadOnlySpan<T> lambdas) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var backend = Check(y, sliceLength, out int slices, [gradient, xNew]);
        Steps(slices, steps, lambdas);
        if (backend is CpuBackend cpu)
        {
            var ys = cpu.Own(y).Span;
            var gs = cpu.Own(gradient).Span;
            var xs = cpu.Own(xNew).Span;
            for (int s = 0; s < slices; s++)
                FusedCpu(ys.Slice(s * sliceLength, sliceLength), gs.Slice(s * sliceLength, sliceLength), default,
                    xs.Slice(s * sliceLength, sliceLength), default, steps[s], lambdas[s], T.Zero, extrapolate: false);
            return;
        }
        var gpu = (IlgpuBackend)backend;
        if (Retype.IsSingle<T>())
            Launch<float, F32>(gpu, Mode.ProxGradient, Retype.As<T, float>(y), Retype.As<T, float>(gradient), null, Retype.As<T, float>(xNew), null,
                sliceLength, Retype.As<T, float>(steps), Retype.As<T, float>(lambdas), default);
        else
            Launch<double, F64>(gpu, Mode.ProxGradient, Retype.As<T, double>(y), Retype.As<T, double>(gradient), null, Retype.As<T, double>(xNew), null,
                sliceLength, Retype.As<T, double>(steps), Retype.As<T, double>(lambdas), default);
    }

    /// <summary>Momentum step <c>y⁺ = x⁺ + β_s (x⁺ − x)</c> per slice s.</summary>
    /// <exception cref="BufferSizeMismatchException">Lengths or scalar counts do not match the slices.</exception>
    /// <exception cref="NonFiniteValueException">A momentum is not finite.</exception>
    public static void Extrapolate<T>(DeviceBuffer<T> xNew, DeviceBuffer<T> xOld, DeviceBuffer<T> yNew, int sliceLength, ReadOnlySpan<T> momenta)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var backend = Check(xNew, sliceLength, out int slices, [xOld, yNew]);
        Scalars(slices, momenta, nameof(momenta));
        if (backend is CpuBackend cpu)
        {
            var xn = cpu.Own(xNew).Span;
            var xo = cpu.Own(xOld).Span;
            var yn = cpu.Own(yNew).Span;
            for (int s = 0; s < slices; s++)
            {
                int o = s * sliceLength;
                T b = momenta[s];
                for (int i = o; i < o + sliceLength; i++)
                {
                    T v = xn[i];
                    yn[i] = v + b * (v - xo[i]);
                }
            }
            return;
        }
        var gpu = (IlgpuBackend)backend;
        if (Retype.IsSingle<T>())
            Launch<float, F32>(gpu, Mode.Extrapolate, Retype.As<T, float>(xNew), null, Retype.As<T, float>(xOld), null, Retype.As<T, float>(yNew),
                sliceLength, Retype.As<T, float>(momenta), default, default);
        else
            Launch<double, F64>(gpu, Mode.Extrapolate, Retype.As<T, double>(xNew), null, Retype.As<T, double>(xOld), null, Retype.As<T, double>(yNew),
                sliceLength, Retype.As<T, double>(momenta), default, default);
    }

    /// <summary>
    /// Fused FISTA step per slice s: <c>x⁺ = S_{t_s λ_s}(y − t_s g)</c>, <c>y⁺ = x⁺ + β_s (x⁺ − x_old)</c>.
    /// <paramref name="xNew"/> may be <paramref name="xOld"/> and <paramref name="yNew"/> may be <paramref name="y"/>.
    /// </summary>
    /// <exception cref="BufferSizeMismatchException">Lengths or scalar counts do not match the slices.</exception>
    /// <exception cref="NonFiniteValueException">Steps not finite and positive, λ negative or not finite, β not finite.</exception>
    public static void FistaUpdate<T>(DeviceBuffer<T> y, DeviceBuffer<T> gradient, DeviceBuffer<T> xOld, DeviceBuffer<T> xNew,
        DeviceBuffer<T> yNew, int sliceLength, ReadOnlySpan<T> steps, ReadOnlySpan<T> lambdas, ReadOnlySpan<T> momenta)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var backend = Check(y, sliceLength, out int slices, [gradient, xOld, xNew, yNew]);
        Steps(slices, steps, lambdas);
        Scalars(slices, momenta, nameof(momenta));
        if (backend is CpuBackend cpu)
        {
            var ys = cpu.Own(y).Span;
            var gs = cpu.Own(gradient).Span;
            var xo = cpu.Own(xOld).Span;
            var xn = cpu.Own(xNew).Span;
            var yn = cpu.Own(yNew).Span;
            for (int s = 0; s < slices; s++)
            {
                int o = s * sliceLength;
                FusedCpu(ys.Slice(o, sliceLength), gs.Slice(o, sliceLength), xo.Slice(o, sliceLength), xn.Slice(o, sliceLength),
                    yn.Slice(o, sliceLength), steps[s], lambdas[s], momenta[s], extrapolate: true);
            }
            return;
        }
        var gpu = (IlgpuBackend)backend;
        if (Retype.IsSingle<T>())
            Launch<float, F32>(gpu, Mode.Fista, Retype.As<T, float>(y), Retype.As<T, float>(gradient), Retype.As<T, float>(xOld),
                Retype.As<T, float>(xNew), Retype.As<T, float>(yNew), sliceLength,
                Retype.As<T, float>(steps), Retype.As<T, float>(lambdas), Retype.As<T, float>(momenta));
        else
            Launch<double, F64>(gpu, Mode.Fista, Retype.As<T, double>(y), Retype.As<T, double>(gradient), Retype.As<T, double>(xOld),
                Retype.As<T, double>(xNew), Retype.As<T, double>(yNew), sliceLength,
                Retype.As<T, double>(steps), Retype.As<T, double>(lambdas), Retype.As<T, double>(momenta));
    }

    /// <summary>Which update <see cref="Kernel{T, TE}"/> performs (uniform per launch, so the branch costs nothing on a GPU).</summary>
    private enum Mode
    {
        Axpby,
        ProxGradient,
        Extrapolate,
        Fista,
    }

    // One ILGPU kernel for the four updates: absent buffers are passed as `a` (never read). Scalars are packed
    // [first | second | third] with one per slice (IlgpuBackend.UploadScalars).
    private static void Launch<T, TE>(IlgpuBackend gpu, Mode mode, DeviceBuffer<T> a, DeviceBuffer<T>? g, DeviceBuffer<T>? xOld,
        DeviceBuffer<T>? outX, DeviceBuffer<T>? outY, int sliceLength, ReadOnlySpan<T> first, ReadOnlySpan<T> second, ReadOnlySpan<T> third)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var kernel = gpu.GetKernel($"VectorOps<{typeof(T).Name}>", acc => acc.LoadAutoGroupedStreamKernel<
            Index1D, Spread, int, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, int, ArrayView<T>>(Kernel<T, TE>));
        var va = gpu.Own(a).View;
        lock (gpu.ScalarGate)
        {
            var scalars = gpu.UploadScalars(first, second, third);
            var spread = gpu.Spread(a.Length);
            kernel(spread.Threads, spread, (int)mode, va, g is null ? va : gpu.Own(g).View, xOld is null ? va : gpu.Own(xOld).View,
                outX is null ? va : gpu.Own(outX).View, outY is null ? va : gpu.Own(outY).View, sliceLength, a.Length / sliceLength, scalars);
        }
    }

    /// <summary>
    /// ILGPU kernel, one work item per element (see Spread); the arithmetic is <see cref="FusedCpu{T}"/>'s (and, for axpby,
    /// <c>(x·α) + (β·y)</c> as TensorPrimitives computes it), so the ILGPU CPU accelerator matches the CPU bit for bit.
    /// </summary>
    private static void Kernel<T, TE>(Index1D t, Spread spread, int mode, ArrayView<T> a, ArrayView<T> g, ArrayView<T> xOld, ArrayView<T> outX, ArrayView<T> outY, int sliceLength, int slices, ArrayView<T> scalars)
        where T : unmanaged where TE : struct, IElement<T>
    {
        for (int i = spread.First(t); i < spread.End(t); i += spread.Step) KernelItem<T, TE>(i, mode, a, g, xOld, outX, outY, sliceLength, slices, scalars);
    }

    private static void KernelItem<T, TE>(int i, int mode, ArrayView<T> a, ArrayView<T> g, ArrayView<T> xOld, ArrayView<T> outX, ArrayView<T> outY, int sliceLength, int slices, ArrayView<T> scalars)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        int s = i / sliceLength;
        T first = scalars[s];
        if (mode == (int)Mode.Axpby)
        {
            outX[i] = e.Add(e.Mul(a[i], first), e.Mul(scalars[slices + s], outX[i]));
            return;
        }
        if (mode == (int)Mode.Extrapolate)
        {
            T xn = a[i];
            outY[i] = e.Add(xn, e.Mul(first, e.Sub(xn, xOld[i])));
            return;
        }
        // ProxGradient / Fista: x⁺ = S_{tλ}(y − t g), y⁺ = x⁺ + β (x⁺ − x_old); reads everything before writing.
        T tau = e.Mul(first, scalars[slices + s]);
        T v = e.Sub(a[i], e.Mul(first, g[i]));
        T x = e.Add(e.Max(e.Sub(v, tau), default), e.Min(e.Add(v, tau), default));
        if (mode == (int)Mode.Fista)
        {
            T xo = xOld[i];
            outX[i] = x;
            outY[i] = e.Add(x, e.Mul(scalars[2 * slices + s], e.Sub(x, xo)));
        }
        else
        {
            outX[i] = x;
        }
    }

    // One slice of the FISTA step on the host. Reads every input element before writing the outputs at the same
    // index, so outputs may alias inputs. Vectorised with Vector<T>; the scalar tail uses the same formula.
    private static void FusedCpu<T>(ReadOnlySpan<T> y, ReadOnlySpan<T> g, ReadOnlySpan<T> xOld, Span<T> xNew, Span<T> yNew,
        T t, T lambda, T beta, bool extrapolate) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T tau = t * lambda;
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var (vt, vtau, vb) = (new Vector<T>(t), new Vector<T>(tau), new Vector<T>(beta));
            for (; i <= y.Length - Vector<T>.Count; i += Vector<T>.Count)
            {
                var v = new Vector<T>(y[i..]) - vt * new Vector<T>(g[i..]);
                var xn = Vector.Max(v - vtau, Vector<T>.Zero) + Vector.Min(v + vtau, Vector<T>.Zero);
                if (extrapolate)
                {
                    var xo = new Vector<T>(xOld[i..]);
                    xn.CopyTo(xNew[i..]);
                    (xn + vb * (xn - xo)).CopyTo(yNew[i..]);
                }
                else
                {
                    xn.CopyTo(xNew[i..]);
                }
            }
        }
        for (; i < y.Length; i++)
        {
            T v = y[i] - t * g[i];
            T xn = T.Max(v - tau, T.Zero) + T.Min(v + tau, T.Zero);
            if (extrapolate)
            {
                T xo = xOld[i];
                xNew[i] = xn;
                yNew[i] = xn + beta * (xn - xo);
            }
            else
            {
                xNew[i] = xn;
            }
        }
    }

    private static IComputeBackend Check<T>(DeviceBuffer<T> first, int sliceLength, out int slices, ReadOnlySpan<DeviceBuffer<T>> others) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(first);
        var backend = first.Backend;
        KernelGuard.SameBackend(backend, first, "first buffer");
        slices = KernelGuard.SliceCount(first.Length, sliceLength, "first buffer");
        for (int i = 0; i < others.Length; i++)
        {
            // Messages are formatted only on failure: these checks run every solver iteration.
            if (others[i] is null || others[i].IsDisposed || !ReferenceEquals(others[i].Backend, backend))
                KernelGuard.SameBackend(backend, others[i], $"buffer #{i + 2}");
            if (others[i].Length != first.Length)
                KernelGuard.Length(others[i].Length, first.Length, $"buffer #{i + 2} length");
        }
        if (backend is not CpuBackend and not IlgpuBackend) throw new NotSupportedException($"Backend {backend.Kind} has no vector kernels.");
        return backend;
    }

    private static void Scalars<T>(int slices, ReadOnlySpan<T> values, string name) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (values.Length != slices) KernelGuard.Length(values.Length, slices, $"'{name}': one scalar per slice", name);
        KernelGuard.Finite(values, name);
    }

    private static void Steps<T>(int slices, ReadOnlySpan<T> steps, ReadOnlySpan<T> lambdas) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Scalars(slices, steps, nameof(steps));
        for (int s = 0; s < steps.Length; s++)
            if (steps[s] <= T.Zero) throw new NonFiniteValueException($"Step sizes must be positive, but step {s} is {steps[s]}.", nameof(steps));
        KernelGuard.Length(lambdas.Length, slices, "'lambdas': one λ per slice", nameof(lambdas));
        KernelGuard.FiniteNonNegative(lambdas, nameof(lambdas));
    }
}
