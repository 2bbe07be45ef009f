namespace Saliency.Linalg.Grid;

/// <summary>
/// Host-side double-precision anisotropic forward differences <c>D</c> and their adjoint <c>Dᵀ</c> on a grid,
/// in the row layout documented on <see cref="GridShape"/>. Used by the Linalg operators
/// (<see cref="NeumannLaplacian"/>, <c>D⁺</c>, <c>D⁺ᵀ</c>) and as a dense-free reference in tests.
/// </summary>
public static class GridDifference
{
    /// <summary><c>d = D g</c>: vertical differences first, then horizontal (see <see cref="GridShape"/>).</summary>
    /// <exception cref="ArgumentException">Span lengths do not match p or m.</exception>
    public static void Apply(GridShape shape, ReadOnlySpan<double> g, Span<double> d)
    {
        shape.Validate(nameof(shape));
        GridGuards.Length(g.Length, shape.Count, nameof(g));
        GridGuards.Length(d.Length, shape.DifferenceCount, nameof(d));
        int p1 = shape.Rows, p2 = shape.Cols;
        int v = shape.VerticalDifferenceCount;
        for (int i = 0; i < v; i++)
            d[i] = g[i + p2] - g[i];
        int k = v;
        for (int r = 0; r < p1; r++)
        {
            int rowBase = r * p2;
            for (int c = 0; c < p2 - 1; c++)
                d[k++] = g[rowBase + c + 1] - g[rowBase + c];
        }
    }

    /// <summary><c>g = Dᵀ d</c>, the adjoint of <see cref="Apply"/> (a negative divergence).</summary>
    /// <exception cref="ArgumentException">Span lengths do not match m or p.</exception>
    public static void ApplyTranspose(GridShape shape, ReadOnlySpan<double> d, Span<double> g)
    {
        shape.Validate(nameof(shape));
        GridGuards.Length(d.Length, shape.DifferenceCount, nameof(d));
        GridGuards.Length(g.Length, shape.Count, nameof(g));
        int p1 = shape.Rows, p2 = shape.Cols;
        int v = shape.VerticalDifferenceCount;
        g.Clear();
        for (int i = 0; i < v; i++)
        {
            g[i + p2] += d[i];
            g[i] -= d[i];
        }
        int k = v;
        for (int r = 0; r < p1; r++)
        {
            int rowBase = r * p2;
            for (int c = 0; c < p2 - 1; c++)
            {
                double value = d[k++];
                g[rowBase + c + 1] += value;
                g[rowBase + c] -= value;
            }
        }
    }
}
