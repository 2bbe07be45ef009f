using MathNet.Numerics.LinearAlgebra;

namespace Saliency.Linalg.Hessian;

/// <summary>
/// One summand <c>weight · W A Wᵀ</c> of a (possibly averaged) Hessian: the Jacobian <c>W</c> (d×c, column i
/// = ∇ₓ logitᵢ, so MathNet's column-major storage is class-major) and the softmax probabilities <c>p</c> of
/// the same c classes. Smooth CASO averages n such terms (weight 1/n each).
/// </summary>
/// <param name="Jacobian">W, d×c.</param>
/// <param name="Probabilities">p, length c. All classes (sum 1) unless <paramref name="ClassSubset"/>.</param>
/// <param name="Weight">Positive weight of this term.</param>
/// <param name="ClassSubset">True when W and p keep only some classes (Σp ≤ 1); A is then the matching sub-block of diag(p) − ppᵀ.</param>
internal sealed record HessianTerm(Matrix<double> Jacobian, double[] Probabilities, double Weight = 1.0, bool ClassSubset = false)
{
    /// <summary>Input dimension d.</summary>
    public int Dimension => Jacobian.RowCount;

    /// <summary>Number of classes c of this term.</summary>
    public int ClassCount => Jacobian.ColumnCount;

    /// <summary>Validates W and p (<see cref="JacobianInput"/>) and the weight.</summary>
    /// <exception cref="HessianInputException">Mismatched sizes, non-finite W, non-positive weight.</exception>
    /// <exception cref="ProbabilityVectorException">p is not a probability vector.</exception>
    public void Validate(string paramName = "term")
    {
        JacobianInput.Validate(Jacobian, Probabilities, ClassSubset, paramName);
        if (!(Weight > 0) || !double.IsFinite(Weight))
            throw new HessianInputException($"The term weight {Weight} must be positive and finite.", paramName);
    }
}
