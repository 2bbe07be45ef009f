namespace Saliency.Models.Onnx;

/// <summary>
/// One dimension of a graph input or output: a fixed size, a named symbolic size such as "N"
/// (a dynamic batch), or unknown. Converts implicitly from <see cref="long"/> (−1 means unknown)
/// and from <see cref="string"/> (a symbolic name).
/// </summary>
internal readonly record struct OnnxDim
{
    /// <summary>The fixed size, or null when the dimension is symbolic or unknown.</summary>
    public long? Value { get; }

    /// <summary>The symbolic name (e.g. "N"), or null.</summary>
    public string? Param { get; }

    private OnnxDim(long? value, string? param) { Value = value; Param = param; }

    /// <summary>A fixed size (≥ 0).</summary>
    public static OnnxDim Fixed(long value) =>
        value >= 0 ? new OnnxDim(value, null) : throw new ArgumentOutOfRangeException(nameof(value), value, "a fixed dimension must be ≥ 0.");

    /// <summary>A named symbolic dimension.</summary>
    public static OnnxDim Symbolic(string name) =>
        !string.IsNullOrEmpty(name) ? new OnnxDim(null, name) : throw new ArgumentException("a symbolic dimension needs a name.", nameof(name));

    /// <summary>A dimension of unknown size.</summary>
    public static OnnxDim Unknown => default;

    /// <summary>True when the dimension has a fixed size.</summary>
    public bool IsFixed => Value.HasValue;

    /// <summary>The size, or −1 when symbolic or unknown.</summary>
    public long SizeOrMinusOne => Value ?? -1;

    /// <summary>−1 gives an unknown dimension; other negative values are refused.</summary>
    public static implicit operator OnnxDim(long value) => value == -1 ? Unknown : Fixed(value);

    /// <summary>A symbolic dimension with this name.</summary>
    public static implicit operator OnnxDim(string name) => Symbolic(name);

    /// <inheritdoc />
    public override string ToString() => Value?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? Param ?? "?";
}

/// <summary>A graph input or output: name, element type and dimensions (null when the model gives no shape).</summary>
/// <param name="Name">Tensor name.</param>
/// <param name="ElementType">Element type (<see cref="OnnxElementType.Undefined"/> when the model gives none).</param>
/// <param name="Dims">Dimensions, or null when the shape is not given (rank unknown).</param>
internal sealed record OnnxValueInfo(string Name, OnnxElementType ElementType, IReadOnlyList<OnnxDim>? Dims)
{
    /// <summary>The shape with −1 for symbolic or unknown dims, or null when the rank is unknown.</summary>
    public long[]? Shape => Dims?.Select(d => d.SizeOrMinusOne).ToArray();

    /// <inheritdoc />
    public override string ToString() =>
        $"{Name}: {ElementType}[{(Dims is null ? "?" : string.Join(", ", Dims))}]";
}
