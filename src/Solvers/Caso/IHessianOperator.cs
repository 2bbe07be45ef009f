namespace Saliency.Solvers.Caso;

/// <summary>
/// Batched Hessian-vector products <c>H V</c> for the CASO Hessian <c>H = W A Wᵀ</c> (or an average of such),
/// never forming the d×d matrix H.
/// </summary>
internal interface IHessianOperator
{
    /// <summary>Input dimension d.</summary>
    int Dimension { get; }

    /// <summary>
    /// <c>hv = H v</c> for <paramref name="count"/> vectors stored slice-major (slice j at <c>[j·d, (j+1)·d)</c>),
    /// in one pass pair over W (<c>T = WᵀV</c>, then <c>W (A T)</c>).
    /// </summary>
    void Multiply(ReadOnlySpan<double> v, Span<double> hv, int count);
}
