using System.Numerics;
using Saliency.Kernels.Backends;
using Saliency.Kernels.Cpu;
using Saliency.Kernels.Cuda;

namespace Saliency.Kernels.Ops;

/// <summary>
/// Element-wise updates batched over equal slices of length n with one scalar per slice: axpby and the
/// FISTA (Beck–Teboulle) steps for <c>min f(x) + λ‖x‖₁</c>:
/// <c>x⁺ = S_{tλ}(y − t∇f(y))</c> (<see cref="ProxGradient{T}"/>), <c>y⁺ = x⁺ + β(x⁺ − x)</c>
/// (<see cref="Extrapolate{T}"/>), or both fused (<see cref="FistaUpdate{T}"/>, one pass instead of two).
/// Outputs may be the same buffer as an input (element-wise in place).
/// </summary>
public static class VectorOps
{
    private static readonly Lazy<CudaKernelSource> Source = new(() => CudaKernelSource.Embedded("VectorOps.cu"));

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
        var cuda = (CudaBackend)backend;
        var (cx, cy) = (cuda.Own(x), cuda.Own(y));
        var kernel = cuda.GetKernel(Source.Value, "axpby_" + ElementTypes.CudaSuffix<T>());
        for (int first = 0; first < slices; first += CudaSlices.MaxSlicesPerLaunch)
        {
            int count = Math.Min(CudaSlices.MaxSlicesPerLaunch, slices - first);
            long o = (long)first * sliceLength;
            var args = CudaLaunchArgs.Rent().Add(CudaSlices.Offset(cx, o)).Add(CudaSlices.Offset(cy, o)).Add((long)sliceLength).Add(count)
                .AddInline(alpha.Slice(first, count), CudaSlices.MaxSlicesPerLaunch).AddInline(beta.Slice(first, count), CudaSlices.MaxSlicesPerLaunch);
            cuda.Launch1D(kernel, (long)count * sliceLength, args);
        }
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
        var cuda = (CudaBackend)backend;
        var (cy, cg, cx) = (cuda.Own(y), cuda.Own(gradient), cuda.Own(xNew));
        var kernel = cuda.GetKernel(Source.Value, "prox_gradient_" + ElementTypes.CudaSuffix<T>());
        for (int first = 0; first < slices; first += CudaSlices.MaxSlicesPerLaunch)
        {
            int count = Math.Min(CudaSlices.MaxSlicesPerLaunch, slices - first);
            long o = (long)first * sliceLength;
            var args = CudaLaunchArgs.Rent().Add(CudaSlices.Offset(cy, o)).Add(CudaSlices.Offset(cg, o)).Add(CudaSlices.Offset(cx, o))
                .Add((long)sliceLength).Add(count)
                .AddInline(steps.Slice(first, count), CudaSlices.MaxSlicesPerLaunch).AddInline(lambdas.Slice(first, count), CudaSlices.MaxSlicesPerLaunch);
            cuda.Launch1D(kernel, (long)count * sliceLength, args);
        }
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
        var cuda = (CudaBackend)backend;
        var (cxn, cxo, cyn) = (cuda.Own(xNew), cuda.Own(xOld), cuda.Own(yNew));
        var kernel = cuda.GetKernel(Source.Value, "extrapolate_" + ElementTypes.CudaSuffix<T>());
        for (int first = 0; first < slices; first += CudaSlices.MaxSlicesPerLaunch)
        {
            int count = Math.Min(CudaSlices.MaxSlicesPerLaunch, slices - first);
            long o = (long)first * sliceLength;
            var args = CudaLaunchArgs.Rent().Add(CudaSlices.Offset(cxn, o)).Add(CudaSlices.Offset(cxo, o)).Add(CudaSlices.Offset(cyn, o))
                .Add((long)sliceLength).Add(count).AddInline(momenta.Slice(first, count), CudaSlices.MaxSlicesPerLaunch);
            cuda.Launch1D(kernel, (long)count * sliceLength, args);
        }
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
        var cuda = (CudaBackend)backend;
        var kernel = cuda.GetKernel(Source.Value, "fista_update_" + ElementTypes.CudaSuffix<T>());
        var (cy, cg, cxo, cxn, cyn) = (cuda.Own(y), cuda.Own(gradient), cuda.Own(xOld), cuda.Own(xNew), cuda.Own(yNew));
        for (int first = 0; first < slices; first += CudaSlices.MaxSlicesPerLaunch)
        {
            int count = Math.Min(CudaSlices.MaxSlicesPerLaunch, slices - first);
            long o = (long)first * sliceLength;
            var args = CudaLaunchArgs.Rent()
                .Add(CudaSlices.Offset(cy, o)).Add(CudaSlices.Offset(cg, o)).Add(CudaSlices.Offset(cxo, o))
                .Add(CudaSlices.Offset(cxn, o)).Add(CudaSlices.Offset(cyn, o)).Add((long)sliceLength).Add(count)
                .AddInline(steps.Slice(first, count), CudaSlices.MaxSlicesPerLaunch)
                .AddInline(lambdas.Slice(first, count), CudaSlices.MaxSlicesPerLaunch)
                .AddInline(momenta.Slice(first, count), CudaSlices.MaxSlicesPerLaunch);
            cuda.Launch1D(kernel, (long)count * sliceLength, args);
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
        if (backend is not CpuBackend and not CudaBackend) throw new NotSupportedException($"Backend {backend.Kind} has no vector kernels.");
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
