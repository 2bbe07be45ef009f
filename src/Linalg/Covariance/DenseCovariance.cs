using Saliency.Kernels.Backends;
using MathNet.Numerics.LinearAlgebra;
using MathNet.Numerics.LinearAlgebra.Factorization;
using Saliency.Linalg.Grid;

namespace Saliency.Linalg.Covariance;

/// <summary>
/// A user-given dense symmetric positive definite covariance (p×p), factorised once by Cholesky
/// (<c>Σ = LLᵀ</c>, MathNet.Numerics): <c>Σx</c> and <c>Lε</c> cost O(p²), <c>Σ⁻¹b</c> two triangular solves.
/// </summary>
/// <remarks>
/// Validation at construction, before any factorisation is used: the size must be p×p, every entry finite, the matrix
/// symmetric to a relative tolerance of 1e-10 (<c>|Σᵢⱼ − Σⱼᵢ| ≤ 1e-10·max|Σ|</c>), and the Cholesky factor must exist with
/// <c>min Lᵢᵢ² ≥ 1e-12 · max Lᵢᵢ²</c> (a cheap guard against numerically singular matrices, whose inverse and
/// LEG estimate would be meaningless). Failures raise <see cref="CovarianceNotPositiveDefiniteException"/>.
/// The matrix is symmetrised as <c>(Σ + Σᵀ)/2</c> before factorising.
/// </remarks>
internal sealed class DenseCovariance : ICovarianceOperator
{
    /// <summary>Relative symmetry tolerance.</summary>
    public const double SymmetryTolerance = 1e-10;

    /// <summary>Smallest accepted ratio min Lᵢᵢ² / max Lᵢᵢ² of the Cholesky factor.</summary>
    public const double SingularityTolerance = 1e-12;

    private readonly Matrix<double> _sigma;
    private readonly Cholesky<double> _cholesky;
    private readonly Matrix<double> _factor;
    private readonly double[] _sigmaRowMajor;   // for allocation-free SIMD Σx.
    private readonly double[] _factorRowMajor;  // for allocation-free SIMD Lε (lower triangle only is read).

    /// <summary>Creates the covariance from a p×p matrix (copied).</summary>
    /// <exception cref="ArgumentOutOfRangeException">Bad shape.</exception>
    /// <exception cref="ArgumentException">The matrix is not p×p.</exception>
    /// <exception cref="NonFiniteValueException">An entry is NaN or infinite.</exception>
    /// <exception cref="CovarianceNotPositiveDefiniteException">Not symmetric, singular or indefinite.</exception>
    public DenseCovariance(GridShape shape, Matrix<double> covariance)
    {
        shape.Validate(nameof(shape));
        ArgumentNullException.ThrowIfNull(covariance);
        int p = shape.Count;
        if (covariance.RowCount != p || covariance.ColumnCount != p)
            throw new ArgumentException($"Covariance is {covariance.RowCount}×{covariance.ColumnCount}, the {shape} grid needs {p}×{p}.", nameof(covariance));
        var values = covariance.ToColumnMajorArray();
        GridGuards.Finite(values, nameof(covariance));

        double scale = 0;
        foreach (double v in values) scale = Math.Max(scale, Math.Abs(v));
        for (int i = 0; i < p; i++)
            for (int j = i + 1; j < p; j++)
            {
                double a = values[j * p + i], b = values[i * p + j];
                if (Math.Abs(a - b) > SymmetryTolerance * scale)
                    throw new CovarianceNotPositiveDefiniteException(
                        $"Covariance is not symmetric: Σ[{i},{j}] = {a} but Σ[{j},{i}] = {b}.", nameof(covariance));
            }

        Shape = shape;
        _sigma = (covariance + covariance.Transpose()) * 0.5;
        try
        {
            _cholesky = _sigma.Cholesky();
        }
        catch (ArgumentException e)
        {
            throw new CovarianceNotPositiveDefiniteException("Covariance is not positive definite (Cholesky factorisation failed).", nameof(covariance), e);
        }
        _factor = _cholesky.Factor;
        double minPivot = double.PositiveInfinity, maxPivot = 0;
        for (int i = 0; i < p; i++)
        {
            double d = _factor[i, i] * _factor[i, i];
            if (!double.IsFinite(d))
                throw new CovarianceNotPositiveDefiniteException("Covariance is not positive definite (non-finite Cholesky pivot).", nameof(covariance));
            minPivot = Math.Min(minPivot, d);
            maxPivot = Math.Max(maxPivot, d);
        }
        if (!(maxPivot > 0) || minPivot < SingularityTolerance * maxPivot)
            throw new CovarianceNotPositiveDefiniteException(
                $"Covariance is numerically singular (Cholesky pivot ratio {minPivot / maxPivot:E2} < {SingularityTolerance:E0}).", nameof(covariance));
        _sigmaRowMajor = _sigma.ToRowMajorArray();
        _factorRowMajor = _factor.ToRowMajorArray();
    }

    /// <summary>Creates the covariance from a row-major p×p array (copied).</summary>
    /// <exception cref="ArgumentException">The array does not hold p² entries.</exception>
    /// <exception cref="NonFiniteValueException">An entry is NaN or infinite.</exception>
    /// <exception cref="CovarianceNotPositiveDefiniteException">Not symmetric, singular or indefinite.</exception>
    public static DenseCovariance FromRowMajor(GridShape shape, ReadOnlySpan<double> rowMajor)
    {
        shape.Validate(nameof(shape));
        int p = shape.Count;
        GridGuards.Length(rowMajor.Length, checked(p * p), nameof(rowMajor));
        var m = Matrix<double>.Build.Dense(p, p);
        for (int i = 0; i < p; i++)
            for (int j = 0; j < p; j++)
                m[i, j] = rowMajor[i * p + j];
        return new DenseCovariance(shape, m);
    }

    /// <inheritdoc />
    public GridShape Shape { get; }

    /// <summary>The (symmetrised) covariance matrix, a copy.</summary>
    public Matrix<double> Matrix => _sigma.Clone();

    /// <summary>The lower-triangular Cholesky factor L (Σ = LLᵀ), a copy.</summary>
    public Matrix<double> CholeskyFactor => _factor.Clone();

    /// <inheritdoc />
    public void Apply(ReadOnlySpan<double> x, Span<double> y) => Multiply(_sigmaRowMajor, x, y, lowerTriangular: false);

    /// <inheritdoc />
    public void Solve(ReadOnlySpan<double> b, Span<double> x)
    {
        GridGuards.Length(b.Length, Shape.Count, nameof(b));
        GridGuards.Length(x.Length, Shape.Count, nameof(x));
        var result = _cholesky.Solve(Vector<double>.Build.DenseOfArray(b.ToArray()));
        result.AsArray().AsSpan().CopyTo(x);
    }

    /// <summary><c>z = L ε</c> with the Cholesky factor L.</summary>
    public void ApplyFactor(ReadOnlySpan<double> standardNormal, Span<double> z) => Multiply(_factorRowMajor, standardNormal, z, lowerTriangular: true);

    /// <inheritdoc />
    public void ApplyDPseudoInverseTransposeSigma(ReadOnlySpan<double> g, Span<double> r) =>
        CovarianceGuards.DPseudoInverseTransposeSigma(this, g, r);

    /// <inheritdoc />
    public void ApplySigmaDPseudoInverse(ReadOnlySpan<double> v, Span<double> g) =>
        CovarianceGuards.SigmaDPseudoInverse(this, v, g);

    // y = M x for a row-major p×p M; for a lower-triangular M only the first i+1 entries of row i are read.
    // Computed bottom-up when lowerTriangular so that y may alias x (row i reads x[0..i] only).
    private void Multiply(double[] m, ReadOnlySpan<double> x, Span<double> y, bool lowerTriangular)
    {
        int p = Shape.Count;
        GridGuards.Length(x.Length, p, nameof(x));
        GridGuards.Length(y.Length, p, nameof(y));
        if (lowerTriangular)
        {
            for (int i = p - 1; i >= 0; i--)
                y[i] = System.Numerics.Tensors.TensorPrimitives.Dot(m.AsSpan(i * p, i + 1), x[..(i + 1)]);
            return;
        }
        double[]? copy = x.Overlaps(y) ? x.ToArray() : null;
        ReadOnlySpan<double> source = copy ?? x;
        for (int i = 0; i < p; i++)
            y[i] = System.Numerics.Tensors.TensorPrimitives.Dot(m.AsSpan(i * p, p), source);
    }
}
