using System.Numerics;
using System.Runtime.CompilerServices;

namespace Saliency.Kernels.Ops.PrimalDual;

/// <summary>
/// The fused PDHG step of <see cref="PrimalDualTvStep"/> in single precision: the same sweep (row r of x⁺, then the
/// horizontal edges of row r and the vertical edges between rows r−1 and r), on float buffers, without the running
/// averages and the diagonal preconditioning of the double version; one thread, or contiguous row blocks in parallel
/// with the seams done after the join (as the double step).
/// </summary>
/// <remarks>
/// Why: at 224² the double step streams x, x₀ (p values each) and y, y₀, b (m ≈ 2p each), 3.2 MB, more than the 2 MB
/// L2 of a core; in float the working set is 1.6 MB and each SIMD lane holds twice the values. The solver only iterates
/// in float: every KKT check, the certificate and the final polish are float64 (<c>Solvers/Lp/PdhgDriver</c>).
/// Statistics (‖Δx‖², ‖Δy‖², ⟨Δy, DΔx⟩) are summed per row in float lanes and across rows in double, in row order
/// whatever the block count, so iterates and statistics do not depend on it.
/// </remarks>
internal static unsafe class PrimalDualTvStepSingle
{
    /// <summary>Floats of scratch one-block <see cref="Step"/> and <see cref="HalpernStep"/> need: 5·cols.</summary>
    public static int ScratchLength(int cols) => 5 * cols;

    /// <summary>
    /// Floats of scratch for <paramref name="rowBlocks"/> row blocks: 5·cols for one; otherwise per block two rows of
    /// x̄ and Δx, a zero row, the block's first x̄/Δx rows and that row's partial statistics (4 SIMD vectors) for the
    /// seam, then 3 doubles of statistics per grid row.
    /// </summary>
    public static int ScratchLength(int rows, int cols, int rowBlocks) =>
        rowBlocks <= 1 ? 5 * cols : rowBlocks * BlockStride(cols) + 6 * rows;

    /// <summary>Floats per block (even, so the row statistics after the blocks are 8-byte aligned).</summary>
    private static int BlockStride(int cols) => (7 * cols + 4 * Vector<float>.Count + 1) & ~1;

    /// <summary>One PDHG step (x, y) → (x⁺, y⁺) into distinct output buffers, with the move statistics when asked;
    /// <paramref name="rowBlocks"/> &gt; 1 sweeps that many row blocks in parallel (same result).</summary>
    public static void Step(
        int rows, int cols, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> b,
        Span<float> xOut, Span<float> yOut, float tau, float sigma, float bound, float inverseVariance,
        Span<float> scratch, bool wantStats, out PrimalDualStepStats stats, int rowBlocks = 1)
    {
        rowBlocks = Check(rows, cols, x.Length, y.Length, b.Length, xOut.Length, yOut.Length, scratch.Length, rowBlocks);
        fixed (float* px = x, py = y, pb = b, pxo = xOut, pyo = yOut, ps = scratch)
        {
            var a = new Sweep
            {
                R = rows, C = cols, X = px, Y = py, B = pb, XO = pxo, YO = pyo, Tau = tau, Sigma = sigma, L = bound,
                InvS2 = inverseVariance, Scratch = ps, WantStats = wantStats,
            };
            stats = Run(a, rowBlocks);
        }
    }

    /// <summary>
    /// One reflected Halpern step in place, <c>z ← a·(2T(z) − z) + (1 − a)·z₀</c> (see
    /// <see cref="PrimalDualTvStep.HalpernStep"/>; in place is safe for the same reason, with row blocks too).
    /// </summary>
    public static void HalpernStep(
        int rows, int cols, Span<float> x, Span<float> y, ReadOnlySpan<float> b,
        ReadOnlySpan<float> anchorX, ReadOnlySpan<float> anchorY, float weight,
        float tau, float sigma, float bound, float inverseVariance, Span<float> scratch, int rowBlocks = 1)
    {
        rowBlocks = Check(rows, cols, x.Length, y.Length, b.Length, anchorX.Length, anchorY.Length, scratch.Length, rowBlocks);
        fixed (float* px = x, py = y, pb = b, px0 = anchorX, py0 = anchorY, ps = scratch)
        {
            var a = new Sweep
            {
                R = rows, C = cols, X = px, Y = py, B = pb, XO = px, YO = py, Tau = tau, Sigma = sigma, L = bound,
                InvS2 = inverseVariance, Scratch = ps, X0 = px0, Y0 = py0, Ra = weight,
            };
            Run(a, rowBlocks);
        }
    }

    private static int Check(int rows, int cols, int x, int y, int b, int xo, int yo, int scratch, int rowBlocks)
    {
        if (rows < 1 || cols < 1) throw new ArgumentOutOfRangeException(nameof(rows), "The grid must have at least one row and column.");
        int p = rows * cols, m = PrimalDualTvStep.EdgeCount(rows, cols);
        if (x < p || xo < p || y < m || yo < m || b < m)
            throw new ArgumentException("Primal-dual step buffers are shorter than the grid requires.");
        // A block needs at least two rows so that its first and last rows differ (the seam bookkeeping assumes it).
        rowBlocks = Math.Clamp(rowBlocks, 1, Math.Max(1, rows / 2));
        if (scratch < ScratchLength(rows, cols, rowBlocks))
            throw new ArgumentException("Primal-dual step scratch is shorter than ScratchLength(rows, cols, rowBlocks).");
        return rowBlocks;
    }

    private struct Sweep
    {
        public int R, C;
        public float* X, Y, B, XO, YO, Scratch, X0, Y0;
        public float Tau, Sigma, L, InvS2, Ra;
        public bool WantStats;
        public double* RowTotals;
    }

    /// <summary>Scalar x⁺ for one pixel of a row (first column and the SIMD remainder).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void XCell(float* yvUp, float* yvDn, float* yhRow, int H, int c, float tau, float* xr, float* xor,
        float* xbCur, float* dxCur, float* x0r, float ra, bool wantStats, ref float sx)
    {
        float dt = yvUp[c] - yvDn[c];
        if (c > 0) dt += yhRow[c - 1];
        if (c < H) dt -= yhRow[c];
        float xOld = xr[c], xNew = xOld - tau * dt, xBar = 2f * xNew - xOld;
        xor[c] = x0r == null ? xNew : ra * xBar + (1 - ra) * x0r[c];
        xbCur[c] = xBar;
        dxCur[c] = xNew - xOld;
        if (wantStats) sx += (xNew - xOld) * (xNew - xOld);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Prox(float w, float lo, float hi)
    {
        float s = w - Math.Clamp(w, -1f, 1f);
        s = s < lo ? lo : (s > hi ? hi : s);
        return w - s;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<float> Prox(Vector<float> w, Vector<float> lo, Vector<float> hi)
    {
        var s = w - Vector.Min(Vector.Max(w, -Vector<float>.One), Vector<float>.One);
        s = Vector.Min(Vector.Max(s, lo), hi);
        return w - s;
    }

    /// <summary>
    /// One step with the given row blocks: one block is the plain sweep; more run <see cref="Core"/> on contiguous row
    /// blocks in parallel, then the seam rows' vertical edges (<see cref="Seam"/>), then sum the per-row statistics in row
    /// order, so that x⁺, y⁺ and the statistics are bit-identical for every block count (the driver's restart decisions
    /// read the statistics: a batch that changes the block count mid-solve must not change the iterates).
    /// </summary>
    private static PrimalDualStepStats Run(Sweep a, int blocks)
    {
        if (blocks == 1)
        {
            a.RowTotals = null;
            return Core(a, 0, a.R, a.Scratch);
        }
        int R = a.R, C = a.C, stride = BlockStride(C);
        a.RowTotals = a.WantStats ? (double*)(a.Scratch + blocks * stride) : null;
        Parallel.For(0, blocks, k => Core(a, k * R / blocks, (k + 1) * R / blocks, a.Scratch + k * stride));
        for (int k = 1; k < blocks; k++)
        {
            int r = k * R / blocks, prevStart = (k - 1) * R / blocks;
            float* prev = a.Scratch + (k - 1) * stride, cur = a.Scratch + k * stride;
            // The previous block's last row sits in its ring at slot (r − 1 − start) & 1; this block kept its first row.
            int slot = (r - 1 - prevStart) & 1;
            Seam(a, r, cur + 5 * C, prev + slot * C, cur + 6 * C, prev + 2 * C + slot * C, cur + 7 * C);
        }
        if (!a.WantStats) return default;
        double dxx = 0, dyy = 0, inter = 0;
        for (int r = 0; r < R; r++)
        {
            dxx += a.RowTotals[3 * r];
            dyy += a.RowTotals[3 * r + 1];
            inter += a.RowTotals[3 * r + 2];
        }
        return new PrimalDualStepStats { PrimalMoveSquared = dxx, DualMoveSquared = dyy, Interaction = inter };
    }

    /// <summary>
    /// Rows [r0, r1) of the sweep (the double kernel's StepCore, same order of updates). Blocks after the first keep
    /// their first x̄ and Δx rows (scratch[5C..7C)) and that row's partial statistics (scratch[7C..7C + 4W)) for
    /// <see cref="Seam"/>. With <see cref="Sweep.RowTotals"/> set, each row's statistics go there; otherwise they are
    /// summed here in row order and returned.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static PrimalDualStepStats Core(in Sweep a, int r0, int r1, float* scratch)
    {
        int R = a.R, C = a.C, W = Vector<float>.Count, V = (R - 1) * C, H = C - 1;
        float* x = a.X, xo = a.XO, x0 = a.X0;
        float* yv = a.Y, yh = a.Y + V, yho = a.YO + V, bh = a.B + V;
        float* y0h = a.Y0 == null ? null : a.Y0 + V;
        float tau = a.Tau, sigma = a.Sigma, L = a.L, ra = a.Ra, rb = 1 - a.Ra, q = a.Sigma * a.InvS2;
        bool wantStats = a.WantStats, reflect = x0 != null;
        double* rowTotals = a.RowTotals;
        float* zero = scratch + 4 * C;
        new Span<float>(zero, C).Clear();
        var vTau = new Vector<float>(tau);
        var vSigma = new Vector<float>(sigma);
        var vQ = new Vector<float>(q);
        var vL = new Vector<float>(L);
        var vTwo = new Vector<float>(2f);
        var vRa = new Vector<float>(ra);
        var vRb = new Vector<float>(rb);
        double dxx = 0, dyy = 0, inter = 0;

        for (int r = r0; r < r1; r++)
        {
            int slot = (r - r0) & 1;
            float* xbCur = scratch + slot * C, xbPrev = scratch + (1 - slot) * C;
            float* dxCur = scratch + 2 * C + slot * C, dxPrev = scratch + 2 * C + (1 - slot) * C;
            float* xr = x + r * C, xor = xo + r * C, x0r = reflect ? x0 + r * C : null;
            float* yvUp = r > 0 ? yv + (r - 1) * C : zero;
            float* yvDn = r < R - 1 ? yv + r * C : zero;
            float* yhRow = yh + r * H;
            Vector<float> accX = Vector<float>.Zero, accY = Vector<float>.Zero, accI = Vector<float>.Zero;
            float sx = 0, sy = 0, si = 0;

            // x⁺ row r: x − τ (Dᵀy)[r, ·], (Dᵀy)[r,c] = yv[r−1,c] − yv[r,c] + yh[r,c−1] − yh[r,c].
            XCell(yvUp, yvDn, yhRow, H, 0, tau, xr, xor, xbCur, dxCur, x0r, ra, wantStats, ref sx);
            int c = 1;
            for (; c + W <= C - 1; c += W)
            {
                var dty = Vector.Load(yvUp + c) - Vector.Load(yvDn + c) + Vector.Load(yhRow + c - 1) - Vector.Load(yhRow + c);
                var xOld = Vector.Load(xr + c);
                var xNew = xOld - vTau * dty;
                var xBar = vTwo * xNew - xOld;
                Vector.Store(reflect ? vRa * xBar + vRb * Vector.Load(x0r + c) : xNew, xor + c);
                Vector.Store(xBar, xbCur + c);
                var d = xNew - xOld;
                Vector.Store(d, dxCur + c);
                if (wantStats) accX += d * d;
            }
            for (; c < C; c++) XCell(yvUp, yvDn, yhRow, H, c, tau, xr, xor, xbCur, dxCur, x0r, ra, wantStats, ref sx);
            bool seamRow = r == r0 && r0 > 0;
            if (seamRow)
            {
                new Span<float>(xbCur, C).CopyTo(new Span<float>(scratch + 5 * C, C));
                new Span<float>(dxCur, C).CopyTo(new Span<float>(scratch + 6 * C, C));
            }

            // Horizontal edges of row r.
            float* bhRow = bh + r * H, yhoRow = yho + r * H, y0hRow = reflect ? y0h + r * H : null;
            c = 0;
            for (; c + W <= H; c += W)
            {
                var bi = Vector.Load(bhRow + c);
                var yOld = Vector.Load(yhRow + c);
                var yn = Prox(yOld + vSigma * (Vector.Load(xbCur + c + 1) - Vector.Load(xbCur + c)), vQ * (bi - vL), vQ * (bi + vL));
                Vector.Store(reflect ? vRa * (vTwo * yn - yOld) + vRb * Vector.Load(y0hRow + c) : yn, yhoRow + c);
                if (wantStats)
                {
                    var dy = yn - yOld;
                    accY += dy * dy;
                    accI += dy * (Vector.Load(dxCur + c + 1) - Vector.Load(dxCur + c));
                }
            }
            for (; c < H; c++)
            {
                float bi = bhRow[c], yOld = yhRow[c];
                float yn = Prox(yOld + sigma * (xbCur[c + 1] - xbCur[c]), q * (bi - L), q * (bi + L));
                yhoRow[c] = reflect ? ra * (2f * yn - yOld) + rb * y0hRow[c] : yn;
                if (wantStats)
                {
                    float dy = yn - yOld;
                    sy += dy * dy;
                    si += dy * (dxCur[c + 1] - dxCur[c]);
                }
            }

            if (seamRow)
            {
                // The vertical edges above this row pair it with the previous block's last row: Seam finishes the row.
                if (wantStats) SaveCarry(scratch + 7 * C, accX, accY, accI, sx, sy, si);
                continue;
            }
            // Vertical edges between rows r−1 and r (their last reader was row r of x⁺ above).
            if (r > 0) VerticalEdges(a, r - 1, xbCur, xbPrev, dxCur, dxPrev, ref accY, ref accI, ref sy, ref si);
            if (wantStats)
            {
                double tx = sx + Vector.Sum(accX), ty = sy + Vector.Sum(accY), ti = si + Vector.Sum(accI);
                if (rowTotals != null)
                {
                    rowTotals[3 * r] = tx;
                    rowTotals[3 * r + 1] = ty;
                    rowTotals[3 * r + 2] = ti;
                }
                else
                {
                    dxx += tx;
                    dyy += ty;
                    inter += ti;
                }
            }
        }
        return new PrimalDualStepStats { PrimalMoveSquared = dxx, DualMoveSquared = dyy, Interaction = inter };
    }

    /// <summary>The seam between two blocks: the vertical edges between rows r − 1 and r, finishing row r's statistics
    /// from the partial sums its block saved (same accumulation order as one sweep).</summary>
    private static void Seam(in Sweep a, int r, float* xbCur, float* xbPrev, float* dxCur, float* dxPrev, float* carry)
    {
        int W = Vector<float>.Count;
        Vector<float> accX = default, accY = default, accI = default;
        float sx = 0, sy = 0, si = 0;
        if (a.WantStats)
        {
            accX = Vector.Load(carry);
            accY = Vector.Load(carry + W);
            accI = Vector.Load(carry + 2 * W);
            (sx, sy, si) = (carry[3 * W], carry[3 * W + 1], carry[3 * W + 2]);
        }
        VerticalEdges(a, r - 1, xbCur, xbPrev, dxCur, dxPrev, ref accY, ref accI, ref sy, ref si);
        if (!a.WantStats) return;
        a.RowTotals[3 * r] = sx + Vector.Sum(accX);
        a.RowTotals[3 * r + 1] = sy + Vector.Sum(accY);
        a.RowTotals[3 * r + 2] = si + Vector.Sum(accI);
    }

    private static void SaveCarry(float* carry, Vector<float> accX, Vector<float> accY, Vector<float> accI, float sx, float sy, float si)
    {
        int W = Vector<float>.Count;
        Vector.Store(accX, carry);
        Vector.Store(accY, carry + W);
        Vector.Store(accI, carry + 2 * W);
        (carry[3 * W], carry[3 * W + 1], carry[3 * W + 2]) = (sx, sy, si);
    }

    /// <summary>The vertical edges between rows <paramref name="rUp"/> and rUp + 1 from their x̄ and Δx rows, adding to
    /// the row's statistics.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void VerticalEdges(in Sweep a, int rUp, float* xbCur, float* xbPrev, float* dxCur, float* dxPrev,
        ref Vector<float> accY, ref Vector<float> accI, ref float sy, ref float si)
    {
        int C = a.C, W = Vector<float>.Count;
        float sigma = a.Sigma, L = a.L, q = a.Sigma * a.InvS2, ra = a.Ra, rb = 1 - a.Ra;
        bool wantStats = a.WantStats, reflect = a.X0 != null;
        var vSigma = new Vector<float>(sigma);
        var vQ = new Vector<float>(q);
        var vL = new Vector<float>(L);
        var vTwo = new Vector<float>(2f);
        var vRa = new Vector<float>(ra);
        var vRb = new Vector<float>(rb);
        float* yvRow = a.Y + rUp * C, yvoRow = a.YO + rUp * C, bvRow = a.B + rUp * C;
        float* y0vRow = reflect ? a.Y0 + rUp * C : null;
        int c = 0;
        for (; c + W <= C; c += W)
        {
            var bi = Vector.Load(bvRow + c);
            var yOld = Vector.Load(yvRow + c);
            var yn = Prox(yOld + vSigma * (Vector.Load(xbCur + c) - Vector.Load(xbPrev + c)), vQ * (bi - vL), vQ * (bi + vL));
            Vector.Store(reflect ? vRa * (vTwo * yn - yOld) + vRb * Vector.Load(y0vRow + c) : yn, yvoRow + c);
            if (wantStats)
            {
                var dy = yn - yOld;
                accY += dy * dy;
                accI += dy * (Vector.Load(dxCur + c) - Vector.Load(dxPrev + c));
            }
        }
        for (; c < C; c++)
        {
            float bi = bvRow[c], yOld = yvRow[c];
            float yn = Prox(yOld + sigma * (xbCur[c] - xbPrev[c]), q * (bi - L), q * (bi + L));
            yvoRow[c] = reflect ? ra * (2f * yn - yOld) + rb * y0vRow[c] : yn;
            if (wantStats)
            {
                float dy = yn - yOld;
                sy += dy * dy;
                si += dy * (dxCur[c] - dxPrev[c]);
            }
        }
    }
}
