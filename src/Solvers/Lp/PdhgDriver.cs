namespace Saliency.Solvers.Lp;

/// <summary>
/// The PDHG outer loop shared by both LP forms: steps (constant or PDLP-adaptive), periodic KKT checks,
/// adaptive restarts (to the current point or the running average), primal weight updates and termination.
/// </summary>
/// <remarks>
/// Follows PDLP (Applegate et al. 2021) and cuPDLP: τ = η/ω, σ = ηω; a check every
/// <see cref="TvLpOptions.CheckInterval"/> steps evaluates the KKT error
/// <c>√(‖r_p‖² + ‖r_d‖² + (p − d)²)</c>; restart when it fell below 0.2× its value at the last restart
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

    /// <summary>Reflected Halpern iteration with KKT-based restarts at the PDHG output (cuPDLPx's scheme).</summary>
    private Result RunHalpern(double[] x, double[] y, double primalWeight)
    {
        int n = _form.PrimalLength, m = _form.DualLength;
        var opt = _options;
        double eps = opt.RelativeTolerance;
        var xT = new double[n];
        var yT = new double[m];
        var x0 = (double[])x.Clone();
        var y0 = (double[])y.Clone();
        var xLast = (double[])x.Clone();
        var yLast = (double[])y.Clone();
        double omega = primalWeight > 0 && double.IsFinite(primalWeight) ? primalWeight : _form.InitialPrimalWeight;
        double eta = 0.998 / _form.OperatorNorm;
        var scale = _form.PrimalScale(opt.DiagonalPreconditioning, eta).ToArray();

        var kkt = _form.Evaluate(x, y);
        if (Converged(kkt, eps)) return new Result(x, y, kkt, TvLpStatus.Optimal, 0, 0, omega);
        double kktAtRestart = kkt.Error, kktPreviousCandidate = double.PositiveInfinity;
        int iterations = 0, sinceRestart = 0, restarts = 0;
        while (iterations < opt.MaxIterations)
        {
            opt.CancellationToken.ThrowIfCancellationRequested();
            int window = Math.Min(opt.CheckInterval, opt.MaxIterations - iterations);
            for (int k = 0; k < window; k++)
            {
                iterations++;
                sinceRestart++;
                double a = sinceRestart / (sinceRestart + 1.0);
                // Fused step + reflection (one sweep) except before a check, which needs T(z) itself.
                if (k < window - 1 && _form.TryHalpernStep(x, y, x0, y0, a, eta / omega, eta * omega, scale)) continue;
                _form.Step(x, y, xT, yT, eta / omega, eta * omega, scale, [], [], 0, false);
                if (k == window - 1) break;   // keep T(z) for the check below
                Reflect(x, xT, x0, a);
                Reflect(y, yT, y0, a);
            }
            kkt = _form.Evaluate(xT, yT);
            if (!kkt.IsFinite) return new Result(xT, yT, kkt, TvLpStatus.NumericalError, iterations, restarts, omega);
            if (Converged(kkt, eps)) return new Result(xT, yT, kkt, TvLpStatus.Optimal, iterations, restarts, omega);
            double e = kkt.Error;
            bool restart = opt.AdaptiveRestarts && (e <= SufficientDecay * kktAtRestart
                || (e <= NecessaryDecay * kktAtRestart && e > kktPreviousCandidate)
                || sinceRestart >= ArtificialFraction * iterations);
            kktPreviousCandidate = e;
            if (!restart)
            {
                double a = sinceRestart / (sinceRestart + 1.0);
                Reflect(x, xT, x0, a);
                Reflect(y, yT, y0, a);
                continue;
            }
            xT.CopyTo(x, 0);
            yT.CopyTo(y, 0);
            if (opt.PrimalWeightUpdates) omega = UpdatedPrimalWeight(omega, x, xLast, y, yLast);
            x.CopyTo(xLast, 0);
            y.CopyTo(yLast, 0);
            x.CopyTo(x0, 0);
            y.CopyTo(y0, 0);
            kktAtRestart = e;
            kktPreviousCandidate = double.PositiveInfinity;
            sinceRestart = 0;
            restarts++;
        }
        return new Result(xT, yT, kkt, TvLpStatus.IterationLimit, iterations, restarts, omega);
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
    private static double UpdatedPrimalWeight(double omega, double[] x, double[] xLast, double[] y, double[] yLast)
    {
        double dx = Distance(x, xLast), dy = Distance(y, yLast);
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
