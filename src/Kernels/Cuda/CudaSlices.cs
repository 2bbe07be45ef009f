namespace Saliency.Kernels.Cuda;

/// <summary>
/// Per-slice scalars (step sizes, thresholds, momenta) travel to CUDA kernels by value in a
/// <c>struct { T v[64]; }</c> parameter, so no host→device copy is needed per call; larger batches are split into
/// launches of at most <see cref="MaxSlicesPerLaunch"/> slices.
/// </summary>
public static class CudaSlices
{
    /// <summary>Slices per launch (the kernels' <c>MAX_SLICES</c>).</summary>
    public const int MaxSlicesPerLaunch = 64;


    /// <summary>Address of element <paramref name="index"/> of a buffer of <typeparamref name="T"/>.</summary>
    public static unsafe ulong Offset<T>(CudaBuffer<T> buffer, long index) where T : unmanaged =>
        buffer.DevicePointer + (ulong)(index * sizeof(T));
}
