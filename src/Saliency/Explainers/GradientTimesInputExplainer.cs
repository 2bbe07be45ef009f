using Saliency.Models.Classifiers;

namespace Saliency.Explainers;

/// <summary>Report of <see cref="GradientTimesInputExplainer"/>.</summary>
internal sealed record GradientTimesInputReport : BaselineReport
{
    /// <summary>What was differentiated.</summary>
    public required GradientObjective Objective { get; init; }
}

/// <summary>
/// Gradient × input (Shrikumar et al. 2016; Ancona et al. 2018): <c>x ⊙ ∇ₓ logit_target</c> (or the loss gradient).
/// For a linear model <c>logit = wᵀx + b</c> it is <c>w ⊙ x</c>, the per-pixel terms of the logit without the bias;
/// for a piecewise-linear network it is the same decomposition of the locally affine logit.
/// </summary>
internal sealed class GradientTimesInputExplainer : IExplainer
{
    /// <summary>Creates the explainer.</summary>
    public GradientTimesInputExplainer(GradientObjective objective = GradientObjective.Logit) => Objective = objective;

    /// <summary>What is differentiated.</summary>
    public GradientObjective Objective { get; }

    /// <inheritdoc />
    public string Name => "gradient-x-input";

    /// <inheritdoc />
    public BaselineExplanation<GradientTimesInputReport> Explain(IClassifier classifier, ReadOnlySpan<float> image, int? target = null)
    {
        // The gradient explainer validates and makes the runs it needs (one Jacobian run; a forward run first when the
        // target must be resolved or the loss cotangent p − y needs p).
        var gradient = new GradientExplainer(Objective).Explain(classifier, image, target);
        var g = gradient.Map.Values;
        var values = new float[g.Length];
        for (int i = 0; i < values.Length; i++) values[i] = g[i] * image[i];
        var runs = Objective == GradientObjective.Loss || target is null ? new ModelRuns(1, 1, 2) : new ModelRuns(0, 1, 1);
        var map = new SaliencyMap(values, gradient.Map.Channels, gradient.Map.Height, gradient.Map.Width);
        var report = new GradientTimesInputReport { Objective = Objective, Runs = runs };
        return new BaselineExplanation<GradientTimesInputReport>(Name, map, gradient.Target, gradient.Scores,
            [new("objective", Objective == GradientObjective.Logit ? "∇ logit ⊙ x" : "∇ loss ⊙ x"), new("model runs", runs.ToString())], report);
    }

    Explanation IExplainer.Explain(IClassifier classifier, ReadOnlySpan<float> image, int? target) => Explain(classifier, image, target);
}
