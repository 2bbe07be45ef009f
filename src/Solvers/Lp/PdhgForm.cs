using Saliency.Kernels.Ops.PrimalDual;

namespace Saliency.Solvers.Lp;

/// <summary>Objectives and absolute residuals of one primal-dual point (see <see cref="TvLpCertificate"/>).</summary>
internal readonly record struct KktPoint(double Primal, double Dual, double PrimalResidual, double DualResidual)
{
    public double Error => Math.Sqrt(PrimalResidual * PrimalResidual + DualResidual * DualResidual + (Primal - Dual) * (Primal - Dual));

    public bool IsFinite => double.IsFinite(Primal) && double.IsFinite(Dual) && double.IsFinite(PrimalResidual) && double.IsFinite(DualResidual);

    public TvLpCertificate ToCertificate(double bNorm, double cNorm) => new(
        Primal, Dual, PrimalResidual, DualResidual,
        Math.Abs(Primal - Dual) / (1 + Math.Abs(Primal) + Math.Abs(Dual)),
        PrimalResidual / (1 + bNorm), DualResidual / (1 + cNorm));
}

/// <summary>
/// One LP written as the saddle problem <c>min_x max_y ⟨A x, y⟩ − G*(y)</c> that PDHG iterates on: the step,
/// the KKT evaluation and the map between its dual variable y and the certificate's (u, v).
/// An instance owns its scratch buffers and serves one solve at a time.
/// </summary>
internal abstract class PdhgForm
{
    public abstract int PrimalLength { get; }

    public abstract int DualLength { get; }

    /// <summary>Upper bound on ‖A‖₂ used by the constant step size.</summary>
    public abstract double OperatorNorm { get; }

    /// <summary>‖b‖₂ of the original problem (relative primal residual).</summary>
    public abstract double BNorm { get; }

    /// <summary>√m, ‖c‖₂ of the sparse LP form (relative dual residual).</summary>
    public abstract double CNorm { get; }

    /// <summary>PDLP's initial primal weight ‖c‖/‖b‖ in this form's units.</summary>
    public abstract double InitialPrimalWeight { get; }

    /// <summary>Per-primal-entry step multipliers for diagonal preconditioning (empty: none).</summary>
    public abstract ReadOnlySpan<double> PrimalScale(bool enabled, double eta);

    public abstract PrimalDualStepStats Step(
        ReadOnlySpan<double> x, ReadOnlySpan<double> y, Span<double> xOut, Span<double> yOut, double tau, double sigma,
        ReadOnlySpan<double> primalScale, Span<double> xSum, Span<double> ySum, double averageWeight, bool wantStats);

    /// <summary>
    /// The reflected Halpern step <c>z ← a·(2T(z) − z) + (1 − a)·z₀</c> in place, fused into one sweep, when the form
    /// has such a kernel; false (nothing done) otherwise, and the driver steps and reflects separately.
    /// </summary>
    public virtual bool TryHalpernStep(Span<double> x, Span<double> y, ReadOnlySpan<double> anchorX, ReadOnlySpan<double> anchorY,
        double weight, double tau, double sigma, ReadOnlySpan<double> primalScale) => false;

    /// <summary>True when the form has the float step (<see cref="StepSingle"/>, <see cref="HalpernStepSingle"/>).</summary>
    public virtual bool SupportsSingle => false;

    /// <summary><see cref="Step"/> in float (no averaging, no preconditioning).</summary>
    public virtual PrimalDualStepStats StepSingle(float[] x, float[] y, float[] xOut, float[] yOut, double tau, double sigma, bool wantStats) =>
        throw new NotSupportedException("This LP form has no single-precision step.");

    /// <summary><see cref="TryHalpernStep"/> in float.</summary>
    public virtual void HalpernStepSingle(float[] x, float[] y, float[] anchorX, float[] anchorY, double weight, double tau, double sigma) =>
        throw new NotSupportedException("This LP form has no single-precision step.");

    /// <summary>
    /// Writes into <paramref name="yOut"/> the dual y moved to the nearest point with zero dual residual, when the form
    /// can do that cheaply; false (nothing written) otherwise.
    /// </summary>
    public virtual bool TryProjectDual(ReadOnlySpan<double> y, Span<double> yOut) => false;

    public abstract KktPoint Evaluate(ReadOnlySpan<double> x, ReadOnlySpan<double> y);

    /// <summary>Writes the certificate's (u, v) for this form's dual y.</summary>
    public abstract void SplitDual(ReadOnlySpan<double> y, Span<double> u, Span<double> v);

    /// <summary>Writes this form's dual y for a certificate pair (u, v) (warm starts).</summary>
    public abstract void JoinDual(ReadOnlySpan<double> u, ReadOnlySpan<double> v, Span<double> y);

    /// <summary>Column degrees of D (2 to 4): the Pock–Chambolle preconditioner uses τⱼ ∝ 1/degⱼ.</summary>
    protected static double[] ColumnDegrees(int rows, int cols)
    {
        var deg = new double[rows * cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                deg[r * cols + c] = (r > 0 ? 1 : 0) + (r < rows - 1 ? 1 : 0) + (c > 0 ? 1 : 0) + (c < cols - 1 ? 1 : 0);
        return deg;
    }
}
