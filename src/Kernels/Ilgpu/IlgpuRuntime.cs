using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace Saliency.Kernels.Ilgpu;

/// <summary>
/// The process-wide ILGPU <see cref="Context"/> (created on first use; contexts are heavy and own the compiled-kernel
/// cache) and the CUDA availability probe.
/// </summary>
internal static class IlgpuRuntime
{
    private static readonly Lazy<Context> SharedContext = new(CreateContext, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The shared context: the CPU accelerator device plus every CUDA device the driver reports, with ILGPU.Algorithms.</summary>
    public static Context Context => SharedContext.Value;

    private static Context CreateContext() =>
        // CPU device: warps of 2 threads, 2 warps per group (groups of 4, so the tests still exercise warp shuffles and
        // cross-warp group reductions), one simulated multiprocessor per core. Every simulated thread is an OS thread
        // synchronised at group boundaries: on the shared 2-core machine a launch cost ~1 ms with ILGPU's default
        // 4×4 groups and ~0.15 ms with these. CUDA devices are enumerated only when the driver library loads (a missing
        // libcuda means no device).
        Context.Create(b => b
            .CPU(new CPUDevice(2, 2, Math.Max(1, Environment.ProcessorCount)))
            .Cuda()
            .Optimize(OptimizationLevel.O2)
            .EnableAlgorithms());

    /// <summary>Whether a CUDA device can be used; <paramref name="reason"/> says why not (no driver library, no device).</summary>
    public static bool ProbeCuda(int deviceOrdinal, out string reason)
    {
        // Check the driver library ourselves first, so that the reason names what is missing.
        string library = OperatingSystem.IsWindows() ? "nvcuda.dll" : "libcuda.so.1";
        if (!NativeLibrary.TryLoad(library, out var handle))
        {
            reason = $"the NVIDIA driver library {library} was not found (no NVIDIA driver installed)";
            return false;
        }
        NativeLibrary.Free(handle);
        int count = Context.GetCudaDevices().Count;
        if (count == 0)
        {
            reason = $"the NVIDIA driver ({library}) reports no CUDA device ILGPU can use";
            return false;
        }
        if (deviceOrdinal < 0 || deviceOrdinal >= count)
        {
            reason = $"CUDA device {deviceOrdinal} does not exist ({count} device(s))";
            return false;
        }
        reason = "";
        return true;
    }
}
