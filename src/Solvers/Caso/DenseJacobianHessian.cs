using MathNet.Numerics.LinearAlgebra;
using MathNet.Numerics.LinearAlgebra.Double;

namespace Saliency.Solvers.Caso;

/// <summary>
/// Float64 Hessian-vector products <c>H V = W (A (Wᵀ V))</c>, <c>A = diag(p) − ppᵀ</c>, as two MathNet GEMMs over a
/// host-side W (d×c, class-major). Used where the solvers need double precision on the host (the 1e-6 closed-form
/// agreements, small problems, references); the backends' batched float32 HVP kernels in Saliency.Kernels are the
/// fast path for large W.
/// </summary>
/// <remarks>For a class subset (Σp &lt; 1), A is the matching sub-block of the full curvature, as in the kernels.</remarks>
internal sealed class DenseJacobianHessian : IHessianOperator
{
    private readonly Matrix<double> _w;
    private readonly double[] _p;
    private readonly double _weight;

    public DenseJacobianHessian(Matrix<double> w, double[] p, double weight = 1.0)
    {
        _w = w;
        _p = p;
        _weight = weight;
    }

    public int Dimension => _w.RowCount;

    public void Multiply(ReadOnlySpan<double> v, Span<double> hv, int count)
    {
        int d = _w.RowCount, c = _w.ColumnCount;
        if (v.Length < count * d || hv.Length < count * d)
            throw new CasoInputException($"HVP buffers hold {v.Length} and {hv.Length} values; {count}×{d} are needed.");
        var vm = new DenseMatrix(d, count, v[..(count * d)].ToArray()); // column-major d×count == slice-major
        var t = _w.TransposeThisAndMultiply(vm);                         // c×count: Wᵀ V
        for (int j = 0; j < count; j++)
        {
            double pt = 0;
            for (int i = 0; i < c; i++) pt += _p[i] * t[i, j];
            for (int i = 0; i < c; i++) t[i, j] = _weight * _p[i] * (t[i, j] - pt); // (diag(p) − ppᵀ) t
        }
        var result = (DenseMatrix)(_w * t);
        result.Values.AsSpan(0, count * d).CopyTo(hv);
    }
}

/// <summary>Sum of several Hessian operators (Smooth CASO: each already weighted 1/n). Disposes its parts.</summary>
internal sealed class SumHessian : IHessianOperator, IDisposable
{
    private readonly IHessianOperator[] _parts;
    private double[] _scratch = [];

    public SumHessian(IHessianOperator[] parts) => _parts = parts;

    public int Dimension => _parts[0].Dimension;

    public void Multiply(ReadOnlySpan<double> v, Span<double> hv, int count)
    {
        int n = count * Dimension;
        if (_scratch.Length < n) _scratch = new double[n];
        _parts[0].Multiply(v, hv, count);
        for (int j = 1; j < _parts.Length; j++)
        {
            _parts[j].Multiply(v, _scratch.AsSpan(0, n), count);
            System.Numerics.Tensors.TensorPrimitives.Add<double>(hv[..n], _scratch.AsSpan(0, n), hv[..n]);
        }
    }

    public void Dispose()
    {
        foreach (var part in _parts) (part as IDisposable)?.Dispose();
    }
}

/// <summary><c>weight · H</c> for an operator without a weight of its own (the kernel HVP). Disposes the inner operator.</summary>
internal sealed class ScaledHessian : IHessianOperator, IDisposable
{
    private readonly IHessianOperator _inner;
    private readonly double _weight;

    public ScaledHessian(IHessianOperator inner, double weight)
    {
        _inner = inner;
        _weight = weight;
    }

    public int Dimension => _inner.Dimension;

    public void Multiply(ReadOnlySpan<double> v, Span<double> hv, int count)
    {
        _inner.Multiply(v, hv, count);
        if (_weight != 1.0)
            System.Numerics.Tensors.TensorPrimitives.Multiply<double>(hv[..(count * Dimension)], _weight, hv[..(count * Dimension)]);
    }

    public void Dispose() => (_inner as IDisposable)?.Dispose();
}
