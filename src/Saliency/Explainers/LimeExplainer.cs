using MathNet.Numerics.LinearAlgebra;
using Saliency.Imaging;
using Saliency.Models.Classifiers;

namespace Saliency.Explainers;

/// <summary>The distance between the image (all features on) and a perturbed sample, for LIME's kernel.</summary>
public enum LimeDistance
{
    /// <summary>Cosine distance of the binary vectors, <c>1 − √(|z|/F)</c> (1 for the empty sample); lime_image's default.</summary>
    Cosine,

    /// <summary>Fraction of features switched off, <c>(F − |z|)/F</c>.</summary>
    Hamming,
}

/// <summary>What LIME's interpretable features are.</summary>
public enum LimeFeatureKind
{
    /// <summary>Square grid cells of <see cref="LimeOptions.Cell"/> pixels.</summary>
    Grid,

    /// <summary>SLIC superpixels of the explained image (<see cref="Slic"/>; lime_image segments with quickshift by default, SLIC is its documented alternative).</summary>
    Superpixel,
}

/// <summary>Settings of <see cref="LimeExplainer"/>.</summary>
public sealed record LimeOptions
{
    /// <summary>Grid cells (default) or superpixels.</summary>
    public LimeFeatureKind Features { get; init; } = LimeFeatureKind.Grid;

    /// <summary>Side of the square grid cells that are the features, in pixels (grid features).</summary>
    public int Cell { get; init; } = 4;

    /// <summary>K, the number of superpixels SLIC aims at (superpixel features).</summary>
    public int Segments { get; init; } = 50;

    /// <summary>SLIC's compactness m (superpixel features).</summary>
    public double Compactness { get; init; } = 10;

    /// <summary>n, the number of perturbed samples (the first is the image itself).</summary>
    public int SampleCount { get; init; } = 1000;

    /// <summary>The kernel width σ of <c>π(z) = exp(−D(z)²/σ²)</c> (lime_image: 0.25).</summary>
    public double KernelWidth { get; init; } = 0.25;

    /// <summary>The distance D.</summary>
    public LimeDistance Distance { get; init; } = LimeDistance.Cosine;

    /// <summary>α of the ridge penalty <c>α‖β‖²</c> (intercept unpenalised; LIME's scikit-learn Ridge: 1).</summary>
    public double Ridge { get; init; } = 1.0;

    /// <summary>Seed of the masks.</summary>
    public ulong Seed { get; init; }

    /// <summary>The baseline image that switched-off features take; null = <see cref="BaselineValue"/> everywhere.</summary>
    public float[]? Baseline { get; init; }

    /// <summary>The value of switched-off features when <see cref="Baseline"/> is null (default 0).</summary>
    public float BaselineValue { get; init; }

    /// <summary>The explained output: the target logit (default) or its probability.</summary>
    public TargetScore Score { get; init; } = TargetScore.Logit;

    /// <summary>Samples per forward run.</summary>
    public int BatchSize { get; init; } = 64;
}

/// <summary>Report of <see cref="LimeExplainer"/>.</summary>
public sealed record LimeReport : BaselineReport
{
    /// <summary>The settings used.</summary>
    public required LimeOptions Options { get; init; }

    /// <summary>F, the number of features.</summary>
    public required int Features { get; init; }

    /// <summary>The SLIC segmentation (label per pixel) when the features are superpixels; null for grid cells.</summary>
    public Superpixels? Segments { get; init; }

    /// <summary>β₀ of the surrogate.</summary>
    public required double Intercept { get; init; }

    /// <summary>β, one coefficient per feature (row-major cells): the surrogate's change when the feature is switched on.</summary>
    public required double[] Coefficients { get; init; }

    /// <summary>Kernel-weighted R² of the surrogate on the samples.</summary>
    public required double WeightedR2 { get; init; }
}

/// <summary>
/// LIME (Ribeiro, Singh, Guestrin, KDD 2016, eq. 1–2) with grid or SLIC superpixel features: n binary vectors z ∈ {0,1}^F (z₁ = 1, the image; the
/// others Bernoulli(½) per feature as in lime_image), the image with the off features from the baseline, and the surrogate
/// <c>F(z) ≈ β₀ + βᵀz</c> fitted by kernel-weighted ridge regression, <c>min Σᵢ π(zᵢ)(Fᵢ − β₀ − βᵀzᵢ)² + α‖β‖²</c>,
/// solved by Householder QR of the √π-weighted design stacked over √α I (no normal equations). For a linear model the
/// score is exactly affine in z with <c>β_c = Σ_{i∈c} wᵢ(xᵢ − x′ᵢ)</c> for each feature c, which LIME recovers as α → 0.
/// The map spreads β_c evenly over the feature's values.
/// </summary>
public sealed class LimeExplainer : IExplainer
{
    /// <summary>Creates the explainer.</summary>
    public LimeExplainer(LimeOptions? options = null) => Options = options ?? new LimeOptions();

    /// <summary>The settings.</summary>
    public LimeOptions Options { get; }

    /// <inheritdoc />
    public string Name => "lime";

    /// <summary>Sample <paramref name="index"/>'s mask: all on for sample 0, else bit f on when uniform word (index·F + f) &lt; 2³¹.</summary>
    public static void Mask(ulong seed, int features, int index, Span<bool> on)
    {
        for (int f = 0; f < features; f++)
            on[f] = index == 0 || BaselineRunner.UniformWord(seed, (ulong)index * (ulong)features + (ulong)f) < 0x8000_0000u;
    }

    /// <summary>The kernel weight π of a sample with <paramref name="active"/> of <paramref name="features"/> features on.</summary>
    public static double Kernel(LimeDistance distance, double width, int active, int features)
    {
        double d = distance == LimeDistance.Cosine
            ? (active == 0 ? 1.0 : 1.0 - Math.Sqrt(active / (double)features))
            : (features - active) / (double)features;
        return Math.Exp(-d * d / (width * width));
    }

    /// <inheritdoc />
    public BaselineExplanation<LimeReport> Explain(IClassifier classifier, ReadOnlySpan<float> image, int? target = null)
    {
        ExplainerGuard.Validate(classifier, image, target);
        var (channels, height, width) = ExplainerGuard.ImageShape(classifier);
        int n = Options.SampleCount;
        BaselineRunner.CheckCount(n, 2, nameof(Options.SampleCount), "The number of samples n");
        BaselineRunner.CheckFinite(Options.KernelWidth, nameof(Options.KernelWidth), "The kernel width", positive: true);
        BaselineRunner.CheckFinite(Options.Ridge, nameof(Options.Ridge), "The ridge α");
        if (!Enum.IsDefined(Options.Distance)) throw new ExplainerInputException($"Unknown distance {Options.Distance}.", nameof(Options.Distance));
        if (!Enum.IsDefined(Options.Features)) throw new ExplainerInputException($"Unknown feature kind {Options.Features}.", nameof(Options.Features));
        ImageFeatures grid = Options.Features == LimeFeatureKind.Grid
            ? new GridFeatures(channels, height, width, Options.Cell)
            : new SuperpixelFeatures(image, channels, height, width,
                new SlicOptions { Segments = Options.Segments, Compactness = Options.Compactness });
        int features = grid.Count;
        var baseline = BaselineRunner.ResolveBaseline(classifier, Options.Baseline, Options.BaselineValue);
        var x = image.ToArray();

        var masks = new bool[n * features];
        for (int i = 0; i < n; i++) Mask(Options.Seed, features, i, masks.AsSpan(i * features, features));
        var runner = new BaselineRunner(classifier, Options.Score, Options.BatchSize);
        var scores = runner.Scores(n, target, (i, dst) => grid.Compose(x, baseline, masks.AsSpan(i * features, features), dst));

        // Rows i < n: √πᵢ [1, zᵢ] → √πᵢ Fᵢ; rows n + f: √α e_{f+1} → 0 (the ridge, intercept free).
        var a = Matrix<double>.Build.Dense(n + features, features + 1);
        var b = Vector<double>.Build.Dense(n + features);
        var weights = new double[n];
        for (int i = 0; i < n; i++)
        {
            var z = masks.AsSpan(i * features, features);
            int active = 0;
            foreach (bool on in z) active += on ? 1 : 0;
            weights[i] = Kernel(Options.Distance, Options.KernelWidth, active, features);
            double s = Math.Sqrt(weights[i]);
            a[i, 0] = s;
            for (int f = 0; f < features; f++) a[i, f + 1] = z[f] ? s : 0;
            b[i] = s * scores[i];
        }
        double ridge = Math.Sqrt(Options.Ridge);
        for (int f = 0; f < features; f++) a[n + f, f + 1] = ridge;
        var beta = a.QR(MathNet.Numerics.LinearAlgebra.Factorization.QRMethod.Thin).Solve(b);
        if (beta.Any(v => !double.IsFinite(v)))
            throw new ExplainerInputException(
                $"The LIME regression is singular ({n} samples for {features} features, α = {Options.Ridge}); use more samples or a ridge α > 0.", nameof(Options.SampleCount));

        var coefficients = beta.SubVector(1, features).ToArray();
        double r2 = WeightedR2(masks, features, scores, weights, beta[0], coefficients);
        var report = new LimeReport
        {
            Options = Options, Features = features, Segments = (grid as SuperpixelFeatures)?.Segments, Intercept = beta[0], Coefficients = coefficients, WeightedR2 = r2, Runs = runner.Runs,
        };
        return new BaselineExplanation<LimeReport>(Name, grid.Spread(coefficients), runner.Target, runner.CleanScores!,
        [
            new("score", Options.Score == TargetScore.Logit ? "logit" : "probability"),
            new("features", grid.Description),
            new("samples n", $"{n}, seed {Options.Seed}"),
            new("kernel", $"exp(−D²/σ²), D = {Options.Distance.ToString().ToLowerInvariant()}, σ = {ExplainerGuard.Format(Options.KernelWidth)}"),
            new("ridge α", ExplainerGuard.Format(Options.Ridge)),
            new("weighted R²", ExplainerGuard.Format(r2)),
            new("model runs", report.Runs.ToString()),
        ], report);
    }

    private static double WeightedR2(bool[] masks, int features, double[] scores, double[] weights, double intercept, double[] beta)
    {
        double wSum = weights.Sum(), mean = 0;
        for (int i = 0; i < scores.Length; i++) mean += weights[i] * scores[i] / wSum;
        double residual = 0, total = 0;
        for (int i = 0; i < scores.Length; i++)
        {
            double fit = intercept;
            for (int f = 0; f < features; f++) if (masks[i * features + f]) fit += beta[f];
            residual += weights[i] * (scores[i] - fit) * (scores[i] - fit);
            total += weights[i] * (scores[i] - mean) * (scores[i] - mean);
        }
        return total == 0 ? 1 : 1 - residual / total;
    }

    Explanation IExplainer.Explain(IClassifier classifier, ReadOnlySpan<float> image, int? target) => Explain(classifier, image, target);
}
