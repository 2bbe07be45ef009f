namespace Saliency.Solvers.Caso;

/// <summary>Thrown for inconsistent CAFO/CASO inputs: sizes that do not match, a target class out of range, non-finite data, bad options.</summary>
internal class CasoInputException : ArgumentException
{
    /// <summary>Creates the exception with a message naming the offending input.</summary>
    public CasoInputException(string message, string? paramName = null) : base(message, paramName) { }
}

/// <summary>
/// Thrown when λ2 is too small for the CASO objective <c>gᵀΔ + ½ΔᵀHΔ − λ2‖Δ‖² − λ1‖Δ‖₁</c> to be strongly concave,
/// i.e. <c>λ2 ≤ λ_max(H)/2</c> (CAFO: λ2 ≤ 0). The maximisation would then be unbounded or ill-posed.
/// </summary>
internal sealed class NotStronglyConcaveException : ArgumentOutOfRangeException
{
    /// <summary>Creates the exception with the offending λ2 and the bound it must exceed.</summary>
    public NotStronglyConcaveException(double lambda2, double bound, string detail)
        : base("lambda2", lambda2, $"λ2 = {lambda2} must exceed {bound} for a strongly concave objective. {detail}")
    {
        Lambda2 = lambda2;
        Bound = bound;
    }

    /// <summary>The rejected λ2.</summary>
    public double Lambda2 { get; }

    /// <summary>The value λ2 must exceed (L/2 for CASO, 0 for CAFO).</summary>
    public double Bound { get; }
}
