using System.Runtime.InteropServices;
using Saliency.Kernels.Backends;

namespace Saliency.Kernels.Ilgpu;

/// <summary>
/// Re-types a generic Op's arguments after it has checked <c>typeof(T)</c>, so that it can call the kernel launcher
/// specialised for float (<see cref="F32"/>) or double (<see cref="F64"/>). No data is copied.
/// </summary>
internal static class Retype
{
    /// <summary>True for float, false for double (the only floating element types of device buffers).</summary>
    public static bool IsSingle<T>() => typeof(T) == typeof(float);

    /// <summary><paramref name="buffer"/> as a buffer of <typeparamref name="TTo"/> (which must be T).</summary>
    public static DeviceBuffer<TTo> As<T, TTo>(DeviceBuffer<T> buffer) where T : unmanaged where TTo : unmanaged => (DeviceBuffer<TTo>)(object)buffer;

    /// <summary><paramref name="values"/> as a span of <typeparamref name="TTo"/> (which must be T).</summary>
    public static ReadOnlySpan<TTo> As<T, TTo>(ReadOnlySpan<T> values) where T : unmanaged where TTo : unmanaged => MemoryMarshal.Cast<T, TTo>(values);
}
