using Saliency.Kernels.Ops.PrimalDual;

namespace Saliency.Solvers.Lp;

/// <summary>
/// The general LP <c>min ‖Dg‖₁ s.t. ‖b − Kg‖∞ ≤ L</c> with K an operator, as the saddle problem over
/// <c>A = [D; αK]</c>: x = g, y = (u, ṽ) with
/// <c>min_g max_{‖u‖∞≤1, ṽ} ⟨u, Dg⟩ + ⟨ṽ, αKg − αb⟩ − αL‖ṽ‖₁</c>.
/// </summary>
/// <remarks>
/// <para><b>Dual.</b> Minimising the Lagrangian over the free g forces <c>Dᵀu + αKᵀṽ = 0</c> and leaves
/// <c>−α⟨ṽ, b⟩ − αL‖ṽ‖₁</c>; with v = αṽ this is the certificate's <c>max −⟨v,b⟩ − L‖v‖₁ s.t.
/// Dᵀu + Kᵀv = 0, ‖u‖∞ ≤ 1</c>. The prox steps are: u ← clamp(u + σDx̄, ±1) (projection) and
/// ṽ ← soft(ṽ + σα(Kx̄ − b), σαL) (prox of σ(α⟨ṽ,b⟩ + αL‖ṽ‖₁)).</para>
/// <para><b>Block scaling.</b> α = ‖D‖/‖K‖ puts both blocks of A at the same norm (K = D⁺ᵀΣ can be orders of
/// magnitude larger or smaller than D); ‖K‖ is estimated by power iteration with a 5 % margin.</para>
/// </remarks>
internal sealed class OperatorTvLpForm : PdhgForm
{
    private readonly int _rows, _cols, _p, _m;
    private readonly ITvConstraintOperator _k;
    private readonly double[] _b;
    private readonly double _bound, _alpha;
    private readonly double[] _xbar, _dx, _tp, _tp2, _em, _em2;

    public OperatorTvLpForm(TvLpProblem problem)
    {
        _rows = problem.Shape.Rows;
        _cols = problem.Shape.Cols;
        _p = problem.Shape.Count;
        _m = problem.Shape.DifferenceCount;
        _k = problem.Operator!;
        _b = problem.B;
        _bound = problem.Bound;
        _xbar = new double[_p];
        _dx = new double[_p];
        _tp = new double[_p];
        _tp2 = new double[_p];
        _em = new double[_m];
        _em2 = new double[_m];
        double dNorm = Math.Sqrt(PrimalDualTvStep.OperatorNormSquared(_rows, _cols));
        double kNorm = EstimateNorm(_k, _p, _m);
        _alpha = kNorm > 0 ? dNorm / kNorm : 1.0;
        OperatorNorm = Math.Sqrt(dNorm * dNorm + _alpha * _alpha * kNorm * kNorm);
        BNorm = StencilTvLpForm.Norm2(_b);
    }

    public override int PrimalLength => _p;

    public override int DualLength => 2 * _m;

    public override double OperatorNorm { get; }

    public override double BNorm { get; }

    public override double CNorm => Math.Sqrt(_m);

    public override double InitialPrimalWeight => BNorm > 0 ? CNorm / (_alpha * BNorm) : 1.0;

    public override ReadOnlySpan<double> PrimalScale(bool enabled, double eta)
    {
        // Column sums of |A| are not available for an operator K; only the block scaling α is used here.
        return ReadOnlySpan<double>.Empty;
    }

    public override PrimalDualStepStats Step(
        ReadOnlySpan<double> x, ReadOnlySpan<double> y, Span<double> xOut, Span<double> yOut, double tau, double sigma,
        ReadOnlySpan<double> primalScale, Span<double> xSum, Span<double> ySum, double averageWeight, bool wantStats)
    {
        var u = y[.._m];
        var vt = y[_m..];
        // x⁺ = x − τ(Dᵀu + αKᵀṽ)
        PrimalDualTvStep.ApplyDTranspose(_rows, _cols, u, _tp);
        _k.ApplyTranspose(vt, _tp2);
        double dxx = 0;
        for (int j = 0; j < _p; j++)
        {
            double xn = x[j] - tau * (_tp[j] + _alpha * _tp2[j]);
            xOut[j] = xn;
            _xbar[j] = 2 * xn - x[j];
            _dx[j] = xn - x[j];
            dxx += _dx[j] * _dx[j];
            if (!xSum.IsEmpty) xSum[j] += averageWeight * xn;
        }
        // u⁺ = clamp(u + σ D x̄, ±1)
        PrimalDualTvStep.ApplyD(_rows, _cols, _xbar, _em);
        var uo = yOut[.._m];
        for (int e = 0; e < _m; e++) uo[e] = Math.Clamp(u[e] + sigma * _em[e], -1.0, 1.0);
        // ṽ⁺ = soft(ṽ + σα(K x̄ − b), σαL)
        _k.Apply(_xbar, _em);
        var vo = yOut[_m..];
        double t = sigma * _alpha * _bound;
        for (int e = 0; e < _m; e++)
        {
            double w = vt[e] + sigma * _alpha * (_em[e] - _b[e]);
            vo[e] = w > t ? w - t : (w < -t ? w + t : 0.0);
        }
        if (!ySum.IsEmpty)
            for (int i = 0; i < 2 * _m; i++) ySum[i] += averageWeight * yOut[i];

        if (!wantStats) return new PrimalDualStepStats { PrimalMoveSquared = dxx };
        double dyy = 0, inter = 0;
        PrimalDualTvStep.ApplyD(_rows, _cols, _dx, _em);
        _k.Apply(_dx, _em2);
        for (int e = 0; e < _m; e++)
        {
            double du = uo[e] - u[e], dv = vo[e] - vt[e];
            dyy += du * du + dv * dv;
            inter += du * _em[e] + dv * _alpha * _em2[e];
        }
        return new PrimalDualStepStats { PrimalMoveSquared = dxx, DualMoveSquared = dyy, Interaction = inter };
    }

    public override KktPoint Evaluate(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        var u = y[.._m];
        var vt = y[_m..];
        PrimalDualTvStep.ApplyD(_rows, _cols, x, _em);
        double primal = 0;
        for (int e = 0; e < _m; e++) primal += Math.Abs(_em[e]);
        _k.Apply(x, _em);
        double viol2 = 0, dual = 0;
        for (int e = 0; e < _m; e++)
        {
            double over = Math.Abs(_b[e] - _em[e]) - _bound;
            if (over > 0) viol2 += over * over;
            double v = _alpha * vt[e];
            dual -= v * _b[e] + _bound * Math.Abs(v);
        }
        PrimalDualTvStep.ApplyDTranspose(_rows, _cols, u, _tp);
        _k.ApplyTranspose(vt, _tp2);
        double rd2 = 0;
        for (int j = 0; j < _p; j++)
        {
            double r = _tp[j] + _alpha * _tp2[j];
            rd2 += r * r;
        }
        return new KktPoint(primal, dual, Math.Sqrt(viol2), Math.Sqrt(rd2));
    }

    public override void SplitDual(ReadOnlySpan<double> y, Span<double> u, Span<double> v)
    {
        y[.._m].CopyTo(u);
        for (int e = 0; e < _m; e++) v[e] = _alpha * y[_m + e];
    }

    public override void JoinDual(ReadOnlySpan<double> u, ReadOnlySpan<double> v, Span<double> y)
    {
        for (int e = 0; e < _m; e++)
        {
            y[e] = Math.Clamp(u[e], -1.0, 1.0);
            y[_m + e] = v[e] / _alpha;
        }
    }

    /// <summary>‖K‖₂ by 60 power iterations on KᵀK from a fixed pseudo-random start, times 1.05.</summary>
    private static double EstimateNorm(ITvConstraintOperator k, int p, int m)
    {
        var x = new double[p];
        var kx = new double[m];
        var rng = new Random(12345);
        for (int j = 0; j < p; j++) x[j] = rng.NextDouble() - 0.5;
        double lambda = 0;
        for (int it = 0; it < 60; it++)
        {
            double n = StencilTvLpForm.Norm2(x);
            if (n == 0) return 0;
            for (int j = 0; j < p; j++) x[j] /= n;
            k.Apply(x, kx);
            k.ApplyTranspose(kx, x);
            lambda = StencilTvLpForm.Norm2(x);
        }
        return 1.05 * Math.Sqrt(lambda);
    }
}
