using System.Buffers;
using System.Numerics.Tensors;
using Saliency.Linalg.Grid;

namespace Saliency.Linalg.Covariance;

/// <summary>
/// The LEG paper's perturbation covariance <c>Σ = σ²(DᵀD + 11ᵀ/p)</c> on a p1×p2 grid (Luo, Barut, Jin 2019),
/// diagonalised by the orthonormal 2-D DCT-II: every operation is a DCT pair, O(p·(p1+p2)) (see <see cref="Dct2D"/>),
/// no SVD and no dense matrix.
/// </summary>
/// <remarks>
/// <para><b>Spectrum.</b> <c>DᵀD = Cᵀ diag(λ) C</c> with <c>λᵢⱼ = 4 sin²(πi/2p1) + 4 sin²(πj/2p2)</c> and
/// <c>λ₀₀ = 0</c> (<see cref="NeumannLaplacian"/>). The constant DCT basis vector is <c>u₀ = 1/√p</c>, so
/// <c>11ᵀ/p = u₀u₀ᵀ</c>: under the orthonormal DCT the rank-one term has eigenvalue exactly 1 on mode (0, 0) and 0
/// elsewhere. Hence <c>Σ = Cᵀ diag(σ²μ) C</c> with <c>μ₀₀ = 1</c>, <c>μᵢⱼ = λᵢⱼ</c> otherwise — positive definite.</para>
/// <para><b>Sampling.</b> <see cref="ApplyFactor"/> uses <c>F = Cᵀ diag(σ√μ)</c>: <c>FFᵀ = Σ</c>, one inverse DCT per draw.
/// (The symmetric root <c>Σ^{1/2} = Cᵀdiag(σ√μ)C</c> gives the same distribution, since <c>Cε</c> is again standard
/// normal, at twice the cost.)</para>
/// <para><b>LEG-TV.</b> <c>D⁺ᵀΣ = σ²D</c> because <c>D⁺ᵀDᵀD = D</c> and <c>D⁺ᵀ1 = 0</c>: the LP constraint is a stencil.</para>
/// </remarks>
internal sealed class TvCovariance : ICovarianceOperator
{
    private readonly double[] _eigenvalues;     // σ²μ in DCT order.
    private readonly double[] _inverse;         // 1/(σ²μ).
    private readonly double[] _factorScale;     // σ√μ.
    private readonly Dct2D _dct;
    private readonly NeumannLaplacian _laplacian;

    /// <summary>Creates <c>σ²(DᵀD + 11ᵀ/p)</c> on <paramref name="shape"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Bad shape, or σ² not positive and finite.</exception>
    public TvCovariance(GridShape shape, double variance)
    {
        shape.Validate(nameof(shape));
        CovarianceGuards.Variance(variance, nameof(variance));
        Shape = shape;
        Variance = variance;
        _laplacian = NeumannLaplacian.For(shape);
        _dct = _laplacian.Dct;
        int p = shape.Count;
        _eigenvalues = new double[p];
        _inverse = new double[p];
        _factorScale = new double[p];
        var lambda = _laplacian.Eigenvalues;
        for (int k = 0; k < p; k++)
        {
            double mu = k == 0 ? 1.0 : lambda[k];
            _eigenvalues[k] = variance * mu;
            _inverse[k] = 1.0 / _eigenvalues[k];
            _factorScale[k] = Math.Sqrt(_eigenvalues[k]);
        }
    }

    /// <inheritdoc />
    public GridShape Shape { get; }

    /// <summary>σ².</summary>
    public double Variance { get; }

    /// <summary>Eigenvalues of Σ in DCT coefficient order: <c>σ²</c> on the constant mode, <c>σ²λᵢⱼ</c> elsewhere.</summary>
    public ReadOnlySpan<double> Eigenvalues => _eigenvalues;

    /// <summary><c>y = σ²(DᵀD x + mean(x)·1)</c> by the 5-point stencil, O(p).</summary>
    public void Apply(ReadOnlySpan<double> x, Span<double> y)
    {
        GridGuards.Length(x.Length, Shape.Count, nameof(x));
        GridGuards.Length(y.Length, Shape.Count, nameof(y));
        double mean = TensorPrimitives.Sum(x) / x.Length;   // (11ᵀ/p) x = mean(x)·1; read before y is written (aliasing).
        _laplacian.Apply(x, y);
        TensorPrimitives.Add(y, mean, y);
        TensorPrimitives.Multiply(y, Variance, y);
    }

    /// <inheritdoc />
    public void Solve(ReadOnlySpan<double> b, Span<double> x)
    {
        GridGuards.Length(b.Length, Shape.Count, nameof(b));
        GridGuards.Length(x.Length, Shape.Count, nameof(x));
        _dct.Forward(b, x);
        TensorPrimitives.Multiply(x, _inverse, x);
        _dct.Inverse(x, x);
    }

    /// <inheritdoc />
    public void ApplyFactor(ReadOnlySpan<double> standardNormal, Span<double> z)
    {
        GridGuards.Length(standardNormal.Length, Shape.Count, nameof(standardNormal));
        GridGuards.Length(z.Length, Shape.Count, nameof(z));
        double[] rented = ArrayPool<double>.Shared.Rent(Shape.Count);
        try
        {
            var scaled = rented.AsSpan(0, Shape.Count);
            TensorPrimitives.Multiply(standardNormal, _factorScale, scaled);
            _dct.Inverse(scaled, z);
        }
        finally
        {
            ArrayPool<double>.Shared.Return(rented);
        }
    }

    /// <summary><c>r = D⁺ᵀΣ g = σ² D g</c> (stencil, O(p)).</summary>
    public void ApplyDPseudoInverseTransposeSigma(ReadOnlySpan<double> g, Span<double> r)
    {
        GridDifference.Apply(Shape, g, r);
        TensorPrimitives.Multiply(r, Variance, r);
    }

    /// <summary><c>g = ΣD⁺ v = σ² Dᵀ v</c> (stencil, O(p)).</summary>
    public void ApplySigmaDPseudoInverse(ReadOnlySpan<double> v, Span<double> g)
    {
        GridDifference.ApplyTranspose(Shape, v, g);
        TensorPrimitives.Multiply(g, Variance, g);
    }
}
