namespace Saliency.Kernels.Backends;

/// <summary>The kind of device a <see cref="IComputeBackend"/> computes on.</summary>
public enum BackendKind
{
    /// <summary>Host CPU: managed spans, <c>TensorPrimitives</c> and <c>Parallel.For</c>. Always available; the test reference.</summary>
    Cpu,

    /// <summary>NVIDIA GPU through the CUDA driver API, kernels compiled at run time by NVRTC.</summary>
    Cuda,
}
