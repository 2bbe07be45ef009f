using Saliency.Kernels.Ops;
using Saliency.Models.Autodiff;
using Saliency.Models.Classifiers;

namespace Saliency.Explainers;

/// <summary>Settings of <see cref="GradCamExplainer"/>.</summary>
internal sealed record GradCamOptions
{
    /// <summary>
    /// The layer A: a node name (its first output) or a tensor name on the path from the image to the logits; null picks
    /// the default (<see cref="JacobianExporter.DefaultActivationLayerRule"/>: for LeNet the ReLU after the last conv,
    /// for ResNets the ReLU that ends the last block, as pytorch-grad-cam's <c>layer4[-1]</c>).
    /// </summary>
    public string? Layer { get; init; }
}

/// <summary>Report of <see cref="GradCamExplainer"/>.</summary>
internal sealed record GradCamReport : BaselineReport
{
    /// <summary>The tapped tensor.</summary>
    public required string Layer { get; init; }

    /// <summary>K, h, w of the activation.</summary>
    public required (int Channels, int Height, int Width) ActivationShape { get; init; }

    /// <summary>α_k = (1/hw) Σᵢⱼ ∂y_t/∂A_kij, one per channel (Selvaraju et al. 2017, eq. 1).</summary>
    public required double[] Weights { get; init; }

    /// <summary>The map at the layer's resolution, ReLU(Σ_k α_k A_k), h×w row-major (eq. 2), before upsampling.</summary>
    public required double[] CoarseMap { get; init; }
}

/// <summary>
/// Grad-CAM (Selvaraju et al., ICCV 2017): for the target logit y_t and a convolutional layer's activation A [K, h, w],
/// channel weights <c>α_k = (1/hw) Σᵢⱼ ∂y_t/∂A_kij</c> (eq. 1) and the map <c>ReLU(Σ_k α_k A_k)</c> (eq. 2), upsampled
/// bilinearly to the image with half-pixel centres (PyTorch <c>align_corners=False</c>, OpenCV's <c>resize</c>, as the
/// reference implementations do). A and ∂y_t/∂A come from one run of the Jacobian model with the layer tapped
/// (<see cref="JacobianExportOptions.ActivationTaps"/>, cotangent e_t); the classifier must be an
/// <see cref="ILayerGradientSource"/> that exposes its layers. The map has one channel (Grad-CAM does not attribute per input channel).
/// </summary>
internal sealed class GradCamExplainer : IExplainer
{
    /// <summary>Creates the explainer.</summary>
    public GradCamExplainer(GradCamOptions? options = null) => Options = options ?? new GradCamOptions();

    /// <summary>The settings.</summary>
    public GradCamOptions Options { get; }

    /// <inheritdoc />
    public string Name => "gradcam";

    /// <inheritdoc />
    /// <exception cref="ExplainerInputException">Also when the classifier exposes no inner layers, the layer does not exist or is
    /// not spatial, or (default layer) the model has no spatial layer.</exception>
    public BaselineExplanation<GradCamReport> Explain(IClassifier classifier, ReadOnlySpan<float> image, int? target = null)
    {
        ExplainerGuard.Validate(classifier, image, target);
        var (_, height, width) = ExplainerGuard.ImageShape(classifier);
        // An OnnxClassifier, or a SingleScoreClassifier view of one (Grad-CAM of one score: --channel, a sigmoid label).
        if (classifier is not ILayerGradientSource { ExposesLayers: true } source)
            throw new ExplainerInputException(
                $"Grad-CAM needs a classifier that exposes inner layers (an OnnxClassifier); {classifier.GetType().Name} gives only input gradients.", nameof(classifier));
        if (Options.Layer is { Length: 0 })
            throw new ExplainerInputException("The Grad-CAM layer name is empty; give a node or tensor name, or null for the default layer.", nameof(Options.Layer));

        // As GradientExplainer: a given target needs only the tapped run; otherwise one forward run picks the class.
        int forwardRuns = target is null ? 1 : 0;
        int t = target ?? classifier.Predict(image).PredictedClass();
        var cotangent = new float[classifier.ClassCount];
        cotangent[t] = 1f;
        LayerGradient layer;
        try
        {
            layer = source.LayerGradient(image, cotangent, Options.Layer);
        }
        catch (JacobianExportException e)
        {
            throw new ExplainerInputException($"Grad-CAM cannot use this layer: {e.Message}", nameof(Options.Layer));
        }
        if (layer.Shape.Count != 3)
            throw new ExplainerInputException(
                $"The layer '{layer.Layer}' has shape [{string.Join(", ", layer.Shape)}] without batch; Grad-CAM needs a spatial activation [K, h, w].",
                nameof(Options.Layer));
        int channels = (int)layer.Shape[0], h = (int)layer.Shape[1], w = (int)layer.Shape[2], plane = h * w;

        // Eq. 1: α_k is the spatial mean of the gradient; eq. 2: ReLU of the α-weighted sum of the feature maps (float64).
        var alpha = new double[channels];
        var coarse = new double[plane];
        for (int k = 0; k < channels; k++)
        {
            double s = 0;
            for (int i = 0; i < plane; i++) s += layer.Gradients[k * plane + i];
            alpha[k] = s / plane;
            for (int i = 0; i < plane; i++) coarse[i] += alpha[k] * layer.Activation[k * plane + i];
        }
        for (int i = 0; i < plane; i++) coarse[i] = Math.Max(0, coarse[i]);
        var upsampled = new double[height * width];
        Upsampling.Apply<double>(coarse, upsampled, h, w, height, width, UpsamplingMode.Bilinear);

        var report = new GradCamReport
        {
            Layer = layer.Layer, ActivationShape = (channels, h, w), Weights = alpha, CoarseMap = coarse,
            Runs = new ModelRuns(forwardRuns, 1, forwardRuns + 1),
        };
        var map = SaliencyMap.FromDoubles(upsampled, 1, height, width);
        return new BaselineExplanation<GradCamReport>(Name, map, t, layer.Scores,
        [
            new("layer", $"{layer.Layer} [{channels}×{h}×{w}]"),
            new("map", $"ReLU(Σ_k α_k A_k), bilinear ×{ExplainerGuard.Format(height / (double)h)} (half-pixel centres)"),
            new("zero fraction", ExplainerGuard.Format(map.SparsityRatio)),
            new("model runs", report.Runs.ToString()),
        ], report);
    }

    Explanation IExplainer.Explain(IClassifier classifier, ReadOnlySpan<float> image, int? target) => Explain(classifier, image, target);
}
