namespace Saliency;

/// <summary>A model the engine serves: a name (what requests say) and an ONNX classifier file.</summary>
/// <param name="Name">The name requests use (case-sensitive, non-empty).</param>
/// <param name="Path">The ONNX file; the engine opens it on first use and owns its sessions.</param>
public sealed record ModelRegistration(string Name, string Path);

/// <summary>
/// Settings of <see cref="SaliencyEngine"/>: the models it serves, how many explanations run at once, and the default
/// <see cref="ResourceBudget"/> (each request may bring its own).
/// </summary>
public sealed class SaliencyEngineOptions
{
    /// <summary>The models, by name (see <see cref="AddModel"/>).</summary>
    public IList<ModelRegistration> Models { get; } = new List<ModelRegistration>();

    /// <summary>
    /// Explanations and predictions running at once; further calls wait (cancellably) for a slot. Default: the number of
    /// cores. Each one uses one ONNX Runtime intra-op thread (<see cref="IntraOpThreads"/>), so this bounds the cores used.
    /// </summary>
    public int MaxConcurrency { get; set; } = Environment.ProcessorCount;

    /// <summary>ONNX Runtime threads inside one operator, per run (default 1: many small concurrent runs; see docs/api.md).</summary>
    public int IntraOpThreads { get; set; } = 1;

    /// <summary>The default budget of every request that does not bring its own.</summary>
    public ResourceBudget Budget { get; set; } = new();

    /// <summary>Test seam: wraps the classifier every request runs on (after the cancellation view).</summary>
    internal Func<Saliency.Models.Classifiers.IClassifier, Saliency.Models.Classifiers.IClassifier>? ClassifierDecorator { get; set; }

    /// <summary>Registers <paramref name="path"/> under <paramref name="name"/>; returns this for chaining.</summary>
    public SaliencyEngineOptions AddModel(string name, string path)
    {
        Models.Add(new ModelRegistration(name, path));
        return this;
    }
}

/// <summary>
/// Limits checked before an explanation allocates anything: a request that would break one fails at once with
/// <see cref="BudgetExceededException"/> (a server maps it to a 4xx answer). Engine-wide defaults in
/// <see cref="SaliencyEngineOptions.Budget"/>; a request's <see cref="ExplainRequest.Budget"/> replaces them.
/// </summary>
/// <remarks>Why these: measured without limits (issue 12), CASO's memory grows as about 72 bytes × classes² (20,000
/// classes: over 17 GB), 2048² inputs took 5.8 GB, and <c>--samples 2147483647</c> would run for about 28 hours.</remarks>
public sealed record ResourceBudget
{
    /// <summary>Largest model input in pixels (height × width of one image). Default 1024².</summary>
    public long MaxPixels { get; init; } = 1024L * 1024;

    /// <summary>Most classes CAFO/CASO may keep in W (after top-k). Default 1000.</summary>
    public int MaxClasses { get; init; } = 1000;

    /// <summary>
    /// Above this many model classes, CAFO/CASO keep only the <see cref="DefaultTopClasses"/> most probable ones (plus the
    /// target) unless the request names its own <see cref="ExplainRequest.TopClasses"/>; the probability mass left out
    /// is reported (<see cref="CasoReport.DroppedProbabilityMass"/>). Default 100.
    /// </summary>
    public int TopClassesThreshold { get; init; } = 100;

    /// <summary>k of the default top-k (see <see cref="TopClassesThreshold"/>). Default 100.</summary>
    public int DefaultTopClasses { get; init; } = 100;

    /// <summary>Most model evaluations of a sampling method (LEG n, SmoothGrad copies, IG steps). Default 100,000.</summary>
    public int MaxSamples { get; init; } = 100_000;

    /// <summary>Most iterations of one solver run (FISTA per λ1, PDHG per LP). Default 500,000 (the PDHG default cap).</summary>
    public int MaxIterations { get; init; } = 500_000;

    /// <summary>Most images in one prediction call. Default 1024.</summary>
    public int MaxBatch { get; init; } = 1024;

    /// <summary>Upper bound on the estimated working memory of one request (<see cref="SaliencyEngine.EstimateMemory"/>). Default 2 GiB.</summary>
    public long MaxMemoryBytes { get; init; } = 2L << 30;

    internal void Validate()
    {
        if (MaxPixels < 1 || MaxClasses < 1 || TopClassesThreshold < 1 || DefaultTopClasses < 1 || MaxSamples < 1 || MaxIterations < 1
            || MaxBatch < 1 || MaxMemoryBytes < 1)
            throw new SaliencyRequestException($"Every limit of a budget must be positive: {this}.", "Budget");
    }
}
