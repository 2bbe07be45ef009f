namespace Saliency.Solvers.Lp;

/// <summary>
/// Settings of the primal-dual (PDHG / Chambolle–Pock) LEG-TV solver, including switches for each PDLP/cuPDLP
/// enhancement so that their effect can be measured (see bench/Saliency.Bench/Lp).
/// </summary>
internal sealed record TvLpOptions
{
    /// <summary>Relative tolerance ε of the termination test (PDLP's relative criteria):
    /// <c>‖r_p‖₂ ≤ ε(1+‖b‖₂)</c>, <c>‖r_d‖₂ ≤ ε(1+√m)</c>, <c>|p − d| ≤ ε(1+|p|+|d|)</c>.</summary>
    public double RelativeTolerance { get; init; } = 1e-6;

    /// <summary>Iteration cap; reaching it gives <see cref="TvLpStatus.IterationLimit"/>.</summary>
    public int MaxIterations { get; init; } = 500_000;

    /// <summary>Iterations between termination/restart checks (each check costs about one iteration).</summary>
    public int CheckInterval { get; init; } = 64;

    /// <summary>Adaptive restarts on the KKT error with the PDLP factors 0.2 (sufficient), 0.8 (necessary),
    /// 0.36 (artificial).</summary>
    public bool AdaptiveRestarts { get; init; } = true;

    /// <summary>Keep step-size-weighted running averages and restart to them when their KKT error is lower.</summary>
    public bool RestartToAverage { get; init; } = true;

    /// <summary>Reflected Halpern PDHG (cuPDLPx): z⁺ = (k+1)/(k+2)·(2T(z) − z) + 1/(k+2)·z₀ with the anchor z₀ reset at
    /// every restart; restarts and termination are judged at the PDHG output T(z). Replaces the running averages
    /// (<see cref="RestartToAverage"/> is ignored) and uses constant steps; setting <see cref="AdaptiveStepSize"/>
    /// selects PDLP's averaged scheme instead.</summary>
    public bool HalpernReflection { get; init; } = true;

    /// <summary>PDLP's adaptive step size <c>η' = min((1−(k+1)^−0.3)·limit, (1+(k+1)^−0.6)·η)</c>; off: the
    /// constant step <c>η = 0.998/‖A‖</c> with the exact ‖D‖ (stencil form) or an estimate (operator form).</summary>
    public bool AdaptiveStepSize { get; init; } = false;

    /// <summary>Halpern scheme: judge restarts by cuPDLPx's fixed-point residual ‖z − T(z)‖_P in the PDHG metric
    /// (Lu &amp; Yang 2024, "Restarted Halpern PDHG for LP") instead of the KKT error, whose absolute gap term dominates
    /// this LP's residuals. Same factors 0.2 / 0.8 / 0.36. Measured: bench/Saliency.Bench/Lp/RESULTS.md.</summary>
    public bool FixedPointRestarts { get; init; } = true;

    /// <summary>Halpern scheme, paper's covariance: once the primal residual and the gap pass, try every 4th check
    /// whether the dual projected onto {Dᵀy = 0} (one DCT pair) certifies the point, which removes the dual residual
    /// that is the last to converge. The certificate is that of the projected dual, so the tolerance is unchanged.</summary>
    public bool DualProjection { get; init; } = true;

    /// <summary>Halpern scheme, paper's covariance, no diagonal preconditioning: iterate in float (half the memory traffic,
    /// twice the SIMD lanes) and switch to double when float stops improving near the tolerance; checks, restarts,
    /// the returned point and its certificate are double. Off: double throughout.</summary>
    public bool SinglePrecisionIterations { get; init; } = true;

    /// <summary>Paper's covariance, grids with even sides from 56 up whose h = D⁺b is constant on 2×2 blocks (an
    /// upsampled perturbation grid), no warm start given: solve the 2×-coarser LP first (recursively, down to 28-pixel
    /// sides) and start from its prolongated solution (<c>TvLpMultilevel</c>). Other problems are solved as without it.</summary>
    public bool Multilevel { get; init; } = true;

    /// <summary>Primal weight ω smoothed toward ‖Δy‖/‖Δx‖ at every restart (θ = 0.5).</summary>
    public bool PrimalWeightUpdates { get; init; } = true;

    /// <summary>Pock–Chambolle diagonal preconditioning of the primal step (τⱼ ∝ 1/column degree of D).</summary>
    public bool DiagonalPreconditioning { get; init; } = false;

    /// <summary>The constant fixed in the returned g. When the LP leaves g free up to a constant (D1 = 0 and K1 = 0:
    /// the paper's covariance, or any Σ with Σ1 ∝ 1, since D⁺ᵀ1 = 0) the mean of g is set to this value; the LEG
    /// estimator passes the mean of the empirical LEG (the paper's consistent mean estimate). When K1 ≠ 0 (a general
    /// dense Σ) the constant is part of the LP's solution and g is returned unshifted
    /// (<see cref="TvLpSolution.MeanFixed"/> is then false).</summary>
    public double TargetMean { get; init; }

    /// <summary>Threads for batches (independent LPs run in parallel); −1 = all cores.</summary>
    public int MaxDegreeOfParallelism { get; init; } = -1;

    /// <summary>Threads one step of a single large LP (stencil form, from 128² pixels; <see cref="TvLpSolver.Solve"/>
    /// and <see cref="TvLpSolver.SolvePath"/>) may be split over, in contiguous row blocks, float and double iterations
    /// alike; the iterates do not depend on it. Default 2, the target machine's cores: with
    /// <see cref="TimedStepThreads"/> (default) the split is only used while it times faster than one thread (it
    /// pays on idle cores and lost to time-slicing on the shared machine: 224² 10.8 s split vs 7.0 s one thread,
    /// bench/Saliency.Bench/Lp/README.md). 1: never split.</summary>
    public int StepThreads { get; init; } = 2;

    /// <summary>Batches: when fewer LPs are running than the batch has threads (the last LPs of the queue), split each
    /// running LP's steps into row blocks over the idle threads (<see cref="TvLpCoreShare"/>); results are the same
    /// either way. Measured: bench/Saliency.Bench/Lp/RESULTS.md.</summary>
    public bool ShareIdleCores { get; init; } = true;

    /// <summary>When a step may be split (<see cref="StepThreads"/> or <see cref="ShareIdleCores"/>), time the split
    /// step against one thread every few windows and use the faster (<see cref="StepThreadTuner"/>): the split pays on
    /// idle cores and loses on busy ones. Off: always split.</summary>
    public bool TimedStepThreads { get; init; } = true;

    /// <summary>Stops the solve with <see cref="OperationCanceledException"/>, checked between iteration windows
    /// (every <see cref="CheckInterval"/> iterations) and before each LP of a batch or path.</summary>
    public CancellationToken CancellationToken { get; init; }

    internal void Validate()
    {
        if (!(RelativeTolerance > 0) || !double.IsFinite(RelativeTolerance))
            throw new ArgumentOutOfRangeException(nameof(RelativeTolerance), RelativeTolerance, "The tolerance must be positive.");
        if (MaxIterations < 1) throw new ArgumentOutOfRangeException(nameof(MaxIterations), MaxIterations, "Must be ≥ 1.");
        if (CheckInterval < 1) throw new ArgumentOutOfRangeException(nameof(CheckInterval), CheckInterval, "Must be ≥ 1.");
        if (!double.IsFinite(TargetMean)) throw new ArgumentOutOfRangeException(nameof(TargetMean), TargetMean, "Must be finite.");
        if (StepThreads < 1) throw new ArgumentOutOfRangeException(nameof(StepThreads), StepThreads, "Must be ≥ 1.");
        if (MaxDegreeOfParallelism == 0 || MaxDegreeOfParallelism < -1)
            throw new ArgumentOutOfRangeException(nameof(MaxDegreeOfParallelism), MaxDegreeOfParallelism, "Must be −1 or positive.");
    }
}
