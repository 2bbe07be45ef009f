namespace Saliency.Linalg.Covariance;

/// <summary>
/// A covariance matrix given by the user is not symmetric positive definite (not symmetric, singular or
/// indefinite), so it can neither be sampled from nor inverted.
/// </summary>
internal sealed class CovarianceNotPositiveDefiniteException : ArgumentException
{
    /// <summary>Creates the exception with a message saying what failed.</summary>
    public CovarianceNotPositiveDefiniteException(string message, string? paramName = null, Exception? inner = null)
        : base(message, paramName, inner)
    {
    }
}
