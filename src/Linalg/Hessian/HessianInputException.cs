namespace Saliency.Linalg.Hessian;

/// <summary>
/// Thrown when the inputs of a Hessian computation are inconsistent: a Jacobian and a probability
/// vector of different class counts, non-finite entries, an empty matrix, or a class index out of range.
/// </summary>
internal class HessianInputException : ArgumentException
{
    /// <summary>Creates the exception with a message that names the offending input.</summary>
    public HessianInputException(string message, string? paramName = null) : base(message, paramName) { }
}

/// <summary>
/// Thrown when a vector given as softmax probabilities is not one: a negative or non-finite entry,
/// or a sum that differs from 1 (or exceeds 1, for the probabilities of a class subset).
/// </summary>
internal sealed class ProbabilityVectorException : HessianInputException
{
    /// <summary>Creates the exception with a message that says which condition failed.</summary>
    public ProbabilityVectorException(string message, string? paramName = null) : base(message, paramName) { }
}
