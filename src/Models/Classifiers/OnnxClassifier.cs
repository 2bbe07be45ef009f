using System.Collections.Concurrent;
using Google.Protobuf;
using Saliency.Models.Autodiff;
using Saliency.Models.Caching;
using Saliency.Models.Onnx.Proto;
using Saliency.Models.Runtime;

namespace Saliency.Models.Classifiers;

/// <summary>
/// <see cref="IClassifier"/> over ONNX Runtime: batched forward passes run the original model; Jacobians, loss
/// gradients and vector-Jacobian products run the model exported by <see cref="JacobianExporter"/>, which returns
/// the logits and k vector-Jacobian products in one run.
/// </summary>
/// <remarks>
/// Thread-safe: ONNX Runtime sessions may be run concurrently, the identity cotangents are built once and only read,
/// and image buffers come from a concurrent pool so that repeated calls do not allocate them again.
/// </remarks>
internal sealed class OnnxClassifier : IClassifier, ILayerGradientSource
{
    private readonly InferenceSession _forward;
    private readonly InferenceSession _jacobian;
    private readonly string _inputName;
    private readonly string _logitsTensor;
    private readonly bool _batchedForward;
    private readonly long[] _imageShape;
    private readonly JacobianExportOptions _names;
    private readonly ConcurrentBag<float[]> _imageBuffers = new();
    private readonly Lazy<float[]> _allClassCotangents;
    private readonly ModelProto _source;
    private readonly InferenceSessionOptions? _sessionOptions;
    private readonly ConcurrentDictionary<string, Lazy<TapSession>> _tapSessions = new(StringComparer.Ordinal);
    private int _disposed;

    private OnnxClassifier(ModelProto classifier, ModelProto augmented, byte[] augmentedBytes, JacobianExportOptions names, InferenceSessionOptions? sessionOptions)
    {
        _names = names;
        var cotangents = augmented.Graph.Input.First(i => i.Name == names.CotangentsName);
        ClassCount = checked((int)cotangents.Type.TensorType.Shape.Dim[1].DimValue);
        var vjp = augmented.Graph.Output.First(o => o.Name == names.VjpName);
        _imageShape = vjp.Type.TensorType.Shape.Dim.Skip(1).Select(d => d.DimValue).ToArray();
        InputSize = checked((int)_imageShape.Aggregate(1L, (a, b) => a * b));
        var metadata = augmented.MetadataProps.ToDictionary(e => e.Key, e => e.Value);
        _inputName = metadata[JacobianExporter.MetadataInput];
        IsPiecewiseLinear = JacobianExporter.IsPiecewiseLinear(augmented);
        _logitsTensor = metadata[JacobianExporter.MetadataLogits];
        var batch = classifier.Graph.Input.First(i => i.Name == _inputName).Type.TensorType.Shape.Dim[0];
        _batchedForward = batch.ValueCase != TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue;
        _allClassCotangents = new Lazy<float[]>(() => Cotangents(Enumerable.Range(0, ClassCount).ToArray()));

        // The forward model also returns the logits when the classifier ends in Softmax (they are an inner tensor then).
        var forward = classifier.Clone();
        if (forward.Graph.Output.All(o => o.Name != _logitsTensor))
            forward.Graph.Output.Add(new ValueInfoProto
            {
                Name = _logitsTensor,
                Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } },
            });
        _forward = InferenceSession.Create(forward.ToByteArray(), sessionOptions);
        // Kept for the activation taps (LayerGradient): exported from the classifier on first use of a layer. The
        // initializers are immutable ByteStrings shared with the caller's model, not copies.
        (_source, _sessionOptions) = (classifier, sessionOptions);
        try
        {
            _jacobian = InferenceSession.Create(augmentedBytes, sessionOptions);
        }
        catch
        {
            _forward.Dispose();
            throw;
        }
    }

    /// <summary>Exports the Jacobian model of <paramref name="classifier"/> and opens sessions on both.</summary>
    /// <param name="classifier">The classifier.</param>
    /// <param name="sessionOptions">ONNX Runtime options of both sessions.</param>
    /// <param name="exportOptions">Names and shapes for the exporter.</param>
    /// <param name="cache">Where to look up and store the exported model (keyed by the serialised classifier); null: export every time.</param>
    /// <exception cref="JacobianExportException">The classifier cannot be differentiated.</exception>
    public static OnnxClassifier Create(ModelProto classifier, InferenceSessionOptions? sessionOptions = null, JacobianExportOptions? exportOptions = null,
        JacobianModelCache? cache = null)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        return cache is null
            ? CreateCore(null, classifier, sessionOptions, exportOptions, null)
            : CreateCore(classifier.ToByteArray(), classifier, sessionOptions, exportOptions, cache);
    }

    /// <summary>Reads an ONNX file and creates the classifier.</summary>
    /// <param name="onnxPath">The classifier's ONNX file.</param>
    /// <param name="sessionOptions">ONNX Runtime options of both sessions.</param>
    /// <param name="exportOptions">Names and shapes for the exporter.</param>
    /// <param name="cache">Where to look up and store the exported model (keyed by the file's bytes); null: export every time.</param>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="JacobianExportException">The file is not an ONNX model, or it cannot be differentiated.</exception>
    public static OnnxClassifier Create(string onnxPath, InferenceSessionOptions? sessionOptions = null, JacobianExportOptions? exportOptions = null,
        JacobianModelCache? cache = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(onnxPath);
        if (!File.Exists(onnxPath)) throw new FileNotFoundException($"The model file '{onnxPath}' does not exist.", onnxPath);
        var bytes = File.ReadAllBytes(onnxPath);
        ModelProto model;
        try
        {
            model = ModelProto.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new JacobianExportException($"'{onnxPath}' is not a valid ONNX model: {e.Message}");
        }
        if (Onnx.OnnxExternalData.HasExternalData(model))
        {
            // Weights beside the model (inside its folder only) are read in, so both sessions get one byte array and
            // the cache key covers the weights too.
            try
            {
                Onnx.OnnxExternalData.Inline(model, Path.GetDirectoryName(Path.GetFullPath(onnxPath)) ?? ".");
            }
            catch (Onnx.OnnxFormatException e)
            {
                throw new JacobianExportException($"'{onnxPath}': {e.Message}");
            }
            bytes = model.ToByteArray();
        }
        return CreateCore(bytes, model, sessionOptions, exportOptions, cache);
    }

    private static OnnxClassifier CreateCore(byte[]? bytes, ModelProto classifier, InferenceSessionOptions? sessionOptions,
        JacobianExportOptions? exportOptions, JacobianModelCache? cache)
    {
        exportOptions ??= new JacobianExportOptions();
        ModelProto augmented;
        byte[] augmentedBytes;
        if (cache is null || bytes is null)
        {
            augmented = JacobianExporter.Export(classifier, exportOptions);
            augmentedBytes = augmented.ToByteArray();
        }
        else
        {
            (augmented, augmentedBytes) = cache.GetOrExport(bytes, classifier, exportOptions);
        }
        return new OnnxClassifier(classifier, augmented, augmentedBytes, exportOptions, sessionOptions);
    }

    /// <inheritdoc />
    /// <remarks>From the operators on the exported path (<see cref="JacobianExporter.MetadataPiecewiseLinear"/>).</remarks>
    public bool? IsPiecewiseLinear { get; }

    /// <inheritdoc />
    public IReadOnlyList<long> InputShape => _imageShape;

    /// <inheritdoc />
    public int InputSize { get; }

    /// <inheritdoc />
    public int ClassCount { get; }

    /// <summary>
    /// A view of this classifier whose every model run carries <paramref name="cancellationToken"/>: ONNX Runtime stops
    /// between operators (<c>RunOptions.Terminate</c>, see <see cref="InferenceSession.Run"/>) and a call that starts after
    /// cancellation throws <see cref="OperationCanceledException"/> before running. The view shares the sessions;
    /// disposing it does nothing (the classifier stays the owner).
    /// </summary>
    public IClassifier WithCancellation(CancellationToken cancellationToken) =>
        cancellationToken.CanBeCanceled ? new CancellableView(this, cancellationToken) : this;

    /// <inheritdoc />
    /// <exception cref="NonFiniteInputException">An image value is NaN or ±∞ (the model would return NaN logits).</exception>
    public ClassScores Predict(ReadOnlySpan<float> images) => Predict(images, CancellationToken.None);

    private ClassScores Predict(ReadOnlySpan<float> images, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        if (images.Length == 0 || images.Length % InputSize != 0)
            throw new ArgumentException($"Expected a positive multiple of {InputSize} values (images of shape [{string.Join(", ", _imageShape)}]), got {images.Length}.", nameof(images));
        CheckFinite(images, nameof(images));
        cancellationToken.ThrowIfCancellationRequested();
        int batch = images.Length / InputSize;
        var logits = new float[batch * ClassCount];
        if (_batchedForward)
        {
            var output = _forward.Run([new FloatTensor(_inputName, images.ToArray(), [batch, .. _imageShape])], [_logitsTensor], cancellationToken)[0];
            output.Data.CopyTo(logits, 0);
        }
        else
        {
            for (int b = 0; b < batch; b++)
            {
                var buffer = RentImage(images.Slice(b * InputSize, InputSize));
                try
                {
                    var output = _forward.Run([new FloatTensor(_inputName, buffer, [1, .. _imageShape])], [_logitsTensor], cancellationToken)[0];
                    output.Data.CopyTo(logits, b * ClassCount);
                }
                finally
                {
                    _imageBuffers.Add(buffer);
                }
            }
        }
        return FromLogits(logits, batch);
    }

    /// <summary>
    /// The scores of a model run: the logits as returned and their <see cref="Softmax"/> (the exported model's own
    /// probabilities output is not fetched, so every probability in the library comes from one softmax).
    /// </summary>
    /// <exception cref="ClassifierOutputException">The model returned NaN or ±∞ logits.</exception>
    private ClassScores FromLogits(float[] logits, int batch)
    {
        int bad = Softmax.FirstNonFinite(logits);
        if (bad >= 0)
            throw new ClassifierOutputException(
                $"The model returned a non-finite logit ({logits[bad]}) for class {bad % ClassCount} of image {bad / ClassCount}; " +
                "its probabilities and gradients are undefined.");
        var probabilities = new float[logits.Length];
        Softmax.Rows(logits, probabilities, ClassCount);
        return new ClassScores(logits, probabilities, batch, ClassCount);
    }

    /// <inheritdoc />
    /// <exception cref="NonFiniteInputException">An image value is NaN or ±∞.</exception>
    public JacobianMatrix Jacobian(ReadOnlySpan<float> image, IReadOnlyList<int>? classes = null) => Jacobian(image, classes, CancellationToken.None);

    private JacobianMatrix Jacobian(ReadOnlySpan<float> image, IReadOnlyList<int>? classes, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        int[] selected;
        float[] cotangents;
        if (classes is null)
        {
            selected = Enumerable.Range(0, ClassCount).ToArray();
            cotangents = _allClassCotangents.Value;
        }
        else
        {
            selected = classes.ToArray();
            if (selected.Length == 0) throw new ArgumentException("Select at least one class.", nameof(classes));
            foreach (var c in selected)
                if (c < 0 || c >= ClassCount) throw new ArgumentOutOfRangeException(nameof(classes), c, $"Class indices must lie in [0, {ClassCount}).");
            cotangents = Cotangents(selected);
        }
        var data = RunJacobian(CheckImage(image), cotangents, selected.Length, out var scores, cancellationToken);
        return new JacobianMatrix(data, InputSize, selected, scores);
    }

    /// <inheritdoc />
    public JacobianMatrix TopKJacobian(ReadOnlySpan<float> image, int k) => TopKJacobian(image, k, CancellationToken.None);

    private JacobianMatrix TopKJacobian(ReadOnlySpan<float> image, int k, CancellationToken cancellationToken)
    {
        if (k < 1 || k > ClassCount) throw new ArgumentOutOfRangeException(nameof(k), k, $"k must lie in [1, {ClassCount}].");
        // Softmax is monotone: the most probable classes are those of the largest logits (ties: lower index first).
        var logits = Predict(CheckImage(image), cancellationToken).Logits;
        var top = Enumerable.Range(0, ClassCount).OrderByDescending(i => logits[i]).ThenBy(i => i).Take(k).ToArray();
        return Jacobian(image, top, cancellationToken);
    }

    /// <inheritdoc />
    /// <exception cref="NonFiniteInputException">An image value is NaN or ±∞.</exception>
    public LossGradient LossGradient(ReadOnlySpan<float> image, int? target = null) => LossGradient(image, target, CancellationToken.None);

    private LossGradient LossGradient(ReadOnlySpan<float> image, int? target, CancellationToken cancellationToken)
    {
        var scores = Predict(CheckImage(image), cancellationToken);
        int t = target ?? scores.PredictedClass();
        if (t < 0 || t >= ClassCount) throw new ArgumentOutOfRangeException(nameof(target), t, $"The target must lie in [0, {ClassCount}).");
        // ∂(−log p_t)/∂logits = p − e_t, so the image gradient is W(p − e_t): one vector-Jacobian product. The
        // cotangent depends on p, so this needs the forward run above before the Jacobian run.
        var p = Softmax.Probabilities(scores.LogitsOf(0));
        p[t] -= 1.0;
        var residual = Array.ConvertAll(p, v => (float)v);
        var gradient = RunJacobian(image, residual, 1, out var runScores, cancellationToken);
        return new LossGradient(gradient, t, runScores);
    }

    /// <inheritdoc />
    public ClassScores VectorJacobianProduct(ReadOnlySpan<float> image, ReadOnlySpan<float> cotangents, Span<float> destination) =>
        VectorJacobianProduct(image, cotangents, destination, CancellationToken.None);

    private ClassScores VectorJacobianProduct(ReadOnlySpan<float> image, ReadOnlySpan<float> cotangents, Span<float> destination,
        CancellationToken cancellationToken)
    {
        CheckImage(image);
        if (cotangents.Length == 0 || cotangents.Length % ClassCount != 0)
            throw new ArgumentException($"Cotangents must be k×{ClassCount} values (k ≥ 1), got {cotangents.Length}.", nameof(cotangents));
        int k = cotangents.Length / ClassCount;
        if (destination.Length != k * InputSize)
            throw new ArgumentException($"The destination must hold k×d = {k}×{InputSize} values, it holds {destination.Length}.", nameof(destination));
        if (System.Numerics.Tensors.TensorPrimitives.Sum(cotangents) is var sum && !float.IsFinite(sum))
            throw new ArgumentException("The cotangents contain NaN or infinite values.", nameof(cotangents));
        var result = RunJacobian(image, cotangents.ToArray(), k, out var scores, cancellationToken);
        result.CopyTo(destination);
        return scores;
    }

    private float[] RunJacobian(ReadOnlySpan<float> image, float[] cotangents, int k, out ClassScores scores, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        cancellationToken.ThrowIfCancellationRequested();
        var buffer = RentImage(image);
        try
        {
            var outputs = _jacobian.Run(
                [new FloatTensor(_inputName, buffer, [1, .. _imageShape]), new FloatTensor(_names.CotangentsName, cotangents, [k, ClassCount])],
                [_names.LogitsName, _names.VjpName], cancellationToken);
            scores = FromLogits(outputs[0].Data, 1);
            return outputs[1].Data;
        }
        finally
        {
            _imageBuffers.Add(buffer);
        }
    }

    /// <inheritdoc />
    /// <remarks>
    /// The first call for a layer exports a third model, the Jacobian model with the layer tapped
    /// (<see cref="JacobianExportOptions.ActivationTaps"/>), and opens a session on it; later calls reuse it. It is not
    /// cached on disk: the export is cheap next to the session creation it would save.
    /// </remarks>
    public LayerGradient LayerGradient(ReadOnlySpan<float> image, ReadOnlySpan<float> cotangents, string? layer = null)
    {
        ThrowIfDisposed();
        CheckImage(image);
        if (cotangents.Length == 0 || cotangents.Length % ClassCount != 0)
            throw new ArgumentException($"Cotangents must be k×{ClassCount} values (k ≥ 1), got {cotangents.Length}.", nameof(cotangents));
        if (System.Numerics.Tensors.TensorPrimitives.Sum(cotangents) is var sum && !float.IsFinite(sum))
            throw new ArgumentException("The cotangents contain NaN or infinite values.", nameof(cotangents));
        int k = cotangents.Length / ClassCount;
        var tap = _tapSessions.GetOrAdd(layer ?? JacobianExportOptions.DefaultLayer,
            key => new Lazy<TapSession>(() => OpenTap(key), LazyThreadSafetyMode.ExecutionAndPublication)).Value;
        var buffer = RentImage(image);
        try
        {
            var outputs = tap.Session.Run(
                [new FloatTensor(_inputName, buffer, [1, .. _imageShape]), new FloatTensor(_names.CotangentsName, cotangents.ToArray(), [k, ClassCount])],
                [_names.LogitsName, JacobianExportOptions.ActivationName(0), JacobianExportOptions.ActivationVjpName(0)]);
            return new LayerGradient(tap.Tensor, tap.Shape, outputs[1].Data, outputs[2].Data, k, FromLogits(outputs[0].Data, 1));
        }
        finally
        {
            _imageBuffers.Add(buffer);
        }
    }

    /// <summary>A Jacobian model with one activation tap, the tapped tensor and its shape without the batch axis.</summary>
    private sealed record TapSession(InferenceSession Session, string Tensor, long[] Shape);

    private TapSession OpenTap(string layer)
    {
        var tapped = JacobianExporter.Export(_source, _names with { ActivationTaps = [layer] });
        string tensor = tapped.MetadataProps.First(e => e.Key == JacobianExporter.MetadataTapPrefix + "0").Value;
        var activation = tapped.Graph.Output.First(o => o.Name == JacobianExportOptions.ActivationName(0));
        var shape = activation.Type.TensorType.Shape.Dim.Skip(1).Select(d => d.DimValue).ToArray();
        ThrowIfDisposed();
        return new TapSession(InferenceSession.Create(tapped.ToByteArray(), _sessionOptions), tensor, shape);
    }

    private float[] Cotangents(int[] classes)
    {
        var u = new float[classes.Length * ClassCount];
        for (int j = 0; j < classes.Length; j++) u[j * ClassCount + classes[j]] = 1f;
        return u;
    }

    private ReadOnlySpan<float> CheckImage(ReadOnlySpan<float> image)
    {
        if (image.Length != InputSize)
            throw new ArgumentException($"Expected one image of {InputSize} values (shape [{string.Join(", ", _imageShape)}]), got {image.Length}.", nameof(image));
        CheckFinite(image, nameof(image));
        return image;
    }

    /// <summary>One NaN pixel would make every logit NaN and the argmax class 0 (IndexOfMax on NaN): rejected before the run.</summary>
    private void CheckFinite(ReadOnlySpan<float> images, string paramName)
    {
        int bad = Softmax.FirstNonFinite(images);
        if (bad >= 0)
            throw new NonFiniteInputException(bad,
                $"Image {bad / InputSize} has a non-finite value ({images[bad]}) at index {bad % InputSize}; the model's logits would be undefined.", paramName);
    }

    /// <summary>
    /// <see cref="WithCancellation"/>'s view: the classifier's methods with a fixed token, checked first, so that a call
    /// after cancellation throws <see cref="OperationCanceledException"/> even when the owner was disposed meanwhile (the
    /// engine cancels, then disposes).
    /// </summary>
    private sealed class CancellableView(OnnxClassifier owner, CancellationToken token) : IClassifier
    {
        public IReadOnlyList<long> InputShape => owner.InputShape;
        public int InputSize => owner.InputSize;
        public int ClassCount => owner.ClassCount;

        public ClassScores Predict(ReadOnlySpan<float> images)
        {
            token.ThrowIfCancellationRequested();
            return owner.Predict(images, token);
        }

        public JacobianMatrix Jacobian(ReadOnlySpan<float> image, IReadOnlyList<int>? classes = null)
        {
            token.ThrowIfCancellationRequested();
            return owner.Jacobian(image, classes, token);
        }

        public JacobianMatrix TopKJacobian(ReadOnlySpan<float> image, int k)
        {
            token.ThrowIfCancellationRequested();
            return owner.TopKJacobian(image, k, token);
        }

        public LossGradient LossGradient(ReadOnlySpan<float> image, int? target = null)
        {
            token.ThrowIfCancellationRequested();
            return owner.LossGradient(image, target, token);
        }

        public ClassScores VectorJacobianProduct(ReadOnlySpan<float> image, ReadOnlySpan<float> cotangents, Span<float> destination)
        {
            token.ThrowIfCancellationRequested();
            return owner.VectorJacobianProduct(image, cotangents, destination, token);
        }

        public void Dispose() { }
    }

    private float[] RentImage(ReadOnlySpan<float> image)
    {
        if (!_imageBuffers.TryTake(out var buffer)) buffer = new float[InputSize];
        image.CopyTo(buffer);
        return buffer;
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

    /// <inheritdoc />
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _forward.Dispose();
        _jacobian.Dispose();
        foreach (var tap in _tapSessions.Values)
            if (tap.IsValueCreated) tap.Value.Session.Dispose();
    }
}
