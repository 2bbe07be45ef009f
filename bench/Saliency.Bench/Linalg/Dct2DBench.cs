using System.Numerics;
using BenchmarkDotNet.Attributes;
using MathNet.Numerics.IntegralTransforms;
using Saliency.Linalg.Grid;

namespace Saliency.Bench.Linalg;

/// <summary>
/// The separable 2-D DCT-II of <see cref="Dct2D"/> (even/odd-folded cosine matrices, SIMD row updates,
/// ≈ p·(p1+p2)/2 multiply-adds) at the grid sizes LEG uses, and the Neumann-Laplacian pseudo-inverse solve
/// (a DCT pair) that LEG-TV needs once per LP. The peer is the O(p) stencil application of DᵀD on the same grid,
/// the cheapest possible pass over the data. The algorithmic peer is an FFT-based DCT-II (Makhoul's reordering,
/// one complex FFT of length N per line through MathNet.Numerics, which uses Bluestein's algorithm for lengths that
/// are not powers of two, such as 28, 112 and 224), checked against <see cref="Dct2D"/> in the setup.
/// Run: <c>dotnet run -c Release -- --filter '*Dct2DBench*' --job short</c>.
/// </summary>
public class Dct2DBench
{
    private Dct2D _dct = null!;
    private NeumannLaplacian _laplacian = null!;
    private double[] _x = null!;
    private double[] _y = null!;
    private MakhoulDct _fftDct = null!;

    /// <summary>Grid side G.</summary>
    [Params(28, 112, 224)]
    public int GridSide { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var shape = new GridShape(GridSide, GridSide);
        _dct = Dct2D.For(shape);
        _laplacian = NeumannLaplacian.For(shape);
        var rng = new Random(1);
        _x = Enumerable.Range(0, shape.Count).Select(_ => rng.NextDouble()).ToArray();
        _y = new double[shape.Count];
        _fftDct = new MakhoulDct(GridSide);
        var reference = new double[shape.Count];
        _dct.Forward(_x, reference);
        _fftDct.Forward2D(_x, _y, GridSide);
        double error = reference.Zip(_y, (a, b) => Math.Abs(a - b)).Max();
        if (error > 1e-9) throw new InvalidOperationException($"FFT-based DCT disagrees with Dct2D by {error}.");
    }

    /// <summary>Peer: FFT-based (Makhoul + MathNet FFT) orthonormal 2-D DCT-II.</summary>
    [Benchmark]
    public double FftBasedForward()
    {
        _fftDct.Forward2D(_x, _y, GridSide);
        return _y[0];
    }

    /// <summary>Forward orthonormal DCT-II.</summary>
    [Benchmark]
    public double Forward()
    {
        _dct.Forward(_x, _y);
        return _y[0];
    }

    /// <summary>(DᵀD)⁺ solve: DCT, divide by the eigenvalues, inverse DCT.</summary>
    [Benchmark]
    public double PseudoInverseSolve()
    {
        _laplacian.SolvePseudoInverse(_x, _y);
        return _y[0];
    }

    /// <summary>Peer: one stencil application of DᵀD (O(p)).</summary>
    [Benchmark(Baseline = true)]
    public double StencilApply()
    {
        _laplacian.Apply(_x, _y);
        return _y[0];
    }
}

/// <summary>Orthonormal DCT-II of length N via one length-N complex FFT (Makhoul 1980), applied to rows and columns.</summary>
internal sealed class MakhoulDct(int n)
{
    private readonly Complex[] _buffer = new Complex[n];
    private readonly Complex[] _twiddle = Enumerable.Range(0, n)
        .Select(k => Complex.FromPolarCoordinates(k == 0 ? Math.Sqrt(1.0 / n) : Math.Sqrt(2.0 / n), -Math.PI * k / (2.0 * n))).ToArray();
    private readonly double[] _column = new double[n];
    private readonly double[] _work = new double[n * n];

    public void Forward1D(ReadOnlySpan<double> x, Span<double> y)
    {
        for (int k = 0; k < (n + 1) / 2; k++) _buffer[k] = x[2 * k];
        for (int k = 0; k < n / 2; k++) _buffer[n - 1 - k] = x[2 * k + 1];
        Fourier.Forward(_buffer, FourierOptions.Matlab);
        for (int k = 0; k < n; k++) y[k] = (_twiddle[k] * _buffer[k]).Real;
    }

    public void Forward2D(ReadOnlySpan<double> x, Span<double> y, int side)
    {
        for (int r = 0; r < side; r++) Forward1D(x.Slice(r * side, side), _work.AsSpan(r * side, side));
        for (int c = 0; c < side; c++)
        {
            for (int r = 0; r < side; r++) _column[r] = _work[r * side + c];
            Forward1D(_column, _column);
            for (int r = 0; r < side; r++) y[r * side + c] = _column[r];
        }
    }
}
