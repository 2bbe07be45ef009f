using Saliency.Linalg.Grid;

namespace Saliency.Linalg.Covariance;

/// <summary>
/// A perturbation covariance <c>Σ</c> (p×p, symmetric positive definite) over the pixels of a p1×p2 grid, given as an
/// operator: the LEG estimators only ever need <c>Σx</c>, <c>Σ⁻¹x</c>, a factor <c>F</c> with <c>FFᵀ = Σ</c>
/// (for sampling <c>z = Fε ~ N(0, Σ)</c>) and, for LEG-TV, <c>D⁺ᵀΣ</c>.
/// </summary>
/// <remarks>
/// Implementations: <see cref="IsotropicCovariance"/> (<c>σ²I</c>), <see cref="TvCovariance"/> (the LEG paper's
/// <c>σ²(DᵀD + 11ᵀ/p)</c>, DCT-diagonal) and <see cref="DenseCovariance"/> (user-given SPD matrix, Cholesky).
/// All are immutable and safe to call from several threads at once. Vectors are grid vectors in the row-major
/// layout of <see cref="GridShape"/>; every method validates lengths before any arithmetic.
/// </remarks>
internal interface ICovarianceOperator
{
    /// <summary>The grid the covariance lives on (p = <see cref="GridShape.Count"/>).</summary>
    GridShape Shape { get; }

    /// <summary><c>y = Σ x</c>.</summary>
    /// <exception cref="ArgumentException">A length differs from p.</exception>
    void Apply(ReadOnlySpan<double> x, Span<double> y);

    /// <summary><c>x = Σ⁻¹ b</c>. <paramref name="x"/> may be the same span as <paramref name="b"/>.</summary>
    /// <exception cref="ArgumentException">A length differs from p.</exception>
    void Solve(ReadOnlySpan<double> b, Span<double> x);

    /// <summary>
    /// <c>z = F ε</c> for a fixed factor <c>F</c> with <c>F Fᵀ = Σ</c>: maps a standard normal vector ε to a draw of
    /// <c>N(0, Σ)</c>. <paramref name="z"/> may be the same span as <paramref name="standardNormal"/>.
    /// </summary>
    /// <exception cref="ArgumentException">A length differs from p.</exception>
    void ApplyFactor(ReadOnlySpan<double> standardNormal, Span<double> z);

    /// <summary>
    /// <c>r = D⁺ᵀ Σ g</c> (grid → m differences), the constraint operator K of the LEG-TV program
    /// <c>‖D⁺ᵀ(y − Σg)‖∞ ≤ L</c>.
    /// </summary>
    /// <exception cref="ArgumentException">Lengths do not match p and m.</exception>
    void ApplyDPseudoInverseTransposeSigma(ReadOnlySpan<double> g, Span<double> r);

    /// <summary><c>g = Σ D⁺ v</c> (m differences → grid), the adjoint of <see cref="ApplyDPseudoInverseTransposeSigma"/>.</summary>
    /// <exception cref="ArgumentException">Lengths do not match m and p.</exception>
    void ApplySigmaDPseudoInverse(ReadOnlySpan<double> v, Span<double> g);
}
