using System.Numerics.Tensors;

namespace Saliency.Linalg.Grid;

/// <summary>
/// Orthonormal DCT-II (and its inverse, DCT-III) of length N applied along the first axis of an N×W
/// row-major block, i.e. to all W columns at once, so that every inner operation is a contiguous,
/// SIMD-vectorised row update of length W (<see cref="TensorPrimitives"/>).
/// </summary>
/// <remarks>
/// Orthonormal DCT-II: <c>X[k] = s_k Σₙ x[n] cos(π(2n+1)k / 2N)</c> with <c>s_0 = √(1/N)</c>, <c>s_k = √(2/N)</c>;
/// the matrix is orthogonal, so DCT-III (its transpose) is the inverse.
/// Cost: the even/odd symmetry <c>cos(π(2(N−1−n)+1)k/2N) = (−1)^k cos(π(2n+1)k/2N)</c> folds the input into
/// sums and differences of mirrored rows first, halving the matrix work to ≈ N²W/2 multiply-adds.
/// This separable matrix form is chosen over an FFT-based DCT because it works for every N with no
/// Bluestein machinery, and at the grid sizes of this library (28…224) it is a short sequence of
/// vectorised row updates (see the benchmark in <c>bench/Saliency.Bench/Linalg</c> for measured costs).
/// </remarks>
internal sealed class DctAxis
{
    private readonly int _n;
    private readonly int _half;        // ⌊N/2⌋: number of mirrored pairs.
    private readonly int _evenInputs;  // pairs plus the middle sample when N is odd.
    private readonly double[] _even;   // [(k/2) * _evenInputs + n]: s_k cos(π(2n+1)k/2N), k even (middle column unfolded).
    private readonly double[] _odd;    // [((k−1)/2) * _half + n]: s_k cos(π(2n+1)k/2N), k odd.

    public DctAxis(int length)
    {
        _n = length;
        _half = length / 2;
        _evenInputs = _half + (length & 1);
        int evenCount = (length + 1) / 2;
        int oddCount = length / 2;
        _even = new double[evenCount * _evenInputs];
        _odd = new double[oddCount * _half];
        for (int k = 0; k < length; k++)
        {
            double scale = k == 0 ? Math.Sqrt(1.0 / length) : Math.Sqrt(2.0 / length);
            if ((k & 1) == 0)
            {
                for (int n = 0; n < _evenInputs; n++)
                    _even[(k / 2) * _evenInputs + n] = scale * Cos(n, k, length);
            }
            else
            {
                for (int n = 0; n < _half; n++)
                    _odd[(k / 2) * _half + n] = scale * Cos(n, k, length);
            }
        }
    }

    public int Length => _n;

    /// <summary>Scratch doubles needed per call for a block of width <paramref name="width"/>.</summary>
    public int ScratchLength(int width) => (_evenInputs + _half) * width;

    // cos(π(2n+1)k / 2N) with the angle reduced modulo 4N so that large k·n stay exact.
    private static double Cos(int n, int k, int length)
    {
        long m = ((long)(2 * n + 1) * k) % (4L * length);
        return Math.Cos(Math.PI * m / (2.0 * length));
    }

    /// <summary>y = C x along axis 0 (C the orthonormal DCT-II matrix). <paramref name="y"/> may alias <paramref name="x"/>.</summary>
    public void Forward(ReadOnlySpan<double> x, Span<double> y, int width, Span<double> scratch)
    {
        int n = _n;
        Span<double> sums = scratch[..(_evenInputs * width)];
        Span<double> diffs = scratch.Slice(_evenInputs * width, _half * width);
        for (int i = 0; i < _half; i++)
        {
            var top = x.Slice(i * width, width);
            var bottom = x.Slice((n - 1 - i) * width, width);
            TensorPrimitives.Add(top, bottom, sums.Slice(i * width, width));
            TensorPrimitives.Subtract(top, bottom, diffs.Slice(i * width, width));
        }
        if ((n & 1) == 1)
            x.Slice(_half * width, width).CopyTo(sums.Slice(_half * width, width));

        for (int k = 0; k < n; k++)
        {
            var row = y.Slice(k * width, width);
            row.Clear();
            if ((k & 1) == 0)
            {
                var coeffs = _even.AsSpan((k / 2) * _evenInputs, _evenInputs);
                for (int j = 0; j < _evenInputs; j++)
                    TensorPrimitives.MultiplyAdd(sums.Slice(j * width, width), coeffs[j], row, row);
            }
            else
            {
                var coeffs = _odd.AsSpan((k / 2) * _half, _half);
                for (int j = 0; j < _half; j++)
                    TensorPrimitives.MultiplyAdd(diffs.Slice(j * width, width), coeffs[j], row, row);
            }
        }
    }

    /// <summary>x = Cᵀ y along axis 0 (orthonormal DCT-III, the inverse of <see cref="Forward"/>). <paramref name="x"/> may alias <paramref name="y"/>.</summary>
    public void Inverse(ReadOnlySpan<double> y, Span<double> x, int width, Span<double> scratch)
    {
        int n = _n;
        Span<double> evenPart = scratch[..(_evenInputs * width)];
        Span<double> oddPart = scratch.Slice(_evenInputs * width, _half * width);
        evenPart.Clear();
        oddPart.Clear();
        for (int k = 0; k < n; k++)
        {
            var coefficientRow = y.Slice(k * width, width);
            if ((k & 1) == 0)
            {
                var coeffs = _even.AsSpan((k / 2) * _evenInputs, _evenInputs);
                for (int j = 0; j < _evenInputs; j++)
                {
                    var dst = evenPart.Slice(j * width, width);
                    TensorPrimitives.MultiplyAdd(coefficientRow, coeffs[j], dst, dst);
                }
            }
            else
            {
                var coeffs = _odd.AsSpan((k / 2) * _half, _half);
                for (int j = 0; j < _half; j++)
                {
                    var dst = oddPart.Slice(j * width, width);
                    TensorPrimitives.MultiplyAdd(coefficientRow, coeffs[j], dst, dst);
                }
            }
        }
        for (int i = 0; i < _half; i++)
        {
            var a = evenPart.Slice(i * width, width);
            var b = oddPart.Slice(i * width, width);
            TensorPrimitives.Add(a, b, x.Slice(i * width, width));
            TensorPrimitives.Subtract(a, b, x.Slice((n - 1 - i) * width, width));
        }
        if ((n & 1) == 1)
            evenPart.Slice(_half * width, width).CopyTo(x.Slice(_half * width, width));
    }
}
