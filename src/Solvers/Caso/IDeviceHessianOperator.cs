using Saliency.Kernels.Backends;

namespace Saliency.Solvers.Caso;

/// <summary>
/// A Hessian operator whose products can also run device to device (float32 buffers on <see cref="Backend"/>), so
/// that <see cref="Fista.DeviceFistaSolver"/> keeps the whole CASO solve on the accelerator.
/// </summary>
internal interface IDeviceHessianOperator : IHessianOperator
{
    /// <summary>The backend the device products run on; null when the operator has a host-only part (then only the host <see cref="IHessianOperator.Multiply"/> works).</summary>
    IComputeBackend? Backend { get; }

    /// <summary>
    /// <c>hv ← H v</c> for the <c>v.Length / d</c> vectors stored slice-major, queued on <see cref="Backend"/> (no host round
    /// trip). <paramref name="hv"/> must not be <paramref name="v"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException"><see cref="Backend"/> is null.</exception>
    void Multiply(DeviceBuffer<float> v, DeviceBuffer<float> hv);
}
