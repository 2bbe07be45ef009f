using Saliency.Evaluation;

namespace Saliency.Reporting;

/// <summary>
/// Everything a report shows, as <c>report.json</c> holds it (docs/report.md gives the schema). Rows are per image, so
/// that shards of a data set (<see cref="ShardInfo"/>) join by concatenation (<see cref="ReportMerge"/>); the means in
/// <see cref="Summary"/> are always recomputed from the rows (<see cref="ReportSummaries.Compute"/>), which is why a
/// merged report equals a single run's to the last bit.
/// </summary>
public sealed record ReportDocument
{
    /// <summary>The schema name and version of this layout.</summary>
    public const string CurrentSchema = "saliency-report/1";

    /// <summary>Always <see cref="CurrentSchema"/> when written by this version.</summary>
    public string Schema { get; init; } = CurrentSchema;

    /// <summary>True when the run was cancelled: only the images finished before the cancellation are in the rows.</summary>
    public bool Partial { get; init; }

    /// <summary>The slice of the data set this document holds; null for a whole data set (a single run or a merge).</summary>
    public ShardInfo? Shard { get; init; }

    /// <summary>How many shard documents were merged into this one (0 = not a merge).</summary>
    public int MergedShards { get; init; }

    /// <summary>The run's settings (identical in every shard of one report).</summary>
    public required ReportParameters Parameters { get; init; }

    /// <summary>Runtime, library and package versions (no git state).</summary>
    public IReadOnlyDictionary<string, string> Versions { get; init; } = new Dictionary<string, string>();

    /// <summary>Wall-clock seconds per stage and per method (summed over shards in a merge).</summary>
    public ReportTimings Timings { get; init; } = new();

    /// <summary>One row per image in this document, in data-set order.</summary>
    public IReadOnlyList<ReportImage> Images { get; init; } = [];

    /// <summary>Every method's map on every image (image, then method order).</summary>
    public IReadOnlyList<ReportMap> Maps { get; init; } = [];

    /// <summary>The model's parameterised layers, closest to the output first (sanity step k randomizes the first k).</summary>
    public IReadOnlyList<string> SanityLayers { get; init; } = [];

    /// <summary>Sanity-check comparisons: one row per sanity image, method and step (step 0 compares a map with itself).</summary>
    public IReadOnlyList<SanityCheckComparison> Sanity { get; init; } = [];

    /// <summary>The maps of the randomized models (steps ≥ 1) on the sanity images, for the grid.</summary>
    public IReadOnlyList<ReportMap> SanityMaps { get; init; } = [];

    /// <summary>Masking curves: one row per image and method.</summary>
    public IReadOnlyList<ReportCurves> Sensitivity { get; init; } = [];

    /// <summary>CASO against CAFO per image (Theorem 5); <c>Index</c> is the image's data-set index.</summary>
    public IReadOnlyList<CasoCafoAgreement> CasoVersusCafo { get; init; } = [];

    /// <summary>The Hessian's rank-one error per image (Theorem 4); <c>Index</c> is the image's data-set index.</summary>
    public IReadOnlyList<RankOnePoint> RankOne { get; init; } = [];

    /// <summary>The λ1 sweep paths of CASO and CAFO on <see cref="ReportParameters.SweepImage"/>, when this document holds it.</summary>
    public ReportSweep? Sweep { get; init; }

    /// <summary>Means over the images, recomputed from the rows.</summary>
    public ReportSummary Summary { get; init; } = new();
}

/// <summary>A slice of the data set: images [<see cref="Start"/>, <see cref="End"/>) of <see cref="Count"/> shards.</summary>
/// <param name="Index">i of <c>--shard i/N</c> (0-based).</param>
/// <param name="Count">N.</param>
/// <param name="Start">First data-set index in the slice.</param>
/// <param name="End">One past the last.</param>
public sealed record ShardInfo(int Index, int Count, int Start, int End)
{
    /// <summary>Shard i of N of a data set of <paramref name="size"/> images: contiguous, sizes differing by at most one.</summary>
    public static ShardInfo Of(int index, int count, int size)
    {
        if (count < 1 || index < 0 || index >= count)
            throw new EvaluationInputException($"Shard {index}/{count} does not exist; use i/N with 0 ≤ i < N.", nameof(index));
        return new ShardInfo(index, count, (int)((long)index * size / count), (int)((long)(index + 1) * size / count));
    }
}

/// <summary>The settings of a report run.</summary>
public sealed record ReportParameters
{
    /// <summary>File name of the model.</summary>
    public string Model { get; init; } = "";

    /// <summary>SHA-256 of the model file (hex): shards of one report must share it.</summary>
    public string ModelSha256 { get; init; } = "";

    /// <summary>The model input [C, H, W].</summary>
    public IReadOnlyList<int> InputShape { get; init; } = [];

    /// <summary>Number of classes.</summary>
    public int Classes { get; init; }

    /// <summary>What the images are (a file list, an IDX set and its range).</summary>
    public string DataSet { get; init; } = "";

    /// <summary>Images in the whole data set (all shards).</summary>
    public int DataSetSize { get; init; }

    /// <summary>The methods, in column order.</summary>
    public IReadOnlyList<string> Methods { get; init; } = [];

    /// <summary>Method settings as name/value lines (the CLI's options), for the record.</summary>
    public IReadOnlyDictionary<string, string> MethodSettings { get; init; } = new Dictionary<string, string>();

    /// <summary>Base seed; image i's explainers get <see cref="ReportRunner.ImageSeed"/>(seed, i).</summary>
    public ulong Seed { get; init; }

    /// <summary>The sanity check runs on the images with data-set index below this.</summary>
    public int SanityImages { get; init; }

    /// <summary>Deepest randomization step (null = every layer).</summary>
    public int? SanityDepth { get; init; }

    /// <summary>Seed of the re-drawn weights.</summary>
    public ulong SanitySeed { get; init; }

    /// <summary>Masking cell side in pixels.</summary>
    public int CellSize { get; init; }

    /// <summary>Deletion canvas (zero, constant, blur).</summary>
    public string DeletionFill { get; init; } = "";

    /// <summary>Insertion canvas.</summary>
    public string InsertionFill { get; init; } = "";

    /// <summary>Data-set index of the image whose λ1 sweep path is drawn (-1 = none).</summary>
    public int SweepImage { get; init; }
}

/// <summary>Wall-clock seconds.</summary>
public sealed record ReportTimings
{
    /// <summary>Per stage: explain, sanity, sensitivity, caso, total.</summary>
    public IReadOnlyDictionary<string, double> Stages { get; init; } = new Dictionary<string, double>();

    /// <summary>Per method: seconds spent explaining (original model, all images).</summary>
    public IReadOnlyDictionary<string, double> Methods { get; init; } = new Dictionary<string, double>();
}

/// <summary>One image of the data set.</summary>
/// <param name="Index">Data-set index.</param>
/// <param name="Source">Where it came from (file, or IDX index).</param>
/// <param name="Label">The true class when known.</param>
/// <param name="Target">The explained class (the prediction).</param>
/// <param name="Predicted">The predicted class.</param>
/// <param name="Probabilities">Softmax of the logits.</param>
/// <param name="Shape">[C, H, W].</param>
/// <param name="Pixels">The model input (C·H·W values).</param>
/// <param name="File">Its .npy, relative to the report folder.</param>
public sealed record ReportImage(int Index, string Source, int? Label, int Target, int Predicted, float[] Probabilities,
    int[] Shape, float[] Pixels, string File);

/// <summary>One map.</summary>
/// <param name="Image">Data-set index.</param>
/// <param name="Method">Method name.</param>
/// <param name="Depth">Randomization step (0 = the original model).</param>
/// <param name="Shape">[C, H, W] of the map (LEG's may be a coarser grid).</param>
/// <param name="Values">The signed values, exactly as in <see cref="File"/>.</param>
/// <param name="File">Its .npy, relative to the report folder.</param>
/// <param name="Details">The method's parameters and solver report.</param>
public sealed record ReportMap(int Image, string Method, int Depth, int[] Shape, float[] Values, string File,
    IReadOnlyList<KeyValuePair<string, string>> Details);

/// <summary>The masking curves of one method on one image (see <see cref="SensitivityCurves"/>).</summary>
public sealed record ReportCurves(int Image, string Method, int Target, int CellCount, int Steps,
    double[] DeletionLogOdds, double[] DeletionProbabilities, double[] InsertionLogOdds, double[] InsertionProbabilities,
    double DeletionLogOddsAuc, double DeletionAuc, double InsertionAuc);

/// <summary>The λ1 sweep paths on one image.</summary>
public sealed record ReportSweep(int Image, int Target, double Confidence, IReadOnlyList<Solvers.Caso.Lambda1SweepPoint> Caso,
    IReadOnlyList<Solvers.Caso.Lambda1SweepPoint> Cafo);

/// <summary>Means over the images.</summary>
public sealed record ReportSummary
{
    /// <summary>Per method: mean masking curves and AUCs.</summary>
    public IReadOnlyList<SensitivitySummary> Sensitivity { get; init; } = [];

    /// <summary>Per method and step: the sanity check means (<see cref="SanityCheckResult.Summary"/>).</summary>
    public IReadOnlyList<SanityCheckSummary> Sanity { get; init; } = [];

    /// <summary>Spearman ρ between p_y and cos(CASO, CAFO) over the images (Theorem 5 predicts ρ &gt; 0); NaN if undefined.</summary>
    public double ConfidenceCosineSpearman { get; init; } = double.NaN;

    /// <summary>Mean rank-one relative error over the images where it is defined.</summary>
    public double MeanRankOneError { get; init; } = double.NaN;
}

/// <summary>One method's masking curves averaged over the images.</summary>
public sealed record SensitivitySummary(string Method, int Images, double[] DeletionLogOdds, double[] DeletionProbabilities,
    double[] InsertionProbabilities, double DeletionLogOddsAuc, double DeletionAuc, double InsertionAuc);
