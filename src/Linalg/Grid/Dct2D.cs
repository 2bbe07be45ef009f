using System.Buffers;
using System.Collections.Concurrent;

namespace Saliency.Linalg.Grid;

/// <summary>
/// Orthonormal 2-D DCT-II (<see cref="Forward"/>) and DCT-III (<see cref="Inverse"/>) on a p1×p2 grid of any size.
/// </summary>
/// <remarks>
/// <para>With <c>C₁</c> (p1×p1) and <c>C₂</c> (p2×p2) the orthonormal 1-D DCT-II matrices
/// (<c>C[k, n] = s_k cos(π(2n+1)k/2N)</c>, <c>s_0 = √(1/N)</c>, <c>s_k = √(2/N)</c>), the forward transform of a
/// row-major grid X is <c>Y = C₁ X C₂ᵀ</c> and the inverse is <c>X = C₁ᵀ Y C₂</c>. Both are orthogonal maps
/// (Parseval holds, the inverse is the transpose). Coefficient (i, j) sits at index <c>i * p2 + j</c>;
/// coefficient (0, 0) is <c>√p</c> times the grid mean.</para>
/// <para>The basis vectors are the eigenvectors of the Neumann grid Laplacian <c>DᵀD</c>
/// (see <see cref="NeumannLaplacian"/>).</para>
/// <para>Implementation: separable, one axis at a time, with the even/odd fold of <c>DctAxis</c>:
/// ≈ p·(p1 + p2)/2 multiply-adds per transform, all as SIMD row updates. Instances are immutable and
/// thread-safe; scratch comes from <see cref="ArrayPool{T}.Shared"/>, so steady-state calls do not allocate.</para>
/// </remarks>
internal sealed class Dct2D
{
    private static readonly ConcurrentDictionary<GridShape, Dct2D> Cache = new();

    private readonly DctAxis _rows;
    private readonly DctAxis _cols;

    /// <summary>Creates the transform for <paramref name="shape"/>; prefer <see cref="For"/>, which caches per shape.</summary>
    public Dct2D(GridShape shape)
    {
        shape.Validate(nameof(shape));
        Shape = shape;
        _rows = new DctAxis(shape.Rows);
        _cols = new DctAxis(shape.Cols);
    }

    /// <summary>The cached transform for <paramref name="shape"/> (tables are built once per shape per process).</summary>
    public static Dct2D For(GridShape shape)
    {
        shape.Validate(nameof(shape));
        return Cache.GetOrAdd(shape, static s => new Dct2D(s));
    }

    /// <summary>The grid shape p1×p2.</summary>
    public GridShape Shape { get; }

    /// <summary>Forward orthonormal DCT-II: <c>y = C₁ x C₂ᵀ</c>. <paramref name="y"/> may be the same span as <paramref name="x"/>.</summary>
    /// <exception cref="ArgumentException">A span length differs from p1·p2.</exception>
    public void Forward(ReadOnlySpan<double> x, Span<double> y) => Transform(x, y, forward: true);

    /// <summary>Inverse transform (orthonormal DCT-III): <c>x = C₁ᵀ y C₂</c>. <paramref name="x"/> may be the same span as <paramref name="y"/>.</summary>
    /// <exception cref="ArgumentException">A span length differs from p1·p2.</exception>
    public void Inverse(ReadOnlySpan<double> y, Span<double> x) => Transform(y, x, forward: false);

    private void Transform(ReadOnlySpan<double> input, Span<double> output, bool forward)
    {
        int p1 = Shape.Rows, p2 = Shape.Cols, p = Shape.Count;
        GridGuards.Length(input.Length, p, nameof(input));
        GridGuards.Length(output.Length, p, nameof(output));

        int scratchLength = Math.Max(_rows.ScratchLength(p2), _cols.ScratchLength(p1));
        double[] rented = ArrayPool<double>.Shared.Rent(2 * p + scratchLength);
        try
        {
            Span<double> a = rented.AsSpan(0, p);
            Span<double> b = rented.AsSpan(p, p);
            Span<double> scratch = rented.AsSpan(2 * p, scratchLength);

            // Axis 0 (length p1), vectorised over the p2 columns.
            if (forward) _rows.Forward(input, a, p2, scratch);
            else _rows.Inverse(input, a, p2, scratch);

            if (p2 == 1)
            {
                a.CopyTo(output);
                return;
            }

            // Axis 1: transpose so that it becomes axis 0 of a p2×p1 block, transform, transpose back.
            Transpose(a, b, p1, p2);
            if (forward) _cols.Forward(b, b, p1, scratch);
            else _cols.Inverse(b, b, p1, scratch);
            Transpose(b, output, p2, p1);
        }
        finally
        {
            ArrayPool<double>.Shared.Return(rented);
        }
    }

    // dst (cols×rows) = srcᵀ for a row-major src of rows×cols; blocked for cache locality.
    private static void Transpose(ReadOnlySpan<double> src, Span<double> dst, int rows, int cols)
    {
        const int block = 32;
        for (int r0 = 0; r0 < rows; r0 += block)
        {
            int r1 = Math.Min(rows, r0 + block);
            for (int c0 = 0; c0 < cols; c0 += block)
            {
                int c1 = Math.Min(cols, c0 + block);
                for (int r = r0; r < r1; r++)
                {
                    int rowBase = r * cols;
                    for (int c = c0; c < c1; c++)
                        dst[c * rows + r] = src[rowBase + c];
                }
            }
        }
    }
}
