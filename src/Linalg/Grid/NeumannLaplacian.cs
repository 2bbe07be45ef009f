using System.Buffers;
using System.Collections.Concurrent;

namespace Saliency.Linalg.Grid;

/// <summary>
/// The Neumann grid Laplacian <c>DᵀD</c> of the anisotropic forward-difference operator <c>D</c> on a p1×p2 grid,
/// diagonalised by the orthonormal 2-D DCT-II (<see cref="Dct2D"/>), and the pseudo-inverse operators built on it:
/// <c>(DᵀD)⁺</c>, <c>D⁺ = (DᵀD)⁺Dᵀ</c> and <c>D⁺ᵀ = D(DᵀD)⁺</c> — each one DCT pair, O(p·(p1+p2)), no SVD.
/// </summary>
/// <remarks>
/// <para>Eigenvalue of DCT mode (i, j): <c>λᵢⱼ = 4 sin²(πi/2p1) + 4 sin²(πj/2p2)</c> (LEG paper's
/// <c>DᵀD</c>; the 1-D path-graph Laplacian has eigenvalues <c>4 sin²(πk/2N)</c> with DCT-II eigenvectors and
/// the 2-D one is their Kronecker sum). The null space is the constant mode (0, 0): the pseudo-inverse maps it
/// to zero, so <c>(DᵀD)⁺ y</c> always has zero mean and ignores the mean of y.</para>
/// <para>Instances are immutable and thread-safe; use <see cref="For"/> to share one per shape.</para>
/// </remarks>
internal sealed class NeumannLaplacian
{
    private static readonly ConcurrentDictionary<GridShape, NeumannLaplacian> Cache = new();

    private readonly double[] _eigenvalues;
    private readonly double[] _inverseEigenvalues; // 1/λ, with 0 on the constant mode (pseudo-inverse).
    private readonly Dct2D _dct;

    /// <summary>Creates the operator for <paramref name="shape"/>; prefer <see cref="For"/>.</summary>
    public NeumannLaplacian(GridShape shape)
    {
        shape.Validate(nameof(shape));
        Shape = shape;
        _dct = Dct2D.For(shape);
        _eigenvalues = ComputeEigenvalues(shape);
        _inverseEigenvalues = new double[_eigenvalues.Length];
        for (int k = 1; k < _eigenvalues.Length; k++)
            _inverseEigenvalues[k] = 1.0 / _eigenvalues[k];
    }

    /// <summary>The cached operator for <paramref name="shape"/>.</summary>
    public static NeumannLaplacian For(GridShape shape)
    {
        shape.Validate(nameof(shape));
        return Cache.GetOrAdd(shape, static s => new NeumannLaplacian(s));
    }

    /// <summary>The grid shape p1×p2.</summary>
    public GridShape Shape { get; }

    /// <summary>The DCT that diagonalises this Laplacian.</summary>
    public Dct2D Dct => _dct;

    /// <summary>Eigenvalues in DCT coefficient order (index <c>i * p2 + j</c>); entry 0 (the constant mode) is 0.</summary>
    public ReadOnlySpan<double> Eigenvalues => _eigenvalues;

    /// <summary>The smallest positive eigenvalue (0 for a 1×1 grid, which has no differences).</summary>
    public double SmallestPositiveEigenvalue
    {
        get
        {
            double min = double.PositiveInfinity;
            for (int k = 1; k < _eigenvalues.Length; k++)
                min = Math.Min(min, _eigenvalues[k]);
            return double.IsPositiveInfinity(min) ? 0.0 : min;
        }
    }

    /// <summary>The eigenvalues <c>4 sin²(πi/2p1) + 4 sin²(πj/2p2)</c> of the Neumann Laplacian, row-major over (i, j).</summary>
    public static double[] ComputeEigenvalues(GridShape shape)
    {
        shape.Validate(nameof(shape));
        var rowPart = new double[shape.Rows];
        var colPart = new double[shape.Cols];
        for (int i = 0; i < shape.Rows; i++)
        {
            double s = Math.Sin(Math.PI * i / (2.0 * shape.Rows));
            rowPart[i] = 4 * s * s;
        }
        for (int j = 0; j < shape.Cols; j++)
        {
            double s = Math.Sin(Math.PI * j / (2.0 * shape.Cols));
            colPart[j] = 4 * s * s;
        }
        var result = new double[shape.Count];
        for (int i = 0; i < shape.Rows; i++)
            for (int j = 0; j < shape.Cols; j++)
                result[i * shape.Cols + j] = rowPart[i] + colPart[j];
        return result;
    }

    /// <summary><c>y = DᵀD x</c> by the 5-point stencil (degree minus neighbours), O(p).</summary>
    /// <exception cref="ArgumentException">A span length differs from p.</exception>
    public void Apply(ReadOnlySpan<double> x, Span<double> y)
    {
        int p1 = Shape.Rows, p2 = Shape.Cols;
        GridGuards.Length(x.Length, Shape.Count, nameof(x));
        GridGuards.Length(y.Length, Shape.Count, nameof(y));
        for (int r = 0; r < p1; r++)
        {
            for (int c = 0; c < p2; c++)
            {
                int i = r * p2 + c;
                double xi = x[i], acc = 0;
                if (r > 0) acc += xi - x[i - p2];
                if (r < p1 - 1) acc += xi - x[i + p2];
                if (c > 0) acc += xi - x[i - 1];
                if (c < p2 - 1) acc += xi - x[i + 1];
                y[i] = acc;
            }
        }
    }

    /// <summary>
    /// <c>x = (DᵀD)⁺ rhs</c>: the minimum-norm (zero-mean) solution of the Neumann Poisson problem
    /// <c>DᵀD x = rhs − mean(rhs)</c>. <paramref name="x"/> may be the same span as <paramref name="rhs"/>.
    /// </summary>
    /// <exception cref="ArgumentException">A span length differs from p.</exception>
    public void SolvePseudoInverse(ReadOnlySpan<double> rhs, Span<double> x)
    {
        GridGuards.Length(rhs.Length, Shape.Count, nameof(rhs));
        GridGuards.Length(x.Length, Shape.Count, nameof(x));
        _dct.Forward(rhs, x);
        for (int k = 0; k < x.Length; k++)
            x[k] *= _inverseEigenvalues[k];
        _dct.Inverse(x, x);
    }

    /// <summary><c>g = D⁺ d = (DᵀD)⁺ Dᵀ d</c> for an edge vector d of length m.</summary>
    /// <exception cref="ArgumentException">Span lengths do not match m or p.</exception>
    public void ApplyDPseudoInverse(ReadOnlySpan<double> d, Span<double> g)
    {
        GridGuards.Length(d.Length, Shape.DifferenceCount, nameof(d));
        GridGuards.Length(g.Length, Shape.Count, nameof(g));
        GridDifference.ApplyTranspose(Shape, d, g);
        SolvePseudoInverse(g, g);
    }

    /// <summary>
    /// <c>b = D⁺ᵀ y = D (DᵀD)⁺ y</c> for a grid vector y (length p), result of length m. This is the LEG-TV
    /// right-hand side: the constraint <c>‖D⁺ᵀ(y − Σg)‖∞ ≤ L</c> becomes <c>‖b − σ²Dg‖∞ ≤ L</c> for the paper's Σ.
    /// </summary>
    /// <exception cref="ArgumentException">Span lengths do not match p or m.</exception>
    public void ApplyDPseudoInverseTranspose(ReadOnlySpan<double> y, Span<double> b)
    {
        GridGuards.Length(y.Length, Shape.Count, nameof(y));
        GridGuards.Length(b.Length, Shape.DifferenceCount, nameof(b));
        double[] rented = ArrayPool<double>.Shared.Rent(Shape.Count);
        try
        {
            Span<double> solved = rented.AsSpan(0, Shape.Count);
            SolvePseudoInverse(y, solved);
            GridDifference.Apply(Shape, solved, b);
        }
        finally
        {
            ArrayPool<double>.Shared.Return(rented);
        }
    }

    /// <summary>Largest grid size for which <see cref="DPseudoInverseL1Norm"/> is computed exactly.</summary>
    public const int ExactL1NormMaxCount = 4096;

    /// <summary>
    /// <c>‖D⁺‖₁</c> = the largest column absolute sum of the p×m matrix <c>D⁺</c>, used by the theoretical LEG-TV
    /// level <c>L = √(2‖D⁺‖₁ log(p/ε)/n)</c>.
    /// </summary>
    /// <remarks>
    /// Column e of <c>D⁺</c> for the edge (a → b) is <c>(DᵀD)⁺(e_b − e_a) = G[:, b] − G[:, a]</c> with <c>G = (DᵀD)⁺</c>.
    /// For p ≤ <see cref="ExactL1NormMaxCount"/> it is computed exactly from the Green's-function columns
    /// (p solves, keeping only a sliding window of p2+1 columns). Above that it returns the upper bound
    /// <c>‖D⁺e‖₁ ≤ √p ‖D⁺e‖₂ ≤ √p / √λ_min⁺</c> (λ_min⁺ the smallest positive eigenvalue of <c>DᵀD</c>), which makes the
    /// theoretical L conservative; <paramref name="isExact"/> says which one was returned.
    /// </remarks>
    public double DPseudoInverseL1Norm(out bool isExact)
    {
        int p = Shape.Count, p2 = Shape.Cols;
        if (Shape.DifferenceCount == 0)
        {
            isExact = true;
            return 0.0;
        }
        if (p > ExactL1NormMaxCount)
        {
            isExact = false;
            return Math.Sqrt(p / SmallestPositiveEigenvalue);
        }

        isExact = true;
        // window[a % (p2 + 1)] holds G[:, a]; the edges leaving pixel a reach a+1 and a+p2, both within the window.
        int windowSize = p2 + 1;
        var window = new double[windowSize * p];
        var unit = new double[p];
        double best = 0;
        int computed = 0;
        for (int a = 0; a < p; a++)
        {
            // Ensure columns a .. min(a + p2, p−1) are present.
            int needed = Math.Min(a + p2, p - 1);
            while (computed <= needed)
            {
                Array.Clear(unit);
                unit[computed] = 1.0;
                SolvePseudoInverse(unit, window.AsSpan((computed % windowSize) * p, p));
                computed++;
            }
            var ga = window.AsSpan((a % windowSize) * p, p);
            int r = a / p2, c = a % p2;
            if (r + 1 < Shape.Rows)
                best = Math.Max(best, DifferenceL1(window.AsSpan(((a + p2) % windowSize) * p, p), ga));
            if (c + 1 < p2)
                best = Math.Max(best, DifferenceL1(window.AsSpan(((a + 1) % windowSize) * p, p), ga));
        }
        return best;
    }

    private static double DifferenceL1(ReadOnlySpan<double> x, ReadOnlySpan<double> y)
    {
        double s = 0;
        for (int i = 0; i < x.Length; i++)
            s += Math.Abs(x[i] - y[i]);
        return s;
    }
}
