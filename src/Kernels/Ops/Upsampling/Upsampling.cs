using System.Numerics;
using Saliency.Kernels.Backends;
using Saliency.Kernels.Cpu;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using Saliency.Kernels.Ilgpu;

namespace Saliency.Kernels.Ops;

/// <summary>How a coarse grid is interpolated to image resolution.</summary>
internal enum UpsamplingMode
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
internal static class Upsampling
{
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
            case IlgpuBackend gpu:
            {
                var spread = gpu.Spread(images.Length);
                int bilinear = mode == UpsamplingMode.Bilinear ? 1 : 0;
                if (Retype.IsSingle<T>())
                    KernelFor<float, F32>(gpu)(spread.Threads, spread, gpu.Own(Retype.As<T, float>(grids)).View,
                        gpu.Own(Retype.As<T, float>(images)).View, gridRows, gridCols, imageRows, imageCols, bilinear);
                else
                    KernelFor<double, F64>(gpu)(spread.Threads, spread, gpu.Own(Retype.As<T, double>(grids)).View,
                        gpu.Own(Retype.As<T, double>(images)).View, gridRows, gridCols, imageRows, imageCols, bilinear);
                break;
            }
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

    private static Action<Index1D, Spread, ArrayView<T>, ArrayView<T>, int, int, int, int, int> KernelFor<T, TE>(IlgpuBackend gpu)
        where T : unmanaged where TE : struct, IElement<T> =>
        gpu.GetKernel($"Upsampling<{typeof(T).Name}>",
            a => a.LoadAutoGroupedStreamKernel<Index1D, Spread, ArrayView<T>, ArrayView<T>, int, int, int, int, int>(Kernel<T, TE>));

    /// <summary>ILGPU kernel, one work item per output pixel of the batch; the same integer and double arithmetic as <see cref="Cpu{T}"/>.</summary>
    private static void Kernel<T, TE>(Index1D t, Spread spread, ArrayView<T> g, ArrayView<T> img, int p1, int p2, int h, int w, int bilinear)
        where T : unmanaged where TE : struct, IElement<T>
    {
        for (int i = spread.First(t); i < spread.End(t); i += spread.Step) KernelItem<T, TE>(i, g, img, p1, p2, h, w, bilinear);
    }

    private static void KernelItem<T, TE>(int i, ArrayView<T> g, ArrayView<T> img, int p1, int p2, int h, int w, int bilinear)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        int hw = h * w;
        int b = i / hw, k = i - b * hw;
        int y = k / w, x = k - y * w;
        long gb = (long)b * p1 * p2;
        if (bilinear == 0)
        {
            img[i] = g[gb + (long)((long)y * p1 / h) * p2 + (long)x * p2 / w];
            return;
        }
        SourceCoordinate(y, h, p1, out int y0, out int y1, out double ly);
        SourceCoordinate(x, w, p2, out int x0, out int x1, out double lx);
        double top = (1.0 - lx) * e.ToDouble(g[gb + y0 * p2 + x0]) + lx * e.ToDouble(g[gb + y0 * p2 + x1]);
        double bottom = (1.0 - lx) * e.ToDouble(g[gb + y1 * p2 + x0]) + lx * e.ToDouble(g[gb + y1 * p2 + x1]);
        img[i] = e.FromDouble((1.0 - ly) * top + ly * bottom);
    }

    private static void SourceCoordinate(int y, int outSize, int inSize, out int i0, out int i1, out double frac)
    {
        double s = (y + 0.5) * inSize / outSize - 0.5;
        if (s < 0) s = 0;
        int f = (int)XMath.Floor(s); // XMath: the same floor on the host and in kernels
        if (f > inSize - 1) f = inSize - 1;
        i0 = f;
        i1 = f + 1 < inSize ? f + 1 : inSize - 1;
        frac = s - f;
    }
}
