namespace Saliency.Solvers.Lp;

/// <summary>
/// Settings of the primal-dual (PDHG / Chambolle–Pock) LEG-TV solver, including switches for each PDLP/cuPDLP
/// enhancement so that their effect can be measured (see bench/Saliency.Bench/Lp).
/// </summary>
public sealed record TvLpOptions
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
    /// and <see cref="TvLpSolver.SolvePath"/>) is split over, in contiguous row blocks; the iterates do not depend on
    /// it. Default 1: on the shared 2-core machine the per-step fork/join lost to time-slicing (224²: 10.8 s with 2 vs
    /// 7.0 s with 1, bench/Saliency.Bench/Lp/README.md); raise it on idle cores.</summary>
    public int StepThreads { get; init; } = 1;

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
