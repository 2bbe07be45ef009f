namespace Saliency.Solvers.Lp;

/// <summary>
/// The PDHG outer loop shared by both LP forms: steps (constant or PDLP-adaptive), periodic KKT checks,
/// adaptive restarts (to the current point or the running average), primal weight updates and termination.
/// </summary>
/// <remarks>
/// Follows PDLP (Applegate et al. 2021) and cuPDLP: τ = η/ω, σ = ηω; a check every
/// <see cref="TvLpOptions.CheckInterval"/> steps evaluates the KKT error
/// <c>√(‖r_p‖² + ‖r_d‖² + (p − d)²)</c> and (Halpern, by default) cuPDLPx's fixed-point residual ‖z − T(z)‖_P;
/// restart when the restart measure fell below 0.2× its value at the last restart
/// (sufficient), below 0.8× and rose since the previous check (necessary), or when the current restart
/// period exceeds 0.36× of all iterations (artificial). At a restart ω ← exp(½ log(‖Δy‖/‖Δx‖) + ½ log ω).
/// Two schemes: the default reflected Halpern iteration (cuPDLPx; restart candidate = the PDHG output T(z)), and
/// PDLP's running averages (restart candidate = the average or the current point, whichever has the lower KKT
/// error; the only scheme that supports the adaptive step size). Measured trade-offs: bench/Saliency.Bench/Lp/README.md.
/// </remarks>
internal sealed class PdhgDriver
{
    private const double SufficientDecay = 0.2, NecessaryDecay = 0.8, ArtificialFraction = 0.36, WeightSmoothing = 0.5;

    private readonly PdhgForm _form;
    private readonly TvLpOptions _options;

    public PdhgDriver(PdhgForm form, TvLpOptions options)
    {
        _form = form;
        _options = options;
    }

    public sealed record Result(double[] X, double[] Y, KktPoint Kkt, TvLpStatus Status, int Iterations, int Restarts, double PrimalWeight);

    public Result Run(double[] x, double[] y, double primalWeight) =>
        _options.HalpernReflection && !_options.AdaptiveStepSize ? RunHalpern(x, y, primalWeight) : RunAveraged(x, y, primalWeight);

    /// <summary>
    /// Reflected Halpern iteration with adaptive restarts at the PDHG output (cuPDLPx's scheme). With
    /// <see cref="TvLpOptions.SinglePrecisionIterations"/> (and a form that has a float step) it iterates in float and
    /// switches to double once float stops making progress; every check, restart decision and returned point is
    /// evaluated in double.
    /// </summary>
    private Result RunHalpern(double[] x, double[] y, double primalWeight)
    {
        var opt = _options;
        double eps = opt.RelativeTolerance;
        double omega = primalWeight > 0 && double.IsFinite(primalWeight) ? primalWeight : _form.InitialPrimalWeight;
        double eta = 0.998 / _form.OperatorNorm;
        var scale = _form.PrimalScale(opt.DiagonalPreconditioning, eta).ToArray();

        var kkt = _form.Evaluate(x, y);
        if (Converged(kkt, eps)) return new Result(x, y, kkt, TvLpStatus.Optimal, 0, 0, omega);
        bool single = opt.SinglePrecisionIterations && scale.Length == 0 && _form.SupportsSingle;
        HalpernState state = single ? new SingleState(_form, x, y) : new DoubleState(_form, x, y, scale);
        // Restart reference: the KKT error, or (cuPDLPx) the fixed-point residual ‖z − T(z)‖_P, first known at the
        // first check (which is always an artificial restart).
        double atRestart = opt.FixedPointRestarts ? double.PositiveInfinity : kkt.Error, previous = double.PositiveInfinity;
        double bestQuality = double.PositiveInfinity;
        int iterations = 0, sinceRestart = 0, restarts = 0, stalledChecks = 0, checks = 0;
        var yProjected = opt.DualProjection ? new double[_form.DualLength] : [];
        double[] xT = x, yT = y;
        while (iterations < opt.MaxIterations)
        {
            opt.CancellationToken.ThrowIfCancellationRequested();
            int window = Math.Min(opt.CheckInterval, opt.MaxIterations - iterations);
            double tau = eta / omega, sigma = eta * omega;
            var stats = default(Saliency.Kernels.Ops.PrimalDual.PrimalDualStepStats);
            for (int k = 0; k < window; k++)
            {
                iterations++;
                sinceRestart++;
                double a = sinceRestart / (sinceRestart + 1.0);
                // Fused step + reflection except before a check, which needs T(z) itself (and the move statistics).
                if (k < window - 1) { state.HalpernStep(a, tau, sigma); continue; }
                stats = state.StepToT(tau, sigma, wantStats: opt.FixedPointRestarts);
            }
            (xT, yT) = state.ExportT();
            kkt = _form.Evaluate(xT, yT);
            if (!kkt.IsFinite) return new Result(xT, yT, kkt, TvLpStatus.NumericalError, iterations, restarts, omega);
            if (Converged(kkt, eps)) return new Result(xT, yT, kkt, TvLpStatus.Optimal, iterations, restarts, omega);
            // Dual polish: project y onto {Dᵀy = 0} when only the dual residual is left (every 4th check: one DCT pair
            // costs a few tens of steps at 224²).
            if (opt.DualProjection && PrimalAndGapConverged(kkt, eps) && checks++ % DualProjectionEvery == 0
                && _form.TryProjectDual(yT, yProjected))
            {
                var projected = _form.Evaluate(xT, yProjected);
                if (Converged(projected, eps))
                    return new Result(xT, (double[])yProjected.Clone(), projected, TvLpStatus.Optimal, iterations, restarts, omega);
            }

            bool toDouble = false;
            if (state is SingleState)
            {
                // Float's floor: no new best (by 30 %) for SingleStallChecks checks within 100× of the tolerance, or for
                // 4× as many anywhere (a tolerance below float's reach). An early switch only costs speed.
                double quality = Quality(kkt, eps);
                if (quality < 0.7 * bestQuality) { bestQuality = quality; stalledChecks = 0; }
                else if (++stalledChecks >= (quality < 100 ? SingleStallChecks : 4 * SingleStallChecks)) toDouble = true;
            }
            double e = opt.FixedPointRestarts ? FixedPointResidual(stats, tau, sigma) : kkt.Error;
            bool restart = toDouble || (opt.AdaptiveRestarts && (e <= SufficientDecay * atRestart
                || (e <= NecessaryDecay * atRestart && e > previous)
                || sinceRestart >= ArtificialFraction * iterations));
            previous = e;
            if (!restart)
            {
                state.Reflect(sinceRestart / (sinceRestart + 1.0));
                continue;
            }
            // Restart: z, the anchor z₀ and the last restart point all become T(z); ω moves toward ‖Δy‖/‖Δx‖.
            var (dx, dy) = state.RestartAtT();
            if (opt.PrimalWeightUpdates) omega = UpdatedPrimalWeight(omega, dx, dy);
            if (toDouble) state = new DoubleState(_form, xT, yT, scale);
            atRestart = e;
            previous = double.PositiveInfinity;
            sinceRestart = 0;
            restarts++;
        }
        return new Result(xT, yT, kkt, TvLpStatus.IterationLimit, iterations, restarts, omega);
    }

    /// <summary>Checks that dual projection waits between attempts, and float's stall limit (checks without progress).</summary>
    private const int DualProjectionEvery = 4, SingleStallChecks = 8;

    /// <summary>‖z − T(z)‖_P in the PDHG metric <c>P = [I/τ, −Dᵀ; −D, I/σ]</c> (cuPDLPx's restart measure):
    /// ‖Δx‖²/τ + ‖Δy‖²/σ − 2⟨Δy, DΔx⟩, from the statistics of the step that produced T(z).</summary>
    private static double FixedPointResidual(in Saliency.Kernels.Ops.PrimalDual.PrimalDualStepStats s, double tau, double sigma) =>
        Math.Sqrt(Math.Max(0, s.PrimalMoveSquared / tau + s.DualMoveSquared / sigma - 2 * s.Interaction));

    /// <summary>The largest of the three relative termination measures divided by ε (≤ 1: converged).</summary>
    private double Quality(KktPoint k, double eps) => Math.Max(
        k.PrimalResidual / (eps * (1 + _form.BNorm)),
        Math.Max(k.DualResidual / (eps * (1 + _form.CNorm)),
            Math.Abs(k.Primal - k.Dual) / (eps * (1 + Math.Abs(k.Primal) + Math.Abs(k.Dual)))));

    private bool PrimalAndGapConverged(KktPoint k, double eps) =>
        k.PrimalResidual <= eps * (1 + _form.BNorm)
        && Math.Abs(k.Primal - k.Dual) <= eps * (1 + Math.Abs(k.Primal) + Math.Abs(k.Dual));

    /// <summary>The Halpern iterate z = (x, y), its anchor z₀, the PDHG output T(z) and the last restart point, in one
    /// precision.</summary>
    private abstract class HalpernState
    {
        /// <summary>z ← a·(2T(z) − z) + (1 − a)·z₀.</summary>
        public abstract void HalpernStep(double a, double tau, double sigma);

        /// <summary>T ← T(z), z unchanged.</summary>
        public abstract Saliency.Kernels.Ops.PrimalDual.PrimalDualStepStats StepToT(double tau, double sigma, bool wantStats);

        /// <summary>z ← a·(2T − z) + (1 − a)·z₀ from the stored T.</summary>
        public abstract void Reflect(double a);

        /// <summary>T in double (the state's own buffers for double; a converted copy, reused, for float).</summary>
        public abstract (double[] X, double[] Y) ExportT();

        /// <summary>z, z₀ and the last restart point ← T; returns ‖Δx‖, ‖Δy‖ since the previous restart.</summary>
        public abstract (double Dx, double Dy) RestartAtT();
    }

    private sealed class DoubleState : HalpernState
    {
        private readonly PdhgForm _form;
        private readonly double[] _x, _y, _x0, _y0, _xT, _yT, _xLast, _yLast, _scale;

        public DoubleState(PdhgForm form, double[] x, double[] y, double[] scale)
        {
            _form = form;
            _scale = scale;
            _x = (double[])x.Clone();
            _y = (double[])y.Clone();
            _x0 = (double[])x.Clone();
            _y0 = (double[])y.Clone();
            _xLast = (double[])x.Clone();
            _yLast = (double[])y.Clone();
            _xT = new double[x.Length];
            _yT = new double[y.Length];
        }

        public override void HalpernStep(double a, double tau, double sigma)
        {
            if (_form.TryHalpernStep(_x, _y, _x0, _y0, a, tau, sigma, _scale)) return;
            _form.Step(_x, _y, _xT, _yT, tau, sigma, _scale, [], [], 0, false);
            Reflect(a);
        }

        public override Saliency.Kernels.Ops.PrimalDual.PrimalDualStepStats StepToT(double tau, double sigma, bool wantStats) =>
            _form.Step(_x, _y, _xT, _yT, tau, sigma, _scale, [], [], 0, wantStats);

        public override void Reflect(double a)
        {
            PdhgDriver.Reflect(_x, _xT, _x0, a);
            PdhgDriver.Reflect(_y, _yT, _y0, a);
        }

        public override (double[] X, double[] Y) ExportT() => (_xT, _yT);

        public override (double Dx, double Dy) RestartAtT()
        {
            double dx = Distance(_xT, _xLast), dy = Distance(_yT, _yLast);
            foreach (var target in new[] { _x, _x0, _xLast }) _xT.CopyTo(target, 0);
            foreach (var target in new[] { _y, _y0, _yLast }) _yT.CopyTo(target, 0);
            return (dx, dy);
        }
    }

    private sealed class SingleState : HalpernState
    {
        private readonly PdhgForm _form;
        private readonly float[] _x, _y, _x0, _y0, _xT, _yT, _xLast, _yLast;
        private readonly double[] _xd, _yd;

        public SingleState(PdhgForm form, double[] x, double[] y)
        {
            _form = form;
            _x = ToSingle(x);
            _y = ToSingle(y);
            _x0 = (float[])_x.Clone();
            _y0 = (float[])_y.Clone();
            _xLast = (float[])_x.Clone();
            _yLast = (float[])_y.Clone();
            _xT = new float[x.Length];
            _yT = new float[y.Length];
            _xd = new double[x.Length];
            _yd = new double[y.Length];
        }

        private static float[] ToSingle(double[] a)
        {
            var r = new float[a.Length];
            System.Numerics.Tensors.TensorPrimitives.ConvertTruncating<double, float>(a, r);
            return r;
        }

        public override void HalpernStep(double a, double tau, double sigma) =>
            _form.HalpernStepSingle(_x, _y, _x0, _y0, a, tau, sigma);

        public override Saliency.Kernels.Ops.PrimalDual.PrimalDualStepStats StepToT(double tau, double sigma, bool wantStats) =>
            _form.StepSingle(_x, _y, _xT, _yT, tau, sigma, wantStats);

        public override void Reflect(double a)
        {
            ReflectSingle(_x, _xT, _x0, (float)a);
            ReflectSingle(_y, _yT, _y0, (float)a);
        }

        public override (double[] X, double[] Y) ExportT()
        {
            System.Numerics.Tensors.TensorPrimitives.ConvertChecked<float, double>(_xT, _xd);
            System.Numerics.Tensors.TensorPrimitives.ConvertChecked<float, double>(_yT, _yd);
            return (_xd, _yd);
        }

        public override (double Dx, double Dy) RestartAtT()
        {
            double dx = DistanceSingle(_xT, _xLast), dy = DistanceSingle(_yT, _yLast);
            foreach (var target in new[] { _x, _x0, _xLast }) _xT.CopyTo(target, 0);
            foreach (var target in new[] { _y, _y0, _yLast }) _yT.CopyTo(target, 0);
            return (dx, dy);
        }

        private static void ReflectSingle(float[] z, float[] t, float[] anchor, float a)
        {
            for (int i = 0; i < z.Length; i++) z[i] = a * (2 * t[i] - z[i]) + (1 - a) * anchor[i];
        }

        private static double DistanceSingle(float[] a, float[] b)
        {
            double s = 0;
            for (int i = 0; i < a.Length; i++)
            {
                double d = (double)a[i] - b[i];
                s += d * d;
            }
            return Math.Sqrt(s);
        }
    }

    /// <summary>z ← a·(2T − z) + (1 − a)·z₀, vectorised.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static void Reflect(double[] z, double[] t, double[] anchor, double a)
    {
        var va = new System.Numerics.Vector<double>(a);
        var vb = new System.Numerics.Vector<double>(1 - a);
        var two = new System.Numerics.Vector<double>(2.0);
        int w = System.Numerics.Vector<double>.Count, i = 0;
        var zs = z.AsSpan();
        for (; i + w <= z.Length; i += w)
        {
            var vz = new System.Numerics.Vector<double>(zs[i..]);
            var vt = new System.Numerics.Vector<double>(t.AsSpan(i));
            var v0 = new System.Numerics.Vector<double>(anchor.AsSpan(i));
            (va * (two * vt - vz) + vb * v0).CopyTo(zs[i..]);
        }
        for (; i < z.Length; i++) z[i] = a * (2 * t[i] - z[i]) + (1 - a) * anchor[i];
    }

    private Result RunAveraged(double[] x, double[] y, double primalWeight)
    {
        int n = _form.PrimalLength, m = _form.DualLength;
        var opt = _options;
        double eps = opt.RelativeTolerance;
        var xNew = new double[n];
        var yNew = new double[m];
        var xLast = (double[])x.Clone();
        var yLast = (double[])y.Clone();
        double[] xSum = opt.RestartToAverage ? new double[n] : [];
        double[] ySum = opt.RestartToAverage ? new double[m] : [];
        double[] xAvg = opt.RestartToAverage ? new double[n] : [];
        double[] yAvg = opt.RestartToAverage ? new double[m] : [];
        double sumWeight = 0;

        double omega = primalWeight > 0 && double.IsFinite(primalWeight) ? primalWeight : _form.InitialPrimalWeight;
        double eta = 0.998 / _form.OperatorNorm;
        var scale = _form.PrimalScale(opt.DiagonalPreconditioning, eta).ToArray();

        var kkt = _form.Evaluate(x, y);
        if (Converged(kkt, eps)) return new Result(x, y, kkt, TvLpStatus.Optimal, 0, 0, omega);
        double kktAtRestart = kkt.Error, kktPreviousCandidate = double.PositiveInfinity;
        int iterations = 0, sinceRestart = 0, restarts = 0, stepAttempts = 0;

        while (iterations < opt.MaxIterations)
        {
            opt.CancellationToken.ThrowIfCancellationRequested();
            int window = Math.Min(opt.CheckInterval, opt.MaxIterations - iterations);
            for (int k = 0; k < window; k++)
            {
                if (opt.AdaptiveStepSize)
                {
                    // PDLP's adaptive rule: accept when η ≤ limit = ‖Δz‖²_ω / (2|⟨Δy, AΔx⟩|).
                    while (true)
                    {
                        stepAttempts++;
                        var s = _form.Step(x, y, xNew, yNew, eta / omega, eta * omega, scale, [], [], 0, true);
                        double limit = (omega * s.PrimalMoveSquared + s.DualMoveSquared / omega) / (2 * Math.Abs(s.Interaction));
                        if (double.IsNaN(limit)) limit = double.PositiveInfinity;
                        double next = Math.Min((1 - Math.Pow(stepAttempts + 1, -0.3)) * limit, (1 + Math.Pow(stepAttempts + 1, -0.6)) * eta);
                        bool accept = eta <= limit;
                        double used = eta;
                        eta = next;
                        if (accept)
                        {
                            if (opt.RestartToAverage) Accumulate(xSum, xNew, ySum, yNew, used);
                            sumWeight += used;
                            break;
                        }
                    }
                }
                else
                {
                    _form.Step(x, y, xNew, yNew, eta / omega, eta * omega, scale, xSum, ySum, eta, false);
                    sumWeight += eta;
                }
                (x, xNew) = (xNew, x);
                (y, yNew) = (yNew, y);
                iterations++;
                sinceRestart++;
            }

            kkt = _form.Evaluate(x, y);
            if (!kkt.IsFinite) return new Result(x, y, kkt, TvLpStatus.NumericalError, iterations, restarts, omega);
            if (Converged(kkt, eps)) return new Result(x, y, kkt, TvLpStatus.Optimal, iterations, restarts, omega);

            var candidate = kkt;
            bool averageIsCandidate = false;
            if (opt.RestartToAverage && sumWeight > 0)
            {
                for (int j = 0; j < n; j++) xAvg[j] = xSum[j] / sumWeight;
                for (int i = 0; i < m; i++) yAvg[i] = ySum[i] / sumWeight;
                var avg = _form.Evaluate(xAvg, yAvg);
                if (avg.IsFinite && Converged(avg, eps))
                    return new Result(xAvg, yAvg, avg, TvLpStatus.Optimal, iterations, restarts, omega);
                if (avg.IsFinite && avg.Error < kkt.Error) { candidate = avg; averageIsCandidate = true; }
            }

            if (!opt.AdaptiveRestarts) continue;
            double e = candidate.Error;
            bool restart = e <= SufficientDecay * kktAtRestart
                || (e <= NecessaryDecay * kktAtRestart && e > kktPreviousCandidate)
                || sinceRestart >= ArtificialFraction * iterations;
            kktPreviousCandidate = e;
            if (!restart) continue;

            if (averageIsCandidate)
            {
                xAvg.CopyTo(x, 0);
                yAvg.CopyTo(y, 0);
            }
            if (opt.PrimalWeightUpdates) omega = UpdatedPrimalWeight(omega, x, xLast, y, yLast);
            x.CopyTo(xLast, 0);
            y.CopyTo(yLast, 0);
            kktAtRestart = e;
            kktPreviousCandidate = double.PositiveInfinity;
            sinceRestart = 0;
            restarts++;
            if (opt.RestartToAverage)
            {
                Array.Clear(xSum);
                Array.Clear(ySum);
            }
            sumWeight = 0;
        }
        return new Result(x, y, kkt, TvLpStatus.IterationLimit, iterations, restarts, omega);
    }

    private bool Converged(KktPoint k, double eps) =>
        k.IsFinite
        && k.PrimalResidual <= eps * (1 + _form.BNorm)
        && k.DualResidual <= eps * (1 + _form.CNorm)
        && Math.Abs(k.Primal - k.Dual) <= eps * (1 + Math.Abs(k.Primal) + Math.Abs(k.Dual));

    private static void Accumulate(double[] xSum, double[] x, double[] ySum, double[] y, double w)
    {
        for (int j = 0; j < x.Length; j++) xSum[j] += w * x[j];
        for (int i = 0; i < y.Length; i++) ySum[i] += w * y[i];
    }

    /// <summary>
    /// PDLP's primal weight update at a restart: ω moves geometrically toward ‖Δy‖/‖Δx‖ (the movement since the last
    /// restart), smoothed with weight <see cref="WeightSmoothing"/>; unchanged when either iterate barely moved.
    /// </summary>
    private static double UpdatedPrimalWeight(double omega, double[] x, double[] xLast, double[] y, double[] yLast) =>
        UpdatedPrimalWeight(omega, Distance(x, xLast), Distance(y, yLast));

    private static double UpdatedPrimalWeight(double omega, double dx, double dy)
    {
        if (dx <= 1e-10 || dy <= 1e-10) return omega;
        return Math.Exp(WeightSmoothing * Math.Log(dy / dx) + (1 - WeightSmoothing) * Math.Log(omega));
    }

    private static double Distance(double[] a, double[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double d = a[i] - b[i];
            s += d * d;
        }
        return Math.Sqrt(s);
    }
}
