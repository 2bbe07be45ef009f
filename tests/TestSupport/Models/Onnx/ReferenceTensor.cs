using Saliency.Models.Onnx;

namespace Saliency.TestSupport;

/// <summary>
/// A dense row-major float64 tensor used by <see cref="ReferenceEvaluator"/>. Integer tensors (shapes,
/// MaxPool indices) are held as doubles too: exact below 2⁵³, which covers every index and shape here.
/// </summary>
internal sealed class ReferenceTensor
{
    /// <summary>Row-major values.</summary>
    public double[] Data { get; }

    /// <summary>Dimensions (empty for a scalar).</summary>
    public long[] Shape { get; }

    /// <summary>Wraps data (not copied) with a shape; the element count must match.</summary>
    /// <exception cref="ArgumentException">The shape has a negative dim or does not match the data length.</exception>
    public ReferenceTensor(double[] data, long[] shape)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(shape);
        long n = 1;
        foreach (long d in shape)
        {
            if (d < 0) throw new ArgumentException($"shape [{string.Join(", ", shape)}] has a negative dimension.", nameof(shape));
            n = checked(n * d);
        }
        if (n != data.Length)
            throw new ArgumentException($"{data.Length} values do not fill shape [{string.Join(", ", shape)}] ({n} elements).", nameof(data));
        Data = data;
        Shape = shape;
    }

    /// <summary>A zero tensor of the given shape.</summary>
    public static ReferenceTensor Zeros(params long[] shape) => new(new double[ElementCount(shape)], shape);

    /// <summary>Converts float data (e.g. an ORT input) to a reference tensor.</summary>
    public static ReferenceTensor FromFloats(float[] data, params long[] shape) => new(Array.ConvertAll(data, v => (double)v), shape);

    /// <summary>A deep copy (data and shape).</summary>
    public ReferenceTensor Clone() => new((double[])Data.Clone(), (long[])Shape.Clone());

    /// <summary>Rank (number of dims).</summary>
    public int Rank => Shape.Length;

    /// <summary>Number of elements.</summary>
    public int Length => Data.Length;

    /// <summary>The values rounded to float.</summary>
    public float[] ToFloats() => Array.ConvertAll(Data, v => (float)v);

    /// <summary>Product of dims (1 for a scalar).</summary>
    public static long ElementCount(IReadOnlyList<long> shape)
    {
        long n = 1;
        foreach (long d in shape) n = checked(n * d);
        return n;
    }

    /// <summary>Row-major strides of a shape, in elements.</summary>
    public static long[] Strides(IReadOnlyList<long> shape)
    {
        var s = new long[shape.Count];
        long acc = 1;
        for (int i = shape.Count - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
        return s;
    }

    /// <summary>"[2, 3, 4]".</summary>
    public static string Format(IReadOnlyList<long> shape) => $"[{string.Join(", ", shape)}]";

    /// <inheritdoc />
    public override string ToString() => $"ReferenceTensor{Format(Shape)}";
}
