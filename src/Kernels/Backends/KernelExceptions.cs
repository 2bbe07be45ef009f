namespace Saliency.Kernels.Backends;

/// <summary>Buffers or sizes passed to a kernel do not fit together (thrown before any kernel runs).</summary>
internal sealed class BufferSizeMismatchException : ArgumentException
{
    /// <summary>Creates the exception.</summary>
    public BufferSizeMismatchException(string message, string? paramName) : base(message, paramName) { }
}

/// <summary>A value that must be finite (or within a range) is NaN/±∞/out of range (thrown before any kernel runs).</summary>
internal sealed class NonFiniteValueException : ArgumentException
{
    /// <summary>Creates the exception.</summary>
    public NonFiniteValueException(string message, string? paramName) : base(message, paramName) { }

    /// <summary>Creates the exception for the first non-finite entry of <paramref name="paramName"/>.</summary>
    public NonFiniteValueException(string paramName, int index, double value)
        : base($"Input '{paramName}' contains a non-finite value ({value}) at index {index}.", paramName)
    {
        Index = index;
    }

    /// <summary>Index of the first non-finite entry, where the thrower knows it; otherwise −1.</summary>
    public int Index { get; } = -1;
}

/// <summary>Buffers of different backends (or a disposed buffer) were mixed in one kernel call.</summary>
internal sealed class BackendMismatchException : ArgumentException
{
    /// <summary>Creates the exception.</summary>
    public BackendMismatchException(string message, string? paramName) : base(message, paramName) { }
}
