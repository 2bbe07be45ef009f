using System.Numerics;
using System.Runtime.CompilerServices;

namespace Saliency.Kernels.Ops.PrimalDual;

/// <summary>
/// Per-step quantities the primal-dual driver needs for adaptive step sizes (PDLP): squared norms of the
/// primal and dual moves and the interaction term ⟨Δy, D Δx⟩, all accumulated inside the fused step.
/// </summary>
internal struct PrimalDualStepStats
{
    /// <summary>‖x⁺ − x‖₂².</summary>
    public double PrimalMoveSquared;

    /// <summary>‖y⁺ − y‖₂².</summary>
    public double DualMoveSquared;

    /// <summary>⟨y⁺ − y, D (x⁺ − x)⟩.</summary>
    public double Interaction;
}

/// <summary>
/// The fused Chambolle–Pock step for the LEG-TV linear program with the paper's covariance (CPU version;
/// the device version of the same step is <c>PrimalDualTvBatch.StepKernel</c>, an ILGPU kernel).
/// </summary>
/// <remarks>
/// <para>The LP <c>min ‖D g‖₁ s.t. ‖b − s² D g‖∞ ≤ L</c> is written <c>min_g F(D g)</c> with the separable
/// <c>F(z) = Σₑ |zₑ| + ι{|s² zₑ − bₑ| ≤ L}</c>. One PDHG step with primal step τ and dual step σ is
/// <code>
///   x⁺ = x − τ Dᵀy                      (g is free: no primal prox)
///   y⁺ = prox_{σF*}(y + σ D(2x⁺ − x))
///      = w − clamp(shrink₁(w), σ·lo, σ·hi),  w = y + σ D(2x⁺ − x),  lo/hi = (b ∓ L)/s²
/// </code>
/// (Moreau: prox_{σF*}(w) = w − σ prox_{F/σ}(w/σ), and the prox of a 1-D |·| plus an interval indicator is
/// soft-thresholding followed by clipping). Everything is done in one sweep over the grid rows: row r of x⁺
/// is computed from the old y, then the horizontal edges of row r and the vertical edges between rows r−1 and
/// r, whose last reader was row r of x⁺, are updated. Input and output buffers are distinct so that a step
/// rejected by the adaptive step-size rule costs nothing to undo.</para>
/// <para>Layout (same as <c>Saliency.Linalg.Grid.GridShape</c>): x is row-major p1×p2; y holds first the
/// (p1−1)·p2 vertical differences <c>g[r+1,c] − g[r,c]</c>, then the p1·(p2−1) horizontal ones
/// <c>g[r,c+1] − g[r,c]</c>.</para>
/// </remarks>
internal static unsafe class PrimalDualTvStep
{
    /// <summary>Number of rows m = 2·p1·p2 − p1 − p2 of the forward-difference operator D (<see cref="TotalVariation.DifferenceCount"/>, the one count).</summary>
    public static int EdgeCount(int rows, int cols) => TotalVariation.DifferenceCount(rows, cols);

    /// <summary>
    /// Exact ‖D‖₂² = λ_max(DᵀD) = 4 sin²(π(p1−1)/(2p1)) + 4 sin²(π(p2−1)/(2p2)) (Neumann Laplacian, DCT-II
    /// eigenvalues; always below 8).
    /// </summary>
    public static double OperatorNormSquared(int rows, int cols)
    {
        static double Term(int n) => n <= 1 ? 0.0 : 4.0 * Math.Pow(Math.Sin(Math.PI * (n - 1) / (2.0 * n)), 2);
        return Term(rows) + Term(cols);
    }

    /// <summary>
    /// Doubles of scratch <see cref="Step"/> and <see cref="HalpernStep"/> need: 5·cols for one row block, 7·cols per
    /// block otherwise (two rows of x̄ = 2x⁺ − x and Δx, a zero row, and the block's first x̄/Δx rows kept for the seam).
    /// </summary>
    public static int ScratchLength(int cols, int rowBlocks) => rowBlocks <= 1 ? 5 * cols : 7 * cols * rowBlocks;

    /// <summary>
    /// One fused PDHG step (see the type remarks). <paramref name="scratch"/> needs
    /// <see cref="ScratchLength"/>(cols, rowBlocks) doubles.
    /// When <paramref name="xSum"/>/<paramref name="ySum"/> are non-empty, <paramref name="averageWeight"/>·x⁺
    /// and ·y⁺ are added to them (running averages for restarts). <paramref name="primalScale"/>, when
    /// non-empty, multiplies τ per pixel (diagonal preconditioning). <paramref name="rowBlocks"/> &gt; 1 splits the sweep
    /// into that many contiguous row blocks run in parallel (results identical to one block; see <see cref="HalpernStep"/>).
    /// </summary>
    public static void Step(
        int rows, int cols,
        ReadOnlySpan<double> x, ReadOnlySpan<double> y, ReadOnlySpan<double> b,
        Span<double> xOut, Span<double> yOut,
        double tau, double sigma, double bound, double inverseVariance,
        ReadOnlySpan<double> primalScale,
        Span<double> xSum, Span<double> ySum, double averageWeight,
        Span<double> scratch, bool wantStats, out PrimalDualStepStats stats, int rowBlocks = 1)
    {
        int p = rows * cols, m = EdgeCount(rows, cols);
        if (x.Length < p || xOut.Length < p || y.Length < m || yOut.Length < m || b.Length < m)
            throw new ArgumentException("Primal-dual step buffers are shorter than the grid requires.");
        rowBlocks = CheckBlocks(rows, cols, rowBlocks, scratch.Length);
        bool averaging = !xSum.IsEmpty;
        if (averaging && (xSum.Length < p || ySum.Length < m))
            throw new ArgumentException("Average accumulators are shorter than the grid requires.");
        bool scaled = !primalScale.IsEmpty;
        if (scaled && primalScale.Length < p)
            throw new ArgumentException("Primal scale is shorter than the grid.");

        fixed (double* px = x, py = y, pb = b, pxo = xOut, pyo = yOut, ps = scratch, pxs = xSum, pys = ySum, pscale = primalScale)
        {
            var a = new Sweep
            {
                R = rows, C = cols, X = px, Y = py, B = pb, XO = pxo, YO = pyo, Tau = tau, Sigma = sigma, L = bound,
                InvS2 = inverseVariance, Scale = scaled ? pscale : null, XS = averaging ? pxs : null,
                YS = averaging ? pys : null, Aw = averageWeight, Scratch = ps, WantStats = wantStats,
            };
            stats = Run(a, rowBlocks);
        }
    }

    /// <summary>
    /// One reflected Halpern step of PDHG (cuPDLPx), in place:
    /// <c>z ← a·(2T(z) − z) + (1 − a)·z₀</c> with z = (x, y), T the step of <see cref="Step"/> and z₀ the anchor.
    /// Fusing the reflection into the sweep saves the separate passes over x, y, T(z) and z₀ (memory traffic is what
    /// limits the step). In place is safe: every x and y entry's last reader in the sweep is its own update.
    /// </summary>
    /// <remarks>With <paramref name="rowBlocks"/> &gt; 1 the rows are cut into that many contiguous blocks swept in
    /// parallel; the vertical edges on the seams between blocks (coupling the last row of one block and the first of the
    /// next) are updated after the blocks join, from the x̄ rows each block kept. Every entry is computed by the same
    /// arithmetic as in one sweep, so the result does not depend on the block count.</remarks>
    public static void HalpernStep(
        int rows, int cols,
        Span<double> x, Span<double> y, ReadOnlySpan<double> b,
        ReadOnlySpan<double> anchorX, ReadOnlySpan<double> anchorY, double weight,
        double tau, double sigma, double bound, double inverseVariance,
        ReadOnlySpan<double> primalScale, Span<double> scratch, int rowBlocks = 1)
    {
        int p = rows * cols, m = EdgeCount(rows, cols);
        if (x.Length < p || anchorX.Length < p || y.Length < m || anchorY.Length < m || b.Length < m)
            throw new ArgumentException("Halpern step buffers are shorter than the grid requires.");
        rowBlocks = CheckBlocks(rows, cols, rowBlocks, scratch.Length);
        bool scaled = !primalScale.IsEmpty;
        if (scaled && primalScale.Length < p)
            throw new ArgumentException("Primal scale is shorter than the grid.");
        fixed (double* px = x, py = y, pb = b, px0 = anchorX, py0 = anchorY, ps = scratch, pscale = primalScale)
        {
            var a = new Sweep
            {
                R = rows, C = cols, X = px, Y = py, B = pb, XO = px, YO = py, Tau = tau, Sigma = sigma, L = bound,
                InvS2 = inverseVariance, Scale = scaled ? pscale : null, Scratch = ps,
                X0 = px0, Y0 = py0, Ra = weight,
            };
            Run(a, rowBlocks);
        }
    }

    private static int CheckBlocks(int rows, int cols, int rowBlocks, int scratchLength)
    {
        // A block needs at least two rows so that its first and last rows differ (the seam bookkeeping assumes it).
        rowBlocks = Math.Clamp(rowBlocks, 1, Math.Max(1, rows / 2));
        if (scratchLength < ScratchLength(cols, rowBlocks))
            throw new ArgumentException("Primal-dual step scratch is shorter than ScratchLength(cols, rowBlocks).");
        return rowBlocks;
    }

    /// <summary>Everything one sweep reads (pointers into pinned spans; X0 ≠ null selects the Halpern reflection).</summary>
    private struct Sweep
    {
        public int R, C;
        public double* X, Y, B, XO, YO, Scale, XS, YS, Scratch, X0, Y0;
        public double Tau, Sigma, L, InvS2, Aw, Ra;
        public bool WantStats;
    }

    private static PrimalDualStepStats Run(Sweep a, int blocks)
    {
        if (blocks == 1) return StepCore(a, 0, a.R, a.Scratch);
        var parts = new PrimalDualStepStats[blocks];
        int R = a.R, C = a.C;
        Parallel.For(0, blocks, k => parts[k] = StepCore(a, k * R / blocks, (k + 1) * R / blocks, a.Scratch + k * 7 * C));
        var total = default(PrimalDualStepStats);
        // Fixed combination order (blocks, then seams top to bottom): deterministic sums.
        for (int k = 0; k < blocks; k++) Add(ref total, parts[k]);
        for (int k = 1; k < blocks; k++)
        {
            int r = k * R / blocks, rPrev = r - 1, prevStart = (k - 1) * R / blocks;
            double* prev = a.Scratch + (k - 1) * 7 * C, cur = a.Scratch + k * 7 * C;
            // The previous block's last row sits in its ring at slot (rPrev − start) & 1; this block kept its first row.
            int slot = (rPrev - prevStart) & 1;
            var seam = VerticalEdges(a, rPrev, cur + 5 * C, prev + slot * C, cur + 6 * C, prev + 2 * C + slot * C);
            Add(ref total, seam);
        }
        return total;
    }

    private static void Add(ref PrimalDualStepStats t, in PrimalDualStepStats s)
    {
        t.PrimalMoveSquared += s.PrimalMoveSquared;
        t.DualMoveSquared += s.DualMoveSquared;
        t.Interaction += s.Interaction;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double Prox(double w, double lo, double hi)
    {
        // shrink₁(w) = w − clamp(w, ±1), then clip to [lo, hi]; y⁺ = w − that.
        double s = w - Math.Clamp(w, -1.0, 1.0);
        s = s < lo ? lo : (s > hi ? hi : s);
        return w - s;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<double> Prox(Vector<double> w, Vector<double> lo, Vector<double> hi)
    {
        var s = w - Vector.Min(Vector.Max(w, -Vector<double>.One), Vector<double>.One);
        s = Vector.Min(Vector.Max(s, lo), hi);
        return w - s;
    }

    /// <summary>
    /// Rows [r0, r1) of the fused step: x⁺ rows, their horizontal edges and the vertical edges between consecutive rows
    /// of the block. Interior columns run in SIMD lanes (<see cref="Vector{T}"/>), the first and last column and the
    /// remainder in scalar code; missing neighbours on the top and bottom rows read a zero row. When r0 &gt; 0 the
    /// block's first x̄ and Δx rows are copied to scratch[5C..7C) for the seam pass of <see cref="Run"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static PrimalDualStepStats StepCore(in Sweep a, int r0, int r1, double* scratch)
    {
        int R = a.R, C = a.C;
        int W = Vector<double>.Count;
        int V = (R - 1) * C;
        int H = C - 1;
        double* x = a.X, xo = a.XO, pscale = a.Scale, xs = a.XS, x0 = a.X0;
        double* yv = a.Y, yh = a.Y + V, yho = a.YO + V, bh = a.B + V;
        double* ysh = a.YS == null ? null : a.YS + V, y0h = a.Y0 == null ? null : a.Y0 + V;
        double tau = a.Tau, sigma = a.Sigma, L = a.L, aw = a.Aw, ra = a.Ra;
        bool wantStats = a.WantStats, reflect = x0 != null;
        double* zero = scratch + 4 * C;
        new Span<double>(zero, C).Clear();
        double q = sigma * a.InvS2;
        var vTau = new Vector<double>(tau);
        var vSigma = new Vector<double>(sigma);
        var vQ = new Vector<double>(q);
        var vL = new Vector<double>(L);
        var vAw = new Vector<double>(aw);
        var vTwo = new Vector<double>(2.0);
        var vRa = new Vector<double>(ra);
        var vRb = new Vector<double>(1 - ra);
        Vector<double> accX = Vector<double>.Zero, accY = Vector<double>.Zero, accI = Vector<double>.Zero;
        double dxx = 0, dyy = 0, inter = 0;
        var total = default(PrimalDualStepStats);

        for (int r = r0; r < r1; r++)
        {
            int slot = (r - r0) & 1;
            double* xbCur = scratch + slot * C;
            double* xbPrev = scratch + (1 - slot) * C;
            double* dxCur = scratch + 2 * C + slot * C;
            double* dxPrev = scratch + 2 * C + (1 - slot) * C;
            int row = r * C;
            double* xr = x + row, xor = xo + row;
            double* xsr = xs == null ? null : xs + row;
            double* sr = pscale == null ? null : pscale + row;
            double* x0r = reflect ? x0 + row : null;

            // x⁺ row r: x − τ (Dᵀy)[r, ·]; (Dᵀy)[r,c] = yv[r−1,c] − yv[r,c] + yh[r,c−1] − yh[r,c].
            double* yvUp = r > 0 ? yv + (r - 1) * C : zero;
            double* yvDn = r < R - 1 ? yv + r * C : zero;
            double* yhRow = yh + r * H;
            int c = 0;
            XCell(yvUp, yvDn, yhRow, H, 0, tau, sr, xr, xor, xbCur, dxCur, xsr, aw, x0r, ra, wantStats, ref dxx);
            if (C > 1)
            {
                for (c = 1; c + W <= C - 1; c += W)
                {
                    var dty = Vector.Load(yvUp + c) - Vector.Load(yvDn + c) + Vector.Load(yhRow + c - 1) - Vector.Load(yhRow + c);
                    var t = sr == null ? vTau : vTau * Vector.Load(sr + c);
                    var xOld = Vector.Load(xr + c);
                    var xNew = xOld - t * dty;
                    var xBar = vTwo * xNew - xOld;
                    Vector.Store(reflect ? vRa * xBar + vRb * Vector.Load(x0r + c) : xNew, xor + c);
                    Vector.Store(xBar, xbCur + c);
                    var d = xNew - xOld;
                    Vector.Store(d, dxCur + c);
                    if (wantStats) accX += d * d;
                    if (xsr != null) Vector.Store(Vector.Load(xsr + c) + vAw * xNew, xsr + c);
                }
                for (; c < C; c++) XCell(yvUp, yvDn, yhRow, H, c, tau, sr, xr, xor, xbCur, dxCur, xsr, aw, x0r, ra, wantStats, ref dxx);
            }
            if (r == r0 && r0 > 0)
            {
                new Span<double>(xbCur, C).CopyTo(new Span<double>(scratch + 5 * C, C));
                new Span<double>(dxCur, C).CopyTo(new Span<double>(scratch + 6 * C, C));
            }

            // Horizontal edges of row r.
            double* bhRow = bh + r * H;
            double* yhoRow = yho + r * H;
            double* yshRow = ysh == null ? null : ysh + r * H;
            double* y0Row = y0h == null ? null : y0h + r * H;
            c = 0;
            for (; c + W <= H; c += W)
            {
                var bi = Vector.Load(bhRow + c);
                var yOld = Vector.Load(yhRow + c);
                var w = yOld + vSigma * (Vector.Load(xbCur + c + 1) - Vector.Load(xbCur + c));
                var yn = Prox(w, vQ * (bi - vL), vQ * (bi + vL));
                Vector.Store(reflect ? vRa * (vTwo * yn - yOld) + vRb * Vector.Load(y0Row + c) : yn, yhoRow + c);
                if (wantStats)
                {
                    var dy = yn - yOld;
                    accY += dy * dy;
                    accI += dy * (Vector.Load(dxCur + c + 1) - Vector.Load(dxCur + c));
                }
                if (yshRow != null) Vector.Store(Vector.Load(yshRow + c) + vAw * yn, yshRow + c);
            }
            for (; c < H; c++)
            {
                double bi = bhRow[c];
                double yOld = yhRow[c];
                double w = yOld + sigma * (xbCur[c + 1] - xbCur[c]);
                double yn = Prox(w, q * (bi - L), q * (bi + L));
                yhoRow[c] = reflect ? ra * (2.0 * yn - yOld) + (1 - ra) * y0Row[c] : yn;
                if (wantStats)
                {
                    double dy = yn - yOld;
                    dyy += dy * dy;
                    inter += dy * (dxCur[c + 1] - dxCur[c]);
                }
                if (yshRow != null) yshRow[c] += aw * yn;
            }

            // Vertical edges between rows r−1 and r (their last reader was row r of x⁺ above); the block's first row
            // pairs with the previous block's last one on the seam, done after the join.
            if (r > r0) Add(ref total, VerticalEdges(a, r - 1, xbCur, xbPrev, dxCur, dxPrev));
        }

        Add(ref total, new PrimalDualStepStats
        {
            PrimalMoveSquared = dxx + Vector.Sum(accX),
            DualMoveSquared = dyy + Vector.Sum(accY),
            Interaction = inter + Vector.Sum(accI),
        });
        return total;
    }

    /// <summary>The vertical edges between rows <paramref name="rUp"/> and rUp + 1 from their x̄ and Δx rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static PrimalDualStepStats VerticalEdges(in Sweep a, int rUp, double* xbCur, double* xbPrev, double* dxCur, double* dxPrev)
    {
        int C = a.C, W = Vector<double>.Count;
        double sigma = a.Sigma, L = a.L, q = sigma * a.InvS2, aw = a.Aw, ra = a.Ra;
        bool wantStats = a.WantStats, reflect = a.X0 != null;
        var vSigma = new Vector<double>(sigma);
        var vQ = new Vector<double>(q);
        var vL = new Vector<double>(L);
        var vAw = new Vector<double>(aw);
        var vTwo = new Vector<double>(2.0);
        var vRa = new Vector<double>(ra);
        var vRb = new Vector<double>(1 - ra);
        Vector<double> accY = Vector<double>.Zero, accI = Vector<double>.Zero;
        double dyy = 0, inter = 0;
        double* yvRow = a.Y + rUp * C;
        double* yvoRow = a.YO + rUp * C;
        double* bvRow = a.B + rUp * C;
        double* ysvRow = a.YS == null ? null : a.YS + rUp * C;
        double* y0Row = a.Y0 == null ? null : a.Y0 + rUp * C;
        int c = 0;
        for (; c + W <= C; c += W)
        {
            var bi = Vector.Load(bvRow + c);
            var yOld = Vector.Load(yvRow + c);
            var w = yOld + vSigma * (Vector.Load(xbCur + c) - Vector.Load(xbPrev + c));
            var yn = Prox(w, vQ * (bi - vL), vQ * (bi + vL));
            Vector.Store(reflect ? vRa * (vTwo * yn - yOld) + vRb * Vector.Load(y0Row + c) : yn, yvoRow + c);
            if (wantStats)
            {
                var dy = yn - yOld;
                accY += dy * dy;
                accI += dy * (Vector.Load(dxCur + c) - Vector.Load(dxPrev + c));
            }
            if (ysvRow != null) Vector.Store(Vector.Load(ysvRow + c) + vAw * yn, ysvRow + c);
        }
        for (; c < C; c++)
        {
            double bi = bvRow[c];
            double yOld = yvRow[c];
            double w = yOld + sigma * (xbCur[c] - xbPrev[c]);
            double yn = Prox(w, q * (bi - L), q * (bi + L));
            yvoRow[c] = reflect ? ra * (2.0 * yn - yOld) + (1 - ra) * y0Row[c] : yn;
            if (wantStats)
            {
                double dy = yn - yOld;
                dyy += dy * dy;
                inter += dy * (dxCur[c] - dxPrev[c]);
            }
            if (ysvRow != null) ysvRow[c] += aw * yn;
        }
        return new PrimalDualStepStats
        {
            DualMoveSquared = dyy + Vector.Sum(accY),
            Interaction = inter + Vector.Sum(accI),
        };
    }

    /// <summary>Scalar x⁺ for one pixel of a row (edge columns and the SIMD remainder).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void XCell(double* yvUp, double* yvDn, double* yhRow, int H, int cc, double tau, double* sr,
        double* xr, double* xor, double* xbCur, double* dxCur, double* xsr, double aw, double* x0r, double ra,
        bool wantStats, ref double dxx)
    {
        double dty = yvUp[cc] - yvDn[cc];
        if (cc > 0) dty += yhRow[cc - 1];
        if (cc < H) dty -= yhRow[cc];
        double t = sr == null ? tau : tau * sr[cc];
        double xOld = xr[cc];
        double xNew = xOld - t * dty;
        double xBar = 2.0 * xNew - xOld;
        xor[cc] = x0r == null ? xNew : ra * xBar + (1 - ra) * x0r[cc];
        xbCur[cc] = xBar;
        double d = xNew - xOld;
        dxCur[cc] = d;
        if (wantStats) dxx += d * d;
        if (xsr != null) xsr[cc] += aw * xNew;
    }

    /// <summary>z = D g (forward differences, layout as in the type remarks).</summary>
    public static void ApplyD(int rows, int cols, ReadOnlySpan<double> g, Span<double> z)
    {
        int C = cols, V = (rows - 1) * cols, H = cols - 1;
        if (g.Length < rows * cols || z.Length < EdgeCount(rows, cols))
            throw new ArgumentException("ApplyD buffers are shorter than the grid requires.");
        for (int r = 0; r + 1 < rows; r++)
            for (int c = 0; c < C; c++)
                z[r * C + c] = g[(r + 1) * C + c] - g[r * C + c];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < H; c++)
                z[V + r * H + c] = g[r * C + c + 1] - g[r * C + c];
    }

    /// <summary>g = Dᵀ z (adjoint of <see cref="ApplyD"/>).</summary>
    public static void ApplyDTranspose(int rows, int cols, ReadOnlySpan<double> z, Span<double> g)
    {
        int C = cols, V = (rows - 1) * cols, H = cols - 1;
        if (g.Length < rows * cols || z.Length < EdgeCount(rows, cols))
            throw new ArgumentException("ApplyDTranspose buffers are shorter than the grid requires.");
        g[..(rows * cols)].Clear();
        for (int r = 0; r + 1 < rows; r++)
            for (int c = 0; c < C; c++)
            {
                double v = z[r * C + c];
                g[(r + 1) * C + c] += v;
                g[r * C + c] -= v;
            }
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < H; c++)
            {
                double v = z[V + r * H + c];
                g[r * C + c + 1] += v;
                g[r * C + c] -= v;
            }
    }
}
