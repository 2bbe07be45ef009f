using System.Numerics;
using MathNet.Numerics.LinearAlgebra;

namespace Saliency.Linalg.Hessian;

/// <summary>
/// The one validation boundary for the data of a CAFO/CASO Hessian: a Jacobian <c>W</c> (d×c, class-major — class j's
/// gradient at <c>[j·d, (j+1)·d)</c>, which is also MathNet's column-major storage of a d×c matrix) and softmax
/// probabilities <c>p</c> of the same c classes. <see cref="HessianTerm"/>, the solvers' class-major samples and the
/// kernel-backed CASO builder all check through here, before any arithmetic (docs/mathematics.md, "Softmax").
/// </summary>
internal static class JacobianInput
{
    /// <summary>Checks sizes (d, c ≥ 1, |W| = d·c, |p| = c), p (<see cref="SoftmaxCurvature.ValidateProbabilities"/>) and finiteness of W.</summary>
    /// <param name="jacobian">W, class-major.</param>
    /// <param name="dimension">d.</param>
    /// <param name="classCount">c.</param>
    /// <param name="probabilities">p, length c; sums to 1 unless <paramref name="classSubset"/> (then ≤ 1).</param>
    /// <param name="classSubset">W and p keep only some classes.</param>
    /// <param name="paramName">Name reported in the exception.</param>
    /// <exception cref="HessianInputException">Mismatched sizes or a non-finite W entry (with its row and class column).</exception>
    /// <exception cref="ProbabilityVectorException">p is not a probability vector.</exception>
    public static void Validate<T>(ReadOnlySpan<T> jacobian, int dimension, int classCount, ReadOnlySpan<double> probabilities,
        bool classSubset = false, string paramName = "W") where T : IFloatingPointIeee754<T>
    {
        if (dimension < 1 || classCount < 1)
            throw new HessianInputException($"W is {dimension}×{classCount}; d ≥ 1 and c ≥ 1 are required.", paramName);
        if (jacobian.Length != (long)dimension * classCount)
            throw new HessianInputException($"W holds {jacobian.Length} values, d·c = {(long)dimension * classCount}.", paramName);
        if (probabilities.Length != classCount)
            throw new HessianInputException($"W has {classCount} class columns but p has {probabilities.Length} entries.", paramName);
        SoftmaxCurvature.ValidateProbabilities(probabilities, classSubset, paramName: paramName);
        for (int i = 0; i < jacobian.Length; i++)
            if (!T.IsFinite(jacobian[i]))
                throw new HessianInputException(
                    $"W has a non-finite entry ({jacobian[i]}) at row {i % dimension} of class column {i / dimension}.", paramName);
    }

    /// <summary>The same checks for a float64 matrix W (d×c).</summary>
    /// <exception cref="HessianInputException">W or p missing, mismatched sizes, or a non-finite W entry.</exception>
    /// <exception cref="ProbabilityVectorException">p is not a probability vector.</exception>
    public static void Validate(Matrix<double>? jacobian, double[]? probabilities, bool classSubset = false, string paramName = "W")
    {
        if (jacobian is null || probabilities is null) throw new HessianInputException("W and p are required.", paramName);
        var storage = jacobian.AsColumnMajorArray() ?? jacobian.ToColumnMajorArray();
        Validate<double>(storage, jacobian.RowCount, jacobian.ColumnCount, probabilities, classSubset, paramName);
    }
}
