using System.Buffers;
using Saliency.Linalg.Grid;

namespace Saliency.Linalg.Covariance;

/// <summary>Shared pieces of the covariance operators: checks of σ² and the generic <c>D⁺ᵀΣ</c> route.</summary>
internal static class CovarianceGuards
{
    public static void Variance(double variance, string paramName)
    {
        if (!(variance > 0) || !double.IsFinite(variance))
            throw new ArgumentOutOfRangeException(paramName, variance, "The perturbation variance σ² must be positive and finite.");
    }

    /// <summary><c>r = D⁺ᵀ(Σ g)</c> through one Σ application and one Laplacian pseudo-inverse solve.</summary>
    public static void DPseudoInverseTransposeSigma(ICovarianceOperator sigma, ReadOnlySpan<double> g, Span<double> r)
    {
        var shape = sigma.Shape;
        GridGuards.Length(g.Length, shape.Count, nameof(g));
        GridGuards.Length(r.Length, shape.DifferenceCount, nameof(r));
        double[] rented = ArrayPool<double>.Shared.Rent(shape.Count);
        try
        {
            var sg = rented.AsSpan(0, shape.Count);
            sigma.Apply(g, sg);
            NeumannLaplacian.For(shape).ApplyDPseudoInverseTranspose(sg, r);
        }
        finally
        {
            ArrayPool<double>.Shared.Return(rented);
        }
    }

    /// <summary><c>g = Σ(D⁺ v)</c>, the adjoint of <see cref="DPseudoInverseTransposeSigma"/> (Σ is symmetric).</summary>
    public static void SigmaDPseudoInverse(ICovarianceOperator sigma, ReadOnlySpan<double> v, Span<double> g)
    {
        var shape = sigma.Shape;
        GridGuards.Length(v.Length, shape.DifferenceCount, nameof(v));
        GridGuards.Length(g.Length, shape.Count, nameof(g));
        double[] rented = ArrayPool<double>.Shared.Rent(shape.Count);
        try
        {
            var dv = rented.AsSpan(0, shape.Count);
            NeumannLaplacian.For(shape).ApplyDPseudoInverse(v, dv);
            sigma.Apply(dv, g);
        }
        finally
        {
            ArrayPool<double>.Shared.Return(rented);
        }
    }
}
