using System.Diagnostics;
using System.Globalization;
using Saliency.Evaluation;
using Saliency.Explainers;
using Saliency.Models.Classifiers;
using Saliency.Models.Onnx;
using Saliency.Models.Runtime;

namespace Saliency.Reporting;

/// <summary>A method of the report: its name and how to build its explainer for an image's seed.</summary>
/// <param name="Name">The name (the CLI's <c>--method</c>).</param>
/// <param name="Create">The explainer for a seed (<see cref="ReportRunner.ImageSeed"/>); called once per image.</param>
public sealed record ReportMethod(string Name, Func<ulong, IExplainer> Create);

/// <summary>One image to report on.</summary>
/// <param name="Index">Its index in the whole data set (the seed and the shard slice use it).</param>
/// <param name="Pixels">The model input, flattened [C, H, W].</param>
/// <param name="Label">The true class when known.</param>
/// <param name="Source">What it is, for the report.</param>
public sealed record ReportInput(int Index, float[] Pixels, int? Label, string Source);

/// <summary>Settings of <see cref="ReportRunner.Run"/> beyond the methods and images.</summary>
public sealed record ReportRunOptions
{
    /// <summary>Base seed of the seeded methods.</summary>
    public ulong Seed { get; init; }

    /// <summary>Images with data-set index below this also run the sanity check (it costs one explain per method and layer).</summary>
    public int SanityImages { get; init; } = 1;

    /// <summary>Deepest randomization step; null = every layer.</summary>
    public int? SanityDepth { get; init; }

    /// <summary>Seed and bias rule of the re-drawn weights.</summary>
    public SanityCheckOptions SanityCheck { get; init; } = new();

    /// <summary>Masking curves (cell size, canvases).</summary>
    public SensitivityOptions Sensitivity { get; init; } = new();

    /// <summary>CASO diagnostics (λ1 of the CASO/CAFO comparison, solver, sweep, backend).</summary>
    public CasoDiagnosticsOptions Caso { get; init; } = new();

    /// <summary>Data-set index of the image whose λ1 sweep path is drawn; -1 = none.</summary>
    public int SweepImage { get; init; }

    /// <summary>ONNX Runtime options of every classifier built.</summary>
    public InferenceSessionOptions? SessionOptions { get; init; }
}

/// <summary>Where a run stands, for a progress display.</summary>
/// <param name="Done">Units of work finished (one explain, one sanity step of one method, one image's CASO diagnostics).</param>
/// <param name="Total">Units in the run.</param>
/// <param name="ImagesDone">Images finished.</param>
/// <param name="What">The unit just finished, in words.</param>
public sealed record ReportProgress(int Done, int Total, int ImagesDone, string What);

/// <summary>
/// Computes a report's rows image by image: every method's map, its masking curves (LEG §5.2, RISE), the
/// cascading-randomization sanity check (Adebayo et al. 2018) on the first images, the CASO diagnostics (Singla et al.
/// 2019, Theorems 4 and 5) and the λ1 sweep path. Each image's result depends only on the image, its data-set index
/// (the seed is <see cref="ImageSeed"/>) and the settings — never on which other images run in the same process — so
/// shards merge into the single run's numbers exactly.
/// </summary>
/// <remarks>
/// An image's rows are committed together once all its work is done. A cancellation stops at the next unit and
/// returns the committed images with <see cref="ReportDocument.Partial"/> set: a consistent report of fewer images.
/// </remarks>
public static class ReportRunner
{
    /// <summary>The seed of image <paramref name="index"/>'s explainers: base + index·φ·2⁶⁴ (the SplitMix64 increment), so
    /// neighbouring images draw far-apart Philox streams.</summary>
    public static ulong ImageSeed(ulong seed, int index) => unchecked(seed + (ulong)index * 0x9E3779B97F4A7C15UL);

    /// <summary>Runs the report on <paramref name="images"/> (a whole data set or one shard of it).</summary>
    /// <param name="model">The classifier's ONNX model (not modified).</param>
    /// <param name="parameters">The parameters to record (the caller fills in model, data set and method settings).</param>
    /// <param name="methods">The methods, in column order.</param>
    /// <param name="images">The images, in data-set order.</param>
    /// <param name="options">Evaluation settings.</param>
    /// <param name="progress">Called after each unit of work (on the calling thread).</param>
    /// <param name="cancellation">Stops the run between units; the result is then partial.</param>
    /// <exception cref="EvaluationInputException">No method or image, duplicate names, or an image of the wrong size.</exception>
    public static ReportDocument Run(OnnxModel model, ReportParameters parameters, IReadOnlyList<ReportMethod> methods, IReadOnlyList<ReportInput> images,
        ReportRunOptions? options = null, Action<ReportProgress>? progress = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(methods);
        ArgumentNullException.ThrowIfNull(images);
        options ??= new ReportRunOptions();
        if (methods.Count == 0) throw new EvaluationInputException("Give at least one method.", nameof(methods));
        if (methods.Select(m => m.Name).Distinct().Count() != methods.Count) throw new EvaluationInputException("A method is listed twice.", nameof(methods));
        if (options.SanityImages < 0) throw new EvaluationInputException($"The sanity image count must be ≥ 0, got {options.SanityImages}.", nameof(options));
        var total = Stopwatch.StartNew();
        var layers = ModelRandomization.Layers(model);
        int depth = Math.Min(options.SanityDepth ?? layers.Count, layers.Count);
        if (depth < 0) throw new EvaluationInputException($"The sanity depth must be ≥ 0, got {depth}.", nameof(options));

        using var classifier = OnnxClassifier.Create(model.Proto, options.SessionOptions);
        int size = classifier.InputSize;
        foreach (var image in images)
        {
            if (image?.Pixels is null || image.Pixels.Length != size)
                throw new EvaluationInputException($"Image {image?.Index} has {image?.Pixels?.Length ?? 0} values; the model takes {size}.", nameof(images));
            foreach (float v in image.Pixels)
                if (!float.IsFinite(v)) throw new EvaluationInputException($"Image {image.Index} has a NaN or infinite value.", nameof(images));
        }
        var shape = classifier.InputShape.Select(d => (int)d).ToArray();
        if (shape.Length == 2) shape = [1, shape[0], shape[1]];

        bool Sanity(ReportInput i) => i.Index < options.SanityImages && depth > 0;
        int sanityImages = images.Count(Sanity);
        int units = images.Count * (methods.Count + 1) + sanityImages * depth * methods.Count;
        int done = 0;
        var stages = new Dictionary<string, double> { ["explain"] = 0, ["sensitivity"] = 0, ["sanity"] = 0, ["caso"] = 0 };
        var methodSeconds = methods.ToDictionary(m => m.Name, _ => 0.0);
        void Tick(string what, int imagesDone) => progress?.Invoke(new ReportProgress(++done, units, imagesDone, what));

        // The randomized models, built once and only when this slice has sanity images (one Jacobian export per step).
        var steps = new OnnxClassifier?[depth + 1];
        var imageRows = new List<ReportImage>();
        var maps = new List<ReportMap>();
        var sanityRows = new List<SanityCheckComparison>();
        var sanityMaps = new List<ReportMap>();
        var curves = new List<ReportCurves>();
        var agreement = new List<CasoCafoAgreement>();
        var rankOne = new List<RankOnePoint>();
        ReportSweep? sweep = null;
        bool partial = false;
        try
        {
            foreach (var input in images)
            {
                cancellation.ThrowIfCancellationRequested();
                // This image's rows; added to the report only when all of them exist.
                var scores = classifier.Predict(input.Pixels);
                int target = scores.PredictedClass();
                var image = new ReportImage(input.Index, input.Source, input.Label, target, target,
                    Softmax.Probabilities(scores.LogitsOf(0)).Select(p => (float)p).ToArray(), shape, input.Pixels, $"images/image-{input.Index:D5}.npy");
                var explainers = methods.Select(m => m.Create(ImageSeed(options.Seed, input.Index))).ToArray();
                var originals = new Explanation[methods.Count];
                var myMaps = new List<ReportMap>();
                var myCurves = new List<ReportCurves>();
                for (int m = 0; m < methods.Count; m++)
                {
                    cancellation.ThrowIfCancellationRequested();
                    var clock = Stopwatch.StartNew();
                    var explanation = explainers[m].Explain(classifier, input.Pixels, target);
                    methodSeconds[methods[m].Name] += clock.Elapsed.TotalSeconds;
                    stages["explain"] += clock.Elapsed.TotalSeconds;
                    originals[m] = explanation;
                    myMaps.Add(MapRow(input.Index, methods[m].Name, 0, explanation));
                    clock.Restart();
                    var c = Sensitivity.Curves(classifier, input.Pixels, explanation.Map, target, options.Sensitivity);
                    stages["sensitivity"] += clock.Elapsed.TotalSeconds;
                    myCurves.Add(new ReportCurves(input.Index, methods[m].Name, target, c.CellCount, c.Steps,
                        c.Deletion.LogOdds, c.Deletion.Probabilities, c.Insertion.LogOdds, c.Insertion.Probabilities,
                        c.Deletion.LogOddsAuc, c.Deletion.ProbabilityAuc, c.Insertion.ProbabilityAuc));
                    Tick($"image {input.Index}: {methods[m].Name}", imageRows.Count);
                }

                var mySanity = new List<SanityCheckComparison>();
                var mySanityMaps = new List<ReportMap>();
                if (Sanity(input))
                {
                    var clock = Stopwatch.StartNew();
                    for (int m = 0; m < methods.Count; m++)
                        mySanity.Add(SanityChecks.Compare(input.Index, m, methods[m].Name, 0, null, target, originals[m], originals[m], options.SanityCheck.SsimWindow));
                    for (int k = 1; k <= depth; k++)
                    {
                        var step = steps[k] ??= Randomized(model, k, options);
                        string layer = layers[k - 1].Weight;
                        for (int m = 0; m < methods.Count; m++)
                        {
                            cancellation.ThrowIfCancellationRequested();
                            var explanation = explainers[m].Explain(step, input.Pixels, target);
                            mySanity.Add(SanityChecks.Compare(input.Index, m, methods[m].Name, k, layer, target, originals[m], explanation, options.SanityCheck.SsimWindow));
                            mySanityMaps.Add(MapRow(input.Index, methods[m].Name, k, explanation));
                            Tick($"image {input.Index}: sanity step {k} ({layer}), {methods[m].Name}", imageRows.Count);
                        }
                    }
                    stages["sanity"] += clock.Elapsed.TotalSeconds;
                }

                cancellation.ThrowIfCancellationRequested();
                var casoClock = Stopwatch.StartNew();
                var a = CasoDiagnostics.CasoVersusCafo(classifier, [input.Pixels], [target], options.Caso).Images[0] with { Index = input.Index };
                var r = CasoDiagnostics.RankOne(classifier, [input.Pixels], [target])[0] with { Index = input.Index };
                ReportSweep? mySweep = null;
                if (input.Index == options.SweepImage)
                {
                    var pair = CasoDiagnostics.SweepPaths(classifier, input.Pixels, target, options.Caso);
                    mySweep = new ReportSweep(input.Index, pair.Target, pair.Confidence, pair.Caso.Path, pair.Cafo.Path);
                }
                stages["caso"] += casoClock.Elapsed.TotalSeconds;

                imageRows.Add(image);
                maps.AddRange(myMaps);
                curves.AddRange(myCurves);
                sanityRows.AddRange(mySanity);
                sanityMaps.AddRange(mySanityMaps);
                agreement.Add(a);
                rankOne.Add(r);
                sweep ??= mySweep;
                Tick($"image {input.Index}: CASO diagnostics", imageRows.Count);
            }
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            partial = true;
        }
        finally
        {
            foreach (var step in steps) step?.Dispose();
        }

        stages["total"] = total.Elapsed.TotalSeconds;
        var document = new ReportDocument
        {
            Partial = partial,
            Parameters = parameters with
            {
                InputShape = shape,
                Classes = classifier.ClassCount,
                Methods = methods.Select(m => m.Name).ToArray(),
                Seed = options.Seed,
                SanityImages = options.SanityImages,
                SanityDepth = options.SanityDepth,
                SanitySeed = options.SanityCheck.Seed,
                CellSize = options.Sensitivity.CellSize,
                DeletionFill = Describe(options.Sensitivity.Deletion),
                InsertionFill = Describe(options.Sensitivity.Insertion),
                SweepImage = options.SweepImage,
            },
            Versions = ReportVersions.Collect(),
            Timings = new ReportTimings { Stages = stages, Methods = methodSeconds },
            Images = imageRows,
            Maps = maps,
            SanityLayers = layers.Take(depth).Select(l => l.Weight).ToArray(),
            Sanity = sanityRows,
            SanityMaps = sanityMaps,
            Sensitivity = curves,
            CasoVersusCafo = agreement,
            RankOne = rankOne,
            Sweep = sweep,
        };
        return document with { Summary = ReportSummaries.Compute(document) };
    }

    private static OnnxClassifier Randomized(OnnxModel model, int depth, ReportRunOptions options)
    {
        var step = ModelRandomization.Cascade(model, depth, options.SanityCheck.Seed, options.SanityCheck.Bias);
        return OnnxClassifier.Create(OnnxModel.Parse(step.ModelBytes).Proto, options.SessionOptions);
    }

    private static ReportMap MapRow(int image, string method, int depth, Explanation explanation)
    {
        var map = explanation.Map;
        string file = depth == 0 ? $"maps/image-{image:D5}-{method}.npy" : $"sanity/image-{image:D5}-{method}-step{depth}.npy";
        return new ReportMap(image, method, depth, [map.Channels, map.Height, map.Width], map.Values, file, explanation.Details);
    }

    private static string Describe(MaskOptions mask) => mask.Fill switch
    {
        MaskFill.Constant => string.Create(CultureInfo.InvariantCulture, $"constant {mask.Value}"),
        MaskFill.Blur => mask.BlurSigma is double s ? string.Create(CultureInfo.InvariantCulture, $"blur σ = {s} px") : "blur σ = min(H, W)/10",
        _ => "zero",
    };
}
