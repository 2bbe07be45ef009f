using Saliency.Models.Classifiers;

namespace Saliency.Explainers;

/// <summary>What the vanilla gradient differentiates.</summary>
public enum GradientObjective
{
    /// <summary>∇ₓ logit_target (column of the Jacobian W).</summary>
    Logit,

    /// <summary>∇ₓ(−log p_target) = W(p − y), the cross-entropy gradient CAFO/CASO start from.</summary>
    Loss,
}

/// <summary>The vanilla gradient baseline: the gradient of the target logit (default) or of the loss with respect to the image.</summary>
public sealed class GradientExplainer : IExplainer
{
    /// <summary>Creates the explainer.</summary>
    public GradientExplainer(GradientObjective objective = GradientObjective.Logit) => Objective = objective;

    /// <summary>What is differentiated.</summary>
    public GradientObjective Objective { get; }

    /// <inheritdoc />
    public string Name => "gradient";

    /// <inheritdoc />
    public Explanation Explain(IClassifier classifier, ReadOnlySpan<float> image, int? target = null)
    {
        int t = ExplainerGuard.Target(classifier, image, target, out var scores);
        var (channels, height, width) = ExplainerGuard.ImageShape(classifier);
        float[] gradient = Objective == GradientObjective.Logit
            ? classifier.Jacobian(image, [t]).Column(0).ToArray()
            : classifier.LossGradient(image, t).Gradient;
        var map = new SaliencyMap(gradient, channels, height, width);
        return new Explanation(Name, map, t, scores,
            [new("objective", Objective == GradientObjective.Logit ? "∇ logit" : "∇ loss"), new("sparsity η", ExplainerGuard.Format(map.SparsityRatio))]);
    }
}
