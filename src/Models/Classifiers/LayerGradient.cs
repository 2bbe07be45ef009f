using Saliency.Models.Autodiff;

namespace Saliency.Models.Classifiers;

/// <summary>
/// A classifier that can expose an inner layer: its activation A at an image and the vector-Jacobian products
/// <c>(∂logits/∂A)ᵀ u</c> for cotangent rows u, as Grad-CAM needs (Selvaraju et al. 2017, eq. 1).
/// </summary>
internal interface ILayerGradientSource
{
    /// <summary>
    /// Whether <see cref="LayerGradient"/> can run: true for a model of its own, and for a view (e.g.
    /// <see cref="SingleScoreClassifier"/>) only when what it wraps exposes layers.
    /// </summary>
    bool ExposesLayers => true;

    /// <summary>
    /// The activation of <paramref name="layer"/> at <paramref name="image"/> and k vector-Jacobian products with
    /// respect to it, one per row of the k×c row-major <paramref name="cotangents"/>, in one model run.
    /// </summary>
    /// <param name="image">One image, <see cref="IClassifier.InputSize"/> values.</param>
    /// <param name="cotangents">k×c cotangent rows (e.g. e_t for the gradient of logit t).</param>
    /// <param name="layer">A node name or tensor name on the path to the logits; null: the default layer
    /// (<see cref="JacobianExporter.DefaultActivationLayerRule"/>).</param>
    /// <exception cref="ArgumentException">The image or cotangents have the wrong length, or a cotangent is not finite.</exception>
    /// <exception cref="JacobianExportException">The layer does not exist, is not on the path, or (default) the model has no spatial layer.</exception>
    LayerGradient LayerGradient(ReadOnlySpan<float> image, ReadOnlySpan<float> cotangents, string? layer = null);
}

/// <summary>An inner layer's activation and the vector-Jacobian products with respect to it.</summary>
/// <param name="Layer">The tapped tensor's name.</param>
/// <param name="Shape">The activation's shape without the batch axis, e.g. [K, h, w].</param>
/// <param name="Activation">A, row-major, <c>Π Shape</c> values.</param>
/// <param name="Gradients">k rows of <c>Π Shape</c> values: row r is <c>(∂logits/∂A)ᵀ cotangents[r]</c>.</param>
/// <param name="Count">k, the number of rows.</param>
/// <param name="Scores">The image's logits and probabilities.</param>
internal sealed record LayerGradient(string Layer, IReadOnlyList<long> Shape, float[] Activation, float[] Gradients, int Count, ClassScores Scores);
