using System.Runtime.InteropServices;
using System.Text;
using Saliency.Models.Onnx;
using Saliency.Models.Runtime.Interop;

namespace Saliency.Models.Runtime;

/// <summary>
/// An ONNX model loaded into ONNX Runtime (our own binding over the C API, version 29).
/// </summary>
/// <remarks>
/// <para><b>Threads.</b> <see cref="Run(IReadOnlyList{FloatTensor}, IReadOnlyList{string}?)"/> and
/// <see cref="RunInto"/> may be called from many threads at once: ONNX Runtime's <c>Run</c> is thread-safe and
/// every per-call object (tensor values, pinned buffers) is local to the call. <see cref="Dispose"/> during a
/// call is safe too: the native session lives until the last running call returns.</para>
/// <para><b>Memory.</b> Inputs are never copied: each array is pinned and wrapped as an <c>OrtValue</c> for the
/// duration of the call (<c>CreateTensorWithDataAsOrtValue</c>). <see cref="RunInto"/> does the same for outputs.</para>
/// <para><b>Validation.</b> Names, element types, ranks, fixed dimensions and data lengths are checked before
/// any native call (<see cref="TensorNameException"/>, <see cref="TensorElementTypeException"/>,
/// <see cref="TensorShapeException"/>); what ONNX Runtime itself rejects becomes an <see cref="OrtException"/>.</para>
/// </remarks>
public sealed unsafe class InferenceSession : IDisposable
{
    private const int ElementTypeFloat = (int)OnnxElementType.Float;
    private const int OnnxTypeTensor = 1; // ONNXType.ONNX_TYPE_TENSOR

    private readonly OrtSessionHandle _session;
    private readonly OrtApi _api;
    // Unmanaged UTF-8 names (owned by _session): ONNX Runtime takes `const char* const*` name arrays in Run.
    private readonly byte** _inputNames;
    private readonly byte** _outputNames;
    private readonly Dictionary<string, int> _inputIndex;
    private readonly Dictionary<string, int> _outputIndex;

    private InferenceSession(OrtSessionHandle session, OrtApi api)
    {
        _session = session;
        _api = api;
        Inputs = ReadMetadata(isInput: true);
        Outputs = ReadMetadata(isInput: false);
        _inputIndex = IndexByName(Inputs);
        _outputIndex = IndexByName(Outputs);

        // One block: input pointers, output pointers, then the NUL-terminated strings they point to.
        var encoded = Inputs.Concat(Outputs).Select(m => Encoding.UTF8.GetBytes(m.Name + "\0")).ToArray();
        int pointerBytes = encoded.Length * sizeof(nint);
        nuint total = (nuint)(pointerBytes + encoded.Sum(e => e.Length));
        byte* block = (byte*)NativeMemory.Alloc(total);
        session.AdoptNames((nint)block);
        byte** pointers = (byte**)block;
        byte* text = block + pointerBytes;
        for (int i = 0; i < encoded.Length; i++)
        {
            pointers[i] = text;
            encoded[i].CopyTo(new Span<byte>(text, encoded[i].Length));
            text += encoded[i].Length;
        }
        _inputNames = pointers;
        _outputNames = pointers + Inputs.Count;
    }

    /// <summary>The model's inputs (graph inputs that are not initializers), in graph order.</summary>
    public IReadOnlyList<TensorMetadata> Inputs { get; }

    /// <summary>The model's outputs, in graph order.</summary>
    public IReadOnlyList<TensorMetadata> Outputs { get; }

    /// <summary>Version of the ONNX Runtime library in use, e.g. "1.29.0".</summary>
    public static string RuntimeVersion => OrtRuntime.Api.VersionString;

    /// <summary>Where the ONNX Runtime library in use was loaded from.</summary>
    public static string RuntimeLibraryPath => OrtRuntime.Api.LibraryPath;

    /// <summary>Loads a model from an ONNX file.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="OrtException">ONNX Runtime rejected the model (e.g. <see cref="OrtErrorCode.InvalidProtobuf"/>, <see cref="OrtErrorCode.InvalidGraph"/>).</exception>
    /// <exception cref="CudaProviderUnavailableException">CUDA was requested and cannot be used.</exception>
    /// <exception cref="OnnxRuntimeNotFoundException">No usable ONNX Runtime library.</exception>
    public static InferenceSession Create(string path, InferenceSessionOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string fullPath = Path.GetFullPath(path);
        if (!File.Exists(fullPath))
            throw new FileNotFoundException($"ONNX model file not found: '{fullPath}'.", fullPath);
        byte[] pathUtf8 = Encoding.UTF8.GetBytes(fullPath + "\0");
        return CreateWith(options, (api, env, sessionOptions) =>
        {
            nint session;
            fixed (byte* p = pathUtf8)
                api.Check(api.CreateSession(env, p, sessionOptions, &session));
            return session;
        });
    }

    /// <summary>Loads a model from the bytes of an ONNX file.</summary>
    /// <exception cref="ArgumentException">The array is empty.</exception>
    /// <exception cref="OrtException">ONNX Runtime rejected the model.</exception>
    /// <exception cref="CudaProviderUnavailableException">CUDA was requested and cannot be used.</exception>
    /// <exception cref="OnnxRuntimeNotFoundException">No usable ONNX Runtime library.</exception>
    public static InferenceSession Create(byte[] model, InferenceSessionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Length == 0) throw new ArgumentException("The ONNX model is empty (0 bytes).", nameof(model));
        return CreateWith(options, (api, env, sessionOptions) =>
        {
            nint session;
            fixed (byte* p = model)
                api.Check(api.CreateSessionFromArray(env, p, (nuint)model.Length, sessionOptions, &session));
            return session;
        });
    }

    /// <summary>Creates an <c>OrtSession*</c> from the environment and session options (raw pointers, valid during the call).</summary>
    private delegate nint SessionFactory(OrtApi api, nint env, nint sessionOptions);

    /// <summary>
    /// What both <c>Create</c> overloads share: the process-wide environment and the session options, each
    /// reference-held for the duration of the native call that makes the session, then the wrapping.
    /// </summary>
    private static InferenceSession CreateWith(InferenceSessionOptions? options, SessionFactory create)
    {
        var api = OrtRuntime.Api;
        // The environment first: it registers ONNX Runtime's default logger, which loading a provider needs.
        var env = OrtRuntime.Env;
        using var sessionOptions = CreateSessionOptions(api, options ?? new InferenceSessionOptions());
        nint session;
        bool envRef = false, optRef = false;
        try
        {
            env.DangerousAddRef(ref envRef);
            sessionOptions.DangerousAddRef(ref optRef);
            session = create(api, env.DangerousGetHandle(), sessionOptions.DangerousGetHandle());
        }
        finally
        {
            if (optRef) sessionOptions.DangerousRelease();
            if (envRef) env.DangerousRelease();
        }
        return Wrap(session, api);
    }

    private static InferenceSession Wrap(nint session, OrtApi api)
    {
        var handle = new OrtSessionHandle(session);
        try
        {
            return new InferenceSession(handle, api);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Runs the model. Every model input must be given exactly once; outputs default to all of the model's
    /// outputs, in graph order. Any batch size is accepted where the model's dimension is dynamic.
    /// </summary>
    /// <param name="inputs">The inputs (pinned and used in place, not copied).</param>
    /// <param name="outputNames">Outputs to compute, or null for all.</param>
    /// <returns>The outputs in the requested order, with counts of non-finite input/output values.</returns>
    /// <exception cref="TensorNameException">Unknown, duplicate or missing input; unknown or duplicate output.</exception>
    /// <exception cref="TensorElementTypeException">A requested input or output is not a float tensor.</exception>
    /// <exception cref="TensorShapeException">Wrong rank, fixed dimension mismatch, negative dimension, or data length ≠ shape product.</exception>
    /// <exception cref="OrtException">ONNX Runtime failed while running.</exception>
    public InferenceResult Run(IReadOnlyList<FloatTensor> inputs, IReadOnlyList<string>? outputNames = null)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ObjectDisposedException.ThrowIf(_session.IsClosed, this);
        int[] inputOrder = ValidateInputs(inputs);
        int[] outputOrder = SelectOutputs(outputNames);
        var nonFiniteInputs = CountNonFinite(inputs);

        var produced = new nint[outputOrder.Length];
        var results = new FloatTensor[outputOrder.Length];
        RunCore(inputs, inputOrder, outputOrder, produced, preallocated: null);
        var handles = new OrtValueHandle[produced.Length];
        for (int i = 0; i < produced.Length; i++) handles[i] = new OrtValueHandle(produced[i]);
        try
        {
            for (int i = 0; i < handles.Length; i++)
                results[i] = ReadFloatTensor(Outputs[outputOrder[i]].Name, handles[i]);
        }
        finally
        {
            foreach (var h in handles) h.Dispose();
        }
        return new InferenceResult(results, new InferenceDiagnostics(nonFiniteInputs, CountNonFinite(results)));
    }

    /// <summary>
    /// Runs the model writing the outputs straight into caller-provided buffers (zero copy both ways). Each
    /// output tensor names a model output, and its <see cref="FloatTensor.Shape"/> must be exactly the shape
    /// the model produces for these inputs (ONNX Runtime checks the dynamic dimensions).
    /// </summary>
    /// <param name="inputs">The inputs (pinned and used in place).</param>
    /// <param name="outputs">Destination tensors; their <see cref="FloatTensor.Data"/> arrays are overwritten.</param>
    /// <returns>Counts of non-finite input and output values.</returns>
    /// <exception cref="TensorNameException">Unknown/duplicate/missing names.</exception>
    /// <exception cref="TensorElementTypeException">A tensor is not float in the model.</exception>
    /// <exception cref="TensorShapeException">A shape or a buffer length does not fit.</exception>
    /// <exception cref="OrtException">ONNX Runtime failed, e.g. an output shape differs in a dynamic dimension.</exception>
    public InferenceDiagnostics RunInto(IReadOnlyList<FloatTensor> inputs, IReadOnlyList<FloatTensor> outputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(outputs);
        ObjectDisposedException.ThrowIf(_session.IsClosed, this);
        int[] inputOrder = ValidateInputs(inputs);
        int[] outputOrder = SelectOutputs(outputs.Select(o => o?.Name ?? throw new ArgumentNullException(nameof(outputs), "An output tensor is null.")).ToList());
        for (int i = 0; i < outputs.Count; i++)
            ValidateTensor(outputs[i], Outputs[outputOrder[i]], "output");
        var nonFiniteInputs = CountNonFinite(inputs);

        var produced = new nint[outputOrder.Length];
        RunCore(inputs, inputOrder, outputOrder, produced, outputs);
        // The output values only wrapped the caller's buffers; release the wrappers.
        foreach (nint v in produced)
            if (v != 0) new OrtValueHandle(v).Dispose();
        return new InferenceDiagnostics(nonFiniteInputs, CountNonFinite(outputs));
    }

    /// <summary>Pins the buffers, wraps them as OrtValues, calls OrtApi::Run and releases the input wrappers.</summary>
    private void RunCore(IReadOnlyList<FloatTensor> inputs, int[] inputOrder, int[] outputOrder, nint[] produced,
        IReadOnlyList<FloatTensor>? preallocated)
    {
        int nIn = inputs.Count, nOut = outputOrder.Length;
        var pins = new GCHandle[nIn + (preallocated?.Count ?? 0)];
        var inputValues = new nint[nIn];
        var inputNames = new nint[nIn];
        var outputNames = new nint[nOut];
        bool sessionRef = false;
        try
        {
            _session.DangerousAddRef(ref sessionRef);
            var memoryInfo = OrtRuntime.CpuMemoryInfo.DangerousGetHandle();
            for (int i = 0; i < nIn; i++)
            {
                pins[i] = GCHandle.Alloc(inputs[i].Data, GCHandleType.Pinned);
                inputValues[i] = WrapPinned(memoryInfo, pins[i], inputs[i]);
                inputNames[i] = (nint)_inputNames[inputOrder[i]];
            }
            for (int i = 0; i < nOut; i++)
            {
                outputNames[i] = (nint)_outputNames[outputOrder[i]];
                if (preallocated is not null)
                {
                    pins[nIn + i] = GCHandle.Alloc(preallocated[i].Data, GCHandleType.Pinned);
                    produced[i] = WrapPinned(memoryInfo, pins[nIn + i], preallocated[i]);
                }
            }
            fixed (nint* inNames = inputNames, inVals = inputValues, outNames = outputNames, outVals = produced)
            {
                nint status = _api.Run(_session.DangerousGetHandle(), 0, (byte**)inNames, inVals, (nuint)nIn,
                    (byte**)outNames, (nuint)nOut, outVals);
                if (status != 0)
                {
                    if (preallocated is null) ReleaseAll(produced);
                    throw _api.ToException(status);
                }
            }
        }
        catch when (preallocated is not null)
        {
            ReleaseAll(produced);
            throw;
        }
        finally
        {
            ReleaseAll(inputValues);
            foreach (var pin in pins)
                if (pin.IsAllocated) pin.Free();
            if (sessionRef) _session.DangerousRelease();
        }
    }

    private nint WrapPinned(nint memoryInfo, GCHandle pin, FloatTensor tensor)
    {
        nint value;
        fixed (long* shape = tensor.Shape)
            _api.Check(_api.CreateTensorWithDataAsOrtValue(memoryInfo, (void*)pin.AddrOfPinnedObject(),
                (nuint)tensor.Data.Length * sizeof(float), shape, (nuint)tensor.Shape.Length, ElementTypeFloat, &value));
        return value;
    }

    private void ReleaseAll(nint[] values)
    {
        for (int i = 0; i < values.Length; i++)
        {
            if (values[i] != 0) _api.ReleaseValue(values[i]);
            values[i] = 0;
        }
    }

    private FloatTensor ReadFloatTensor(string name, OrtValueHandle value)
    {
        nint info;
        _api.Check(_api.GetTensorTypeAndShape(value.DangerousGetHandle(), &info));
        using var infoHandle = new OrtTensorTypeAndShapeInfoHandle(info);
        int elementType;
        _api.Check(_api.GetTensorElementType(info, &elementType));
        if (elementType != ElementTypeFloat)
            throw new TensorElementTypeException(name, OnnxElementType.Float, (OnnxElementType)elementType,
                $"Output '{name}' is {(OnnxElementType)elementType}, but this binding reads Float outputs only.");
        long[] shape = ReadDimensions(info);
        long count = FloatTensor.CheckedElementCount(shape);
        if (count > Array.MaxLength)
            throw new OrtException(OrtErrorCode.Fail, "output too large", $"Output '{name}' has {count} elements, more than a .NET array can hold.");
        var data = new float[count];
        if (count > 0)
        {
            void* source;
            _api.Check(_api.GetTensorMutableData(value.DangerousGetHandle(), &source));
            new ReadOnlySpan<float>(source, (int)count).CopyTo(data);
        }
        return new FloatTensor(name, data, shape);
    }

    private long[] ReadDimensions(nint tensorInfo)
    {
        nuint rank;
        _api.Check(_api.GetDimensionsCount(tensorInfo, &rank));
        var dims = new long[(int)rank];
        if (rank > 0)
            fixed (long* d = dims)
                _api.Check(_api.GetDimensions(tensorInfo, d, rank));
        return dims;
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
        string name = expected.Name;
        if (expected.ElementType != OnnxElementType.Float)
            throw new TensorElementTypeException(name, expected.ElementType, OnnxElementType.Float,
                $"The model's {kind} '{name}' has element type {expected.ElementType}, but a Float tensor was given " +
                "(this binding runs float tensors only).");
        if (tensor.Data is null)
            throw new ArgumentNullException(nameof(tensor), $"The data of {kind} '{name}' is null.");
        if (tensor.Shape is null)
            throw new ArgumentNullException(nameof(tensor), $"The shape of {kind} '{name}' is null.");
        long[] actual = tensor.Shape;
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
        if (count != tensor.Data.Length)
            throw new TensorShapeException(name, expected.Shape, actual,
                $"The {kind} '{name}' has shape [{string.Join(",", actual)}] = {(count < 0 ? "too many" : count.ToString())} elements, " +
                $"but its data holds {tensor.Data.Length}.");
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

    private TensorMetadata[] ReadMetadata(bool isInput)
    {
        nint session = _session.DangerousGetHandle();
        nuint count;
        _api.Check(isInput ? _api.SessionGetInputCount(session, &count) : _api.SessionGetOutputCount(session, &count));
        var result = new TensorMetadata[(int)count];
        nint allocator = OrtRuntime.DefaultAllocator;
        for (nuint i = 0; i < count; i++)
        {
            byte* rawName;
            _api.Check(isInput
                ? _api.SessionGetInputName(session, i, allocator, &rawName)
                : _api.SessionGetOutputName(session, i, allocator, &rawName));
            string name;
            using (var nameHandle = new OrtAllocatedBufferHandle(allocator, (nint)rawName))
                name = nameHandle.ReadUtf8String();

            nint typeInfo;
            _api.Check(isInput
                ? _api.SessionGetInputTypeInfo(session, i, &typeInfo)
                : _api.SessionGetOutputTypeInfo(session, i, &typeInfo));
            using var typeInfoHandle = new OrtTypeInfoHandle(typeInfo);
            int onnxType;
            _api.Check(_api.GetOnnxTypeFromTypeInfo(typeInfo, &onnxType));
            if (onnxType != OnnxTypeTensor)
            {
                result[(int)i] = new TensorMetadata(name, OnnxElementType.Undefined, []);
                continue;
            }
            nint tensorInfo; // owned by typeInfo: not released separately
            _api.Check(_api.CastTypeInfoToTensorInfo(typeInfo, &tensorInfo));
            int elementType;
            _api.Check(_api.GetTensorElementType(tensorInfo, &elementType));
            result[(int)i] = new TensorMetadata(name, (OnnxElementType)elementType, ReadDimensions(tensorInfo));
        }
        return result;
    }

    private static OrtSessionOptionsHandle CreateSessionOptions(OrtApi api, InferenceSessionOptions options)
    {
        options.Validate();
        nint raw;
        api.Check(api.CreateSessionOptions(&raw));
        var handle = new OrtSessionOptionsHandle(raw);
        try
        {
            api.Check(api.SetIntraOpNumThreads(raw, options.IntraOpThreads));
            api.Check(api.SetSessionGraphOptimizationLevel(raw, (int)options.GraphOptimizationLevel));
            if (options.UseCuda) AppendCuda(api, raw, options.CudaDeviceId);
            return handle;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    private static void AppendCuda(OrtApi api, nint sessionOptions, int deviceId)
    {
        var cuda = OrtCudaProviderOptions.Defaults(deviceId);
        nint status = api.SessionOptionsAppendExecutionProviderCuda(sessionOptions, &cuda);
        if (status != 0) throw CudaUnavailable(api, status, deviceId);
    }

    private static CudaProviderUnavailableException CudaUnavailable(OrtApi api, nint status, int deviceId)
    {
        var inner = api.ToException(status);
        return new CudaProviderUnavailableException(inner.ErrorCode, inner.OrtMessage,
            $"The CUDA execution provider (device {deviceId}) cannot be used: {inner.OrtMessage}\n" +
            "It needs libonnxruntime_providers_cuda.so next to libonnxruntime.so (run `SALIENCY_ORT_GPU=1 native/onnxruntime/fetch.sh` " +
            "and rebuild, which fetches com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9, 230 MB), the CUDA 13 runtime with cuBLAS " +
            "and cuDNN 9 on the loader path, and a visible GPU. Or set UseCuda = false to run on the CPU.");
    }

    /// <summary>Releases the native session (after the last running call, if any, returns).</summary>
    public void Dispose() => _session.Dispose();
}
