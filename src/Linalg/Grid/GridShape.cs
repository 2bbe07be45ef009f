namespace Saliency.Linalg.Grid;

/// <summary>
/// The shape of a p1×p2 pixel grid (<see cref="Rows"/> = p1, <see cref="Cols"/> = p2) on which saliency
/// maps, perturbations and total-variation differences live.
/// </summary>
/// <remarks>
/// <para><b>Grid layout.</b> A grid vector has <see cref="Count"/> = p1·p2 entries stored row-major:
/// pixel (r, c) sits at index <c>r * Cols + c</c>.</para>
/// <para><b>Difference layout</b> (the rows of the anisotropic forward-difference operator D, m = 2p1p2 − p1 − p2):
/// first the <see cref="VerticalDifferenceCount"/> = (p1−1)·p2 vertical differences
/// <c>(D g)[r * Cols + c] = g[r+1, c] − g[r, c]</c> for r &lt; p1−1, then the
/// <see cref="HorizontalDifferenceCount"/> = p1·(p2−1) horizontal differences
/// <c>(D g)[V + r * (Cols−1) + c] = g[r, c+1] − g[r, c]</c> for c &lt; p2−1, where V is the vertical count.</para>
/// <para>docs/mathematics.md, "Grid difference layout". This is the one definition used above the kernels (Linalg, Solvers, Saliency, bench). The kernels, which
/// cannot reference Linalg, implement the same layout and own its count: <see cref="DifferenceCount"/> is
/// <c>Saliency.Kernels.Ops.TotalVariation.DifferenceCount</c> (and the fused primal-dual kernel's
/// <c>PrimalDualTvStep.EdgeCount</c> returns that too), so the formula m = 2p1p2 − p1 − p2 is written once.</para>
/// </remarks>
/// <param name="Rows">Number of grid rows p1 (≥ 1).</param>
/// <param name="Cols">Number of grid columns p2 (≥ 1).</param>
internal readonly record struct GridShape(int Rows, int Cols)
{
    /// <summary>Number of grid pixels p = p1·p2.</summary>
    public int Count => checked(Rows * Cols);

    /// <summary>Number of vertical forward differences (p1−1)·p2 (the first block of D's rows).</summary>
    public int VerticalDifferenceCount => (Rows - 1) * Cols;

    /// <summary>Number of horizontal forward differences p1·(p2−1) (the second block of D's rows).</summary>
    public int HorizontalDifferenceCount => DifferenceCount - VerticalDifferenceCount;

    /// <summary>Number of rows of D: m = 2p1p2 − p1 − p2 (the kernels' count, see the remarks).</summary>
    /// <exception cref="ArgumentOutOfRangeException">A dimension is below 1.</exception>
    public int DifferenceCount => Saliency.Kernels.Ops.TotalVariation.DifferenceCount(Rows, Cols);

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> unless both dimensions are at least 1 and p fits in an int.</summary>
    /// <param name="paramName">Name reported in the exception.</param>
    public void Validate(string paramName = "shape")
    {
        if (Rows < 1 || Cols < 1)
            throw new ArgumentOutOfRangeException(paramName, $"Grid shape must be at least 1×1, got {Rows}×{Cols}.");
        if ((long)Rows * Cols > int.MaxValue / 2)
            throw new ArgumentOutOfRangeException(paramName, $"Grid shape {Rows}×{Cols} is too large.");
    }

    /// <inheritdoc />
    public override string ToString() => $"{Rows}×{Cols}";
}
