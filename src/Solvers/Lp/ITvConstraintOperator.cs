using Saliency.Kernels.Backends;
using Saliency.Kernels.Ops.PrimalDual;
using Saliency.Linalg.Grid;

namespace Saliency.Solvers.Lp;

/// <summary>
/// The constraint operator <c>K = D⁺ᵀΣ</c> of the general LEG-TV LP, as a matrix-free map from grid vectors
/// (length p) to difference vectors (length m), with its adjoint.
/// </summary>
/// <remarks>Implementations must be safe to call from several threads at once (batches run in parallel).</remarks>
internal interface ITvConstraintOperator
{
    /// <summary>p, the length of g.</summary>
    int InputLength { get; }

    /// <summary>m, the length of K g.</summary>
    int OutputLength { get; }

    /// <summary>result = K g.</summary>
    void Apply(ReadOnlySpan<double> g, Span<double> result);

    /// <summary>result = Kᵀ v.</summary>
    void ApplyTranspose(ReadOnlySpan<double> v, Span<double> result);
}

/// <summary>K = s² D (the paper's covariance) as an operator; the stencil form solves the same LP faster.</summary>
internal sealed class ScaledDifferenceOperator(GridShape shape, double scale) : ITvConstraintOperator
{
    /// <inheritdoc />
    public int InputLength => shape.Count;

    /// <inheritdoc />
    public int OutputLength => shape.DifferenceCount;

    /// <inheritdoc />
    public void Apply(ReadOnlySpan<double> g, Span<double> result)
    {
        PrimalDualTvStep.ApplyD(shape.Rows, shape.Cols, g, result);
        for (int i = 0; i < OutputLength; i++) result[i] *= scale;
    }

    /// <inheritdoc />
    public void ApplyTranspose(ReadOnlySpan<double> v, Span<double> result)
    {
        PrimalDualTvStep.ApplyDTranspose(shape.Rows, shape.Cols, v, result);
        for (int i = 0; i < InputLength; i++) result[i] *= scale;
    }
}

/// <summary>K as an explicit dense m×p matrix (row-major), e.g. D⁺ᵀΣ formed for a small dense Σ.</summary>
internal sealed class DenseConstraintOperator : ITvConstraintOperator
{
    private readonly double[] _matrix;

    /// <summary>Wraps a row-major m×p matrix (copied).</summary>
    /// <exception cref="ArgumentException">The matrix does not have <paramref name="rows"/>·<paramref name="cols"/> entries.</exception>
    /// <exception cref="NonFiniteValueException">The matrix contains NaN or ±∞.</exception>
    public DenseConstraintOperator(int rows, int cols, ReadOnlySpan<double> rowMajor)
    {
        if (rows < 1 || cols < 1) throw new ArgumentOutOfRangeException(nameof(rows), "Matrix dimensions must be positive.");
        GridGuards.Length(rowMajor.Length, checked(rows * cols), nameof(rowMajor));
        GridGuards.Finite(rowMajor, nameof(rowMajor));
        OutputLength = rows;
        InputLength = cols;
        _matrix = rowMajor.ToArray();
    }

    /// <inheritdoc />
    public int InputLength { get; }

    /// <inheritdoc />
    public int OutputLength { get; }

    /// <inheritdoc />
    public void Apply(ReadOnlySpan<double> g, Span<double> result)
    {
        var a = _matrix.AsSpan();
        for (int i = 0; i < OutputLength; i++)
            result[i] = System.Numerics.Tensors.TensorPrimitives.Dot(a.Slice(i * InputLength, InputLength), g[..InputLength]);
    }

    /// <inheritdoc />
    public void ApplyTranspose(ReadOnlySpan<double> v, Span<double> result)
    {
        result[..InputLength].Clear();
        var a = _matrix.AsSpan();
        for (int i = 0; i < OutputLength; i++)
        {
            double vi = v[i];
            if (vi == 0) continue;
            var row = a.Slice(i * InputLength, InputLength);
            for (int j = 0; j < InputLength; j++) result[j] += vi * row[j];
        }
    }
}

/// <summary>
/// <c>K = D⁺ᵀ Σ = D (DᵀD)⁺ Σ</c> composed from a covariance operator and a grid-Laplacian pseudo-inverse solve
/// (both supplied by the caller, e.g. the DCT-based solves of Saliency.Linalg); <c>Kᵀ = Σ (DᵀD)⁺ Dᵀ</c>
/// (Σ and (DᵀD)⁺ are symmetric).
/// </summary>
internal sealed class CovarianceConstraintOperator : ITvConstraintOperator
{
    private readonly GridShape _shape;
    private readonly SpanAction _covariance;
    private readonly SpanAction _laplacianPseudoInverse;

    /// <summary>result = A input for a symmetric p×p operator A; must not keep the spans.</summary>
    public delegate void SpanAction(ReadOnlySpan<double> input, Span<double> result);

    /// <summary>Builds K from Σ (apply) and (DᵀD)⁺ (apply), both symmetric maps of grid vectors.</summary>
    public CovarianceConstraintOperator(GridShape shape, SpanAction covariance, SpanAction laplacianPseudoInverse)
    {
        shape.Validate(nameof(shape));
        _shape = shape;
        _covariance = covariance ?? throw new ArgumentNullException(nameof(covariance));
        _laplacianPseudoInverse = laplacianPseudoInverse ?? throw new ArgumentNullException(nameof(laplacianPseudoInverse));
    }

    /// <inheritdoc />
    public int InputLength => _shape.Count;

    /// <inheritdoc />
    public int OutputLength => _shape.DifferenceCount;

    /// <inheritdoc />
    public void Apply(ReadOnlySpan<double> g, Span<double> result)
    {
        int p = InputLength;
        var pool = System.Buffers.ArrayPool<double>.Shared;
        double[] t1 = pool.Rent(p), t2 = pool.Rent(p);
        try
        {
            _covariance(g, t1.AsSpan(0, p));
            _laplacianPseudoInverse(t1.AsSpan(0, p), t2.AsSpan(0, p));
            PrimalDualTvStep.ApplyD(_shape.Rows, _shape.Cols, t2.AsSpan(0, p), result);
        }
        finally
        {
            pool.Return(t1);
            pool.Return(t2);
        }
    }

    /// <inheritdoc />
    public void ApplyTranspose(ReadOnlySpan<double> v, Span<double> result)
    {
        int p = InputLength;
        var pool = System.Buffers.ArrayPool<double>.Shared;
        double[] t1 = pool.Rent(p), t2 = pool.Rent(p);
        try
        {
            PrimalDualTvStep.ApplyDTranspose(_shape.Rows, _shape.Cols, v, t1.AsSpan(0, p));
            _laplacianPseudoInverse(t1.AsSpan(0, p), t2.AsSpan(0, p));
            _covariance(t2.AsSpan(0, p), result);
        }
        finally
        {
            pool.Return(t1);
            pool.Return(t2);
        }
    }
}
