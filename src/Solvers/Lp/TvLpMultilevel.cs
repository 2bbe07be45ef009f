using Saliency.Kernels.Ops.PrimalDual;
using Saliency.Linalg.Grid;

namespace Saliency.Solvers.Lp;

/// <summary>
/// The multilevel warm start of <see cref="TvLpOptions.Multilevel"/>: the paper's-covariance LP on a grid with even sides
/// is restricted to the 2×-coarser grid, solved there (recursively), and its solution prolongated to a starting point of
/// the fine solve, when the restriction is exact (b from a field constant on 2×2 blocks, as LEG's ×8 upsampled
/// perturbation grid gives). The start is only a start: the fine solve runs to the same certificate from it.
/// </summary>
/// <remarks>
/// <para><b>Restriction.</b> b = D⁺ᵀy lies in range D, so b = Dh with h = D⁺b = (DᵀD)⁺Dᵀb (one DCT pair); the coarse
/// LP has b_c = D_c h_c with h_c the 2×2 block means of h, and the same L and s². When h is constant on 2×2 blocks
/// (LEG's upsampled perturbation grid, nearest ×8) the fine LP restricted to block-constant g is exactly twice the
/// coarse one.</para>
/// <para><b>Prolongation.</b> g is copied to each 2×2 block (nearest). The dual y = u + s²v of an edge between two
/// coarse pixels goes to the two fine edges crossing it; the four edges inside each block are set so that every fine
/// pixel conserves flow (Dᵀy = 0, with the least-norm circulation), and the rest of the residual is projected out
/// (as in the dual polish), so the start has no dual residual and keeps the coarse dual objective where it can. The primal weight is kept
/// (‖Δx‖ and ‖Δy‖ both grow by about 2 from one level to the next).</para>
/// </remarks>
internal static class TvLpMultilevel
{
    /// <summary>Coarsest grid side: below it a solve is a few milliseconds and gains nothing from a start.</summary>
    public const int MinSide = 28;

    /// <summary>Relative deviation of h from its 2×2 block means below which the restriction counts as exact (h comes
    /// from one DCT pair: rounding is ~1e-15).</summary>
    public const double BlockTolerance = 1e-9;

    /// <summary>The 2×-coarser LP, or null when the grid is not the paper's form, has an odd side, is too small, or
    /// its h = D⁺b is not constant on 2×2 blocks (LEG's nearest upsampling of a coarser perturbation grid makes it so).</summary>
    public static TvLpProblem? Coarsen(TvLpProblem fine)
    {
        var shape = fine.Shape;
        if (!fine.IsStencilForm || shape.Rows % 2 != 0 || shape.Cols % 2 != 0 || Math.Min(shape.Rows, shape.Cols) < 2 * MinSide)
            return null;
        var h = new double[shape.Count];
        NeumannLaplacian.For(shape).ApplyDPseudoInverse(fine.B, h);
        var coarse = new GridShape(shape.Rows / 2, shape.Cols / 2);
        var hc = new double[coarse.Count];
        for (int r = 0; r < shape.Rows; r++)
            for (int c = 0; c < shape.Cols; c++)
                hc[(r / 2) * coarse.Cols + c / 2] += 0.25 * h[r * shape.Cols + c];
        // Only when the restriction is exact (h constant on 2×2 blocks): on pixel-level data the coarse solution was a
        // worse start than none on 2 of 3 seeds at 224² (bench/Saliency.Bench/Lp/RESULTS.md).
        double scale = 0, deviation = 0;
        for (int r = 0; r < shape.Rows; r++)
            for (int c = 0; c < shape.Cols; c++)
            {
                double v = h[r * shape.Cols + c];
                scale = Math.Max(scale, Math.Abs(v));
                deviation = Math.Max(deviation, Math.Abs(v - hc[(r / 2) * coarse.Cols + c / 2]));
            }
        if (deviation > BlockTolerance * scale) return null;
        var bc = new double[coarse.DifferenceCount];
        PrimalDualTvStep.ApplyD(coarse.Rows, coarse.Cols, hc, bc);
        return TvLpProblem.ForPaperCovariance(coarse, bc, fine.Bound, fine.NoiseVariance);
    }

    /// <summary>The fine start from a coarse solution of <see cref="Coarsen"/>(<paramref name="fine"/>).</summary>
    public static TvLpWarmStart Prolong(TvLpProblem fine, TvLpSolution coarse)
    {
        var fs = fine.Shape;
        var cs = coarse.Problem.Shape;
        int R = fs.Rows, C = fs.Cols, Vf = fs.VerticalDifferenceCount, Vc = cs.VerticalDifferenceCount;
        int Hf = C - 1, Hc = cs.Cols - 1;
        double s2 = coarse.Problem.NoiseVariance;
        var g = new double[fs.Count];
        for (int r = 0; r < R; r++)
            for (int c = 0; c < C; c++)
                g[r * C + c] = coarse.G[(r / 2) * cs.Cols + c / 2];
        var y = new double[fs.DifferenceCount];
        // Vertical fine edge (r, c) joins rows r and r + 1: it crosses a coarse edge when r is odd.
        for (int r = 1; r + 1 < R; r += 2)
            for (int c = 0; c < C; c++)
            {
                int e = (r / 2) * cs.Cols + c / 2;
                y[r * C + c] = coarse.U[e] + s2 * coarse.V[e];
            }
        // Horizontal fine edge (r, c) joins columns c and c + 1: it crosses a coarse edge when c is odd.
        for (int r = 0; r < R; r++)
            for (int c = 1; c + 1 < C; c += 2)
            {
                int e = Vc + (r / 2) * Hc + c / 2;
                y[Vf + r * Hf + c] = coarse.U[e] + s2 * coarse.V[e];
            }
        // The four edges inside each 2×2 block carry the flow between its crossing edges: conservation (Dᵀy)ⱼ = 0 at
        // its four pixels leaves one free circulation t, chosen for the least norm (interior edges at |y| ≤ 1 cost
        // nothing in the dual objective; a global projection would move the crossing edges, whose values it rests on).
        for (int r0 = 0; r0 < R; r0 += 2)
            for (int c0 = 0; c0 < C; c0 += 2)
            {
                double Yv(int r, int c) => r >= 0 && r < R - 1 ? y[r * C + c] : 0;
                double Yh(int r, int c) => c >= 0 && c < C - 1 ? y[Vf + r * Hf + c] : 0;
                double inTl = Yv(r0 - 1, c0) + Yh(r0, c0 - 1);
                double inTr = Yv(r0 - 1, c0 + 1) - Yh(r0, c0 + 1);
                double inBl = Yv(r0 + 1, c0) - Yh(r0 + 1, c0 - 1);
                double t = (2 * inTl - inTr - inBl) / 4;
                y[Vf + r0 * Hf + c0] = t;                  // top edge, TL → TR
                y[r0 * C + c0] = inTl - t;                 // left edge, TL → BL
                y[r0 * C + c0 + 1] = inTr + t;             // right edge, TR → BR
                y[Vf + (r0 + 1) * Hf + c0] = inTl - inBl - t;  // bottom edge, BL → BR
            }
        // What is left of Dᵀy (the coarse dual residual, spread) is removed by the projection y − D(DᵀD)⁺Dᵀy.
        var div = new double[fs.Count];
        var correction = new double[fs.DifferenceCount];
        PrimalDualTvStep.ApplyDTranspose(R, C, y, div);
        NeumannLaplacian.For(fs).ApplyDPseudoInverseTranspose(div, correction);
        for (int e = 0; e < y.Length; e++) y[e] -= correction[e];
        // The warm start carries (u, v) with u + s²v = y; u = y, v = 0 is such a pair.
        return new TvLpWarmStart(g, y, new double[y.Length], coarse.PrimalWeight);
    }
}
