using Saliency.Models.Classifiers;

namespace Saliency.Explainers;

/// <summary>What the vanilla gradient differentiates.</summary>
internal enum GradientObjective
{
    /// <summary>∇ₓ logit_target (column of the Jacobian W).</summary>
    Logit,

    /// <summary>∇ₓ(−log p_target) = W(p − y), the cross-entropy gradient CAFO/CASO start from.</summary>
    Loss,
}

/// <summary>The vanilla gradient baseline: the gradient of the target logit (default) or of the loss with respect to the image.</summary>
internal sealed class GradientExplainer : IExplainer
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
        ExplainerGuard.Validate(classifier, image, target);
        var (channels, height, width) = ExplainerGuard.ImageShape(classifier);
        float[] gradient;
        ClassScores scores;
        int t;
        if (Objective == GradientObjective.Loss)
        {
            // The classifier needs p before the loss cotangent p − y: its forward run also resolves the target.
            var loss = classifier.LossGradient(image, target);
            (gradient, t, scores) = (loss.Gradient, loss.Target, loss.Scores);
        }
        else
        {
            // With a given target the Jacobian run alone gives the column and the scores; otherwise one forward run picks the class.
            t = target ?? classifier.Predict(image).PredictedClass();
            var column = classifier.Jacobian(image, [t]);
            (gradient, scores) = (column.Column(0).ToArray(), column.Scores);
        }
        var map = new SaliencyMap(gradient, channels, height, width);
        return new Explanation(Name, map, t, scores,
            [new("objective", Objective == GradientObjective.Logit ? "∇ logit" : "∇ loss"), new("sparsity η", ExplainerGuard.Format(map.SparsityRatio))]);
    }
}
