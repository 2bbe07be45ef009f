using Saliency.Kernels.Backends;
using Saliency.Kernels.Cpu;
using Saliency.Kernels.Ops;

namespace Saliency.Solvers.Caso;

/// <summary>
/// <see cref="IHessianOperator"/> over the backends' batched float32 HVP kernel
/// (<see cref="HessianVectorProduct"/>: <c>H V = W (A (Wᵀ V))</c>, one pass pair over a class-major W for all k
/// right-hand sides, on the CPU or a CUDA device). The solver's float64 vectors are rounded to float32 on the way in
/// and widened on the way out, so a product carries float32 round-off (about 1e-7 relative, times √c for the sums).
/// </summary>
/// <remarks>Owns the device copy of W it uploads; dispose it (or the <see cref="CasoProblem"/> holding it).</remarks>
internal sealed class KernelHessianOperator : IDeviceHessianOperator, IDisposable
{
    private readonly IComputeBackend _backend;
    private readonly DeviceBuffer<float> _w;
    private readonly HessianVectorProduct _hvp;
    private readonly Dictionary<int, (DeviceBuffer<float> In, DeviceBuffer<float> Out)> _buffers = new();
    private float[] _host = [];

    /// <summary>Uploads W (class-major d×c, see <see cref="HessianVectorProduct"/>) and prepares the kernel.</summary>
    /// <param name="backend">Where the products run.</param>
    /// <param name="jacobian">W, class-major: class j's gradient at <c>[j·d, (j+1)·d)</c>.</param>
    /// <param name="dimension">d.</param>
    /// <param name="classCount">c.</param>
    /// <param name="probabilities">p over all c classes.</param>
    /// <param name="classSubset">Classes H keeps (empty: all).</param>
    public KernelHessianOperator(IComputeBackend backend, ReadOnlySpan<float> jacobian, int dimension, int classCount,
        ReadOnlySpan<double> probabilities, ReadOnlySpan<int> classSubset = default)
    {
        ArgumentNullException.ThrowIfNull(backend);
        _backend = backend;
        _w = backend.Allocate<float>(jacobian.Length);
        backend.Upload(jacobian, _w);
        _hvp = Prepare(_w, dimension, classCount, probabilities, classSubset);
        Dimension = dimension;
    }

    /// <summary>
    /// Takes over <paramref name="jacobian"/>, a buffer of <paramref name="backend"/> that already holds W (class-major
    /// d×c) — the streamed all-class Jacobian writes its chunks straight into it — so no copy of W is made. The operator
    /// disposes the buffer; on failure it is disposed before the exception leaves.
    /// </summary>
    public KernelHessianOperator(IComputeBackend backend, DeviceBuffer<float> jacobian, int dimension, int classCount,
        ReadOnlySpan<double> probabilities)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(jacobian);
        _backend = backend;
        _w = jacobian;
        _hvp = Prepare(_w, dimension, classCount, probabilities, default);
        Dimension = dimension;
    }

    /// <summary>The kernel over <paramref name="w"/> (disposed when the kernel cannot be made).</summary>
    private static HessianVectorProduct Prepare(DeviceBuffer<float> w, int dimension, int classCount, ReadOnlySpan<double> probabilities,
        ReadOnlySpan<int> classSubset)
    {
        var p = new float[probabilities.Length];
        for (int i = 0; i < p.Length; i++) p[i] = (float)probabilities[i];
        try
        {
            return new HessianVectorProduct(w, dimension, classCount, p, classSubset);
        }
        catch
        {
            w.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public int Dimension { get; }

    /// <inheritdoc />
    public IComputeBackend Backend => _backend;

    IComputeBackend? IDeviceHessianOperator.Backend => _backend;

    /// <inheritdoc />
    /// <remarks>Counted in <see cref="Products"/>; its time is not (a device launch returns before the kernel ends).</remarks>
    public void Multiply(DeviceBuffer<float> v, DeviceBuffer<float> hv)
    {
        _hvp.Apply(v, hv);
        Products += v.Length / Dimension;
    }

    /// <summary>Vectors multiplied since creation or <see cref="ResetCounters"/> (an explainer's "HVPs" figure).</summary>
    public long Products { get; private set; }

    /// <summary>Wall time of the host-vector <see cref="Multiply(ReadOnlySpan{double}, Span{double}, int)"/> calls since
    /// creation or <see cref="ResetCounters"/>: two Stopwatch reads per call, against milliseconds per product at 224².</summary>
    public TimeSpan MultiplyTime { get; private set; }

    /// <summary>Zeroes <see cref="Products"/> and <see cref="MultiplyTime"/>.</summary>
    public void ResetCounters()
    {
        Products = 0;
        MultiplyTime = TimeSpan.Zero;
    }

    /// <summary>Bytes of W the kernel streams per product (two passes over the active classes).</summary>
    public long BytesStreamedPerMultiply => _hvp.BytesStreamedPerApply;

    /// <inheritdoc />
    public void Multiply(ReadOnlySpan<double> v, Span<double> hv, int count)
    {
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        MultiplyHost(v, hv, count);
        MultiplyTime += System.Diagnostics.Stopwatch.GetElapsedTime(start);
        Products += count;
    }

    private void MultiplyHost(ReadOnlySpan<double> v, Span<double> hv, int count)
    {
        int n = count * Dimension;
        if (v.Length < n || hv.Length < n)
            throw new CasoInputException($"HVP buffers hold {v.Length} and {hv.Length} values; {count}×{Dimension} are needed.");
        if (!_buffers.TryGetValue(count, out var buffers))
        {
            buffers = (_backend.Allocate<float>(n), _backend.Allocate<float>(n));
            _buffers[count] = buffers;
        }
        if (_backend is CpuBackend cpu)
        {
            // Host memory already: convert straight into and out of the kernel's buffers.
            System.Numerics.Tensors.TensorPrimitives.ConvertTruncating<double, float>(v[..n], cpu.Own(buffers.In).Span);
            _hvp.Apply(buffers.In, buffers.Out);
            System.Numerics.Tensors.TensorPrimitives.ConvertChecked<float, double>(cpu.Own(buffers.Out).Span, hv[..n]);
            return;
        }
        if (_host.Length < n) _host = new float[n];
        var host = _host.AsSpan(0, n);
        System.Numerics.Tensors.TensorPrimitives.ConvertTruncating<double, float>(v[..n], host);
        _backend.Upload<float>(host, buffers.In);
        _hvp.Apply(buffers.In, buffers.Out);
        _backend.Download(buffers.Out, host);
        System.Numerics.Tensors.TensorPrimitives.ConvertChecked<float, double>(host, hv[..n]);
    }

    /// <summary>Frees the device copy of W and the work buffers.</summary>
    public void Dispose()
    {
        _hvp.Dispose();
        foreach (var (i, o) in _buffers.Values)
        {
            i.Dispose();
            o.Dispose();
        }
        _buffers.Clear();
        _w.Dispose();
    }
}
