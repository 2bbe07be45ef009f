using Saliency.Imaging;
using Saliency.Kernels.Ops;
using Saliency.Models.Classifiers;

namespace Saliency.Explainers;

/// <summary>The scalar a baseline explainer attributes: the target's logit or its softmax probability.</summary>
public enum TargetScore
{
    /// <summary>logit_target (default: affine in the input for a linear model, so the oracles are exact).</summary>
    Logit,

    /// <summary>p_target = softmax(logits)_target, recomputed in float64 from the logits.</summary>
    Probability,
}

/// <summary>
/// The classifier runs an explanation made: <see cref="IClassifier.Predict"/> calls (each a batch of images),
/// Jacobian-model calls (<see cref="IClassifier.Jacobian"/>, <see cref="IClassifier.VectorJacobianProduct"/>,
/// <see cref="IClassifier.LossGradient"/>, one image each), and the number of images that went through the model.
/// </summary>
/// <param name="ForwardRuns">Predict calls.</param>
/// <param name="JacobianRuns">Runs of the exported Jacobian model.</param>
/// <param name="Images">Images evaluated, over all runs.</param>
public sealed record ModelRuns(int ForwardRuns, int JacobianRuns, long Images)
{
    /// <summary>One line for a summary.</summary>
    public override string ToString() => $"{ForwardRuns} forward (batched), {JacobianRuns} Jacobian; {Images} images";
}

/// <summary>The typed report of a baseline explainer: its parameters and results, and the classifier runs it made.</summary>
public abstract record BaselineReport
{
    /// <summary>The classifier runs of the explanation.</summary>
    public required ModelRuns Runs { get; init; }
}

/// <summary>An explanation by a baseline method, with the method's typed report.</summary>
/// <typeparam name="TReport">The method's report.</typeparam>
public sealed class BaselineExplanation<TReport> : Explanation where TReport : BaselineReport
{
    internal BaselineExplanation(string method, SaliencyMap map, int target, ClassScores scores,
        IReadOnlyList<KeyValuePair<string, string>> details, TReport report)
        : base(method, map, target, scores, details)
    {
        Report = report;
    }

    /// <summary>Parameters, results and model runs of the method.</summary>
    public TReport Report { get; }
}

/// <summary>
/// Features for the perturbation methods (LIME, KernelSHAP): a partition of the image plane into F regions, numbered
/// 0…F−1, feature f covering all channels of its pixels. A feature that is "off" takes the baseline's values.
/// </summary>
public abstract class ImageFeatures
{
    private readonly int[] _featureOfPixel;
    private readonly int[] _valueCount;

    /// <summary>Wraps a feature index per pixel (Height × Width, row-major), each in 0…count−1 and each feature non-empty.</summary>
    private protected ImageFeatures(int channels, int height, int width, int[] featureOfPixel, int count)
    {
        if (featureOfPixel.Length != height * width)
            throw new ExplainerInputException($"A {height}×{width} feature map needs {height * width} labels, got {featureOfPixel.Length}.");
        (Channels, Height, Width, Count) = (channels, height, width, count);
        _featureOfPixel = featureOfPixel;
        _valueCount = new int[count];
        foreach (int f in featureOfPixel)
        {
            if (f < 0 || f >= count) throw new ExplainerInputException($"Feature label {f} is outside 0..{count - 1}.");
            _valueCount[f] += channels;
        }
        if (Array.IndexOf(_valueCount, 0) is var empty and >= 0) throw new ExplainerInputException($"Feature {empty} covers no pixel.");
    }

    /// <summary>Image channels.</summary>
    public int Channels { get; }

    /// <summary>Image height.</summary>
    public int Height { get; }

    /// <summary>Image width.</summary>
    public int Width { get; }

    /// <summary>F, the number of features.</summary>
    public int Count { get; }

    /// <summary>One line for a summary, e.g. "7×7 cells of 4×4 pixels".</summary>
    public abstract string Description { get; }

    /// <summary>The feature of pixel (y, x).</summary>
    public int FeatureOf(int y, int x) => _featureOfPixel[y * Width + x];

    /// <summary>How many image values (channels × pixels) feature f covers.</summary>
    public int ValueCount(int feature) => _valueCount[feature];

    /// <summary>The image with feature f from <paramref name="image"/> where <c>on(f)</c>, from <paramref name="baseline"/> elsewhere.</summary>
    public void Compose(ReadOnlySpan<float> image, ReadOnlySpan<float> baseline, ReadOnlySpan<bool> on, Span<float> destination)
    {
        int plane = Height * Width;
        for (int ch = 0; ch < Channels; ch++)
            for (int i = 0; i < plane; i++)
            {
                int at = ch * plane + i;
                destination[at] = on[_featureOfPixel[i]] ? image[at] : baseline[at];
            }
    }

    /// <summary>
    /// A map that spreads each feature's attribution evenly over the values it covers, so that a feature's map values
    /// sum to its attribution (the visualisation then shows attribution per pixel, comparable across feature sizes).
    /// </summary>
    public SaliencyMap Spread(ReadOnlySpan<double> attributions)
    {
        int plane = Height * Width;
        var values = new float[Channels * plane];
        for (int ch = 0; ch < Channels; ch++)
            for (int i = 0; i < plane; i++)
            {
                int f = _featureOfPixel[i];
                values[ch * plane + i] = (float)(attributions[f] / _valueCount[f]);
            }
        return new SaliencyMap(values, Channels, Height, Width);
    }
}

/// <summary>
/// Grid features: the image plane cut into cells of <c>Cell×Cell</c> pixels (the last row/column of cells smaller when
/// the size is not a multiple), numbered row-major.
/// </summary>
public sealed class GridFeatures : ImageFeatures
{
    /// <summary>Cuts a Channels×Height×Width image into cells of <paramref name="cell"/> pixels a side.</summary>
    /// <exception cref="ExplainerInputException">The cell size is not in 1…max(Height, Width).</exception>
    public GridFeatures(int channels, int height, int width, int cell)
        : base(channels, height, width, Layout(height, width, cell), Cells(height, cell) * Cells(width, cell))
    {
        Cell = cell;
        Rows = Cells(height, cell);
        Cols = Cells(width, cell);
    }

    private static int Cells(int size, int cell) => (size + cell - 1) / cell;

    private static int[] Layout(int height, int width, int cell)
    {
        if (cell < 1 || cell > Math.Max(height, width))
            throw new ExplainerInputException($"The cell size {cell} must lie in 1..{Math.Max(height, width)}.", nameof(cell));
        int cols = Cells(width, cell);
        var featureOfPixel = new int[height * width];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++) featureOfPixel[y * width + x] = (y / cell) * cols + x / cell;
        return featureOfPixel;
    }

    /// <summary>The cell side in pixels.</summary>
    public int Cell { get; }

    /// <summary>Rows of cells.</summary>
    public int Rows { get; }

    /// <summary>Columns of cells.</summary>
    public int Cols { get; }

    /// <inheritdoc />
    public override string Description => $"{Rows}×{Cols} cells of {Cell}×{Cell} pixels";
}

/// <summary>Superpixel features: one feature per SLIC segment of the explained image (<see cref="Slic"/>), numbered as its labels.</summary>
public sealed class SuperpixelFeatures : ImageFeatures
{
    /// <summary>Segments the Channels×Height×Width <paramref name="image"/> with SLIC.</summary>
    /// <exception cref="ExplainerInputException">The SLIC settings are out of range.</exception>
    public SuperpixelFeatures(ReadOnlySpan<float> image, int channels, int height, int width, SlicOptions options)
        : this(channels, Run(image, channels, height, width, options), options)
    {
    }

    private SuperpixelFeatures(int channels, Superpixels segments, SlicOptions options)
        : base(channels, segments.Height, segments.Width, segments.Labels, segments.Count)
    {
        Segments = segments;
        Options = options;
    }

    private static Superpixels Run(ReadOnlySpan<float> image, int channels, int height, int width, SlicOptions options)
    {
        try
        {
            return Slic.Segment(image, channels, height, width, options);
        }
        catch (ArgumentException e)
        {
            throw new ExplainerInputException($"SLIC: {e.Message}", nameof(options));
        }
    }

    /// <summary>The segmentation.</summary>
    public Superpixels Segments { get; }

    /// <summary>The SLIC settings used.</summary>
    public SlicOptions Options { get; }

    /// <inheritdoc />
    public override string Description =>
        $"{Count} SLIC superpixels (asked {Options.Segments}, compactness m = {ExplainerGuard.Format(Options.Compactness)})";
}

/// <summary>Shared machinery of the baseline explainers: batched scoring, gradients along a list of points, baselines, uniform draws.</summary>
internal sealed class BaselineRunner
{
    private readonly IClassifier _classifier;
    private readonly TargetScore _score;
    private readonly int _batchSize;
    private int _forward, _jacobian;
    private long _images;

    public BaselineRunner(IClassifier classifier, TargetScore score, int batchSize)
    {
        if (batchSize < 1) throw new ExplainerInputException($"The batch size must be ≥ 1, got {batchSize}.", nameof(batchSize));
        if (!Enum.IsDefined(score)) throw new ExplainerInputException($"Unknown target score {score}.", nameof(score));
        _classifier = classifier;
        _score = score;
        _batchSize = batchSize;
    }

    public ModelRuns Runs => new(_forward, _jacobian, _images);

    /// <summary>The clean image's scores (row 0 of the first batch), set by <see cref="Scores"/>.</summary>
    public ClassScores? CleanScores { get; private set; }

    /// <summary>The explained class: the given one, or the predicted class of the clean image.</summary>
    public int Target { get; private set; } = -1;

    /// <summary>
    /// The target score of <paramref name="count"/> images built by <paramref name="make"/>(i, destination), in runs of
    /// at most the batch size. Image 0 must be the clean image: its scores resolve a missing target and become the
    /// explanation's scores, so the clean image costs no run of its own.
    /// </summary>
    public double[] Scores(int count, int? target, Action<int, Span<float>> make)
    {
        int d = _classifier.InputSize;
        var values = new double[count];
        var buffer = new float[(long)Math.Min(count, _batchSize) * d];
        for (int start = 0; start < count; start += _batchSize)
        {
            int k = Math.Min(_batchSize, count - start);
            for (int i = 0; i < k; i++) make(start + i, buffer.AsSpan(i * d, d));
            var scores = Predict(buffer.AsSpan(0, k * d), k);
            if (start == 0)
            {
                CleanScores = new ClassScores(scores.LogitsOf(0).ToArray(), scores.ProbabilitiesOf(0).ToArray(), 1, scores.Classes);
                Target = target ?? CleanScores.PredictedClass();
            }
            for (int i = 0; i < k; i++) values[start + i] = ScoreOf(scores.LogitsOf(i), Target);
        }
        return values;
    }

    /// <summary>The score of one row of logits, in float64.</summary>
    public double ScoreOf(ReadOnlySpan<float> logits, int target) =>
        _score == TargetScore.Logit ? logits[target] : Softmax.Probabilities(logits)[target];

    /// <summary>
    /// Σᵢ ∇ₓ score(pointᵢ) over <paramref name="count"/> points built by <paramref name="make"/>, accumulated in float64.
    /// The exported Jacobian model takes one image per run (batch 1, see src/Models/Autodiff/README.md), so this makes
    /// one vector-Jacobian run per point: cotangent e_t for the logit; for the probability, ∂p_t/∂z = p_t(e_t − p)
    /// needs p first, from one batched forward run per <see cref="_batchSize"/> points.
    /// </summary>
    public double[] GradientSum(int count, int target, Action<int, Span<float>> make)
    {
        int d = _classifier.InputSize, c = _classifier.ClassCount;
        var sum = new double[d];
        var gradient = new float[d];
        var cotangent = new float[c];
        var points = new float[(long)Math.Min(count, _batchSize) * d];
        for (int start = 0; start < count; start += _batchSize)
        {
            int k = Math.Min(_batchSize, count - start);
            for (int i = 0; i < k; i++) make(start + i, points.AsSpan(i * d, d));
            ClassScores? forward = _score == TargetScore.Probability ? Predict(points.AsSpan(0, k * d), k) : null;
            for (int i = 0; i < k; i++)
            {
                Array.Clear(cotangent);
                if (forward is null)
                {
                    cotangent[target] = 1f;
                }
                else
                {
                    var p = Softmax.Probabilities(forward.LogitsOf(i));
                    for (int j = 0; j < c; j++) cotangent[j] = (float)(p[target] * ((j == target ? 1 : 0) - p[j]));
                }
                _classifier.VectorJacobianProduct(points.AsSpan(i * d, d), cotangent, gradient);
                _jacobian++;
                _images++;
                for (int j = 0; j < d; j++) sum[j] += gradient[j];
            }
        }
        return sum;
    }

    private ClassScores Predict(ReadOnlySpan<float> images, int count)
    {
        var scores = _classifier.Predict(images);
        _forward++;
        _images += count;
        return scores;
    }

    /// <summary>
    /// The baseline image: <paramref name="baseline"/> when given (checked: length d, finite), else the constant
    /// <paramref name="value"/> everywhere (0 = black for inputs scaled to [0, 1]).
    /// </summary>
    public static float[] ResolveBaseline(IClassifier classifier, float[]? baseline, float value)
    {
        if (baseline is not null)
        {
            if (baseline.Length != classifier.InputSize)
                throw new ExplainerInputException($"The baseline image has {baseline.Length} values; the classifier takes {classifier.InputSize}.", nameof(baseline));
            foreach (float v in baseline)
                if (!float.IsFinite(v)) throw new ExplainerInputException("The baseline image has a NaN or infinite value.", nameof(baseline));
            return baseline;
        }
        if (!float.IsFinite(value)) throw new ExplainerInputException($"The baseline value {value} is not finite.", nameof(value));
        var constant = new float[classifier.InputSize];
        Array.Fill(constant, value);
        return constant;
    }

    /// <summary>
    /// Uniform 32-bit word <paramref name="index"/> of the stream of <paramref name="seed"/>: lane <c>index mod 4</c> of
    /// Philox4x32-10 at counter <c>(⌊index/4⌋, 1, 0)</c> (word 2 = 1 keeps it apart from <see cref="GaussianRng"/>'s
    /// counters), so masks and coalitions are reproducible from the seed alone.
    /// </summary>
    public static uint UniformWord(ulong seed, ulong index)
    {
        ulong block = index >> 2;
        var (r0, r1, r2, r3) = GaussianRng.Philox4x32((uint)block, (uint)(block >> 32), 1u, 0u, (uint)seed, (uint)(seed >> 32));
        return (index & 3) switch { 0 => r0, 1 => r1, 2 => r2, _ => r3 };
    }

    /// <summary>A uniform double in [0, 1) from word <paramref name="index"/>.</summary>
    public static double Uniform(ulong seed, ulong index) => UniformWord(seed, index) * (1.0 / 4294967296.0);

    public static void CheckCount(int value, int min, string name, string what)
    {
        if (value < min) throw new ExplainerInputException($"{what} must be ≥ {min}, got {value}.", name);
    }

    public static void CheckFinite(double value, string name, string what, bool positive = false)
    {
        if (!double.IsFinite(value) || value < 0 || (positive && value == 0))
            throw new ExplainerInputException($"{what} must be finite and {(positive ? "> 0" : "≥ 0")}, got {value}.", name);
    }
}
