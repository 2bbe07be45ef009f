namespace Saliency.Solvers.Lp;

/// <summary>
/// Settings of <see cref="TvLpDeviceBatchSolver"/>: only what the lockstep device scheme reads. That scheme is PDLP's
/// (Applegate et al. 2021, §3) restarted PDHG with running averages and constant steps η = 0.998/‖D‖ — the host
/// <see cref="TvLpSolver"/> with <see cref="TvLpOptions.HalpernReflection"/> and
/// <see cref="TvLpOptions.AdaptiveStepSize"/> off (docs/mathematics.md, "PDLP practice"). The host's reflected Halpern
/// scheme (cuPDLPx, its default) and adaptive steps have no device kernel, and its threading knobs
/// (<see cref="TvLpOptions.StepThreads"/>, <see cref="TvLpOptions.MaxDegreeOfParallelism"/>) have no device meaning, so
/// they are not offered here rather than ignored.
/// </summary>
public sealed record TvLpDeviceBatchOptions
{
    /// <summary>Relative tolerance ε of PDLP's termination test: <c>‖r_p‖₂ ≤ ε(1+‖b‖₂)</c>, <c>‖r_d‖₂ ≤ ε(1+√m)</c>,
    /// <c>|p − d| ≤ ε(1+|p|+|d|)</c>; an LP is reported optimal only if its host-recomputed certificate meets it too.</summary>
    public double RelativeTolerance { get; init; } = 1e-6;

    /// <summary>Iteration cap for the whole batch; LPs still running then get <see cref="TvLpStatus.IterationLimit"/>.</summary>
    public int MaxIterations { get; init; } = 500_000;

    /// <summary>Device steps between host checks (termination, restarts); each check downloads the per-LP KKT sums.</summary>
    public int CheckInterval { get; init; } = 64;

    /// <summary>Adaptive restarts on the KKT error with the PDLP factors 0.2 (sufficient), 0.8 (necessary),
    /// 0.36 (artificial); off: no restarts (and so no primal weight updates).</summary>
    public bool AdaptiveRestarts { get; init; } = true;

    /// <summary>Keep step-size-weighted running averages on the device; the average is a restart and termination
    /// candidate when its KKT error is lower than the current point's (PDLP). Off: current point only, and no
    /// average buffers are allocated.</summary>
    public bool RestartToAverage { get; init; } = true;

    /// <summary>Primal weight ω smoothed toward ‖Δy‖/‖Δx‖ at every restart (θ = 0.5); off: ω stays at its start
    /// value √m·σ²/‖b‖₂.</summary>
    public bool PrimalWeightUpdates { get; init; } = true;

    /// <summary>Pock–Chambolle diagonal preconditioning of the primal step (τⱼ ∝ 1/column degree of D).</summary>
    public bool DiagonalPreconditioning { get; init; } = false;

    /// <summary>The mean of every returned g (the device batch handles the paper's covariance only, where D1 = 0 leaves
    /// the constant free; see <see cref="TvLpOptions.TargetMean"/>).</summary>
    public double TargetMean { get; init; }

    /// <summary>Stops the solve with <see cref="OperationCanceledException"/>, checked between check windows.</summary>
    public CancellationToken CancellationToken { get; init; }

    internal void Validate()
    {
        if (!(RelativeTolerance > 0) || !double.IsFinite(RelativeTolerance))
            throw new ArgumentOutOfRangeException(nameof(RelativeTolerance), RelativeTolerance, "The tolerance must be positive and finite.");
        if (MaxIterations < 1) throw new ArgumentOutOfRangeException(nameof(MaxIterations), MaxIterations, "Must be ≥ 1.");
        if (CheckInterval < 1) throw new ArgumentOutOfRangeException(nameof(CheckInterval), CheckInterval, "Must be ≥ 1.");
        if (!double.IsFinite(TargetMean)) throw new ArgumentOutOfRangeException(nameof(TargetMean), TargetMean, "Must be finite.");
    }
}
