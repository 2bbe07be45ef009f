namespace Saliency.Kernels.Backends;

/// <summary>
/// A compute device together with one in-order work queue. Kernels (the classes under <c>Saliency.Kernels.Ops</c>)
/// take <see cref="DeviceBuffer{T}"/>s and run on the backend that owns them, in submission order.
/// </summary>
/// <remarks>
/// <para><b>Queue semantics.</b> Each backend instance is one in-order queue (the ILGPU accelerator's default stream for
/// <see cref="BackendKind.Cuda"/> and <see cref="BackendKind.IlgpuCpu"/>; immediate execution on the calling thread for <see cref="BackendKind.Cpu"/>).
/// Kernels may return before the work is done; <see cref="Download{T}"/> and <see cref="Synchronize"/> wait for
/// all work queued before them. Independent queues on one GPU are obtained by creating several backends.</para>
/// <para><b>Element types.</b> Buffers hold <see cref="float"/>, <see cref="double"/> or <see cref="int"/> (class
/// indices); other types are refused with <see cref="NotSupportedException"/>.</para>
/// <para>Instances are safe to use from several threads as long as the buffers a call writes are not used
/// concurrently by another call.</para>
/// </remarks>
internal interface IComputeBackend : IDisposable
{
    /// <summary>The kind of device.</summary>
    BackendKind Kind { get; }

    /// <summary>Human-readable device name (CPU model/core count or the GPU name and compute capability).</summary>
    string DeviceName { get; }

    /// <summary>Allocates a buffer of <paramref name="length"/> elements, zero-filled.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="length"/> is negative.</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> is not float, double or int.</exception>
    DeviceBuffer<T> Allocate<T>(int length) where T : unmanaged;

    /// <summary>Copies host data into the whole of <paramref name="destination"/> (lengths must match).</summary>
    /// <exception cref="ArgumentException">Length mismatch or a buffer of another backend.</exception>
    void Upload<T>(ReadOnlySpan<T> source, DeviceBuffer<T> destination) where T : unmanaged;

    /// <summary>Waits for queued work, then copies the whole of <paramref name="source"/> to the host.</summary>
    /// <exception cref="ArgumentException">Length mismatch or a buffer of another backend.</exception>
    void Download<T>(DeviceBuffer<T> source, Span<T> destination) where T : unmanaged;

    /// <summary>Copies <paramref name="source"/> into <paramref name="destination"/> on the device (lengths must match).</summary>
    void Copy<T>(DeviceBuffer<T> source, DeviceBuffer<T> destination) where T : unmanaged;

    /// <summary>Sets every element of <paramref name="buffer"/> to zero (queued).</summary>
    void Clear<T>(DeviceBuffer<T> buffer) where T : unmanaged;

    /// <summary>Blocks until all work queued on this backend has finished; surfaces asynchronous device errors.</summary>
    void Synchronize();
}
