namespace Saliency.Tests.Evaluation;

/// <summary>Test-side reference formulas, written from the definitions and independent of the library's code.</summary>
internal static class EvaluationOracles
{
    /// <summary>Average ranks by counting: rank(i) = 1 + #{x_j &lt; x_i} + (#{x_j = x_i} − 1)/2. O(n²).</summary>
    public static double[] AverageRanks(IReadOnlyList<double> x)
    {
        var r = new double[x.Count];
        for (int i = 0; i < x.Count; i++)
        {
            int less = 0, equal = 0;
            for (int j = 0; j < x.Count; j++)
            {
                if (x[j] < x[i]) less++;
                else if (x[j] == x[i]) equal++;
            }
            r[i] = 1 + less + (equal - 1) / 2.0;
        }
        return r;
    }

    /// <summary>Pearson correlation by the textbook formula Σ(a−ā)(b−b̄)/√(Σ(a−ā)² Σ(b−b̄)²).</summary>
    public static double Pearson(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        double ma = a.Average(), mb = b.Average(), sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < a.Count; i++)
        {
            sab += (a[i] - ma) * (b[i] - mb);
            saa += (a[i] - ma) * (a[i] - ma);
            sbb += (b[i] - mb) * (b[i] - mb);
        }
        return sab / Math.Sqrt(saa * sbb);
    }

    /// <summary>Spearman as the Pearson correlation of counted average ranks.</summary>
    public static double Spearman(IReadOnlyList<double> a, IReadOnlyList<double> b) => Pearson(AverageRanks(a), AverageRanks(b));

    /// <summary>
    /// Wang et al.'s index on one window given as two value lists, with sample (N − 1) statistics, R = 1:
    /// (2μxμy + C1)(2σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2)).
    /// </summary>
    public static double WindowSsim(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        const double c1 = 0.01 * 0.01, c2 = 0.03 * 0.03;
        int n = x.Count;
        double mx = x.Average(), my = y.Average(), vx = 0, vy = 0, cxy = 0;
        for (int i = 0; i < n; i++)
        {
            vx += (x[i] - mx) * (x[i] - mx);
            vy += (y[i] - my) * (y[i] - my);
            cxy += (x[i] - mx) * (y[i] - my);
        }
        vx /= n - 1;
        vy /= n - 1;
        cxy /= n - 1;
        return (2 * mx * my + c1) * (2 * cxy + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2));
    }

    /// <summary>Values of a w×w window at (r, c) of an H×W row-major picture.</summary>
    public static double[] Window(float[] picture, int width, int r, int c, int w)
    {
        var v = new List<double>();
        for (int i = r; i < r + w; i++)
            for (int j = c; j < c + w; j++) v.Add(picture[i * width + j]);
        return [.. v];
    }

    /// <summary>Seeded uniform floats in [lo, hi).</summary>
    public static float[] Uniform(int n, int seed, double lo = 0, double hi = 1)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(lo + (hi - lo) * rng.NextDouble())).ToArray();
    }
}
