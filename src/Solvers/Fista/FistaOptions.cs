namespace Saliency.Solvers.Fista;

/// <summary>Settings of <see cref="FistaSolver"/>.</summary>
public sealed record FistaOptions
{
    /// <summary>
    /// Relative stopping tolerance on the proximal-gradient residual of the accepted step:
    /// stop when <c>‖z − y‖ ≤ Tolerance · ‖z‖</c> (or it is exactly 0), where <c>z = prox_{tλ1‖·‖₁}(y − t∇f(y))</c> is the
    /// new iterate and y the extrapolated point. <c>‖z − y‖ = t‖G_t(y)‖</c> vanishes exactly at the minimiser; for a
    /// μ-strongly convex f the distance of y to it is at most about <c>(1 + tL)/(tμ)</c> times the residual. The
    /// sufficient-decrease pass computes it at no extra cost.
    /// </summary>
    public double Tolerance { get; init; } = 1e-6;

    /// <summary>Iteration cap (accepted or restarted steps). Reaching it is reported as <see cref="FistaStatus.IterationLimit"/>.</summary>
    public int MaxIterations { get; init; } = 1000;

    /// <summary>
    /// First step size t. Null: <c>1 / f.LipschitzBound</c> when the function provides one, else 1.
    /// </summary>
    public double? InitialStep { get; init; }

    /// <summary>Factor (0, 1) by which the step shrinks when the sufficient-decrease test fails. Beck–Teboulle's η⁻¹; 0.5 by default.</summary>
    public double BacktrackingDecay { get; init; } = 0.5;

    /// <summary>
    /// Restart on objective increase (O'Donoghue–Candès function-value scheme, monotone variant): when an accepted
    /// step would raise F, it is discarded, the momentum is reset and the next step is a plain proximal-gradient
    /// step from the previous iterate, so the recorded objective never increases.
    /// </summary>
    public bool RestartOnIncrease { get; init; } = true;

    /// <summary>Record F(x_k) after every iteration (for tests and plots); off by default (it costs nothing but memory).</summary>
    public bool RecordHistory { get; init; }

    /// <summary>
    /// <see cref="DeviceFistaSolver"/> only: iterations between two convergence checks (each check reads a few scalars
    /// per slice back to the host; the iterations in between make no host round trip). 10 by default.
    /// </summary>
    public int CheckInterval { get; init; } = 10;

    /// <summary>
    /// Stops the solve with <see cref="OperationCanceledException"/>: <see cref="FistaSolver"/> checks it before every
    /// iteration (each one a batched pass over the curvature), <see cref="DeviceFistaSolver"/> at every check window.
    /// </summary>
    public CancellationToken CancellationToken { get; init; }

    internal void Validate()
    {
        if (CheckInterval < 1)
            throw new ArgumentOutOfRangeException(nameof(CheckInterval), CheckInterval, "Check at least every iteration (≥ 1).");
        if (!(Tolerance >= 0) || !double.IsFinite(Tolerance))
            throw new ArgumentOutOfRangeException(nameof(Tolerance), Tolerance, "The tolerance must be finite and non-negative.");
        if (MaxIterations < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxIterations), MaxIterations, "At least one iteration.");
        if (InitialStep is double t && (!(t > 0) || !double.IsFinite(t)))
            throw new ArgumentOutOfRangeException(nameof(InitialStep), t, "The initial step must be positive and finite.");
        if (!(BacktrackingDecay > 0 && BacktrackingDecay < 1))
            throw new ArgumentOutOfRangeException(nameof(BacktrackingDecay), BacktrackingDecay, "The decay must lie in (0, 1).");
    }
}

/// <summary>How a FISTA run ended.</summary>
public enum FistaStatus
{
    /// <summary>The relative residual fell below the tolerance.</summary>
    Converged,
    /// <summary>The iteration cap was reached first; the last iterate is returned.</summary>
    IterationLimit,
    /// <summary>A non-finite value appeared (bad input or overflow); the last finite iterate is returned.</summary>
    NonFinite,
}

/// <summary>The outcome of one slice (one λ1) of a FISTA batch.</summary>
/// <param name="Lambda1">The L1 weight of this slice.</param>
/// <param name="Solution">The final iterate x.</param>
/// <param name="CurvatureTimesSolution">Q x at the final iterate (free: the solver tracks it), so callers can evaluate f-related quantities without another pass.</param>
/// <param name="Objective">F(x) = ½xᵀQx − bᵀx + λ1‖x‖₁.</param>
/// <param name="Iterations">Iterations taken (each one a batched pass for this slice, plus <paramref name="BacktrackingSteps"/> extra trials).</param>
/// <param name="FinalStep">Step size t at the end (non-increasing over the run).</param>
/// <param name="Residual">Relative residual ‖z − y‖ / ‖z‖ of the last accepted step (0 when exactly stationary; see <see cref="FistaOptions.Tolerance"/>).</param>
/// <param name="Status">Converged, iteration limit, or non-finite.</param>
/// <param name="Restarts">Number of momentum restarts.</param>
/// <param name="BacktrackingSteps">Number of rejected trial steps.</param>
/// <param name="ObjectiveHistory">F(x_k) for k = 0 (x₀ = 0) … Iterations, when recorded.</param>
public sealed record FistaResult(
    double Lambda1,
    double[] Solution,
    double[] CurvatureTimesSolution,
    double Objective,
    int Iterations,
    double FinalStep,
    double Residual,
    FistaStatus Status,
    int Restarts,
    int BacktrackingSteps,
    IReadOnlyList<double>? ObjectiveHistory);
