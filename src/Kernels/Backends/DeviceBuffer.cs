namespace Saliency.Kernels.Backends;

/// <summary>
/// A typed array that lives on one backend's device (host memory for the CPU backend, device memory for CUDA).
/// Created by <see cref="IComputeBackend.Allocate{T}"/>; moved to and from the host with
/// <see cref="IComputeBackend.Upload{T}"/> / <see cref="IComputeBackend.Download{T}"/>.
/// </summary>
/// <typeparam name="T">float, double or int.</typeparam>
internal abstract class DeviceBuffer<T> : IDisposable where T : unmanaged
{
    private protected DeviceBuffer(IComputeBackend backend, int length)
    {
        Backend = backend;
        Length = length;
    }

    /// <summary>The backend that owns this buffer; kernels run there.</summary>
    public IComputeBackend Backend { get; }

    /// <summary>Number of elements.</summary>
    public int Length { get; }

    /// <summary>True once <see cref="Dispose()"/> has run.</summary>
    public bool IsDisposed { get; private set; }

    /// <summary>Throws <see cref="ObjectDisposedException"/> when the buffer has been disposed.</summary>
    public void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(IsDisposed, this);

    /// <summary>Releases the device memory.</summary>
    public void Dispose()
    {
        if (IsDisposed) return;
        IsDisposed = true;
        ReleaseMemory();
        GC.SuppressFinalize(this);
    }

    /// <summary>Frees the storage (called once).</summary>
    private protected abstract void ReleaseMemory();

    /// <inheritdoc />
    public override string ToString() => $"{GetType().Name}<{typeof(T).Name}>[{Length}] on {Backend.Kind}";
}
