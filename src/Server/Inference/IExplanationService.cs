using System.Globalization;

namespace Saliency.Server.Inference;

/// <summary>
/// What the scheduler asks of the library: batched predictions and batched explanations of one model. Kept small so
/// that the queue and the HTTP layer can be tested without models (a fake service) and do not depend on how
/// explanations are computed (<see cref="EngineExplanationService"/> over <see cref="SaliencyEngine"/>).
/// </summary>
internal interface IExplanationService
{
    /// <summary>Class scores of <paramref name="count"/> instances laid out one after another, in one forward run.</summary>
    Task<PredictionResult[]> PredictAsync(ServedModel model, ReadOnlyMemory<float> images, int count, CancellationToken cancellationToken);

    /// <summary>
    /// Explains a batch of instances that share the model and the method settings. Each entry of the result is the
    /// instance's explanation or the exception it failed with (one bad instance does not fail the others).
    /// </summary>
    Task<ExplainOutcome[]> ExplainBatchAsync(ServedModel model, MethodSettings settings, IReadOnlyList<ExplainInput> inputs, CancellationToken cancellationToken);
}

/// <summary>One instance to explain, with its own cancellation (its client's disconnect or deadline).</summary>
internal sealed record ExplainInput(float[] Image, int? Target, CancellationToken CancellationToken);

/// <summary>An instance's explanation, or why it has none.</summary>
internal readonly record struct ExplainOutcome(ExplainResult? Result, Exception? Error);

/// <summary>A prediction: the predicted class, probabilities and logits.</summary>
internal sealed record PredictionResult(int PredictedClass, ReadOnlyMemory<float> Probabilities, ReadOnlyMemory<float> Logits);

/// <summary>
/// The method and the parameters that must agree for two instances to share a batch (the target may differ); the
/// names and meanings are <see cref="ExplainRequest"/>'s.
/// </summary>
internal sealed record MethodSettings(string Method, double? Lambda1, int? Samples, ulong Seed, double? BoundFactor, int? TopClasses, int? MaxIterations)
{
    /// <summary>The settings of a prediction (no method parameters).</summary>
    public static MethodSettings Predict { get; } = new("predict", null, null, 0, null, null, null);

    /// <summary>Grad-CAM's layer; null = the engine's default.</summary>
    public string? Layer { get; init; }

    /// <summary>Occlusion's window side.</summary>
    public int? Window { get; init; }

    /// <summary>Occlusion's step.</summary>
    public int? Stride { get; init; }

    /// <summary>LIME's and Kernel SHAP's grid cell side.</summary>
    public int? Cell { get; init; }

    /// <summary>LIME on SLIC superpixels.</summary>
    public bool Superpixels { get; init; }

    /// <summary>SLIC's target number of superpixels.</summary>
    public int? Segments { get; init; }

    /// <summary>One output score explained alone (ExplainRequest.Channel).</summary>
    public int? Channel { get; init; }

    /// <summary>
    /// Batching key: equal keys mean the same explainer settings. The layer, the one free-form text, is written with
    /// its length first, so that no layer name can make two different settings read alike.
    /// </summary>
    public string Key => string.Create(CultureInfo.InvariantCulture,
        $"{Method}|{Lambda1:R}|{Samples}|{Seed}|{BoundFactor:R}|{TopClasses}|{MaxIterations}|{Window}|{Stride}|{Cell}|{Superpixels}|{Segments}|{Channel}|{Layer?.Length}:{Layer}");

    /// <summary>The engine's request for one instance with these settings.</summary>
    public ExplainRequest Request(string model, float[] image, int? target) => new()
    {
        Model = model,
        Image = image,
        Method = Method,
        Target = target,
        Lambda1 = Lambda1,
        Samples = Samples,
        Seed = Seed,
        BoundFactor = BoundFactor,
        TopClasses = TopClasses,
        MaxIterations = MaxIterations,
        Layer = Layer,
        Window = Window,
        Stride = Stride,
        Cell = Cell,
        Superpixels = Superpixels,
        Segments = Segments,
        Channel = Channel,
    };
}
