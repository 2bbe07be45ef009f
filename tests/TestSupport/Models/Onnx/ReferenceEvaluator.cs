using Saliency.Models.Onnx.Proto;

using Saliency.Models.Onnx;

namespace Saliency.TestSupport;

/// <summary>
/// A deliberately plain float64 interpreter of ONNX graphs: the independent oracle against which ONNX
/// Runtime forward passes and exported Jacobians are tested (including finite differences). It favours
/// obviously-correct loops over speed and covers the ops of <see cref="OnnxGraphBuilder"/>: Gemm, MatMul,
/// Add/Sub/Mul/Div (multidirectional broadcasting), Relu, LeakyRelu, Sigmoid, Tanh, Softmax, Conv (NCHW,
/// strides, pads, dilations, groups, auto_pad), MaxPool (with Indices; ceil_mode too), AveragePool (ceil_mode
/// only with count_include_pad = 0), GlobalAveragePool,
/// BatchNormalization (inference), Flatten, Reshape, Transpose, Concat, Identity, Dropout (inference),
/// Clip, plus Constant — and the ops derivative graphs are built from (comparisons, Where, Cast, shape ops,
/// reductions, ConvTranspose, ScatterElements, …; see <see cref="SupportedOps"/>), so exported Jacobian models
/// can be evaluated in float64 too. Unsupported ops are refused when the evaluator is made.
/// </summary>
/// <remarks>
/// Any tensor can be fed: a fed initializer or intermediate tensor replaces the stored or computed one
/// (a node whose outputs are all fed is skipped), so finite differences can perturb any tensor of the graph.
/// Instances are immutable after construction and safe to use from several threads; every returned tensor is a
/// fresh copy, which callers may modify. The evaluator refuses (with an error naming the node) any tensor larger
/// than 2²⁸ elements rather than attempting the allocation.
/// </remarks>
public sealed class ReferenceEvaluator
{
    /// <summary>The op types this evaluator implements (default domain).</summary>
    public static IReadOnlySet<string> SupportedOps { get; } = new HashSet<string>(
    [
        "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Softmax",
        "Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "BatchNormalization", "Flatten", "Reshape",
        "Transpose", "Concat", "Identity", "Dropout", "Clip", "Constant",
        .. ReferenceOps.BackwardGraphOps,
        .. ReferenceOps.FamilyOps,
    ], StringComparer.Ordinal);

    private readonly ModelProto _model;
    private readonly long _opset;
    private readonly Dictionary<string, ReferenceTensor> _initializers = new(StringComparer.Ordinal);
    private readonly IReadOnlyList<OnnxValueInfo> _inputs;
    private readonly HashSet<string> _integerInitializers = new(StringComparer.Ordinal);

    /// <summary>Prepares a model for evaluation: validates it, decodes initializers, checks every op is supported.</summary>
    /// <exception cref="OnnxFormatException">The model is not valid.</exception>
    /// <exception cref="NotSupportedException">A node's op (or domain) is not implemented; the message names op and node.</exception>
    public ReferenceEvaluator(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var wrapped = OnnxModel.FromProto(model);
        _model = model;
        _opset = wrapped.DefaultOpset;
        _inputs = wrapped.Inputs;
        foreach (var t in model.Graph.Initializer)
        {
            _initializers[t.Name] = new ReferenceTensor(OnnxTensors.ToDoubleArray(t), t.Dims.ToArray());
            if (IsIntegerType(t.DataType)) _integerInitializers.Add(t.Name);
        }
        for (int i = 0; i < model.Graph.Node.Count; i++)
        {
            var n = model.Graph.Node[i];
            bool defaultDomain = string.IsNullOrEmpty(n.Domain) || n.Domain == "ai.onnx";
            if (!defaultDomain || !SupportedOps.Contains(n.OpType))
                throw new NotSupportedException(
                    $"the reference evaluator does not implement op '{(defaultDomain ? n.OpType : n.Domain + ":" + n.OpType)}' used by {OnnxModel.NodeLabel(n, i)}.");
        }
    }

    /// <summary>The model being evaluated.</summary>
    public ModelProto Model => _model;

    /// <summary>
    /// Evaluates the graph outputs. <paramref name="feeds"/> must contain every graph input (any batch size
    /// where the model's batch dim is symbolic) and may override any other tensor.
    /// </summary>
    /// <exception cref="ArgumentException">A graph input is missing or its shape contradicts a fixed declared dim.</exception>
    /// <exception cref="InvalidOperationException">A node's inputs have shapes its op does not accept (message names the node).</exception>
    public Dictionary<string, ReferenceTensor> Run(IReadOnlyDictionary<string, ReferenceTensor> feeds)
    {
        var all = RunCore(feeds, null);
        return _model.Graph.Output.ToDictionary(o => o.Name, o => all[o.Name].Clone(), StringComparer.Ordinal);
    }

    /// <summary>Evaluates one tensor (graph output, intermediate tensor, initializer or input) by name.</summary>
    /// <exception cref="KeyNotFoundException">No tensor of the graph has this name.</exception>
    public ReferenceTensor Evaluate(string tensorName, IReadOnlyDictionary<string, ReferenceTensor> feeds) =>
        RunCore(feeds, tensorName).TryGetValue(tensorName, out var t)
            ? t.Clone()
            : throw new KeyNotFoundException($"the graph has no tensor named '{tensorName}'.");

    /// <summary>Evaluates every node and returns every tensor of the graph (inputs, initializers, all node outputs).</summary>
    public Dictionary<string, ReferenceTensor> RunAll(IReadOnlyDictionary<string, ReferenceTensor> feeds) =>
        RunCore(feeds, null).ToDictionary(kv => kv.Key, kv => kv.Value.Clone(), StringComparer.Ordinal);

    /// <summary>
    /// Convenience form: feeds as (data, dims) pairs, result as graph output name → data.
    /// </summary>
    public static Dictionary<string, double[]> Evaluate(ModelProto model, IDictionary<string, (double[] data, long[] dims)> inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var ev = new ReferenceEvaluator(model);
        var feeds = inputs.ToDictionary(kv => kv.Key, kv => new ReferenceTensor(kv.Value.data, kv.Value.dims), StringComparer.Ordinal);
        return ev.Run(feeds).ToDictionary(kv => kv.Key, kv => kv.Value.Data, StringComparer.Ordinal);
    }

    /// <summary>
    /// Evaluates the graph. Tensors inside may share storage (initializers, Reshape/Identity outputs, feeds), so the
    /// public methods hand out copies: callers may modify what they get (e.g. perturb it for finite differences).
    /// </summary>
    private Dictionary<string, ReferenceTensor> RunCore(IReadOnlyDictionary<string, ReferenceTensor> feeds, string? stopAfter)
    {
        ArgumentNullException.ThrowIfNull(feeds);
        var values = new Dictionary<string, ReferenceTensor>(_initializers, StringComparer.Ordinal);
        foreach (var input in _inputs)
        {
            if (!feeds.TryGetValue(input.Name, out var fed))
                throw new ArgumentException($"graph input '{input.Name}' was not fed (expected {input}).", nameof(feeds));
            CheckDeclaredShape(input, fed);
        }
        foreach (var (name, t) in feeds)
        {
            ArgumentNullException.ThrowIfNull(t, $"feed '{name}'");
            values[name] = t;
        }
        if (stopAfter is not null && values.ContainsKey(stopAfter)) return values;

        var graph = _model.Graph;
        var integers = new HashSet<string>(_integerInitializers, StringComparer.Ordinal);
        foreach (var input in _inputs)
            if (IsIntegerType((long)input.ElementType)) integers.Add(input.Name);
        for (int i = 0; i < graph.Node.Count; i++)
        {
            var node = graph.Node[i];
            if (node.Output.All(o => o.Length == 0 || feeds.ContainsKey(o))) continue;
            ReferenceTensor?[] inputs = node.Input.Select(n => n.Length == 0 ? null : values[n]).ToArray();
            ReferenceTensor[] outputs;
            try
            {
                outputs = ReferenceOps.Apply(node, inputs, _opset);
                if (ProducesIntegers(node, integers))
                {
                    integers.UnionWith(node.Output);
                    // Values are float64 here; ONNX integer division truncates toward zero (PyTorch's chunk bounds).
                    if (node.OpType == "Div") outputs[0] = new ReferenceTensor(outputs[0].Data.Select(Math.Truncate).ToArray(), outputs[0].Shape);
                }
            }
            catch (NotSupportedException e)
            {
                throw new NotSupportedException($"{OnnxModel.NodeLabel(node, i)}: {e.Message}", e);
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or OverflowException or IndexOutOfRangeException)
            {
                throw new InvalidOperationException($"{OnnxModel.NodeLabel(node, i)}: {e.Message}", e);
            }
            for (int k = 0; k < node.Output.Count && k < outputs.Length; k++)
                if (node.Output[k].Length > 0 && !feeds.ContainsKey(node.Output[k]))
                    values[node.Output[k]] = outputs[k];
            if (stopAfter is not null && node.Output.Contains(stopAfter)) break;
        }
        return values;
    }

    private static bool IsIntegerType(long dataType) =>
        (OnnxElementType)dataType is OnnxElementType.Int64 or OnnxElementType.Int32 or OnnxElementType.Int16 or OnnxElementType.Int8
            or OnnxElementType.UInt64 or OnnxElementType.UInt32 or OnnxElementType.UInt16 or OnnxElementType.UInt8 or OnnxElementType.Bool;

    /// <summary>
    /// Whether a node's outputs are integer tensors: shape readers, casts and constants of integer type, and ops whose
    /// (first data) input is one. Only integer Div needs it (truncation), so the tracking is a light type inference.
    /// </summary>
    private static bool ProducesIntegers(NodeProto node, HashSet<string> integers) => node.OpType switch
    {
        "Shape" or "Size" or "ArgMax" or "ArgMin" or "NonZero" => true,
        "Cast" => IsIntegerType(OnnxAttributes.GetInt(node, "to", 0)),
        "Constant" => OnnxAttributes.Find(node, "value") is { T: { } t } ? IsIntegerType(t.DataType)
            : node.Attribute.Any(a => a.Name is "value_int" or "value_ints"),
        "ConstantOfShape" => OnnxAttributes.Find(node, "value") is { T: { } v } && IsIntegerType(v.DataType),
        "Where" => node.Input.Count > 1 && integers.Contains(node.Input[1]),
        _ => node.Input.Count > 0 && integers.Contains(node.Input[0]),
    };

    private static void CheckDeclaredShape(OnnxValueInfo input, ReferenceTensor fed)
    {
        if (input.Dims is not { } dims) return;
        if (dims.Count != fed.Rank)
            throw new ArgumentException($"graph input '{input.Name}' has rank {dims.Count} ({input}), but a tensor of shape {ReferenceTensor.Format(fed.Shape)} was fed.");
        for (int i = 0; i < dims.Count; i++)
            if (dims[i].Value is { } v && v != fed.Shape[i])
                throw new ArgumentException($"graph input '{input.Name}' needs size {v} at axis {i} ({input}), but a tensor of shape {ReferenceTensor.Format(fed.Shape)} was fed.");
    }
}
