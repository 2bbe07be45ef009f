using Saliency.Kernels.Ops;
using Saliency.Linalg.Covariance;
using Saliency.Linalg.Grid;
using Saliency.Solvers.Lp;

namespace Saliency.Solvers.Leg;

/// <summary>Settings of the LEG sampling stage (shared by empirical LEG and LEG-TV).</summary>
internal sealed record LegOptions
{
    /// <summary>The coarse grid on which perturbations are drawn and saliency is estimated (default 28×28).</summary>
    public GridShape Grid { get; init; } = new(28, 28);

    /// <summary>σ² of the default covariance <c>σ²(DᵀD + 11ᵀ/p)</c> (paper: 0.05…0.3, default 0.1). Ignored when
    /// <see cref="Covariance"/> is given.</summary>
    public double NoiseVariance { get; init; } = 0.1;

    /// <summary>The perturbation covariance on <see cref="Grid"/>; null = the paper's <see cref="TvCovariance"/> with
    /// <see cref="NoiseVariance"/>.</summary>
    public ICovarianceOperator? Covariance { get; init; }

    /// <summary>Number n of perturbed evaluations of f (paper: 500…3000). Must be even with <see cref="Antithetic"/>.</summary>
    public int SampleCount { get; init; } = 1000;

    /// <summary>Perturbed inputs evaluated per call of <see cref="IBatchedScalarFunction.Evaluate"/> (with
    /// <see cref="Antithetic"/>, ⌊BatchSize/2⌋ draws (at least one) and their negatives per call). Memory use is
    /// O(BatchSize · C·H·W) whatever n is.</summary>
    public int BatchSize { get; init; } = 50;

    /// <summary>Seed of the Philox stream; the same seed gives the same estimate, whatever the batch size.</summary>
    public ulong Seed { get; init; }

    /// <summary>Antithetic sampling: every draw z is used as +z and −z (n/2 draws, n evaluations), which cancels the
    /// even-order terms of f's expansion in <c>y</c>.</summary>
    public bool Antithetic { get; init; }

    /// <summary>Grid-to-image upsampling of the perturbations (default nearest: ×8 blocks for 28×28 on 224×224;
    /// bilinear optional).</summary>
    public UpsamplingMode Upsampling { get; init; } = UpsamplingMode.Nearest;

    /// <summary>The covariance actually used.</summary>
    public ICovarianceOperator ResolveCovariance() => Covariance ?? new TvCovariance(Grid, NoiseVariance);

    internal void Validate()
    {
        Grid.Validate(nameof(Grid));
        if (Covariance is null && (!(NoiseVariance > 0) || !double.IsFinite(NoiseVariance)))
            throw new ArgumentOutOfRangeException(nameof(NoiseVariance), NoiseVariance, "σ² must be positive and finite.");
        if (Covariance is not null && Covariance.Shape != Grid)
            throw new ArgumentException($"The covariance lives on a {Covariance.Shape} grid, the options ask for {Grid}.", nameof(Covariance));
        if (SampleCount < 1)
            throw new ArgumentOutOfRangeException(nameof(SampleCount), SampleCount, "At least one sample is needed.");
        if (Antithetic && SampleCount % 2 != 0)
            throw new ArgumentOutOfRangeException(nameof(SampleCount), SampleCount, "Antithetic sampling needs an even number of evaluations.");
        if (BatchSize < 1)
            throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "The batch size must be ≥ 1.");
    }
}

/// <summary>How LEG-TV's constraint level L is chosen.</summary>
internal enum LegTvBoundRule
{
    /// <summary><c>L = K_L · L_max</c> with <c>L_max = ‖D⁺ᵀy‖∞</c>-type smallest level giving zero TV (paper: K_L ∈ {0.05, 0.1}).</summary>
    RelativeToMax,

    /// <summary>The theoretical <c>L = √(2‖D⁺‖₁ log(p/ε)/n)</c> (Luo, Barut, Jin, Theorem 1).</summary>
    Theoretical,

    /// <summary>A fixed L given in <see cref="LegTvOptions.Bound"/>.</summary>
    Fixed,
}

/// <summary>Settings of the LEG-TV stage.</summary>
internal sealed record LegTvOptions
{
    /// <summary>How L is chosen (default <see cref="LegTvBoundRule.RelativeToMax"/>).</summary>
    public LegTvBoundRule BoundRule { get; init; } = LegTvBoundRule.RelativeToMax;

    /// <summary>K_L for <see cref="LegTvBoundRule.RelativeToMax"/> (default 0.1).</summary>
    public double BoundFactor { get; init; } = 0.1;

    /// <summary>ε of the theoretical rule (the failure probability of the bound; default 0.05).</summary>
    public double Epsilon { get; init; } = 0.05;

    /// <summary>L for <see cref="LegTvBoundRule.Fixed"/>.</summary>
    public double Bound { get; init; }

    /// <summary>LP solver settings. Its <see cref="TvLpOptions.TargetMean"/> must stay 0: LEG-TV sets it per channel to
    /// the empirical LEG's mean (the paper's consistent estimate of the constant the LP leaves free).</summary>
    public TvLpOptions Solver { get; init; } = new();

    internal void Validate()
    {
        switch (BoundRule)
        {
            case LegTvBoundRule.RelativeToMax when !(BoundFactor >= 0) || !double.IsFinite(BoundFactor):
                throw new ArgumentOutOfRangeException(nameof(BoundFactor), BoundFactor, "K_L must be finite and ≥ 0.");
            case LegTvBoundRule.Theoretical when !(Epsilon > 0 && Epsilon < 1):
                throw new ArgumentOutOfRangeException(nameof(Epsilon), Epsilon, "ε must lie in (0, 1).");
            case LegTvBoundRule.Fixed when !(Bound >= 0) || !double.IsFinite(Bound):
                throw new ArgumentOutOfRangeException(nameof(Bound), Bound, "L must be finite and ≥ 0.");
        }
        ArgumentNullException.ThrowIfNull(Solver, nameof(Solver));
        CheckSolver(Solver, nameof(Solver));
    }

    /// <summary>Rejects a TargetMean that LEG-TV would silently replace by the empirical LEG's mean.</summary>
    internal static void CheckSolver(TvLpOptions solver, string paramName)
    {
        if (solver.TargetMean != 0)
            throw new ArgumentOutOfRangeException(paramName, solver.TargetMean,
                "TargetMean is set per channel by LEG-TV (the empirical LEG's mean); leave it at 0.");
    }
}
