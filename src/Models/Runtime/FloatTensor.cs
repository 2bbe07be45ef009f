using System.Numerics.Tensors;

namespace Saliency.Models.Runtime;

/// <summary>
/// A named dense float tensor in row-major order: the unit of data passed to and returned by
/// <see cref="InferenceSession.Run"/>. The array is used
/// in place (pinned for the duration of a call, never copied on input).
/// </summary>
/// <param name="Name">Input or output name in the model.</param>
/// <param name="Data">The elements, <c>Data.Length</c> = product of <paramref name="Shape"/>.</param>
/// <param name="Shape">Dimensions, all ≥ 0.</param>
internal sealed record FloatTensor(string Name, float[] Data, long[] Shape)
{
    /// <summary>Number of elements the shape describes (checked for overflow).</summary>
    public long ElementCount => CheckedElementCount(Shape);

    /// <summary>Counts NaN and ±Infinity entries of <see cref="Data"/>.</summary>
    public int CountNonFinite() => CountNonFinite(Data);

    /// <inheritdoc />
    public override string ToString() => $"{Name}: Float[{TensorMetadata.ShapeText(Shape)}]";

    internal static long CheckedElementCount(long[] shape)
    {
        long n = 1;
        foreach (long d in shape)
        {
            if (d < 0) return -1;
            n = checked(n * d);
        }
        return n;
    }

    /// <summary>
    /// Counts non-finite values. Fast path: a vectorised sum is finite only if every term is (NaN and ±∞
    /// propagate through addition), so the exact count runs only when something is off.
    /// </summary>
    internal static int CountNonFinite(ReadOnlySpan<float> data)
    {
        if (float.IsFinite(TensorPrimitives.Sum(data))) return 0;
        int count = 0;
        foreach (float v in data)
            if (!float.IsFinite(v)) count++;
        return count;
    }
}
