using System.Collections.Concurrent;
using System.Text;
using Saliency.Kernels.Backends;

namespace Saliency.Kernels.Cuda;

/// <summary>
/// The GPU backend: device memory from the CUDA driver API, kernels compiled at run time by NVRTC for this device's
/// compute capability and launched on one CUDA stream (this backend's in-order queue). Create it through
/// <see cref="ComputeBackends.TryCreateCuda"/> or <see cref="ComputeBackends.Create"/>, which report why CUDA is
/// unavailable instead of failing inside a kernel.
/// </summary>
public sealed unsafe class CudaBackend : IComputeBackend
{
    private readonly CudaStreamHandle _stream;
    private readonly ConcurrentDictionary<string, CudaModuleHandle> _modules = new();
    private readonly ConcurrentDictionary<(string Module, string Function), CudaKernel> _kernels = new();
    private readonly object _moduleLock = new();
    private readonly Lazy<Cublas?> _blas;
    private CudaBuffer<double>? _reductionScratch;
    private bool _disposed;

    internal CudaBackend(int deviceOrdinal)
    {
        var api = CudaRuntime.Api;
        int count;
        CudaRuntime.Check(api.cuDeviceGetCount(&count), "cuDeviceGetCount");
        if (deviceOrdinal < 0 || deviceOrdinal >= count)
            throw new ArgumentOutOfRangeException(nameof(deviceOrdinal), deviceOrdinal, $"There are {count} CUDA devices.");
        int device;
        CudaRuntime.Check(api.cuDeviceGet(&device, deviceOrdinal), "cuDeviceGet");
        var name = stackalloc byte[256];
        CudaRuntime.Check(api.cuDeviceGetName(name, 256, device), "cuDeviceGetName");
        int major, minor, sms;
        CudaRuntime.Check(api.cuDeviceGetAttribute(&major, 75, device), "cuDeviceGetAttribute(COMPUTE_CAPABILITY_MAJOR)");
        CudaRuntime.Check(api.cuDeviceGetAttribute(&minor, 76, device), "cuDeviceGetAttribute(COMPUTE_CAPABILITY_MINOR)");
        CudaRuntime.Check(api.cuDeviceGetAttribute(&sms, 16, device), "cuDeviceGetAttribute(MULTIPROCESSOR_COUNT)");
        ComputeCapability = (major, minor);
        MultiprocessorCount = sms;
        DeviceName = $"{new string((sbyte*)name)} (sm_{major}{minor}, {sms} SMs)";
        Context = new CudaContextHandle(device);
        Context.MakeCurrent();
        _stream = new CudaStreamHandle(Context);
        _blas = new Lazy<Cublas?>(() => Cublas.TryCreate(this, out _), LazyThreadSafetyMode.ExecutionAndPublication);
    }

    /// <summary>Guards <see cref="ReductionScratch"/>: hold it from the launch that fills the scratch to the download that reads it.</summary>
    internal object ScratchLock { get; } = new();

    /// <summary>A reusable device buffer of at least <paramref name="length"/> doubles for reduction partials (no cuMemAlloc per call).</summary>
    internal CudaBuffer<double> ReductionScratch(int length)
    {
        if (_reductionScratch is null || _reductionScratch.Length < length)
        {
            _reductionScratch?.Dispose();
            _reductionScratch = Own(Allocate<double>(Math.Max(length, 1024)));
        }
        return _reductionScratch;
    }

    /// <summary>cuBLAS bound to this backend's stream, or null where cuBLAS is not installed (kernels then use their own GEMM code).</summary>
    public Cublas? Blas => _blas.Value;

    internal CudaContextHandle Context { get; }

    /// <summary>The stream all work of this backend is queued on (a CUstream).</summary>
    public nint Stream => _stream.DangerousGetHandle();

    /// <summary>Compute capability (major, minor) of the device.</summary>
    public (int Major, int Minor) ComputeCapability { get; }

    /// <summary>Number of streaming multiprocessors (used to size grids).</summary>
    public int MultiprocessorCount { get; }

    /// <inheritdoc />
    public BackendKind Kind => BackendKind.Cuda;

    /// <inheritdoc />
    public string DeviceName { get; }

    /// <summary>Makes this backend's context current on the calling thread; every driver call path does this first.</summary>
    public void MakeCurrent()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Context.MakeCurrent();
    }

    /// <inheritdoc />
    public DeviceBuffer<T> Allocate<T>(int length) where T : unmanaged
    {
        ElementTypes.EnsureSupported<T>();
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        MakeCurrent();
        var buffer = new CudaBuffer<T>(this, length);
        Clear(buffer);
        return buffer;
    }

    /// <inheritdoc />
    public void Upload<T>(ReadOnlySpan<T> source, DeviceBuffer<T> destination) where T : unmanaged
    {
        var dst = Own(destination);
        KernelGuard.Length(source.Length, destination.Length, "Upload source length");
        if (source.IsEmpty) return;
        MakeCurrent();
        fixed (T* p = source)
        {
            CudaRuntime.Check(CudaRuntime.Api.cuMemcpyHtoDAsync(dst.DevicePointer, p, (nuint)dst.ByteLength, Stream), "cuMemcpyHtoDAsync");
            // The host span is only pinned for this call: wait until the copy has consumed it.
            CudaRuntime.Check(CudaRuntime.Api.cuStreamSynchronize(Stream), "cuStreamSynchronize");
        }
    }

    /// <inheritdoc />
    public void Download<T>(DeviceBuffer<T> source, Span<T> destination) where T : unmanaged
    {
        var src = Own(source);
        KernelGuard.Length(destination.Length, source.Length, "Download destination length");
        if (destination.IsEmpty) return;
        MakeCurrent();
        fixed (T* p = destination)
        {
            CudaRuntime.Check(CudaRuntime.Api.cuMemcpyDtoHAsync(p, src.DevicePointer, (nuint)src.ByteLength, Stream), "cuMemcpyDtoHAsync");
            CudaRuntime.Check(CudaRuntime.Api.cuStreamSynchronize(Stream), "cuStreamSynchronize");
        }
    }

    /// <inheritdoc />
    public void Copy<T>(DeviceBuffer<T> source, DeviceBuffer<T> destination) where T : unmanaged
    {
        var src = Own(source);
        var dst = Own(destination);
        KernelGuard.Length(destination.Length, source.Length, "Copy destination length");
        if (src.Length == 0) return;
        MakeCurrent();
        CudaRuntime.Check(CudaRuntime.Api.cuMemcpyDtoDAsync(dst.DevicePointer, src.DevicePointer, (nuint)src.ByteLength, Stream), "cuMemcpyDtoDAsync");
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
        MakeCurrent();
        CudaRuntime.Check(CudaRuntime.Api.cuMemcpyDtoDAsync(CudaSlices.Offset(dst, destinationOffset), CudaSlices.Offset(src, sourceOffset),
            (nuint)(count * sizeof(T)), Stream), "cuMemcpyDtoDAsync");
    }

    /// <inheritdoc />
    public void Clear<T>(DeviceBuffer<T> buffer) where T : unmanaged
    {
        var b = Own(buffer);
        if (b.Length == 0) return;
        MakeCurrent();
        CudaRuntime.Check(CudaRuntime.Api.cuMemsetD8Async(b.DevicePointer, 0, (nuint)b.ByteLength, Stream), "cuMemsetD8Async");
    }

    /// <inheritdoc />
    public void Synchronize()
    {
        MakeCurrent();
        CudaRuntime.Check(CudaRuntime.Api.cuStreamSynchronize(Stream), "cuStreamSynchronize");
    }

    /// <summary>Returns <paramref name="buffer"/> as a CUDA buffer of this backend or throws <see cref="BackendMismatchException"/>.</summary>
    public CudaBuffer<T> Own<T>(DeviceBuffer<T> buffer, string? name = null) where T : unmanaged
    {
        KernelGuard.SameBackend(this, buffer, name ?? "buffer");
        return (CudaBuffer<T>)buffer;
    }

    /// <summary>
    /// The kernel <paramref name="function"/> (an <c>extern "C"</c> <c>__global__</c>) of <paramref name="source"/>, compiling
    /// and loading the module on first use. Kernels added by other components use this with their own source.
    /// </summary>
    /// <exception cref="CudaException">Compilation (with the NVRTC log), loading or lookup failed.</exception>
    public CudaKernel GetKernel(CudaKernelSource source, string function)
    {
        if (_kernels.TryGetValue((source.Name, function), out var cached)) return cached;
        MakeCurrent();
        CudaModuleHandle module;
        lock (_moduleLock)
        {
            if (!_modules.TryGetValue(source.Name, out module!))
            {
                var image = NvrtcCompiler.Compile(source, ComputeCapability.Major, ComputeCapability.Minor);
                module = new CudaModuleHandle(Context, image);
                _modules[source.Name] = module;
            }
        }
        nint fn;
        var nameBytes = Encoding.ASCII.GetBytes(function + "\0");
        fixed (byte* p = nameBytes)
            CudaRuntime.Check(CudaRuntime.Api.cuModuleGetFunction(&fn, module.DangerousGetHandle(), p), $"cuModuleGetFunction({function})");
        var kernel = new CudaKernel(function, fn);
        _kernels[(source.Name, function)] = kernel;
        return kernel;
    }

    /// <summary>Queues <paramref name="kernel"/> on this backend's stream.</summary>
    /// <exception cref="CudaException">The launch was refused (bad configuration, too many resources, …).</exception>
    public void Launch(CudaKernel kernel, (uint X, uint Y, uint Z) grid, (uint X, uint Y, uint Z) block, uint sharedMemoryBytes, CudaLaunchArgs args)
    {
        if (grid.X == 0 || grid.Y == 0 || grid.Z == 0) return; // empty problem: nothing to launch
        MakeCurrent();
        CudaRuntime.Check(CudaRuntime.Api.cuLaunchKernel(kernel.Handle, grid.X, grid.Y, grid.Z, block.X, block.Y, block.Z,
            sharedMemoryBytes, Stream, args.ParameterArray, null), $"cuLaunchKernel({kernel.Name})");
    }

    /// <summary>One-dimensional launch helper: enough blocks of <paramref name="blockSize"/> threads to cover <paramref name="threads"/>, capped.</summary>
    public void Launch1D(CudaKernel kernel, long threads, CudaLaunchArgs args, uint blockSize = 256, uint sharedMemoryBytes = 0)
    {
        if (threads <= 0) return;
        long blocks = (threads + blockSize - 1) / blockSize;
        // Kernels use grid-stride loops, so capping the grid keeps launches cheap without losing elements.
        uint grid = (uint)Math.Min(blocks, (long)MultiprocessorCount * 32);
        Launch(kernel, (grid, 1, 1), (blockSize, 1, 1), sharedMemoryBytes, args);
    }

    /// <summary>Releases the stream, modules and the context reference (buffers keep the context alive until disposed).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        try
        {
            Synchronize();
        }
        catch (CudaException)
        {
            // A sticky device error must not prevent releasing the handles.
        }
        if (_blas.IsValueCreated) _blas.Value?.Dispose();
        _reductionScratch?.Dispose();
        _disposed = true;
        foreach (var m in _modules.Values) m.Dispose();
        _modules.Clear();
        _kernels.Clear();
        _stream.Dispose();
        Context.Dispose();
    }

    /// <inheritdoc />
    public override string ToString() => DeviceName;
}

/// <summary>A kernel function handle (CUfunction) of a loaded module.</summary>
/// <param name="Name">The kernel's symbol name.</param>
/// <param name="Handle">The CUfunction.</param>
public sealed record CudaKernel(string Name, nint Handle);
