namespace Saliency.Kernels.Backends;

/// <summary>The kind of device a <see cref="IComputeBackend"/> computes on.</summary>
internal enum BackendKind
{
    /// <summary>Host CPU: hand-vectorised Span code, <c>TensorPrimitives</c> and <c>Parallel.For</c>. Always available; the test reference.</summary>
    Cpu,

    /// <summary>
    /// The ILGPU kernels run by ILGPU's CPU accelerator (threads simulating GPU groups). Always available: it runs
    /// the same kernel code as <see cref="Cuda"/> in every test run, so the device kernels are tested without a GPU.
    /// </summary>
    IlgpuCpu,

    /// <summary>NVIDIA GPU through ILGPU's CUDA accelerator (the kernels compiled by ILGPU to PTX; needs only the driver).</summary>
    Cuda,
}
