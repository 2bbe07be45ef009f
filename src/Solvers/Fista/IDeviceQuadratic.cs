using Saliency.Kernels.Backends;

namespace Saliency.Solvers.Fista;

/// <summary>
/// The device-resident counterpart of <see cref="IBatchedQuadratic"/>: <c>f(x) = ½ xᵀQx − bᵀx</c> on R^d whose
/// products <c>Q x</c> run on <see cref="Backend"/> over float32 <see cref="DeviceBuffer{T}"/>s, for several vectors at
/// once. <see cref="DeviceFistaSolver"/> keeps all of its state there.
/// </summary>
internal interface IDeviceQuadratic
{
    /// <summary>Where the products run; the solver allocates its state here.</summary>
    IComputeBackend Backend { get; }

    /// <summary>Dimension d of x.</summary>
    int Dimension { get; }

    /// <summary>The linear term b (length d, host), uploaded once per solve.</summary>
    ReadOnlySpan<double> Linear { get; }

    /// <summary>
    /// An upper bound on <c>λ_max(Q)</c> (the Lipschitz constant of ∇f). Required here: the device loop takes the
    /// step 1/L without a per-iteration test (see <see cref="DeviceFistaSolver"/>).
    /// </summary>
    double LipschitzBound { get; }

    /// <summary>
    /// <c>qx ← Q x</c> for the <c>x.Length / d</c> vectors stored slice-major, queued on <see cref="Backend"/> without a
    /// host round trip (for CASO: one batched Hessian-vector-product pass over W). <paramref name="qx"/> is not <paramref name="x"/>.
    /// </summary>
    void MultiplyCurvature(DeviceBuffer<float> x, DeviceBuffer<float> qx);
}
