using System.Runtime.CompilerServices;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using Saliency.Kernels.Cpu;
using Saliency.Kernels.Ilgpu;

namespace Saliency.Kernels.Backends;

/// <summary>
/// Factory and availability probe for compute backends. <see cref="BackendKind.Cpu"/> and
/// <see cref="BackendKind.IlgpuCpu"/> are always there; <see cref="BackendKind.Cuda"/> needs the NVIDIA driver
/// (<c>libcuda.so.1</c>) and a device at run time (ILGPU compiles the kernels to PTX itself: no CUDA toolkit needed).
/// </summary>
internal static class ComputeBackends
{
    /// <summary>The shared CPU backend (stateless apart from its thread pool use; never needs disposing).</summary>
    public static CpuBackend Cpu => CpuBackend.Shared;

    /// <summary>Whether a backend of kind <paramref name="kind"/> can be created here; <paramref name="reason"/> explains why not.</summary>
    public static bool IsAvailable(BackendKind kind, out string reason, int deviceOrdinal = 0)
    {
        switch (kind)
        {
            case BackendKind.Cpu:
            case BackendKind.IlgpuCpu:
                reason = "";
                return true;
            case BackendKind.Cuda:
                try
                {
                    return IlgpuRuntime.ProbeCuda(deviceOrdinal, out reason);
                }
                catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException or TypeInitializationException)
                {
                    reason = $"the CUDA driver could not be initialised ({ex.Message})";
                    return false;
                }
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown backend kind.");
        }
    }

    /// <summary>Creates a backend of kind <paramref name="kind"/>, or returns null with the reason it is unavailable.</summary>
    public static IComputeBackend? TryCreate(BackendKind kind, out string reason, int deviceOrdinal = 0)
    {
        if (kind == BackendKind.Cpu)
        {
            reason = "";
            return Cpu;
        }
        return IsAvailable(kind, out reason, deviceOrdinal) ? TryCreateIlgpu(kind, out reason, deviceOrdinal) : null;
    }

    /// <summary>A new ILGPU accelerator of <paramref name="kind"/>. Kept out of <see cref="TryCreate"/> so that the CPU
    /// backend never loads ILGPU (its assembly load and JIT are a measurable part of a one-shot CLI run).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static IlgpuBackend? TryCreateIlgpu(BackendKind kind, out string reason, int deviceOrdinal)
    {
        reason = "";
        try
        {
            return kind == BackendKind.IlgpuCpu
                ? new IlgpuBackend(kind, IlgpuRuntime.Context.CreateCPUAccelerator(0, CPUAcceleratorMode.Parallel))
                : new IlgpuBackend(kind, IlgpuRuntime.Context.CreateCudaAccelerator(deviceOrdinal));
        }
        catch (Exception ex) when (ex is ILGPU.Runtime.AcceleratorException or InvalidOperationException or NotSupportedException)
        {
            reason = ex.Message;
            return null;
        }
    }

    /// <summary>Creates the backend of kind <paramref name="kind"/> (a new ILGPU accelerator for the ILGPU kinds: dispose it).</summary>
    /// <exception cref="BackendUnavailableException">The backend cannot run here; the message says why.</exception>
    public static IComputeBackend Create(BackendKind kind, int deviceOrdinal = 0) =>
        TryCreate(kind, out var reason, deviceOrdinal) ?? throw new BackendUnavailableException(kind, reason);

    /// <summary>Creates a CUDA backend on device <paramref name="deviceOrdinal"/>, or returns null with the reason.</summary>
    public static IlgpuBackend? TryCreateCuda(out string reason, int deviceOrdinal = 0) =>
        (IlgpuBackend?)TryCreate(BackendKind.Cuda, out reason, deviceOrdinal);
}
