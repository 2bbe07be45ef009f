using System.Collections.Concurrent;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using Saliency.Kernels.Backends;

namespace Saliency.Kernels.Ilgpu;

/// <summary>
/// A backend whose kernels are ILGPU kernels (C# methods compiled by ILGPU) on one accelerator: ILGPU's CPU
/// accelerator (<see cref="BackendKind.IlgpuCpu"/>, always available) or a CUDA GPU (<see cref="BackendKind.Cuda"/>).
/// All work is queued on the accelerator's default stream (this backend's in-order queue). Create it through
/// <see cref="ComputeBackends.Create"/> / <see cref="ComputeBackends.TryCreate"/>.
/// </summary>
/// <remarks>
/// Kernels are loaded once per backend (ILGPU compiles a kernel once per accelerator; <see cref="GetKernel{TDelegate}"/>
/// caches the launcher). Per-slice scalars travel through a small cached device buffer (<see cref="UploadScalars{T}"/>)
/// instead of kernel parameters, so batches of any size run in one launch.
/// </remarks>
internal sealed class IlgpuBackend : IComputeBackend
{
    private readonly ConcurrentDictionary<string, Delegate> _kernels = new();
    private readonly object _scalarGate = new();
    private readonly Dictionary<Type, IDisposable> _scalars = new();
    private MemoryBuffer1D<double, Stride1D.Dense>? _scratch;
    private bool _disposed;

    internal IlgpuBackend(BackendKind kind, Accelerator accelerator)
    {
        Kind = kind;
        Accelerator = accelerator;
        DeviceName = accelerator switch
        {
            CudaAccelerator cuda => $"{cuda.Name} (ILGPU CUDA, {cuda.Architecture}, {cuda.NumMultiprocessors} SMs)",
            CPUAccelerator cpu => $"ILGPU CPU accelerator ({cpu.NumMultiprocessors} × {cpu.MaxNumThreadsPerGroup} threads)",
            _ => accelerator.Name,
        };
    }

    /// <summary>The ILGPU accelerator this backend launches on.</summary>
    public Accelerator Accelerator { get; }

    /// <summary>The in-order stream all work of this backend is queued on.</summary>
    public AcceleratorStream Stream => Accelerator.DefaultStream;

    /// <inheritdoc />
    public BackendKind Kind { get; }

    /// <inheritdoc />
    public string DeviceName { get; }

    /// <summary>
    /// Guards the shared scalar buffer between <see cref="UploadScalars{T}"/> and the launch that reads it. Launches are
    /// queued in stream order, so releasing the lock after queuing the kernel is enough.
    /// </summary>
    public object ScalarGate => _scalarGate;

    /// <inheritdoc />
    public DeviceBuffer<T> Allocate<T>(int length) where T : unmanaged
    {
        ElementTypes.EnsureSupported<T>();
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var buffer = new IlgpuBuffer<T>(this, length);
        buffer.Memory?.View.MemSetToZero(Stream);
        return buffer;
    }

    /// <inheritdoc />
    public void Upload<T>(ReadOnlySpan<T> source, DeviceBuffer<T> destination) where T : unmanaged
    {
        var dst = Own(destination);
        KernelGuard.Length(source.Length, destination.Length, "Upload source length");
        if (source.IsEmpty) return;
        // Synchronous: the host span is only valid for this call.
        dst.Memory!.View.CopyFromCPU(Stream, source);
    }

    /// <inheritdoc />
    public void Download<T>(DeviceBuffer<T> source, Span<T> destination) where T : unmanaged
    {
        var src = Own(source);
        KernelGuard.Length(destination.Length, source.Length, "Download destination length");
        if (destination.IsEmpty) return;
        src.Memory!.View.CopyToCPU(Stream, destination);
        Stream.Synchronize();
    }

    /// <inheritdoc />
    public void Copy<T>(DeviceBuffer<T> source, DeviceBuffer<T> destination) where T : unmanaged
    {
        var src = Own(source);
        var dst = Own(destination);
        KernelGuard.Length(destination.Length, source.Length, "Copy destination length");
        if (src.Length == 0) return;
        src.View.CopyTo(Stream, dst.View);
    }

    /// <summary>Queues a device-to-device copy of <paramref name="count"/> elements between ranges of two buffers.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A range lies outside its buffer.</exception>
    public void CopyElements<T>(DeviceBuffer<T> source, long sourceOffset, DeviceBuffer<T> destination, long destinationOffset, long count)
        where T : unmanaged
    {
        var src = Own(source);
        var dst = Own(destination);
        if (count < 0 || sourceOffset < 0 || destinationOffset < 0 || sourceOffset + count > src.Length || destinationOffset + count > dst.Length)
            throw new ArgumentOutOfRangeException(nameof(count),
                $"Copy of {count} elements from {sourceOffset} (of {src.Length}) to {destinationOffset} (of {dst.Length}) is out of range.");
        if (count == 0) return;
        src.View.SubView(sourceOffset, count).CopyTo(Stream, dst.View.SubView(destinationOffset, count));
    }

    /// <inheritdoc />
    public void Clear<T>(DeviceBuffer<T> buffer) where T : unmanaged => Own(buffer).Memory?.View.MemSetToZero(Stream);

    /// <inheritdoc />
    public void Synchronize()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Stream.Synchronize();
    }

    /// <summary>Returns <paramref name="buffer"/> as a buffer of this backend or throws <see cref="BackendMismatchException"/>.</summary>
    public IlgpuBuffer<T> Own<T>(DeviceBuffer<T> buffer, string? name = null) where T : unmanaged
    {
        KernelGuard.SameBackend(this, buffer, name ?? "buffer");
        return (IlgpuBuffer<T>)buffer;
    }

    /// <summary>
    /// The launcher of a kernel, loaded (and compiled by ILGPU) on first use under <paramref name="key"/>, which must name
    /// the kernel method and its type arguments uniquely.
    /// </summary>
    public TDelegate GetKernel<TDelegate>(string key, Func<Accelerator, TDelegate> load) where TDelegate : Delegate
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_kernels.TryGetValue(key, out var cached)) return (TDelegate)cached;
        return (TDelegate)_kernels.GetOrAdd(key, _ => load(Accelerator));
    }

    /// <summary>
    /// The launch shape for <paramref name="count"/> work items of an implicitly grouped kernel (see <see cref="Ilgpu.Spread"/>):
    /// on CUDA at most one full occupancy of the device (multiprocessors × threads per multiprocessor), grid-stride; on
    /// the CPU accelerator one contiguous chunk per simulated hardware thread.
    /// </summary>
    public Spread Spread(int count)
    {
        if (Accelerator is CPUAccelerator)
        {
            int threads = Math.Max(1, Math.Min(count, Accelerator.MaxNumThreads));
            return new Spread(count, threads, (count + threads - 1) / threads);
        }
        long capacity = (long)Accelerator.NumMultiprocessors * Accelerator.MaxNumThreadsPerMultiprocessor;
        return new Spread(count, (int)Math.Max(1, Math.Min(count, capacity)), 0);
    }

    /// <summary>
    /// Copies up to three spans of per-slice scalars, one after another, into this backend's cached scalar buffer for
    /// <typeparamref name="T"/> (grown as needed, never shrunk) and returns a view of them: a kernel reads scalar q of
    /// slice s at <c>q·slices + s</c>. Hold <see cref="ScalarGate"/> from this call until the kernel that reads the view
    /// has been queued (queued work runs in stream order, so the next upload cannot overtake it).
    /// </summary>
    public ArrayView<T> UploadScalars<T>(ReadOnlySpan<T> first, ReadOnlySpan<T> second = default, ReadOnlySpan<T> third = default)
        where T : unmanaged
    {
        int total = first.Length + second.Length + third.Length;
        if (total == 0) return default;
        var slot = _scalars.TryGetValue(typeof(T), out var existing) ? (ScalarSlot<T>)existing : null;
        if (slot is null || slot.Host.Length < total)
        {
            // The old buffer may still be read by queued kernels: wait before freeing it.
            if (slot is not null)
            {
                Stream.Synchronize();
                slot.Dispose();
            }
            slot = new ScalarSlot<T>(Accelerator, Math.Max(total, 256));
            _scalars[typeof(T)] = slot;
        }
        first.CopyTo(slot.Host);
        second.CopyTo(slot.Host.AsSpan(first.Length));
        third.CopyTo(slot.Host.AsSpan(first.Length + second.Length));
        var view = slot.Device.View.SubView(0, total);
        view.CopyFromCPU(Stream, new ReadOnlySpan<T>(slot.Host, 0, total));
        return view.BaseView;
    }

    /// <summary>
    /// A reusable device buffer of at least <paramref name="length"/> doubles for reduction partial sums (no allocation
    /// per call). Hold <see cref="ScalarGate"/> from the launch that fills it to the download that reads it.
    /// </summary>
    internal ArrayView<double> ReductionScratch(int length)
    {
        if (_scratch is null || _scratch.Length < length)
        {
            if (_scratch is not null)
            {
                Stream.Synchronize();
                _scratch.Dispose();
            }
            _scratch = Accelerator.Allocate1D<double>(Math.Max(length, 1024));
        }
        return _scratch.View.BaseView.SubView(0, length);
    }

    private sealed class ScalarSlot<T>(Accelerator accelerator, int length) : IDisposable where T : unmanaged
    {
        public T[] Host { get; } = new T[length];
        public MemoryBuffer1D<T, Stride1D.Dense> Device { get; } = accelerator.Allocate1D<T>(length);
        public void Dispose() => Device.Dispose();
    }

    /// <summary>Waits for queued work, then releases the scalar buffers and the accelerator (live buffers must not be used afterwards).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        try
        {
            Stream.Synchronize();
        }
        catch (Exception ex) when (ex is InvalidOperationException or AcceleratorException)
        {
            // A sticky device error must not prevent releasing the accelerator.
        }
        foreach (var b in _scalars.Values) b.Dispose();
        _scalars.Clear();
        _scratch?.Dispose();
        _kernels.Clear();
        _disposed = true;
        Accelerator.Dispose();
    }

    /// <inheritdoc />
    public override string ToString() => DeviceName;
}
