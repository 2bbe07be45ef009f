using System.Numerics;
using System.Runtime.CompilerServices;

namespace Saliency.Kernels.Ops.PrimalDual;

/// <summary>
/// Per-step quantities the primal-dual driver needs for adaptive step sizes (PDLP): squared norms of the
/// primal and dual moves and the interaction term ⟨Δy, D Δx⟩, all accumulated inside the fused step.
/// </summary>
public struct PrimalDualStepStats
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
/// the CUDA version of the same step is <c>PrimalDualTvStep.cu</c> next to this file).
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
public static unsafe class PrimalDualTvStep
{
    /// <summary>Number of rows m = 2·p1·p2 − p1 − p2 of the forward-difference operator D.</summary>
    public static int EdgeCount(int rows, int cols) => (rows - 1) * cols + rows * (cols - 1);

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
    /// One fused PDHG step (see the type remarks). <paramref name="scratch"/> needs 5·cols doubles.
    /// When <paramref name="xSum"/>/<paramref name="ySum"/> are non-empty, <paramref name="averageWeight"/>·x⁺
    /// and ·y⁺ are added to them (running averages for restarts). <paramref name="primalScale"/>, when
    /// non-empty, multiplies τ per pixel (diagonal preconditioning).
    /// </summary>
    public static void Step(
        int rows, int cols,
        ReadOnlySpan<double> x, ReadOnlySpan<double> y, ReadOnlySpan<double> b,
        Span<double> xOut, Span<double> yOut,
        double tau, double sigma, double bound, double inverseVariance,
        ReadOnlySpan<double> primalScale,
        Span<double> xSum, Span<double> ySum, double averageWeight,
        Span<double> scratch, bool wantStats, out PrimalDualStepStats stats)
    {
        int p = rows * cols, m = EdgeCount(rows, cols);
        if (x.Length < p || xOut.Length < p || y.Length < m || yOut.Length < m || b.Length < m || scratch.Length < 5 * cols)
            throw new ArgumentException("Primal-dual step buffers are shorter than the grid requires.");
        bool averaging = !xSum.IsEmpty;
        if (averaging && (xSum.Length < p || ySum.Length < m))
            throw new ArgumentException("Average accumulators are shorter than the grid requires.");
        bool scaled = !primalScale.IsEmpty;
        if (scaled && primalScale.Length < p)
            throw new ArgumentException("Primal scale is shorter than the grid.");

        fixed (double* px = x, py = y, pb = b, pxo = xOut, pyo = yOut, ps = scratch, pxs = xSum, pys = ySum, pscale = primalScale)
        {
            stats = StepCore(rows, cols, px, py, pb, pxo, pyo, tau, sigma, bound, inverseVariance,
                scaled ? pscale : null, averaging ? pxs : null, averaging ? pys : null, averageWeight, ps, wantStats);
        }
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
    /// One row-sweep of the fused step. Interior columns run in SIMD lanes (<see cref="Vector{T}"/>), the first and
    /// last column and the remainder in scalar code; missing neighbours on the top and bottom rows read a zero row.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static PrimalDualStepStats StepCore(
        int R, int C, double* x, double* y, double* b, double* xo, double* yo,
        double tau, double sigma, double L, double invS2, double* pscale,
        double* xs, double* ys, double aw, double* scratch, bool wantStats)
    {
        int W = Vector<double>.Count;
        int V = (R - 1) * C;
        int H = C - 1;
        double* yv = y, yh = y + V, yvo = yo, yho = yo + V, bv = b, bh = b + V;
        double* ysv = ys, ysh = ys == null ? null : ys + V;
        double* zero = scratch + 4 * C;
        new Span<double>(zero, C).Clear();
        double q = sigma * invS2;
        var vTau = new Vector<double>(tau);
        var vSigma = new Vector<double>(sigma);
        var vQ = new Vector<double>(q);
        var vL = new Vector<double>(L);
        var vAw = new Vector<double>(aw);
        var vTwo = new Vector<double>(2.0);
        Vector<double> accX = Vector<double>.Zero, accY = Vector<double>.Zero, accI = Vector<double>.Zero;
        double dxx = 0, dyy = 0, inter = 0;

        for (int r = 0; r < R; r++)
        {
            double* xbCur = scratch + (r & 1) * C;
            double* xbPrev = scratch + ((r + 1) & 1) * C;
            double* dxCur = scratch + 2 * C + (r & 1) * C;
            double* dxPrev = scratch + 2 * C + ((r + 1) & 1) * C;
            int row = r * C;
            double* xr = x + row, xor = xo + row;
            double* xsr = xs == null ? null : xs + row;
            double* sr = pscale == null ? null : pscale + row;

            // x⁺ row r: x − τ (Dᵀy)[r, ·]; (Dᵀy)[r,c] = yv[r−1,c] − yv[r,c] + yh[r,c−1] − yh[r,c].
            double* yvUp = r > 0 ? yv + (r - 1) * C : zero;
            double* yvDn = r < R - 1 ? yv + r * C : zero;
            double* yhRow = yh + r * H;
            int c = 0;
            XCell(yvUp, yvDn, yhRow, H, 0, tau, sr, xr, xor, xbCur, dxCur, xsr, aw, wantStats, ref dxx);
            if (C > 1)
            {
                for (c = 1; c + W <= C - 1; c += W)
                {
                    var dty = Vector.Load(yvUp + c) - Vector.Load(yvDn + c) + Vector.Load(yhRow + c - 1) - Vector.Load(yhRow + c);
                    var t = sr == null ? vTau : vTau * Vector.Load(sr + c);
                    var xOld = Vector.Load(xr + c);
                    var xNew = xOld - t * dty;
                    Vector.Store(xNew, xor + c);
                    Vector.Store(vTwo * xNew - xOld, xbCur + c);
                    var d = xNew - xOld;
                    Vector.Store(d, dxCur + c);
                    if (wantStats) accX += d * d;
                    if (xsr != null) Vector.Store(Vector.Load(xsr + c) + vAw * xNew, xsr + c);
                }
                for (; c < C; c++) XCell(yvUp, yvDn, yhRow, H, c, tau, sr, xr, xor, xbCur, dxCur, xsr, aw, wantStats, ref dxx);
            }

            // Horizontal edges of row r.
            double* bhRow = bh + r * H;
            double* yhoRow = yho + r * H;
            double* yshRow = ysh == null ? null : ysh + r * H;
            c = 0;
            for (; c + W <= H; c += W)
            {
                var bi = Vector.Load(bhRow + c);
                var yOld = Vector.Load(yhRow + c);
                var w = yOld + vSigma * (Vector.Load(xbCur + c + 1) - Vector.Load(xbCur + c));
                var yn = Prox(w, vQ * (bi - vL), vQ * (bi + vL));
                Vector.Store(yn, yhoRow + c);
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
                double w = yhRow[c] + sigma * (xbCur[c + 1] - xbCur[c]);
                double yn = Prox(w, q * (bi - L), q * (bi + L));
                yhoRow[c] = yn;
                if (wantStats)
                {
                    double dy = yn - yhRow[c];
                    dyy += dy * dy;
                    inter += dy * (dxCur[c + 1] - dxCur[c]);
                }
                if (yshRow != null) yshRow[c] += aw * yn;
            }

            // Vertical edges between rows r−1 and r (their last reader was row r of x⁺ above).
            if (r > 0)
            {
                double* yvRow = yv + (r - 1) * C;
                double* yvoRow = yvo + (r - 1) * C;
                double* bvRow = bv + (r - 1) * C;
                double* ysvRow = ysv == null ? null : ysv + (r - 1) * C;
                c = 0;
                for (; c + W <= C; c += W)
                {
                    var bi = Vector.Load(bvRow + c);
                    var yOld = Vector.Load(yvRow + c);
                    var w = yOld + vSigma * (Vector.Load(xbCur + c) - Vector.Load(xbPrev + c));
                    var yn = Prox(w, vQ * (bi - vL), vQ * (bi + vL));
                    Vector.Store(yn, yvoRow + c);
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
                    double w = yvRow[c] + sigma * (xbCur[c] - xbPrev[c]);
                    double yn = Prox(w, q * (bi - L), q * (bi + L));
                    yvoRow[c] = yn;
                    if (wantStats)
                    {
                        double dy = yn - yvRow[c];
                        dyy += dy * dy;
                        inter += dy * (dxCur[c] - dxPrev[c]);
                    }
                    if (ysvRow != null) ysvRow[c] += aw * yn;
                }
            }
        }

        return new PrimalDualStepStats
        {
            PrimalMoveSquared = dxx + Vector.Sum(accX),
            DualMoveSquared = dyy + Vector.Sum(accY),
            Interaction = inter + Vector.Sum(accI),
        };
    }

    /// <summary>Scalar x⁺ for one pixel of a row (edge columns and the SIMD remainder).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void XCell(double* yvUp, double* yvDn, double* yhRow, int H, int cc, double tau, double* sr,
        double* xr, double* xor, double* xbCur, double* dxCur, double* xsr, double aw, bool wantStats, ref double dxx)
    {
        double dty = yvUp[cc] - yvDn[cc];
        if (cc > 0) dty += yhRow[cc - 1];
        if (cc < H) dty -= yhRow[cc];
        double t = sr == null ? tau : tau * sr[cc];
        double xOld = xr[cc];
        double xNew = xOld - t * dty;
        xor[cc] = xNew;
        xbCur[cc] = 2.0 * xNew - xOld;
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
