using Saliency.Kernels.Backends;
using Saliency.Kernels.Cpu;

namespace Saliency.Kernels.Tests;

/// <summary>Deterministic random inputs and dense float64 references shared by the kernel tests.</summary>
internal static class TestData
{
    public static double[] Uniform(int n, int seed, double lo = -1, double hi = 1)
    {
        var rng = new Random(seed);
        var a = new double[n];
        for (int i = 0; i < n; i++) a[i] = lo + (hi - lo) * rng.NextDouble();
        return a;
    }

    public static float[] UniformF(int n, int seed, double lo = -1, double hi = 1) => Uniform(n, seed, lo, hi).Select(v => (float)v).ToArray();

    public static CpuBuffer<T> Cpu<T>(T[] values) where T : unmanaged => CpuBackend.Shared.FromSpan<T>(values);

    public static T[] Download<T>(DeviceBuffer<T> buffer) where T : unmanaged
    {
        var host = new T[buffer.Length];
        buffer.Backend.Download(buffer, host);
        return host;
    }

    /// <summary>Dense D (m×p) of the anisotropic forward differences, built row by row from the documented layout.</summary>
    public static double[,] DenseD(int p1, int p2)
    {
        int p = p1 * p2, m = 2 * p - p1 - p2;
        var d = new double[m, p];
        foreach (var (row, col, value) in Saliency.TestSupport.DenseGridDifference.Entries(p1, p2)) d[row, col] = value;
        return d;
    }

    public static double[] MatVec(double[,] a, double[] x)
    {
        int m = a.GetLength(0), n = a.GetLength(1);
        var y = new double[m];
        for (int i = 0; i < m; i++)
        {
            double s = 0;
            for (int j = 0; j < n; j++) s += a[i, j] * x[j];
            y[i] = s;
        }
        return y;
    }

    public static double[] MatTVec(double[,] a, double[] y)
    {
        int m = a.GetLength(0), n = a.GetLength(1);
        var x = new double[n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) x[j] += a[i, j] * y[i];
        return x;
    }

    public static double MaxAbsDiff(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        Assert.That(a.Length, Is.EqualTo(b.Length));
        double m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs(a[i] - b[i]));
        return m;
    }

    public static double MaxAbs(ReadOnlySpan<double> a)
    {
        double m = 0;
        foreach (var v in a) m = Math.Max(m, Math.Abs(v));
        return m;
    }
}
