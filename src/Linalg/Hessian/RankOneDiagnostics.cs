using MathNet.Numerics.LinearAlgebra;
using MathNet.Numerics.LinearAlgebra.Factorization;

namespace Saliency.Linalg.Hessian;

/// <summary>
/// Theorem 4 of Singla et al. (ICML 2019): when the top probability is <c>1 − (c−1)ε</c> with ε → 0 and c is
/// large, <c>H ≈ g gᵀ / (ε (c−1))</c> with <c>g = W (p − y)</c>, y the one-hot top class. These diagnostics
/// measure how good that rank-one approximation is for a given W and p, without forming H.
/// </summary>
/// <remarks>
/// For general p, <c>ε (c−1)</c> is taken as <c>1 − p_top</c>, the probability mass off the top class
/// (exactly <c>(c−1)ε</c> in the theorem's setting). With <c>κ = 1 − p_top</c>, <c>r = p − y</c>,
/// <c>G = WᵀW</c>, <c>C = Lₐᵀ G Lₐ</c> (see <see cref="HessianSpectrum"/>):
/// <list type="bullet">
/// <item><c>‖H‖_F² = tr(BBᵀBBᵀ) = ‖BᵀB‖_F² = ‖C‖_F²</c>,</item>
/// <item><c>‖g‖² = rᵀ G r</c>, <c>gᵀHg = ‖Bᵀg‖² = ‖Lₐᵀ G r‖²</c>,</item>
/// <item><c>‖H − ggᵀ/κ‖_F² = ‖H‖_F² − 2 gᵀHg/κ + ‖g‖⁴/κ²</c>,</item>
/// <item>top eigenvector <c>u₁ = W Lₐ v₁ / s₁</c>, so <c>u₁ᵀg = v₁ᵀ Lₐᵀ G r / s₁</c>.</item>
/// </list>
/// Everything reduces to the c×c Gram; the d×d matrix H never appears.
/// </remarks>
/// <param name="RelativeError">‖H − ggᵀ/κ‖_F / ‖H‖_F, the theorem's approximation error.</param>
/// <param name="BestRankOneRelativeError">‖H − λ₁u₁u₁ᵀ‖_F / ‖H‖_F = √(1 − λ₁²/Σλᵢ²), the best any rank-one matrix can do (NaN when not computed).</param>
/// <param name="TopEigenvectorCosine">|cos| between the top eigenvector of H and g (NaN when not computed).</param>
/// <param name="OffTopMass">κ = 1 − p_top = ε(c−1).</param>
/// <param name="GradientNormSquared">‖g‖².</param>
/// <param name="HessianFrobeniusSquared">‖H‖_F².</param>
internal sealed record RankOneDiagnostics(
    double RelativeError,
    double BestRankOneRelativeError,
    double TopEigenvectorCosine,
    double OffTopMass,
    double GradientNormSquared,
    double HessianFrobeniusSquared)
{
    /// <summary>
    /// Computes the diagnostics for one Jacobian W (d×c) and a full probability vector p, with y the one-hot
    /// vector of <paramref name="target"/> (default: the top class, as in the theorem).
    /// </summary>
    /// <param name="jacobian">W, d×c.</param>
    /// <param name="probabilities">p, all c classes (sums to 1).</param>
    /// <param name="target">The label class; default argmax p.</param>
    /// <param name="includeEigen">Also solve the c×c eigenproblem for the top-eigenvector cosine and the best rank-one error (O(c³)).</param>
    /// <exception cref="HessianInputException">Mismatched sizes, non-finite W, target out of range, or p concentrated entirely on the top class (κ = 0: the theorem's approximation is undefined).</exception>
    /// <exception cref="ProbabilityVectorException">p is not a full probability vector.</exception>
    public static RankOneDiagnostics Compute(Matrix<double> jacobian, double[] probabilities, int? target = null,
        bool includeEigen = true)
    {
        var term = new HessianTerm(jacobian, probabilities);
        term.Validate(nameof(jacobian));
        int c = term.ClassCount;
        int top = System.Numerics.Tensors.TensorPrimitives.IndexOfMax<double>(probabilities);
        int y = target ?? top;
        if (y < 0 || y >= c) throw new HessianInputException($"Target class {y} is outside 0..{c - 1}.", nameof(target));
        double kappa = 1.0 - probabilities[top];
        if (!(kappa > 0))
            throw new HessianInputException("All probability is on the top class (ε = 0); H = 0 and the rank-one ratio is undefined.", nameof(probabilities));

        var gram = jacobian.TransposeThisAndMultiply(jacobian);
        var la = SoftmaxCurvature.Factor(probabilities);
        var cMat = la.TransposeThisAndMultiply(gram) * la;
        cMat = (cMat + cMat.Transpose()) * 0.5;

        var r = Vector<double>.Build.Dense(c, i => probabilities[i] - (i == y ? 1.0 : 0.0));
        var gr = gram * r;                 // Wᵀg
        double g2 = r.DotProduct(gr);      // ‖g‖²
        var btg = la.TransposeThisAndMultiply(gr); // Bᵀg
        double gHg = btg.DotProduct(btg);
        double h2 = 0;
        foreach (double v in cMat.Enumerate()) h2 += v * v;
        double err2 = h2 - 2 * gHg / kappa + g2 * g2 / (kappa * kappa);
        double rel = h2 > 0 ? Math.Sqrt(Math.Max(0, err2) / h2) : double.NaN;

        double cos = double.NaN, best = double.NaN;
        if (includeEigen && h2 > 0)
        {
            var evd = cMat.Evd(Symmetricity.Symmetric);
            int last = c - 1; // eigenvalues ascending
            double s2 = Math.Max(0, evd.EigenValues[last].Real);
            var v1 = evd.EigenVectors.Column(last);
            double ug = v1.DotProduct(btg) / Math.Sqrt(s2);
            cos = g2 > 0 ? Math.Min(1.0, Math.Abs(ug) / Math.Sqrt(g2)) : double.NaN;
            best = Math.Sqrt(Math.Max(0, 1 - s2 * s2 / h2));
        }
        return new RankOneDiagnostics(rel, best, cos, kappa, g2, h2);
    }
}
