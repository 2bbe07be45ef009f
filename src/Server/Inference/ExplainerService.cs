using Saliency.Explainers;
using Saliency.Models.Classifiers;
using Saliency.Solvers.Caso;
using Saliency.Solvers.Leg;

namespace Saliency.Server.Inference;

/// <summary>
/// <see cref="IExplanationService"/> over the library's explainers. Predictions of a batch are one forward run of
/// the model (its batch axis is dynamic, or <see cref="OnnxClassifier"/> loops for a fixed batch of 1). Explanations
/// of a batch run one after another on the calling worker; for the gradient methods the instances without a target
/// first share one batched forward run that picks their predicted classes, so each then needs only its Jacobian run
/// (N + 1 ORT runs for N instances instead of 2N).
/// </summary>
internal sealed class ExplainerService : IExplanationService
{
    /// <inheritdoc />
    public Task<PredictionResult[]> PredictAsync(ServedModel model, ReadOnlyMemory<float> images, int count, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var scores = model.Classifier.Predict(images.Span);
        var results = new PredictionResult[count];
        for (int i = 0; i < count; i++)
            results[i] = new PredictionResult(scores.PredictedClass(i), scores.ProbabilitiesOf(i).ToArray(), scores.LogitsOf(i).ToArray());
        return Task.FromResult(results);
    }

    /// <inheritdoc />
    public Task<ExplainOutcome[]> ExplainBatchAsync(ServedModel model, MethodSettings settings, IReadOnlyList<ExplainInput> inputs, CancellationToken cancellationToken)
    {
        var explainer = Create(settings);
        var targets = inputs.Select(i => i.Target).ToArray();
        if (settings.Method is "gradient" or "gradient-x-input")
            ResolveTargets(model, inputs, targets);
        var outcomes = new ExplainOutcome[inputs.Count];
        for (int i = 0; i < inputs.Count; i++)
        {
            // The explainers take no token: a client that left or ran out of time is skipped between instances.
            var token = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, inputs[i].CancellationToken);
            try
            {
                token.Token.ThrowIfCancellationRequested();
                var explanation = explainer.Explain(model.Classifier, inputs[i].Image, targets[i]);
                outcomes[i] = new ExplainOutcome(ToResult(explanation), null);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                outcomes[i] = new ExplainOutcome(null, e);
            }
            finally
            {
                token.Dispose();
            }
        }
        return Task.FromResult(outcomes);
    }

    /// <summary>Fills the missing targets with the predicted classes, from one forward run over those instances.</summary>
    private static void ResolveTargets(ServedModel model, IReadOnlyList<ExplainInput> inputs, int?[] targets)
    {
        var missing = Enumerable.Range(0, inputs.Count).Where(i => targets[i] is null && !inputs[i].CancellationToken.IsCancellationRequested).ToArray();
        if (missing.Length < 2) return; // one instance: the explainer's own forward run costs the same
        int d = model.InputSize;
        var batch = new float[missing.Length * d];
        for (int j = 0; j < missing.Length; j++)
        {
            var image = inputs[missing[j]].Image;
            // The explainer validates again; a non-finite pixel here would give a NaN logit for the whole batch.
            if (image.Length != d || !image.All(float.IsFinite))
                return;
            image.CopyTo(batch, j * d);
        }
        ClassScores scores;
        try
        {
            scores = model.Classifier.Predict(batch);
        }
        catch (ClassifierOutputException)
        {
            return; // let each instance fail on its own
        }
        for (int j = 0; j < missing.Length; j++) targets[missing[j]] = scores.PredictedClass(j);
    }

    /// <summary>The explainer for the settings, with the CLI's defaults (<c>saliency explain</c>).</summary>
    internal static IExplainer Create(MethodSettings s) => s.Method switch
    {
        "gradient" => new GradientExplainer(),
        "gradient-x-input" => new GradientTimesInputExplainer(),
        "smoothgrad" => new SmoothGradExplainer(new SmoothGradOptions { SampleCount = s.Samples ?? 50, Seed = s.Seed }),
        "ig" => new IntegratedGradientsExplainer(new IntegratedGradientsOptions { Steps = s.Steps ?? 64 }),
        "cafo" or "caso" => new CasoExplainer(new CasoExplainerOptions
        {
            Solver = new CasoOptions { Kind = s.Method == "caso" ? CasoObjectiveKind.Caso : CasoObjectiveKind.Cafo },
            Lambda1 = s.Lambda1,
        }),
        "leg" or "leg-tv" => new LegExplainer(new LegExplainerOptions
        {
            TotalVariation = s.Method == "leg-tv",
            SampleCount = s.Samples ?? 1000,
            Seed = s.Seed,
            TvOptions = new LegTvOptions { BoundFactor = s.BoundFactor ?? 0.1 },
        }),
        _ => throw new ExplainerInputException($"unknown method '{s.Method}'; use one of {string.Join(", ", MethodSettings.Methods)}.", "method"),
    };

    private static ExplanationResult ToResult(Explanation e)
    {
        var map = e.Map;
        return new ExplanationResult(e.Method, e.Target, e.PredictedClass, e.Scores.ProbabilitiesOf(0).ToArray(),
            map.Values, map.Channels, map.Height, map.Width, Report(e));
    }

    /// <summary>The method's typed report; name/value rows for the methods without one.</summary>
    private static object Report(Explanation e) => e switch
    {
        CasoExplanation c => new CasoReport(c.Result.Kind.ToString(), c.Result.Lambda1, c.Result.Lambda2, c.Result.LambdaMax,
            c.Result.Objective, c.Result.Loss, c.Result.Iterations, c.Result.Status.ToString(), c.Result.Converged, c.Result.Residual,
            c.Result.SparsityRatio, c.Result.DroppedProbabilityMass, c.Sweep?.Tried.Count),
        LegExplanation l => new LegReport(l.Method == "leg-tv", l.Result.Grid.Rows, l.Result.Grid.Cols, l.ConstantRegions),
        _ when e.GetType().IsGenericType && e.GetType().GetGenericTypeDefinition() == typeof(BaselineExplanation<>)
            => e.GetType().GetProperty(nameof(BaselineExplanation<GradientTimesInputReport>.Report))!.GetValue(e)!,
        _ => e.Details.ToDictionary(d => d.Key, d => d.Value),
    };
}

/// <summary>CAFO/CASO's solver report (<see cref="CasoResult"/>), without the solution vector (it is the map).</summary>
internal sealed record CasoReport(string Kind, double Lambda1, double Lambda2, double LambdaMax, double Objective, double Loss,
    int Iterations, string Status, bool Converged, double Residual, double SparsityRatio, double DroppedProbabilityMass, int? SweepSolves);

/// <summary>LEG/LEG-TV's report: the perturbation grid and, for LEG-TV, the number of constant regions of the map.</summary>
internal sealed record LegReport(bool TotalVariation, int GridRows, int GridCols, int ConstantRegions);
