namespace Saliency.Models.Classifiers;

/// <summary>
/// One score of a classifier explained on its own: a two-class view with logits <c>[b, z_i]</c>, where <c>z_i</c> is
/// score <see cref="Index"/> of the inner classifier and b a constant <see cref="Offset"/> (0 by default). Class 1 is
/// "score i", class 0 its complement.
/// </summary>
/// <remarks>
/// <para>softmax([0, z]) = (1 − σ(z), σ(z)), so for a multi-label sigmoid output the view's probability of class 1 is
/// exactly the model's probability of label i, its cross-entropy loss is the binary one <c>−log σ(z_i)</c>, and its
/// Jacobian column 1 is <c>∇ₓ z_i</c> (column 0 is zero). Every method of the library — gradient, CASO (A = diag(p) − ppᵀ
/// on two classes is the exact Hessian of the binary loss in z_i), LEG, occlusion — then explains that label alone.</para>
/// <para>For a feature extractor (e.g. [1, 512, 1, 1]) the same view explains channel i: the gradient method maps
/// <c>∇ₓ f_i</c>, and probability-based methods see σ(f_i − b), a monotone squashing of the activation. With b = f_i(x₀),
/// the activation at the explained image, σ is at its steepest there (p = ½) rather than saturated (a ResNet-18 channel
/// of 7.9 gives σ = 0.9996, which leaves LEG almost no signal).</para>
/// <para>Inner layers (Grad-CAM) pass through when the inner classifier exposes them: the view's logits are
/// <c>[b, z_i]</c>, so a cotangent row <c>(u₀, u₁)</c> is the inner row <c>u₁·e_i</c> (b is constant) and the tapped
/// VJP is <c>u₁ ∂z_i/∂A</c>; Grad-CAM of class 1 is Grad-CAM of score i.</para>
/// </remarks>
internal sealed class SingleScoreClassifier : IClassifier, ILayerGradientSource
{
    private readonly IClassifier _inner;
    private readonly bool _ownsInner;

    /// <summary>Views score <paramref name="index"/> of <paramref name="inner"/>.</summary>
    /// <param name="inner">The classifier with all scores.</param>
    /// <param name="index">The label or channel to explain.</param>
    /// <param name="ownsInner">Dispose <paramref name="inner"/> with this view.</param>
    /// <param name="offset">b, the constant logit of class 0 (finite).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="index"/> is not a class of <paramref name="inner"/>, or the offset is not finite.</exception>
    public SingleScoreClassifier(IClassifier inner, int index, bool ownsInner = false, float offset = 0f)
    {
        if (!float.IsFinite(offset)) throw new ArgumentOutOfRangeException(nameof(offset), offset, "The offset must be finite.");
        Offset = offset;
        ArgumentNullException.ThrowIfNull(inner);
        if (index < 0 || index >= inner.ClassCount)
            throw new ArgumentOutOfRangeException(nameof(index), index, $"The score index must lie in [0, {inner.ClassCount}).");
        _inner = inner;
        Index = index;
        _ownsInner = ownsInner;
    }

    /// <summary>
    /// The one rule for explaining one score alone, shared by the CLI (<c>--channel</c>, a sigmoid output's
    /// <c>--target</c>) and the engine (<c>ExplainRequest.Channel</c>): score <paramref name="channel"/> when given, else,
    /// for a multi-label output (<paramref name="kind"/> Sigmoid), label <paramref name="target"/> (null: the highest
    /// score); null when neither applies and <paramref name="model"/> itself is explained. A channel's view is centred at
    /// its value on the image (b = z_i(x), σ = ½ there rather than saturated); a label's keeps the model's own σ(z_i)
    /// (b = 0). The explainer then takes the view with target 1. Ranges and the channel/target conflict are the callers'
    /// to check, in their own words.
    /// </summary>
    /// <returns>The view (not owning <paramref name="model"/>), the score's index and the full model's scores at the image.</returns>
    public static (SingleScoreClassifier View, int Index, ClassScores Scores)? ForRequest(IClassifier model, OutputKind kind,
        ReadOnlySpan<float> image, int? channel, int? target)
    {
        ArgumentNullException.ThrowIfNull(model);
        bool sigmoid = kind == OutputKind.Sigmoid;
        if (channel is null && !sigmoid) return null;
        var scores = model.Predict(image);
        int index = channel ?? target ?? System.Numerics.Tensors.TensorPrimitives.IndexOfMax(scores.LogitsOf(0));
        return (new SingleScoreClassifier(model, index, offset: sigmoid ? 0f : scores.LogitsOf(0)[index]), index, scores);
    }

    /// <summary>b, the constant logit of class 0.</summary>
    public float Offset { get; }

    /// <summary>The inner score this view explains.</summary>
    public int Index { get; }

    /// <inheritdoc />
    public IReadOnlyList<long> InputShape => _inner.InputShape;

    /// <inheritdoc />
    public int InputSize => _inner.InputSize;

    /// <inheritdoc />
    public bool? IsPiecewiseLinear => _inner.IsPiecewiseLinear;

    /// <summary>2: the complement (0) and the score (1).</summary>
    public int ClassCount => 2;

    /// <inheritdoc />
    public ClassScores Predict(ReadOnlySpan<float> images) => View(_inner.Predict(images));

    /// <inheritdoc />
    public JacobianMatrix Jacobian(ReadOnlySpan<float> image, IReadOnlyList<int>? classes = null)
    {
        int[] selected = classes?.ToArray() ?? [0, 1];
        if (selected.Length == 0) throw new ArgumentException("Select at least one class.", nameof(classes));
        foreach (int c in selected)
            if (c is not (0 or 1)) throw new ArgumentOutOfRangeException(nameof(classes), c, "Class indices must lie in [0, 2).");
        var column = _inner.Jacobian(image, [Index]);
        int d = InputSize;
        var data = new float[selected.Length * d];
        for (int j = 0; j < selected.Length; j++)
            if (selected[j] == 1) column.Column(0).CopyTo(data.AsSpan(j * d, d));
        return new JacobianMatrix(data, d, selected, View(column.Scores));
    }

    /// <inheritdoc />
    public JacobianMatrix TopKJacobian(ReadOnlySpan<float> image, int k)
    {
        if (k < 1 || k > 2) throw new ArgumentOutOfRangeException(nameof(k), k, "k must lie in [1, 2].");
        var logits = Predict(image).LogitsOf(0);
        int first = logits[1] > logits[0] ? 1 : 0;
        return Jacobian(image, k == 1 ? [first] : [first, 1 - first]);
    }

    /// <inheritdoc />
    public LossGradient LossGradient(ReadOnlySpan<float> image, int? target = null)
    {
        var scores = Predict(image);
        int t = target ?? scores.PredictedClass();
        if (t is not (0 or 1)) throw new ArgumentOutOfRangeException(nameof(target), t, "The target must lie in [0, 2).");
        // ∂(−log p_t)/∂[b, z] = p − e_t; only its second entry reaches the image, through ∇z_i.
        var p = Softmax.Probabilities(scores.LogitsOf(0));
        p[t] -= 1.0;
        var gradient = new float[InputSize];
        var runScores = VectorJacobianProduct(image, [(float)p[0], (float)p[1]], gradient);
        return new LossGradient(gradient, t, runScores);
    }

    /// <inheritdoc />
    public ClassScores VectorJacobianProduct(ReadOnlySpan<float> image, ReadOnlySpan<float> cotangents, Span<float> destination)
    {
        if (cotangents.Length == 0 || cotangents.Length % 2 != 0)
            throw new ArgumentException($"Cotangents must be k×2 values (k ≥ 1), got {cotangents.Length}.", nameof(cotangents));
        int k = cotangents.Length / 2, c = _inner.ClassCount;
        // Row r of the inner cotangents carries u[r, 1] at the explained score; u[r, 0] meets the constant logit b.
        var inner = new float[k * c];
        for (int r = 0; r < k; r++) inner[r * c + Index] = cotangents[2 * r + 1];
        return View(_inner.VectorJacobianProduct(image, inner, destination));
    }

    /// <inheritdoc />
    public bool ExposesLayers => _inner is ILayerGradientSource { ExposesLayers: true };

    /// <inheritdoc />
    /// <exception cref="NotSupportedException">The inner classifier exposes no inner layers (<see cref="ExposesLayers"/> is false).</exception>
    public LayerGradient LayerGradient(ReadOnlySpan<float> image, ReadOnlySpan<float> cotangents, string? layer = null)
    {
        if (_inner is not ILayerGradientSource { ExposesLayers: true } source)
            throw new NotSupportedException($"The classifier inside this single-score view ({_inner.GetType().Name}) exposes no inner layers.");
        if (cotangents.Length == 0 || cotangents.Length % 2 != 0)
            throw new ArgumentException($"Cotangents must be k×2 values (k ≥ 1), got {cotangents.Length}.", nameof(cotangents));
        int k = cotangents.Length / 2, c = _inner.ClassCount;
        // As VectorJacobianProduct: u[r, 1] goes to score i; u[r, 0] meets the constant b and contributes nothing.
        var inner = new float[k * c];
        for (int r = 0; r < k; r++)
        {
            if (!float.IsFinite(cotangents[2 * r])) throw new ArgumentException($"Cotangent [{r}, 0] is not finite.", nameof(cotangents));
            inner[r * c + Index] = cotangents[2 * r + 1];
        }
        var tapped = source.LayerGradient(image, inner, layer);
        return tapped with { Scores = View(tapped.Scores) };
    }

    private ClassScores View(ClassScores scores)
    {
        var logits = new float[scores.Batch * 2];
        for (int b = 0; b < scores.Batch; b++) { logits[2 * b] = Offset; logits[2 * b + 1] = scores.LogitsOf(b)[Index]; }
        var probabilities = new float[logits.Length];
        Softmax.Rows(logits, probabilities, 2);
        return new ClassScores(logits, probabilities, scores.Batch, 2);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_ownsInner) _inner.Dispose();
    }
}
