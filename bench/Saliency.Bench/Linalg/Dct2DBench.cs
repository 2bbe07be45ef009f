using BenchmarkDotNet.Attributes;
using Saliency.Linalg.Grid;

namespace Saliency.Bench.Linalg;

/// <summary>
/// The separable 2-D DCT-II of <see cref="Dct2D"/> (even/odd-folded cosine matrices, SIMD row updates,
/// ≈ p·(p1+p2)/2 multiply-adds) at the grid sizes LEG uses, and the Neumann-Laplacian pseudo-inverse solve
/// (a DCT pair) that LEG-TV needs once per LP. The peer is the O(p) stencil application of DᵀD on the same grid,
/// the cheapest possible pass over the data.
/// Run: <c>dotnet run -c Release -- --filter '*Dct2DBench*' --job short</c>.
/// </summary>
public class Dct2DBench
{
    private Dct2D _dct = null!;
    private NeumannLaplacian _laplacian = null!;
    private double[] _x = null!;
    private double[] _y = null!;

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
