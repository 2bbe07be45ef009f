using Saliency.Linalg.Grid;

namespace Saliency.Linalg.Covariance;

/// <summary>The isotropic covariance <c>Σ = σ² I</c> (independent pixel noise). Every operation is O(p).</summary>
internal sealed class IsotropicCovariance : ICovarianceOperator
{
    /// <summary>Creates <c>σ² I</c> on <paramref name="shape"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Bad shape, or σ² not positive and finite.</exception>
    public IsotropicCovariance(GridShape shape, double variance)
    {
        shape.Validate(nameof(shape));
        CovarianceGuards.Variance(variance, nameof(variance));
        Shape = shape;
        Variance = variance;
    }

    /// <inheritdoc />
    public GridShape Shape { get; }

    /// <summary>σ².</summary>
    public double Variance { get; }

    /// <inheritdoc />
    public void Apply(ReadOnlySpan<double> x, Span<double> y) => Scale(x, y, Variance);

    /// <inheritdoc />
    public void Solve(ReadOnlySpan<double> b, Span<double> x) => Scale(b, x, 1.0 / Variance);

    /// <inheritdoc />
    public void ApplyFactor(ReadOnlySpan<double> standardNormal, Span<double> z) => Scale(standardNormal, z, Math.Sqrt(Variance));

    /// <inheritdoc />
    public void ApplyDPseudoInverseTransposeSigma(ReadOnlySpan<double> g, Span<double> r)
    {
        // D⁺ᵀ(σ²g) = σ² D(DᵀD)⁺g.
        NeumannLaplacian.For(Shape).ApplyDPseudoInverseTranspose(g, r);
        System.Numerics.Tensors.TensorPrimitives.Multiply(r, Variance, r);
    }

    /// <inheritdoc />
    public void ApplySigmaDPseudoInverse(ReadOnlySpan<double> v, Span<double> g)
    {
        NeumannLaplacian.For(Shape).ApplyDPseudoInverse(v, g);
        System.Numerics.Tensors.TensorPrimitives.Multiply(g, Variance, g);
    }

    private void Scale(ReadOnlySpan<double> x, Span<double> y, double factor)
    {
        GridGuards.Length(x.Length, Shape.Count, nameof(x));
        GridGuards.Length(y.Length, Shape.Count, nameof(y));
        System.Numerics.Tensors.TensorPrimitives.Multiply(x, factor, y);
    }
}
