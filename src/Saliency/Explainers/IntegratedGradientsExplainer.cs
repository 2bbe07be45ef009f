using Saliency.Models.Classifiers;

namespace Saliency.Explainers;

/// <summary>Settings of <see cref="IntegratedGradientsExplainer"/>.</summary>
internal sealed record IntegratedGradientsOptions
{
    /// <summary>m, the number of points on the straight path (Sundararajan et al.: 20 to 300 suffice).</summary>
    public int Steps { get; init; } = 64;

    /// <summary>The baseline image x′; null = <see cref="BaselineValue"/> everywhere.</summary>
    public float[]? Baseline { get; init; }

    /// <summary>The constant baseline when <see cref="Baseline"/> is null (default 0: black for inputs in [0, 1]).</summary>
    public float BaselineValue { get; init; }

    /// <summary>What is attributed: the target logit (default) or its probability.</summary>
    public TargetScore Score { get; init; } = TargetScore.Logit;

    /// <summary>Path points per forward run when the probability needs p first.</summary>
    public int BatchSize { get; init; } = 64;
}

/// <summary>Report of <see cref="IntegratedGradientsExplainer"/>.</summary>
internal sealed record IntegratedGradientsReport : BaselineReport
{
    /// <summary>m.</summary>
    public required int Steps { get; init; }

    /// <summary>The quadrature rule: always "midpoint" (α_k = (k − ½)/m).</summary>
    public string Rule => "midpoint";

    /// <summary>F(x), the score of the image.</summary>
    public required double InputScore { get; init; }

    /// <summary>F(x′), the score of the baseline.</summary>
    public required double BaselineScore { get; init; }

    /// <summary>Σᵢ attributionᵢ, in float64.</summary>
    public required double AttributionSum { get; init; }

    /// <summary>
    /// The completeness gap <c>|Σ attributions − (F(x) − F(x′))| / |F(x) − F(x′)|</c> (Sundararajan et al., Proposition 1:
    /// zero for the exact integral; the quadrature's error otherwise). NaN when F(x) = F(x′).
    /// </summary>
    public required double CompletenessGap { get; init; }
}

/// <summary>
/// Integrated Gradients (Sundararajan, Taly, Yan, ICML 2017, eq. 3): <c>(x − x′) ⊙ ∫₀¹ ∇F(x′ + α(x − x′)) dα</c> for the
/// target score F, by the midpoint rule with m points, <c>α_k = (k − ½)/m</c> (exact for F quadratic along the path,
/// and never evaluates a gradient at x′ itself, where black images often sit on ReLU kinks). The completeness gap
/// measures the quadrature error. On a linear model the gradient is constant and the map is exactly <c>w ⊙ (x − x′)</c>.
/// </summary>
/// <remarks>Runs: one forward run of [x, x′]; one Jacobian run per path point (the exported Jacobian model takes one
/// image per run); for the probability, one forward run per <see cref="IntegratedGradientsOptions.BatchSize"/> points.</remarks>
internal sealed class IntegratedGradientsExplainer : IExplainer
{
    /// <summary>Creates the explainer.</summary>
    public IntegratedGradientsExplainer(IntegratedGradientsOptions? options = null) => Options = options ?? new IntegratedGradientsOptions();

    /// <summary>The settings.</summary>
    public IntegratedGradientsOptions Options { get; }

    /// <inheritdoc />
    public string Name => "ig";

    /// <inheritdoc />
    public BaselineExplanation<IntegratedGradientsReport> Explain(IClassifier classifier, ReadOnlySpan<float> image, int? target = null)
    {
        ExplainerGuard.Validate(classifier, image, target);
        var (channels, height, width) = ExplainerGuard.ImageShape(classifier);
        int m = Options.Steps;
        BaselineRunner.CheckCount(m, 1, nameof(Options.Steps), "The number of steps m");
        var baseline = BaselineRunner.ResolveBaseline(classifier, Options.Baseline, Options.BaselineValue);
        var runner = new BaselineRunner(classifier, Options.Score, Options.BatchSize);
        var x = image.ToArray();
        int d = x.Length;

        // F(x) and F(x′) in one run; x first, so that its scores resolve the target.
        var ends = runner.Scores(2, target, (i, dst) => (i == 0 ? x : baseline).CopyTo(dst));
        int t = runner.Target;
        var sum = runner.GradientSum(m, t, (k, dst) =>
        {
            float alpha = (float)((k + 0.5) / m);
            for (int i = 0; i < d; i++) dst[i] = baseline[i] + alpha * (x[i] - baseline[i]);
        });
        var attribution = new double[d];
        double total = 0;
        for (int i = 0; i < d; i++)
        {
            attribution[i] = ((double)x[i] - baseline[i]) * sum[i] / m;
            total += attribution[i];
        }
        double difference = ends[0] - ends[1];
        double gap = difference == 0 ? double.NaN : Math.Abs(total - difference) / Math.Abs(difference);

        var report = new IntegratedGradientsReport
        {
            Steps = m, InputScore = ends[0], BaselineScore = ends[1], AttributionSum = total, CompletenessGap = gap, Runs = runner.Runs,
        };
        var map = SaliencyMap.FromDoubles(attribution, channels, height, width);
        string baselineText = Options.Baseline is null ? $"constant {ExplainerGuard.Format(Options.BaselineValue)}" : "given image";
        return new BaselineExplanation<IntegratedGradientsReport>(Name, map, t, runner.CleanScores!,
        [
            new("score", Options.Score == TargetScore.Logit ? "logit" : "probability"),
            new("steps m", $"{m} (midpoint rule)"),
            new("baseline x′", baselineText),
            new("F(x) − F(x′)", $"{ExplainerGuard.Format(ends[0])} − {ExplainerGuard.Format(ends[1])}"),
            new("completeness gap", double.IsNaN(gap) ? "undefined (F(x) = F(x′))" : ExplainerGuard.Format(gap)),
            new("model runs", report.Runs.ToString()),
        ], report);
    }

    Explanation IExplainer.Explain(IClassifier classifier, ReadOnlySpan<float> image, int? target) => Explain(classifier, image, target);
}
