using System.Collections.Concurrent;
using Google.Protobuf;
using Saliency.Models.Autodiff;
using Saliency.Models.Caching;
using Saliency.Models.Onnx;
using Saliency.Models.Onnx.Proto;
using Saliency.Models.Runtime;

namespace Saliency.Models.Classifiers;

/// <summary>
/// <see cref="IClassifier"/> over ONNX Runtime: batched forward passes run the original model; Jacobians, loss
/// gradients and vector-Jacobian products run the model exported by <see cref="JacobianExporter"/>, which returns
/// the logits and k vector-Jacobian products in one run.
/// </summary>
/// <remarks>
/// <para><b>Forward first, Jacobian when needed.</b> <see cref="Open(string, OnnxClassifierOptions?)"/> reads the model's
/// inputs and outputs and opens only the forward session, so black-box methods (LEG, occlusion, LIME, KernelSHAP) work on
/// any model ONNX Runtime runs, including opsets and operators the exporter does not cover. The Jacobian model is exported
/// on the first call that needs it (or by <see cref="EnsureJacobian"/>); <see cref="Create(string, InferenceSessionOptions?, JacobianExportOptions?, JacobianModelCache?)"/>
/// exports at once, as before.</para>
/// <para><b>Outputs.</b> The output is chosen by name, and its kind (<see cref="Classifiers.OutputKind"/>) detected from the
/// node that produces it or given. The classifier's logits are the tensor whose softmax gives the class probabilities:
/// the input of a final Softmax or LogSoftmax, the input of a final Sigmoid (one logit per label), or the output itself.
/// Shapes [N, C], [N, C, 1, 1] and any other with one non-unit axis after the batch are read as C scores.</para>
/// <para><b>Thread-safe:</b> ONNX Runtime sessions may be run concurrently, the identity cotangents are built once and only
/// read, the Jacobian model is built once (<see cref="Lazy{T}"/>), and image buffers come from a concurrent pool.</para>
/// </remarks>
internal sealed class OnnxClassifier : IClassifier, ILayerGradientSource
{
    /// <summary>How the fetched tensor becomes logits when no final node gives them (forward runs only).</summary>
    private enum ScoreTransform { None, LogOfProbabilities, LogitOfSigmoid }

    private readonly OnnxClassifierOptions _options;
    private readonly ModelProto _prepared;
    private readonly InferenceSession _forward;
    private readonly string _inputName;
    private readonly string _scoreTensor;
    private readonly ScoreTransform _transform;
    private readonly bool _batchedForward;
    private readonly long[] _imageShape;
    private readonly ConcurrentBag<float[]> _imageBuffers = new();
    private readonly Lazy<float[]> _allClassCotangents;
    private readonly Lazy<JacobianSession> _jacobian;
    private readonly ConcurrentDictionary<string, Lazy<TapSession>> _tapSessions = new(StringComparer.Ordinal);
    private int _disposed;

    /// <summary>The exported model's session, the names of its added tensors, and the model it was exported from (for the taps).</summary>
    private sealed record JacobianSession(InferenceSession Session, JacobianExportOptions Names, ModelProto Source, bool? PiecewiseLinear);

    /// <summary>A Jacobian model with one activation tap, the tapped tensor and its shape without the batch axis.</summary>
    private sealed record TapSession(InferenceSession Session, string Tensor, long[] Shape);

    private OnnxClassifier(ModelProto prepared, OnnxClassifierOptions options, string inputName, long[] imageShape, long[] modelImageShape,
        bool batched, string outputName, OutputKind kind, string scoreTensor, ScoreTransform transform)
    {
        _options = options;
        _prepared = prepared;
        _inputName = inputName;
        _imageShape = imageShape;
        ModelInputShape = modelImageShape;
        InputSize = checked((int)imageShape.Aggregate(1L, (a, b) => a * b));
        _batchedForward = batched;
        OutputName = outputName;
        OutputKind = kind;
        _scoreTensor = scoreTensor;
        _transform = transform;

        // The forward model also returns the score tensor when it is an inner one (the input of a final Softmax).
        var forward = prepared.Clone();
        if (forward.Graph.Output.All(o => o.Name != scoreTensor))
            forward.Graph.Output.Add(new ValueInfoProto
            {
                Name = scoreTensor,
                Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } },
            });
        _forward = InferenceSession.Create(forward.ToByteArray(), options.Session);
        try
        {
            ClassCount = CountScores(prepared.Graph.Output.First(o => o.Name == outputName));
        }
        catch
        {
            _forward.Dispose();
            throw;
        }
        _allClassCotangents = new Lazy<float[]>(() => Cotangents(Enumerable.Range(0, ClassCount).ToArray()));
        _jacobian = new Lazy<JacobianSession>(BuildJacobian, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    /// <summary>Reads an ONNX file and opens its forward session; the Jacobian model is built when first needed.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="OnnxFormatException">The file is not an ONNX model.</exception>
    /// <exception cref="ClassifierModelException">The model is not a classifier as <paramref name="options"/> describe it.</exception>
    /// <exception cref="OrtException">ONNX Runtime rejects the model.</exception>
    public static OnnxClassifier Open(string onnxPath, OnnxClassifierOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(onnxPath);
        if (Directory.Exists(onnxPath)) throw new ClassifierModelException($"'{onnxPath}' is a directory, not an ONNX model file.");
        if (!File.Exists(onnxPath)) throw new FileNotFoundException($"The model file '{onnxPath}' does not exist.", onnxPath);
        var model = OnnxModel.Parse(File.ReadAllBytes(onnxPath)).Proto;
        InlineExternalData(model, onnxPath);
        return Open(model, options);
    }

    /// <summary>
    /// Reads weights stored beside the model (inside its folder only, <see cref="OnnxExternalData"/>) into
    /// <paramref name="model"/>, so that the sessions, created from bytes, get them.
    /// </summary>
    /// <exception cref="OnnxFormatException">An external-data reference is invalid or escapes the model's folder.</exception>
    public static void InlineExternalData(ModelProto model, string onnxPath)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (!OnnxExternalData.HasExternalData(model)) return;
        try
        {
            OnnxExternalData.Inline(model, Path.GetDirectoryName(Path.GetFullPath(onnxPath)) ?? ".");
        }
        catch (OnnxFormatException e)
        {
            throw new OnnxFormatException($"'{onnxPath}': {e.Message}", e);
        }
    }

    /// <summary>Opens the forward session of <paramref name="classifier"/> (not modified); the Jacobian model is built when first needed.</summary>
    /// <exception cref="ClassifierModelException">The model is not a classifier as <paramref name="options"/> describe it.</exception>
    /// <exception cref="OrtException">ONNX Runtime rejects the model.</exception>
    public static OnnxClassifier Open(ModelProto classifier, OnnxClassifierOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        options ??= new OnnxClassifierOptions();
        if (classifier.Graph is null) throw new ClassifierModelException("The model has no graph.");
        var model = classifier.Clone();
        var graph = model.Graph;
        var (input, modelShape, batched) = FindImageInput(graph, options);
        var output = FindOutput(graph, options.OutputName);
        var (kind, scoreTensor, transform) = ResolveKind(graph, output, options.OutputKind);

        long[] imageShape = modelShape;
        if (options.InputLayout == InputLayout.Nhwc)
        {
            if (modelShape.Length != 3)
                throw new ClassifierModelException($"An NHWC input needs rank 4 [batch, height, width, channels]; '{input.Name}' has rank {modelShape.Length + 1}.");
            imageShape = [modelShape[2], modelShape[0], modelShape[1]];
            WrapNhwc(graph, input, imageShape);
        }
        else
        {
            var dims = input.Type.TensorType.Shape.Dim;
            for (int i = 0; i < modelShape.Length; i++) dims[i + 1] = new TensorShapeProto.Types.Dimension { DimValue = modelShape[i] };
        }
        return new OnnxClassifier(model, options, input.Name, imageShape, modelShape, batched, output.Name, kind, scoreTensor, transform);
    }

    /// <summary>Exports the Jacobian model of <paramref name="classifier"/> and opens sessions on both.</summary>
    /// <param name="classifier">The classifier.</param>
    /// <param name="sessionOptions">ONNX Runtime options of both sessions.</param>
    /// <param name="exportOptions">Names and shapes for the exporter (its InputName, OutputName and InputShape choose the input, the output and the image shape).</param>
    /// <param name="cache">Where to look up and store the exported model; null: export every time.</param>
    /// <exception cref="JacobianExportException">The classifier cannot be differentiated.</exception>
    public static OnnxClassifier Create(ModelProto classifier, InferenceSessionOptions? sessionOptions = null, JacobianExportOptions? exportOptions = null,
        JacobianModelCache? cache = null)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        OnnxClassifier opened;
        try
        {
            opened = Open(classifier, new OnnxClassifierOptions
            {
                InputName = exportOptions?.InputName, OutputName = exportOptions?.OutputName, InputShape = exportOptions?.InputShape,
                Session = sessionOptions, ExportNames = exportOptions, Cache = cache,
                // As before Open existed: any image whose size fits an int; hosts apply their own budgets (SaliencyEngine).
                MaxInputValues = int.MaxValue,
            });
        }
        catch (ClassifierModelException e)
        {
            throw new JacobianExportException(e.Message);
        }
        try
        {
            opened.EnsureJacobian();
            return opened;
        }
        catch
        {
            opened.Dispose();
            throw;
        }
    }

    /// <summary>Reads an ONNX file and creates the classifier with its Jacobian model (see <see cref="Create(ModelProto, InferenceSessionOptions?, JacobianExportOptions?, JacobianModelCache?)"/>).</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="JacobianExportException">The file is not an ONNX model, or it cannot be differentiated.</exception>
    public static OnnxClassifier Create(string onnxPath, InferenceSessionOptions? sessionOptions = null, JacobianExportOptions? exportOptions = null,
        JacobianModelCache? cache = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(onnxPath);
        if (!File.Exists(onnxPath)) throw new FileNotFoundException($"The model file '{onnxPath}' does not exist.", onnxPath);
        ModelProto model;
        try
        {
            model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(onnxPath));
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new JacobianExportException($"'{onnxPath}' is not a valid ONNX model: {e.Message}");
        }
        try
        {
            InlineExternalData(model, onnxPath);
        }
        catch (OnnxFormatException e)
        {
            throw new JacobianExportException(e.Message);
        }
        return Create(model, sessionOptions, exportOptions, cache);
    }

    /// <inheritdoc />
    public IReadOnlyList<long> InputShape => _imageShape;

    /// <summary>The image shape without batch in the model's own layout ([H, W, C] for an NHWC model; else <see cref="InputShape"/>).</summary>
    public IReadOnlyList<long> ModelInputShape { get; }

    /// <inheritdoc />
    public int InputSize { get; }

    /// <inheritdoc />
    public int ClassCount { get; }

    /// <summary>The graph input the classifier feeds (the image input).</summary>
    public string InputName => _inputName;

    /// <summary>The graph output the classifier reads.</summary>
    public string OutputName { get; }

    /// <summary>What that output holds, as detected or given (never <see cref="OutputKind.Auto"/>).</summary>
    public OutputKind OutputKind { get; }

    /// <inheritdoc />
    /// <remarks>From the operators on the exported path (<see cref="JacobianExporter.MetadataPiecewiseLinear"/>); null until the Jacobian model exists.</remarks>
    public bool? IsPiecewiseLinear => _jacobian.IsValueCreated ? _jacobian.Value.PiecewiseLinear : null;

    /// <summary>True once the Jacobian model has been exported and opened.</summary>
    public bool HasJacobian => _jacobian.IsValueCreated;

    /// <summary>
    /// Exports the Jacobian model now (else the first Jacobian, loss gradient or vector-Jacobian product does), so that
    /// a model the exporter cannot differentiate is reported before any work.
    /// </summary>
    /// <exception cref="JacobianExportException">An operator has no backward rule, or the graph cannot be differentiated.</exception>
    /// <exception cref="ClassifierModelException">The output is probabilities or sigmoid scores with no node to differentiate from.</exception>
    public void EnsureJacobian()
    {
        ThrowIfDisposed();
        _ = _jacobian.Value;
    }

    /// <summary>
    /// A view of this classifier whose every model run carries <paramref name="cancellationToken"/>: ONNX Runtime stops
    /// between operators (<c>RunOptions.Terminate</c>, see <see cref="InferenceSession.Run"/>) and a call that starts after
    /// cancellation throws <see cref="OperationCanceledException"/> before running. The view shares the sessions;
    /// disposing it does nothing (the classifier stays the owner).
    /// </summary>
    public IClassifier WithCancellation(CancellationToken cancellationToken) =>
        cancellationToken.CanBeCanceled ? new CancellableView(this, cancellationToken) : this;

    /// <summary>
    /// The model's own probabilities for <paramref name="scores"/>: for a Sigmoid (multi-label) output each label's
    /// σ(z) on its own, else the softmax of the logits (<see cref="ClassScores.Probabilities"/>).
    /// </summary>
    public float[] OwnProbabilities(ClassScores scores) => OutputKind == OutputKind.Sigmoid
        ? scores.Logits.Select(z => (float)(1 / (1 + Math.Exp(-z)))).ToArray()
        : scores.Probabilities;

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
        var logits = new float[checked(batch * ClassCount)];
        if (_batchedForward)
        {
            var output = _forward.Run([new FloatTensor(_inputName, images.ToArray(), [batch, .. _imageShape])], [_scoreTensor], cancellationToken)[0];
            CopyScores(output, batch, logits, 0);
        }
        else
        {
            for (int b = 0; b < batch; b++)
            {
                var buffer = RentImage(images.Slice(b * InputSize, InputSize));
                try
                {
                    var output = _forward.Run([new FloatTensor(_inputName, buffer, [1, .. _imageShape])], [_scoreTensor], cancellationToken)[0];
                    CopyScores(output, 1, logits, b * ClassCount);
                }
                finally
                {
                    _imageBuffers.Add(buffer);
                }
            }
        }
        return FromLogits(logits, batch);
    }

    /// <summary>Copies a run's scores after checking their count, applying the log/logit transform of probability outputs.</summary>
    private void CopyScores(FloatTensor output, int batch, float[] logits, int offset)
    {
        if (output.Data.Length != batch * ClassCount)
            throw new ClassifierOutputException(
                $"The output '{_scoreTensor}' has {output.Data.Length} values (shape [{ShapeText(output.Shape)}]) for {batch} image(s) of {ClassCount} classes.");
        var span = logits.AsSpan(offset, batch * ClassCount);
        output.Data.CopyTo(span);
        // Clamped so that p = 0 or 1 gives a large finite logit, not ±∞ (exp(±87) is still finite in float32).
        const double Floor = 1e-38;
        switch (_transform)
        {
            case ScoreTransform.LogOfProbabilities:
                for (int i = 0; i < span.Length; i++) span[i] = float.IsFinite(span[i]) ? (float)Math.Log(Math.Max(span[i], Floor)) : span[i];
                break;
            case ScoreTransform.LogitOfSigmoid:
                for (int i = 0; i < span.Length; i++)
                    span[i] = float.IsFinite(span[i]) ? (float)(Math.Log(Math.Max(span[i], Floor)) - Math.Log(Math.Max(1.0 - span[i], Floor))) : span[i];
                break;
        }
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
                "its probabilities and gradients are undefined (NaN or infinite weights in the model, or an input outside its range).");
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
    /// <remarks>
    /// Each run's vector-Jacobian products are bound straight to their rows of <paramref name="destination"/>
    /// (<see cref="InferenceSession.RunInto(IReadOnlyList{FloatTensor}, IReadOnlyList{ValueTuple{string, Memory{float}, long[]}}, CancellationToken)"/>),
    /// so W exists once. A Jacobian model exported with a fixed cotangent batch K
    /// (<see cref="JacobianExportOptions.CotangentBatch"/>) runs K classes at a time whatever <paramref name="chunkClasses"/>
    /// says; its last run is padded with zero cotangents into a K×d scratch, of which only the real rows are copied.
    /// </remarks>
    /// <exception cref="NonFiniteInputException">An image value is NaN or ±∞.</exception>
    public ClassScores JacobianInto(ReadOnlySpan<float> image, Memory<float> destination, int chunkClasses = IClassifier.DefaultJacobianChunk) =>
        JacobianInto(image, destination, chunkClasses, CancellationToken.None);

    private ClassScores JacobianInto(ReadOnlySpan<float> image, Memory<float> destination, int chunkClasses, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        int d = InputSize, c = ClassCount;
        IClassifier.CheckJacobianDestination(destination.Length, chunkClasses, d, c);
        CheckImage(image);
        var jacobian = _jacobian.Value;
        long fixedBatch = jacobian.Session.Inputs.First(t => t.Name == jacobian.Names.CotangentsName).Shape[0];
        int k = fixedBatch > 0 ? checked((int)fixedBatch) : Math.Min(chunkClasses, c);
        var cotangents = new float[k * c];
        var logits = new float[c];
        float[]? padded = null;
        ClassScores? scores = null;
        var buffer = RentImage(image);
        try
        {
            for (int first = 0; first < c; first += k)
            {
                int rows = Math.Min(k, c - first);
                int batch = fixedBatch > 0 ? k : rows; // a symbolic batch simply runs the shorter last chunk
                var u = batch == k ? cotangents : new float[batch * c];
                Array.Clear(u);
                for (int j = 0; j < rows; j++) u[j * c + first + j] = 1f;
                Memory<float> rowsOut = batch == rows ? destination.Slice(first * d, rows * d) : (padded ??= new float[batch * d]);
                jacobian.Session.RunInto(
                    [new FloatTensor(_inputName, buffer, [1, .. _imageShape]), new FloatTensor(jacobian.Names.CotangentsName, u, [batch, c])],
                    [(jacobian.Names.LogitsName, logits.AsMemory(), [1, c]), (jacobian.Names.VjpName, rowsOut, [batch, .. _imageShape])],
                    cancellationToken);
                if (batch != rows) padded.AsSpan(0, rows * d).CopyTo(destination.Span.Slice(first * d, rows * d));
                scores ??= FromLogits((float[])logits.Clone(), 1);
            }
        }
        finally
        {
            _imageBuffers.Add(buffer);
        }
        return scores!;
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
        var jacobian = _jacobian.Value;
        var buffer = RentImage(image);
        try
        {
            var outputs = jacobian.Session.Run(
                [new FloatTensor(_inputName, buffer, [1, .. _imageShape]), new FloatTensor(jacobian.Names.CotangentsName, cotangents, [k, ClassCount])],
                [jacobian.Names.LogitsName, jacobian.Names.VjpName], cancellationToken);
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
    /// The first call for a layer exports a further model, the Jacobian model with the layer tapped
    /// (<see cref="JacobianExportOptions.ActivationTaps"/>), from the same prepared graph as the Jacobian model, and opens
    /// a session on it; later calls reuse it. It is not cached on disk: the export is cheap next to the session creation
    /// it would save.
    /// </remarks>
    public LayerGradient LayerGradient(ReadOnlySpan<float> image, ReadOnlySpan<float> cotangents, string? layer = null) =>
        LayerGradient(image, cotangents, layer, CancellationToken.None);

    /// <summary><see cref="LayerGradient(ReadOnlySpan{float}, ReadOnlySpan{float}, string?)"/> whose model run <paramref name="cancellationToken"/> stops.</summary>
    public LayerGradient LayerGradient(ReadOnlySpan<float> image, ReadOnlySpan<float> cotangents, string? layer, CancellationToken cancellationToken)
    {
        ThrowIfDisposed();
        CheckImage(image);
        if (cotangents.Length == 0 || cotangents.Length % ClassCount != 0)
            throw new ArgumentException($"Cotangents must be k×{ClassCount} values (k ≥ 1), got {cotangents.Length}.", nameof(cotangents));
        if (System.Numerics.Tensors.TensorPrimitives.Sum(cotangents) is var sum && !float.IsFinite(sum))
            throw new ArgumentException("The cotangents contain NaN or infinite values.", nameof(cotangents));
        int k = cotangents.Length / ClassCount;
        var names = _jacobian.Value.Names;
        var tap = _tapSessions.GetOrAdd(layer ?? JacobianExportOptions.DefaultLayer,
            key => new Lazy<TapSession>(() => OpenTap(key), LazyThreadSafetyMode.ExecutionAndPublication)).Value;
        var buffer = RentImage(image);
        try
        {
            var outputs = tap.Session.Run(
                [new FloatTensor(_inputName, buffer, [1, .. _imageShape]), new FloatTensor(names.CotangentsName, cotangents.ToArray(), [k, ClassCount])],
                [names.LogitsName, JacobianExportOptions.ActivationName(0), JacobianExportOptions.ActivationVjpName(0)], cancellationToken);
            return new LayerGradient(tap.Tensor, tap.Shape, outputs[1].Data, outputs[2].Data, k, FromLogits(outputs[0].Data, 1));
        }
        finally
        {
            _imageBuffers.Add(buffer);
        }
    }

    private TapSession OpenTap(string layer)
    {
        var jacobian = _jacobian.Value;
        var tapped = JacobianExporter.Export(jacobian.Source, jacobian.Names with { ActivationTaps = [layer] });
        string tensor = tapped.MetadataProps.First(e => e.Key == JacobianExporter.MetadataTapPrefix + "0").Value;
        var activation = tapped.Graph.Output.First(o => o.Name == JacobianExportOptions.ActivationName(0));
        var shape = activation.Type.TensorType.Shape.Dim.Skip(1).Select(d => d.DimValue).ToArray();
        ThrowIfDisposed();
        return new TapSession(InferenceSession.Create(tapped.ToByteArray(), _options.Session), tensor, shape);
    }

    /// <summary>
    /// Exports the Jacobian of the score tensor (flattened to [1, C] when it is not already a [N, C] output) and opens it.
    /// </summary>
    private JacobianSession BuildJacobian()
    {
        if (_transform != ScoreTransform.None)
            throw new ClassifierModelException(
                $"The output '{OutputName}' holds {(OutputKind == OutputKind.Sigmoid ? "sigmoid scores but no Sigmoid" : "probabilities but no Softmax")} node produces it, " +
                "so there are no logits to differentiate; choose the logits output (--output), or a forward-only method (leg, leg-tv, occlusion, lime, kernelshap).");
        var model = _prepared.Clone();
        string exportOutput = _scoreTensor;
        var declared = model.Graph.Output.FirstOrDefault(o => o.Name == _scoreTensor);
        if (declared?.Type?.TensorType?.Shape?.Dim.Count != 2)
        {
            // Flatten(axis 1) turns [N, C, 1, 1] (or an inner tensor of unknown rank) into the [N, C] the exporter differentiates.
            var taken = model.Graph.Node.SelectMany(n => n.Output).Concat(model.Graph.Input.Select(i => i.Name)).Concat(model.Graph.Initializer.Select(i => i.Name)).ToHashSet();
            exportOutput = "saliency_scores";
            for (int i = 1; taken.Contains(exportOutput); i++) exportOutput = $"saliency_scores_{i}";
            model.Graph.Node.Add(new NodeProto
            {
                OpType = "Flatten", Name = exportOutput, Input = { _scoreTensor }, Output = { exportOutput },
                Attribute = { OnnxAttributes.Int("axis", 1) },
            });
            model.Graph.Output.Add(new ValueInfoProto
            {
                Name = exportOutput,
                Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } },
            });
        }
        var names = (_options.ExportNames ?? new JacobianExportOptions()) with { InputName = _inputName, OutputName = exportOutput, InputShape = null };
        if (_options.ExportNames is null)
        {
            // Default names that the model already uses (a tensor called "logits" feeding a Softmax) get a fresh variant.
            var used = model.Graph.Node.SelectMany(n => n.Output.Append(n.Name)).Concat(model.Graph.Input.Select(i => i.Name))
                .Concat(model.Graph.Initializer.Select(i => i.Name)).ToHashSet(StringComparer.Ordinal);
            string Free(string name)
            {
                if (name == exportOutput || !used.Contains(name)) { used.Add(name); return name; }
                string fresh = "saliency_" + name;
                for (int i = 1; used.Contains(fresh); i++) fresh = $"saliency_{name}_{i}";
                used.Add(fresh);
                return fresh;
            }
            names = names with
            {
                LogitsName = Free(names.LogitsName), ProbabilitiesName = Free(names.ProbabilitiesName),
                CotangentsName = Free(names.CotangentsName), VjpName = Free(names.VjpName),
            };
        }
        ModelProto augmented;
        byte[] augmentedBytes;
        if (_options.Cache is { } cache)
        {
            (augmented, augmentedBytes) = cache.GetOrExport(model.ToByteArray(), model, names);
        }
        else
        {
            try
            {
                augmented = JacobianExporter.Export(model, names);
            }
            catch (JacobianExportException e) when (e.OpType is null && UnsupportedNode(model) is { } node)
            {
                // Shape inference stops at an operator it does not know, before the exporter reaches its operator check:
                // name the operator, so the message says what to change.
                long opset = model.OpsetImport.FirstOrDefault(o => o.Domain is "" or "ai.onnx")?.Version ?? 0;
                throw new JacobianExportException(
                    $"{e.Message} The graph has operators without a backward rule, first '{node.OpType}' at node '{node.Name}' (opset {opset}).", node.OpType, node.Name);
            }
            augmentedBytes = augmented.ToByteArray();
        }
        var cotangents = augmented.Graph.Input.First(i => i.Name == names.CotangentsName);
        long classes = cotangents.Type.TensorType.Shape.Dim[1].DimValue;
        if (classes != ClassCount)
            throw new JacobianExportException($"The exported Jacobian model has {classes} classes where the forward model gives {ClassCount}.");
        return new JacobianSession(InferenceSession.Create(augmentedBytes, _options.Session), names, model, JacobianExporter.IsPiecewiseLinear(augmented));
    }

    /// <summary>
    /// C, the number of scores per image, from the output's declared shape when it is fixed, else from one forward run of
    /// a blank image. [N, C], [N, C, 1, 1], [N, 1, C] are C scores; a map with several non-unit axes is not.
    /// </summary>
    private int CountScores(ValueInfoProto output)
    {
        var dims = output.Type?.TensorType?.Shape?.Dim;
        long[] shape;
        if (dims is { Count: >= 1 } && dims.Skip(1).All(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue) && _transform == ScoreTransform.None
            && _scoreTensor == output.Name)
        {
            shape = dims.Select(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue ? d.DimValue : 1).ToArray();
        }
        else
        {
            var blank = new float[InputSize];
            shape = _forward.Run([new FloatTensor(_inputName, blank, [1, .. _imageShape])], [_scoreTensor])[0].Shape;
        }
        string text = $"[{ShapeText(shape)}]";
        if (shape.Length < 2)
            throw new ClassifierModelException($"The output '{OutputName}' has shape {text}; a classifier output needs a batch axis and a class axis ([N, C]).");
        var perImage = shape.Skip(1).ToArray();
        if (perImage.Any(d => d == 0))
            throw new ClassifierModelException($"The output '{OutputName}' has shape {text}: zero classes.");
        if (perImage.Count(d => d != 1) > 1)
            throw new ClassifierModelException(
                $"The output '{OutputName}' has shape {text}: a map, not one score per class; a classifier output is [N, C] or [N, C, 1, 1]. Choose another output with --output.");
        long count = perImage.Aggregate(1L, (a, b) => a * b);
        if (count > int.MaxValue / 4)
            throw new ClassifierModelException($"The output '{OutputName}' has {count} classes; at most {int.MaxValue / 4} are supported.");
        return (int)count;
    }

    /// <summary>The image input, its shape without batch (resolved against <see cref="OnnxClassifierOptions.InputShape"/>), and whether its batch is symbolic.</summary>
    private static (ValueInfoProto Input, long[] Shape, bool Batched) FindImageInput(GraphProto graph, OnnxClassifierOptions options)
    {
        var initializers = graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var candidates = graph.Input.Where(i => !initializers.Contains(i.Name)).ToList();
        ValueInfoProto input;
        if (options.InputName is { } wanted)
            input = candidates.FirstOrDefault(i => i.Name == wanted)
                ?? throw new ClassifierModelException($"The model has no input named '{wanted}'; its inputs: {string.Join(", ", candidates.Select(c => $"'{c.Name}'"))}.");
        else if (candidates.Count != 1)
            throw new ClassifierModelException(
                $"The model has {candidates.Count} inputs ({string.Join(", ", candidates.Select(c => $"'{c.Name}'"))}); an image classifier has one image input.");
        else
            input = candidates[0];
        var tensor = input.Type?.TensorType;
        if (tensor is null || tensor.ElemType != (int)TensorProto.Types.DataType.Float)
            throw new ClassifierModelException($"The input '{input.Name}' is not a float tensor (element type {TypeName(tensor?.ElemType ?? 0)}).");
        int rank = tensor.Shape?.Dim.Count ?? 0;
        if (rank < 2) throw new ClassifierModelException($"The input '{input.Name}' must have a batch axis and at least one more axis; it has rank {rank}.");
        var batch = tensor.Shape!.Dim[0];
        bool batched = batch.ValueCase != TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue;
        if (!batched && batch.DimValue != 1)
            throw new ClassifierModelException($"The input '{input.Name}' has a fixed batch of {batch.DimValue}; batch 1 or a symbolic batch is needed.");
        if (options.InputShape is { } given && given.Count != rank - 1)
            throw new ClassifierModelException($"The input shape must list {rank - 1} dimensions (the input '{input.Name}' without batch), got {given.Count}.");
        var shape = new long[rank - 1];
        for (int i = 1; i < rank; i++)
        {
            var d = tensor.Shape.Dim[i];
            bool fixedSize = d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue && d.DimValue > 0;
            long? over = options.InputShape?[i - 1];
            if (over is <= 0) throw new ClassifierModelException($"The input shape must be positive, got {over} for dimension {i}.");
            if (fixedSize && over is { } o && o != d.DimValue)
                throw new ClassifierModelException($"Dimension {i} of the input '{input.Name}' is fixed at {d.DimValue}; the given input shape says {o}.");
            shape[i - 1] = fixedSize ? d.DimValue
                : over ?? throw new ClassifierModelException(
                    $"Dimension {i} of the input '{input.Name}' ({(d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam ? $"'{d.DimParam}'" : "unknown")}) has no fixed size; give the image shape without batch (CLI: --input-shape, e.g. {string.Join(",", Enumerable.Range(1, rank - 1).Select(k => k == 1 && rank == 4 ? "3" : "224"))}).");
        }
        // Checked against the limit before anything is allocated: declared sizes near 2^63 overflow, 100000×100000 exhausts memory.
        long values = 1;
        foreach (long d in shape)
        {
            if (d > options.MaxInputValues || (values = values * d) > options.MaxInputValues)
                throw new ClassifierModelException(
                    $"The input '{input.Name}' [{string.Join(", ", shape)}] has more than {options.MaxInputValues} values per image, the limit.");
        }
        return (input, shape, batched);
    }

    private static ValueInfoProto FindOutput(GraphProto graph, string? wanted)
    {
        if (graph.Output.Count == 0) throw new ClassifierModelException("The model has no outputs.");
        var output = wanted is null ? graph.Output[0]
            : graph.Output.FirstOrDefault(o => o.Name == wanted)
              ?? throw new ClassifierModelException($"The model has no output named '{wanted}'; its outputs: {string.Join(", ", graph.Output.Select(o => $"'{o.Name}'"))}.");
        int type = output.Type?.TensorType?.ElemType ?? 0;
        if (type != (int)TensorProto.Types.DataType.Float && type != 0)
            throw new ClassifierModelException($"The output '{output.Name}' is not a float tensor (element type {TypeName(type)}); choose the scores with --output.");
        return output;
    }

    /// <summary>
    /// The output's kind and the tensor that holds the logits: the input of the final Softmax, LogSoftmax or Sigmoid when
    /// one produces the output, else the output (transformed by log or logit for probability outputs, forward only).
    /// </summary>
    private static (OutputKind Kind, string ScoreTensor, ScoreTransform Transform) ResolveKind(GraphProto graph, ValueInfoProto output, OutputKind given)
    {
        var producer = graph.Node.FirstOrDefault(n => n.Output.Contains(output.Name) && n.Domain is "" or "ai.onnx");
        string? op = producer?.OpType;
        // A softmax over the class axis only: axis 1, or the last axis of an [N, C] output (opset < 13 flattens from the
        // axis, which over [N, C, 1, 1] from axis 1 is the same C values).
        bool classAxis = producer is not null && op is "Softmax" or "LogSoftmax"
            && OnnxAttributes.GetInt(producer!, "axis", -1) is var axis
            && (axis == 1 || (axis == -1 && (output.Type?.TensorType?.Shape?.Dim.Count ?? 2) == 2));
        var kind = given != OutputKind.Auto ? given
            : op switch
            {
                "Softmax" when classAxis => OutputKind.Probabilities,
                "LogSoftmax" when classAxis => OutputKind.LogProbabilities,
                "Sigmoid" => OutputKind.Sigmoid,
                _ => OutputKind.Logits,
            };
        return kind switch
        {
            OutputKind.Probabilities when op == "Softmax" && classAxis => (kind, producer!.Input[0], ScoreTransform.None),
            OutputKind.Probabilities => (kind, output.Name, ScoreTransform.LogOfProbabilities),
            OutputKind.LogProbabilities when op == "LogSoftmax" && classAxis => (kind, producer!.Input[0], ScoreTransform.None),
            OutputKind.Sigmoid when op == "Sigmoid" => (kind, producer!.Input[0], ScoreTransform.None),
            OutputKind.Sigmoid => (kind, output.Name, ScoreTransform.LogitOfSigmoid),
            _ => (kind, output.Name, ScoreTransform.None),
        };
    }

    /// <summary>
    /// Makes an NHWC model take NCHW: the input keeps its name with shape [N, C, H, W] and feeds a Transpose
    /// (perm [0, 2, 3, 1]) whose output replaces it everywhere, so forward runs, the exporter and the maps all see NCHW.
    /// </summary>
    private static void WrapNhwc(GraphProto graph, ValueInfoProto input, long[] nchw)
    {
        var taken = graph.Node.SelectMany(n => n.Output).Concat(graph.Initializer.Select(t => t.Name)).Concat(graph.Input.Select(i => i.Name)).ToHashSet();
        string inner = input.Name + "_nhwc";
        for (int i = 1; taken.Contains(inner); i++) inner = $"{input.Name}_nhwc_{i}";
        foreach (var node in graph.Node)
            for (int i = 0; i < node.Input.Count; i++)
                if (node.Input[i] == input.Name) node.Input[i] = inner;
        graph.Node.Insert(0, new NodeProto
        {
            OpType = "Transpose", Name = inner, Input = { input.Name }, Output = { inner },
            Attribute = { OnnxAttributes.Ints("perm", 0, 2, 3, 1) },
        });
        var dims = input.Type.TensorType.Shape.Dim;
        var batch = dims[0];
        dims.Clear();
        dims.Add(batch);
        foreach (long d in nchw) dims.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
    }

    /// <summary>The first default-domain node whose operator has no backward rule (shape-arithmetic operators aside), if any: a hint, not proof that it lies on the path to the logits.</summary>
    private static NodeProto? UnsupportedNode(ModelProto model) =>
        model.Graph.Node.FirstOrDefault(n => n.Domain is "" or "ai.onnx" && !JacobianExporter.SupportedOperators.Contains(n.OpType)
            && n.OpType is not ("Shape" or "Size" or "Constant" or "ConstantOfShape" or "Gather" or "Unsqueeze" or "Squeeze" or "Concat" or "Cast" or "Slice"));

    private static string TypeName(int type) => OnnxElementTypes.IsDefined(type) ? ((OnnxElementType)type).ToString() : type.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static string ShapeText(long[] shape) => string.Join(", ", shape);

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
    private sealed class CancellableView(OnnxClassifier owner, CancellationToken token) : IClassifier, ILayerGradientSource
    {
        public IReadOnlyList<long> InputShape => owner.InputShape;
        public int InputSize => owner.InputSize;
        public int ClassCount => owner.ClassCount;
        public bool? IsPiecewiseLinear => owner.IsPiecewiseLinear;

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

        public ClassScores JacobianInto(ReadOnlySpan<float> image, Memory<float> destination, int chunkClasses = IClassifier.DefaultJacobianChunk)
        {
            token.ThrowIfCancellationRequested();
            return owner.JacobianInto(image, destination, chunkClasses, token);
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

        public LayerGradient LayerGradient(ReadOnlySpan<float> image, ReadOnlySpan<float> cotangents, string? layer = null)
        {
            token.ThrowIfCancellationRequested();
            return owner.LayerGradient(image, cotangents, layer, token);
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
        if (_jacobian.IsValueCreated) _jacobian.Value.Session.Dispose();
        foreach (var tap in _tapSessions.Values)
            if (tap.IsValueCreated) tap.Value.Session.Dispose();
    }
}
