using MathNet.Numerics.LinearAlgebra;

namespace Saliency.Bench.Caso;

/// <summary>Seeded synthetic CASO inputs: Gaussian class-major float32 Jacobians and a confident softmax.</summary>
internal static class CasoBenchData
{
    /// <summary>W (d×c class-major, entries N(0, scale²)), filled in parallel from per-class seeds.</summary>
    public static float[] Jacobian(int d, int c, double scale, int seed)
    {
        var w = new float[(long)d * c];
        Parallel.For(0, c, j =>
        {
            var rng = new Random(seed + 7919 * j);
            var col = w.AsSpan(j * d, d);
            for (int i = 0; i < d; i++)
            {
                double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
                col[i] = (float)(scale * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
            }
        });
        return w;
    }

    /// <summary>softmax of Gaussian logits / temperature (low temperature: confident prediction).</summary>
    public static double[] Probabilities(int c, double temperature, int seed)
    {
        var rng = new Random(seed);
        var z = new double[c];
        for (int i = 0; i < c; i++)
        {
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            z[i] = Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2) / temperature;
        }
        double max = z.Max(), sum = 0;
        for (int i = 0; i < c; i++) sum += z[i] = Math.Exp(z[i] - max);
        for (int i = 0; i < c; i++) z[i] /= sum;
        return z;
    }

    /// <summary>The same W as a float64 MathNet matrix (for the float64 reference path).</summary>
    public static Matrix<double> ToMatrix(float[] w, int d, int c)
    {
        var data = new double[w.Length];
        for (int i = 0; i < w.Length; i++) data[i] = w[i];
        return Matrix<double>.Build.Dense(d, c, data); // column-major storage = class-major
    }
}
