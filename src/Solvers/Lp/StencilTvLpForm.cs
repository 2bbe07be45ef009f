using Saliency.Kernels.Ops.PrimalDual;

namespace Saliency.Solvers.Lp;

/// <summary>
/// The paper's-covariance LP <c>min ‖Dg‖₁ s.t. ‖b − s²Dg‖∞ ≤ L</c> as <c>min_g F(Dg)</c>,
/// <c>F(z) = Σₑ |zₑ| + ι{|s² zₑ − bₑ| ≤ L}</c> (DESIGN.md, "a cheap exact form"); A = D, x = g, y ∈ Rᵐ.
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
    private readonly double[] _b;
    private readonly double _bound, _s2;
    private readonly double[] _scratch, _edges, _pixels;
    private double[]? _degrees, _scale;
    private double _scaleEta = double.NaN;

    /// <param name="problem">The LP.</param>
    /// <param name="rowBlocks">Row blocks each step is split into and swept in parallel (1: one thread).</param>
    public StencilTvLpForm(TvLpProblem problem, int rowBlocks = 1)
    {
        _rows = problem.Shape.Rows;
        _cols = problem.Shape.Cols;
        _p = problem.Shape.Count;
        _m = problem.Shape.DifferenceCount;
        _b = problem.B;
        _bound = problem.Bound;
        _s2 = problem.NoiseVariance;
        _rowBlocks = Math.Clamp(rowBlocks, 1, Math.Max(1, _rows / 2));
        _scratch = new double[PrimalDualTvStep.ScratchLength(_cols, _rowBlocks)];
        _edges = new double[_m];
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
            primalScale, xSum, ySum, averageWeight, _scratch, wantStats, out var stats, _rowBlocks);
        return stats;
    }

    public override bool TryHalpernStep(Span<double> x, Span<double> y, ReadOnlySpan<double> anchorX, ReadOnlySpan<double> anchorY,
        double weight, double tau, double sigma, ReadOnlySpan<double> primalScale)
    {
        PrimalDualTvStep.HalpernStep(_rows, _cols, x, y, _b, anchorX, anchorY, weight, tau, sigma, _bound, 1.0 / _s2,
            primalScale, _scratch, _rowBlocks);
        return true;
    }

    public override KktPoint Evaluate(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        PrimalDualTvStep.ApplyD(_rows, _cols, x, _edges);
        double primal = 0, viol2 = 0, dual = 0;
        for (int e = 0; e < _m; e++)
        {
            double z = _edges[e];
            primal += Math.Abs(z);
            double over = Math.Abs(_s2 * z - _b[e]) - _bound;
            if (over > 0) viol2 += over * over;
            double v = SplitEdge(y[e], _b[e], _bound, _s2);
            dual -= v * _b[e] + _bound * Math.Abs(v);
        }
        PrimalDualTvStep.ApplyDTranspose(_rows, _cols, y, _pixels);
        return new KktPoint(primal, dual, Math.Sqrt(viol2), Norm2(_pixels));
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
