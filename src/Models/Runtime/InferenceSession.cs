using Saliency.Models.Onnx;
using Ort = Microsoft.ML.OnnxRuntime;

namespace Saliency.Models.Runtime;

/// <summary>
/// An ONNX model loaded into ONNX Runtime: our façade over the official binding (NuGet Microsoft.ML.OnnxRuntime),
/// which adds what the project relies on — validation before any native call, typed errors, zero-copy float tensors,
/// non-finite diagnostics, cancellation and reference-counted disposal.
/// </summary>
/// <remarks>
/// <para><b>Threads.</b> <see cref="Run"/> and <see cref="RunInto"/> may be called from many threads at once: ONNX
/// Runtime's <c>Run</c> is thread-safe and every per-call object (tensor values, pinned buffers, run options) is local
/// to the call. <see cref="Dispose"/> during a call is safe too: the native session is released when the last running
/// call returns, and calls that start after <see cref="Dispose"/> throw <see cref="ObjectDisposedException"/>.</para>
/// <para><b>Memory.</b> Inputs are never copied: each array is pinned and wrapped as an <c>OrtValue</c> for the
/// duration of the call (<c>OrtValue.CreateTensorValueFromMemory</c>). <see cref="RunInto"/> does the same for the
/// outputs, so ONNX Runtime writes straight into the caller's arrays.</para>
/// <para><b>Validation.</b> Names, element types, ranks, fixed dimensions and data lengths are checked before any
/// native call (<see cref="TensorNameException"/>, <see cref="TensorElementTypeException"/>,
/// <see cref="TensorShapeException"/>); what ONNX Runtime itself rejects becomes an <see cref="OrtException"/> carrying
/// its code and message, with the binding's <c>OnnxRuntimeException</c> as inner exception.</para>
/// <para><b>Ownership.</b> Sessions made by <c>Create</c> are owned and released by <see cref="Dispose"/>. A session
/// passed to <see cref="Wrap"/> stays the host's unless <c>takeOwnership</c> is true; a host's
/// <c>Microsoft.ML.OnnxRuntime.SessionOptions</c> passed to <c>Create</c> is never disposed here.</para>
/// </remarks>
internal sealed class InferenceSession : IDisposable
{
    private readonly Ort.InferenceSession _session;
    private bool _profiling; // InferenceSessionOptions.ProfilePathPrefix: the trace is written by EndProfiling
    private readonly bool _ownsSession;
    // Shared by every run whose token cannot be cancelled: Run only reads its options (const OrtRunOptions* in the C API).
    private readonly Ort.RunOptions _sharedRunOptions = new();
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;
    private readonly Dictionary<string, int> _inputIndex;
    private readonly Dictionary<string, int> _outputIndex;
    // 2 × (runs in progress), plus 1 once Dispose was called; the native objects go when it drops to exactly 1.
    private int _state;

    private InferenceSession(Ort.InferenceSession session, bool ownsSession)
    {
        _session = session;
        _ownsSession = ownsSession;
        Inputs = ReadMetadata(session.InputNames, session.InputMetadata);
        Outputs = ReadMetadata(session.OutputNames, session.OutputMetadata);
        _inputNames = Inputs.Select(t => t.Name).ToArray();
        _outputNames = Outputs.Select(t => t.Name).ToArray();
        _inputIndex = IndexByName(Inputs);
        _outputIndex = IndexByName(Outputs);
    }

    /// <summary>The model's inputs (graph inputs that are not initializers), in graph order.</summary>
    public IReadOnlyList<TensorMetadata> Inputs { get; }

    /// <summary>The model's outputs, in graph order.</summary>
    public IReadOnlyList<TensorMetadata> Outputs { get; }

    /// <summary>The official session underneath, for what this façade does not cover (profiling, model metadata).</summary>
    /// <remarks>Owned by this object unless it was passed to <see cref="Wrap"/> without ownership; do not dispose it.</remarks>
    public Ort.InferenceSession OrtSession => _session;

    /// <summary>Version of the ONNX Runtime library in use, e.g. "1.31.1".</summary>
    /// <exception cref="OnnxRuntimeNotFoundException">The native library cannot be loaded.</exception>
    public static string RuntimeVersion => OrtRuntimeInfo.Version;

    /// <summary>
    /// Where the ONNX Runtime library in use was loaded from (the NuGet runtime asset
    /// <c>runtimes/linux-x64/native/libonnxruntime.so</c>, copied next to the app by the build).
    /// </summary>
    public static string RuntimeLibraryPath => OrtRuntimeInfo.LibraryPath;

    /// <summary>Execution providers compiled into the ONNX Runtime library in use (e.g. CPUExecutionProvider, CUDAExecutionProvider).</summary>
    public static IReadOnlyList<string> AvailableProviders => OrtRuntimeInfo.Providers;

    /// <summary>Loads a model from an ONNX file.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="OrtException">ONNX Runtime rejected the model (e.g. <see cref="OrtErrorCode.InvalidProtobuf"/>, <see cref="OrtErrorCode.InvalidGraph"/>).</exception>
    /// <exception cref="CudaProviderUnavailableException">CUDA was requested and cannot be used.</exception>
    /// <exception cref="OnnxRuntimeNotFoundException">The native library cannot be loaded.</exception>
    public static InferenceSession Create(string path, InferenceSessionOptions? options = null)
    {
        string fullPath = CheckedModelPath(path);
        return CreateOwned(options, sessionOptions => new Ort.InferenceSession(fullPath, sessionOptions));
    }

    /// <summary>Loads a model from the bytes of an ONNX file.</summary>
    /// <exception cref="ArgumentException">The array is empty.</exception>
    /// <exception cref="OrtException">ONNX Runtime rejected the model.</exception>
    /// <exception cref="CudaProviderUnavailableException">CUDA was requested and cannot be used.</exception>
    /// <exception cref="OnnxRuntimeNotFoundException">The native library cannot be loaded.</exception>
    public static InferenceSession Create(byte[] model, InferenceSessionOptions? options = null)
    {
        CheckModelBytes(model);
        return CreateOwned(options, sessionOptions => new Ort.InferenceSession(model, sessionOptions));
    }

    /// <summary>
    /// Loads a model from an ONNX file with the host's own session options (execution providers, threading, custom
    /// ops — used as they are, none of <see cref="InferenceSessionOptions"/> applies).
    /// </summary>
    /// <param name="path">The ONNX file.</param>
    /// <param name="sessionOptions">Stays the caller's: not disposed here. ONNX Runtime copies it into the session,
    /// so it may be disposed once this returns (unless it registered custom-op libraries, which must outlive the session).</param>
    public static InferenceSession Create(string path, Ort.SessionOptions sessionOptions)
    {
        ArgumentNullException.ThrowIfNull(sessionOptions);
        string fullPath = CheckedModelPath(path);
        return FromHostOptions(() => new Ort.InferenceSession(fullPath, sessionOptions));
    }

    /// <summary>Loads a model from bytes with the host's own session options (see <see cref="Create(string, Ort.SessionOptions)"/>).</summary>
    public static InferenceSession Create(byte[] model, Ort.SessionOptions sessionOptions)
    {
        ArgumentNullException.ThrowIfNull(sessionOptions);
        CheckModelBytes(model);
        return FromHostOptions(() => new Ort.InferenceSession(model, sessionOptions));
    }

    /// <summary>
    /// Wraps a session the host created with the official binding, adding this façade's validation, typed errors,
    /// diagnostics and cancellation.
    /// </summary>
    /// <param name="session">The host's session.</param>
    /// <param name="takeOwnership">False (default): the host keeps the session, must keep it alive while this wrapper
    /// is used and disposes it itself; <see cref="Dispose"/> leaves it alone. True: <see cref="Dispose"/> disposes it
    /// (after the last running call).</param>
    public static InferenceSession Wrap(Ort.InferenceSession session, bool takeOwnership = false)
    {
        ArgumentNullException.ThrowIfNull(session);
        return new InferenceSession(session, takeOwnership);
    }

    private static string CheckedModelPath(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string fullPath = Path.GetFullPath(path);
        if (!File.Exists(fullPath))
            throw new FileNotFoundException($"ONNX model file not found: '{fullPath}'.", fullPath);
        return fullPath;
    }

    private static void CheckModelBytes(byte[] model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Length == 0) throw new ArgumentException("The ONNX model is empty (0 bytes).", nameof(model));
    }

    private static InferenceSession CreateOwned(InferenceSessionOptions? options, Func<Ort.SessionOptions, Ort.InferenceSession> create)
    {
        options ??= new InferenceSessionOptions();
        options.Validate();
        OrtRuntimeInfo.EnsureLoaded();
        using var sessionOptions = BuildSessionOptions(options);
        var session = FromHostOptions(() => create(sessionOptions));
        session._profiling = options.ProfilePathPrefix is not null;
        return session;
    }

    private static InferenceSession FromHostOptions(Func<Ort.InferenceSession> create)
    {
        OrtRuntimeInfo.EnsureLoaded();
        Ort.InferenceSession session;
        try
        {
            session = create();
        }
        catch (Ort.OnnxRuntimeException e)
        {
            throw OrtException.From(e);
        }
        try
        {
            return new InferenceSession(session, ownsSession: true);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>Our options → the binding's. Thread settings per <see cref="InferenceSessionOptions"/>'s remarks.</summary>
    private static Ort.SessionOptions BuildSessionOptions(InferenceSessionOptions options)
    {
        var sessionOptions = new Ort.SessionOptions();
        try
        {
            // Fatal only: every error reaches the caller as an exception with ONNX Runtime's message, so its own log lines
            // (warnings about unused initializers, "Non-zero status code returned while running ...") would only repeat
            // them on the host's stderr.
            sessionOptions.LogSeverityLevel = Ort.OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL;
            sessionOptions.IntraOpNumThreads = options.IntraOpThreads;
            sessionOptions.InterOpNumThreads = options.InterOpThreads;
            string spin = options.AllowSpinning ? "1" : "0";
            sessionOptions.AddSessionConfigEntry("session.intra_op.allow_spinning", spin);
            sessionOptions.AddSessionConfigEntry("session.inter_op.allow_spinning", spin);
            // Same numbers as the C API's GraphOptimizationLevel.
            sessionOptions.GraphOptimizationLevel = (Ort.GraphOptimizationLevel)(int)options.GraphOptimizationLevel;
            if (options.ExecutionProvider == ExecutionProvider.Cuda) AppendCuda(sessionOptions, options.CudaDeviceId);
            if (options.ProfilePathPrefix is { } prefix)
            {
                sessionOptions.ProfileOutputPathPrefix = prefix; // read when profiling is switched on
                sessionOptions.EnableProfiling = true;
            }
            return sessionOptions;
        }
        catch (Ort.OnnxRuntimeException e)
        {
            sessionOptions.Dispose();
            throw OrtException.From(e);
        }
        catch
        {
            sessionOptions.Dispose();
            throw;
        }
    }

    private static void AppendCuda(Ort.SessionOptions sessionOptions, int deviceId)
    {
        CudaProviderProbe.ThrowIfUnavailable(OrtRuntimeInfo.Providers, deviceId);
        try
        {
            sessionOptions.AppendExecutionProvider_CUDA(deviceId);
        }
        catch (Ort.OnnxRuntimeException e)
        {
            throw CudaProviderProbe.Refused(deviceId, OrtException.From(e));
        }
    }

    /// <summary>
    /// Runs the model. Every model input must be given exactly once; outputs default to all of the model's
    /// outputs, in graph order. Any batch size is accepted where the model's dimension is dynamic.
    /// </summary>
    /// <param name="inputs">The inputs (pinned and used in place, not copied).</param>
    /// <param name="outputNames">Outputs to compute, or null for all.</param>
    /// <param name="cancellationToken">Cancels the run: ONNX Runtime stops between operators (<c>RunOptions.Terminate</c>).</param>
    /// <returns>The outputs in the requested order, with counts of non-finite input/output values.</returns>
    /// <exception cref="TensorNameException">Unknown, duplicate or missing input; unknown or duplicate output.</exception>
    /// <exception cref="TensorElementTypeException">A requested input or output is not a float tensor.</exception>
    /// <exception cref="TensorShapeException">Wrong rank, fixed dimension mismatch, negative dimension, or data length ≠ shape product.</exception>
    /// <exception cref="OrtException">ONNX Runtime failed while running.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled before or during the run.</exception>
    public InferenceResult Run(IReadOnlyList<FloatTensor> inputs, IReadOnlyList<string>? outputNames = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ThrowIfDisposed();
        int[] inputOrder = ValidateInputs(inputs);
        int[] outputOrder = SelectOutputs(outputNames);
        var nonFiniteInputs = CountNonFinite(inputs);

        var results = new FloatTensor[outputOrder.Length];
        RunCore(inputs, inputOrder, outputOrder, preallocated: null, results, cancellationToken);
        return new InferenceResult(results, new InferenceDiagnostics(nonFiniteInputs, CountNonFinite(results)));
    }

    /// <summary>
    /// Runs the model writing the outputs straight into caller-provided buffers (zero copy both ways). Each
    /// output tensor names a model output, and its <see cref="FloatTensor.Shape"/> must be exactly the shape
    /// the model produces for these inputs (ONNX Runtime checks the dynamic dimensions).
    /// </summary>
    /// <param name="inputs">The inputs (pinned and used in place).</param>
    /// <param name="outputs">Destination tensors; their <see cref="FloatTensor.Data"/> arrays are overwritten.</param>
    /// <param name="cancellationToken">Cancels the run (see <see cref="Run"/>); the outputs are then partly written.</param>
    /// <returns>Counts of non-finite input and output values.</returns>
    /// <exception cref="TensorNameException">Unknown/duplicate/missing names.</exception>
    /// <exception cref="TensorElementTypeException">A tensor is not float in the model.</exception>
    /// <exception cref="TensorShapeException">A shape or a buffer length does not fit.</exception>
    /// <exception cref="OrtException">ONNX Runtime failed, e.g. an output shape differs in a dynamic dimension.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled before or during the run.</exception>
    public InferenceDiagnostics RunInto(IReadOnlyList<FloatTensor> inputs, IReadOnlyList<FloatTensor> outputs,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(outputs);
        ThrowIfDisposed();
        int[] inputOrder = ValidateInputs(inputs);
        int[] outputOrder = SelectOutputs(outputs.Select(o => o?.Name ?? throw new ArgumentNullException(nameof(outputs), "An output tensor is null.")).ToList());
        for (int i = 0; i < outputs.Count; i++)
            ValidateTensor(outputs[i], Outputs[outputOrder[i]], "output");
        var nonFiniteInputs = CountNonFinite(inputs);

        RunCore(inputs, inputOrder, outputOrder, outputs.Select(o => (o.Data.AsMemory(), o.Shape)).ToList(), results: null, cancellationToken);
        return new InferenceDiagnostics(nonFiniteInputs, CountNonFinite(outputs));
    }

    /// <summary>
    /// As <see cref="RunInto(IReadOnlyList{FloatTensor}, IReadOnlyList{FloatTensor}, CancellationToken)"/>, into slices of
    /// larger caller buffers: each destination is (output name, memory of exactly the shape's element count, shape). This
    /// lets a run write its rows straight into place inside one big array (the class-chunked Jacobian writes each chunk's
    /// rows into the rows of W they belong to); the memory is pinned for the call.
    /// </summary>
    /// <exception cref="TensorNameException">Unknown/duplicate/missing names.</exception>
    /// <exception cref="TensorElementTypeException">A tensor is not float in the model.</exception>
    /// <exception cref="TensorShapeException">A shape or a memory length does not fit.</exception>
    /// <exception cref="OrtException">ONNX Runtime failed.</exception>
    /// <exception cref="OperationCanceledException">The token was cancelled before or during the run.</exception>
    public InferenceDiagnostics RunInto(IReadOnlyList<FloatTensor> inputs, IReadOnlyList<(string Name, Memory<float> Data, long[] Shape)> outputs,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(outputs);
        ThrowIfDisposed();
        int[] inputOrder = ValidateInputs(inputs);
        int[] outputOrder = SelectOutputs(outputs.Select(o => o.Name ?? throw new ArgumentNullException(nameof(outputs), "An output name is null.")).ToList());
        for (int i = 0; i < outputs.Count; i++)
            ValidateShape(outputs[i].Shape, outputs[i].Data.Length, Outputs[outputOrder[i]], "output");
        var nonFiniteInputs = CountNonFinite(inputs);

        RunCore(inputs, inputOrder, outputOrder, outputs.Select(o => (o.Data, o.Shape)).ToList(), results: null, cancellationToken);
        var nonFiniteOutputs = new Dictionary<string, int>(outputs.Count);
        foreach (var (name, data, _) in outputs) nonFiniteOutputs[name] = FloatTensor.CountNonFinite(data.Span);
        return new InferenceDiagnostics(nonFiniteInputs, nonFiniteOutputs);
    }

    /// <summary>
    /// Wraps the (validated) buffers as OrtValues over the pinned arrays, runs, and reads the outputs into
    /// <paramref name="results"/> unless ONNX Runtime wrote them into <paramref name="preallocated"/>.
    /// </summary>
    private void RunCore(IReadOnlyList<FloatTensor> inputs, int[] inputOrder, int[] outputOrder,
        IReadOnlyList<(Memory<float> Data, long[] Shape)>? preallocated, FloatTensor[]? results, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        AcquireRun();
        var inputValues = new Ort.OrtValue[inputs.Count];
        var outputValues = preallocated is null ? null : new Ort.OrtValue[preallocated.Count];
        Ort.RunOptions runOptions = _sharedRunOptions;
        CancellationTokenRegistration registration = default;
        try
        {
            var inputNames = new string[inputs.Count];
            for (int i = 0; i < inputs.Count; i++)
            {
                inputNames[i] = _inputNames[inputOrder[i]];
                inputValues[i] = Ort.OrtValue.CreateTensorValueFromMemory(inputs[i].Data, inputs[i].Shape);
            }
            var outputNames = new string[outputOrder.Length];
            for (int i = 0; i < outputOrder.Length; i++)
            {
                outputNames[i] = _outputNames[outputOrder[i]];
                if (outputValues is not null)
                    outputValues[i] = Ort.OrtValue.CreateTensorValueFromMemory(Ort.OrtMemoryInfo.DefaultInstance, preallocated![i].Data, preallocated[i].Shape);
            }
            if (cancellationToken.CanBeCanceled)
            {
                // Own options per cancellable run: Terminate stops this run only. The callback may fire at any time,
                // also before Run starts (then Run returns at once with an error); the registration is disposed —
                // which waits for a running callback — before the options are.
                runOptions = new Ort.RunOptions();
                registration = cancellationToken.UnsafeRegister(static o => ((Ort.RunOptions)o!).Terminate = true, runOptions);
            }

            if (outputValues is not null)
            {
                _session.Run(runOptions, inputNames, inputValues, outputNames, outputValues);
            }
            else
            {
                using var produced = _session.Run(runOptions, inputNames, inputValues, outputNames);
                int k = 0;
                foreach (var value in produced)
                {
                    results![k] = ReadFloatTensor(outputNames[k], value);
                    k++;
                }
            }
        }
        catch (Ort.OnnxRuntimeException e) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException("The ONNX Runtime run was cancelled (RunOptions.Terminate).", e, cancellationToken);
        }
        catch (Ort.OnnxRuntimeException e)
        {
            throw OrtException.From(e);
        }
        finally
        {
            registration.Dispose();
            if (!ReferenceEquals(runOptions, _sharedRunOptions)) runOptions.Dispose();
            DisposeAll(inputValues);
            DisposeAll(outputValues);
            ReleaseRun();
        }
    }

    private static void DisposeAll(Ort.OrtValue[]? values)
    {
        if (values is null) return;
        foreach (var v in values) v?.Dispose();
    }

    private static FloatTensor ReadFloatTensor(string name, Ort.OrtValue value)
    {
        if (value.OnnxType != Ort.OnnxValueType.ONNX_TYPE_TENSOR)
            throw new TensorElementTypeException(name, OnnxElementType.Float, OnnxElementType.Undefined,
                $"Output '{name}' is a {value.OnnxType}, not a tensor; this binding reads Float tensors only.");
        var info = value.GetTensorTypeAndShape();
        var elementType = (OnnxElementType)(int)info.ElementDataType;
        if (elementType != OnnxElementType.Float)
            throw new TensorElementTypeException(name, OnnxElementType.Float, elementType,
                $"Output '{name}' is {elementType}, but this binding reads Float outputs only.");
        long[] shape = info.Shape;
        long count = FloatTensor.CheckedElementCount(shape);
        if (count > Array.MaxLength)
            throw new OrtException(OrtErrorCode.Fail, "output too large", $"Output '{name}' has {count} elements, more than a .NET array can hold.");
        var data = new float[count];
        if (count > 0) value.GetTensorDataAsSpan<float>().CopyTo(data);
        return new FloatTensor(name, data, shape);
    }

    private int[] ValidateInputs(IReadOnlyList<FloatTensor> inputs)
    {
        var order = new int[inputs.Count];
        var seen = new bool[Inputs.Count];
        for (int i = 0; i < inputs.Count; i++)
        {
            var tensor = inputs[i] ?? throw new ArgumentNullException(nameof(inputs), $"Input tensor #{i} is null.");
            if (tensor.Name is null || !_inputIndex.TryGetValue(tensor.Name, out int index))
                throw new TensorNameException(tensor.Name ?? "(null)",
                    $"The model has no input named '{tensor.Name}'. Its inputs are: {Describe(Inputs)}.");
            if (seen[index])
                throw new TensorNameException(tensor.Name, $"Input '{tensor.Name}' is given more than once.");
            seen[index] = true;
            ValidateTensor(tensor, Inputs[index], "input");
            order[i] = index;
        }
        for (int k = 0; k < seen.Length; k++)
            if (!seen[k])
                throw new TensorNameException(Inputs[k].Name,
                    $"Input '{Inputs[k].Name}' ({Inputs[k]}) is missing. The model needs: {Describe(Inputs)}.");
        return order;
    }

    private static void ValidateTensor(FloatTensor tensor, TensorMetadata expected, string kind)
    {
        if (expected.ElementType == OnnxElementType.Float && tensor.Data is null)
            throw new ArgumentNullException(nameof(tensor), $"The data of {kind} '{expected.Name}' is null.");
        ValidateShape(tensor.Shape, tensor.Data?.Length ?? 0, expected, kind);
    }

    /// <summary>Element type, rank, fixed dimensions and the data length against the model's declared shape.</summary>
    private static void ValidateShape(long[]? shape, long dataLength, TensorMetadata expected, string kind)
    {
        string name = expected.Name;
        if (expected.ElementType != OnnxElementType.Float)
            throw new TensorElementTypeException(name, expected.ElementType, OnnxElementType.Float,
                $"The model's {kind} '{name}' has element type {expected.ElementType}, but a Float tensor was given " +
                "(this binding runs float tensors only).");
        if (shape is null)
            throw new ArgumentNullException(nameof(shape), $"The shape of {kind} '{name}' is null.");
        long[] actual = shape;
        if (actual.Length != expected.Shape.Length)
            throw new TensorShapeException(name, expected.Shape, actual,
                $"The {kind} '{name}' must have rank {expected.Shape.Length} (shape [{TensorMetadata.ShapeText(expected.Shape)}]), " +
                $"but the tensor given has rank {actual.Length} (shape [{string.Join(",", actual)}]).");
        for (int d = 0; d < actual.Length; d++)
        {
            if (actual[d] < 0)
                throw new TensorShapeException(name, expected.Shape, actual,
                    $"The {kind} '{name}' has a negative dimension {actual[d]} at axis {d} (shape [{string.Join(",", actual)}]).");
            if (expected.Shape[d] >= 0 && expected.Shape[d] != actual[d])
                throw new TensorShapeException(name, expected.Shape, actual,
                    $"The {kind} '{name}' expects shape [{TensorMetadata.ShapeText(expected.Shape)}], but got " +
                    $"[{string.Join(",", actual)}]: axis {d} must be {expected.Shape[d]}, not {actual[d]}.");
        }
        long count;
        try
        {
            count = FloatTensor.CheckedElementCount(actual);
        }
        catch (OverflowException)
        {
            count = -1;
        }
        if (count != dataLength)
            throw new TensorShapeException(name, expected.Shape, actual,
                $"The {kind} '{name}' has shape [{string.Join(",", actual)}] = {(count < 0 ? "too many" : count.ToString())} elements, " +
                $"but its data holds {dataLength}.");
    }

    private int[] SelectOutputs(IReadOnlyList<string>? names)
    {
        if (names is null)
        {
            var all = Enumerable.Range(0, Outputs.Count).ToArray();
            foreach (int k in all)
                if (Outputs[k].ElementType != OnnxElementType.Float)
                    throw new TensorElementTypeException(Outputs[k].Name, OnnxElementType.Float, Outputs[k].ElementType,
                        $"The model's output '{Outputs[k].Name}' is {Outputs[k].ElementType}, not Float; " +
                        "name the float outputs you want in outputNames.");
            return all;
        }
        if (names.Count == 0) throw new ArgumentException("At least one output must be requested (or pass null for all).", "outputNames");
        var order = new int[names.Count];
        var seen = new HashSet<int>();
        for (int i = 0; i < names.Count; i++)
        {
            string name = names[i];
            if (name is null || !_outputIndex.TryGetValue(name, out int index))
                throw new TensorNameException(name ?? "(null)", $"The model has no output named '{name}'. Its outputs are: {Describe(Outputs)}.");
            if (!seen.Add(index))
                throw new TensorNameException(name, $"Output '{name}' is requested more than once.");
            if (Outputs[index].ElementType != OnnxElementType.Float)
                throw new TensorElementTypeException(name, OnnxElementType.Float, Outputs[index].ElementType,
                    $"The model's output '{name}' is {Outputs[index].ElementType}; this binding reads Float outputs only.");
            order[i] = index;
        }
        return order;
    }

    private static Dictionary<string, int> CountNonFinite(IReadOnlyList<FloatTensor> tensors)
    {
        var counts = new Dictionary<string, int>(tensors.Count);
        foreach (var t in tensors) counts[t.Name] = FloatTensor.CountNonFinite(t.Data);
        return counts;
    }

    private static string Describe(IReadOnlyList<TensorMetadata> tensors) =>
        tensors.Count == 0 ? "(none)" : string.Join("; ", tensors);

    private static Dictionary<string, int> IndexByName(IReadOnlyList<TensorMetadata> tensors)
    {
        var index = new Dictionary<string, int>(tensors.Count, StringComparer.Ordinal);
        for (int i = 0; i < tensors.Count; i++) index[tensors[i].Name] = i;
        return index;
    }

    /// <summary>The binding's metadata in graph order; non-tensor values (sequences, maps) get element type Undefined.</summary>
    private static TensorMetadata[] ReadMetadata(IReadOnlyList<string> names, IReadOnlyDictionary<string, Ort.NodeMetadata> metadata)
    {
        var result = new TensorMetadata[names.Count];
        for (int i = 0; i < names.Count; i++)
        {
            var node = metadata[names[i]];
            result[i] = node.OnnxValueType == Ort.OnnxValueType.ONNX_TYPE_TENSOR
                ? new TensorMetadata(names[i], (OnnxElementType)(int)node.ElementDataType, node.Dimensions.Select(d => (long)d).ToArray())
                : new TensorMetadata(names[i], OnnxElementType.Undefined, []);
        }
        return result;
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf((Volatile.Read(ref _state) & 1) != 0, this);

    /// <summary>Counts a run in, unless the session is disposed.</summary>
    private void AcquireRun()
    {
        while (true)
        {
            int state = Volatile.Read(ref _state);
            ObjectDisposedException.ThrowIf((state & 1) != 0, this);
            if (Interlocked.CompareExchange(ref _state, state + 2, state) == state) return;
        }
    }

    /// <summary>Counts a run out; the last one out after <see cref="Dispose"/> releases the native objects.</summary>
    private void ReleaseRun()
    {
        if (Interlocked.Add(ref _state, -2) == 1) ReleaseNative();
    }

    /// <summary>
    /// Releases the native session (if owned) and run options — at once, or when the last running call returns.
    /// Idempotent.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Or(ref _state, 1) == 0) ReleaseNative();
    }

    private void ReleaseNative()
    {
        _sharedRunOptions.Dispose();
        if (_profiling) _session.EndProfiling();
        if (_ownsSession) _session.Dispose();
    }
}
