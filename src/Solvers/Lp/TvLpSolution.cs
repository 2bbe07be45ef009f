namespace Saliency.Solvers.Lp;

/// <summary>How a LEG-TV solve ended. Never silent: anything but <see cref="Optimal"/> means the tolerance was
/// not reached and the certificate says by how much.</summary>
internal enum TvLpStatus
{
    /// <summary>Relative gap and residuals are within the tolerance.</summary>
    Optimal,

    /// <summary>The iteration cap was reached first; the returned point is the best checked one.</summary>
    IterationLimit,

    /// <summary>An iterate became NaN or infinite (e.g. an operator norm estimate was badly off).</summary>
    NumericalError,
}

/// <summary>
/// The optimality certificate of a returned point, computed from the returned vectors alone (primal g, dual
/// u and v) for <c>min ‖Dg‖₁ s.t. ‖b − Kg‖∞ ≤ L</c> and its dual
/// <c>max −⟨v, b⟩ − L‖v‖₁ s.t. Dᵀu + Kᵀv = 0, ‖u‖∞ ≤ 1</c>.
/// </summary>
/// <param name="PrimalObjective">‖D g‖₁.</param>
/// <param name="DualObjective">−⟨v, b⟩ − L‖v‖₁.</param>
/// <param name="PrimalResidual">‖(|b − K g| − L)₊‖₂ (constraint violation).</param>
/// <param name="DualResidual">‖Dᵀu + Kᵀv‖₂ (‖u‖∞ ≤ 1 holds by construction).</param>
/// <param name="RelativeGap">|p − d| / (1 + |p| + |d|).</param>
/// <param name="RelativePrimalResidual">PrimalResidual / (1 + ‖b‖₂).</param>
/// <param name="RelativeDualResidual">DualResidual / (1 + √m) (√m = ‖c‖₂ of the LP's sparse form, objective Σt).</param>
internal readonly record struct TvLpCertificate(
    double PrimalObjective, double DualObjective, double PrimalResidual, double DualResidual,
    double RelativeGap, double RelativePrimalResidual, double RelativeDualResidual)
{
    /// <summary>True when all three relative measures are ≤ <paramref name="tolerance"/>.</summary>
    public bool Within(double tolerance) =>
        RelativeGap <= tolerance && RelativePrimalResidual <= tolerance && RelativeDualResidual <= tolerance;
}

/// <summary>A primal-dual pair to start a solve from (typically the solution at a nearby L).</summary>
/// <param name="G">Primal g (length p).</param>
/// <param name="U">Dual of the TV term (length m).</param>
/// <param name="V">Dual of the constraint (length m).</param>
/// <param name="PrimalWeight">Primal weight ω to start with (≤ 0: the default).</param>
internal sealed record TvLpWarmStart(double[] G, double[] U, double[] V, double PrimalWeight = 0);

/// <summary>The result of one LEG-TV LP: primal and dual vectors, certificate, status and effort.</summary>
internal sealed class TvLpSolution
{
    internal TvLpSolution(TvLpProblem problem, double[] g, double[] u, double[] v, TvLpStatus status,
        TvLpCertificate certificate, int iterations, int restarts, double primalWeight, bool meanFixed)
    {
        MeanFixed = meanFixed;
        Problem = problem;
        G = g;
        U = u;
        V = v;
        Status = status;
        Certificate = certificate;
        Iterations = iterations;
        Restarts = restarts;
        PrimalWeight = primalWeight;
    }

    /// <summary>The problem solved.</summary>
    public TvLpProblem Problem { get; }

    /// <summary>The LEG-TV saliency g (length p, row-major); its mean equals <see cref="TvLpOptions.TargetMean"/>
    /// when <see cref="MeanFixed"/>.</summary>
    public double[] G { get; }

    /// <summary>True when the LP left the constant of g free (K1 = 0) and the mean of g was set to
    /// <see cref="TvLpOptions.TargetMean"/>; false when K1 ≠ 0 pins the constant.</summary>
    public bool MeanFixed { get; }

    /// <summary>Dual u (TV term, ‖u‖∞ ≤ 1).</summary>
    public double[] U { get; }

    /// <summary>Dual v (constraint).</summary>
    public double[] V { get; }

    /// <summary>Optimal, or why not.</summary>
    public TvLpStatus Status { get; }

    /// <summary>Objectives, gap and residuals of (G, U, V).</summary>
    public TvLpCertificate Certificate { get; }

    /// <summary>PDHG iterations (accepted steps) taken.</summary>
    public int Iterations { get; }

    /// <summary>Restarts performed.</summary>
    public int Restarts { get; }

    /// <summary>Primal weight ω at the end (carried by warm starts).</summary>
    public double PrimalWeight { get; }

    /// <summary>This solution as a warm start for a nearby problem.</summary>
    public TvLpWarmStart AsWarmStart() => new(G, U, V, PrimalWeight);
}
