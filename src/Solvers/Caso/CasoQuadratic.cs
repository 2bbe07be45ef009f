using Saliency.Solvers.Fista;

namespace Saliency.Solvers.Caso;

/// <summary>
/// The CAFO/CASO maximisation as the FISTA minimisation of <c>f(Δ) + λ1‖Δ‖₁</c> with
/// <c>f(Δ) = ½Δᵀ Q Δ − gᵀΔ</c>, <c>Q = 2λ2 I − H</c> (CASO) or <c>2λ2 I</c> (CAFO): f is the negated smooth part of
/// <c>gᵀΔ + ½ΔᵀHΔ − λ2‖Δ‖²</c>. Q's eigenvalues lie in <c>[2λ2 − L, 2λ2]</c> (H ⪰ 0), so ∇f is 2λ2-Lipschitz and
/// f is (2λ2 − L)-strongly convex.
/// </summary>
internal sealed class CasoQuadratic : IBatchedQuadratic
{
    private readonly CasoProblem _problem;
    private readonly double _twoLambda2;
    private readonly bool _secondOrder;

    public CasoQuadratic(CasoProblem problem, double lambda2, CasoObjectiveKind kind)
    {
        _problem = problem;
        _twoLambda2 = 2 * lambda2;
        _secondOrder = kind == CasoObjectiveKind.Caso;
    }

    public int Dimension => _problem.Dimension;

    public ReadOnlySpan<double> Linear => _problem.Gradient;

    public double? LipschitzBound => _twoLambda2;

    public void MultiplyCurvature(ReadOnlySpan<double> x, Span<double> qx, int count)
    {
        int n = count * Dimension;
        if (_secondOrder)
        {
            _problem.Hessian.Multiply(x, qx, count);                                   // H x (one batched pass)
            // Q x = 2λ2 x − H x, one fused pass.
            for (int i = 0; i < n; i++) qx[i] = _twoLambda2 * x[i] - qx[i];
        }
        else
        {
            System.Numerics.Tensors.TensorPrimitives.Multiply<double>(x[..n], _twoLambda2, qx[..n]);
        }
    }
}
