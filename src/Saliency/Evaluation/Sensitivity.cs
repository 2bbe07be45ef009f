using Saliency.Explainers;
using Saliency.Models.Classifiers;

namespace Saliency.Evaluation;

/// <summary>What a masked cell shows.</summary>
internal enum MaskFill
{
    /// <summary>0 everywhere (black for inputs scaled to [0, 1]).</summary>
    Zero,

    /// <summary>A constant baseline value (<see cref="MaskOptions.Value"/>).</summary>
    Constant,

    /// <summary>The image blurred by a Gaussian of σ = <see cref="MaskOptions.BlurSigma"/> pixels (<see cref="Sensitivity.GaussianBlur"/>).</summary>
    Blur,
}

/// <summary>The canvas masked cells are taken from.</summary>
internal sealed record MaskOptions
{
    /// <summary>The fill.</summary>
    public MaskFill Fill { get; init; } = MaskFill.Zero;

    /// <summary>The value for <see cref="MaskFill.Constant"/>.</summary>
    public float Value { get; init; }

    /// <summary>σ in pixels for <see cref="MaskFill.Blur"/>; null = min(H, W)/10 (2.8 px on a 28×28 digit, 22.4 on 224×224).</summary>
    public double? BlurSigma { get; init; }
}

/// <summary>Settings of the masking curves.</summary>
internal sealed record SensitivityOptions
{
    /// <summary>Cell side s in pixels: cells of s×s pixels (all channels), the last row/column smaller when s does not divide the size.</summary>
    public int CellSize { get; init; } = 4;

    /// <summary>K, the last step (cells masked); null = every cell, so the last deletion image is the canvas itself.</summary>
    public int? MaxCells { get; init; }

    /// <summary>The canvas of the deletion / sensitivity curve (LEG §5.2 masks to 0; RISE deletes to black): zero by default.</summary>
    public MaskOptions Deletion { get; init; } = new();

    /// <summary>The canvas the insertion curve starts from (RISE: the blurred image, the default).</summary>
    public MaskOptions Insertion { get; init; } = new() { Fill = MaskFill.Blur };

    /// <summary>Images per <see cref="IClassifier.Predict"/> call; null = the whole curve (K + 1 images) in one run.</summary>
    public int? BatchSize { get; init; }
}

/// <summary>Scores of the target class along one masking curve, k = 0…K cells.</summary>
/// <param name="LogOdds">log(p/(1 − p)) of the target at each k (computed as z_t − log Σ_{j≠t} e^{z_j}).</param>
/// <param name="Probabilities">p_target at each k.</param>
/// <param name="LogOddsAuc">Trapezoid area under <paramref name="LogOdds"/>, divided by K.</param>
/// <param name="ProbabilityAuc">Trapezoid area under <paramref name="Probabilities"/>, divided by K.</param>
internal sealed record MaskingCurve(double[] LogOdds, double[] Probabilities, double LogOddsAuc, double ProbabilityAuc);

/// <summary>The masking curves of one map on one image.</summary>
/// <param name="Target">The scored class.</param>
/// <param name="CellCount">F, the number of cells.</param>
/// <param name="Steps">K.</param>
/// <param name="CellSaliency">Per cell (row-major), the sum of |map| over the cell's pixels and the map's channels.</param>
/// <param name="Order">Cells from most to least salient (ties: lower index first).</param>
/// <param name="Deletion">The image with its top-k cells replaced by the deletion canvas: the LEG paper's sensitivity curve (log-odds) and RISE's deletion curve (probability).</param>
/// <param name="Insertion">The insertion canvas with the image's top-k cells put back (RISE's insertion curve).</param>
/// <param name="ForwardRuns">Classifier runs made (one per curve unless a batch size splits them).</param>
internal sealed record SensitivityCurves(int Target, int CellCount, int Steps, double[] CellSaliency, int[] Order,
    MaskingCurve Deletion, MaskingCurve Insertion, int ForwardRuns);

/// <summary>One method's curves over a set of images, and their means.</summary>
/// <param name="MethodIndex">Index of the explainer.</param>
/// <param name="Method">Its name.</param>
/// <param name="PerImage">The curves of each image.</param>
/// <param name="MeanDeletionLogOdds">Mean log-odds curve (the LEG paper's plot).</param>
/// <param name="MeanDeletionProbabilities">Mean deletion probability curve.</param>
/// <param name="MeanInsertionProbabilities">Mean insertion probability curve.</param>
/// <param name="MeanDeletionLogOddsAuc">Mean AUC of the log-odds curves (lower: the map found what the class rests on).</param>
/// <param name="MeanDeletionAuc">Mean deletion AUC of p (lower is better).</param>
/// <param name="MeanInsertionAuc">Mean insertion AUC of p (higher is better).</param>
internal sealed record SensitivityMethodResult(int MethodIndex, string Method, IReadOnlyList<SensitivityCurves> PerImage,
    double[] MeanDeletionLogOdds, double[] MeanDeletionProbabilities, double[] MeanInsertionProbabilities,
    double MeanDeletionLogOddsAuc, double MeanDeletionAuc, double MeanInsertionAuc);

/// <summary>
/// Sensitivity analysis by masking (Luo, Barut, Jin 2019, §5.2) and the insertion/deletion metrics of RISE (Petsiuk,
/// Das, Saenko, BMVC 2018, §4.1). The image plane is cut into s×s cells; a cell's saliency is the sum of |map| inside it;
/// cells are masked, or inserted, in decreasing saliency, k = 0…K, and the target's log-odds and probability are
/// recorded. All K + 1 images of a curve go through one batched classifier run.
/// </summary>
internal static class Sensitivity
{
    /// <summary>Trapezoid area under <c>f(0), …, f(K)</c> on the grid k = 0…K, divided by K: <c>(1/K) Σ (f(k−1) + f(k))/2</c>.</summary>
    /// <exception cref="EvaluationInputException">Fewer than 2 points or a non-finite value.</exception>
    public static double Auc(ReadOnlySpan<double> curve)
    {
        if (curve.Length < 2) throw new EvaluationInputException($"An area needs at least 2 points, got {curve.Length}.", nameof(curve));
        double sum = 0;
        for (int k = 0; k < curve.Length; k++)
        {
            if (!double.IsFinite(curve[k])) throw new EvaluationInputException($"Point {k} of the curve is {curve[k]}.", nameof(curve));
            sum += k == 0 || k == curve.Length - 1 ? curve[k] / 2 : curve[k];
        }
        return sum / (curve.Length - 1);
    }

    /// <summary>
    /// log(p_t/(1 − p_t)) of the softmax of <paramref name="logits"/>, as <c>z_t − LSE_{j≠t}(z_j)</c>: exact where p_t
    /// rounds to 1 (1 − p_t = Σ_{j≠t} e^{z_j}/Σ e^{z_j}, so the shared denominator cancels).
    /// </summary>
    /// <exception cref="EvaluationInputException">Fewer than 2 classes, or the target out of range.</exception>
    public static double LogOdds(ReadOnlySpan<float> logits, int target)
    {
        if (logits.Length < 2) throw new EvaluationInputException($"Log-odds need at least 2 classes, got {logits.Length}.", nameof(logits));
        if (target < 0 || target >= logits.Length) throw new EvaluationInputException($"Target {target} is outside 0..{logits.Length - 1}.", nameof(target));
        double max = double.NegativeInfinity;
        for (int j = 0; j < logits.Length; j++) if (j != target) max = Math.Max(max, logits[j]);
        double sum = 0;
        for (int j = 0; j < logits.Length; j++) if (j != target) sum += Math.Exp(logits[j] - max);
        return logits[target] - (max + Math.Log(sum));
    }

    /// <summary>
    /// Per cell of <paramref name="cells"/>, the sum of |map| over the cell's pixels and all the map's channels. A map on
    /// another grid than the image (LEG's coarse grid) is read by nearest neighbour: image pixel (y, x) takes map pixel
    /// (⌊y·h/H⌋, ⌊x·w/W⌋), as LEG's nearest upsampling places it.
    /// </summary>
    public static double[] CellSaliency(SaliencyMap map, GridFeatures cells)
    {
        ArgumentNullException.ThrowIfNull(map);
        ArgumentNullException.ThrowIfNull(cells);
        var saliency = new double[cells.Count];
        int mh = map.Height, mw = map.Width, plane = mh * mw;
        for (int y = 0; y < cells.Height; y++)
            for (int x = 0; x < cells.Width; x++)
            {
                int my = (int)((long)y * mh / cells.Height), mx = (int)((long)x * mw / cells.Width);
                double s = 0;
                for (int c = 0; c < map.Channels; c++) s += Math.Abs(map.Values[c * plane + my * mw + mx]);
                saliency[cells.FeatureOf(y, x)] += s;
            }
        return saliency;
    }

    /// <summary>Cell indices by decreasing saliency, ties by increasing index (a stable sort).</summary>
    public static int[] Order(IReadOnlyList<double> cellSaliency) =>
        Enumerable.Range(0, cellSaliency.Count).OrderByDescending(f => cellSaliency[f]).ThenBy(f => f).ToArray();

    /// <summary>
    /// Separable Gaussian blur of each channel: weights e^{−i²/2σ²} for |i| ≤ ⌈3σ⌉, normalised to sum 1; pixels past the
    /// border repeat the edge pixel (so a constant image stays constant and the border is not darkened).
    /// </summary>
    /// <exception cref="EvaluationInputException">σ not finite and &gt; 0, or sizes that do not match.</exception>
    public static float[] GaussianBlur(ReadOnlySpan<float> image, int channels, int height, int width, double sigma)
    {
        if (!(sigma > 0) || !double.IsFinite(sigma)) throw new EvaluationInputException($"The blur σ must be finite and > 0, got {sigma}.", nameof(sigma));
        if (channels < 1 || height < 1 || width < 1 || image.Length != (long)channels * height * width)
            throw new EvaluationInputException($"A {channels}×{height}×{width} image needs {(long)channels * height * width} values, got {image.Length}.", nameof(image));
        int radius = (int)Math.Ceiling(3 * sigma);
        var kernel = new double[2 * radius + 1];
        double total = 0;
        for (int i = -radius; i <= radius; i++) total += kernel[i + radius] = Math.Exp(-i * (double)i / (2 * sigma * sigma));
        for (int i = 0; i < kernel.Length; i++) kernel[i] /= total;

        int plane = height * width;
        var rows = new double[plane];
        var result = new float[image.Length];
        for (int c = 0; c < channels; c++)
        {
            var src = image.Slice(c * plane, plane);
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++)
                {
                    double s = 0;
                    for (int i = -radius; i <= radius; i++) s += kernel[i + radius] * src[y * width + Math.Clamp(x + i, 0, width - 1)];
                    rows[y * width + x] = s;
                }
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++)
                {
                    double s = 0;
                    for (int i = -radius; i <= radius; i++) s += kernel[i + radius] * rows[Math.Clamp(y + i, 0, height - 1) * width + x];
                    result[c * plane + y * width + x] = (float)s;
                }
        }
        return result;
    }

    /// <summary>The canvas for <paramref name="mask"/>: zeros, the constant, or the blurred image.</summary>
    public static float[] Canvas(ReadOnlySpan<float> image, int channels, int height, int width, MaskOptions mask)
    {
        ArgumentNullException.ThrowIfNull(mask);
        switch (mask.Fill)
        {
            case MaskFill.Zero:
                return new float[image.Length];
            case MaskFill.Constant:
                if (!float.IsFinite(mask.Value)) throw new EvaluationInputException($"The mask value {mask.Value} is not finite.", nameof(mask));
                var constant = new float[image.Length];
                Array.Fill(constant, mask.Value);
                return constant;
            case MaskFill.Blur:
                return GaussianBlur(image, channels, height, width, mask.BlurSigma ?? Math.Min(height, width) / 10.0);
            default:
                throw new EvaluationInputException($"Unknown mask fill {mask.Fill}.", nameof(mask));
        }
    }

    /// <summary>The masking curves of <paramref name="map"/> on <paramref name="image"/> for class <paramref name="target"/>.</summary>
    /// <exception cref="EvaluationInputException">Bad options.</exception>
    /// <exception cref="ExplainerInputException">The image does not fit the classifier or the target is out of range.</exception>
    public static SensitivityCurves Curves(IClassifier classifier, ReadOnlySpan<float> image, SaliencyMap map, int target, SensitivityOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        ArgumentNullException.ThrowIfNull(map);
        options ??= new SensitivityOptions();
        var cells = Cells(classifier, image, target, options);
        var saliency = CellSaliency(map, cells);
        return Run(classifier, image, target, options, cells, saliency, Order(saliency));
    }

    /// <summary>The masking curves for a given cell order (most salient first; a permutation of the cells).</summary>
    /// <exception cref="EvaluationInputException">Bad options, or the order is not a permutation of 0…F−1.</exception>
    /// <exception cref="ExplainerInputException">The image does not fit the classifier or the target is out of range.</exception>
    public static SensitivityCurves Curves(IClassifier classifier, ReadOnlySpan<float> image, IReadOnlyList<int> order, int target, SensitivityOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        ArgumentNullException.ThrowIfNull(order);
        options ??= new SensitivityOptions();
        var cells = Cells(classifier, image, target, options);
        if (order.Count != cells.Count || order.Distinct().Count() != cells.Count || order.Any(f => f < 0 || f >= cells.Count))
            throw new EvaluationInputException($"The order must be a permutation of the {cells.Count} cells.", nameof(order));
        return Run(classifier, image, target, options, cells, new double[cells.Count], order.ToArray());
    }

    /// <summary>
    /// Explains every image with every method and computes its curves; the target of an image is the given one or the
    /// class the classifier predicts, the same for every method.
    /// </summary>
    /// <exception cref="EvaluationInputException">No explainer or image, targets of another count, or bad options.</exception>
    public static IReadOnlyList<SensitivityMethodResult> Evaluate(IClassifier classifier, IReadOnlyList<IExplainer> explainers,
        IReadOnlyList<float[]> images, IReadOnlyList<int>? targets = null, SensitivityOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        ArgumentNullException.ThrowIfNull(explainers);
        ArgumentNullException.ThrowIfNull(images);
        options ??= new SensitivityOptions();
        if (explainers.Count == 0 || explainers.Any(e => e is null)) throw new EvaluationInputException("Give at least one explainer, none null.", nameof(explainers));
        if (images.Count == 0 || images.Any(i => i is null)) throw new EvaluationInputException("Give at least one image, none null.", nameof(images));
        if (targets is not null && targets.Count != images.Count)
            throw new EvaluationInputException($"{targets.Count} targets for {images.Count} images.", nameof(targets));

        for (int i = 0; i < images.Count; i++) ExplainerGuard.Validate(classifier, images[i], targets?[i]);
        var perMethod = explainers.Select(_ => new List<SensitivityCurves>()).ToArray();
        for (int i = 0; i < images.Count; i++)
        {
            int target = targets?[i] ?? classifier.Predict(images[i]).PredictedClass();
            for (int m = 0; m < explainers.Count; m++)
            {
                var map = explainers[m].Explain(classifier, images[i], target).Map;
                perMethod[m].Add(Curves(classifier, images[i], map, target, options));
            }
        }
        return explainers.Select((e, m) =>
        {
            var curves = perMethod[m];
            return new SensitivityMethodResult(m, e.Name, curves,
                Mean(curves.Select(c => c.Deletion.LogOdds)), Mean(curves.Select(c => c.Deletion.Probabilities)),
                Mean(curves.Select(c => c.Insertion.Probabilities)),
                curves.Average(c => c.Deletion.LogOddsAuc), curves.Average(c => c.Deletion.ProbabilityAuc), curves.Average(c => c.Insertion.ProbabilityAuc));
        }).ToArray();
    }

    private static GridFeatures Cells(IClassifier classifier, ReadOnlySpan<float> image, int target, SensitivityOptions options)
    {
        ExplainerGuard.Validate(classifier, image, target);
        if (classifier.ClassCount < 2) throw new EvaluationInputException("Log-odds need a classifier with at least 2 classes.", nameof(classifier));
        var (channels, height, width) = ExplainerGuard.ImageShape(classifier);
        if (options.CellSize < 1 || options.CellSize > Math.Max(height, width))
            throw new EvaluationInputException($"The cell size {options.CellSize} must lie in 1..{Math.Max(height, width)}.", nameof(options));
        var cells = new GridFeatures(channels, height, width, options.CellSize);
        if (options.MaxCells is int k && (k < 1 || k > cells.Count))
            throw new EvaluationInputException($"K = {k} must lie in 1..{cells.Count} (the number of cells).", nameof(options));
        if (options.BatchSize is int b && b < 1)
            throw new EvaluationInputException($"The batch size must be ≥ 1, got {b}.", nameof(options));
        ArgumentNullException.ThrowIfNull(options.Deletion);
        ArgumentNullException.ThrowIfNull(options.Insertion);
        return cells;
    }

    private static SensitivityCurves Run(IClassifier classifier, ReadOnlySpan<float> image, int target, SensitivityOptions options,
        GridFeatures cells, double[] saliency, int[] order)
    {
        int steps = options.MaxCells ?? cells.Count;
        var rank = new int[cells.Count];
        for (int r = 0; r < order.Length; r++) rank[order[r]] = r;
        var x = image.ToArray();
        int runs = 0;
        // Deletion: cell f keeps the image while its rank is ≥ k. Insertion: cell f shows the image once its rank is < k.
        // Both canvases first: a bad mask option is refused before any model run.
        var deletionCanvas = Canvas(x, cells.Channels, cells.Height, cells.Width, options.Deletion);
        var insertionCanvas = Canvas(x, cells.Channels, cells.Height, cells.Width, options.Insertion);
        var deletion = Curve(classifier, x, deletionCanvas, cells, rank, steps, target, options.BatchSize, insert: false, ref runs);
        var insertion = Curve(classifier, x, insertionCanvas, cells, rank, steps, target, options.BatchSize, insert: true, ref runs);
        return new SensitivityCurves(target, cells.Count, steps, saliency, order, deletion, insertion, runs);
    }

    private static MaskingCurve Curve(IClassifier classifier, float[] image, float[] canvas, GridFeatures cells, int[] rank, int steps,
        int target, int? batchSize, bool insert, ref int runs)
    {
        int d = image.Length, count = steps + 1, batch = Math.Min(batchSize ?? count, count);
        var logOdds = new double[count];
        var probabilities = new double[count];
        var buffer = new float[(long)batch * d];
        var on = new bool[cells.Count];
        for (int start = 0; start < count; start += batch)
        {
            int n = Math.Min(batch, count - start);
            for (int i = 0; i < n; i++)
            {
                int k = start + i;
                for (int f = 0; f < on.Length; f++) on[f] = insert ? rank[f] < k : rank[f] >= k;
                cells.Compose(image, canvas, on, buffer.AsSpan(i * d, d));
            }
            var scores = classifier.Predict(buffer.AsSpan(0, n * d));
            runs++;
            for (int i = 0; i < n; i++)
            {
                logOdds[start + i] = LogOdds(scores.LogitsOf(i), target);
                probabilities[start + i] = Softmax.Probabilities(scores.LogitsOf(i))[target];
            }
        }
        return new MaskingCurve(logOdds, probabilities, Auc(logOdds), Auc(probabilities));
    }

    private static double[] Mean(IEnumerable<double[]> curves)
    {
        double[]? sum = null;
        int n = 0;
        foreach (var c in curves)
        {
            sum ??= new double[c.Length];
            for (int k = 0; k < c.Length; k++) sum[k] += c[k];
            n++;
        }
        return sum is null ? [] : sum.Select(v => v / n).ToArray();
    }
}
