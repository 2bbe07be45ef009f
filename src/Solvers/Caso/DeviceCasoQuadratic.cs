using Saliency.Kernels.Backends;
using Saliency.Kernels.Ops;
using Saliency.Solvers.Fista;

namespace Saliency.Solvers.Caso;

/// <summary>
/// <see cref="CasoQuadratic"/> on a device: <c>Q x = 2λ2 x − H x</c> (CASO: the batched HVP over W on the device, then
/// one axpby pass) or <c>2λ2 x</c> (CAFO: one axpby pass), float32 buffers, no host round trip.
/// </summary>
internal sealed class DeviceCasoQuadratic : IDeviceQuadratic
{
    private readonly CasoProblem _problem;
    private readonly IDeviceHessianOperator? _hessian;
    private readonly double _twoLambda2;
    private float[] _scale = [], _minusOne = [], _zero = [];

    public DeviceCasoQuadratic(CasoProblem problem, IComputeBackend backend, double lambda2, CasoObjectiveKind kind)
    {
        _problem = problem;
        Backend = backend;
        _twoLambda2 = 2 * lambda2;
        if (kind == CasoObjectiveKind.Caso)
        {
            _hessian = problem.Hessian as IDeviceHessianOperator;
            if (_hessian?.Backend is null || !ReferenceEquals(_hessian.Backend, backend))
                throw new CasoInputException($"The problem's Hessian does not run on the {backend.Kind} backend; build it there (CasoProblem.FromClassMajor).");
        }
    }

    public IComputeBackend Backend { get; }

    public int Dimension => _problem.Dimension;

    public ReadOnlySpan<double> Linear => _problem.Gradient;

    public double LipschitzBound => _twoLambda2;

    public void MultiplyCurvature(DeviceBuffer<float> x, DeviceBuffer<float> qx)
    {
        int slices = x.Length / Dimension;
        if (_scale.Length != slices)
        {
            _scale = Enumerable.Repeat((float)_twoLambda2, slices).ToArray();
            _minusOne = Enumerable.Repeat(-1f, slices).ToArray();
            _zero = new float[slices];
        }
        if (_hessian is not null)
        {
            _hessian.Multiply(x, qx);                                   // H x (one batched pass over W)
            VectorOps.Axpby<float>(x, qx, Dimension, _scale, _minusOne); // Q x = 2λ2 x − H x
        }
        else
        {
            VectorOps.Axpby<float>(x, qx, Dimension, _scale, _zero);     // Q x = 2λ2 x
        }
    }
}
