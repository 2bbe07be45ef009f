using System.Numerics;
using System.Runtime.CompilerServices;

namespace Saliency.Kernels.Ops.PrimalDual;

/// <summary>
/// The fused PDHG step of <see cref="PrimalDualTvStep"/> in single precision: the same sweep (row r of x⁺, then the
/// horizontal edges of row r and the vertical edges between rows r−1 and r), on float buffers, one thread, without the
/// running averages and the diagonal preconditioning of the double version.
/// </summary>
/// <remarks>
/// Why: at 224² the double step streams x, x₀ (p values each) and y, y₀, b (m ≈ 2p each), 3.2 MB, more than the 2 MB
/// L2 of a core; in float the working set is 1.6 MB and each SIMD lane holds twice the values. The solver only iterates
/// in float: every KKT check, the certificate and the final polish are float64 (<c>Solvers/Lp/PdhgDriver</c>).
/// Statistics (‖Δx‖², ‖Δy‖², ⟨Δy, DΔx⟩) are summed per row in float lanes and across rows in double.
/// </remarks>
public static unsafe class PrimalDualTvStepSingle
{
    /// <summary>Floats of scratch <see cref="Step"/> and <see cref="HalpernStep"/> need: 5·cols.</summary>
    public static int ScratchLength(int cols) => 5 * cols;

    /// <summary>One PDHG step (x, y) → (x⁺, y⁺) into distinct output buffers, with the move statistics when asked.</summary>
    public static void Step(
        int rows, int cols, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> b,
        Span<float> xOut, Span<float> yOut, float tau, float sigma, float bound, float inverseVariance,
        Span<float> scratch, bool wantStats, out PrimalDualStepStats stats)
    {
        Check(rows, cols, x.Length, y.Length, b.Length, xOut.Length, yOut.Length, scratch.Length);
        fixed (float* px = x, py = y, pb = b, pxo = xOut, pyo = yOut, ps = scratch)
        {
            var a = new Sweep
            {
                R = rows, C = cols, X = px, Y = py, B = pb, XO = pxo, YO = pyo, Tau = tau, Sigma = sigma, L = bound,
                InvS2 = inverseVariance, Scratch = ps, WantStats = wantStats,
            };
            stats = Core(a);
        }
    }

    /// <summary>
    /// One reflected Halpern step in place, <c>z ← a·(2T(z) − z) + (1 − a)·z₀</c> (see
    /// <see cref="PrimalDualTvStep.HalpernStep"/>; in place is safe for the same reason).
    /// </summary>
    public static void HalpernStep(
        int rows, int cols, Span<float> x, Span<float> y, ReadOnlySpan<float> b,
        ReadOnlySpan<float> anchorX, ReadOnlySpan<float> anchorY, float weight,
        float tau, float sigma, float bound, float inverseVariance, Span<float> scratch)
    {
        Check(rows, cols, x.Length, y.Length, b.Length, anchorX.Length, anchorY.Length, scratch.Length);
        fixed (float* px = x, py = y, pb = b, px0 = anchorX, py0 = anchorY, ps = scratch)
        {
            var a = new Sweep
            {
                R = rows, C = cols, X = px, Y = py, B = pb, XO = px, YO = py, Tau = tau, Sigma = sigma, L = bound,
                InvS2 = inverseVariance, Scratch = ps, X0 = px0, Y0 = py0, Ra = weight,
            };
            Core(a);
        }
    }

    private static void Check(int rows, int cols, int x, int y, int b, int xo, int yo, int scratch)
    {
        if (rows < 1 || cols < 1) throw new ArgumentOutOfRangeException(nameof(rows), "The grid must have at least one row and column.");
        int p = rows * cols, m = PrimalDualTvStep.EdgeCount(rows, cols);
        if (x < p || xo < p || y < m || yo < m || b < m)
            throw new ArgumentException("Primal-dual step buffers are shorter than the grid requires.");
        if (scratch < ScratchLength(cols))
            throw new ArgumentException("Primal-dual step scratch is shorter than ScratchLength(cols).");
    }

    private struct Sweep
    {
        public int R, C;
        public float* X, Y, B, XO, YO, Scratch, X0, Y0;
        public float Tau, Sigma, L, InvS2, Ra;
        public bool WantStats;
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

    /// <summary>The whole sweep (the double kernel's StepCore for one block, same order of updates).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static PrimalDualStepStats Core(in Sweep a)
    {
        int R = a.R, C = a.C, W = Vector<float>.Count, V = (R - 1) * C, H = C - 1;
        float* x = a.X, xo = a.XO, x0 = a.X0;
        float* yv = a.Y, yh = a.Y + V, yvo = a.YO, yho = a.YO + V, bv = a.B, bh = a.B + V;
        float* y0v = a.Y0, y0h = a.Y0 == null ? null : a.Y0 + V;
        float tau = a.Tau, sigma = a.Sigma, L = a.L, ra = a.Ra, rb = 1 - a.Ra, q = a.Sigma * a.InvS2;
        bool wantStats = a.WantStats, reflect = x0 != null;
        float* zero = a.Scratch + 4 * C;
        new Span<float>(zero, C).Clear();
        var vTau = new Vector<float>(tau);
        var vSigma = new Vector<float>(sigma);
        var vQ = new Vector<float>(q);
        var vL = new Vector<float>(L);
        var vTwo = new Vector<float>(2f);
        var vRa = new Vector<float>(ra);
        var vRb = new Vector<float>(rb);
        double dxx = 0, dyy = 0, inter = 0;

        for (int r = 0; r < R; r++)
        {
            int slot = r & 1;
            float* xbCur = a.Scratch + slot * C, xbPrev = a.Scratch + (1 - slot) * C;
            float* dxCur = a.Scratch + 2 * C + slot * C, dxPrev = a.Scratch + 2 * C + (1 - slot) * C;
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

            // Vertical edges between rows r−1 and r (their last reader was row r of x⁺ above).
            if (r > 0)
            {
                float* yvRow = yv + (r - 1) * C, yvoRow = yvo + (r - 1) * C, bvRow = bv + (r - 1) * C;
                float* y0vRow = reflect ? y0v + (r - 1) * C : null;
                c = 0;
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
            if (wantStats)
            {
                dxx += sx + Vector.Sum(accX);
                dyy += sy + Vector.Sum(accY);
                inter += si + Vector.Sum(accI);
            }
        }
        return new PrimalDualStepStats { PrimalMoveSquared = dxx, DualMoveSquared = dyy, Interaction = inter };
    }
}
