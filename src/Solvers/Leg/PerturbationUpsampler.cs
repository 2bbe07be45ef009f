using Saliency.Linalg.Grid;

namespace Saliency.Solvers.Leg;

/// <summary>
/// Adds a grid perturbation, upsampled to the image resolution, to an image channel:
/// <c>out = x₀ + U z</c> with U nearest (block) or bilinear interpolation. U is linear, so LEG on the grid
/// estimates the gradient of <c>z ↦ f(x₀ + Uz)</c>, i.e. <c>Uᵀ∇f</c>.
/// </summary>
public sealed class PerturbationUpsampler
{
    private readonly int[] _rowLo, _rowHi, _colLo, _colHi;
    private readonly double[] _rowW, _colW; // weight of the "hi" neighbour (0 for nearest).

    /// <summary>Precomputes the interpolation tables from <paramref name="grid"/> to <paramref name="height"/>×<paramref name="width"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Non-positive sizes.</exception>
    public PerturbationUpsampler(GridShape grid, int height, int width, PerturbationUpsampling mode)
    {
        grid.Validate(nameof(grid));
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        Grid = grid;
        Height = height;
        Width = width;
        Mode = mode;
        (_rowLo, _rowHi, _rowW) = Axis(grid.Rows, height, mode);
        (_colLo, _colHi, _colW) = Axis(grid.Cols, width, mode);
    }

    /// <summary>The source grid.</summary>
    public GridShape Grid { get; }

    /// <summary>Target height.</summary>
    public int Height { get; }

    /// <summary>Target width.</summary>
    public int Width { get; }

    /// <summary>Interpolation mode.</summary>
    public PerturbationUpsampling Mode { get; }

    private static (int[] Lo, int[] Hi, double[] W) Axis(int source, int target, PerturbationUpsampling mode)
    {
        var lo = new int[target];
        var hi = new int[target];
        var w = new double[target];
        for (int t = 0; t < target; t++)
        {
            if (mode == PerturbationUpsampling.Nearest)
            {
                lo[t] = hi[t] = (int)((long)t * source / target);
            }
            else
            {
                // Half-pixel centres: target t sits at source coordinate (t + ½)·source/target − ½, clamped.
                double s = Math.Clamp((t + 0.5) * source / target - 0.5, 0, source - 1);
                int l = (int)Math.Floor(s);
                lo[t] = l;
                hi[t] = Math.Min(l + 1, source - 1);
                w[t] = s - l;
            }
        }
        return (lo, hi, w);
    }

    /// <summary><c>output = image + U z</c> for one channel (image and output H×W, z p1×p2).</summary>
    /// <exception cref="ArgumentException">Length mismatch.</exception>
    public void AddTo(ReadOnlySpan<float> image, ReadOnlySpan<double> z, Span<float> output)
    {
        GridGuards.Length(image.Length, Height * Width, nameof(image));
        GridGuards.Length(output.Length, Height * Width, nameof(output));
        GridGuards.Length(z.Length, Grid.Count, nameof(z));
        for (int h = 0; h < Height; h++)
        {
            int rowBase = h * Width;
            for (int x = 0; x < Width; x++)
                output[rowBase + x] = (float)(image[rowBase + x] + Interpolate(z, h, x));
        }
    }

    /// <summary><c>grid = Uᵀ image</c>: the adjoint of the upsampling (sums image values back onto the grid).</summary>
    /// <exception cref="ArgumentException">Length mismatch.</exception>
    public void ApplyTranspose(ReadOnlySpan<double> image, Span<double> grid)
    {
        GridGuards.Length(image.Length, Height * Width, nameof(image));
        GridGuards.Length(grid.Length, Grid.Count, nameof(grid));
        grid.Clear();
        int p2 = Grid.Cols;
        for (int h = 0; h < Height; h++)
        {
            int r0 = _rowLo[h] * p2, r1 = _rowHi[h] * p2;
            double wr = _rowW[h];
            for (int x = 0; x < Width; x++)
            {
                double v = image[h * Width + x];
                int c0 = _colLo[x], c1 = _colHi[x];
                double wc = _colW[x];
                grid[r0 + c0] += v * (1 - wr) * (1 - wc);
                grid[r0 + c1] += v * (1 - wr) * wc;
                grid[r1 + c0] += v * wr * (1 - wc);
                grid[r1 + c1] += v * wr * wc;
            }
        }
    }

    /// <summary>Upsamples a grid map to the image (<c>U m</c>, length H·W), e.g. to display a saliency map at full resolution.</summary>
    /// <exception cref="ArgumentException">Length mismatch.</exception>
    public double[] Upsample(ReadOnlySpan<double> map)
    {
        GridGuards.Length(map.Length, Grid.Count, nameof(map));
        var result = new double[Height * Width];
        for (int h = 0; h < Height; h++)
            for (int x = 0; x < Width; x++)
                result[h * Width + x] = Interpolate(map, h, x);
        return result;
    }

    private double Interpolate(ReadOnlySpan<double> z, int h, int x)
    {
        int p2 = Grid.Cols;
        int r0 = _rowLo[h] * p2, r1 = _rowHi[h] * p2;
        int c0 = _colLo[x], c1 = _colHi[x];
        double wc = _colW[x];
        double top = z[r0 + c0] + wc * (z[r0 + c1] - z[r0 + c0]);
        double bottom = z[r1 + c0] + wc * (z[r1 + c1] - z[r1 + c0]);
        return top + _rowW[h] * (bottom - top);
    }
}
