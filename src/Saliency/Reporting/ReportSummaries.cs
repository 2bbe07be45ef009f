using MathNet.Numerics.Statistics;
using Saliency.Evaluation;

namespace Saliency.Reporting;

/// <summary>The means a report shows, computed from its per-image rows only (so a merge recomputes them exactly).</summary>
public static class ReportSummaries
{
    /// <summary>
    /// Per method: the mean masking curves and AUCs over the images (the LEG paper's §5.2 averages); per method and step:
    /// the sanity-check means (<see cref="SanityCheckResult.Summary"/>); Spearman ρ(p_y, cos) of Theorem 5 over the
    /// images where the cosine is defined; the mean rank-one error (Theorem 4). Rows are taken in document order.
    /// </summary>
    public static ReportSummary Compute(ReportDocument document)
    {
        ArgumentNullException.ThrowIfNull(document);
        var sensitivity = document.Parameters.Methods.Select(method =>
        {
            var rows = document.Sensitivity.Where(c => c.Method == method).ToArray();
            if (rows.Length == 0) return new SensitivitySummary(method, 0, [], [], [], double.NaN, double.NaN, double.NaN);
            return new SensitivitySummary(method, rows.Length, Mean(rows.Select(r => r.DeletionLogOdds)), Mean(rows.Select(r => r.DeletionProbabilities)),
                Mean(rows.Select(r => r.InsertionProbabilities)), rows.Average(r => r.DeletionLogOddsAuc), rows.Average(r => r.DeletionAuc),
                rows.Average(r => r.InsertionAuc));
        }).ToArray();
        var sanity = document.Sanity.Count == 0 ? [] : new SanityCheckResult([], [], document.Sanity).Summary();
        var defined = document.CasoVersusCafo.Where(r => double.IsFinite(r.Cosine)).ToArray();
        double rho = defined.Length >= 2 ? Correlation.Spearman(defined.Select(r => r.Confidence), defined.Select(r => r.Cosine)) : double.NaN;
        var errors = document.RankOne.Where(r => double.IsFinite(r.RelativeError)).Select(r => r.RelativeError).ToArray();
        return new ReportSummary
        {
            Sensitivity = sensitivity,
            Sanity = sanity,
            ConfidenceCosineSpearman = rho,
            MeanRankOneError = errors.Length > 0 ? errors.Average() : double.NaN,
        };
    }

    private static double[] Mean(IEnumerable<double[]> curves)
    {
        double[]? sum = null;
        int n = 0;
        foreach (var c in curves)
        {
            sum ??= new double[c.Length];
            if (c.Length != sum.Length) throw new EvaluationInputException("Curves of different lengths cannot be averaged.", nameof(curves));
            for (int k = 0; k < c.Length; k++) sum[k] += c[k];
            n++;
        }
        return sum is null ? [] : sum.Select(v => v / n).ToArray();
    }
}
