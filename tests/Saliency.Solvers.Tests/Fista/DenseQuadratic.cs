using MathNet.Numerics.LinearAlgebra;
using Saliency.Solvers.Fista;

namespace Saliency.Solvers.Tests.Fista;

/// <summary>f(x) = ½xᵀQx − bᵀx with an explicit dense Q; counts batched calls and slices.</summary>
internal sealed class DenseQuadratic : IBatchedQuadratic
{
    private readonly double[] _b;

    public DenseQuadratic(Matrix<double> q, double[] b, double? lipschitzBound)
    {
        Q = q;
        _b = b;
        LipschitzBound = lipschitzBound;
    }

    public Matrix<double> Q { get; }
    public int Calls { get; private set; }
    public int Dimension => _b.Length;
    public ReadOnlySpan<double> Linear => _b;
    public double[] B => _b;
    public double? LipschitzBound { get; }

    public void MultiplyCurvature(ReadOnlySpan<double> x, Span<double> qx, int count)
    {
        Calls++;
        int d = Dimension;
        for (int j = 0; j < count; j++)
        {
            var v = Q * Vector<double>.Build.Dense(x.Slice(j * d, d).ToArray());
            for (int i = 0; i < d; i++) qx[j * d + i] = v[i];
        }
    }

    public double Objective(double[] x, double lambda)
        => 0.5 * Vector<double>.Build.Dense(x).DotProduct(Q * Vector<double>.Build.Dense(x)) - _b.Zip(x, (a, c) => a * c).Sum() + lambda * x.Sum(Math.Abs);

    /// <summary>Q = MᵀM/d + μI with eigenvalues in about [μ, μ + 4]; b Gaussian.</summary>
    public static DenseQuadratic Random(int d, double mu, int seed, bool knownBound = true)
    {
        var rng = new Random(seed);
        var m = Matrix<double>.Build.Dense(d, d, (_, _) => Gaussian(rng));
        var q = m.TransposeThisAndMultiply(m) / d + mu * Matrix<double>.Build.DenseIdentity(d);
        var b = Enumerable.Range(0, d).Select(_ => Gaussian(rng)).ToArray();
        double lmax = q.Evd(Symmetricity.Symmetric).EigenValues.Max(e => e.Real);
        return new DenseQuadratic(q, b, knownBound ? lmax : null);
    }

    public double LambdaMax => Q.Evd(Symmetricity.Symmetric).EigenValues.Max(e => e.Real);

    public static double Gaussian(Random rng)
    {
        double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}

/// <summary>
/// Independent reference: cyclic coordinate descent in float64 for ½xᵀQx − bᵀx + λ‖x‖₁ (Q positive definite):
/// xᵢ ← S_λ(bᵢ − Σ_{j≠i} Qᵢⱼxⱼ) / Qᵢᵢ, until no coordinate moves by more than 1e-15 relative.
/// </summary>
internal static class CoordinateDescent
{
    public static double[] Solve(Matrix<double> q, double[] b, double lambda, int maxSweeps = 200_000)
    {
        int d = b.Length;
        var x = new double[d];
        var qx = new double[d]; // Q x maintained incrementally
        for (int sweep = 0; sweep < maxSweeps; sweep++)
        {
            double change = 0, size = 0;
            for (int i = 0; i < d; i++)
            {
                double rest = b[i] - (qx[i] - q[i, i] * x[i]);
                double xi = (rest > lambda ? rest - lambda : rest < -lambda ? rest + lambda : 0.0) / q[i, i];
                double delta = xi - x[i];
                if (delta != 0)
                {
                    for (int k = 0; k < d; k++) qx[k] += q[k, i] * delta;
                    x[i] = xi;
                }
                change = Math.Max(change, Math.Abs(delta));
                size = Math.Max(size, Math.Abs(xi));
            }
            if (change <= 1e-15 * Math.Max(size, 1e-300)) return x;
        }
        throw new InvalidOperationException("Coordinate descent did not converge.");
    }
}
