using Saliency.Kernels.Ops.PrimalDual;
using Saliency.Linalg.Grid;

namespace Saliency.Solvers.Lp;

/// <summary>
/// Solves LEG-TV linear programs <c>min ‖Dg‖₁ s.t. ‖b − Kg‖∞ ≤ L</c> with a restarted, matrix-free
/// primal-dual hybrid gradient method (Chambolle–Pock with the PDLP enhancements, see <see cref="TvLpOptions"/>),
/// single, batched (independent LPs in parallel) or along a warm-started path of decreasing L.
/// Every solution carries its duality certificate (<see cref="TvLpCertificate"/>) and a status.
/// </summary>
/// <remarks>
/// <para>g is determined only up to a constant (D1 = 0). The returned g is shifted to have mean
/// <see cref="TvLpOptions.TargetMean"/>; the LEG estimator passes the mean of the empirical LEG.</para>
/// <para>Thread-safe: every call works on its own buffers.</para>
/// </remarks>
internal static class TvLpSolver
{
    /// <summary>Solves one LP, optionally warm-started.</summary>
    /// <exception cref="ArgumentException">The warm start does not match the problem's sizes or is not finite.</exception>
    public static TvLpSolution Solve(TvLpProblem problem, TvLpOptions? options = null, TvLpWarmStart? warmStart = null)
    {
        ArgumentNullException.ThrowIfNull(problem);
        options ??= new TvLpOptions();
        options.Validate();
        if (warmStart is not null) ValidateWarmStart(problem, warmStart);
        return SolveCore(problem, options, warmStart, RowBlocks(problem, options));
    }

    /// <summary>
    /// Solves independent LPs (e.g. 3 colour channels × images × L values) in one call, in parallel on the CPU.
    /// The problems may have different grids. Results are in input order. <paramref name="targetMeans"/>, when given,
    /// replaces <see cref="TvLpOptions.TargetMean"/> per problem (LEG's per-channel mean).
    /// </summary>
    public static TvLpSolution[] SolveBatch(IReadOnlyList<TvLpProblem> problems, TvLpOptions? options = null,
        IReadOnlyList<TvLpWarmStart?>? warmStarts = null, IReadOnlyList<double>? targetMeans = null)
    {
        ArgumentNullException.ThrowIfNull(problems);
        options ??= new TvLpOptions();
        options.Validate();
        if (warmStarts is not null && warmStarts.Count != problems.Count)
            throw new ArgumentException($"{warmStarts.Count} warm starts for {problems.Count} problems.", nameof(warmStarts));
        if (targetMeans is not null && targetMeans.Count != problems.Count)
            throw new ArgumentException($"{targetMeans.Count} target means for {problems.Count} problems.", nameof(targetMeans));
        if (targetMeans is not null && targetMeans.Any(t => !double.IsFinite(t)))
            throw new ArgumentOutOfRangeException(nameof(targetMeans), "Target means must be finite.");
        for (int i = 0; i < problems.Count; i++)
        {
            if (problems[i] is null) throw new ArgumentNullException(nameof(problems), $"Problem {i} is null.");
            if (warmStarts?[i] is { } w) ValidateWarmStart(problems[i], w);
        }
        var results = new TvLpSolution[problems.Count];
        // A queue served by up to two workers per core (the caller and dedicated threads, so that they surely run side by
        // side: as Parallel.For replicas they could end up one after the other behind the steps' own row-block tasks).
        // More LPs than cores run time-sliced, which keeps every core busy to the end of a small batch (3 LPs on 2 cores:
        // ≈ 31.5k iteration-times for the disc batch's 14.2k/16.2k/24.4k iterations against 38.6k with one LP per core);
        // when fewer LPs than cores are left, finished workers lend their cores to the LPs still running (TvLpCoreShare).
        // LPs go in input order. Results do not depend on the schedule.
        int cores = options.MaxDegreeOfParallelism == -1 ? Environment.ProcessorCount : options.MaxDegreeOfParallelism;
        int workers = Math.Max(1, Math.Min(options.MaxDegreeOfParallelism == -1 ? 2 * cores : cores, problems.Count));
        var share = options.ShareIdleCores && cores > 1 ? new TvLpCoreShare(cores) : null;
        int next = -1, failed = 0;
        void Work()
        {
            share?.Enter();
            try
            {
                for (int i; Volatile.Read(ref failed) == 0 && (i = Interlocked.Increment(ref next)) < problems.Count;)
                {
                    options.CancellationToken.ThrowIfCancellationRequested();
                    var own = targetMeans is null ? options : options with { TargetMean = targetMeans[i] };
                    results[i] = SolveCore(problems[i], own, warmStarts?[i], share is null ? 1 : share.Cores, share);
                }
            }
            catch
            {
                Volatile.Write(ref failed, 1);
                throw;
            }
            finally
            {
                share?.Leave();
            }
        }
        var helpers = Enumerable.Range(1, workers - 1)
            .Select(_ => Task.Factory.StartNew(Work, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default))
            .ToArray();
        var errors = new List<Exception>();
        try { Work(); }
        catch (Exception e) { errors.Add(e); }
        foreach (var helper in helpers)
        {
            try { helper.Wait(); }
            catch (AggregateException e) { errors.AddRange(e.InnerExceptions); }
        }
        if (errors.Count == 1 || (errors.Count > 1 && errors.All(e => e is OperationCanceledException)))
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(errors[0]);
        if (errors.Count > 1) throw new AggregateException(errors);
        return results;
    }

    /// <summary>
    /// The solution path over L: solves <paramref name="problem"/> at each of <paramref name="bounds"/>
    /// (sorted decreasing internally; results follow the input order), each solve warm-started from the previous
    /// one — the paper's way of choosing L. Start the path at <see cref="MaxBound"/> for a zero-TV first point.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A bound is negative or not finite.</exception>
    public static TvLpSolution[] SolvePath(TvLpProblem problem, IReadOnlyList<double> bounds, TvLpOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(bounds);
        options ??= new TvLpOptions();
        options.Validate();
        var problems = bounds.Select(problem.WithBound).ToArray();
        return SolvePathCore(problems, options, rowParallel: true);
    }

    /// <summary>Several paths over L (e.g. one per channel and image) in one call, paths in parallel.</summary>
    public static TvLpSolution[][] SolvePaths(IReadOnlyList<TvLpProblem> problems, IReadOnlyList<double> bounds, TvLpOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(problems);
        ArgumentNullException.ThrowIfNull(bounds);
        options ??= new TvLpOptions();
        options.Validate();
        var perPath = problems.Select(p => bounds.Select((p ?? throw new ArgumentNullException(nameof(problems))).WithBound).ToArray()).ToArray();
        var results = new TvLpSolution[problems.Count][];
        Parallel.For(0, problems.Count, new ParallelOptions { MaxDegreeOfParallelism = options.MaxDegreeOfParallelism, CancellationToken = options.CancellationToken },
            i => results[i] = SolvePathCore(perPath[i], options, rowParallel: false));
        return results;
    }

    /// <summary>
    /// L_max, the smallest L for which the LP's solution has zero total variation. A zero-TV g is a constant c1,
    /// so L_max = min_c ‖b − c K1‖∞. For the paper's covariance K1 = s² D1 = 0 and L_max = ‖b‖∞ (likewise for
    /// any Σ with Σ1 ∝ 1, since D⁺ᵀ1 = 0); otherwise the 1-D convex minimisation is solved by bisection.
    /// </summary>
    public static double MaxBound(TvLpProblem problem)
    {
        ArgumentNullException.ThrowIfNull(problem);
        var b = problem.B;
        if (problem.IsStencilForm) return MaxAbs(b);
        var k1 = new double[b.Length];
        var ones = new double[problem.Shape.Count];
        Array.Fill(ones, 1.0);
        problem.Operator!.Apply(ones, k1);
        double kMax = MaxAbs(k1);
        if (kMax <= 1e-14 * Math.Max(1, MaxAbs(b))) return MaxAbs(b);
        // f(c) = max |bᵢ − c kᵢ| is convex; bisection on the sign of a subgradient.
        double bound = 0;
        for (int i = 0; i < b.Length; i++) if (k1[i] != 0) bound = Math.Max(bound, Math.Abs(b[i] / k1[i]));
        double lo = -bound, hi = bound;
        for (int it = 0; it < 200; it++)
        {
            double c = 0.5 * (lo + hi);
            double worst = -1, slope = 0;
            for (int i = 0; i < b.Length; i++)
            {
                double r = b[i] - c * k1[i];
                if (Math.Abs(r) > worst) { worst = Math.Abs(r); slope = -Math.Sign(r) * k1[i]; }
            }
            if (slope > 0) hi = c; else lo = c;
        }
        double cStar = 0.5 * (lo + hi), result = 0;
        for (int i = 0; i < b.Length; i++) result = Math.Max(result, Math.Abs(b[i] - cStar * k1[i]));
        return result;
    }

    /// <summary>
    /// The certificate of any (g, u, v) for <paramref name="problem"/>, from the vectors alone:
    /// p = ‖Dg‖₁, d = −⟨v,b⟩ − L‖v‖₁, r_p = ‖(|b − Kg| − L)₊‖₂, r_d = ‖Dᵀu + Kᵀv‖₂ (and u is clipped to ‖u‖∞ ≤ 1
    /// first, so the dual is feasible in that respect).
    /// </summary>
    public static TvLpCertificate Certify(TvLpProblem problem, ReadOnlySpan<double> g, ReadOnlySpan<double> u, ReadOnlySpan<double> v)
    {
        ArgumentNullException.ThrowIfNull(problem);
        var shape = problem.Shape;
        int p = shape.Count, m = shape.DifferenceCount;
        GridGuards.Length(g.Length, p, nameof(g));
        GridGuards.Length(u.Length, m, nameof(u));
        GridGuards.Length(v.Length, m, nameof(v));
        var b = problem.B;
        double L = problem.Bound;
        var dg = new double[m];
        var kg = new double[m];
        PrimalDualTvStep.ApplyD(shape.Rows, shape.Cols, g, dg);
        ApplyK(problem, g, kg);
        double primal = 0, viol2 = 0, dual = 0;
        var uc = new double[m];
        for (int e = 0; e < m; e++)
        {
            primal += Math.Abs(dg[e]);
            double over = Math.Abs(b[e] - kg[e]) - L;
            if (over > 0) viol2 += over * over;
            dual -= v[e] * b[e] + L * Math.Abs(v[e]);
            uc[e] = Math.Clamp(u[e], -1.0, 1.0);
        }
        var r = new double[p];
        var kt = new double[p];
        PrimalDualTvStep.ApplyDTranspose(shape.Rows, shape.Cols, uc, r);
        ApplyKTranspose(problem, v, kt);
        double rd2 = 0;
        for (int j = 0; j < p; j++) rd2 += (r[j] + kt[j]) * (r[j] + kt[j]);
        var point = new KktPoint(primal, dual, Math.Sqrt(viol2), Math.Sqrt(rd2));
        return point.ToCertificate(StencilTvLpForm.Norm2(b), Math.Sqrt(m));
    }

    private static TvLpSolution[] SolvePathCore(TvLpProblem[] problems, TvLpOptions options, bool rowParallel)
    {
        var order = Enumerable.Range(0, problems.Length).OrderByDescending(i => problems[i].Bound).ToArray();
        var results = new TvLpSolution[problems.Length];
        TvLpWarmStart? warm = null;
        foreach (int i in order)
        {
            results[i] = SolveCore(problems[i], options, warm, rowParallel ? RowBlocks(problems[i], options) : 1);
            warm = results[i].Status == TvLpStatus.NumericalError ? null : results[i].AsWarmStart();
        }
        return results;
    }

    /// <summary>Grids from this many pixels up may split each step into row blocks: <see cref="TvLpOptions.StepThreads"/>
    /// for a single solve or path, a batch's idle cores for its last LPs (<see cref="TvLpCoreShare"/>). Smaller steps are
    /// too short for a fork/join per step (≈ 6 µs).</summary>
    internal const int RowParallelMinPixels = 128 * 128;

    private static int RowBlocks(TvLpProblem problem, TvLpOptions options) => RowBlocks(problem, options.StepThreads);

    private static int RowBlocks(TvLpProblem problem, int threads) =>
        problem.IsStencilForm && problem.Shape.Count >= RowParallelMinPixels ? threads : 1;

    /// <param name="rowBlocks">Row blocks of each step (grids of at least <see cref="RowParallelMinPixels"/>); with
    /// <paramref name="share"/>, the most the batch's share may give.</param>
    private static TvLpSolution SolveCore(TvLpProblem problem, TvLpOptions options, TvLpWarmStart? warm, int rowBlocks = 1,
        TvLpCoreShare? share = null)
    {
        if (warm is null && options.Multilevel && TvLpMultilevel.Coarsen(problem) is { } coarse)
        {
            // With a share the coarse call caps its own row blocks (below); without, it takes the options' step threads.
            var coarseSolution = SolveCore(coarse, options, null, share is null ? RowBlocks(coarse, options) : rowBlocks, share);
            if (coarseSolution.Status != TvLpStatus.NumericalError) warm = TvLpMultilevel.Prolong(problem, coarseSolution);
        }
        if (share is not null) rowBlocks = RowBlocks(problem, rowBlocks);
        PdhgForm form = problem.IsStencilForm ? new StencilTvLpForm(problem, rowBlocks, share is null ? null : share.RowBlocks, options.TimedStepThreads) : new OperatorTvLpForm(problem);
        int p = problem.Shape.Count, m = problem.Shape.DifferenceCount;
        var x = new double[form.PrimalLength];
        var y = new double[form.DualLength];
        double weight = 0;
        if (warm is not null)
        {
            warm.G.CopyTo(x, 0);
            form.JoinDual(warm.U, warm.V, y);
            weight = warm.PrimalWeight;
        }
        var result = new PdhgDriver(form, options).Run(x, y, weight);

        var g = result.X;
        bool meanFree = ConstantIsFree(problem);
        if (meanFree)
        {
            double shift = options.TargetMean - g.Average();
            for (int j = 0; j < p; j++) g[j] += shift;
        }
        var u = new double[m];
        var v = new double[m];
        form.SplitDual(result.Y, u, v);
        var certificate = Certify(problem, g, u, v);
        var status = result.Status;
        // The driver tests its own dual y; the returned (u, v) are re-certified from scratch, and a status of
        // Optimal is only kept when that independent certificate agrees.
        if (status == TvLpStatus.Optimal && !certificate.Within(options.RelativeTolerance * 1.0000001))
            status = TvLpStatus.IterationLimit;
        return new TvLpSolution(problem, g, u, v, status, certificate, result.Iterations, result.Restarts, result.PrimalWeight, meanFree);
    }

    /// <summary>True when K1 = 0 (to rounding), so that g + c1 is optimal whenever g is.</summary>
    private static bool ConstantIsFree(TvLpProblem problem)
    {
        if (problem.IsStencilForm) return true;
        var ones = new double[problem.Shape.Count];
        Array.Fill(ones, 1.0);
        var k1 = new double[problem.Shape.DifferenceCount];
        problem.Operator!.Apply(ones, k1);
        var probe = new double[problem.Shape.Count];
        probe[0] = 1.0;
        var ke = new double[problem.Shape.DifferenceCount];
        problem.Operator.Apply(probe, ke);
        // Relative to the size of K's columns: a constant vector is mapped to (numerical) zero.
        return MaxAbs(k1) <= 1e-10 * Math.Max(MaxAbs(ke) * problem.Shape.Count, double.Epsilon);
    }

    private static void ApplyK(TvLpProblem problem, ReadOnlySpan<double> g, Span<double> result)
    {
        if (problem.Operator is { } k) { k.Apply(g, result); return; }
        PrimalDualTvStep.ApplyD(problem.Shape.Rows, problem.Shape.Cols, g, result);
        for (int e = 0; e < problem.Shape.DifferenceCount; e++) result[e] *= problem.NoiseVariance;
    }

    private static void ApplyKTranspose(TvLpProblem problem, ReadOnlySpan<double> v, Span<double> result)
    {
        if (problem.Operator is { } k) { k.ApplyTranspose(v, result); return; }
        PrimalDualTvStep.ApplyDTranspose(problem.Shape.Rows, problem.Shape.Cols, v, result);
        for (int j = 0; j < problem.Shape.Count; j++) result[j] *= problem.NoiseVariance;
    }

    private static void ValidateWarmStart(TvLpProblem problem, TvLpWarmStart warm)
    {
        GridGuards.Length(warm.G.Length, problem.Shape.Count, "warmStart.G");
        GridGuards.Length(warm.U.Length, problem.Shape.DifferenceCount, "warmStart.U");
        GridGuards.Length(warm.V.Length, problem.Shape.DifferenceCount, "warmStart.V");
        GridGuards.Finite(warm.G, "warmStart.G");
        GridGuards.Finite(warm.U, "warmStart.U");
        GridGuards.Finite(warm.V, "warmStart.V");
    }

    private static double MaxAbs(ReadOnlySpan<double> a) => a.IsEmpty ? 0 : System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(a) is var v ? Math.Abs(v) : 0;
}
