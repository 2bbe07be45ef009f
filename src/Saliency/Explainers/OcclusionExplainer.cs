using Saliency.Models.Classifiers;

namespace Saliency.Explainers;

/// <summary>Settings of <see cref="OcclusionExplainer"/>.</summary>
internal sealed record OcclusionOptions
{
    /// <summary>Window side in pixels (square windows; all channels are occluded together).</summary>
    public int Window { get; init; } = 4;

    /// <summary>Step between window positions; the last position in each direction touches the border.</summary>
    public int Stride { get; init; } = 2;

    /// <summary>The baseline image whose values fill the window; null = <see cref="BaselineValue"/> everywhere.</summary>
    public float[]? Baseline { get; init; }

    /// <summary>The fill value when <see cref="Baseline"/> is null (default 0).</summary>
    public float BaselineValue { get; init; }

    /// <summary>What drops: the target logit (default) or its probability.</summary>
    public TargetScore Score { get; init; } = TargetScore.Logit;

    /// <summary>Occluded images per forward run.</summary>
    public int BatchSize { get; init; } = 64;
}

/// <summary>Report of <see cref="OcclusionExplainer"/>.</summary>
internal sealed record OcclusionReport : BaselineReport
{
    /// <summary>The settings used.</summary>
    public required OcclusionOptions Options { get; init; }

    /// <summary>Number of window positions (occluded images).</summary>
    public required int Windows { get; init; }

    /// <summary>F(x), the score of the unoccluded image.</summary>
    public required double InputScore { get; init; }
}

/// <summary>
/// Occlusion (Zeiler and Fergus, ECCV 2014, §4.2): slide a window over the image, replace it with the baseline, and
/// record the drop of the target score <c>F(x) − F(x with the window occluded)</c>. Each drop is spread evenly over
/// the window's values (channels × pixels) and every value's map entry is the mean over the windows that cover it.
/// For a linear model and a 1×1 window on one channel the map is exactly <c>w ⊙ (x − baseline)</c>.
/// </summary>
/// <remarks>Runs: the clean image and the occluded ones go through <see cref="IClassifier.Predict"/> in batches of
/// <see cref="OcclusionOptions.BatchSize"/>, the clean image first: ⌈(windows + 1)/batch⌉ forward runs.</remarks>
internal sealed class OcclusionExplainer : IExplainer
{
    /// <summary>Creates the explainer.</summary>
    public OcclusionExplainer(OcclusionOptions? options = null) => Options = options ?? new OcclusionOptions();

    /// <summary>The settings.</summary>
    public OcclusionOptions Options { get; }

    /// <inheritdoc />
    public string Name => "occlusion";

    /// <summary>Window origins along an axis of <paramref name="size"/>: 0, s, 2s, … and the last one flush with the border.</summary>
    public static int[] Positions(int size, int window, int stride)
    {
        var positions = new List<int>();
        int last = Math.Max(0, size - window);
        for (int p = 0; p < last; p += stride) positions.Add(p);
        positions.Add(last);
        return [.. positions];
    }

    /// <inheritdoc />
    public BaselineExplanation<OcclusionReport> Explain(IClassifier classifier, ReadOnlySpan<float> image, int? target = null)
    {
        ExplainerGuard.Validate(classifier, image, target);
        var (channels, height, width) = ExplainerGuard.ImageShape(classifier);
        int window = Options.Window, stride = Options.Stride;
        if (window < 1 || window > Math.Min(height, width))
            throw new ExplainerInputException($"The occlusion window {window} must lie in 1..{Math.Min(height, width)}.", nameof(Options.Window));
        if (stride < 1 || stride > window)
            throw new ExplainerInputException($"The stride {stride} must lie in 1..{window} (the window size), so every pixel is covered.", nameof(Options.Stride));
        var baseline = BaselineRunner.ResolveBaseline(classifier, Options.Baseline, Options.BaselineValue);
        var rows = Positions(height, window, stride);
        var cols = Positions(width, window, stride);
        int windows = rows.Length * cols.Length;
        int wh = Math.Min(window, height), ww = Math.Min(window, width), plane = height * width;
        var x = image.ToArray();

        var runner = new BaselineRunner(classifier, Options.Score, Options.BatchSize);
        // Image 0 is x itself; image 1 + k has window k (row-major over origins) filled from the baseline.
        var scores = runner.Scores(windows + 1, target, (i, dst) =>
        {
            x.CopyTo(dst);
            if (i == 0) return;
            int y0 = rows[(i - 1) / cols.Length], x0 = cols[(i - 1) % cols.Length];
            for (int ch = 0; ch < channels; ch++)
                for (int y = y0; y < y0 + wh; y++)
                {
                    int at = ch * plane + y * width + x0;
                    baseline.AsSpan(at, ww).CopyTo(dst[at..]);
                }
        });

        var sum = new double[plane];
        var cover = new int[plane];
        double perValue = 1.0 / (channels * wh * ww);
        for (int k = 0; k < windows; k++)
        {
            int y0 = rows[k / cols.Length], x0 = cols[k % cols.Length];
            double share = (scores[0] - scores[k + 1]) * perValue;
            for (int y = y0; y < y0 + wh; y++)
                for (int xx = x0; xx < x0 + ww; xx++)
                {
                    sum[y * width + xx] += share;
                    cover[y * width + xx]++;
                }
        }
        var values = new double[channels * plane];
        for (int ch = 0; ch < channels; ch++)
            for (int i = 0; i < plane; i++) values[ch * plane + i] = sum[i] / cover[i];

        var report = new OcclusionReport { Options = Options, Windows = windows, InputScore = scores[0], Runs = runner.Runs };
        var map = SaliencyMap.FromDoubles(values, channels, height, width);
        return new BaselineExplanation<OcclusionReport>(Name, map, runner.Target, runner.CleanScores!,
        [
            new("score drop", Options.Score == TargetScore.Logit ? "logit" : "probability"),
            new("window / stride", $"{window}×{window} / {stride} ({rows.Length}×{cols.Length} = {windows} positions)"),
            new("baseline", Options.Baseline is null ? $"constant {ExplainerGuard.Format(Options.BaselineValue)}" : "given image"),
            new("model runs", report.Runs.ToString()),
        ], report);
    }

    Explanation IExplainer.Explain(IClassifier classifier, ReadOnlySpan<float> image, int? target) => Explain(classifier, image, target);
}
