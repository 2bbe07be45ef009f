using System.Buffers;
using System.Collections.Concurrent;
using System.Numerics.Tensors;

namespace Saliency.Linalg.Grid;

/// <summary>
/// The boundary-padded variant of the difference operator used by the LEG authors' released code
/// (Paradise1008/LEG, <c>methods/LEGv0.py</c>): every grid line also gets a difference against a zero outside the
/// grid at both ends, so <c>D_pad</c> has <c>(p1+1)·p2 + p1·(p2+1) = 2p1p2 + p1 + p2</c> rows and
/// <c>D_padᵀD_pad</c> is the Dirichlet grid Laplacian — invertible, diagonalised by the orthonormal 2-D DST-I with
/// eigenvalues <c>4 sin²(π(i+1)/2(p1+1)) + 4 sin²(π(j+1)/2(p2+1))</c>. The library's default (the paper's
/// definition) is the unpadded <see cref="NeumannLaplacian"/>; this class is the option that reproduces the authors' code.
/// </summary>
/// <remarks>
/// <para><b>Row layout of D_pad.</b> First the vertical block, row <c>r·p2 + c</c> for r = 0…p1:
/// <c>g[r, c] − g[r−1, c]</c>; then the horizontal block, row <c>V + r·(p2+1) + c</c> for c = 0…p2:
/// <c>g[r, c] − g[r, c−1]</c>, where V = (p1+1)·p2 and values outside the grid are 0.</para>
/// <para>DST-I matrix <c>S[k, n] = √(2/(N+1)) sin(π(k+1)(n+1)/(N+1))</c> is symmetric and orthogonal (its own inverse).
/// It is applied separably as dense per-axis matrices (p·(p1+p2) multiply-adds, SIMD row updates). Instances are
/// immutable and thread-safe.</para>
/// </remarks>
internal sealed class DirichletLaplacian
{
    private static readonly ConcurrentDictionary<GridShape, DirichletLaplacian> Cache = new();

    private readonly double[] _rowSine;   // p1×p1 DST-I matrix.
    private readonly double[] _colSine;   // p2×p2 DST-I matrix.
    private readonly double[] _eigenvalues;

    /// <summary>Creates the operator for <paramref name="shape"/>; prefer <see cref="For"/>.</summary>
    public DirichletLaplacian(GridShape shape)
    {
        shape.Validate(nameof(shape));
        Shape = shape;
        _rowSine = SineMatrix(shape.Rows);
        _colSine = SineMatrix(shape.Cols);
        _eigenvalues = new double[shape.Count];
        for (int i = 0; i < shape.Rows; i++)
            for (int j = 0; j < shape.Cols; j++)
            {
                double a = Math.Sin(Math.PI * (i + 1) / (2.0 * (shape.Rows + 1)));
                double b = Math.Sin(Math.PI * (j + 1) / (2.0 * (shape.Cols + 1)));
                _eigenvalues[i * shape.Cols + j] = 4 * a * a + 4 * b * b;
            }
    }

    /// <summary>The cached operator for <paramref name="shape"/>.</summary>
    public static DirichletLaplacian For(GridShape shape)
    {
        shape.Validate(nameof(shape));
        return Cache.GetOrAdd(shape, static s => new DirichletLaplacian(s));
    }

    /// <summary>The grid shape p1×p2.</summary>
    public GridShape Shape { get; }

    /// <summary>Rows of the padded operator: 2p1p2 + p1 + p2.</summary>
    public int DifferenceCount => (Shape.Rows + 1) * Shape.Cols + Shape.Rows * (Shape.Cols + 1);

    /// <summary>Eigenvalues of <c>D_padᵀD_pad</c> in DST coefficient order (index <c>i * p2 + j</c>); all positive.</summary>
    public ReadOnlySpan<double> Eigenvalues => _eigenvalues;

    private static double[] SineMatrix(int n)
    {
        var s = new double[n * n];
        double scale = Math.Sqrt(2.0 / (n + 1));
        for (int k = 0; k < n; k++)
            for (int j = 0; j < n; j++)
            {
                long m = (long)(k + 1) * (j + 1) % (2L * (n + 1));
                s[k * n + j] = scale * Math.Sin(Math.PI * m / (n + 1));
            }
        return s;
    }

    /// <summary>Orthonormal 2-D DST-I, <c>y = S₁ x S₂</c> (its own inverse). <paramref name="y"/> may alias <paramref name="x"/>.</summary>
    /// <exception cref="ArgumentException">A length differs from p.</exception>
    public void Dst(ReadOnlySpan<double> x, Span<double> y)
    {
        int p1 = Shape.Rows, p2 = Shape.Cols, p = Shape.Count;
        GridGuards.Length(x.Length, p, nameof(x));
        GridGuards.Length(y.Length, p, nameof(y));
        double[] rented = ArrayPool<double>.Shared.Rent(2 * p);
        try
        {
            var t = rented.AsSpan(0, p);
            var u = rented.AsSpan(p, p);
            // Axis 0: t[k, :] = Σ_n S₁[k, n] x[n, :].
            t.Clear();
            for (int k = 0; k < p1; k++)
            {
                var row = t.Slice(k * p2, p2);
                for (int n = 0; n < p1; n++)
                    TensorPrimitives.MultiplyAdd(x.Slice(n * p2, p2), _rowSine[k * p1 + n], row, row);
            }
            // Axis 1: u[r, :] = Σ_n t[r, n] S₂[n, :] (S₂ symmetric).
            u.Clear();
            for (int r = 0; r < p1; r++)
            {
                var row = u.Slice(r * p2, p2);
                for (int n = 0; n < p2; n++)
                    TensorPrimitives.MultiplyAdd(_colSine.AsSpan(n * p2, p2), t[r * p2 + n], row, row);
            }
            u.CopyTo(y);
        }
        finally
        {
            ArrayPool<double>.Shared.Return(rented);
        }
    }

    /// <summary><c>d = D_pad g</c> (layout in the type remarks).</summary>
    /// <exception cref="ArgumentException">Lengths do not match p and <see cref="DifferenceCount"/>.</exception>
    public void ApplyD(ReadOnlySpan<double> g, Span<double> d)
    {
        int p1 = Shape.Rows, p2 = Shape.Cols;
        GridGuards.Length(g.Length, Shape.Count, nameof(g));
        GridGuards.Length(d.Length, DifferenceCount, nameof(d));
        for (int r = 0; r <= p1; r++)
            for (int c = 0; c < p2; c++)
                d[r * p2 + c] = (r < p1 ? g[r * p2 + c] : 0) - (r > 0 ? g[(r - 1) * p2 + c] : 0);
        int v = (p1 + 1) * p2;
        for (int r = 0; r < p1; r++)
            for (int c = 0; c <= p2; c++)
                d[v + r * (p2 + 1) + c] = (c < p2 ? g[r * p2 + c] : 0) - (c > 0 ? g[r * p2 + c - 1] : 0);
    }

    /// <summary><c>g = D_padᵀ d</c>, the adjoint of <see cref="ApplyD"/>.</summary>
    /// <exception cref="ArgumentException">Lengths do not match <see cref="DifferenceCount"/> and p.</exception>
    public void ApplyDTranspose(ReadOnlySpan<double> d, Span<double> g)
    {
        int p1 = Shape.Rows, p2 = Shape.Cols;
        GridGuards.Length(d.Length, DifferenceCount, nameof(d));
        GridGuards.Length(g.Length, Shape.Count, nameof(g));
        int v = (p1 + 1) * p2;
        for (int r = 0; r < p1; r++)
            for (int c = 0; c < p2; c++)
                g[r * p2 + c] = d[r * p2 + c] - d[(r + 1) * p2 + c]
                              + d[v + r * (p2 + 1) + c] - d[v + r * (p2 + 1) + c + 1];
    }

    /// <summary><c>x = (D_padᵀD_pad)⁻¹ rhs</c> (DST, divide by the eigenvalues, DST). May alias.</summary>
    /// <exception cref="ArgumentException">A length differs from p.</exception>
    public void Solve(ReadOnlySpan<double> rhs, Span<double> x)
    {
        Dst(rhs, x);
        TensorPrimitives.Divide(x, _eigenvalues, x);
        Dst(x, x);
    }

    /// <summary><c>g = D_pad⁺ d = (D_padᵀD_pad)⁻¹ D_padᵀ d</c>.</summary>
    public void ApplyDPseudoInverse(ReadOnlySpan<double> d, Span<double> g)
    {
        ApplyDTranspose(d, g);
        Solve(g, g);
    }

    /// <summary><c>b = D_pad⁺ᵀ y = D_pad (D_padᵀD_pad)⁻¹ y</c>.</summary>
    public void ApplyDPseudoInverseTranspose(ReadOnlySpan<double> y, Span<double> b)
    {
        GridGuards.Length(y.Length, Shape.Count, nameof(y));
        double[] rented = ArrayPool<double>.Shared.Rent(Shape.Count);
        try
        {
            var solved = rented.AsSpan(0, Shape.Count);
            Solve(y, solved);
            ApplyD(solved, b);
        }
        finally
        {
            ArrayPool<double>.Shared.Return(rented);
        }
    }
}
