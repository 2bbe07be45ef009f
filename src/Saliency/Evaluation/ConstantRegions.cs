namespace Saliency.Evaluation;

/// <summary>
/// The number of distinct constant regions of a grid map: the connected components (4-neighbourhood) of the graph
/// that joins two adjacent cells when their values differ by at most <c>tol = <see cref="RelativeTolerance"/> · max|v|</c>.
/// A zero region counts like any other. LEG-TV's estimate minimises ‖Dγ‖₁ (Luo et al. 2019, eq. 6), so it is
/// piecewise constant: few regions relative to the cell count is what "TV-sparse" means for a map. The tolerance
/// absorbs the LP solver's residual (the PDHG solution is optimal to a relative gap, not exactly), so a region may
/// drift by up to tol per step along a chain of cells — fine for counting, not a clustering.
/// </summary>
internal static class ConstantRegions
{
    /// <summary>Default tolerance relative to the map's largest magnitude.</summary>
    public const double RelativeTolerance = 1e-3;

    /// <summary>
    /// Regions of the <paramref name="rows"/>×<paramref name="cols"/> map <paramref name="values"/> (row-major), summed
    /// over <paramref name="channels"/> planes (each plane its own grid). An all-equal map (an all-zero one included) is 1 region per plane.
    /// </summary>
    /// <exception cref="EvaluationInputException">Sizes do not match, a size is below 1, the tolerance is negative, or a value is NaN/∞.</exception>
    public static int Count(ReadOnlySpan<float> values, int rows, int cols, int channels = 1, double relativeTolerance = RelativeTolerance)
    {
        if (rows < 1 || cols < 1 || channels < 1)
            throw new EvaluationInputException($"The grid must be at least 1×1 with ≥ 1 channel, got {channels}×{rows}×{cols}.");
        if (values.Length != (long)rows * cols * channels)
            throw new EvaluationInputException($"A {channels}×{rows}×{cols} map has {(long)rows * cols * channels} values, got {values.Length}.", nameof(values));
        if (!(relativeTolerance >= 0) || double.IsInfinity(relativeTolerance))
            throw new EvaluationInputException($"The relative tolerance must be finite and ≥ 0, got {relativeTolerance}.", nameof(relativeTolerance));
        double max = 0;
        foreach (float v in values)
        {
            if (!float.IsFinite(v)) throw new EvaluationInputException("The map has a NaN or infinite value.", nameof(values));
            max = Math.Max(max, Math.Abs(v));
        }
        double tol = relativeTolerance * max;
        int plane = rows * cols, total = 0;
        var parent = new int[plane];
        for (int c = 0; c < channels; c++)
        {
            var p = values.Slice(c * plane, plane);
            for (int i = 0; i < plane; i++) parent[i] = i;
            int components = plane;
            for (int r = 0; r < rows; r++)
                for (int q = 0; q < cols; q++)
                {
                    int i = r * cols + q;
                    // Right and down neighbours: each 4-neighbour edge once.
                    if (q + 1 < cols && Math.Abs((double)p[i] - p[i + 1]) <= tol && Union(parent, i, i + 1)) components--;
                    if (r + 1 < rows && Math.Abs((double)p[i] - p[i + cols]) <= tol && Union(parent, i, i + cols)) components--;
                }
            total += components;
        }
        return total;
    }

    /// <summary>Union–find with path halving; true when the two cells were in different components.</summary>
    private static bool Union(int[] parent, int a, int b)
    {
        a = Find(parent, a);
        b = Find(parent, b);
        if (a == b) return false;
        parent[Math.Max(a, b)] = Math.Min(a, b);
        return true;
    }

    private static int Find(int[] parent, int i)
    {
        while (parent[i] != i)
        {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        return i;
    }
}
