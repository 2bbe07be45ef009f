using Saliency.Explainers;

namespace Saliency;

/// <summary>
/// The public reports of Grad-CAM, occlusion, LIME and Kernel SHAP, read off the explainers' internal reports
/// (<see cref="BaselineExplanation{TReport}"/>): every figure is one the explainer computed, nothing is re-run.
/// </summary>
internal static class BaselineReports
{
    /// <summary>The public report of a baseline explanation; null for any other explanation.</summary>
    public static ExplanationReport? From(Explanation explanation) => explanation switch
    {
        BaselineExplanation<Explainers.GradCamReport> g => From(g.Report),
        BaselineExplanation<Explainers.OcclusionReport> o => From(o.Report),
        BaselineExplanation<Explainers.LimeReport> l => From(l.Report),
        BaselineExplanation<Explainers.KernelShapReport> k => From(k.Report),
        _ => null,
    };

    /// <summary>Grad-CAM: α_k (eq. 1) and the coarse map after eq. 2's ReLU, where a clipped cell is exactly 0.</summary>
    public static GradCamReport From(Explainers.GradCamReport r)
    {
        var (channels, height, width) = r.ActivationShape;
        return new GradCamReport(r.Layer, channels, height, width, r.Weights.Count(a => a > 0), r.CoarseMap.Count(v => v == 0));
    }

    /// <summary>Occlusion: the model scored the clean image and each window position once (BaselineRunner counts the images).</summary>
    public static OcclusionReport From(Explainers.OcclusionReport r) =>
        new(r.Options.Window, r.Options.Stride, r.Windows, r.Options.Baseline is null ? r.Options.BaselineValue : null,
            checked((int)r.Runs.Images), r.InputScore);

    /// <summary>LIME: the settings behind the surrogate and its fit diagnostic (LimeExplainer computes the weighted R²).</summary>
    public static LimeReport From(Explainers.LimeReport r)
    {
        var o = r.Options;
        bool grid = o.Features == LimeFeatureKind.Grid;
        return new LimeReport(grid ? FeatureKind.GridCells : FeatureKind.Superpixels, r.Features, grid ? o.Cell : null, grid ? null : o.Segments,
            o.SampleCount, o.KernelWidth, o.Ridge, r.Intercept, r.WeightedR2, o.Seed);
    }

    /// <summary>Kernel SHAP: the coalitions, the efficiency check and the surrogate's weighted R².</summary>
    public static KernelShapReport From(Explainers.KernelShapReport r) =>
        new(r.Features, r.Options.Cell, r.Enumerated, r.Coalitions, r.Enumerated ? null : r.Options.Seed, r.BaseValue, r.InputValue,
            r.EfficiencyGap, r.WeightedR2);
}
