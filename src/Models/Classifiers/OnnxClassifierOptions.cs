using Saliency.Models.Autodiff;
using Saliency.Models.Caching;
using Saliency.Models.Runtime;

namespace Saliency.Models.Classifiers;

/// <summary>What a classifier's chosen output holds (docs/models.md, "Outputs").</summary>
internal enum OutputKind
{
    /// <summary>Detected from the node that produces the output: Softmax → probabilities, LogSoftmax → log-probabilities, Sigmoid → sigmoid, anything else → logits.</summary>
    Auto,

    /// <summary>Unnormalised class scores z; probabilities are softmax(z).</summary>
    Logits,

    /// <summary>Softmax probabilities p. Logits are the Softmax node's input, or log p when no Softmax node produces the output (softmax(log p) = p).</summary>
    Probabilities,

    /// <summary>log p = z − logsumexp(z). Logits are the LogSoftmax node's input, or the output itself (softmax is shift-invariant).</summary>
    LogProbabilities,

    /// <summary>Independent per-label probabilities σ(zᵢ) of a multi-label model. Logits are the Sigmoid node's input, or log(p / (1 − p)).</summary>
    Sigmoid,
}

/// <summary>Memory layout of a rank-4 image input.</summary>
internal enum InputLayout
{
    /// <summary>[batch, channels, height, width] (PyTorch).</summary>
    Nchw,

    /// <summary>[batch, height, width, channels] (TensorFlow/Keras); the classifier transposes from NCHW in the graph.</summary>
    Nhwc,
}

/// <summary>How <see cref="OnnxClassifier.Open(string, OnnxClassifierOptions?)"/> reads a model. The defaults suit a single-input classifier with one logits or softmax output.</summary>
internal sealed record OnnxClassifierOptions
{
    /// <summary>The image input; null picks the only non-initializer input (which must be float).</summary>
    public string? InputName { get; init; }

    /// <summary>The output to explain; null picks the first graph output.</summary>
    public string? OutputName { get; init; }

    /// <summary>What the output holds; <see cref="OutputKind.Auto"/> detects it from the producing node.</summary>
    public OutputKind OutputKind { get; init; } = OutputKind.Auto;

    /// <summary>
    /// The image shape without the batch axis, in the model's own layout (e.g. [3, 224, 224], or [224, 224, 3] for
    /// NHWC); needed only when the model declares symbolic sizes. Fixed sizes it declares must agree.
    /// </summary>
    public IReadOnlyList<long>? InputShape { get; init; }

    /// <summary>Layout of the model's image input. <see cref="InputLayout.Nhwc"/> presents the classifier as NCHW (<see cref="IClassifier.InputShape"/> = [C, H, W]).</summary>
    public InputLayout InputLayout { get; init; } = InputLayout.Nchw;

    /// <summary>
    /// Largest image accepted, in values (product of the image dimensions); checked before anything is allocated,
    /// so a model declaring a 100000×100000 input is refused rather than overflowing or exhausting memory.
    /// </summary>
    public long MaxInputValues { get; init; } = 1L << 27;

    /// <summary>ONNX Runtime options of the forward and Jacobian sessions.</summary>
    public InferenceSessionOptions? Session { get; init; }

    /// <summary>Names of the tensors the Jacobian exporter adds (its input and output names are set by the classifier).</summary>
    public JacobianExportOptions? ExportNames { get; init; }

    /// <summary>Where to look up and store the exported Jacobian model; null: export when first needed.</summary>
    public JacobianModelCache? Cache { get; init; }
}

/// <summary>
/// The model cannot be used as a classifier the way it was asked for (no or several image inputs, an unknown output
/// name, an output that is not one score per class, an image size too large). The message says what to change.
/// </summary>
internal sealed class ClassifierModelException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public ClassifierModelException(string message) : base(message) { }
}
