using Saliency.Kernels.Backends;
using Saliency.Kernels.Ops;

namespace Saliency.Solvers.Fista;

/// <summary>
/// FISTA (Beck &amp; Teboulle, SIAM J. Imaging Sci. 2009) for <c>minimise F(x) = f(x) + λ1‖x‖₁</c>, f a convex
/// quadratic on a compute device (<see cref="IDeviceQuadratic"/>), for several λ1 at once, with all state on the
/// device: an iteration queues one prox-gradient step, one batched product <c>Q z</c> and two extrapolations
/// (<see cref="VectorOps"/>, <see cref="IDeviceQuadratic.MultiplyCurvature"/>) and reads nothing back. Every
/// <see cref="FistaOptions.CheckInterval"/> iterations a check reads seven scalars per slice, from one fused device
/// reduction (<see cref="FistaCheckSums"/>): one read back per check window.
/// The same minimiser as <see cref="FistaSolver"/>, in float32.
/// </summary>
/// <remarks>
/// <para><b>State.</b> Per slice x, y, z and their gradients <c>Qx − b</c>, <c>Qy − b</c>, <c>Qz − b</c>, float32,
/// slice-major k×d buffers. Gradients move by linearity like the host solver's products: y⁺ = z + β(z − x) has
/// weights summing to 1, so <c>∇f(y⁺) = ∇f(z) + β(∇f(z) − ∇f(x))</c> — the only product per iteration is Qz.</para>
/// <para><b>Constant step, no per-step test.</b> The step is <c>t = 1/L</c> with L ≥ λ_max(Q) from
/// <see cref="IDeviceQuadratic.LipschitzBound"/> (CASO: 2λ2). Then Beck–Teboulle's sufficient-decrease condition
/// <c>⟨d, Qd⟩ ≤ ‖d‖²/t</c> (d = z − y) holds at every step in exact arithmetic (Q ⪯ L I), which is their constant-step
/// FISTA with its O(1/k²) bound (Theorem 4.4); this is what lets an iteration skip the host decision. The check
/// still evaluates the condition on the step it looks at (round-off guard): if it fails beyond float32 round-off,
/// the slice's step shrinks by <see cref="FistaOptions.BacktrackingDecay"/> and its momentum restarts.</para>
/// <para><b>Restart.</b> With <see cref="FistaOptions.RestartOnIncrease"/>, the function-value restart of
/// O'Donoghue &amp; Candès (2015) is taken at the checks: when F at a check exceeds F at the previous check, the
/// momentum of that slice is reset (y = z). The test is windowed, so the objective is monotone from check to check
/// rather than from step to step as in <see cref="FistaSolver"/>.</para>
/// <para><b>Stopping.</b> As <see cref="FistaSolver"/>: <c>‖z − y‖ ≤ Tolerance · ‖z‖</c>, evaluated at the checks.
/// Slices run in lockstep until every slice has converged (or the cap): a converged slice rides along (one batched
/// product costs about the same for k ≤ 16 right-hand sides — it streams W once) and its reported iteration count is
/// the check at which it first converged; its returned x is the final iterate, with the residual and F of the last check.</para>
/// <para><b>Precision.</b> The vectors are float32 (the HVP kernel's type); the reductions accumulate in double. The
/// solution agrees with the float64-vector <see cref="FistaSolver"/> to about float32 round-off times the condition
/// number of Q, plus the tolerance.</para>
/// </remarks>
public static class DeviceFistaSolver
{
    /// <summary>Solves the problem for every λ1 in <paramref name="lambda1"/> (a batch), starting from x₀ = 0.</summary>
    /// <param name="f">The smooth quadratic part, on its device.</param>
    /// <param name="lambda1">L1 weights, one slice each; finite and ≥ 0.</param>
    /// <param name="options">Tolerances and switches; defaults when null. <see cref="FistaOptions.InitialStep"/>, when
    /// given, must not exceed 1/L (the device loop relies on the Lipschitz bound).</param>
    /// <returns>One result per λ1, in the same order. <see cref="FistaResult.ObjectiveHistory"/>, when recorded, holds F at x₀ and at every check.</returns>
    /// <exception cref="ArgumentException">Empty batch, negative or non-finite λ1, non-finite b (also after rounding to float32), bad Lipschitz bound.</exception>
    /// <exception cref="ArgumentOutOfRangeException">Invalid options.</exception>
    public static FistaResult[] Solve(IDeviceQuadratic f, IReadOnlyList<double> lambda1, FistaOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(f);
        ArgumentNullException.ThrowIfNull(lambda1);
        options ??= new FistaOptions();
        options.Validate();
        var backend = f.Backend ?? throw new ArgumentException("The quadratic has no backend.", nameof(f));
        int k = lambda1.Count, d = f.Dimension;
        if (k == 0) throw new ArgumentException("The batch of λ1 values is empty.", nameof(lambda1));
        if (d <= 0) throw new ArgumentException($"The dimension {d} must be positive.", nameof(f));
        if ((long)k * d > Array.MaxLength) throw new ArgumentException($"{k} slices of {d} values do not fit one device buffer.", nameof(lambda1));
        for (int s = 0; s < k; s++)
            if (!(lambda1[s] >= 0) || !double.IsFinite(lambda1[s]) || !float.IsFinite((float)lambda1[s]))
                throw new ArgumentException($"λ1[{s}] = {lambda1[s]} must be finite (in float32) and non-negative.", nameof(lambda1));
        double lipschitz = f.LipschitzBound;
        if (!(lipschitz > 0) || !double.IsFinite(lipschitz))
            throw new ArgumentException($"The Lipschitz bound {lipschitz} must be positive and finite.", nameof(f));
        double t0 = options.InitialStep ?? 1.0 / lipschitz;
        if (t0 > 1.0 / lipschitz * (1 + 1e-12))
            throw new ArgumentOutOfRangeException(nameof(options), t0, $"The device solver's step must not exceed 1/L = {1.0 / lipschitz}.");
        var bHost = f.Linear;
        if (bHost.Length != d) throw new ArgumentException($"The linear term has {bHost.Length} entries, the dimension is {d}.", nameof(f));
        var bRep = new float[k * d];
        for (int i = 0; i < d; i++)
        {
            float v = (float)bHost[i];
            if (!float.IsFinite(v)) throw new ArgumentException($"The linear term has a non-finite entry (in float32) at {i}.", nameof(f));
            for (int s = 0; s < k; s++) bRep[s * d + i] = v;
        }

        int n = k * d;
        var owned = new List<IDisposable>(8);
        DeviceBuffer<float> Alloc() { var buf = backend.Allocate<float>(n); owned.Add(buf); return buf; }
        try
        {
            DeviceBuffer<float> x = Alloc(), gx = Alloc(), y = Alloc(), gy = Alloc(), z = Alloc(), gz = Alloc();
            DeviceBuffer<float> b = Alloc();
            backend.Upload<float>(bRep, b);

            var step = new double[k];
            var theta = new double[k];
            var objective = new double[k];
            var residual = new double[k];
            var iterations = new int[k];
            var restarts = new int[k];
            var backtracks = new int[k];
            var status = new FistaStatus?[k];
            var history = options.RecordHistory ? Enumerable.Range(0, k).Select(_ => new List<double> { 0.0 }).ToArray() : null;
            var steps = new float[k];
            var lambdas = new float[k];
            var betas = new float[k];
            var ones = new float[k];
            var minusOnes = new float[k];
            var zeros = new float[k];
            var restartNow = new bool[k];
            for (int s = 0; s < k; s++)
            {
                step[s] = t0;
                theta[s] = 1.0;
                residual[s] = double.PositiveInfinity;
                steps[s] = (float)t0;
                lambdas[s] = (float)lambda1[s];
                ones[s] = 1f;
                minusOnes[s] = -1f;
            }
            var sums = new double[k * FistaCheckSums.Count];

            // x₀ = y₀ = 0 (buffers start zero-filled), ∇f(0) = −b.
            VectorOps.Axpby<float>(b, gx, d, minusOnes, zeros);
            backend.Copy(gx, gy);

            bool allDone = false;
            for (int it = 1; it <= options.MaxIterations && !allDone; it++)
            {
                // z = S_{tλ}(y − t∇f(y)), ∇f(z) = Qz − b: the iteration's one product.
                VectorOps.ProxGradient<float>(y, gy, z, d, steps, lambdas);
                f.MultiplyCurvature(z, gz);
                VectorOps.Axpby<float>(b, gz, d, minusOnes, ones);

                Array.Clear(restartNow);
                if (it % options.CheckInterval == 0 || it == options.MaxIterations)
                {
                    // Between windows: the queued iterations have been issued, nothing is read back yet.
                    options.CancellationToken.ThrowIfCancellationRequested();
                    FistaCheckSums.Compute(z, gz, y, gy, b, d, sums); // the check's one read back
                    allDone = true;
                    for (int s = 0; s < k; s++)
                    {
                        var sum = sums.AsSpan(s * FistaCheckSums.Count, FistaCheckSums.Count);
                        // ½⟨z,Qz⟩ − ⟨b,z⟩ + λ‖z‖₁ with Qz = ∇f(z) + b.
                        double fz = 0.5 * sum[FistaCheckSums.ZGz] - 0.5 * sum[FistaCheckSums.Bz] + lambda1[s] * sum[FistaCheckSums.AbsZ];
                        double dd = sum[FistaCheckSums.Dd], dqd = sum[FistaCheckSums.DGz] - sum[FistaCheckSums.DGy];
                        double zn = Math.Sqrt(sum[FistaCheckSums.Zz]), r = Math.Sqrt(dd);
                        if (!double.IsFinite(fz) || !double.IsFinite(dqd) || !double.IsFinite(dd))
                        {
                            if (status[s] is null) { status[s] = FistaStatus.NonFinite; iterations[s] = it; }
                            continue;
                        }
                        residual[s] = r == 0 ? 0 : r / Math.Max(zn, double.Epsilon);
                        if (status[s] is null)
                        {
                            iterations[s] = it;
                            if (r == 0 || r <= options.Tolerance * zn) status[s] = FistaStatus.Converged;
                        }
                        // Round-off guard of the constant step: ⟨d, Qd⟩ ≤ ‖d‖²/t up to float32 error in Qd = ∇f(z) − ∇f(y).
                        if (dqd > (dd + 1e-5 * r * zn) / step[s])
                        {
                            step[s] *= options.BacktrackingDecay;
                            steps[s] = (float)step[s];
                            backtracks[s]++;
                            restartNow[s] = true;
                        }
                        else if (options.RestartOnIncrease && fz > objective[s] && theta[s] > 1.0)
                        {
                            restartNow[s] = true;
                            restarts[s]++;
                        }
                        objective[s] = fz;
                        history?[s].Add(fz);
                        if (status[s] is null) allDone = false;
                    }
                }

                // y⁺ = z + β(z − x) and the same for the gradients; then x ← z (buffer swap).
                for (int s = 0; s < k; s++)
                {
                    if (restartNow[s])
                    {
                        theta[s] = 1.0;
                        betas[s] = 0f;
                        continue;
                    }
                    double next = 0.5 * (1.0 + Math.Sqrt(1.0 + 4.0 * theta[s] * theta[s]));
                    betas[s] = (float)((theta[s] - 1.0) / next);
                    theta[s] = next;
                }
                VectorOps.Extrapolate<float>(z, x, y, d, betas);
                VectorOps.Extrapolate<float>(gz, gx, gy, d, betas);
                (x, z) = (z, x);
                (gx, gz) = (gz, gx);
            }

            // One download of x and ∇f(x) for the results (Qx = ∇f(x) + b).
            var xHost = new float[n];
            var gHost = new float[n];
            backend.Download<float>(x, xHost);
            backend.Download<float>(gx, gHost);
            var results = new FistaResult[k];
            for (int s = 0; s < k; s++)
            {
                var sol = new double[d];
                var qx = new double[d];
                for (int i = 0; i < d; i++)
                {
                    sol[i] = xHost[s * d + i];
                    qx[i] = (double)gHost[s * d + i] + bRep[i];
                }
                results[s] = new FistaResult(lambda1[s], sol, qx, objective[s], iterations[s], step[s], residual[s],
                    status[s] ?? FistaStatus.IterationLimit, restarts[s], backtracks[s], history?[s]);
            }
            return results;
        }
        finally
        {
            foreach (var buffer in owned) buffer.Dispose();
        }
    }
}
