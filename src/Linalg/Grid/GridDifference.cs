using Saliency.Kernels.Ops;

namespace Saliency.Linalg.Grid;

/// <summary>
/// Host-side double-precision anisotropic forward differences <c>D</c> and their adjoint <c>Dᵀ</c> on a grid, in the
/// row layout documented on <see cref="GridShape"/>, with <see cref="GridShape"/>-based validation. The arithmetic is
/// the CPU <see cref="TotalVariation"/> kernel (one implementation of D in the code base). Used by the Linalg operators
/// (<see cref="NeumannLaplacian"/>, <c>D⁺</c>, <c>D⁺ᵀ</c>).
/// </summary>
internal static class GridDifference
{
    /// <summary><c>d = D g</c>: vertical differences first, then horizontal (see <see cref="GridShape"/>).</summary>
    /// <exception cref="ArgumentException">Span lengths do not match p or m.</exception>
    public static void Apply(GridShape shape, ReadOnlySpan<double> g, Span<double> d)
    {
        shape.Validate(nameof(shape));
        GridGuards.Length(g.Length, shape.Count, nameof(g));
        GridGuards.Length(d.Length, shape.DifferenceCount, nameof(d));
        TotalVariation.Forward(g, d, shape.Rows, shape.Cols);
    }

    /// <summary><c>g = Dᵀ d</c>, the adjoint of <see cref="Apply"/> (a negative divergence).</summary>
    /// <exception cref="ArgumentException">Span lengths do not match m or p.</exception>
    public static void ApplyTranspose(GridShape shape, ReadOnlySpan<double> d, Span<double> g)
    {
        shape.Validate(nameof(shape));
        GridGuards.Length(d.Length, shape.DifferenceCount, nameof(d));
        GridGuards.Length(g.Length, shape.Count, nameof(g));
        TotalVariation.Adjoint(d, g, shape.Rows, shape.Cols);
    }
}
