using System.Diagnostics;
using Saliency.Linalg.Grid;
using Saliency.Models.Classifiers;
using Saliency.Solvers.Leg;
using Saliency.Solvers.Lp;

namespace Saliency.Explainers;

/// <summary>Settings of <see cref="LegExplainer"/>.</summary>
public sealed record LegExplainerOptions
{
    /// <summary>LEG-TV (true) or empirical LEG <c>Σ⁻¹y</c> (false, default).</summary>
    public bool TotalVariation { get; init; }

    /// <summary>
    /// Full sampling settings: grid, σ², n, seed, batch size. Null = <see cref="SampleCount"/> antithetic evaluations
    /// (plain sampling when odd) with <see cref="Seed"/>, σ² = 0.1, on the image grid itself for images up to 32×32
    /// (digits: 28×28, no upsampling), on the paper's 28×28 grid upsampled otherwise.
    /// </summary>
    public LegOptions? Sampling { get; init; }

    /// <summary>n, the number of model evaluations, when <see cref="Sampling"/> is null (paper: 500…3000).</summary>
    public int SampleCount { get; init; } = 1000;

    /// <summary>Seed of the perturbations when <see cref="Sampling"/> is null.</summary>
    public ulong Seed { get; init; }

    /// <summary>LEG-TV settings: the rule for L (default <c>0.1·L_max</c>) and the LP solver.</summary>
    public LegTvOptions TvOptions { get; init; } = new();

    /// <summary>Cell side in pixels of <see cref="DigitDemo"/>'s grid.</summary>
    public const int DigitDemoCell = 2;

    /// <summary>K_L of <see cref="DigitDemo"/>.</summary>
    public const double DigitDemoBoundFactor = 0.5;

    /// <summary>
    /// LEG-TV as the demo runs it on a small image: the paper computes on a coarse grid (Luo et al. 2019: 28×28 cells
    /// of 8×8 pixels on 224×224, upsampled); here cells of <see cref="DigitDemoCell"/>×<see cref="DigitDemoCell"/>
    /// pixels (14×14 for a 28×28 digit), nearest upsampling, σ² = 0.1, n antithetic evaluations and
    /// L = <see cref="DigitDemoBoundFactor"/>·L_max. The paper's K_L ∈ {0.05, 0.1} is not TV-sparse on LeNet digits:
    /// on 28×28, 14×14 and 7×7 grids it leaves 59–94 % of the cells as separate constant regions (L is so tight that
    /// nearly every constraint of ‖Σγ − y‖∞ ≤ L is active); K_L = 0.5 on 14×14 leaves 7–20 % (docs/evaluation.md,
    /// "LEG-TV demo grid"). A side that is not a multiple of the cell keeps one-pixel cells.
    /// </summary>
    public static LegExplainerOptions DigitDemo(int height, int width, int samples = 4000, ulong seed = 0, double boundFactor = DigitDemoBoundFactor) => new()
    {
        TotalVariation = true,
        Sampling = new LegOptions
        {
            Grid = height % DigitDemoCell == 0 && width % DigitDemoCell == 0
                ? new GridShape(height / DigitDemoCell, width / DigitDemoCell) : new GridShape(height, width),
            SampleCount = samples,
            Seed = seed,
            Antithetic = samples % 2 == 0,
        },
        TvOptions = new LegTvOptions { BoundFactor = boundFactor },
    };
}

/// <summary>
/// Wall-clock phases of one LEG/LEG-TV explanation (Stopwatch, disjoint: their sum is at most <see cref="Total"/>,
/// which adds the report and the constant-region count).
/// </summary>
/// <param name="Predict">The forward run at x₀ that resolves the target.</param>
/// <param name="Sampling">Drawing the perturbations, upsampling, forming x₀ ± Uz.</param>
/// <param name="Forward">The n + 1 black-box evaluations (batched forward passes).</param>
/// <param name="Moments">Accumulating y.</param>
/// <param name="Estimate">Σ⁻¹y (LEG), or the per-channel LPs (LEG-TV) with their bounds.</param>
/// <param name="Total">From after validation to the result.</param>
public sealed record LegTimings(TimeSpan Predict, TimeSpan Sampling, TimeSpan Forward, TimeSpan Moments, TimeSpan Estimate, TimeSpan Total)
{
    /// <summary>Everything but the model's forward passes (<see cref="Predict"/> and <see cref="Forward"/>).</summary>
    public TimeSpan Overhead => Total - Forward - Predict;
}

/// <summary>A LEG / LEG-TV explanation with the estimator's report.</summary>
public sealed class LegExplanation : Explanation
{
    internal LegExplanation(string method, SaliencyMap map, int target, ClassScores scores,
        IReadOnlyList<KeyValuePair<string, string>> details, LegMoments moments, LegResult result, int constantRegions, LegTimings? timings = null)
        : base(method, map, target, scores, details)
    {
        Timings = timings;
        Moments = moments;
        Result = result;
        ConstantRegions = constantRegions;
    }

    /// <summary>
    /// Distinct constant regions of the map on the grid (<see cref="Evaluation.ConstantRegions.Count"/>, 4-neighbourhood,
    /// tolerance 1e-3·max|γ|, summed over channels): LEG-TV's TV-sparsity; about the cell count for empirical LEG.
    /// </summary>
    public int ConstantRegions { get; }

    /// <summary>Where the explanation's time went (null when the producer did not measure it).</summary>
    public LegTimings? Timings { get; }

    /// <summary>The sampling stage's moments y and f(x₀).</summary>
    public LegMoments Moments { get; }

    /// <summary>The estimate on the grid (with the LP solutions and certificates for LEG-TV).</summary>
    public LegResult Result { get; }
}

/// <summary>
/// LEG and LEG-TV saliency (Luo, Barut, Jin, 2019) with the target-class probability as the black box:
/// n perturbed copies <c>x₀ + z</c>, <c>z ~ N(0, Σ)</c> on the grid, go through the classifier's batched forward pass
/// (<see cref="ClassifierProbabilityFunction"/>), then <see cref="LegEstimator"/> forms <c>γ̂ = Σ⁻¹y</c> or solves the
/// LEG-TV LP per channel. The map is the signed per-channel estimate on the grid.
/// </summary>
public sealed class LegExplainer : IExplainer
{
    /// <summary>Creates the explainer.</summary>
    public LegExplainer(LegExplainerOptions? options = null) => Options = options ?? new LegExplainerOptions();

    /// <summary>The settings.</summary>
    public LegExplainerOptions Options { get; }

    /// <inheritdoc />
    public string Name => Options.TotalVariation ? "leg-tv" : "leg";

    /// <summary>The sampling settings used for an image of <paramref name="height"/>×<paramref name="width"/>.</summary>
    public LegOptions SamplingFor(int height, int width) =>
        Options.Sampling ?? new LegOptions
        {
            Grid = height <= 32 && width <= 32 ? new GridShape(height, width) : new GridShape(28, 28),
            SampleCount = Options.SampleCount,
            Seed = Options.Seed,
            // Antithetic pairs cancel the even-order terms of f's expansion; an odd n cannot be paired.
            Antithetic = Options.SampleCount % 2 == 0,
        };

    /// <inheritdoc />
    /// <exception cref="ArgumentOutOfRangeException">Invalid sampling or LEG-TV settings.</exception>
    public LegExplanation Explain(IClassifier classifier, ReadOnlySpan<float> image, int? target = null)
    {
        ExplainerGuard.Validate(classifier, image, target);
        long started = Stopwatch.GetTimestamp();
        // One forward run at x₀: it resolves the target and is reused as f(x₀) by the sampling stage.
        var scores = classifier.Predict(image);
        int t = target ?? scores.PredictedClass();
        var f = new ClassifierProbabilityFunction(classifier, t, image, scores);
        var sampling = SamplingFor(f.Height, f.Width);
        var predict = Stopwatch.GetElapsedTime(started);
        var moments = LegEstimator.EstimateMoments(f, image, sampling);
        long phase = Stopwatch.GetTimestamp();
        var result = Options.TotalVariation ? LegEstimator.LegTv(moments, Options.TvOptions) : LegEstimator.EmpiricalLeg(moments);
        var estimate = Stopwatch.GetElapsedTime(phase);

        var details = new List<KeyValuePair<string, string>>
        {
            new("grid", $"{sampling.Grid.Rows}×{sampling.Grid.Cols} ({sampling.Upsampling} upsampling to {f.Height}×{f.Width})"),
            new("samples n", $"{moments.SampleCount}{(sampling.Antithetic ? " (antithetic)" : "")}, seed {sampling.Seed}"),
            new("σ²", sampling.Covariance is null ? ExplainerGuard.Format(sampling.NoiseVariance) : "custom covariance"),
            new("f(x₀) = p_target", ExplainerGuard.Format(moments.BaselineValue)),
        };
        if (result.Solutions is { } solutions)
        {
            for (int c = 0; c < solutions.Length; c++)
            {
                var s = solutions[c];
                string channel = solutions.Length == 1 ? "" : $" [channel {c}]";
                details.Add(new($"L{channel}", $"{ExplainerGuard.Format(result.Bounds![c])} ({Options.TvOptions.BoundRule})"));
                details.Add(new($"LP{channel}", $"{s.Status}, {s.Iterations} iterations, gap {ExplainerGuard.Format(s.Certificate.RelativeGap)}"));
            }
        }
        var map = SaliencyMap.FromDoubles(result.PerChannel, result.Channels, sampling.Grid.Rows, sampling.Grid.Cols);
        details.Add(new("sparsity η", ExplainerGuard.Format(map.SparsityRatio)));
        int regions = Evaluation.ConstantRegions.Count(map.Values, map.Height, map.Width, map.Channels);
        details.Add(new("constant regions", $"{regions} of {map.Values.Length} cells"));
        var stage = moments.Timings!;
        var timings = new LegTimings(predict, stage.Sampling, stage.Forward, stage.Moments, estimate, Stopwatch.GetElapsedTime(started));
        return new LegExplanation(Name, map, t, scores, details, moments, result, regions, timings);
    }

    Explanation IExplainer.Explain(IClassifier classifier, ReadOnlySpan<float> image, int? target) => Explain(classifier, image, target);
}
