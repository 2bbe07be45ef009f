namespace Saliency.Server.Inference;

/// <summary>
/// <see cref="IExplanationService"/> over <see cref="SaliencyEngine"/>. Predictions of a batch are one
/// <see cref="SaliencyEngine.PredictAsync"/> call: one ONNX Runtime run with the instances along the batch axis.
/// Explanations of a batch run concurrently in the engine (bounded by its MaxConcurrency, one ORT thread each), every
/// instance under its own client's token, which the engine passes to ONNX Runtime, FISTA and PDHG. For the gradient
/// methods the instances without a target first share one batched forward run that picks their predicted classes, so
/// each then needs only its Jacobian run (N + 1 ORT runs for N instances instead of 2N).
/// </summary>
internal sealed class EngineExplanationService(SaliencyEngine engine) : IExplanationService
{
    /// <inheritdoc />
    public async Task<PredictionResult[]> PredictAsync(ServedModel model, ReadOnlyMemory<float> images, int count, CancellationToken cancellationToken)
    {
        var p = await engine.PredictAsync(model.Name, images, cancellationToken).ConfigureAwait(false);
        var results = new PredictionResult[count];
        for (int i = 0; i < count; i++)
            results[i] = new PredictionResult(p.PredictedClasses[i], p.Probabilities.Slice(i * p.Classes, p.Classes), p.Logits.Slice(i * p.Classes, p.Classes));
        return results;
    }

    /// <inheritdoc />
    public async Task<ExplainOutcome[]> ExplainBatchAsync(ServedModel model, MethodSettings settings, IReadOnlyList<ExplainInput> inputs, CancellationToken cancellationToken)
    {
        var targets = inputs.Select(i => i.Target).ToArray();
        if (settings.Method is SaliencyMethods.Gradient or SaliencyMethods.GradientTimesInput)
            await ResolveTargetsAsync(model, inputs, targets, cancellationToken).ConfigureAwait(false);
        return await Task.WhenAll(inputs.Select(async (input, i) =>
        {
            using var token = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, input.CancellationToken);
            try
            {
                var request = settings.Request(model.Name, input.Image, targets[i]);
                return new ExplainOutcome(await engine.ExplainAsync(request, token.Token).ConfigureAwait(false), null);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                return new ExplainOutcome(null, e);
            }
        })).ConfigureAwait(false);
    }

    /// <summary>Fills the missing targets with the predicted classes, from one forward run over those instances.</summary>
    private async Task ResolveTargetsAsync(ServedModel model, IReadOnlyList<ExplainInput> inputs, int?[] targets, CancellationToken cancellationToken)
    {
        var missing = Enumerable.Range(0, inputs.Count).Where(i => targets[i] is null && !inputs[i].CancellationToken.IsCancellationRequested).ToArray();
        if (missing.Length < 2) return; // one instance: the explainer's own forward run costs the same
        int d = model.InputSize;
        var batch = new float[missing.Length * d];
        for (int j = 0; j < missing.Length; j++)
        {
            var image = inputs[missing[j]].Image;
            if (image.Length != d) return; // let each instance fail with its own message
            image.CopyTo(batch, j * d);
        }
        Prediction scores;
        try
        {
            scores = await engine.PredictAsync(model.Name, batch, cancellationToken).ConfigureAwait(false);
        }
        catch (SaliencyRequestException)
        {
            return; // e.g. a NaN pixel in one instance: each then fails, or not, on its own
        }
        for (int j = 0; j < missing.Length; j++) targets[missing[j]] = scores.PredictedClasses[j];
    }
}
