using Saliency.Kernels.Backends;
using Saliency.Linalg.Grid;

namespace Saliency.Solvers.Lp;

/// <summary>
/// One LEG-TV linear program <c>min_g ‖D g‖₁ s.t. ‖b − K g‖∞ ≤ L</c> on a p1×p2 grid (Luo, Barut, Jin,
/// eq. for LEG-TV), with D the anisotropic forward-difference operator (layout of <see cref="GridShape"/>)
/// and <c>K = D⁺ᵀΣ</c>.
/// </summary>
/// <remarks>
/// Two forms: <see cref="ForPaperCovariance"/> for the paper's <c>Σ = s²(DᵀD + 11ᵀ/p)</c>, where
/// <c>K = s² D</c> and the solver runs a fused stencil step; and <see cref="ForOperator"/> for any other
/// covariance, where K is an <see cref="ITvConstraintOperator"/>. <c>b = D⁺ᵀ y</c> is given by the caller.
/// </remarks>
internal sealed class TvLpProblem
{
    private TvLpProblem(GridShape shape, double[] b, double bound, double noiseVariance, ITvConstraintOperator? k)
    {
        Shape = shape;
        B = b;
        Bound = bound;
        NoiseVariance = noiseVariance;
        Operator = k;
    }

    /// <summary>The grid (p = p1·p2 unknowns, m = 2p1p2 − p1 − p2 constraints pairs).</summary>
    public GridShape Shape { get; }

    /// <summary>The right-hand side b = D⁺ᵀ y (length m). Not copied again by the solver; do not mutate.</summary>
    public double[] B { get; }

    /// <summary>The constraint level L ≥ 0.</summary>
    public double Bound { get; }

    /// <summary>s² of the paper's covariance (only for the stencil form; NaN for the operator form).</summary>
    public double NoiseVariance { get; }

    /// <summary>K as an operator (null for the paper's covariance, where K = s² D).</summary>
    public ITvConstraintOperator? Operator { get; }

    /// <summary>True when K = s² D and the fused stencil path is used.</summary>
    public bool IsStencilForm => Operator is null;

    /// <summary>
    /// The LP for the paper's covariance <c>Σ = s²(DᵀD + 11ᵀ/p)</c>: <c>min ‖Dg‖₁ s.t. ‖b − s² D g‖∞ ≤ L</c>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Bad grid, L &lt; 0 or not finite, s² ≤ 0 or not finite.</exception>
    /// <exception cref="ArgumentException">b does not have m entries.</exception>
    /// <exception cref="NonFiniteValueException">b contains NaN or ±∞.</exception>
    public static TvLpProblem ForPaperCovariance(GridShape shape, ReadOnlySpan<double> b, double bound, double noiseVariance)
    {
        ValidateCommon(shape, b, bound);
        if (!(noiseVariance > 0) || !double.IsFinite(noiseVariance))
            throw new ArgumentOutOfRangeException(nameof(noiseVariance), noiseVariance, "The noise variance s² must be positive and finite.");
        return new TvLpProblem(shape, b.ToArray(), bound, noiseVariance, null);
    }

    /// <summary>The general LP <c>min ‖Dg‖₁ s.t. ‖b − K g‖∞ ≤ L</c> with K given as an operator (p → m).</summary>
    /// <exception cref="ArgumentOutOfRangeException">Bad grid, L &lt; 0 or not finite.</exception>
    /// <exception cref="ArgumentException">b or K do not match the grid's sizes.</exception>
    /// <exception cref="NonFiniteValueException">b contains NaN or ±∞.</exception>
    public static TvLpProblem ForOperator(GridShape shape, ReadOnlySpan<double> b, double bound, ITvConstraintOperator k)
    {
        ArgumentNullException.ThrowIfNull(k);
        ValidateCommon(shape, b, bound);
        if (k.InputLength != shape.Count || k.OutputLength != shape.DifferenceCount)
            throw new ArgumentException(
                $"K maps {k.InputLength} → {k.OutputLength} entries, the {shape} grid needs {shape.Count} → {shape.DifferenceCount}.", nameof(k));
        return new TvLpProblem(shape, b.ToArray(), bound, double.NaN, k);
    }

    /// <summary>The same LP with another L (b and K shared, not copied).</summary>
    /// <exception cref="ArgumentOutOfRangeException">L &lt; 0 or not finite.</exception>
    public TvLpProblem WithBound(double bound)
    {
        ValidateBound(bound);
        return new TvLpProblem(Shape, B, bound, NoiseVariance, Operator);
    }

    private static void ValidateCommon(GridShape shape, ReadOnlySpan<double> b, double bound)
    {
        shape.Validate(nameof(shape));
        if (shape.Count < 2)
            throw new ArgumentOutOfRangeException(nameof(shape), $"The LEG-TV LP needs at least two pixels, got {shape}.");
        ValidateBound(bound);
        GridGuards.Length(b.Length, shape.DifferenceCount, nameof(b));
        GridGuards.Finite(b, nameof(b));
    }

    private static void ValidateBound(double bound)
    {
        if (!(bound >= 0) || !double.IsFinite(bound))
            throw new ArgumentOutOfRangeException(nameof(bound), bound, "The constraint level L must be finite and ≥ 0.");
    }
}
