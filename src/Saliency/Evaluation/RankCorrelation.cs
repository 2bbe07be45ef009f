using MathNet.Numerics.Statistics;

namespace Saliency.Evaluation;

/// <summary>
/// Spearman's rank correlation ρ: the Pearson correlation of the ranks, ties given the average of the ranks they span
/// (MathNet's <c>RankDefinition.Average</c>; the "fractional ranking" of Spearman's tie correction). The sanity check
/// compares maps by ρ of the signed values and of |values| (Adebayo et al. 2018, §3).
/// </summary>
internal static class RankCorrelation
{
    /// <summary>
    /// ρ between <paramref name="a"/> and <paramref name="b"/> (same length ≥ 2). NaN when either vector is constant:
    /// its ranks have no variance and the correlation is undefined (an all-zero map after randomization, say).
    /// </summary>
    /// <exception cref="EvaluationInputException">Lengths differ or are below 2, or a value is NaN/∞.</exception>
    public static double Spearman(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Check(a, b);
        var ra = Ranks(a, absolute: false);
        var rb = Ranks(b, absolute: false);
        return PearsonOfRanks(ra, rb);
    }

    /// <summary>ρ between |a| and |b| (the ranking of magnitudes, which the maps' visualisations show).</summary>
    /// <exception cref="EvaluationInputException">Lengths differ or are below 2, or a value is NaN/∞.</exception>
    public static double SpearmanOfAbsolute(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Check(a, b);
        return PearsonOfRanks(Ranks(a, absolute: true), Ranks(b, absolute: true));
    }

    /// <summary>Ranks 1…n of <paramref name="values"/> (|values| when <paramref name="absolute"/>), ties averaged.</summary>
    public static double[] Ranks(ReadOnlySpan<float> values, bool absolute = false)
    {
        var data = new double[values.Length];
        for (int i = 0; i < data.Length; i++) data[i] = absolute ? Math.Abs((double)values[i]) : values[i];
        return ArrayStatistics.RanksInplace(data, RankDefinition.Average);
    }

    private static double PearsonOfRanks(double[] ra, double[] rb)
    {
        // Ranks of a constant vector are all (n+1)/2: zero variance, so ρ is 0/0. Say so with NaN rather than let
        // rounding produce an arbitrary number.
        if (IsConstant(ra) || IsConstant(rb)) return double.NaN;
        // |ρ| ≤ 1 by Cauchy–Schwarz; rounding can overshoot by an ulp.
        return Math.Clamp(Correlation.Pearson(ra, rb), -1, 1);
    }

    private static bool IsConstant(double[] v)
    {
        for (int i = 1; i < v.Length; i++)
            if (v[i] != v[0]) return false;
        return true;
    }

    private static void Check(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length)
            throw new EvaluationInputException($"Rank correlation needs vectors of one length, got {a.Length} and {b.Length}.");
        if (a.Length < 2)
            throw new EvaluationInputException($"Rank correlation needs at least 2 values, got {a.Length}.");
        for (int i = 0; i < a.Length; i++)
            if (!float.IsFinite(a[i]) || !float.IsFinite(b[i]))
                throw new EvaluationInputException($"Value {i} is NaN or infinite ({a[i]}, {b[i]}).");
    }
}
