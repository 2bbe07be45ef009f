using Saliency.Kernels.Backends;
using Saliency.Kernels.Ops.PrimalDual;

namespace Saliency.Solvers.Lp;

/// <summary>
/// Solves a batch of paper's-covariance LEG-TV LPs on one grid (e.g. 3 colour channels × images × L values) in
/// lockstep on a compute backend: every PDHG step is one kernel launch for the whole batch on CUDA
/// (<see cref="PrimalDualTvBatch"/>), and the restart/termination logic of <see cref="TvLpSolver"/> runs on the
/// host every <see cref="TvLpDeviceBatchOptions.CheckInterval"/> steps from per-LP sums that the device reduces.
/// </summary>
/// <remarks>
/// Runs PDLP's averaged restart scheme (Applegate et al. 2021) with constant steps (η = 0.998/‖D‖): restarts to the
/// average or the current point, and primal weight updates. It takes its own <see cref="TvLpDeviceBatchOptions"/>, not
/// <see cref="TvLpOptions"/>: the host's default reflected Halpern scheme and its adaptive steps (a host decision per
/// step) have no device kernel.
/// Finished LPs are frozen (skipped by the kernels) while the others continue. Certificates are computed on the
/// host from the downloaded vectors, exactly as for <see cref="TvLpSolver"/>.
/// <para><b>Host traffic.</b> A PDHG step is one queued kernel (<see cref="PrimalDualTvBatch.Step"/>) and reads nothing
/// back; the iterates stay on the device for the whole solve. Every <see cref="TvLpDeviceBatchOptions.CheckInterval"/> steps the
/// check reads the KKT sums (B·4 doubles, plus B·4 for the running average when restarting to it) and, when some LP
/// restarts, the restart distances (2B doubles); per-LP parameters go up only when a status or primal weight changed.
/// The final x and y are downloaded once.</para>
/// </remarks>
public static class TvLpDeviceBatchSolver
{
    private const double SufficientDecay = 0.2, NecessaryDecay = 0.8, ArtificialFraction = 0.36;

    /// <summary>Solves <paramref name="problems"/> (same grid, paper's covariance) on <paramref name="backend"/>.</summary>
    /// <exception cref="ArgumentException">Empty batch, mixed grids or an operator-form problem.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An invalid setting in <paramref name="options"/>.</exception>
    public static TvLpSolution[] Solve(IComputeBackend backend, IReadOnlyList<TvLpProblem> problems, TvLpDeviceBatchOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(problems);
        options ??= new TvLpDeviceBatchOptions();
        options.Validate();
        if (problems.Count == 0) throw new ArgumentException("The batch is empty.", nameof(problems));
        var shape = problems[0]?.Shape ?? throw new ArgumentNullException(nameof(problems));
        foreach (var pr in problems)
        {
            ArgumentNullException.ThrowIfNull(pr, nameof(problems));
            if (pr.Shape != shape) throw new ArgumentException($"All LPs of a device batch need one grid; got {shape} and {pr.Shape}.", nameof(problems));
            if (!pr.IsStencilForm) throw new ArgumentException("The device batch solver handles the paper's covariance (stencil form) only.", nameof(problems));
        }

        int batch = problems.Count, rows = shape.Rows, cols = shape.Cols, p = shape.Count, m = shape.DifferenceCount;
        bool avg = options.RestartToAverage;
        double eta = 0.998 / Math.Sqrt(PrimalDualTvStep.OperatorNormSquared(rows, cols));
        var bNorm = problems.Select(pr => StencilTvLpForm.Norm2(pr.B)).ToArray();
        double cNorm = Math.Sqrt(m);
        var omega = problems.Select((pr, k) => bNorm[k] > 0 ? cNorm * pr.NoiseVariance / bNorm[k] : 1.0).ToArray();

        var hostB = new double[batch * m];
        for (int k = 0; k < batch; k++) problems[k].B.CopyTo(hostB, k * m);

        var buffers = new List<IDisposable>();
        DeviceBuffer<T> Alloc<T>(int n) where T : unmanaged { var d = backend.Allocate<T>(n); buffers.Add(d); return d; }
        try
        {
            var x = Alloc<double>(batch * p); var xo = Alloc<double>(batch * p);
            var y = Alloc<double>(batch * m); var yo = Alloc<double>(batch * m);
            var xLast = Alloc<double>(batch * p); var yLast = Alloc<double>(batch * m);
            var b = Alloc<double>(batch * m);
            var xs = avg ? Alloc<double>(batch * p) : null;
            var ys = avg ? Alloc<double>(batch * m) : null;
            var par = Alloc<double>(batch * PrimalDualTvBatch.ParameterCount);
            var ones = Alloc<double>(batch);
            var avgScale = Alloc<double>(batch);
            var eval = Alloc<double>(batch * PrimalDualTvBatch.EvaluationCount);
            var mode = Alloc<int>(batch);
            var dist = Alloc<double>(2 * batch);
            DeviceBuffer<double>? scale = null;
            if (options.DiagonalPreconditioning)
            {
                scale = Alloc<double>(p);
                var host = new double[p];
                for (int r = 0; r < rows; r++)
                    for (int c = 0; c < cols; c++)
                    {
                        int deg = (r > 0 ? 1 : 0) + (r < rows - 1 ? 1 : 0) + (c > 0 ? 1 : 0) + (c < cols - 1 ? 1 : 0);
                        host[r * cols + c] = 0.998 / (2 * deg * eta * eta);
                    }
                backend.Upload<double>(host, scale);
            }
            backend.Upload<double>(hostB, b);
            backend.Upload<double>(Enumerable.Repeat(1.0, batch).ToArray(), ones);

            var hostPar = new double[batch * PrimalDualTvBatch.ParameterCount];
            var status = new TvLpStatus?[batch];
            var iterations = new int[batch];
            var sinceRestart = new int[batch];
            var restarts = new int[batch];
            var sumWeight = new double[batch];
            var kktAtRestart = new double[batch];
            var kktPrevious = Enumerable.Repeat(double.PositiveInfinity, batch).ToArray();
            var hostEval = new double[batch * PrimalDualTvBatch.EvaluationCount];
            var hostAvgEval = new double[batch * PrimalDualTvBatch.EvaluationCount];
            var hostMode = new int[batch];
            var hostScale = new double[batch];
            var hostDist = new double[2 * batch];
            // Steps done when each LP was frozen. A frozen LP is skipped by Step, so its iterate stays in the buffer it
            // was in while x/xo swap every step: after an odd number of further steps it lies in xo/yo.
            var frozenAt = Enumerable.Repeat(-1, batch).ToArray();
            int done = 0;
            void MarkFrozen()
            {
                for (int k = 0; k < batch; k++)
                    if (status[k] is not null && frozenAt[k] < 0) frozenAt[k] = done;
            }

            double[]? uploaded = null;
            void UploadParameters()
            {
                for (int k = 0; k < batch; k++)
                {
                    int o = k * PrimalDualTvBatch.ParameterCount;
                    hostPar[o + PrimalDualTvBatch.Tau] = eta / omega[k];
                    hostPar[o + PrimalDualTvBatch.Sigma] = eta * omega[k];
                    hostPar[o + PrimalDualTvBatch.Bound] = problems[k].Bound;
                    hostPar[o + PrimalDualTvBatch.InverseVariance] = 1.0 / problems[k].NoiseVariance;
                    hostPar[o + PrimalDualTvBatch.AverageWeight] = eta;
                    hostPar[o + PrimalDualTvBatch.Active] = status[k] is null ? 1 : 0;
                }
                // Only when a status or a primal weight changed since the last upload.
                if (uploaded is not null && hostPar.AsSpan().SequenceEqual(uploaded)) return;
                backend.Upload<double>(hostPar, par);
                uploaded = (double[])hostPar.Clone();
            }

            KktPoint Kkt(double[] e, int k)
            {
                int o = k * PrimalDualTvBatch.EvaluationCount;
                return new KktPoint(e[o], e[o + 2], Math.Sqrt(e[o + 1]), Math.Sqrt(e[o + 3]));
            }

            bool Converged(KktPoint q, int k) =>
                q.IsFinite
                && q.PrimalResidual <= options.RelativeTolerance * (1 + bNorm[k])
                && q.DualResidual <= options.RelativeTolerance * (1 + cNorm)
                && Math.Abs(q.Primal - q.Dual) <= options.RelativeTolerance * (1 + Math.Abs(q.Primal) + Math.Abs(q.Dual));

            UploadParameters();
            backend.Clear(eval);
            PrimalDualTvBatch.Evaluate(x, y, b, ones, par, eval, rows, cols);
            backend.Download<double>(eval, hostEval);
            for (int k = 0; k < batch; k++)
            {
                var q = Kkt(hostEval, k);
                kktAtRestart[k] = q.Error;
                if (Converged(q, k)) status[k] = TvLpStatus.Optimal;
            }
            MarkFrozen();

            while (status.Any(s => s is null) && done < options.MaxIterations)
            {
                options.CancellationToken.ThrowIfCancellationRequested();
                UploadParameters();
                int window = Math.Min(options.CheckInterval, options.MaxIterations - done);
                for (int s = 0; s < window; s++)
                {
                    PrimalDualTvBatch.Step(x, y, b, xo, yo, xs, ys, scale, par, rows, cols);
                    (x, xo) = (xo, x);
                    (y, yo) = (yo, y);
                }
                done += window;
                for (int k = 0; k < batch; k++)
                    if (status[k] is null) { iterations[k] += window; sinceRestart[k] += window; sumWeight[k] += window * eta; }

                backend.Clear(eval);
                PrimalDualTvBatch.Evaluate(x, y, b, ones, par, eval, rows, cols);
                backend.Download<double>(eval, hostEval);
                if (avg)
                {
                    for (int k = 0; k < batch; k++) hostScale[k] = sumWeight[k] > 0 ? 1.0 / sumWeight[k] : 0.0;
                    backend.Upload<double>(hostScale, avgScale);
                    backend.Clear(eval);
                    PrimalDualTvBatch.Evaluate(xs!, ys!, b, avgScale, par, eval, rows, cols);
                    backend.Download<double>(eval, hostAvgEval);
                }

                Array.Clear(hostMode);
                for (int k = 0; k < batch; k++)
                {
                    if (status[k] is not null) continue;
                    var cur = Kkt(hostEval, k);
                    if (!cur.IsFinite) { status[k] = TvLpStatus.NumericalError; continue; }
                    if (Converged(cur, k)) { status[k] = TvLpStatus.Optimal; continue; }
                    var cand = cur;
                    bool toAverage = false;
                    if (avg && sumWeight[k] > 0)
                    {
                        var a = Kkt(hostAvgEval, k);
                        if (a.IsFinite && Converged(a, k)) { status[k] = TvLpStatus.Optimal; hostMode[k] = 2; continue; }
                        if (a.IsFinite && a.Error < cur.Error) { cand = a; toAverage = true; }
                    }
                    if (!options.AdaptiveRestarts) continue;
                    double e = cand.Error;
                    bool restart = e <= SufficientDecay * kktAtRestart[k]
                        || (e <= NecessaryDecay * kktAtRestart[k] && e > kktPrevious[k])
                        || sinceRestart[k] >= ArtificialFraction * iterations[k];
                    kktPrevious[k] = e;
                    if (!restart) continue;
                    hostMode[k] = toAverage ? 2 : 1;
                    kktAtRestart[k] = e;
                    kktPrevious[k] = double.PositiveInfinity;
                    sinceRestart[k] = 0;
                    restarts[k]++;
                }
                MarkFrozen();
                if (hostMode.Any(v => v != 0))
                {
                    backend.Upload<int>(hostMode, mode);
                    backend.Clear(dist);
                    PrimalDualTvBatch.Restart(x, y, xs, ys, xLast, yLast, mode, avgScale, dist, rows, cols);
                    backend.Download<double>(dist, hostDist);
                    for (int k = 0; k < batch; k++)
                    {
                        if (hostMode[k] == 0) continue;
                        sumWeight[k] = 0;
                        double dx = Math.Sqrt(hostDist[2 * k]), dy = Math.Sqrt(hostDist[2 * k + 1]);
                        if (options.PrimalWeightUpdates && status[k] is null && dx > 1e-10 && dy > 1e-10)
                            omega[k] = Math.Exp(0.5 * Math.Log(dy / dx) + 0.5 * Math.Log(omega[k]));
                    }
                }
            }

            var hx = new double[batch * p];
            var hy = new double[batch * m];
            backend.Download<double>(x, hx);
            backend.Download<double>(y, hy);
            if (Enumerable.Range(0, batch).Any(k => frozenAt[k] >= 0 && (done - frozenAt[k]) % 2 == 1))
            {
                var hxo = new double[batch * p];
                var hyo = new double[batch * m];
                backend.Download<double>(xo, hxo);
                backend.Download<double>(yo, hyo);
                for (int k = 0; k < batch; k++)
                {
                    if (frozenAt[k] < 0 || (done - frozenAt[k]) % 2 == 0) continue;
                    Array.Copy(hxo, k * p, hx, k * p, p);
                    Array.Copy(hyo, k * m, hy, k * m, m);
                }
            }
            var results = new TvLpSolution[batch];
            for (int k = 0; k < batch; k++)
            {
                var pr = problems[k];
                var g = hx.AsSpan(k * p, p).ToArray();
                double shift = options.TargetMean - g.Average();
                for (int j = 0; j < p; j++) g[j] += shift;
                var u = new double[m];
                var v = new double[m];
                for (int e = 0; e < m; e++)
                {
                    double ye = hy[k * m + e];
                    v[e] = PrimalDualTvBatch.SplitDual(ye, pr.B[e], pr.Bound, pr.NoiseVariance);
                    u[e] = Math.Clamp(ye - pr.NoiseVariance * v[e], -1.0, 1.0);
                }
                var cert = TvLpSolver.Certify(pr, g, u, v);
                var st = status[k] ?? TvLpStatus.IterationLimit;
                if (st == TvLpStatus.Optimal && !cert.Within(options.RelativeTolerance * 1.0000001)) st = TvLpStatus.IterationLimit;
                results[k] = new TvLpSolution(pr, g, u, v, st, cert, iterations[k], restarts[k], omega[k], meanFixed: true);
            }
            return results;
        }
        finally
        {
            foreach (var d in buffers) d.Dispose();
        }
    }
}
