namespace Saliency.Kernels.Backends;

/// <summary>The element types device buffers support.</summary>
internal static class ElementTypes
{
    /// <summary>Throws <see cref="NotSupportedException"/> unless <typeparamref name="T"/> is float, double or int.</summary>
    public static void EnsureSupported<T>() where T : unmanaged
    {
        if (typeof(T) != typeof(float) && typeof(T) != typeof(double) && typeof(T) != typeof(int))
            throw new NotSupportedException($"Device buffers hold float, double or int, not {typeof(T).Name}.");
    }
}
