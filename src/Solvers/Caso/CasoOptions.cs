using Saliency.Solvers.Fista;

namespace Saliency.Solvers.Caso;

/// <summary>Which objective to maximise.</summary>
public enum CasoObjectiveKind
{
    /// <summary>First-order: <c>gᵀΔ − λ2‖Δ‖² − λ1‖Δ‖₁</c>.</summary>
    Cafo,
    /// <summary>Second-order: <c>gᵀΔ + ½ΔᵀHΔ − λ2‖Δ‖² − λ1‖Δ‖₁</c>.</summary>
    Caso,
}

/// <summary>Where <see cref="CasoSolver"/> keeps the FISTA state.</summary>
public enum CasoSolverPath
{
    /// <summary>Device-resident when the problem's Hessian runs on an accelerator backend (anything but <see cref="Saliency.Kernels.Backends.BackendKind.Cpu"/>), host otherwise.</summary>
    Auto,
    /// <summary><see cref="FistaSolver"/>: float64 vectors on the host, products through <see cref="IHessianOperator"/> (the reference).</summary>
    Host,
    /// <summary><see cref="DeviceFistaSolver"/>: float32 state on the problem's backend, device HVPs, a few scalars read per check.</summary>
    Device,
}

/// <summary>Settings of <see cref="CasoSolver"/>.</summary>
public sealed record CasoOptions
{
    /// <summary>CASO (default) or CAFO.</summary>
    public CasoObjectiveKind Kind { get; init; } = CasoObjectiveKind.Caso;

    /// <summary>
    /// The margin of the λ2 rule <c>λ2 = L/2 + margin</c> (L = λ_max(H)); the authors' code uses 2 in this convention.
    /// Must be positive: the objective's strong concavity modulus is <c>2·margin</c>.
    /// </summary>
    public double Lambda2Margin { get; init; } = 2.0;

    /// <summary>An explicit λ2 that overrides the rule (checked: &gt; L/2 for CASO, &gt; 0 for CAFO).</summary>
    public double? Lambda2 { get; init; }

    /// <summary>Relative residual tolerance of FISTA (see <see cref="FistaOptions.Tolerance"/>).</summary>
    public double Tolerance { get; init; } = 1e-6;

    /// <summary>FISTA iteration cap per λ1.</summary>
    public int MaxIterations { get; init; } = 1000;

    /// <summary>Function-value restart in FISTA.</summary>
    public bool RestartOnIncrease { get; init; } = true;

    /// <summary>Most λ1 values solved together (one batched HVP pass per iteration for all of them).</summary>
    public int MaxBatch { get; init; } = 16;

    /// <summary>Record FISTA's objective history in the results.</summary>
    public bool RecordHistory { get; init; }

    /// <summary>Host or device-resident FISTA; <see cref="CasoSolverPath.Auto"/> follows the problem's backend.</summary>
    public CasoSolverPath Path { get; init; } = CasoSolverPath.Auto;

    /// <summary>Device path: iterations between convergence checks (see <see cref="FistaOptions.CheckInterval"/>).</summary>
    public int CheckInterval { get; init; } = 10;

    /// <summary>Cancels the FISTA solves (and the λ1 sweep between them); see <see cref="FistaOptions.CancellationToken"/>.</summary>
    public CancellationToken CancellationToken { get; init; }

    internal void Validate()
    {
        if (!(Lambda2Margin > 0) || !double.IsFinite(Lambda2Margin))
            throw new NotStronglyConcaveException(double.NaN, 0, $"The λ2 margin {Lambda2Margin} must be positive and finite.");
        if (CheckInterval < 1) throw new CasoInputException($"CheckInterval = {CheckInterval} must be ≥ 1.", nameof(CheckInterval));
        if (MaxBatch < 1) throw new CasoInputException($"MaxBatch = {MaxBatch} must be ≥ 1.", nameof(MaxBatch));
        if (Lambda2 is double l2 && !double.IsFinite(l2)) throw new CasoInputException($"λ2 = {l2} is not finite.", nameof(Lambda2));
    }
}

/// <summary>One CAFO/CASO solution (one λ1) with everything needed to judge it.</summary>
/// <param name="Kind">CAFO or CASO.</param>
/// <param name="Solution">Δ, the saliency perturbation (length d).</param>
/// <param name="Objective">The maximised objective value at Δ (penalties included).</param>
/// <param name="Loss">The modelled loss increase at Δ: <c>gᵀΔ + ½ΔᵀHΔ</c> (CASO) or <c>gᵀΔ</c> (CAFO); the λ1 sweep keeps the largest.</param>
/// <param name="Iterations">FISTA iterations.</param>
/// <param name="FinalStep">FISTA's final step size.</param>
/// <param name="SparsityRatio">η: fraction of exact zeros in Δ.</param>
/// <param name="Lambda1">L1 weight.</param>
/// <param name="Lambda2">L2 weight used.</param>
/// <param name="LambdaMax">L used by the λ2 rule.</param>
/// <param name="LambdaMaxKind">How L was obtained.</param>
/// <param name="Status">FISTA's convergence status; anything but Converged means the tolerance was not reached.</param>
/// <param name="Residual">Final relative residual.</param>
/// <param name="Restarts">Momentum restarts.</param>
/// <param name="BacktrackingSteps">Rejected FISTA trials.</param>
/// <param name="DroppedProbabilityMass">Mass of the classes left out by top-k selection.</param>
/// <param name="ObjectiveHistory">Maximised objective per iteration, when recorded.</param>
public sealed record CasoResult(
    CasoObjectiveKind Kind,
    double[] Solution,
    double Objective,
    double Loss,
    int Iterations,
    double FinalStep,
    double SparsityRatio,
    double Lambda1,
    double Lambda2,
    double LambdaMax,
    LambdaMaxKind LambdaMaxKind,
    FistaStatus Status,
    double Residual,
    int Restarts,
    int BacktrackingSteps,
    double DroppedProbabilityMass,
    IReadOnlyList<double>? ObjectiveHistory)
{
    /// <summary>True when FISTA reached its tolerance.</summary>
    public bool Converged => Status == FistaStatus.Converged;
}
