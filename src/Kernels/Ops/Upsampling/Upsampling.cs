using System.Numerics;
using Saliency.Kernels.Backends;
using Saliency.Kernels.Cpu;
using Saliency.Kernels.Cuda;

namespace Saliency.Kernels.Ops;

/// <summary>How a coarse grid is interpolated to image resolution.</summary>
public enum UpsamplingMode
{
    /// <summary>Each pixel takes the value of the cell that contains it: cell (⌊y·p1/H⌋, ⌊x·p2/W⌋) (integer arithmetic).</summary>
    Nearest,

    /// <summary>
    /// Bilinear with half-pixel centres (PyTorch <c>align_corners=False</c>): source coordinate
    /// <c>s = (y + ½)·p1/H − ½</c> clamped below at 0, neighbours ⌊s⌋ and min(⌊s⌋+1, p1−1), weight s − ⌊s⌋; same along x.
    /// </summary>
    Bilinear,
}

/// <summary>
/// Upsampling of p1×p2 grids (LEG's coarse saliency/perturbation grids, e.g. 28×28) to H×W images (e.g. 224×224),
/// batched over channels and images: grid b at <c>b·p1·p2</c>, image b at <c>b·H·W</c>, both row-major.
/// Interpolation weights are computed in double on both backends, so CPU and CUDA agree to the last bit of T in
/// practice.
/// </summary>
public static class Upsampling
{
    private static readonly Lazy<CudaKernelSource> Source = new(() => CudaKernelSource.Embedded("Upsampling.cu"));

    /// <summary>Upsamples every grid of <paramref name="grids"/> into <paramref name="images"/>.</summary>
    /// <exception cref="BufferSizeMismatchException">The buffers do not hold the same number B ≥ 1 of grids and images.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A dimension is below 1.</exception>
    public static void Apply<T>(DeviceBuffer<T> grids, DeviceBuffer<T> images, int gridRows, int gridCols, int imageRows, int imageCols,
        UpsamplingMode mode) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(grids);
        KernelGuard.SameBackend(grids.Backend, grids);
        KernelGuard.SameBackend(grids.Backend, images);
        int batch = CheckSizes(grids.Length, images.Length, gridRows, gridCols, imageRows, imageCols, mode);
        switch (grids.Backend)
        {
            case CpuBackend cpu:
                Cpu(cpu.Own(grids).Span, cpu.Own(images).Span, gridRows, gridCols, imageRows, imageCols, batch, mode);
                break;
            case CudaBackend cuda:
                string name = (mode == UpsamplingMode.Nearest ? "upsample_nearest_" : "upsample_bilinear_") + ElementTypes.CudaSuffix<T>();
                var args = CudaLaunchArgs.Rent().Add(cuda.Own(grids)).Add(cuda.Own(images)).Add(gridRows).Add(gridCols).Add(imageRows).Add(imageCols).Add((long)batch);
                cuda.Launch1D(cuda.GetKernel(Source.Value, name), (long)batch * imageRows * imageCols, args);
                break;
            default:
                throw new NotSupportedException($"Backend {grids.Backend.Kind} has no upsampling kernel.");
        }
    }

    /// <summary>Host version of <see cref="Apply{T}(DeviceBuffer{T}, DeviceBuffer{T}, int, int, int, int, UpsamplingMode)"/> on spans.</summary>
    public static void Apply<T>(ReadOnlySpan<T> grids, Span<T> images, int gridRows, int gridCols, int imageRows, int imageCols, UpsamplingMode mode)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int batch = CheckSizes(grids.Length, images.Length, gridRows, gridCols, imageRows, imageCols, mode);
        Cpu(grids, images, gridRows, gridCols, imageRows, imageCols, batch, mode);
    }

    private static int CheckSizes(int gridLength, int imageLength, int p1, int p2, int h, int w, UpsamplingMode mode)
    {
        foreach (var (v, n) in new[] { (p1, "gridRows"), (p2, "gridCols"), (h, "imageRows"), (w, "imageCols") })
            if (v < 1) throw new ArgumentOutOfRangeException(n, v, "Dimensions must be at least 1.");
        if (!Enum.IsDefined(mode)) throw new ArgumentOutOfRangeException(nameof(mode), mode, "Unknown upsampling mode.");
        int batch = KernelGuard.SliceCount(gridLength, checked(p1 * p2), "grids");
        if (imageLength != (long)batch * h * w) KernelGuard.Length(imageLength, (long)batch * h * w, $"images for {batch} grid(s) at {h}×{w}");
        return batch;
    }

    private static void Cpu<T>(ReadOnlySpan<T> g, Span<T> img, int p1, int p2, int h, int w, int batch, UpsamplingMode mode)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int p = p1 * p2, hw = h * w;
        // Column sources/weights are the same for every row and image: compute them once.
        var x0 = new int[w];
        var x1 = new int[w];
        var lx = new double[w];
        for (int x = 0; x < w; x++)
        {
            if (mode == UpsamplingMode.Nearest) x0[x] = (int)((long)x * p2 / w);
            else SourceCoordinate(x, w, p2, out x0[x], out x1[x], out lx[x]);
        }
        for (int b = 0; b < batch; b++)
        {
            var gb = g.Slice(b * p, p);
            var ib = img.Slice(b * hw, hw);
            for (int y = 0; y < h; y++)
            {
                var row = ib.Slice(y * w, w);
                if (mode == UpsamplingMode.Nearest)
                {
                    var src = gb.Slice((int)((long)y * p1 / h) * p2, p2);
                    for (int x = 0; x < w; x++) row[x] = src[x0[x]];
                    continue;
                }
                SourceCoordinate(y, h, p1, out int y0, out int y1, out double ly);
                var r0 = gb.Slice(y0 * p2, p2);
                var r1 = gb.Slice(y1 * p2, p2);
                for (int x = 0; x < w; x++)
                {
                    double top = (1.0 - lx[x]) * double.CreateTruncating(r0[x0[x]]) + lx[x] * double.CreateTruncating(r0[x1[x]]);
                    double bottom = (1.0 - lx[x]) * double.CreateTruncating(r1[x0[x]]) + lx[x] * double.CreateTruncating(r1[x1[x]]);
                    row[x] = T.CreateTruncating((1.0 - ly) * top + ly * bottom);
                }
            }
        }
    }

    private static void SourceCoordinate(int y, int outSize, int inSize, out int i0, out int i1, out double frac)
    {
        double s = (y + 0.5) * inSize / outSize - 0.5;
        if (s < 0) s = 0;
        int f = (int)Math.Floor(s);
        if (f > inSize - 1) f = inSize - 1;
        i0 = f;
        i1 = f + 1 < inSize ? f + 1 : inSize - 1;
        frac = s - f;
    }
}
