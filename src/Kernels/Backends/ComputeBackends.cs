using Saliency.Kernels.Cpu;
using Saliency.Kernels.Cuda;

namespace Saliency.Kernels.Backends;

/// <summary>
/// Factory and availability probe for compute backends. The CPU backend is always there; CUDA needs
/// <c>libcuda.so.1</c>, a device and an NVRTC library (<c>libnvrtc.so.13</c>, <c>.12</c>, …) at run time.
/// </summary>
public static class ComputeBackends
{
    /// <summary>The shared CPU backend (stateless apart from its thread pool use; never needs disposing).</summary>
    public static CpuBackend Cpu => CpuBackend.Shared;

    /// <summary>Whether a CUDA backend can be created here; <paramref name="reason"/> explains why not.</summary>
    public static bool IsCudaAvailable(out string reason) => CudaRuntime.Probe(out reason);

    /// <summary>Creates a CUDA backend on device <paramref name="deviceOrdinal"/>, or returns null with the reason.</summary>
    public static CudaBackend? TryCreateCuda(out string reason, int deviceOrdinal = 0)
    {
        if (!CudaRuntime.Probe(out reason)) return null;
        try
        {
            return new CudaBackend(deviceOrdinal);
        }
        catch (CudaException ex)
        {
            reason = ex.Message;
            return null;
        }
        catch (ArgumentOutOfRangeException ex)
        {
            reason = ex.Message;
            return null;
        }
    }

    /// <summary>Creates the backend of kind <paramref name="kind"/>.</summary>
    /// <exception cref="BackendUnavailableException">The backend cannot run here; the message says why.</exception>
    public static IComputeBackend Create(BackendKind kind, int deviceOrdinal = 0)
    {
        switch (kind)
        {
            case BackendKind.Cpu:
                return Cpu;
            case BackendKind.Cuda:
                return TryCreateCuda(out var reason, deviceOrdinal) ?? throw new BackendUnavailableException(kind, reason);
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown backend kind.");
        }
    }
}
