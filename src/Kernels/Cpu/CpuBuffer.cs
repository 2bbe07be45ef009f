using Saliency.Kernels.Backends;

namespace Saliency.Kernels.Cpu;

/// <summary>A <see cref="DeviceBuffer{T}"/> in host memory (a pinned managed array, so native code may read it).</summary>
internal sealed class CpuBuffer<T> : DeviceBuffer<T> where T : unmanaged
{
    private T[] _data;

    internal CpuBuffer(CpuBackend backend, int length) : base(backend, length)
    {
        _data = length == 0 ? [] : GC.AllocateArray<T>(length, pinned: true);
    }

    /// <summary>The elements, readable and writable in place.</summary>
    public Span<T> Span
    {
        get
        {
            ThrowIfDisposed();
            return _data;
        }
    }

    /// <summary>The elements as an array segment (for APIs that need an array, e.g. MathNet).</summary>
    public ArraySegment<T> Segment
    {
        get
        {
            ThrowIfDisposed();
            return new ArraySegment<T>(_data);
        }
    }

    private protected override void ReleaseMemory() => _data = [];
}
