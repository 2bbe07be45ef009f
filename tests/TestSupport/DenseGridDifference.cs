namespace Saliency.TestSupport;

/// <summary>
/// The nonzero entries of the anisotropic forward-difference operator D (m×p, m = 2·p1·p2 − p1 − p2) on a p1×p2 grid,
/// written out row by row from the documented layout — vertical differences first, then horizontal, no boundary
/// padding — as the independent dense reference for the D/Dᵀ kernels and the grid operators.
/// </summary>
internal static class DenseGridDifference
{
    public static IEnumerable<(int Row, int Col, double Value)> Entries(int p1, int p2)
    {
        int row = 0;
        for (int r = 0; r + 1 < p1; r++)
            for (int c = 0; c < p2; c++, row++)
            {
                yield return (row, (r + 1) * p2 + c, 1);
                yield return (row, r * p2 + c, -1);
            }
        for (int r = 0; r < p1; r++)
            for (int c = 0; c + 1 < p2; c++, row++)
            {
                yield return (row, r * p2 + c + 1, 1);
                yield return (row, r * p2 + c, -1);
            }
    }
}
