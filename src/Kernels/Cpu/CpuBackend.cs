using System.Runtime.InteropServices;
using Saliency.Kernels.Backends;

namespace Saliency.Kernels.Cpu;

/// <summary>
/// The host backend: buffers are pinned managed arrays, kernels are Span loops with
/// <c>System.Numerics.Tensors.TensorPrimitives</c> and <c>Parallel.For</c>. Work runs synchronously on the calling
/// thread (plus the thread pool), so the "queue" is trivially in order and <see cref="Synchronize"/> is a no-op.
/// Always available; the reference implementation every other backend is tested against.
/// </summary>
internal sealed class CpuBackend : IComputeBackend
{
    /// <summary>The process-wide instance (also <see cref="ComputeBackends.Cpu"/>).</summary>
    public static CpuBackend Shared { get; } = new();

    private CpuBackend() { }

    /// <inheritdoc />
    public BackendKind Kind => BackendKind.Cpu;

    /// <inheritdoc />
    public string DeviceName { get; } = $"CPU ({Environment.ProcessorCount} logical cores, {RuntimeInformation.ProcessArchitecture})";

    /// <summary>Degree of parallelism used by the kernels (the logical core count).</summary>
    public int Parallelism { get; } = Math.Max(1, Environment.ProcessorCount);

    /// <inheritdoc />
    public DeviceBuffer<T> Allocate<T>(int length) where T : unmanaged
    {
        ElementTypes.EnsureSupported<T>();
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        return new CpuBuffer<T>(this, length);
    }

    /// <summary>Allocates a buffer and fills it with <paramref name="values"/>.</summary>
    public CpuBuffer<T> FromSpan<T>(ReadOnlySpan<T> values) where T : unmanaged
    {
        var buffer = (CpuBuffer<T>)Allocate<T>(values.Length);
        values.CopyTo(buffer.Span);
        return buffer;
    }

    /// <inheritdoc />
    public void Upload<T>(ReadOnlySpan<T> source, DeviceBuffer<T> destination) where T : unmanaged
    {
        var dst = Own(destination);
        KernelGuard.Length(source.Length, destination.Length, "Upload source length");
        source.CopyTo(dst.Span);
    }

    /// <inheritdoc />
    public void Download<T>(DeviceBuffer<T> source, Span<T> destination) where T : unmanaged
    {
        var src = Own(source);
        KernelGuard.Length(destination.Length, source.Length, "Download destination length");
        src.Span.CopyTo(destination);
    }

    /// <inheritdoc />
    public void Copy<T>(DeviceBuffer<T> source, DeviceBuffer<T> destination) where T : unmanaged
    {
        var src = Own(source);
        var dst = Own(destination);
        KernelGuard.Length(destination.Length, source.Length, "Copy destination length");
        src.Span.CopyTo(dst.Span);
    }

    /// <inheritdoc />
    public void Clear<T>(DeviceBuffer<T> buffer) where T : unmanaged => Own(buffer).Span.Clear();

    /// <inheritdoc />
    public void Synchronize() { }

    /// <summary>Returns <paramref name="buffer"/> as a CPU buffer of this backend or throws <see cref="BackendMismatchException"/>.</summary>
    public CpuBuffer<T> Own<T>(DeviceBuffer<T> buffer, string? name = null) where T : unmanaged
    {
        KernelGuard.SameBackend(this, buffer, name ?? "buffer");
        return (CpuBuffer<T>)buffer;
    }

    /// <summary>The shared instance is never disposed; this does nothing.</summary>
    public void Dispose() { }

    /// <inheritdoc />
    public override string ToString() => DeviceName;
}
