using Saliency.Kernels.Backends;

namespace Saliency.Linalg.Grid;

/// <summary>Argument checks shared by the grid and covariance operators (run before any arithmetic).</summary>
internal static class GridGuards
{
    /// <summary>Throws <see cref="ArgumentException"/> unless <paramref name="actual"/> equals <paramref name="expected"/>.</summary>
    public static void Length(int actual, int expected, string paramName)
    {
        if (actual != expected)
            throw new ArgumentException($"Length of '{paramName}' is {actual}, expected {expected}.", paramName);
    }

    /// <summary>Throws <see cref="NonFiniteValueException"/> at the first NaN or infinity in <paramref name="values"/>.</summary>
    public static void Finite(ReadOnlySpan<double> values, string paramName)
    {
        for (int i = 0; i < values.Length; i++)
        {
            if (!double.IsFinite(values[i]))
                throw new NonFiniteValueException(paramName, i, values[i]);
        }
    }

    /// <summary>Throws <see cref="NonFiniteValueException"/> at the first NaN or infinity in <paramref name="values"/>.</summary>
    public static void Finite(ReadOnlySpan<float> values, string paramName)
    {
        for (int i = 0; i < values.Length; i++)
        {
            if (!float.IsFinite(values[i]))
                throw new NonFiniteValueException(paramName, i, values[i]);
        }
    }
}
