using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace Saliency.Kernels.Backends;

/// <summary>
/// Argument checks shared by all kernels. Every public kernel entry point calls these before touching a device,
/// so that bad input surfaces as a typed exception rather than as a device fault or a silent NaN.
/// </summary>
internal static class KernelGuard
{
    /// <summary>Throws unless <paramref name="buffer"/> is live and belongs to <paramref name="backend"/>.</summary>
    public static void SameBackend<T>(IComputeBackend backend, DeviceBuffer<T>? buffer,
        [CallerArgumentExpression(nameof(buffer))] string? name = null) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(buffer, name);
        if (buffer.IsDisposed) throw new BackendMismatchException($"Buffer '{name}' has been disposed.", name);
        if (!ReferenceEquals(buffer.Backend, backend))
            throw new BackendMismatchException(
                $"Buffer '{name}' belongs to the {buffer.Backend.Kind} backend '{buffer.Backend.DeviceName}', " +
                $"but this call runs on the {backend.Kind} backend '{backend.DeviceName}'.", name);
    }

    /// <summary>Throws <see cref="BufferSizeMismatchException"/> unless <paramref name="actual"/> == <paramref name="expected"/>.</summary>
    public static void Length(long actual, long expected, string what,
        [CallerArgumentExpression(nameof(actual))] string? name = null)
    {
        if (actual != expected)
            throw new BufferSizeMismatchException($"{what}: expected {expected} elements, got {actual}.", name);
    }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> unless <paramref name="value"/> ≥ <paramref name="min"/>.</summary>
    public static void AtLeast(long value, long min, [CallerArgumentExpression(nameof(value))] string? name = null)
    {
        if (value < min) throw new ArgumentOutOfRangeException(name, value, $"Must be at least {min}.");
    }

    /// <summary>
    /// Splits a buffer length into equal slices: throws unless <paramref name="length"/> is a positive multiple of
    /// <paramref name="sliceLength"/>; returns the slice count.
    /// </summary>
    public static int SliceCount(int length, int sliceLength, [CallerArgumentExpression(nameof(length))] string? name = null)
    {
        if (sliceLength < 1) throw new ArgumentOutOfRangeException(nameof(sliceLength), sliceLength, "Slice length must be at least 1.");
        if (length == 0 || length % sliceLength != 0)
            throw new BufferSizeMismatchException(
                $"Buffer length {length} is not a positive multiple of the slice length {sliceLength}.", name);
        return length / sliceLength;
    }

    /// <summary>Throws <see cref="NonFiniteValueException"/> when any value is NaN or infinite.</summary>
    public static void Finite<T>(ReadOnlySpan<T> values, [CallerArgumentExpression(nameof(values))] string? name = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (values.IsEmpty) return;
        if (TensorPrimitives.IsFiniteAll(values)) return;
        int index = IndexOfNonFinite(values);
        throw new NonFiniteValueException($"'{name}' must be finite, but element {index} is {values[index]}.", name);
    }

    /// <summary>Throws <see cref="NonFiniteValueException"/> unless every value is finite and ≥ 0.</summary>
    public static void FiniteNonNegative<T>(ReadOnlySpan<T> values, [CallerArgumentExpression(nameof(values))] string? name = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Finite(values, name);
        for (int i = 0; i < values.Length; i++)
            if (values[i] < T.Zero)
                throw new NonFiniteValueException($"'{name}' must be non-negative, but element {i} is {values[i]}.", name);
    }

    /// <summary>Throws <see cref="NonFiniteValueException"/> when <paramref name="value"/> is NaN or infinite.</summary>
    public static void Finite(double value, [CallerArgumentExpression(nameof(value))] string? name = null)
    {
        if (!double.IsFinite(value)) throw new NonFiniteValueException($"'{name}' must be finite, got {value}.", name);
    }

    private static int IndexOfNonFinite<T>(ReadOnlySpan<T> values) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = 0; i < values.Length; i++)
            if (!T.IsFinite(values[i])) return i;
        return -1;
    }
}
