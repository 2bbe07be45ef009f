using System.Numerics.Tensors;
using Saliency.Kernels.Ops;

namespace Saliency.Solvers.Fista;

/// <summary>
/// FISTA (Beck &amp; Teboulle, SIAM J. Imaging Sci. 2009) with backtracking for
/// <c>minimise F(x) = f(x) + λ1‖x‖₁</c>, f a convex quadratic (<see cref="IBatchedQuadratic"/>), run for several
/// λ1 values at once: every iteration makes ONE batched call of <see cref="IBatchedQuadratic.MultiplyCurvature"/>
/// for all slices still running (for CASO, one batched Hessian-vector-product pass over W).
/// </summary>
/// <remarks>
/// <para><b>Sufficient decrease for free.</b> Beck–Teboulle accept the trial <c>z = prox_{tλ1}(y − t∇f(y))</c> when
/// <c>f(z) ≤ f(y) + ⟨∇f(y), z − y⟩ + ‖z − y‖²/(2t)</c>. For a quadratic, the left minus the first two right terms is
/// exactly <c>½⟨d, Qd⟩</c> with <c>d = z − y</c>, and <c>Qd = Qz − Qy</c>. The solver keeps <c>Qx</c> and <c>Qy</c> up to date by
/// linearity (<c>Qy = Qz + β(Qz − Qx)</c>), so the only product per trial is <c>Qz</c> — which the next iteration needs
/// anyway. A rejected trial costs one more batched pass, for the rejected slices only.</para>
/// <para><b>Carried step, not reset.</b> The step is carried from one iteration to the next and only ever shrinks:
/// Beck–Teboulle's O(1/k²) bound <c>F(x_k) − F* ≤ 2‖x₀ − x*‖² / (t_min (k+1)²)</c> is proved for non-increasing steps,
/// and each failed trial is a full pass over W, so resetting to a larger step every iteration would pay that pass
/// again and again. With a known Lipschitz bound (CASO: <c>λ_max(2λ2 I − H) ≤ 2λ2</c>) the first step already passes
/// and backtracking only guards round-off.</para>
/// <para><b>Restart.</b> Optional function-value restart (O'Donoghue &amp; Candès 2015), monotone form: see
/// <see cref="FistaOptions.RestartOnIncrease"/>. On strongly convex problems it recovers a linear rate.</para>
/// <para>State per slice is O(d) (x, Qx, y, Qy, trial z, Qz); the solver allocates it once per call.</para>
/// </remarks>
public static class FistaSolver
{
    /// <summary>Solves the problem for every λ1 in <paramref name="lambda1"/> (a batch), starting from x₀ = 0.</summary>
    /// <param name="f">The smooth quadratic part.</param>
    /// <param name="lambda1">L1 weights, one slice each; finite and ≥ 0.</param>
    /// <param name="options">Tolerances and switches; defaults when null.</param>
    /// <returns>One result per λ1, in the same order.</returns>
    /// <exception cref="ArgumentException">Empty batch, negative or non-finite λ1, non-finite b.</exception>
    /// <exception cref="ArgumentOutOfRangeException">Invalid options.</exception>
    public static FistaResult[] Solve(IBatchedQuadratic f, IReadOnlyList<double> lambda1, FistaOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(f);
        ArgumentNullException.ThrowIfNull(lambda1);
        options ??= new FistaOptions();
        options.Validate();
        int k = lambda1.Count, d = f.Dimension;
        if (k == 0) throw new ArgumentException("The batch of λ1 values is empty.", nameof(lambda1));
        if (d <= 0) throw new ArgumentException($"The dimension {d} must be positive.", nameof(f));
        for (int s = 0; s < k; s++)
            if (!(lambda1[s] >= 0) || !double.IsFinite(lambda1[s]))
                throw new ArgumentException($"λ1[{s}] = {lambda1[s]} must be finite and non-negative.", nameof(lambda1));
        var b = f.Linear.ToArray();
        if (b.Length != d) throw new ArgumentException($"The linear term has {b.Length} entries, the dimension is {d}.", nameof(f));
        foreach (double v in b) if (!double.IsFinite(v)) throw new ArgumentException("The linear term has a non-finite entry.", nameof(f));

        double t0 = options.InitialStep ?? (f.LipschitzBound is double lb && lb > 0 && double.IsFinite(lb) ? 1.0 / lb : 1.0);
        var slices = new Slice[k];
        for (int s = 0; s < k; s++) slices[s] = new Slice(d, lambda1[s], t0, options.RecordHistory);

        var packed = new double[k * d];
        var packedQ = new double[k * d];
        var passed = new bool[k];
        var finished = new bool[k];
        var active = new List<int>(k);
        var pending = new List<int>(k);
        for (int s = 0; s < k; s++) active.Add(s);

        while (active.Count > 0)
        {
            options.CancellationToken.ThrowIfCancellationRequested();
            // Trials: every running slice proposes z; rejected slices shrink t and try again, batched together.
            pending.Clear();
            pending.AddRange(active);
            while (pending.Count > 0)
            {
                ForEachSlice(pending.Count, d, j =>
                {
                    var sl = slices[pending[j]];
                    ProximalGradientStep(sl.Y, sl.QY, b, sl.Step, sl.Lambda, sl.Z);
                    sl.Z.CopyTo(packed.AsSpan(j * d, d));
                });
                f.MultiplyCurvature(packed.AsSpan(0, pending.Count * d), packedQ.AsSpan(0, pending.Count * d), pending.Count);
                ForEachSlice(pending.Count, d, j =>
                {
                    var sl = slices[pending[j]];
                    packedQ.AsSpan(j * d, d).CopyTo(sl.QZ);
                    passed[j] = SufficientDecrease(sl, b);
                });
                int kept = 0;
                for (int j = 0; j < pending.Count; j++)
                {
                    var sl = slices[pending[j]];
                    if (!passed[j] && sl.Step * options.BacktrackingDecay > 0)
                    {
                        sl.Step *= options.BacktrackingDecay;
                        sl.Backtracks++;
                        pending[kept++] = pending[j];
                    }
                }
                pending.RemoveRange(kept, pending.Count - kept);
            }

            ForEachSlice(active.Count, d, j => finished[j] = Advance(slices[active[j]], b, options));
            for (int j = active.Count - 1; j >= 0; j--)
                if (finished[j]) active.RemoveAt(j);
        }

        var results = new FistaResult[k];
        for (int s = 0; s < k; s++)
        {
            var sl = slices[s];
            results[s] = new FistaResult(sl.Lambda, sl.X, sl.QX, sl.Objective, sl.Iterations, sl.Step, sl.Residual,
                sl.Status, sl.Restarts, sl.Backtracks, sl.History);
        }
        return results;
    }

    /// <summary>Accepts (or, on restart, discards) the trial of one slice; returns true when the slice is finished.</summary>
    private static bool Advance(Slice sl, double[] b, FistaOptions options)
    {
        int d = sl.X.Length;
        // F(z) from the sums the sufficient-decrease pass gathered (no extra pass over the vectors).
        double fNew = 0.5 * sl.TrialZQZ - sl.TrialBZ + sl.Lambda * sl.TrialAbsSum;
        sl.Iterations++;
        if (!double.IsFinite(fNew))
        {
            sl.Status = FistaStatus.NonFinite;
            return true;
        }

        // A step from y = x (no momentum) cannot raise F in exact arithmetic; if it does, it is round-off at the
        // optimum, and restarting again would loop, so it is accepted.
        if (options.RestartOnIncrease && fNew > sl.Objective && !sl.MomentumFree)
        {
            sl.X.CopyTo(sl.Y);
            sl.QX.CopyTo(sl.QY);
            sl.Theta = 1.0;
            sl.MomentumFree = true;
            sl.Restarts++;
            sl.History?.Add(sl.Objective);
        }
        else
        {
            double thetaNext = 0.5 * (1.0 + Math.Sqrt(1.0 + 4.0 * sl.Theta * sl.Theta));
            double beta = (sl.Theta - 1.0) / thetaNext;
            for (int i = 0; i < d; i++)
            {
                double z = sl.Z[i], qz = sl.QZ[i];
                sl.Y[i] = z + beta * (z - sl.X[i]);
                sl.QY[i] = qz + beta * (qz - sl.QX[i]);
                sl.X[i] = z;
                sl.QX[i] = qz;
            }
            sl.Theta = thetaNext;
            sl.MomentumFree = beta == 0.0;
            sl.Objective = fNew;
            sl.History?.Add(sl.Objective);

            // Stopping test on the accepted step: ‖z − y‖ = t‖G_t(y)‖ is the proximal-gradient residual at y
            // (zero exactly when y is optimal), already summed by the sufficient-decrease pass.
            double r = Math.Sqrt(sl.TrialStepNormSq), zn = Math.Sqrt(sl.TrialNormSq);
            sl.Residual = r == 0 ? 0 : r / Math.Max(zn, double.Epsilon);
            if (r == 0 || r <= options.Tolerance * zn)
            {
                sl.Status = FistaStatus.Converged;
                return true;
            }
        }
        if (sl.Iterations >= options.MaxIterations)
        {
            sl.Status = FistaStatus.IterationLimit;
            return true;
        }
        return false;
    }

    /// <summary>
    /// Runs the O(d) per-slice work of a batch on several cores when there is enough of it (the slices are
    /// independent; the batched product itself is one call and parallelises inside the backend).
    /// </summary>
    private static void ForEachSlice(int count, int d, Action<int> body)
    {
        if (count > 1 && (long)count * d >= 1 << 16)
            Parallel.For(0, count, body);
        else
            for (int j = 0; j < count; j++) body(j);
    }

    /// <summary>
    /// Beck–Teboulle's test in its quadratic form: <c>⟨d, Qd⟩ ≤ ‖d‖²/t</c>, d = z − y, Qd = Qz − Qy. The same pass sums
    /// what the acceptance step needs (⟨z, Qz⟩, ⟨b, z⟩, ‖z‖₁, ‖z‖², ‖d‖²), so a trial reads each vector once.
    /// </summary>
    private static bool SufficientDecrease(Slice sl, double[] b)
    {
        double dqd = 0, dd = 0, zqz = 0, bz = 0, abs = 0, zz = 0;
        var z = sl.Z; var y = sl.Y; var qz = sl.QZ; var qy = sl.QY;
        for (int i = 0; i < z.Length; i++)
        {
            double zi = z[i], qzi = qz[i], di = zi - y[i];
            dqd += di * (qzi - qy[i]);
            dd += di * di;
            zqz += zi * qzi;
            bz += b[i] * zi;
            abs += Math.Abs(zi);
            zz += zi * zi;
        }
        sl.TrialStepNormSq = dd;
        sl.TrialZQZ = zqz;
        sl.TrialBZ = bz;
        sl.TrialAbsSum = abs;
        sl.TrialNormSq = zz;
        // Relative slack for round-off in the two products; without it a step at exactly 1/L could be rejected forever.
        return dqd <= dd / sl.Step * (1 + 1e-12) || !double.IsFinite(dqd);
    }

    /// <summary><c>out = prox_{tλ‖·‖₁}(x − t(Qx − b))</c>: a gradient step, then the kernels' soft-thresholding at tλ (exact zeros).</summary>
    private static void ProximalGradientStep(ReadOnlySpan<double> x, ReadOnlySpan<double> qx, ReadOnlySpan<double> b,
        double t, double lambda, Span<double> output)
    {
        // output = x − t(qx − b) = (b − qx)·t + x
        TensorPrimitives.Subtract(b, qx, output);
        TensorPrimitives.MultiplyAdd(output, t, x, output);
        double threshold = t * lambda;
        SoftThreshold.Apply<double>(output, output, output.Length, new ReadOnlySpan<double>(in threshold));
    }

    private sealed class Slice
    {
        public Slice(int d, double lambda, double step, bool history)
        {
            X = new double[d]; QX = new double[d]; Y = new double[d]; QY = new double[d]; Z = new double[d]; QZ = new double[d];
            Lambda = lambda;
            Step = step;
            History = history ? new List<double> { 0.0 } : null;
        }
        public readonly double[] X, QX, Y, QY, Z, QZ;
        public readonly double Lambda;
        public double Step;
        public double Theta = 1.0;
        public bool MomentumFree = true;
        public double Objective; // F(0) = 0
        public int Iterations, Restarts, Backtracks;
        public double Residual = double.PositiveInfinity;
        public double TrialStepNormSq, TrialZQZ, TrialBZ, TrialAbsSum, TrialNormSq; // sums over the current trial z
        public FistaStatus Status = FistaStatus.IterationLimit;
        public readonly List<double>? History;
    }
}
