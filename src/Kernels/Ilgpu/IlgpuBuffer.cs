using ILGPU;
using ILGPU.Runtime;
using Saliency.Kernels.Backends;

namespace Saliency.Kernels.Ilgpu;

/// <summary>A <see cref="DeviceBuffer{T}"/> in an ILGPU accelerator's memory (device memory on CUDA, host memory on the CPU accelerator).</summary>
internal sealed class IlgpuBuffer<T> : DeviceBuffer<T> where T : unmanaged
{
    private MemoryBuffer1D<T, Stride1D.Dense>? _memory;

    internal IlgpuBuffer(IlgpuBackend backend, int length) : base(backend, length)
    {
        // ILGPU refuses zero-length allocations on some accelerators: an empty buffer has no memory and an empty view.
        if (length > 0) _memory = backend.Accelerator.Allocate1D<T>(length);
    }

    /// <summary>The elements as a kernel argument (empty for an empty buffer). Valid while the buffer is alive.</summary>
    public ArrayView<T> View
    {
        get
        {
            ThrowIfDisposed();
            return _memory is null ? default : _memory.View.BaseView;
        }
    }

    /// <summary>The underlying ILGPU buffer (null for an empty buffer).</summary>
    internal MemoryBuffer1D<T, Stride1D.Dense>? Memory
    {
        get
        {
            ThrowIfDisposed();
            return _memory;
        }
    }

    private protected override void ReleaseMemory()
    {
        _memory?.Dispose();
        _memory = null;
    }
}
