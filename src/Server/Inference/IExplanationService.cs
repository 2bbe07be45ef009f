using System.Globalization;

namespace Saliency.Server.Inference;

/// <summary>
/// What the server asks of the library: batched predictions and batched explanations of one model. Kept small so
/// that the HTTP layer and the scheduler do not depend on how explanations are computed (the explainers directly, or
/// a host-level engine).
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
internal readonly record struct ExplainOutcome(ExplanationResult? Result, Exception? Error);

/// <summary>A prediction: the predicted class, probabilities and logits.</summary>
internal sealed record PredictionResult(int PredictedClass, float[] Probabilities, float[] Logits);

/// <summary>
/// An explanation as served: the signed map [C, H, W] on the method's grid, the classes, and the method's report —
/// a typed record where the method has one, else its name/value rows.
/// </summary>
internal sealed record ExplanationResult(string Method, int Target, int PredictedClass, float[] Probabilities,
    float[] Map, int Channels, int Height, int Width, object Report);

/// <summary>
/// The method and the parameters that must agree for two instances to share a batch (the target may differ).
/// </summary>
internal sealed record MethodSettings(string Method, double? Lambda1, int? Samples, ulong Seed, double? BoundFactor, int? Steps)
{
    /// <summary>The methods the server explains with.</summary>
    public static readonly string[] Methods = ["gradient", "gradient-x-input", "smoothgrad", "ig", "cafo", "caso", "leg", "leg-tv"];

    /// <summary>Batching key: equal keys mean the same explainer settings.</summary>
    public string Key => string.Create(CultureInfo.InvariantCulture, $"{Method}|{Lambda1}|{Samples}|{Seed}|{BoundFactor}|{Steps}");
}
