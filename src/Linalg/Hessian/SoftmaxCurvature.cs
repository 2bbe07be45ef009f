using MathNet.Numerics.LinearAlgebra;

namespace Saliency.Linalg.Hessian;

/// <summary>
/// The curvature of cross-entropy in the logits, <c>A = diag(p) − p pᵀ</c>, and its exact square-root
/// factor <c>Lₐ</c> with <c>A = Lₐ Lₐᵀ</c> (docs/mathematics.md, "Spectrum without forming H").
/// </summary>
/// <remarks>
/// With <c>s = √p</c> and <c>m = Σ pᵢ = ‖s‖²</c>,
/// <c>Lₐ = diag(s) (I − α s sᵀ)</c>, <c>α = (1 − √(1 − m)) / m</c>.
/// Proof: <c>(I − α s sᵀ)² = I − (2α − α² m) s sᵀ</c> and <c>2α − α² m = 1</c> for this α, so
/// <c>Lₐ Lₐᵀ = diag(s)(I − s sᵀ)diag(s) = diag(p) − p pᵀ</c>.
/// For a full softmax vector (m = 1) this is <c>diag(√p)(I − √p√pᵀ)</c> of docs/mathematics.md (α = 1, a projector);
/// for the probabilities of a class subset (m &lt; 1) it factors the corresponding sub-block of A exactly,
/// so restricting W to the top-k classes needs no other change. No pivoted Cholesky is needed.
/// </remarks>
internal static class SoftmaxCurvature
{
    /// <summary>Default tolerance on |Σp − 1| for a full probability vector (float32 softmax over ~10⁴ classes stays well inside).</summary>
    public const double DefaultSumTolerance = 1e-5;

    /// <summary>
    /// Checks that <paramref name="p"/> is a probability vector: finite, non-negative entries, summing to 1
    /// (within <paramref name="sumTolerance"/>), or to at most 1 when <paramref name="classSubset"/> is set.
    /// </summary>
    /// <exception cref="ProbabilityVectorException">When any condition fails.</exception>
    public static void ValidateProbabilities(ReadOnlySpan<double> p, bool classSubset = false,
        double sumTolerance = DefaultSumTolerance, string paramName = "p")
    {
        if (p.Length == 0) throw new ProbabilityVectorException("The probability vector is empty.", paramName);
        double sum = 0;
        for (int i = 0; i < p.Length; i++)
        {
            double v = p[i];
            if (!double.IsFinite(v)) throw new ProbabilityVectorException($"p[{i}] = {v} is not finite.", paramName);
            if (v < 0) throw new ProbabilityVectorException($"p[{i}] = {v} is negative.", paramName);
            sum += v;
        }
        if (classSubset)
        {
            if (sum > 1 + sumTolerance)
                throw new ProbabilityVectorException($"The probabilities of a class subset sum to {sum}, more than 1.", paramName);
            if (sum <= 0) throw new ProbabilityVectorException("The probabilities of the class subset are all zero.", paramName);
        }
        else if (Math.Abs(sum - 1) > sumTolerance)
        {
            throw new ProbabilityVectorException(
                $"The probabilities sum to {sum}, not 1 (tolerance {sumTolerance}); pass classSubset: true for the probabilities of a subset of classes.",
                paramName);
        }
    }

    /// <summary>The dense matrix <c>A = diag(p) − p pᵀ</c> (c×c). For tests and small problems.</summary>
    public static Matrix<double> Curvature(ReadOnlySpan<double> p)
    {
        int c = p.Length;
        var a = Matrix<double>.Build.Dense(c, c);
        for (int j = 0; j < c; j++)
            for (int i = 0; i < c; i++)
                a[i, j] = (i == j ? p[i] : 0) - p[i] * p[j];
        return a;
    }

    /// <summary>The coefficient α of <c>Lₐ = diag(√p)(I − α√p√pᵀ)</c> for probability mass <paramref name="mass"/> = Σp.</summary>
    public static double FactorAlpha(double mass)
    {
        if (mass <= 0) return 0;
        // Within round-off of a full simplex, use the exact projector of the full simplex (α = 1): √(1 − m) would turn a
        // summation error δ into an α error of √δ (harmless for Lₐ Lₐᵀ, which is stationary in α at m = 1,
        // but it would blur the projector structure). Above 1 the square root would be NaN.
        if (1.0 - mass <= 1e-13) return 1.0;
        double m = mass;
        // (1 − √(1−m))/m written as 1/(1 + √(1−m)) to avoid cancellation for small m.
        return 1.0 / (1.0 + Math.Sqrt(1.0 - m));
    }

    /// <summary>The exact factor <c>Lₐ</c> (c×c) with <c>Lₐ Lₐᵀ = diag(p) − p pᵀ</c>.</summary>
    public static Matrix<double> Factor(ReadOnlySpan<double> p)
    {
        int c = p.Length;
        double mass = 0;
        for (int i = 0; i < c; i++) mass += p[i];
        double alpha = FactorAlpha(mass);
        var s = new double[c];
        for (int i = 0; i < c; i++) s[i] = Math.Sqrt(p[i]);
        var l = Matrix<double>.Build.Dense(c, c);
        for (int j = 0; j < c; j++)
            for (int i = 0; i < c; i++)
                l[i, j] = s[i] * ((i == j ? 1.0 : 0.0) - alpha * s[i] * s[j]);
        return l;
    }
}
