using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Algorithms.ScanReduceOperations;
using ILGPU.Runtime;
using Saliency.Kernels.Backends;
using Saliency.Kernels.Cpu;
using Saliency.Kernels.Ilgpu;

namespace Saliency.Solvers.Fista;

/// <summary>
/// The per-slice sums one <see cref="DeviceFistaSolver"/> check needs, in ONE pass over the vectors and ONE read back
/// (<see cref="Count"/> doubles per slice): with d = z − y, ‖d‖², ⟨d, ∇f(z)⟩, ⟨d, ∇f(y)⟩, ‖z‖², ⟨z, ∇f(z)⟩, ⟨b, z⟩,
/// ‖z‖₁ — the sufficient-decrease test, the objective F(z) and the residual. Float32 data, sums in double.
/// </summary>
/// <remarks>
/// On an ILGPU backend each slice is cut into segments; one group per (slice, segment) writes its partial sums and the
/// host adds a slice's partials in segment order (deterministic, as the library's <c>Reductions</c>). On the CPU backend
/// it is one loop per slice over the spans.
/// </remarks>
internal static class FistaCheckSums
{
    /// <summary>Sums per slice, in the order of the summary.</summary>
    public const int Count = 7;

    /// <summary>Index of each sum in a slice's <see cref="Count"/> results.</summary>
    public const int Dd = 0, DGz = 1, DGy = 2, Zz = 3, ZGz = 4, Bz = 5, AbsZ = 6;

    private const int MaxParts = 128, PartLength = 8192;

    /// <summary>Fills <paramref name="results"/> (slices × <see cref="Count"/>) for the k = z.Length / d slices.</summary>
    public static void Compute(DeviceBuffer<float> z, DeviceBuffer<float> gz, DeviceBuffer<float> y, DeviceBuffer<float> gy,
        DeviceBuffer<float> b, int d, double[] results)
    {
        var backend = z.Backend;
        foreach (var buffer in new[] { gz, y, gy, b })
        {
            KernelGuard.SameBackend(backend, buffer);
            KernelGuard.Length(buffer.Length, z.Length, "check vector length");
        }
        int slices = KernelGuard.SliceCount(z.Length, d, "z");
        KernelGuard.Length(results.Length, (long)slices * Count, "check sums");
        switch (backend)
        {
            case CpuBackend cpu:
                Cpu(cpu.Own(z).Span, cpu.Own(gz).Span, cpu.Own(y).Span, cpu.Own(gy).Span, cpu.Own(b).Span, d, slices, results);
                break;
            case IlgpuBackend gpu:
                Ilgpu(gpu, z, gz, y, gy, b, d, slices, results);
                break;
            default:
                throw new NotSupportedException($"Backend {backend.Kind} has no FISTA check kernel.");
        }
    }

    private static void Cpu(ReadOnlySpan<float> z, ReadOnlySpan<float> gz, ReadOnlySpan<float> y, ReadOnlySpan<float> gy,
        ReadOnlySpan<float> b, int d, int slices, double[] results)
    {
        for (int s = 0; s < slices; s++)
        {
            double dd = 0, dgz = 0, dgy = 0, zz = 0, zgz = 0, bz = 0, abs = 0;
            for (int i = s * d; i < (s + 1) * d; i++)
            {
                double zi = z[i], di = zi - y[i], gzi = gz[i];
                dd += di * di;
                dgz += di * gzi;
                dgy += di * gy[i];
                zz += zi * zi;
                zgz += zi * gzi;
                bz += b[i] * zi;
                abs += Math.Abs(zi);
            }
            var r = results.AsSpan(s * Count, Count);
            (r[Dd], r[DGz], r[DGy], r[Zz], r[ZGz], r[Bz], r[AbsZ]) = (dd, dgz, dgy, zz, zgz, bz, abs);
        }
    }

    private static void Ilgpu(IlgpuBackend gpu, DeviceBuffer<float> z, DeviceBuffer<float> gz, DeviceBuffer<float> y,
        DeviceBuffer<float> gy, DeviceBuffer<float> b, int d, int slices, double[] results)
    {
        int parts = (int)Math.Clamp((d + (long)PartLength - 1) / PartLength, 1, MaxParts);
        int group = Math.Min(256, gpu.Accelerator.MaxNumThreadsPerGroup);
        var partialsHost = new double[checked(slices * parts * Count)];
        using var partials = gpu.Accelerator.Allocate1D<double>(partialsHost.Length);
        var kernel = gpu.GetKernel("Saliency.Solvers.Fista.FistaCheckSums",
            a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, ArrayView<double>>(Kernel));
        // Slices along x, segments along y: one group each.
        kernel(new KernelConfig(new Index2D(slices, parts), new Index2D(group, 1)),
            gpu.Own(z).View, gpu.Own(gz).View, gpu.Own(y).View, gpu.Own(gy).View, gpu.Own(b).View, d, parts, partials.View);
        partials.View.CopyToCPU(gpu.Stream, partialsHost); // the check's one read back
        gpu.Stream.Synchronize();
        Array.Clear(results);
        for (int s = 0; s < slices; s++)
            for (int p = 0; p < parts; p++)
                for (int q = 0; q < Count; q++)
                    results[s * Count + q] += partialsHost[(s * parts + p) * Count + q];
    }

    /// <summary>ILGPU kernel: group (slice, segment) sums its segment's seven terms in double, then reduces them over the group.</summary>
    private static void Kernel(ArrayView<float> z, ArrayView<float> gz, ArrayView<float> y, ArrayView<float> gy, ArrayView<float> b,
        int d, int parts, ArrayView<double> partials)
    {
        int slice = Grid.IdxX, part = Grid.IdxY;
        int chunk = (d + parts - 1) / parts;
        int begin = part * chunk, end = Math.Min(begin + chunk, d);
        long origin = (long)slice * d;
        double dd = 0, dgz = 0, dgy = 0, zz = 0, zgz = 0, bz = 0, abs = 0;
        int lane = Group.IdxX, lanes = Group.DimX;
        for (int i = begin + lane; i < end; i += lanes)
        {
            long j = origin + i;
            double zi = z[j], di = zi - y[j], gzi = gz[j];
            dd += di * di;
            dgz += di * gzi;
            dgy += di * gy[j];
            zz += zi * zi;
            zgz += zi * gzi;
            bz += b[j] * zi;
            abs += XMath.Abs(zi);
        }
        dd = GroupExtensions.Reduce<double, AddDouble>(dd);
        dgz = GroupExtensions.Reduce<double, AddDouble>(dgz);
        dgy = GroupExtensions.Reduce<double, AddDouble>(dgy);
        zz = GroupExtensions.Reduce<double, AddDouble>(zz);
        zgz = GroupExtensions.Reduce<double, AddDouble>(zgz);
        bz = GroupExtensions.Reduce<double, AddDouble>(bz);
        abs = GroupExtensions.Reduce<double, AddDouble>(abs);
        if (Group.IsFirstThread)
        {
            long o = ((long)slice * parts + part) * Count;
            partials[o + Dd] = dd;
            partials[o + DGz] = dgz;
            partials[o + DGy] = dgy;
            partials[o + Zz] = zz;
            partials[o + ZGz] = zgz;
            partials[o + Bz] = bz;
            partials[o + AbsZ] = abs;
        }
    }
}
