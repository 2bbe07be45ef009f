using Saliency.Kernels.Ops;
using Saliency.Models.Classifiers;

namespace Saliency.Explainers;

/// <summary>Settings of <see cref="SmoothGradExplainer"/>.</summary>
internal sealed record SmoothGradOptions
{
    /// <summary>n, the number of noisy copies (Smilkov et al.: 50).</summary>
    public int SampleCount { get; init; } = 50;

    /// <summary>σ as a fraction of the image's range <c>max x − min x</c> (the CASO paper's 0.15).</summary>
    public double NoiseFraction { get; init; } = 0.15;

    /// <summary>Seed of the noise: copy j is window <c>[j·d, (j+1)·d)</c> of the <see cref="GaussianRng"/> stream of this seed.</summary>
    public ulong Seed { get; init; }

    /// <summary>What is differentiated: the target logit (default) or its probability.</summary>
    public TargetScore Score { get; init; } = TargetScore.Logit;

    /// <summary>Noisy copies per forward run when the probability needs p first.</summary>
    public int BatchSize { get; init; } = 64;
}

/// <summary>Report of <see cref="SmoothGradExplainer"/>.</summary>
internal sealed record SmoothGradReport : BaselineReport
{
    /// <summary>The settings used.</summary>
    public required SmoothGradOptions Options { get; init; }

    /// <summary>σ = NoiseFraction · (max x − min x).</summary>
    public required double Sigma { get; init; }
}

/// <summary>
/// SmoothGrad (Smilkov, Thorat, Kim, Viégas, Wattenberg 2017, eq. 2): <c>(1/n) Σⱼ ∇ₓ S(x + σ ξⱼ)</c>, ξⱼ ~ N(0, I),
/// with σ = 0.15 × the input range as in the CASO paper and S the target logit (or probability). The noisy copies are not
/// clipped to the input range. The gradient of a linear model's logit is constant, so there the map is w for any σ.
/// </summary>
/// <remarks>
/// Runs: one forward run of the clean image (target, scores) and one Jacobian run per copy — the exported Jacobian
/// model takes one image per run, so the n gradients cannot share a run (plus one forward run per
/// <see cref="SmoothGradOptions.BatchSize"/> copies for the probability, which needs p before its cotangent).
/// </remarks>
internal sealed class SmoothGradExplainer : IExplainer
{
    /// <summary>Creates the explainer.</summary>
    public SmoothGradExplainer(SmoothGradOptions? options = null) => Options = options ?? new SmoothGradOptions();

    /// <summary>The settings.</summary>
    public SmoothGradOptions Options { get; }

    /// <inheritdoc />
    public string Name => "smoothgrad";

    /// <summary>
    /// Copy <paramref name="index"/> of the noisy inputs, <c>x + σ ξ_index</c> with ξ the window at offset index·d of the
    /// seeded Gaussian stream (the same stream on CPU and CUDA; any copy can be regenerated alone).
    /// </summary>
    public static void NoisyCopy(ReadOnlySpan<float> image, double sigma, ulong seed, int index, Span<float> destination)
    {
        GaussianRng.Fill(destination[..image.Length], seed, checked((ulong)index * (ulong)image.Length), 0, sigma);
        for (int i = 0; i < image.Length; i++) destination[i] += image[i];
    }

    /// <inheritdoc />
    public BaselineExplanation<SmoothGradReport> Explain(IClassifier classifier, ReadOnlySpan<float> image, int? target = null)
    {
        ExplainerGuard.Validate(classifier, image, target);
        var (channels, height, width) = ExplainerGuard.ImageShape(classifier);
        int n = Options.SampleCount;
        BaselineRunner.CheckCount(n, 1, nameof(Options.SampleCount), "The number of noisy copies n");
        BaselineRunner.CheckFinite(Options.NoiseFraction, nameof(Options.NoiseFraction), "The noise fraction");
        var runner = new BaselineRunner(classifier, Options.Score, Options.BatchSize);
        double sigma = Options.NoiseFraction * (TensorMax(image) - TensorMin(image));

        var x = image.ToArray();
        runner.Scores(1, target, (_, dst) => x.CopyTo(dst));
        int t = runner.Target;
        var sum = runner.GradientSum(n, t, (j, dst) => NoisyCopy(x, sigma, Options.Seed, j, dst));
        var mean = new double[sum.Length];
        for (int i = 0; i < sum.Length; i++) mean[i] = sum[i] / n;

        var report = new SmoothGradReport { Options = Options, Sigma = sigma, Runs = runner.Runs };
        var map = SaliencyMap.FromDoubles(mean, channels, height, width);
        return new BaselineExplanation<SmoothGradReport>(Name, map, t, runner.CleanScores!,
        [
            new("score", Options.Score == TargetScore.Logit ? "∇ logit" : "∇ probability"),
            new("noisy copies n", $"{n}, seed {Options.Seed}"),
            new("σ", $"{ExplainerGuard.Format(sigma)} ({ExplainerGuard.Format(Options.NoiseFraction)} × input range)"),
            new("model runs", report.Runs.ToString()),
        ], report);
    }

    private static float TensorMax(ReadOnlySpan<float> v) => System.Numerics.Tensors.TensorPrimitives.Max(v);

    private static float TensorMin(ReadOnlySpan<float> v) => System.Numerics.Tensors.TensorPrimitives.Min(v);

    Explanation IExplainer.Explain(IClassifier classifier, ReadOnlySpan<float> image, int? target) => Explain(classifier, image, target);
}
