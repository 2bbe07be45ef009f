using System.Numerics;
using Saliency.Kernels.Ops.PrimalDual;
using Saliency.Linalg.Grid;

namespace Saliency.Solvers.Lp;

/// <summary>
/// The paper's-covariance LP <c>min ‖Dg‖₁ s.t. ‖b − s²Dg‖∞ ≤ L</c> as <c>min_g F(Dg)</c>,
/// <c>F(z) = Σₑ |zₑ| + ι{|s² zₑ − bₑ| ≤ L}</c> (docs/mathematics.md, "The Chambolle–Pock form"); A = D, x = g, y ∈ Rᵐ.
/// </summary>
/// <remarks>
/// <para><b>Dual.</b> The Fenchel dual of <c>min_g F(Dg)</c> is <c>max −F*(y) s.t. Dᵀy = 0</c>. F is the sum of
/// ‖·‖₁ (conjugate: ι{‖u‖∞ ≤ 1}) and the box indicator (conjugate at y = s²v: ⟨v, b⟩ + L‖v‖₁), so F* is their
/// infimal convolution: <c>F*(y) = min { ⟨v, b⟩ + L‖v‖₁ : u + s²v = y, ‖u‖∞ ≤ 1 }</c>. Splitting y that way gives
/// exactly the certificate's dual <c>max −⟨v,b⟩ − L‖v‖₁ s.t. Dᵀu + s²Dᵀv = 0, ‖u‖∞ ≤ 1</c>; the split is per
/// edge: v minimises the convex piecewise-linear <c>φ(v) = v b + L|v|</c> on <c>[(y−1)/s², (y+1)/s²]</c>, so it is
/// an end point or 0 (<see cref="SplitEdge"/>), and u = y − s²v.</para>
/// </remarks>
internal sealed class StencilTvLpForm : PdhgForm
{
    private readonly int _rows, _cols, _p, _m, _rowBlocks;
    private readonly Func<int>? _rowBlocksNow;
    private readonly StepThreadTuner? _tuner;
    private readonly double[] _b;
    private readonly double _bound, _s2;
    private readonly double[] _scratch, _pixels;
    private double[]? _degrees, _scale, _dualDivergence, _correction;
    private float[]? _bSingle, _scratchSingle;
    private double _scaleEta = double.NaN;

    /// <param name="problem">The LP.</param>
    /// <param name="rowBlocks">Row blocks each step is split into and swept in parallel (1: one thread); with
    /// <paramref name="rowBlocksNow"/>, the most it may ask for.</param>
    /// <param name="rowBlocksNow">Asked before every step for the row blocks to use now (a batch's idle cores, see
    /// <see cref="TvLpCoreShare"/>); the iterates do not depend on the answer.</param>
    /// <param name="timedBlocks">Time one thread against the row blocks and take the faster (<see cref="StepThreadTuner"/>).</param>
    public StencilTvLpForm(TvLpProblem problem, int rowBlocks = 1, Func<int>? rowBlocksNow = null, bool timedBlocks = false)
    {
        _rows = problem.Shape.Rows;
        _cols = problem.Shape.Cols;
        _p = problem.Shape.Count;
        _m = problem.Shape.DifferenceCount;
        _b = problem.B;
        _bound = problem.Bound;
        _s2 = problem.NoiseVariance;
        _rowBlocks = Math.Clamp(rowBlocks, 1, Math.Max(1, _rows / 2));
        _rowBlocksNow = _rowBlocks > 1 ? rowBlocksNow : null;
        _tuner = _rowBlocks > 1 && timedBlocks ? new StepThreadTuner() : null;
        _scratch = new double[PrimalDualTvStep.ScratchLength(_cols, _rowBlocks)];
        _pixels = new double[_p];
        BNorm = Norm2(_b);
        OperatorNorm = Math.Sqrt(PrimalDualTvStep.OperatorNormSquared(_rows, _cols));
    }

    public override int PrimalLength => _p;

    public override int DualLength => _m;

    public override double OperatorNorm { get; }

    public override double BNorm { get; }

    public override double CNorm => Math.Sqrt(_m);

    public override double InitialPrimalWeight => BNorm > 0 ? CNorm * _s2 / BNorm : 1.0;

    public override ReadOnlySpan<double> PrimalScale(bool enabled, double eta)
    {
        if (!enabled) return ReadOnlySpan<double>.Empty;
        _degrees ??= ColumnDegrees(_rows, _cols);
        if (_scale is null || _scaleEta != eta)
        {
            // Pock–Chambolle (α = 1): τⱼσ = 1/(2 degⱼ) suffices for convergence; with σ = ηω, τ = (η/ω)·cⱼ that is
            // cⱼ = 0.998 / (2 degⱼ η²).
            _scale ??= new double[_p];
            for (int j = 0; j < _p; j++) _scale[j] = 0.998 / (2 * _degrees[j] * eta * eta);
            _scaleEta = eta;
        }
        return _scale;
    }

    public override PrimalDualStepStats Step(
        ReadOnlySpan<double> x, ReadOnlySpan<double> y, Span<double> xOut, Span<double> yOut, double tau, double sigma,
        ReadOnlySpan<double> primalScale, Span<double> xSum, Span<double> ySum, double averageWeight, bool wantStats)
    {
        PrimalDualTvStep.Step(_rows, _cols, x, y, _b, xOut, yOut, tau, sigma, _bound, 1.0 / _s2,
            primalScale, xSum, ySum, averageWeight, _scratch, wantStats, out var stats, Blocks());
        return stats;
    }

    public override bool TryHalpernStep(Span<double> x, Span<double> y, ReadOnlySpan<double> anchorX, ReadOnlySpan<double> anchorY,
        double weight, double tau, double sigma, ReadOnlySpan<double> primalScale)
    {
        PrimalDualTvStep.HalpernStep(_rows, _cols, x, y, _b, anchorX, anchorY, weight, tau, sigma, _bound, 1.0 / _s2,
            primalScale, _scratch, Blocks());
        return true;
    }

    public override bool SupportsSingle => true;

    public override PrimalDualStepStats StepSingle(float[] x, float[] y, float[] xOut, float[] yOut, double tau, double sigma, bool wantStats)
    {
        PrimalDualTvStepSingle.Step(_rows, _cols, x, y, SingleB(), xOut, yOut, (float)tau, (float)sigma, (float)_bound,
            (float)(1.0 / _s2), SingleScratch(), wantStats, out var stats, Blocks());
        return stats;
    }

    public override void HalpernStepSingle(float[] x, float[] y, float[] anchorX, float[] anchorY, double weight, double tau, double sigma) =>
        PrimalDualTvStepSingle.HalpernStep(_rows, _cols, x, y, SingleB(), anchorX, anchorY, (float)weight, (float)tau, (float)sigma,
            (float)_bound, (float)(1.0 / _s2), SingleScratch(), Blocks());

    /// <summary>Row blocks for this step: the fixed count, or the batch's current share capped by it; with the tuner,
    /// that or one thread, whichever its timings say is faster.</summary>
    private int Blocks()
    {
        int candidate = _rowBlocksNow is null ? _rowBlocks : Math.Clamp(_rowBlocksNow(), 1, _rowBlocks);
        return _tuner is null ? candidate : _tuner.Next(candidate);
    }

    private float[] SingleB()
    {
        if (_bSingle is null)
        {
            _bSingle = new float[_m];
            for (int e = 0; e < _m; e++) _bSingle[e] = (float)_b[e];
        }
        return _bSingle;
    }

    private float[] SingleScratch() => _scratchSingle ??= new float[PrimalDualTvStepSingle.ScratchLength(_rows, _cols, _rowBlocks)];

    /// <summary>
    /// The dual polish: y' = y − D(DᵀD)⁺Dᵀy, the Euclidean projection of y onto {Dᵀy = 0} (Dᵀy' = (11ᵀ/p)Dᵀy = 0
    /// because 1ᵀDᵀ = (D1)ᵀ = 0), one DCT pair (<see cref="NeumannLaplacian"/>). Every y is dual feasible for F*
    /// (the split u + s²v = y always exists), so y' has dual residual zero up to rounding; what it costs is a change of
    /// the dual objective, which the driver's KKT check of (x, y') decides on.
    /// </summary>
    public override bool TryProjectDual(ReadOnlySpan<double> y, Span<double> yOut)
    {
        _dualDivergence ??= new double[_p];
        _correction ??= new double[_m];
        PrimalDualTvStep.ApplyDTranspose(_rows, _cols, y, _dualDivergence);
        NeumannLaplacian.For(new GridShape(_rows, _cols)).ApplyDPseudoInverseTranspose(_dualDivergence, _correction);
        System.Numerics.Tensors.TensorPrimitives.Subtract(y, _correction, yOut);
        return true;
    }

    /// <summary>
    /// Objectives and residuals of (x, y) in two vectorised sweeps (edges, then pixels) without intermediate arrays: it
    /// runs every <see cref="TvLpOptions.CheckInterval"/> steps, and the scalar ApplyD/Dᵀ version cost about as much as
    /// 8 steps. The per-edge dual split is the same arithmetic as <see cref="SplitEdge"/> (division by s² included), so
    /// the driver's decision and the solver's independent certificate see the same v.
    /// </summary>
    public override unsafe KktPoint Evaluate(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        int R = _rows, C = _cols, V = (R - 1) * C, H = C - 1, W = Vector<double>.Count;
        var acc = new EdgeSums(_s2, _bound);
        double dty2 = 0;
        fixed (double* px = x, py = y, pb = _b, zero = _pixels)
        {
            // Vertical edges: z = x[e + C] − x[e] for e < V, contiguous.
            int e = 0;
            for (; e + W <= V; e += W)
                acc.Add(Vector.Load(px + e + C) - Vector.Load(px + e), Vector.Load(py + e), Vector.Load(pb + e));
            for (; e < V; e++) acc.Add(px[e + C] - px[e], py[e], pb[e]);
            // Horizontal edges, row by row.
            for (int r = 0; r < R; r++)
            {
                double* xr = px + r * C, yr = py + V + r * H, br = pb + V + r * H;
                int c = 0;
                for (; c + W <= H; c += W)
                    acc.Add(Vector.Load(xr + c + 1) - Vector.Load(xr + c), Vector.Load(yr + c), Vector.Load(br + c));
                for (; c < H; c++) acc.Add(xr[c + 1] - xr[c], yr[c], br[c]);
            }

            // ‖Dᵀy‖: (Dᵀy)[r,c] = yv[r−1,c] − yv[r,c] + yh[r,c−1] − yh[r,c]; missing neighbours read a zero row.
            new Span<double>(zero, C).Clear();
            var sq = Vector<double>.Zero;
            for (int r = 0; r < R; r++)
            {
                double* up = r > 0 ? py + (r - 1) * C : zero;
                double* dn = r < R - 1 ? py + r * C : zero;
                double* yh = py + V + r * H;
                dty2 += Square(up[0] - dn[0] - (H > 0 ? yh[0] : 0));
                if (C == 1) continue;
                int c = 1;
                for (; c + W <= C - 1; c += W)
                {
                    var t = Vector.Load(up + c) - Vector.Load(dn + c) + Vector.Load(yh + c - 1) - Vector.Load(yh + c);
                    sq += t * t;
                }
                for (; c < C - 1; c++) dty2 += Square(up[c] - dn[c] + yh[c - 1] - yh[c]);
                dty2 += Square(up[C - 1] - dn[C - 1] + yh[C - 2]);
            }
            dty2 += Vector.Sum(sq);
        }
        return new KktPoint(acc.Primal, acc.Dual, Math.Sqrt(acc.Violation2), Math.Sqrt(dty2));
    }

    private static double Square(double t) => t * t;

    /// <summary>Per-edge sums of <see cref="Evaluate"/>: |z|, the squared constraint violation and the dual's
    /// −(v b + L|v|) with v from <see cref="SplitEdge"/> (lanes and scalar tail alike).</summary>
    private struct EdgeSums(double s2, double bound)
    {
        private Vector<double> _primal, _viol, _dual;
        private double _primalTail, _violTail, _dualTail;

        public readonly double Primal => Vector.Sum(_primal) + _primalTail;

        public readonly double Violation2 => Vector.Sum(_viol) + _violTail;

        public readonly double Dual => Vector.Sum(_dual) + _dualTail;

        public void Add(Vector<double> z, Vector<double> y, Vector<double> b)
        {
            var vS2 = new Vector<double>(s2);
            var vL = new Vector<double>(bound);
            _primal += Vector.Abs(z);
            var over = Vector.Max(Vector.Abs(vS2 * z - b) - vL, Vector<double>.Zero);
            _viol += over * over;
            var lo = (y - Vector<double>.One) / vS2;
            var hi = (y + Vector<double>.One) / vS2;
            var loValue = lo * b + vL * Vector.Abs(lo);
            var hiValue = hi * b + vL * Vector.Abs(hi);
            var useHi = Vector.LessThan(hiValue, loValue);
            var best = Vector.ConditionalSelect(useHi, hi, lo);
            var bestValue = Vector.ConditionalSelect(useHi, hiValue, loValue);
            var toZero = Vector.LessThanOrEqual(lo, Vector<double>.Zero) & Vector.GreaterThanOrEqual(hi, Vector<double>.Zero)
                & Vector.GreaterThan(bestValue, Vector<double>.Zero);
            var v = Vector.ConditionalSelect(toZero, Vector<double>.Zero, best);
            _dual -= v * b + vL * Vector.Abs(v);
        }

        public void Add(double z, double y, double b)
        {
            _primalTail += Math.Abs(z);
            double over = Math.Abs(s2 * z - b) - bound;
            if (over > 0) _violTail += over * over;
            double v = SplitEdge(y, b, bound, s2);
            _dualTail -= v * b + bound * Math.Abs(v);
        }
    }

    public override void SplitDual(ReadOnlySpan<double> y, Span<double> u, Span<double> v)
    {
        for (int e = 0; e < _m; e++)
        {
            double ve = SplitEdge(y[e], _b[e], _bound, _s2);
            v[e] = ve;
            u[e] = Math.Clamp(y[e] - _s2 * ve, -1.0, 1.0);
        }
    }

    public override void JoinDual(ReadOnlySpan<double> u, ReadOnlySpan<double> v, Span<double> y)
    {
        for (int e = 0; e < _m; e++) y[e] = u[e] + _s2 * v[e];
    }

    /// <summary>The v minimising <c>v b + L|v|</c> on <c>[(y−1)/s², (y+1)/s²]</c> (end points or 0).</summary>
    internal static double SplitEdge(double y, double b, double bound, double s2)
    {
        double lo = (y - 1.0) / s2, hi = (y + 1.0) / s2;
        double best = lo, bestValue = lo * b + bound * Math.Abs(lo);
        double hiValue = hi * b + bound * Math.Abs(hi);
        if (hiValue < bestValue) { best = hi; bestValue = hiValue; }
        if (lo <= 0 && hi >= 0 && bestValue > 0) best = 0;
        return best;
    }

    internal static double Norm2(ReadOnlySpan<double> a) => System.Numerics.Tensors.TensorPrimitives.Norm(a);
}
