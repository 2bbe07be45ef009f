using System.Numerics;
using System.Numerics.Tensors;
using Saliency.Kernels.Backends;
using Saliency.Kernels.Cpu;
using ILGPU;
using ILGPU.Runtime;
using Saliency.Kernels.Ilgpu;

namespace Saliency.Kernels.Ops;

/// <summary>
/// The anisotropic forward-difference operator <c>D</c> of the LEG-TV problem on a p1×p2 grid and its adjoint
/// <c>Dᵀ</c>, batched over grids (channels × images) stored one after another.
/// </summary>
/// <remarks>
/// <para><b>Layout</b> (the same as <c>Saliency.Linalg.Grid.GridShape</c>): a grid is row-major, pixel (r, c) at
/// <c>r·p2 + c</c>. <c>D</c> has m = 2·p1·p2 − p1 − p2 rows: first the V = (p1−1)·p2 vertical differences
/// <c>(Dx)[r·p2 + c] = x[r+1, c] − x[r, c]</c>, then the p1·(p2−1) horizontal differences
/// <c>(Dx)[V + r·(p2−1) + c] = x[r, c+1] − x[r, c]</c>. No boundary padding (the paper's definition), so
/// <c>DᵀD</c> is the Neumann grid Laplacian and <c>‖D‖² &lt; 8</c>.</para>
/// <para>A batch of B grids is B·p1·p2 values in, B·m differences out (grid b's differences at b·m).</para>
/// </remarks>
internal static class TotalVariation
{
    /// <summary>Number of rows of <c>D</c> for a p1×p2 grid: 2·p1·p2 − p1 − p2.</summary>
    public static int DifferenceCount(int rows, int cols)
    {
        CheckGrid(rows, cols);
        return checked(2 * rows * cols - rows - cols);
    }

    /// <summary><paramref name="differences"/> ← D <paramref name="grids"/> for each of the batch's grids.</summary>
    /// <exception cref="BufferSizeMismatchException">Buffer lengths are not B·p1·p2 and B·m for one batch size B ≥ 1.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A grid dimension is below 1.</exception>
    public static void Forward<T>(DeviceBuffer<T> grids, DeviceBuffer<T> differences, int rows, int cols)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int batch = Check(grids, differences, rows, cols);
        switch (grids.Backend)
        {
            case CpuBackend cpu:
                ForwardCpu(cpu.Own(grids).Span, cpu.Own(differences).Span, rows, cols, batch);
                break;
            case IlgpuBackend gpu:
                Launch(gpu, forward: true, grids, differences, rows, cols);
                break;
        }
    }

    /// <summary><paramref name="grids"/> ← Dᵀ <paramref name="differences"/> for each of the batch's grids (overwrites).</summary>
    /// <exception cref="BufferSizeMismatchException">Buffer lengths are not B·p1·p2 and B·m for one batch size B ≥ 1.</exception>
    public static void Adjoint<T>(DeviceBuffer<T> differences, DeviceBuffer<T> grids, int rows, int cols)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int batch = Check(grids, differences, rows, cols);
        switch (grids.Backend)
        {
            case CpuBackend cpu:
                AdjointCpu(cpu.Own(differences).Span, cpu.Own(grids).Span, rows, cols, batch);
                break;
            case IlgpuBackend gpu:
                Launch(gpu, forward: false, grids, differences, rows, cols);
                break;
        }
    }

    /// <summary>Host version of <see cref="Forward{T}"/> on spans.</summary>
    public static void Forward<T>(ReadOnlySpan<T> grids, Span<T> differences, int rows, int cols) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int batch = CheckLengths(grids.Length, differences.Length, rows, cols);
        ForwardCpu(grids, differences, rows, cols, batch);
    }

    /// <summary>Host version of <see cref="Adjoint{T}"/> on spans.</summary>
    public static void Adjoint<T>(ReadOnlySpan<T> differences, Span<T> grids, int rows, int cols) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int batch = CheckLengths(grids.Length, differences.Length, rows, cols);
        AdjointCpu(differences, grids, rows, cols, batch);
    }

    private static void ForwardCpu<T>(ReadOnlySpan<T> x, Span<T> dx, int p1, int p2, int batch) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int p = p1 * p2, m = 2 * p - p1 - p2, nv = (p1 - 1) * p2;
        for (int b = 0; b < batch; b++)
        {
            var g = x.Slice(b * p, p);
            var d = dx.Slice(b * m, m);
            // Vertical block: row r+1 minus row r is the whole grid shifted by one row, one vectorised subtraction.
            if (nv > 0) TensorPrimitives.Subtract(g[p2..], g[..nv], d[..nv]);
            var h = d[nv..];
            if (p2 > 1)
                for (int r = 0; r < p1; r++)
                {
                    var row = g.Slice(r * p2, p2);
                    TensorPrimitives.Subtract(row[1..], row[..(p2 - 1)], h.Slice(r * (p2 - 1), p2 - 1));
                }
        }
    }

    private static void AdjointCpu<T>(ReadOnlySpan<T> u, Span<T> x, int p1, int p2, int batch) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int p = p1 * p2, m = 2 * p - p1 - p2, nv = (p1 - 1) * p2;
        for (int b = 0; b < batch; b++)
        {
            var g = x.Slice(b * p, p);
            var uv = u.Slice(b * m, nv);
            var uh = u.Slice(b * m + nv, m - nv);
            g.Clear();
            if (nv > 0)
            {
                // (Dᵥᵀu)[r] = u[r−1] − u[r]: add u shifted down one row, subtract u in place.
                TensorPrimitives.Add(g[p2..], uv, g[p2..]);
                TensorPrimitives.Subtract(g[..nv], uv, g[..nv]);
            }
            if (p2 > 1)
                for (int r = 0; r < p1; r++)
                {
                    var row = g.Slice(r * p2, p2);
                    var ur = uh.Slice(r * (p2 - 1), p2 - 1);
                    TensorPrimitives.Add(row[1..], ur, row[1..]);
                    TensorPrimitives.Subtract(row[..(p2 - 1)], ur, row[..(p2 - 1)]);
                }
        }
    }

    private static void Launch<T>(IlgpuBackend gpu, bool forward, DeviceBuffer<T> grids, DeviceBuffer<T> differences, int rows, int cols)
        where T : unmanaged
    {
        // Forward: one work item per difference; adjoint: one per pixel (a gather, so no atomics).
        int threads = forward ? differences.Length : grids.Length;
        if (threads == 0) return; // 1×1 grids have no differences
        var spread = gpu.Spread(threads);
        if (Retype.IsSingle<T>())
            KernelFor<float, F32>(gpu, forward)(spread.Threads, spread, gpu.Own(Retype.As<T, float>(grids)).View, gpu.Own(Retype.As<T, float>(differences)).View, rows, cols);
        else
            KernelFor<double, F64>(gpu, forward)(spread.Threads, spread, gpu.Own(Retype.As<T, double>(grids)).View, gpu.Own(Retype.As<T, double>(differences)).View, rows, cols);
    }

    private static Action<Index1D, Spread, ArrayView<T>, ArrayView<T>, int, int> KernelFor<T, TE>(IlgpuBackend gpu, bool forward)
        where T : unmanaged where TE : struct, IElement<T> =>
        forward
            ? gpu.GetKernel($"TotalVariation.Forward<{typeof(T).Name}>",
                a => a.LoadAutoGroupedStreamKernel<Index1D, Spread, ArrayView<T>, ArrayView<T>, int, int>(ForwardKernel<T, TE>))
            : gpu.GetKernel($"TotalVariation.Adjoint<{typeof(T).Name}>",
                a => a.LoadAutoGroupedStreamKernel<Index1D, Spread, ArrayView<T>, ArrayView<T>, int, int>(AdjointKernel<T, TE>));

    /// <summary>ILGPU kernel: difference i of the batch (grid b = i / m), in the layout of the type remarks.</summary>
    private static void ForwardKernel<T, TE>(Index1D t, Spread spread, ArrayView<T> x, ArrayView<T> dx, int p1, int p2)
        where T : unmanaged where TE : struct, IElement<T>
    {
        for (int i = spread.First(t); i < spread.End(t); i += spread.Step) ForwardKernelItem<T, TE>(i, x, dx, p1, p2);
    }

    private static void ForwardKernelItem<T, TE>(int i, ArrayView<T> x, ArrayView<T> dx, int p1, int p2)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        int p = p1 * p2, nv = (p1 - 1) * p2, m = 2 * p - p1 - p2;
        int b = i / m, k = i - b * m;
        long g = (long)b * p;
        if (k < nv)
        {
            dx[i] = e.Sub(x[g + k + p2], x[g + k]);
        }
        else
        {
            int h = k - nv, r = h / (p2 - 1), c = h - r * (p2 - 1);
            long at = g + r * p2 + c;
            dx[i] = e.Sub(x[at + 1], x[at]);
        }
    }

    /// <summary>
    /// ILGPU kernel: (Dᵀu)[r, c] = u_v[r−1, c] − u_v[r, c] + u_h[r, c−1] − u_h[r, c] for pixel i of the batch, added in
    /// the CPU path's order (vertical in, vertical out, horizontal in, horizontal out), so the sums agree bit for bit.
    /// </summary>
    private static void AdjointKernel<T, TE>(Index1D t, Spread spread, ArrayView<T> x, ArrayView<T> u, int p1, int p2)
        where T : unmanaged where TE : struct, IElement<T>
    {
        for (int i = spread.First(t); i < spread.End(t); i += spread.Step) AdjointKernelItem<T, TE>(i, x, u, p1, p2);
    }

    private static void AdjointKernelItem<T, TE>(int i, ArrayView<T> x, ArrayView<T> u, int p1, int p2)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        int p = p1 * p2, nv = (p1 - 1) * p2, m = 2 * p - p1 - p2;
        int b = i / p, j = i - b * p, r = j / p2, c = j - r * p2;
        long uv = (long)b * m, uh = uv + nv;
        T acc = default;
        if (r > 0) acc = e.Add(acc, u[uv + j - p2]);
        if (r < p1 - 1) acc = e.Sub(acc, u[uv + j]);
        if (c > 0) acc = e.Add(acc, u[uh + r * (p2 - 1) + c - 1]);
        if (c < p2 - 1) acc = e.Sub(acc, u[uh + r * (p2 - 1) + c]);
        x[i] = acc;
    }

    private static void CheckGrid(int rows, int cols)
    {
        if (rows < 1) throw new ArgumentOutOfRangeException(nameof(rows), rows, "Grid rows must be at least 1.");
        if (cols < 1) throw new ArgumentOutOfRangeException(nameof(cols), cols, "Grid columns must be at least 1.");
        if ((long)rows * cols > int.MaxValue / 2) throw new ArgumentOutOfRangeException(nameof(rows), $"Grid {rows}×{cols} is too large.");
    }

    private static int Check<T>(DeviceBuffer<T> grids, DeviceBuffer<T> differences, int rows, int cols) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(grids);
        KernelGuard.SameBackend(grids.Backend, grids);
        KernelGuard.SameBackend(grids.Backend, differences);
        if (grids.Backend is not CpuBackend and not IlgpuBackend) throw new NotSupportedException($"Backend {grids.Backend.Kind} has no TV kernels.");
        return CheckLengths(grids.Length, differences.Length, rows, cols);
    }

    private static int CheckLengths(int gridLength, int differenceLength, int rows, int cols)
    {
        CheckGrid(rows, cols);
        int p = rows * cols;
        int batch = KernelGuard.SliceCount(gridLength, p, "grids");
        long expected = (long)batch * DifferenceCount(rows, cols);
        if (differenceLength != expected) // message built only on failure: the check runs every solver iteration
            KernelGuard.Length(differenceLength, expected, $"differences for {batch} grid(s) of {rows}×{cols}");
        return batch;
    }
}
