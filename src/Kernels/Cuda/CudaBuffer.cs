using Saliency.Kernels.Backends;

namespace Saliency.Kernels.Cuda;

/// <summary>A <see cref="DeviceBuffer{T}"/> in GPU memory.</summary>
public sealed class CudaBuffer<T> : DeviceBuffer<T> where T : unmanaged
{
    private readonly CudaMemoryHandle? _memory;

    internal unsafe CudaBuffer(CudaBackend backend, int length) : base(backend, length)
    {
        if (length > 0) _memory = new CudaMemoryHandle(backend.Context, (long)length * sizeof(T));
    }

    /// <summary>The device address (a CUdeviceptr; 0 for an empty buffer). Valid while the buffer is alive.</summary>
    public ulong DevicePointer
    {
        get
        {
            ThrowIfDisposed();
            return _memory is null ? 0UL : (ulong)_memory.DangerousGetHandle();
        }
    }

    /// <summary>Size in bytes.</summary>
    public unsafe long ByteLength => (long)Length * sizeof(T);

    private protected override void ReleaseMemory() => _memory?.Dispose();
}
