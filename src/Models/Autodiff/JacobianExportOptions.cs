namespace Saliency.Models.Autodiff;

/// <summary>Options of <see cref="JacobianExporter.Export"/>. The defaults suit a single-input image classifier.</summary>
internal sealed record JacobianExportOptions
{
    /// <summary>Name of the graph input that is the image; <c>null</c> picks the only non-initializer float input.</summary>
    public string? InputName { get; init; }

    /// <summary>Name of the classifier output (logits, or probabilities through a final Softmax); <c>null</c> picks the first graph output.</summary>
    public string? OutputName { get; init; }

    /// <summary>
    /// The image shape without the batch dimension (e.g. <c>[1, 28, 28]</c>), needed only when the model declares
    /// symbolic spatial or channel dimensions. The batch dimension is always fixed to 1 in the exported model.
    /// </summary>
    public IReadOnlyList<long>? InputShape { get; init; }

    /// <summary>Name of the added logits output.</summary>
    public string LogitsName { get; init; } = "logits";

    /// <summary>Name of the added probabilities output (softmax of the logits).</summary>
    public string ProbabilitiesName { get; init; } = "probabilities";

    /// <summary>Name of the added input holding the k cotangent rows, shape [k, classes].</summary>
    public string CotangentsName { get; init; } = "cotangents";

    /// <summary>Name of the added output holding the k vector-Jacobian products, shape [k, image dims without batch].</summary>
    public string VjpName { get; init; } = "vjp";

    /// <summary>
    /// A fixed number k of cotangent rows per run (the cotangents input becomes [k, classes]); null (default) leaves k
    /// symbolic, so one model serves any number of classes per run. Callers of a fixed-k model pad the last run
    /// (<see cref="Classifiers.OnnxClassifier.JacobianInto"/>).
    /// </summary>
    public int? CotangentBatch { get; init; }

    /// <summary>
    /// Layers whose activation and cotangent to expose (Grad-CAM): each entry a node name (its first output) or a tensor
    /// name on the path from the image to the logits, or <see cref="DefaultLayer"/> for the rule of
    /// <see cref="JacobianExporter.DefaultActivationLayerRule"/>. Tap i adds the outputs
    /// <see cref="ActivationName"/>(i) [1, dims…] (the forward activation A) and <see cref="ActivationVjpName"/>(i)
    /// [k, dims…] (row r: <c>(∂logits/∂A)ᵀ cotangents[r]</c>). Null or empty: no taps (the export is unchanged).
    /// </summary>
    public IReadOnlyList<string>? ActivationTaps { get; init; }

    /// <summary>The <see cref="ActivationTaps"/> entry that asks for the default layer.</summary>
    public const string DefaultLayer = "";

    /// <summary>Name of the added output holding tap <paramref name="index"/>'s activation.</summary>
    public static string ActivationName(int index) => $"activation_{index}";

    /// <summary>Name of the added output holding tap <paramref name="index"/>'s k vector-Jacobian products.</summary>
    public static string ActivationVjpName(int index) => $"activation_vjp_{index}";
}
