namespace Saliency.Kernels.Backends;

/// <summary>The element types device buffers support, and their names in CUDA kernel symbols.</summary>
public static class ElementTypes
{
    /// <summary>Throws <see cref="NotSupportedException"/> unless <typeparamref name="T"/> is float, double or int.</summary>
    public static void EnsureSupported<T>() where T : unmanaged
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(double) && typeof(T) != typeof(int))
            throw new NotSupportedException($"Device buffers hold float, double or int, not {typeof(T).Name}.");
    }

    /// <summary>Suffix of the CUDA kernel instantiation for <typeparamref name="T"/>: "f32", "f64" or "i32".</summary>
    public static string CudaSuffix<T>() where T : unmanaged =>
        typeof(T) == typeof(float) ? "f32" : typeof(T) == typeof(double) ? "f64" : typeof(T) == typeof(int) ? "i32"
        : throw new NotSupportedException($"No CUDA kernels for {typeof(T).Name}.");
}
