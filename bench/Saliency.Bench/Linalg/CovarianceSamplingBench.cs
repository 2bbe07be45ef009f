using System.Numerics.Tensors;
using BenchmarkDotNet.Attributes;
using MathNet.Numerics.LinearAlgebra;
using Saliency.Kernels.Ops;
using Saliency.Linalg.Covariance;
using Saliency.Linalg.Grid;

namespace Saliency.Bench.Linalg;

/// <summary>
/// One draw z ~ N(0, Σ) for the LEG paper's Σ = σ²(DᵀD + 11ᵀ/p) on a G×G grid: the DCT route
/// (<see cref="TvCovariance"/>: Philox normals, scale by σ√μ, one inverse 2-D DCT) against the dense Cholesky route
/// (Philox normals, then z = Lε with the factor precomputed, p²/2 multiply-adds, SIMD dot products over a packed
/// lower triangle). The Cholesky factor is the true one at 28×28; at 112×112 (p = 12,544) the managed O(p³)
/// factorisation is out of reach (see <see cref="CholeskyFactorisationBench"/> for its measured cost and the
/// extrapolation), so the per-draw cost is measured with a synthetic lower-triangular matrix of the same size —
/// the matrix-vector cost does not depend on the values.
/// Run: <c>dotnet run -c Release -- --filter '*CovarianceSamplingBench*' --job short</c>.
/// </summary>
[MemoryDiagnoser]
public class CovarianceSamplingBench
{
    private TvCovariance _tv = null!;
    private double[] _packedFactor = null!;
    private double[] _z = null!;
    private double[] _white = null!;
    private long _draw;

    /// <summary>Grid side G (the grid is G×G).</summary>
    [Params(28, 112)]
    public int GridSide { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var shape = new GridShape(GridSide, GridSide);
        int p = shape.Count;
        _tv = new TvCovariance(shape, 0.1);
        _z = new double[p];
        _white = new double[p];
        _packedFactor = new double[(long)p * (p + 1) / 2];
        if (p <= 1024)
        {
            var dense = Matrix<double>.Build.Dense(p, p);
            var unit = new double[p];
            var column = new double[p];
            for (int j = 0; j < p; j++)
            {
                Array.Clear(unit);
                unit[j] = 1;
                _tv.Apply(unit, column);
                dense.SetColumn(j, column);
            }
            var l = dense.Cholesky().Factor;
            for (int i = 0, k = 0; i < p; i++)
                for (int j = 0; j <= i; j++)
                    _packedFactor[k++] = l[i, j];
        }
        else
        {
            Array.Fill(_packedFactor, 1e-3);
        }
    }

    /// <summary>DCT route: z = Cᵀ diag(σ√μ) ε.</summary>
    [Benchmark(Baseline = true)]
    public double DctDraw()
    {
        _tv.SampleInto(seed: 1, drawIndex: _draw++, _z);
        return _z[0];
    }

    /// <summary>Dense route with a precomputed Cholesky factor: z = L ε.</summary>
    [Benchmark]
    public double CholeskyDraw()
    {
        int p = _z.Length;
        GaussianRng.Fill<double>(_white, seed: 1, offset: (ulong)(_draw++ * p));
        ReadOnlySpan<double> packed = _packedFactor;
        long rowStart = 0;
        for (int i = 0; i < p; i++)
        {
            _z[i] = TensorPrimitives.Dot(packed.Slice((int)rowStart, i + 1), _white.AsSpan(0, i + 1));
            rowStart += i + 1;
        }
        return _z[0];
    }
}

/// <summary>
/// The one-off cost the dense route pays before its first draw: forming Σ (p×p) and its Cholesky factorisation
/// with MathNet.Numerics' managed provider, at 28×28 (p = 784) and 40×40 (p = 1,600); the ratio of the two measures
/// the exponent, and the 112×112 cost (p = 12,544) is extrapolated as ×(12544/784)³ = ×4096 from 28×28.
/// The DCT route's setup (cosine tables and eigenvalues) is measured alongside as the peer.
/// Run: <c>dotnet run -c Release -- --filter '*CholeskyFactorisationBench*' --job short</c>.
/// </summary>
public class CholeskyFactorisationBench
{
    private Matrix<double> _sigma = null!;

    /// <summary>Grid side G.</summary>
    [Params(28, 40)]
    public int GridSide { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var shape = new GridShape(GridSide, GridSide);
        int p = shape.Count;
        var tv = new TvCovariance(shape, 0.1);
        _sigma = Matrix<double>.Build.Dense(p, p);
        var unit = new double[p];
        var column = new double[p];
        for (int j = 0; j < p; j++)
        {
            Array.Clear(unit);
            unit[j] = 1;
            tv.Apply(unit, column);
            _sigma.SetColumn(j, column);
        }
    }

    /// <summary>Dense Cholesky factorisation of Σ (MathNet, managed).</summary>
    [Benchmark]
    public double CholeskyFactorisation() => _sigma.Cholesky().Factor[0, 0];

    /// <summary>DCT route setup: cosine tables (uncached) and the spectrum of Σ.</summary>
    [Benchmark(Baseline = true)]
    public double DctSetup()
    {
        var shape = new GridShape(GridSide, GridSide);
        var dct = new Dct2D(shape);
        var eig = NeumannLaplacian.ComputeEigenvalues(shape);
        return eig[1] + dct.Shape.Count;
    }
}
