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
internal sealed class SumHessian : IDeviceHessianOperator, IDisposable
{
    private readonly IHessianOperator[] _parts;
    private double[] _scratch = [];
    private Saliency.Kernels.Backends.DeviceBuffer<float>? _deviceScratch;

    public SumHessian(IHessianOperator[] parts) => _parts = parts;

    public int Dimension => _parts[0].Dimension;

    /// <summary>The parts' common backend when every part runs on the same device; else null.</summary>
    public Saliency.Kernels.Backends.IComputeBackend? Backend
    {
        get
        {
            var first = (_parts[0] as IDeviceHessianOperator)?.Backend;
            foreach (var part in _parts)
                if (first is null || part is not IDeviceHessianOperator dp || !ReferenceEquals(dp.Backend, first)) return null;
            return first;
        }
    }

    /// <summary>H v = Σⱼ Hⱼ v on the device: the first part into hv, the others through one scratch buffer, added by axpby.</summary>
    public void Multiply(Saliency.Kernels.Backends.DeviceBuffer<float> v, Saliency.Kernels.Backends.DeviceBuffer<float> hv)
    {
        var backend = Backend ?? throw new InvalidOperationException("A part of this Hessian runs on the host only.");
        ((IDeviceHessianOperator)_parts[0]).Multiply(v, hv);
        if (_parts.Length == 1) return;
        if (_deviceScratch is null || _deviceScratch.Length != v.Length)
        {
            _deviceScratch?.Dispose();
            _deviceScratch = backend.Allocate<float>(v.Length);
        }
        int slices = v.Length / Dimension;
        var ones = new float[slices];
        Array.Fill(ones, 1f);
        for (int j = 1; j < _parts.Length; j++)
        {
            ((IDeviceHessianOperator)_parts[j]).Multiply(v, _deviceScratch);
            Saliency.Kernels.Ops.VectorOps.Axpby<float>(_deviceScratch, hv, Dimension, ones, ones);
        }
    }

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
        _deviceScratch?.Dispose();
        _deviceScratch = null;
        foreach (var part in _parts) (part as IDisposable)?.Dispose();
    }
}

/// <summary><c>weight · H</c> for an operator without a weight of its own (the kernel HVP). Disposes the inner operator.</summary>
internal sealed class ScaledHessian : IDeviceHessianOperator, IDisposable
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

    public Saliency.Kernels.Backends.IComputeBackend? Backend => (_inner as IDeviceHessianOperator)?.Backend;

    /// <summary>weight · H v on the device (the inner product, then one in-place scaling pass).</summary>
    public void Multiply(Saliency.Kernels.Backends.DeviceBuffer<float> v, Saliency.Kernels.Backends.DeviceBuffer<float> hv)
    {
        if (Backend is null) throw new InvalidOperationException("The inner Hessian runs on the host only.");
        ((IDeviceHessianOperator)_inner).Multiply(v, hv);
        if (_weight == 1.0) return;
        int slices = v.Length / Dimension;
        var zero = new float[slices];
        var w = new float[slices];
        Array.Fill(w, (float)_weight);
        // hv ← 0·hv + w·hv: axpby with x = y scales in place (β y first, then += α x with α = 0).
        Saliency.Kernels.Ops.VectorOps.Axpby<float>(hv, hv, Dimension, zero, w);
    }

    public void Dispose() => (_inner as IDisposable)?.Dispose();
}
