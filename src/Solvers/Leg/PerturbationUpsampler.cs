using System.Numerics.Tensors;
using Saliency.Kernels.Ops;
using Saliency.Linalg.Grid;

namespace Saliency.Solvers.Leg;

/// <summary>
/// The linear map U from a p1×p2 perturbation grid to an H×W image channel (nearest or bilinear, the conventions of
/// the <see cref="Upsampling"/> kernel, which does the forward work) and its adjoint <c>Uᵀ</c>. LEG on the grid
/// estimates the gradient of <c>z ↦ f(x₀ + Uz)</c>, i.e. <c>Uᵀ∇f</c>; the adjoint gives that target for tests and
/// diagnostics.
/// </summary>
internal sealed class PerturbationUpsampler
{
    private readonly int[] _rowLo, _rowHi, _colLo, _colHi;
    private readonly double[] _rowW, _colW; // weight of the "hi" neighbour (0 for nearest).

    /// <summary>Precomputes the adjoint's interpolation tables from <paramref name="grid"/> to <paramref name="height"/>×<paramref name="width"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Non-positive sizes or an unknown mode.</exception>
    public PerturbationUpsampler(GridShape grid, int height, int width, UpsamplingMode mode)
    {
        grid.Validate(nameof(grid));
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        if (!Enum.IsDefined(mode)) throw new ArgumentOutOfRangeException(nameof(mode), mode, "Unknown upsampling mode.");
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
    public UpsamplingMode Mode { get; }

    // The same source cells and weights as the Upsampling kernel (see UpsamplingMode), per axis.
    private static (int[] Lo, int[] Hi, double[] W) Axis(int source, int target, UpsamplingMode mode)
    {
        var lo = new int[target];
        var hi = new int[target];
        var w = new double[target];
        for (int t = 0; t < target; t++)
        {
            if (mode == UpsamplingMode.Nearest)
            {
                lo[t] = hi[t] = (int)((long)t * source / target);
                continue;
            }
            double s = Math.Clamp((t + 0.5) * source / target - 0.5, 0, source - 1);
            int l = (int)Math.Floor(s);
            lo[t] = l;
            hi[t] = Math.Min(l + 1, source - 1);
            w[t] = s - l;
        }
        return (lo, hi, w);
    }

    /// <summary>
    /// <c>images[b] = U grids[b]</c> for a batch of grids (B·p values in, B·H·W values out), by the
    /// <see cref="Upsampling"/> kernel on the CPU.
    /// </summary>
    /// <exception cref="ArgumentException">Lengths are not B·p and B·H·W for one B ≥ 1.</exception>
    public void Upsample(ReadOnlySpan<float> grids, Span<float> images) =>
        Upsampling.Apply(grids, images, Grid.Rows, Grid.Cols, Height, Width, Mode);

    /// <summary>Upsamples one grid map to the image (<c>U m</c>, length H·W), e.g. to display a saliency map at full resolution.</summary>
    /// <exception cref="ArgumentException">Length mismatch.</exception>
    public double[] Upsample(ReadOnlySpan<double> map)
    {
        GridGuards.Length(map.Length, Grid.Count, nameof(map));
        var result = new double[Height * Width];
        Upsampling.Apply(map, result, Grid.Rows, Grid.Cols, Height, Width, Mode);
        return result;
    }

    /// <summary><c>grid = Uᵀ image</c>: the adjoint of the upsampling (spreads image values back onto the grid cells).</summary>
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

    /// <summary><c>output = image ± U z</c> for one channel, with <c>Uz</c> already upsampled into <paramref name="upsampled"/>.</summary>
    internal static void Combine(ReadOnlySpan<float> image, ReadOnlySpan<float> upsampled, bool negate, Span<float> output)
    {
        if (negate) TensorPrimitives.Subtract(image, upsampled, output);
        else TensorPrimitives.Add(image, upsampled, output);
    }
}
