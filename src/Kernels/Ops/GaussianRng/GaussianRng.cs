using System.Numerics;
using Saliency.Kernels.Backends;
using Saliency.Kernels.Cpu;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using Saliency.Kernels.Ilgpu;

namespace Saliency.Kernels.Ops;

/// <summary>
/// Reproducible Gaussian draws from a counter-based generator: Philox4x32-10 (Salmon, Moraes, Dror, Shaw, SC'11;
/// the Random123 definition) and the Box–Muller transform, the same stream on the CPU and on CUDA.
/// </summary>
/// <remarks>
/// <para><b>Stream definition.</b> Element g ≥ 0 of the stream of <c>seed</c> is lane <c>g mod 4</c> of block
/// <c>b = ⌊g/4⌋</c>, where <c>(r₀, r₁, r₂, r₃) = Philox4x32-10(counter = (lo32 b, hi32 b, 0, 0), key = (lo32 seed, hi32 seed))</c>,
/// <c>u_q = (r_q + ½)·2⁻³²</c> ∈ (0, 1), and
/// <c>z₀ = √(−2 ln u₀) cos 2πu₁</c>, <c>z₁ = √(−2 ln u₀) sin 2πu₁</c>, <c>z₂, z₃</c> likewise from (u₂, u₃).
/// A fill with <c>offset</c> o writes elements o, o+1, …, so any window of the stream can be regenerated anywhere
/// (e.g. sample i of n perturbations of size p is the window at o = i·p). Values are computed in double, then
/// <c>mean + std·z</c> is rounded to the buffer type; CPU and CUDA agree up to the last-bit differences of the
/// two platforms' log/sin/cos.</para>
/// </remarks>
internal static class GaussianRng
{
    private const uint M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;

    /// <summary>The Philox4x32-10 bijection of one 128-bit counter under a 64-bit key (Random123 word order).</summary>
    public static (uint, uint, uint, uint) Philox4x32(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1)
    {
        for (int round = 0; round < 10; round++)
        {
            ulong p0 = (ulong)M0 * c0;
            ulong p1 = (ulong)M1 * c2;
            (c0, c1, c2, c3) = ((uint)(p1 >> 32) ^ c1 ^ k0, (uint)p1, (uint)(p0 >> 32) ^ c3 ^ k1, (uint)p0);
            k0 += W0;
            k1 += W1;
        }
        return (c0, c1, c2, c3);
    }

    /// <summary>Fills <paramref name="destination"/> with elements [offset, offset + length) of the stream of <paramref name="seed"/>, scaled to N(mean, std²).</summary>
    /// <exception cref="NonFiniteValueException"><paramref name="mean"/> or <paramref name="std"/> not finite, or std negative.</exception>
    public static void Fill<T>(DeviceBuffer<T> destination, ulong seed, ulong offset = 0, double mean = 0, double std = 1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(destination);
        KernelGuard.SameBackend(destination.Backend, destination);
        CheckScale(mean, std, destination.Length, offset);
        switch (destination.Backend)
        {
            case CpuBackend cpu:
                FillCpu(cpu.Own(destination).Span, seed, offset, mean, std);
                break;
            case IlgpuBackend gpu:
                if (destination.Length == 0) return;
                int blocks = checked((int)(((offset + (ulong)destination.Length - 1) >> 2) - (offset >> 2) + 1));
                var spread = gpu.Spread(blocks);
                if (Retype.IsSingle<T>())
                    KernelFor<float, F32>(gpu)(spread.Threads, spread, gpu.Own(Retype.As<T, float>(destination)).View, seed, offset, mean, std);
                else
                    KernelFor<double, F64>(gpu)(spread.Threads, spread, gpu.Own(Retype.As<T, double>(destination)).View, seed, offset, mean, std);
                break;
            default:
                throw new NotSupportedException($"Backend {destination.Backend.Kind} has no RNG kernel.");
        }
    }

    /// <summary>Host version of <see cref="Fill{T}(DeviceBuffer{T}, ulong, ulong, double, double)"/> on a span.</summary>
    public static void Fill<T>(Span<T> destination, ulong seed, ulong offset = 0, double mean = 0, double std = 1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckScale(mean, std, destination.Length, offset);
        FillCpu(destination, seed, offset, mean, std);
    }

    private static void CheckScale(double mean, double std, int length, ulong offset)
    {
        KernelGuard.Finite(mean);
        KernelGuard.Finite(std);
        if (std < 0) throw new NonFiniteValueException($"The standard deviation must be non-negative, got {std}.", nameof(std));
        if (offset > ulong.MaxValue - (ulong)length) throw new ArgumentOutOfRangeException(nameof(offset), "offset + length overflows the 64-bit stream index.");
    }

    private static unsafe void FillCpu<T>(Span<T> destination, ulong seed, ulong offset, double mean, double std)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = destination.Length;
        if (n == 0) return;
        fixed (T* p = destination)
        {
            nint address = (nint)p;
            // Parallel over 4-element Philox blocks; each chunk covers whole blocks so no element is computed twice.
            ulong firstBlock = offset >> 2, lastBlock = (offset + (ulong)n - 1) >> 2;
            int blocks = checked((int)(lastBlock - firstBlock + 1));
            CpuParallel.For(blocks, (start, count) =>
            {
                var dst = new Span<T>((void*)address, n);
                for (int bi = start; bi < start + count; bi++)
                {
                    ulong b = firstBlock + (ulong)bi;
                    var (z0, z1, z2, z3) = Block(seed, b);
                    ulong g0 = b * 4;
                    Put(dst, g0, offset, z0, mean, std);
                    Put(dst, g0 + 1, offset, z1, mean, std);
                    Put(dst, g0 + 2, offset, z2, mean, std);
                    Put(dst, g0 + 3, offset, z3, mean, std);
                }
            }, inlineThreshold: 1 << 13);
        }
    }

    private static void Put<T>(Span<T> dst, ulong g, ulong offset, double z, double mean, double std) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (g >= offset && g - offset < (ulong)dst.Length) dst[(int)(g - offset)] = T.CreateTruncating(mean + std * z);
    }

    /// <summary>The four standard normals of Philox block <paramref name="block"/> of the stream of <paramref name="seed"/>.</summary>
    public static (double, double, double, double) Block(ulong seed, ulong block)
    {
        var (r0, r1, r2, r3) = Philox4x32((uint)block, (uint)(block >> 32), 0, 0, (uint)seed, (uint)(seed >> 32));
        const double twoPi = 6.283185307179586;
        // XMath (ILGPU.Algorithms): the host and every accelerator call the same functions (System.Math on the host and
        // the CPU accelerator; ILGPU's device implementations on CUDA, which may differ in the last bits).
        double rad0 = XMath.Sqrt(-2.0 * XMath.Log(Unit(r0))), th0 = twoPi * Unit(r1);
        double rad1 = XMath.Sqrt(-2.0 * XMath.Log(Unit(r2))), th1 = twoPi * Unit(r3);
        return (rad0 * XMath.Cos(th0), rad0 * XMath.Sin(th0), rad1 * XMath.Cos(th1), rad1 * XMath.Sin(th1));
    }

    private static Action<Index1D, Spread, ArrayView<T>, ulong, ulong, double, double> KernelFor<T, TE>(IlgpuBackend gpu)
        where T : unmanaged where TE : struct, IElement<T> =>
        gpu.GetKernel($"GaussianRng<{typeof(T).Name}>",
            a => a.LoadAutoGroupedStreamKernel<Index1D, Spread, ArrayView<T>, ulong, ulong, double, double>(Kernel<T, TE>));

    /// <summary>ILGPU kernel, one work item per Philox block (see Spread): <see cref="Block"/> and the window test of <see cref="Put{T}"/>.</summary>
    private static void Kernel<T, TE>(Index1D t, Spread spread, ArrayView<T> output, ulong seed, ulong offset, double mean, double std)
        where T : unmanaged where TE : struct, IElement<T>
    {
        for (int j = spread.First(t); j < spread.End(t); j += spread.Step) KernelItem<T, TE>(j, output, seed, offset, mean, std);
    }

    private static void KernelItem<T, TE>(int j, ArrayView<T> output, ulong seed, ulong offset, double mean, double std)
        where T : unmanaged where TE : struct, IElement<T>
    {
        var e = default(TE);
        ulong b = (offset >> 2) + (ulong)(int)j;
        var (z0, z1, z2, z3) = Block(seed, b);
        ulong n = (ulong)output.Length;
        ulong g = b * 4;
        if (g >= offset && g - offset < n) output[(long)(g - offset)] = e.FromDouble(mean + std * z0);
        if (g + 1 >= offset && g + 1 - offset < n) output[(long)(g + 1 - offset)] = e.FromDouble(mean + std * z1);
        if (g + 2 >= offset && g + 2 - offset < n) output[(long)(g + 2 - offset)] = e.FromDouble(mean + std * z2);
        if (g + 3 >= offset && g + 3 - offset < n) output[(long)(g + 3 - offset)] = e.FromDouble(mean + std * z3);
    }

    private static double Unit(uint r) => (r + 0.5) * 2.3283064365386963e-10;
}
