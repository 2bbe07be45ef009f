using Saliency.Explainers;
using Saliency.Models.Classifiers;
using Saliency.Models.Onnx;
using Saliency.Models.Runtime;

namespace Saliency.Evaluation;

/// <summary>Settings of <see cref="SanityChecks.CascadingRandomization"/>.</summary>
internal sealed record SanityCheckOptions
{
    /// <summary>Seed of the re-drawn weights (<see cref="ModelRandomization"/>).</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>What happens to the biases (default: re-drawn with their own standard deviation).</summary>
    public BiasRandomization Bias { get; init; } = BiasRandomization.Gaussian;

    /// <summary>The deepest step; null = every parameterised layer.</summary>
    public int? MaxDepth { get; init; }

    /// <summary>SSIM window side (uniform; see <see cref="Ssim"/>).</summary>
    public int SsimWindow { get; init; } = Ssim.DefaultWindow;

    /// <summary>ONNX Runtime session options of the classifiers built for each step; null = defaults.</summary>
    public InferenceSessionOptions? SessionOptions { get; init; }
}

/// <summary>
/// One map of the sanity check compared with the same method's map on the original model.
/// </summary>
/// <param name="Image">Index of the image in the list given.</param>
/// <param name="MethodIndex">Index of the explainer in the list given.</param>
/// <param name="Method">The explainer's name.</param>
/// <param name="Depth">Step k: the top k layers randomized (0 = the original model; its row compares the map with itself).</param>
/// <param name="Layer">The weight initializer randomized last at this step (the lowest one), or null at step 0.</param>
/// <param name="Target">The explained class (fixed over the steps).</param>
/// <param name="TargetProbability">p_target under this step's model.</param>
/// <param name="SpearmanSigned">Spearman ρ of the signed map values against the original's; NaN when either map is constant.</param>
/// <param name="SpearmanAbsolute">Spearman ρ of |values|; NaN when either is constant.</param>
/// <param name="Ssim">SSIM of the [0, 1] visualisation maps (<see cref="SaliencyMap.Normalized"/>), uniform window.</param>
/// <param name="MaxAbs">max |value| of this step's map: 0 means the map collapsed to zero.</param>
/// <param name="Sparsity">Fraction of exact zeros in this step's map.</param>
internal sealed record SanityCheckComparison(int Image, int MethodIndex, string Method, int Depth, string? Layer, int Target,
    double TargetProbability, double SpearmanSigned, double SpearmanAbsolute, double Ssim, double MaxAbs, double Sparsity);

/// <summary>The comparisons of one method at one step, averaged over the images.</summary>
/// <param name="MethodIndex">Index of the explainer.</param>
/// <param name="Method">Its name.</param>
/// <param name="Depth">The step.</param>
/// <param name="Images">Images averaged.</param>
/// <param name="SpearmanSigned">Mean signed ρ over the images where it is defined (NaN if none).</param>
/// <param name="SpearmanAbsolute">Mean |·| ρ over the images where it is defined (NaN if none).</param>
/// <param name="UndefinedCorrelations">Images whose map (or original map) is constant, so ρ is undefined.</param>
/// <param name="Ssim">Mean SSIM.</param>
/// <param name="MaxAbs">Mean of max |value|.</param>
/// <param name="ZeroMaps">Images whose map is identically zero.</param>
internal sealed record SanityCheckSummary(int MethodIndex, string Method, int Depth, int Images, double SpearmanSigned, double SpearmanAbsolute,
    int UndefinedCorrelations, double Ssim, double MaxAbs, int ZeroMaps);

/// <summary>The result of a cascading-randomization sanity check.</summary>
/// <param name="Layers">The model's parameterised layers, closest to the output first (step k randomizes the first k).</param>
/// <param name="Targets">The explained class per image.</param>
/// <param name="Comparisons">One row per image, method and step (steps 0…max depth).</param>
internal sealed record SanityCheckResult(IReadOnlyList<ParameterizedLayer> Layers, IReadOnlyList<int> Targets, IReadOnlyList<SanityCheckComparison> Comparisons)
{
    /// <summary>Means over the images per method and step, in method then step order.</summary>
    public IReadOnlyList<SanityCheckSummary> Summary() =>
        Comparisons.GroupBy(c => (c.MethodIndex, c.Depth)).OrderBy(g => g.Key.MethodIndex).ThenBy(g => g.Key.Depth).Select(g =>
        {
            static double MeanDefined(IEnumerable<double> v) => v.Where(double.IsFinite).DefaultIfEmpty(double.NaN).Average();
            return new SanityCheckSummary(g.Key.MethodIndex, g.First().Method, g.Key.Depth, g.Count(),
                MeanDefined(g.Select(c => c.SpearmanSigned)), MeanDefined(g.Select(c => c.SpearmanAbsolute)),
                g.Count(c => double.IsNaN(c.SpearmanSigned) || double.IsNaN(c.SpearmanAbsolute)),
                g.Average(c => c.Ssim), g.Average(c => c.MaxAbs), g.Count(c => c.MaxAbs == 0));
        }).ToArray();
}

/// <summary>
/// The model-parameter randomization test of Adebayo et al. (NeurIPS 2018, §3.1), cascading from the logits down, as
/// the LEG paper runs it (Luo, Barut, Jin 2019, §5.3): a method whose maps stay similar while the model's weights are
/// destroyed does not explain the model.
/// </summary>
/// <remarks>
/// Step 0 explains every image with the original model; step k (1…max depth) writes the model with the top k layers
/// re-drawn (<see cref="ModelRandomization.Cascade"/>), loads the bytes through <see cref="OnnxClassifier"/> (which
/// exports the Jacobian graph of the modified model) and explains every image again, for the same target class: the
/// given one, else the class the original model predicts. Each map is compared with the step-0 map of its method and
/// image. One classifier per step serves all images and methods.
/// </remarks>
internal static class SanityChecks
{
    /// <summary>Runs the cascade for every explainer on every image.</summary>
    /// <param name="model">The classifier's ONNX model (not modified).</param>
    /// <param name="explainers">The methods (any <see cref="IExplainer"/>; seeded ones give reproducible rows).</param>
    /// <param name="images">Images, each flattened in the model's input order.</param>
    /// <param name="targets">Target class per image; null = the original model's prediction.</param>
    /// <param name="options">Seed, bias rule, depth, SSIM window, session options.</param>
    /// <exception cref="EvaluationInputException">No explainer or image, targets of another count, a bad option, or a model without layers.</exception>
    /// <exception cref="ExplainerInputException">An image does not fit the model, or a target is out of range.</exception>
    public static SanityCheckResult CascadingRandomization(OnnxModel model, IReadOnlyList<IExplainer> explainers, IReadOnlyList<float[]> images,
        IReadOnlyList<int>? targets = null, SanityCheckOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(explainers);
        ArgumentNullException.ThrowIfNull(images);
        options ??= new SanityCheckOptions();
        if (explainers.Count == 0) throw new EvaluationInputException("Give at least one explainer.", nameof(explainers));
        if (explainers.Any(e => e is null)) throw new EvaluationInputException("An explainer is null.", nameof(explainers));
        if (images.Count == 0) throw new EvaluationInputException("Give at least one image.", nameof(images));
        if (targets is not null && targets.Count != images.Count)
            throw new EvaluationInputException($"{targets.Count} targets for {images.Count} images.", nameof(targets));
        if (options.SsimWindow < 2) throw new EvaluationInputException($"The SSIM window must be at least 2, got {options.SsimWindow}.", nameof(options));
        var layers = ModelRandomization.Layers(model);
        if (layers.Count == 0)
            throw new EvaluationInputException("The model has no Gemm, MatMul or Conv node with an initializer weight to randomize.", nameof(model));
        int maxDepth = options.MaxDepth ?? layers.Count;
        if (maxDepth < 0 || maxDepth > layers.Count)
            throw new EvaluationInputException($"The maximum depth {maxDepth} must lie in 0..{layers.Count}.", nameof(options));

        // Image sizes against the model's declared input, before any session is created (when the dims are fixed).
        var declared = model.Inputs.Count == 1 ? model.Inputs[0].Dims : null;
        if (declared is { Count: > 1 } && declared.Skip(1).All(d => d.IsFixed))
        {
            long size = declared.Skip(1).Aggregate(1L, (a, d) => a * d.Value!.Value);
            for (int i = 0; i < images.Count; i++)
                if (images[i] is null || images[i].Length != size)
                    throw new ExplainerInputException($"Image {i} has {images[i]?.Length ?? 0} values; the model takes {size}.", nameof(images));
        }

        var originals = new Explanation[images.Count, explainers.Count];
        var resolved = new int[images.Count];
        var rows = new List<SanityCheckComparison>();
        for (int depth = 0; depth <= maxDepth; depth++)
        {
            var step = ModelRandomization.Cascade(model, depth, options.Seed, options.Bias);
            using var classifier = OnnxClassifier.Create(OnnxModel.Parse(step.ModelBytes).Proto, options.SessionOptions);
            if (depth == 0)
                for (int i = 0; i < images.Count; i++)
                {
                    if (images[i] is null) throw new EvaluationInputException($"Image {i} is null.", nameof(images));
                    if (images[i].Length != classifier.InputSize)
                        throw new ExplainerInputException($"Image {i} has {images[i].Length} values; the model takes {classifier.InputSize}.", nameof(images));
                    if (targets is not null && (targets[i] < 0 || targets[i] >= classifier.ClassCount))
                        throw new ExplainerInputException($"Target {targets[i]} of image {i} is outside 0..{classifier.ClassCount - 1}.", nameof(targets));
                    resolved[i] = targets?[i] ?? classifier.Predict(images[i]).PredictedClass();
                }
            string? layer = depth == 0 ? null : step.Randomized[^1].Weight;
            for (int i = 0; i < images.Count; i++)
                for (int m = 0; m < explainers.Count; m++)
                {
                    var explanation = explainers[m].Explain(classifier, images[i], resolved[i]);
                    if (depth == 0) originals[i, m] = explanation;
                    rows.Add(Compare(i, m, explainers[m].Name, depth, layer, resolved[i], originals[i, m], explanation, options.SsimWindow));
                }
        }
        return new SanityCheckResult(layers, resolved, rows);
    }

    /// <summary>Compares a map with the original one: ρ signed and absolute, SSIM of the visualisations, magnitude.</summary>
    /// <exception cref="EvaluationInputException">The maps have different shapes.</exception>
    public static SanityCheckComparison Compare(int image, int methodIndex, string method, int depth, string? layer, int target,
        Explanation original, Explanation randomized, int ssimWindow = Ssim.DefaultWindow)
    {
        ArgumentNullException.ThrowIfNull(original);
        ArgumentNullException.ThrowIfNull(randomized);
        SaliencyMap a = original.Map, b = randomized.Map;
        if (a.Channels != b.Channels || a.Height != b.Height || a.Width != b.Width)
            throw new EvaluationInputException(
                $"Maps of {a.Channels}×{a.Height}×{a.Width} and {b.Channels}×{b.Height}×{b.Width} cannot be compared.", nameof(randomized));
        double maxAbs = 0;
        foreach (float v in b.Values) maxAbs = Math.Max(maxAbs, Math.Abs(v));
        return new SanityCheckComparison(image, methodIndex, method, depth, layer, target,
            randomized.Scores.ProbabilitiesOf(0)[target],
            RankCorrelation.Spearman(a.Values, b.Values),
            RankCorrelation.SpearmanOfAbsolute(a.Values, b.Values),
            Ssim.Compute(a.Normalized, b.Normalized, a.Height, a.Width, ssimWindow),
            maxAbs, b.SparsityRatio);
    }
}
