using MathNet.Numerics.LinearAlgebra;

namespace Saliency.Linalg.Tests.Hessian;

/// <summary>Seeded random Jacobians and probability vectors, and the dense H they define (the test oracle).</summary>
internal static class HessianTestData
{
    public static double Gaussian(Random rng)
    {
        double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    public static Matrix<double> RandomJacobian(int d, int c, int seed)
    {
        var rng = new Random(seed);
        return Matrix<double>.Build.Dense(d, c, (_, _) => Gaussian(rng));
    }

    /// <summary>softmax(logits / temperature) of Gaussian logits; low temperature = high confidence.</summary>
    public static double[] RandomProbabilities(int c, int seed, double temperature = 1.0)
    {
        var rng = new Random(seed);
        var z = new double[c];
        for (int i = 0; i < c; i++) z[i] = Gaussian(rng) / temperature;
        double max = z.Max(), sum = 0;
        for (int i = 0; i < c; i++) sum += z[i] = Math.Exp(z[i] - max);
        for (int i = 0; i < c; i++) z[i] /= sum;
        return z;
    }

    /// <summary>The theorem's setting: class 0 has 1 − (c−1)ε, every other class ε.</summary>
    public static double[] TheoremProbabilities(int c, double offTopMass)
    {
        var p = new double[c];
        double eps = offTopMass / (c - 1);
        for (int i = 1; i < c; i++) p[i] = eps;
        p[0] = 1 - offTopMass;
        return p;
    }

    /// <summary>Dense H = Σ w W (diag(p) − ppᵀ) Wᵀ, formed explicitly (d×d).</summary>
    public static Matrix<double> DenseHessian(Matrix<double> w, double[] p, double weight = 1.0)
    {
        int c = p.Length;
        var a = Matrix<double>.Build.Dense(c, c, (i, j) => (i == j ? p[i] : 0) - p[i] * p[j]);
        return w * a * w.Transpose() * weight;
    }

    public static double[] DescendingEigenvalues(Matrix<double> symmetric)
    {
        var evd = symmetric.Evd(MathNet.Numerics.LinearAlgebra.Symmetricity.Symmetric);
        return evd.EigenValues.Select(v => v.Real).OrderByDescending(v => v).ToArray();
    }
}
