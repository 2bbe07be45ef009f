using MathNet.Numerics.LinearAlgebra;

namespace Saliency.Solvers.Tests.Caso;

/// <summary>Seeded random CASO instances and the dense quantities that serve as oracles.</summary>
internal static class CasoTestData
{
    public static double Gaussian(Random rng)
    {
        double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    public static Matrix<double> RandomJacobian(int d, int c, int seed, double scale = 1.0)
    {
        var rng = new Random(seed);
        return Matrix<double>.Build.Dense(d, c, (_, _) => scale * Gaussian(rng));
    }

    public static double[] Softmax(double[] z)
    {
        double max = z.Max(), sum = 0;
        var p = new double[z.Length];
        for (int i = 0; i < z.Length; i++) sum += p[i] = Math.Exp(z[i] - max);
        for (int i = 0; i < z.Length; i++) p[i] /= sum;
        return p;
    }

    public static double[] RandomProbabilities(int c, int seed, double temperature = 1.0)
    {
        var rng = new Random(seed);
        return Softmax(Enumerable.Range(0, c).Select(_ => Gaussian(rng) / temperature).ToArray());
    }

    /// <summary>Class 0 has 1 − (c−1)ε, the others ε (Theorem 4/5 setting).</summary>
    public static double[] TheoremProbabilities(int c, double offTopMass)
    {
        var p = Enumerable.Repeat(offTopMass / (c - 1), c).ToArray();
        p[0] = 1 - offTopMass;
        return p;
    }

    public static Matrix<double> DenseHessian(Matrix<double> w, double[] p)
    {
        int c = p.Length;
        var a = Matrix<double>.Build.Dense(c, c, (i, j) => (i == j ? p[i] : 0) - p[i] * p[j]);
        return w * a * w.Transpose();
    }

    public static Vector<double> Gradient(Matrix<double> w, double[] p, int target)
        => w * Vector<double>.Build.Dense(p.Length, i => p[i] - (i == target ? 1 : 0));

    public static double LambdaMax(Matrix<double> h)
        => h.Evd(Symmetricity.Symmetric).EigenValues.Max(e => e.Real);

    public static double Cosine(double[] a, double[] b)
    {
        double ab = 0, aa = 0, bb = 0;
        for (int i = 0; i < a.Length; i++) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
        return ab / Math.Sqrt(aa * bb);
    }

    public static double RelativeError(double[] actual, Vector<double> expected)
    {
        double diff = 0;
        for (int i = 0; i < actual.Length; i++) diff += (actual[i] - expected[i]) * (actual[i] - expected[i]);
        return Math.Sqrt(diff) / expected.L2Norm();
    }
}
