using System.Diagnostics;
using System.Runtime.ExceptionServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Saliency.Explainers;
using Saliency.Models.Classifiers;
using Saliency.Models.Runtime;
using Saliency.Solvers.Caso;
using Saliency.Solvers.Fista;
using Saliency.Solvers.Leg;
using Saliency.Solvers.Lp;

namespace Saliency;

/// <summary>
/// The library's entry point for hosts: explanations and predictions of registered ONNX classifiers, asynchronous and
/// cancellable, under resource budgets. Its shape follows Captum's <c>attribute(inputs, target)</c>: one
/// <see cref="ExplainRequest"/> (model, image, target, method) gives one <see cref="ExplainResult"/> (map, prediction,
/// typed solver report).
/// </summary>
/// <remarks>
/// <para><b>Threads.</b> Every method may be called from many threads at once. Each model is opened once, on first use,
/// and its ONNX Runtime sessions are shared by all requests (ONNX Runtime's Run is thread-safe); the engine owns and
/// disposes them. At most <see cref="SaliencyEngineOptions.MaxConcurrency"/> requests run at once, the others wait.
/// They run on as many threads of the engine's own, not on the thread pool, which stays free for the host (request
/// parsing, the timers of deadlines); see <see cref="ComputeThreads"/>.</para>
/// <para><b>Cancellation.</b> The token reaches every model run (ONNX Runtime's <c>RunOptions.Terminate</c> stops a
/// run between operators), FISTA (checked before each iteration; on an accelerator at each check window) and PDHG
/// (checked between iteration windows), and throws <see cref="OperationCanceledException"/>.</para>
/// <para><b>Budgets.</b> Every request is checked against its <see cref="ResourceBudget"/> before anything is
/// allocated or run (<see cref="BudgetExceededException"/>).</para>
/// <para><b>Memory.</b> Images are read in place from the request's <see cref="ReadOnlyMemory{T}"/>; result arrays are
/// handed out without copies.</para>
/// </remarks>
public sealed partial class SaliencyEngine : IDisposable, IAsyncDisposable
{
    // CASO's FISTA batch (CasoOptions.MaxBatch) and LEG's sampling batch (LegOptions.BatchSize): the memory model's constants.
    private const int FistaBatch = 16;
    private const int LegBatch = 50;
    private const int GradientBatch = 64;

    private readonly Dictionary<string, ModelSlot> _models;
    private readonly SemaphoreSlim _slots;
    private readonly ComputeThreads _compute;
    private readonly CancellationTokenSource _lifetime = new();
    private readonly EngineMetrics _metrics = new();
    private readonly ILogger _logger;
    private readonly ResourceBudget _budget;
    private readonly Func<IClassifier, IClassifier>? _decorator;
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _running;
    private int _disposed;

    /// <summary>Creates the engine. Model files are checked to exist now and opened on first use.</summary>
    /// <param name="options">Models, concurrency and the default budget.</param>
    /// <param name="loggerFactory">Where the engine logs (null: nowhere).</param>
    /// <exception cref="ArgumentException">A model name is empty or repeated, or a setting is out of range.</exception>
    /// <exception cref="FileNotFoundException">A model file does not exist.</exception>
    public SaliencyEngine(SaliencyEngineOptions options, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.MaxConcurrency < 1)
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxConcurrency, "MaxConcurrency must be ≥ 1.");
        if (options.IntraOpThreads < 0)
            throw new ArgumentOutOfRangeException(nameof(options), options.IntraOpThreads, "IntraOpThreads must be ≥ 0 (0 = ONNX Runtime's choice).");
        ArgumentNullException.ThrowIfNull(options.Budget, nameof(options.Budget));
        options.Budget.Validate();
        _models = new Dictionary<string, ModelSlot>(StringComparer.Ordinal);
        foreach (var model in options.Models)
        {
            if (model is null || string.IsNullOrWhiteSpace(model.Name))
                throw new ArgumentException("Every model needs a non-empty name.", nameof(options));
            if (string.IsNullOrEmpty(model.Path))
                throw new ArgumentException($"Model '{model.Name}' has no path.", nameof(options));
            string path = Path.GetFullPath(model.Path);
            if (!File.Exists(path)) throw new FileNotFoundException($"The file of model '{model.Name}' does not exist: '{path}'.", path);
            if (!_models.TryAdd(model.Name, new ModelSlot(model.Name, path, options.IntraOpThreads)))
                throw new ArgumentException($"Model '{model.Name}' is registered twice.", nameof(options));
        }
        _slots = new SemaphoreSlim(options.MaxConcurrency, options.MaxConcurrency);
        _compute = new ComputeThreads(options.MaxConcurrency, "saliency compute");
        _budget = options.Budget;
        _decorator = options.ClassifierDecorator;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<SaliencyEngine>();
        LogCreated(_logger, _models.Count, options.MaxConcurrency);
    }

    /// <summary>The registered model names, in registration order.</summary>
    public IReadOnlyList<string> ModelNames => _models.Keys.ToArray();

    /// <summary>The engine's default budget.</summary>
    public ResourceBudget Budget => _budget;

    /// <summary>What model <paramref name="name"/> takes and returns (opens it if needed).</summary>
    /// <exception cref="ModelNotFoundException">No such model.</exception>
    /// <exception cref="ModelLoadException">The model cannot be opened.</exception>
    public ModelInfo GetModel(string name)
    {
        ThrowIfDisposed();
        var slot = Slot(name);
        var c = slot.Classifier;
        return new ModelInfo(slot.Name, slot.Path, c.InputShape, c.InputSize, c.ClassCount);
    }

    /// <summary>
    /// The graph input the engine feeds and the graph output it reads for model <paramref name="name"/> (opens it if
    /// needed), from the model's own forward session, so that a host needs no session of its own to describe it.
    /// </summary>
    /// <exception cref="ModelNotFoundException">No such model.</exception>
    /// <exception cref="ModelLoadException">The model cannot be opened.</exception>
    internal (string Input, string Output) GetModelTensorNames(string name)
    {
        ThrowIfDisposed();
        var c = Slot(name).Classifier;
        return (c.InputName, c.OutputName);
    }

    /// <summary>Explains one image (see <see cref="ExplainRequest"/>).</summary>
    /// <exception cref="SaliencyRequestException">Bad request (unknown method, image size, NaN pixel, parameter range).</exception>
    /// <exception cref="ModelNotFoundException">Unknown model.</exception>
    /// <exception cref="BudgetExceededException">The request breaks its budget (checked before anything runs).</exception>
    /// <exception cref="OperationCanceledException">Cancelled while waiting or running.</exception>
    public async Task<ExplainResult> ExplainAsync(ExplainRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var plan = PlanOrReject(request);
        return await RunAsync(plan.Request.Model, plan.Method, token => Explain(plan, token), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Explains several images concurrently (bounded by <see cref="SaliencyEngineOptions.MaxConcurrency"/>); results
    /// in request order. All requests are checked before any runs; the first failure cancels the rest and is thrown.
    /// </summary>
    public async Task<IReadOnlyList<ExplainResult>> ExplainBatchAsync(IReadOnlyList<ExplainRequest> requests, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(requests);
        var plans = new Plan[requests.Count];
        for (int i = 0; i < plans.Length; i++)
            plans[i] = PlanOrReject(requests[i] ?? throw new SaliencyRequestException($"Request {i} is null.", nameof(requests)));
        using var batch = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var tasks = plans.Select(async plan =>
        {
            try
            {
                return await RunAsync(plan.Request.Model, plan.Method, token => Explain(plan, token), batch.Token).ConfigureAwait(false);
            }
            catch
            {
                batch.Cancel();
                throw;
            }
        }).ToArray();
        try
        {
            return await Task.WhenAll(tasks).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // A sibling's failure cancelled this one: report that failure, not the cancellation it caused.
            var first = tasks.Where(t => t.IsFaulted).Select(t => t.Exception!.InnerException!).FirstOrDefault();
            if (first is not null) ExceptionDispatchInfo.Throw(first);
            throw;
        }
    }

    /// <summary>Logits and probabilities of a batch of images laid out one after another (batch × the model's input size).</summary>
    /// <exception cref="SaliencyRequestException">The length is not a positive multiple of the input size, or a value is NaN/∞.</exception>
    /// <exception cref="BudgetExceededException">Too many images or pixels.</exception>
    public async Task<Prediction> PredictAsync(string model, ReadOnlyMemory<float> images, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        OnnxClassifier classifier;
        int batch;
        try
        {
            var slot = Slot(model);
            classifier = slot.Classifier;
            var (_, height, width) = Shape(classifier);
            CheckLimit("MaxPixels", (long)height * width, _budget.MaxPixels, "pixels per image");
            if (images.Length == 0 || images.Length % classifier.InputSize != 0)
                throw new SaliencyRequestException(
                    $"Expected a positive multiple of {classifier.InputSize} values (images of shape [{string.Join(", ", classifier.InputShape)}]), got {images.Length}.", nameof(images));
            batch = images.Length / classifier.InputSize;
            CheckLimit("MaxBatch", batch, _budget.MaxBatch, "images in one prediction");
            CheckLimit("MaxMemoryBytes", batch * (4L * classifier.InputSize + 16L * classifier.ClassCount), _budget.MaxMemoryBytes, "bytes (estimated)");
        }
        catch (SaliencyRequestException e)
        {
            Reject(model, "predict", e);
            throw;
        }
        return await RunAsync(model, "predict", token =>
        {
            IClassifier c = classifier.WithCancellation(token);
            if (_decorator is not null) c = _decorator(c);
            ClassScores scores;
            try
            {
                scores = c.Predict(images.Span);
            }
            catch (NonFiniteInputException e)
            {
                throw new SaliencyRequestException(e.Message, nameof(images), e);
            }
            _metrics.Predictions.Add(batch, new KeyValuePair<string, object?>("saliency.model", model));
            var predicted = Enumerable.Range(0, batch).Select(i => scores.PredictedClass(i)).ToArray();
            return new Prediction(model, batch, scores.Classes, scores.Logits, classifier.OwnProbabilities(scores), predicted);
        }, cancellationToken, countAsExplanation: false).ConfigureAwait(false);
    }

    /// <summary>
    /// The working memory the engine estimates for <paramref name="request"/>, in bytes (what
    /// <see cref="ResourceBudget.MaxMemoryBytes"/> is compared with). A model of the allocations, not a measurement:
    /// CAFO/CASO with top-k <c>8dk + 4kc + 72k² + 1024k + 768d</c> (the Jacobian rows of the k kept classes and the HVP
    /// kernel's copy, their cotangents, the k×k class blocks that made CASO's measured ~72 bytes × classes², the spectrum's
    /// float64 row block of 128 rows × k, 16 FISTA slices of 6 float64 vectors); with all c classes
    /// <c>4dc + 4mc + 72c² + 1024c + 768d</c>: W once (the streamed Jacobian writes into the kernel's buffer) and the
    /// cotangents of one chunk of m = min(32, c) classes (<c>IClassifier.DefaultJacobianChunk</c>), not of all c,
    /// LEG <c>16p² + 600d + 64p·C</c> (grid covariance, one sampling batch, the LP vectors), gradients <c>32d</c> per image run.
    /// </summary>
    public long EstimateMemory(ExplainRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Planned(request).Memory;
    }

    private Plan PlanOrReject(ExplainRequest request)
    {
        ThrowIfDisposed();
        try
        {
            var plan = Planned(request);
            CheckLimit("MaxMemoryBytes", plan.Memory, plan.Budget.MaxMemoryBytes, "bytes (estimated working memory)");
            CheckImage(request, Slot(request.Model).Classifier);
            return plan;
        }
        catch (SaliencyRequestException e)
        {
            Reject(request.Model, request.Method, e);
            throw;
        }
    }

    /// <summary>The image (length, finite values) and the target, after the budget checks.</summary>
    private static void CheckImage(ExplainRequest request, OnnxClassifier classifier)
    {
        var image = request.Image.Span;
        if (image.Length != classifier.InputSize)
            throw new SaliencyRequestException(
                $"The image has {image.Length} values; model '{request.Model}' takes [{string.Join(", ", classifier.InputShape)}] = {classifier.InputSize}.",
                nameof(request.Image));
        int bad = Softmax.FirstNonFinite(image);
        if (bad >= 0) throw new SaliencyRequestException($"The image has a non-finite value ({image[bad]}) at index {bad}.", nameof(request.Image));
        if (request.Target is int t && (t < 0 || t >= classifier.ClassCount))
            throw new SaliencyRequestException($"Target class {t} is outside 0..{classifier.ClassCount - 1}.", nameof(request.Target));
        if (request.Channel is int ch && (ch < 0 || ch >= classifier.ClassCount))
            throw new SaliencyRequestException($"Channel {ch} is outside 0..{classifier.ClassCount - 1}.", nameof(request.Channel));
        if (request.Channel is not null && request.Target is not null)
            throw new SaliencyRequestException("Channel explains one score on its own; leave Target null.", nameof(request.Target));
    }

    /// <summary>
    /// Checks the method, the parameters and the budget from the model's sizes alone (not the image: a model that claims
    /// huge images is refused before anyone builds one), and estimates the working memory.
    /// </summary>
    private Plan Planned(ExplainRequest request)
    {
        var budget = request.Budget ?? _budget;
        budget.Validate();
        string method = request.Method ?? throw new SaliencyRequestException("The method is null.", nameof(request.Method));
        if (!SaliencyMethods.All.Contains(method))
            throw new SaliencyRequestException($"Unknown method '{method}'. Methods: {string.Join(", ", SaliencyMethods.All)}.", nameof(request.Method));
        var classifier = Slot(request.Model).Classifier;
        var (channels, height, width) = Shape(classifier);
        long d = classifier.InputSize, c = classifier.ClassCount;
        CheckLimit("MaxPixels", (long)height * width, budget.MaxPixels, "pixels per image");

        if (request.Lambda1 is double l1 && (!(l1 >= 0) || !double.IsFinite(l1)))
            throw new SaliencyRequestException($"λ1 = {l1} must be finite and ≥ 0.", nameof(request.Lambda1));
        double boundFactor = request.BoundFactor ?? 0.1;
        if (!(boundFactor >= 0 && boundFactor <= 1))
            throw new SaliencyRequestException($"The bound factor K_L = {boundFactor} must lie in [0, 1].", nameof(request.BoundFactor));

        int samples = request.Samples ?? method switch
        {
            SaliencyMethods.SmoothGrad => 50,
            SaliencyMethods.IntegratedGradients => 64,
            SaliencyMethods.SmoothCaso or SaliencyMethods.SmoothCafo => 16,
            SaliencyMethods.KernelShap => 2048,
            _ => 1000,
        };
        bool sampling = method is SaliencyMethods.SmoothGrad or SaliencyMethods.IntegratedGradients or SaliencyMethods.Leg or SaliencyMethods.LegTv
            or SaliencyMethods.Lime or SaliencyMethods.KernelShap or SaliencyMethods.SmoothCaso or SaliencyMethods.SmoothCafo;
        if (sampling)
        {
            if (samples < 2) throw new SaliencyRequestException($"Samples must be ≥ 2, got {samples}.", nameof(request.Samples));
            CheckLimit("MaxSamples", samples, budget.MaxSamples, "samples");
        }
        foreach (var (value, name) in new[] { (request.Window, nameof(request.Window)), (request.Stride, nameof(request.Stride)),
                     (request.Cell, nameof(request.Cell)), (request.Segments, nameof(request.Segments)) })
            if (value is int v && v < 1) throw new SaliencyRequestException($"{name} must be ≥ 1, got {v}.", name);
        bool smoothCaso = method is SaliencyMethods.SmoothCaso or SaliencyMethods.SmoothCafo;
        bool solver = method is SaliencyMethods.Cafo or SaliencyMethods.Caso or SaliencyMethods.LegTv || smoothCaso;
        int solverDefault = method == SaliencyMethods.LegTv ? new TvLpOptions().MaxIterations : new CasoOptions().MaxIterations;
        int iterations = Math.Min(request.MaxIterations ?? solverDefault, budget.MaxIterations);
        if (request.MaxIterations is int mi)
        {
            if (mi < 1) throw new SaliencyRequestException($"MaxIterations must be ≥ 1, got {mi}.", nameof(request.MaxIterations));
            if (solver) CheckLimit("MaxIterations", mi, budget.MaxIterations, "solver iterations");
        }

        int? topClasses = null;
        long kept = c;
        if (method is SaliencyMethods.Cafo or SaliencyMethods.Caso || smoothCaso)
        {
            if (request.TopClasses is int k && k < 1) throw new SaliencyRequestException($"TopClasses must be ≥ 1, got {k}.", nameof(request.TopClasses));
            topClasses = request.TopClasses ?? (c > budget.TopClassesThreshold ? budget.DefaultTopClasses : null);
            // Top-k plus the target when it is not among them (ClassSelection.TopClasses).
            kept = topClasses is int kk && kk < c ? kk + 1 : c;
            CheckLimit("MaxClasses", Math.Min(kept, c), budget.MaxClasses, "classes in W");
        }

        long memory = method switch
        {
            // Top-k computes the kept rows only (CasoProblem.FromKeptRows): k×d Jacobian and k×c cotangents.
            // SmoothCASO's noisy Jacobians keep all c rows (NoisyJacobians), so it is charged with c.
            // All classes stream W in chunks straight into the kernel's buffer (CasoProblem.FromStreamedJacobian): one copy of W.
            SaliencyMethods.Cafo or SaliencyMethods.Caso when kept == c =>
                Sat(4 * d * c, 4 * Math.Min(IClassifier.DefaultJacobianChunk, c) * c, 72 * c * c, 1024 * c, 6 * 8 * d * FistaBatch),
            SaliencyMethods.Cafo or SaliencyMethods.Caso => Sat(8 * d * kept, 4 * kept * c, 72 * kept * kept, 1024 * kept, 6 * 8 * d * FistaBatch),
            SaliencyMethods.SmoothCaso or SaliencyMethods.SmoothCafo => Sat(8 * d * c, 4 * c * c, 72 * kept * kept, 8 * d * kept, 6 * 8 * d * FistaBatch),
            SaliencyMethods.Leg or SaliencyMethods.LegTv => LegMemory(channels, height, width, d),
            SaliencyMethods.SmoothGrad or SaliencyMethods.IntegratedGradients => Sat(GradientBatch * 32 * d, 8 * c * GradientBatch),
            _ => Sat(32 * d, 8 * c * c),
        };
        return new Plan(request, method, budget, topClasses, samples, iterations, boundFactor, memory);
    }

    private static long LegMemory(int channels, int height, int width, long d)
    {
        // LegExplainer's default grid: the image grid up to 32×32, the paper's 28×28 otherwise.
        long p = height <= 32 && width <= 32 ? (long)height * width : 28 * 28;
        return Sat(16 * p * p, 12 * LegBatch * d, 64 * p * channels);
    }

    /// <summary>Sum of non-negative terms, saturating at long.MaxValue.</summary>
    private static long Sat(params long[] terms)
    {
        long sum = 0;
        foreach (long t in terms) sum = t < 0 || sum > long.MaxValue - t ? long.MaxValue : sum + t;
        return sum;
    }

    private static void CheckLimit(string limit, long requested, long allowed, string what)
    {
        if (requested > allowed)
            throw new BudgetExceededException(limit, requested, allowed,
                $"The request needs {requested} {what}; the budget allows {allowed} ({nameof(ResourceBudget)}.{limit}).");
    }

    private ExplainResult Explain(Plan plan, CancellationToken token)
    {
        var request = plan.Request;
        var classifier = Slot(request.Model).Classifier;
        IClassifier model = classifier.WithCancellation(token);
        if (_decorator is not null) model = _decorator(model);
        if (plan.Method == SaliencyMethods.GradCam)
        {
            // Grad-CAM reads inner layers, which the classifier and its cancellable view expose but a decorator does not.
            model = classifier.WithCancellation(token);
        }
        var started = Stopwatch.GetTimestamp();
        // One score alone (ExplainRequest.Channel, or a multi-label model's label): the two-class view, as the CLI's
        // --channel/--target; the full model's scores are reported.
        int? target = request.Target, score = null;
        ClassScores? full = null;
        if (SingleScoreClassifier.ForRequest(model, classifier.OutputKind, request.Image.Span, request.Channel, request.Target) is var (view, index, atImage))
        {
            (model, score, full, target) = (view, index, atImage, 1);
        }
        Explanation explanation;
        try
        {
            explanation = Explainer(plan, token).Explain(model, request.Image.Span, target);
        }
        catch (ArgumentException e) when (e is not SaliencyRequestException)
        {
            // The explainers' own input checks (ExplainerInputException, CasoInputException, option ranges).
            throw new SaliencyRequestException(e.Message, e.ParamName, e);
        }
        var elapsed = Stopwatch.GetElapsedTime(started);
        var map = explanation.Map;
        var scores = full ?? explanation.Scores;
        var probabilities = full is null ? scores.Probabilities : classifier.OwnProbabilities(full);
        return new ExplainResult(request.Model, explanation.Method, score ?? explanation.Target,
            full is null ? explanation.PredictedClass : System.Numerics.Tensors.TensorPrimitives.IndexOfMax(full.LogitsOf(0)),
            new AttributionMap(map.Channels, map.Height, map.Width, map.Values, map.Normalized, map.SparsityRatio),
            scores.Logits, probabilities, Report(explanation, plan), elapsed);
    }

    /// <summary>The explainer with the CLI's settings for the method (ExplainCommand.Explainer), the token in its solver options.</summary>
    private static IExplainer Explainer(Plan plan, CancellationToken token)
    {
        var r = plan.Request;
        return plan.Method switch
        {
            SaliencyMethods.Gradient => new GradientExplainer(),
            SaliencyMethods.GradientTimesInput => new GradientTimesInputExplainer(),
            SaliencyMethods.SmoothGrad => new SmoothGradExplainer(new SmoothGradOptions { SampleCount = plan.Samples, Seed = r.Seed }),
            SaliencyMethods.IntegratedGradients => new IntegratedGradientsExplainer(new IntegratedGradientsOptions { Steps = plan.Samples }),
            SaliencyMethods.Cafo or SaliencyMethods.Caso => new CasoExplainer(new CasoExplainerOptions
            {
                Lambda1 = r.Lambda1,
                TopClasses = plan.TopClasses,
                Solver = new CasoOptions
                {
                    Kind = plan.Method == SaliencyMethods.Caso ? CasoObjectiveKind.Caso : CasoObjectiveKind.Cafo,
                    MaxIterations = plan.Iterations,
                    CancellationToken = token,
                },
            }),
            SaliencyMethods.GradCam => new GradCamExplainer(new GradCamOptions { Layer = r.Layer }),
            SaliencyMethods.Occlusion => new OcclusionExplainer(new OcclusionOptions
            {
                Window = r.Window ?? 4, Stride = r.Stride ?? Math.Max(1, (r.Window ?? 4) / 2),
            }),
            SaliencyMethods.Lime => new LimeExplainer(new LimeOptions
            {
                Features = r.Superpixels ? LimeFeatureKind.Superpixel : LimeFeatureKind.Grid, Segments = r.Segments ?? 50,
                Cell = r.Cell ?? 4, SampleCount = plan.Samples, Seed = r.Seed,
            }),
            SaliencyMethods.KernelShap => new KernelShapExplainer(new KernelShapOptions { Cell = r.Cell ?? 7, SampleCount = plan.Samples, Seed = r.Seed }),
            SaliencyMethods.SmoothCaso or SaliencyMethods.SmoothCafo => new SmoothCasoExplainer(new SmoothCasoExplainerOptions
            {
                Smoothing = new SmoothingOptions { Copies = plan.Samples },
                Seed = r.Seed,
                Lambda1 = r.Lambda1,
                TopClasses = plan.TopClasses,
                Solver = new CasoOptions
                {
                    Kind = plan.Method == SaliencyMethods.SmoothCaso ? CasoObjectiveKind.Caso : CasoObjectiveKind.Cafo,
                    MaxIterations = plan.Iterations,
                    CancellationToken = token,
                },
            }),
            _ => new LegExplainer(new LegExplainerOptions
            {
                TotalVariation = plan.Method == SaliencyMethods.LegTv,
                SampleCount = plan.Samples,
                Seed = r.Seed,
                TvOptions = new LegTvOptions
                {
                    BoundFactor = plan.BoundFactor,
                    Solver = new TvLpOptions { MaxIterations = plan.Iterations, CancellationToken = token },
                },
            }),
        };
    }

    private static ExplanationReport? Report(Explanation explanation, Plan plan) => explanation switch
    {
        CasoExplanation caso => CasoReportOf(caso, plan.TopClasses),
        LegExplanation leg => new LegReport(leg.Result.Grid.Rows, leg.Result.Grid.Cols, leg.Moments.SampleCount,
            plan.Samples % 2 == 0, plan.Request.Seed, leg.Moments.BaselineValue, leg.ConstantRegions,
            leg.Result.Solutions is { } lps
                ? lps.Select((s, c) => new LpReport(leg.Result.Bounds![c], Status(s.Status), s.Iterations, s.Certificate.RelativeGap)).ToArray()
                : []),
        _ when plan.Method is SaliencyMethods.SmoothGrad or SaliencyMethods.IntegratedGradients => new SamplingReport(plan.Samples),
        // Grad-CAM, occlusion, LIME, Kernel SHAP; null for gradient and gradient × input.
        _ => BaselineReports.From(explanation),
    };

    private static CasoReport CasoReportOf(CasoExplanation caso, int? topClasses)
    {
        var r = caso.Result;
        var sweep = caso.Sweep;
        int classes = caso.Scores.Classes;
        // The columns CasoProblem kept: the same selection on the same float64 probabilities.
        int kept = topClasses is int k && k < classes
            ? ClassSelection.TopClasses(Softmax.Probabilities(caso.Scores.LogitsOf(0)), k, caso.Target, out _).Length
            : classes;
        return new CasoReport(r.Kind == CasoObjectiveKind.Caso, r.Lambda1, sweep is not null, sweep?.FoundInRange ?? true, sweep?.Tried.Count ?? 1,
            r.Lambda2, r.LambdaMax, Status(r.Status), r.Iterations, r.Residual, r.Objective, r.Loss, kept, r.DroppedProbabilityMass);
    }

    private static SolverStatus Status(FistaStatus s) => s switch
    {
        FistaStatus.Converged => SolverStatus.Converged,
        FistaStatus.IterationLimit => SolverStatus.IterationLimit,
        _ => SolverStatus.NonFinite,
    };

    private static SolverStatus Status(TvLpStatus s) => s switch
    {
        TvLpStatus.Optimal => SolverStatus.Converged,
        TvLpStatus.IterationLimit => SolverStatus.IterationLimit,
        _ => SolverStatus.NonFinite,
    };

    /// <summary>Waits for a slot, runs <paramref name="work"/> on a compute thread, and records the outcome.</summary>
    private async Task<T> RunAsync<T>(string model, string method, Func<CancellationToken, T> work, CancellationToken cancellationToken,
        bool countAsExplanation = true)
    {
        Enter();
        var tags = new TagList { { "saliency.model", model }, { "saliency.method", method } };
        _metrics.InFlight.Add(1, tags);
        string outcome = "error";
        try
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _lifetime.Token);
            var token = linked.Token;
            await _slots.WaitAsync(token).ConfigureAwait(false);
            try
            {
                using var activity = SaliencyTelemetry.ActivitySource.StartActivity(countAsExplanation ? "saliency.explain" : "saliency.predict");
                activity?.SetTag("saliency.model", model);
                activity?.SetTag("saliency.method", method);
                var started = Stopwatch.GetTimestamp();
                try
                {
                    // On the engine's own threads, not the pool's: see ComputeThreads.
                    var result = await _compute.Run(() => work(token), token).ConfigureAwait(false);
                    outcome = "ok";
                    double seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
                    if (countAsExplanation)
                    {
                        _metrics.Duration.Record(seconds, tags);
                        LogExplained(_logger, model, method, seconds * 1000);
                    }
                    return result;
                }
                catch (Exception e)
                {
                    activity?.SetStatus(ActivityStatusCode.Error, e.Message);
                    throw;
                }
            }
            finally
            {
                _slots.Release();
            }
        }
        catch (OperationCanceledException)
        {
            outcome = "cancelled";
            LogCancelled(_logger, model, method);
            throw;
        }
        catch (SaliencyRequestException e)
        {
            outcome = "rejected";
            _metrics.Rejections.Add(1, new KeyValuePair<string, object?>("reason", "request"));
            LogRejected(_logger, model, method, e.Message);
            throw;
        }
        catch (Exception e)
        {
            LogFailed(_logger, e, model, method);
            throw;
        }
        finally
        {
            _metrics.InFlight.Add(-1, tags);
            if (countAsExplanation)
            {
                tags.Add("outcome", outcome);
                _metrics.Explanations.Add(1, tags);
            }
            Exit();
        }
    }

    private void Reject(string? model, string? method, SaliencyRequestException e)
    {
        string reason = e is BudgetExceededException b ? b.Limit : e is ModelNotFoundException ? "model" : "request";
        _metrics.Rejections.Add(1, new KeyValuePair<string, object?>("reason", reason));
        _metrics.Explanations.Add(1, new TagList { { "saliency.model", model }, { "saliency.method", method }, { "outcome", "rejected" } });
        LogRejected(_logger, model ?? "", method ?? "", e.Message);
    }

    private ModelSlot Slot(string name)
    {
        if (name is null || !_models.TryGetValue(name, out var slot)) throw new ModelNotFoundException(name ?? "(null)", _models.Keys);
        return slot;
    }

    private static (int Channels, int Height, int Width) Shape(IClassifier classifier)
    {
        var s = classifier.InputShape;
        return s.Count switch
        {
            3 => ((int)s[0], (int)s[1], (int)s[2]),
            2 => (1, (int)s[0], (int)s[1]),
            _ => throw new SaliencyRequestException($"The model's input [{string.Join(", ", s)}] is not an image (channels × height × width).", "Model"),
        };
    }

    private void Enter()
    {
        Interlocked.Increment(ref _running);
        if (Volatile.Read(ref _disposed) != 0)
        {
            Exit();
            throw new ObjectDisposedException(nameof(SaliencyEngine));
        }
    }

    private void Exit()
    {
        if (Interlocked.Decrement(ref _running) == 0 && Volatile.Read(ref _disposed) != 0) _drained.TrySetResult();
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

    /// <summary>Cancels the requests in flight and releases the models' sessions at once.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _lifetime.Cancel();
        Release();
    }

    /// <summary>Refuses new requests, waits for those in flight to finish (a drain), then releases the models' sessions.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        if (Volatile.Read(ref _running) == 0) _drained.TrySetResult();
        await _drained.Task.ConfigureAwait(false);
        Release();
    }

    private void Release()
    {
        foreach (var slot in _models.Values) slot.Dispose();
        _compute.Dispose();
        _metrics.Dispose();
        _lifetime.Dispose();
        LogDisposed(_logger);
    }

    private sealed record Plan(ExplainRequest Request, string Method, ResourceBudget Budget, int? TopClasses, int Samples, int Iterations,
        double BoundFactor, long Memory);

    /// <summary>One registered model: opened once on first use (thread-safe), shared by every request.</summary>
    private sealed class ModelSlot : IDisposable
    {
        private readonly Lazy<OnnxClassifier> _classifier;

        public ModelSlot(string name, string path, int intraOpThreads)
        {
            Name = name;
            Path = path;
            _classifier = new Lazy<OnnxClassifier>(() => Open(name, path, intraOpThreads), LazyThreadSafetyMode.ExecutionAndPublication);
        }

        public string Name { get; }
        public string Path { get; }
        public OnnxClassifier Classifier => _classifier.Value;

        private static OnnxClassifier Open(string name, string path, int intraOpThreads)
        {
            try
            {
                return OnnxClassifier.Create(path, new InferenceSessionOptions { IntraOpThreads = intraOpThreads });
            }
            catch (Exception e) when (e is IOException or Saliency.Models.Autodiff.JacobianExportException or OrtException)
            {
                throw new ModelLoadException(name, $"Model '{name}' ('{path}') cannot be opened: {e.Message}", e);
            }
        }

        public void Dispose()
        {
            if (_classifier.IsValueCreated) _classifier.Value.Dispose();
        }
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Saliency engine created: {Models} models, {Concurrency} concurrent requests")]
    private static partial void LogCreated(ILogger logger, int models, int concurrency);

    [LoggerMessage(EventId = 2, Level = LogLevel.Debug, Message = "Explained with {Model}/{Method} in {Milliseconds:F1} ms")]
    private static partial void LogExplained(ILogger logger, string model, string method, double milliseconds);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "Request {Model}/{Method} rejected: {Reason}")]
    private static partial void LogRejected(ILogger logger, string model, string method, string reason);

    [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "Request {Model}/{Method} cancelled")]
    private static partial void LogCancelled(ILogger logger, string model, string method);

    [LoggerMessage(EventId = 5, Level = LogLevel.Error, Message = "Request {Model}/{Method} failed")]
    private static partial void LogFailed(ILogger logger, Exception exception, string model, string method);

    [LoggerMessage(EventId = 6, Level = LogLevel.Information, Message = "Saliency engine disposed")]
    private static partial void LogDisposed(ILogger logger);
}
