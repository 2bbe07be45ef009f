namespace Saliency.Solvers.Fista;

/// <summary>
/// A convex quadratic <c>f(x) = ½ xᵀQx − bᵀx</c> on R^d, evaluated for several vectors at once.
/// Every smooth part in this library (CAFO, CASO, Smooth CASO/CAFO) has this form; exploiting the
/// linearity of <c>x ↦ Qx</c> is what lets <see cref="FistaSolver"/> make a single batched pass over the
/// Jacobian per iteration, backtracking check included.
/// </summary>
internal interface IBatchedQuadratic
{
    /// <summary>Dimension d of x.</summary>
    int Dimension { get; }

    /// <summary>The linear term b (length d), shared by all slices of a batch.</summary>
    ReadOnlySpan<double> Linear { get; }

    /// <summary>
    /// An upper bound on <c>λ_max(Q)</c> (the Lipschitz constant of ∇f) when one is known cheaply, else null.
    /// The solver starts its step at the reciprocal; backtracking then only guards round-off.
    /// </summary>
    double? LipschitzBound { get; }

    /// <summary>
    /// <c>Q x</c> for <paramref name="count"/> vectors stored slice-major (slice j at <c>[j·d, (j+1)·d)</c>),
    /// in one batched pass (for CASO: one batched Hessian-vector product over W).
    /// </summary>
    void MultiplyCurvature(ReadOnlySpan<double> x, Span<double> qx, int count);
}
