using Saliency.Models.Onnx.Proto;

using Saliency.Models.Onnx;

namespace Saliency.TestSupport;

/// <summary>
/// Builds ONNX models in C#: inputs, initializers, nodes and outputs, then <see cref="Build"/> gives a
/// validated <see cref="ModelProto"/> (IR version 8, default-domain opset as given, 17 unless said otherwise).
/// Every method returns the name of the tensor it made, so graphs read like expressions:
/// <code>
/// var b = new OnnxGraphBuilder("mlp");
/// string x = b.Input("input", OnnxElementType.Float, "N", 4);
/// string h = b.Relu(b.Gemm(x, b.Initializer("w", w, 8, 4), b.Initializer("b", bias, 8), transB: true));
/// b.Output(h, OnnxElementType.Float, "N", 8);
/// ModelProto model = b.Build();
/// </code>
/// Names are checked for uniqueness as they are made (ONNX graphs are single-assignment).
/// </summary>
internal sealed class OnnxGraphBuilder
{
    /// <summary>IR version written by <see cref="Build"/> (ONNX 1.10+, accepted by every ONNX Runtime since 1.10).</summary>
    public const long DefaultIrVersion = 8;

    private readonly GraphProto _graph;
    private readonly long _opset;
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _counters = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _extraOpsets = new(StringComparer.Ordinal);

    /// <summary>Starts a graph.</summary>
    /// <param name="graphName">The graph name written into the model.</param>
    /// <param name="opset">Version of the default ai.onnx opset (the typed helpers assume ≥ 13).</param>
    public OnnxGraphBuilder(string graphName, long opset = 17)
    {
        ArgumentException.ThrowIfNullOrEmpty(graphName);
        if (opset < 13)
            throw new ArgumentOutOfRangeException(nameof(opset), opset, "the builder writes opset ≥ 13 forms of its ops (Softmax axis, Clip/Reshape inputs).");
        _graph = new GraphProto { Name = graphName };
        _opset = opset;
    }

    /// <summary>The default-domain opset version of the model being built.</summary>
    public long Opset => _opset;

    /// <summary>The graph as built so far (live; for inspection).</summary>
    public GraphProto Graph => _graph;

    /// <summary>Imports an additional operator-set domain (e.g. "com.microsoft") at a version.</summary>
    public void ImportOpset(string domain, long version)
    {
        ArgumentException.ThrowIfNullOrEmpty(domain);
        _extraOpsets[domain] = version;
    }

    /// <summary>Declares a graph input. Dims: a number, −1 for unknown, or a name such as "N" for a dynamic batch.</summary>
    /// <returns>The input's name.</returns>
    public string Input(string name, OnnxElementType elementType, params OnnxDim[] dims)
    {
        Claim(name);
        _graph.Input.Add(ValueInfo(name, elementType, dims));
        return name;
    }

    /// <summary>Declares a graph output: an existing tensor, with its type and dims.</summary>
    /// <returns>The output's name.</returns>
    public string Output(string name, OnnxElementType elementType, params OnnxDim[] dims)
    {
        if (!_names.Contains(name))
            throw new ArgumentException($"graph output '{name}' is not a tensor of this graph.", nameof(name));
        if (_graph.Output.Any(o => o.Name == name))
            throw new ArgumentException($"graph output '{name}' is declared twice.", nameof(name));
        _graph.Output.Add(ValueInfo(name, elementType, dims));
        return name;
    }

    /// <summary>Declares a graph output with an element type but no shape (ONNX Runtime infers it).</summary>
    /// <returns>The output's name.</returns>
    public string OutputWithUnknownShape(string name, OnnxElementType elementType)
    {
        Output(name, elementType);
        _graph.Output[^1].Type.TensorType.Shape = null;
        return name;
    }

    /// <summary>Adds a float initializer (stored as little-endian raw_data).</summary>
    /// <returns>The initializer's name.</returns>
    public string Initializer(string name, float[] data, params long[] dims)
    {
        ArgumentNullException.ThrowIfNull(data);
        var t = OnnxTensors.FromFloats(name, data, dims);
        Claim(name);
        _graph.Initializer.Add(t);
        return name;
    }

    /// <summary>Adds an int64 initializer (stored as little-endian raw_data).</summary>
    /// <returns>The initializer's name.</returns>
    public string Initializer(string name, long[] data, params long[] dims)
    {
        ArgumentNullException.ThrowIfNull(data);
        var t = OnnxTensors.FromInt64s(name, data, dims);
        Claim(name);
        _graph.Initializer.Add(t);
        return name;
    }

    /// <summary>Adds a ready-made initializer tensor (its name must be new).</summary>
    public string Initializer(TensorProto tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        Claim(tensor.Name);
        _graph.Initializer.Add(tensor);
        return tensor.Name;
    }

    /// <summary>
    /// Adds a node with one output. The node and its output are named <paramref name="name"/>, or
    /// "OpType_k" when not given.
    /// </summary>
    /// <returns>The output's name.</returns>
    public string Node(string opType, string[] inputs, IEnumerable<AttributeProto>? attributes = null, string? name = null, string domain = "") =>
        Node(opType, inputs, 1, attributes, name, domain)[0];

    /// <summary>
    /// Adds a node with <paramref name="outputCount"/> outputs, named "name" (the first) and "name_1", "name_2", ….
    /// Inputs may be "" for an omitted optional input.
    /// </summary>
    /// <returns>The outputs' names.</returns>
    public string[] Node(string opType, string[] inputs, int outputCount, IEnumerable<AttributeProto>? attributes = null,
                         string? name = null, string domain = "")
    {
        ArgumentException.ThrowIfNullOrEmpty(opType);
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentOutOfRangeException.ThrowIfLessThan(outputCount, 1);
        foreach (var i in inputs)
            if (i is null || (i.Length > 0 && !_names.Contains(i)))
                throw new ArgumentException($"{opType} node input '{i}' is not a tensor of this graph.", nameof(inputs));
        name ??= FreshName(opType);
        var outputs = new string[outputCount];
        for (int k = 0; k < outputCount; k++)
            outputs[k] = k == 0 ? name : $"{name}_{k}";
        foreach (var o in outputs) if (_names.Contains(o)) throw new ArgumentException($"tensor name '{o}' is already used.", nameof(name));
        foreach (var o in outputs) _names.Add(o);
        var node = new NodeProto { OpType = opType, Name = name, Domain = domain };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        if (attributes is not null) node.Attribute.AddRange(attributes);
        _graph.Node.Add(node);
        return outputs;
    }

    // ---- typed helpers ------------------------------------------------------------------------------

    /// <summary>Gemm: <c>alpha·op(A)·op(B) + beta·C</c>; op transposes when asked. C (bias) is optional.</summary>
    public string Gemm(string a, string b, string? c = null, float alpha = 1f, float beta = 1f,
                       bool transA = false, bool transB = false, string? name = null)
    {
        var attrs = new List<AttributeProto>();
        if (alpha != 1f) attrs.Add(OnnxAttributes.Float("alpha", alpha));
        if (beta != 1f) attrs.Add(OnnxAttributes.Float("beta", beta));
        if (transA) attrs.Add(OnnxAttributes.Int("transA", 1));
        if (transB) attrs.Add(OnnxAttributes.Int("transB", 1));
        return Node("Gemm", c is null ? [a, b] : [a, b, c], attrs, name);
    }

    /// <summary>MatMul (numpy matmul semantics, batched).</summary>
    public string MatMul(string a, string b, string? name = null) => Node("MatMul", [a, b], null, name);

    /// <summary>Elementwise addition with multidirectional broadcasting (also the residual connection).</summary>
    public string Add(string a, string b, string? name = null) => Node("Add", [a, b], null, name);

    /// <summary>Elementwise subtraction with broadcasting.</summary>
    public string Sub(string a, string b, string? name = null) => Node("Sub", [a, b], null, name);

    /// <summary>Elementwise multiplication with broadcasting.</summary>
    public string Mul(string a, string b, string? name = null) => Node("Mul", [a, b], null, name);

    /// <summary>Elementwise division with broadcasting.</summary>
    public string Div(string a, string b, string? name = null) => Node("Div", [a, b], null, name);

    /// <summary>Residual connection <c>x + f(x)</c> (an Add node).</summary>
    public string ResidualAdd(string x, string fx, string? name = null) => Add(x, fx, name);

    /// <summary>ReLU.</summary>
    public string Relu(string x, string? name = null) => Node("Relu", [x], null, name);

    /// <summary>Leaky ReLU with slope <paramref name="alpha"/> for negative inputs.</summary>
    public string LeakyRelu(string x, float alpha = 0.01f, string? name = null) =>
        Node("LeakyRelu", [x], [OnnxAttributes.Float("alpha", alpha)], name);

    /// <summary>Logistic sigmoid.</summary>
    public string Sigmoid(string x, string? name = null) => Node("Sigmoid", [x], null, name);

    /// <summary>Hyperbolic tangent.</summary>
    public string Tanh(string x, string? name = null) => Node("Tanh", [x], null, name);

    /// <summary>Softmax along <paramref name="axis"/> (opset ≥ 13 semantics: one axis).</summary>
    public string Softmax(string x, long axis = -1, string? name = null) =>
        Node("Softmax", [x], [OnnxAttributes.Int("axis", axis)], name);

    /// <summary>
    /// 2-D convolution (NCHW input, weight [M, C/group, kH, kW], optional bias [M]). Pads are
    /// [top, left, bottom, right] (ONNX order: all begins, then all ends); null means the ONNX default.
    /// </summary>
    public string Conv(string x, string w, string? bias = null, long[]? strides = null, long[]? pads = null,
                       long[]? dilations = null, long group = 1, string? name = null)
    {
        var attrs = new List<AttributeProto>();
        if (strides is not null) attrs.Add(OnnxAttributes.Ints("strides", strides));
        if (pads is not null) attrs.Add(OnnxAttributes.Ints("pads", pads));
        if (dilations is not null) attrs.Add(OnnxAttributes.Ints("dilations", dilations));
        if (group != 1) attrs.Add(OnnxAttributes.Int("group", group));
        return Node("Conv", bias is null ? [x, w] : [x, w, bias], attrs, name);
    }

    /// <summary>Max pooling over windows of <paramref name="kernel"/> (strides default to 1, pads to 0).</summary>
    public string MaxPool(string x, long[] kernel, long[]? strides = null, long[]? pads = null, long[]? dilations = null, string? name = null) =>
        Node("MaxPool", [x], PoolAttributes(kernel, strides, pads, dilations), name);

    /// <summary>
    /// Max pooling that also outputs <c>Indices</c> (int64): the flat row-major position of each maximum
    /// in the whole input tensor (storage_order 0), as the Jacobian exporter needs.
    /// </summary>
    public (string Output, string Indices) MaxPoolWithIndices(string x, long[] kernel, long[]? strides = null, long[]? pads = null,
                                                             long[]? dilations = null, string? name = null)
    {
        var o = Node("MaxPool", [x], 2, PoolAttributes(kernel, strides, pads, dilations), name);
        return (o[0], o[1]);
    }

    /// <summary>Average pooling; <paramref name="countIncludePad"/> false (the ONNX default) divides by the in-image count.</summary>
    public string AveragePool(string x, long[] kernel, long[]? strides = null, long[]? pads = null, bool countIncludePad = false, string? name = null)
    {
        var attrs = PoolAttributes(kernel, strides, pads, null);
        if (countIncludePad) attrs.Add(OnnxAttributes.Int("count_include_pad", 1));
        return Node("AveragePool", [x], attrs, name);
    }

    /// <summary>Mean over all spatial positions per channel (output [N, C, 1, 1]).</summary>
    public string GlobalAveragePool(string x, string? name = null) => Node("GlobalAveragePool", [x], null, name);

    /// <summary>Batch normalisation in inference form: <c>scale·(x − mean)/√(var + ε) + bias</c> per channel.</summary>
    public string BatchNormalization(string x, string scale, string bias, string mean, string variance, float epsilon = 1e-5f, string? name = null) =>
        Node("BatchNormalization", [x, scale, bias, mean, variance], [OnnxAttributes.Float("epsilon", epsilon)], name);

    /// <summary>Flattens to 2-D: dims before <paramref name="axis"/> form the rows.</summary>
    public string Flatten(string x, long axis = 1, string? name = null) =>
        Node("Flatten", [x], [OnnxAttributes.Int("axis", axis)], name);

    /// <summary>Reshape to a constant shape (0 copies the input dim, −1 is inferred); the shape becomes an int64 initializer.</summary>
    public string Reshape(string x, long[] shape, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(shape);
        string s = Initializer(FreshName("shape"), shape, shape.Length);
        return Node("Reshape", [x, s], null, name);
    }

    /// <summary>Transpose with permutation <paramref name="perm"/> (null reverses the axes).</summary>
    public string Transpose(string x, long[]? perm = null, string? name = null) =>
        Node("Transpose", [x], perm is null ? null : [OnnxAttributes.Ints("perm", perm)], name);

    /// <summary>Concatenation along <paramref name="axis"/>.</summary>
    public string Concat(string[] inputs, long axis, string? name = null) =>
        Node("Concat", inputs, [OnnxAttributes.Int("axis", axis)], name);

    /// <summary>Identity (also a way to give a tensor a second name, e.g. for an output).</summary>
    public string Identity(string x, string? name = null) => Node("Identity", [x], null, name);

    /// <summary>Dropout in inference form (an identity at inference).</summary>
    public string Dropout(string x, string? name = null) => Node("Dropout", [x], null, name);

    /// <summary>Clip to [min, max]; either bound may be omitted. Bounds become scalar float initializers.</summary>
    public string Clip(string x, float? min = null, float? max = null, string? name = null)
    {
        string lo = min is { } mn ? Initializer(FreshName("clip_min"), [mn]) : "";
        string hi = max is { } mx ? Initializer(FreshName("clip_max"), [mx]) : "";
        string[] inputs = hi.Length > 0 ? [x, lo, hi] : lo.Length > 0 ? [x, lo] : [x];
        return Node("Clip", inputs, null, name);
    }

    // ---- layers with seeded random weights ------------------------------------------------------------

    /// <summary>
    /// A fully connected layer <c>x·Wᵀ + b</c> (PyTorch layout: W is [out, in], Gemm with transB) with
    /// He-uniform random weights from <paramref name="rng"/>.
    /// </summary>
    public string Linear(string x, int inFeatures, int outFeatures, Random rng, bool bias = true, string? name = null)
    {
        name ??= FreshName("fc");
        float bound = MathF.Sqrt(6f / inFeatures);
        string w = Initializer($"{name}.weight", RandomUniform(rng, outFeatures * inFeatures, bound), outFeatures, inFeatures);
        string? b = bias ? Initializer($"{name}.bias", RandomUniform(rng, outFeatures, 0.1f), outFeatures) : null;
        return Gemm(x, w, b, transB: true, name: name);
    }

    /// <summary>A 2-D convolution layer with He-uniform random weights (square kernel, symmetric padding).</summary>
    public string Conv2d(string x, int inChannels, int outChannels, int kernel, Random rng, int stride = 1, int pad = 0,
                         int dilation = 1, int group = 1, bool bias = true, string? name = null)
    {
        name ??= FreshName("conv");
        if (inChannels % group != 0 || outChannels % group != 0)
            throw new ArgumentException($"channels {inChannels}→{outChannels} are not divisible by group {group}.");
        int cg = inChannels / group;
        float bound = MathF.Sqrt(6f / (cg * kernel * kernel));
        string w = Initializer($"{name}.weight", RandomUniform(rng, outChannels * cg * kernel * kernel, bound), outChannels, cg, kernel, kernel);
        string? b = bias ? Initializer($"{name}.bias", RandomUniform(rng, outChannels, 0.1f), outChannels) : null;
        return Conv(x, w, b, [stride, stride], [pad, pad, pad, pad], [dilation, dilation], group, name);
    }

    /// <summary>Batch normalisation (inference) with random scale ∈ [0.5, 1.5], shift, mean and variance ∈ [0.5, 1.5].</summary>
    public string BatchNorm2d(string x, int channels, Random rng, float epsilon = 1e-5f, string? name = null)
    {
        name ??= FreshName("bn");
        float[] Uniform(float lo, float hi) => Enumerable.Range(0, channels).Select(_ => lo + (hi - lo) * (float)rng.NextDouble()).ToArray();
        string s = Initializer($"{name}.weight", Uniform(0.5f, 1.5f), channels);
        string b = Initializer($"{name}.bias", Uniform(-0.2f, 0.2f), channels);
        string m = Initializer($"{name}.running_mean", Uniform(-0.2f, 0.2f), channels);
        string v = Initializer($"{name}.running_var", Uniform(0.5f, 1.5f), channels);
        return BatchNormalization(x, s, b, m, v, epsilon, name);
    }

    // ---- build ----------------------------------------------------------------------------------------

    /// <summary>The model: IR version 8, opset imports ""/<see cref="Opset"/> (plus any imported domains), validated.</summary>
    /// <exception cref="OnnxFormatException">The graph is not valid (e.g. no outputs).</exception>
    public ModelProto Build(string producerName = "Saliency.Gpu")
    {
        var model = new ModelProto
        {
            IrVersion = DefaultIrVersion,
            ProducerName = producerName,
            Graph = _graph.Clone(),
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = _opset });
        foreach (var (domain, version) in _extraOpsets)
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = domain, Version = version });
        OnnxModel.Validate(model);
        return model;
    }

    /// <summary><see cref="Build"/> wrapped as an <see cref="OnnxModel"/>.</summary>
    public OnnxModel BuildModel() => OnnxModel.FromProto(Build());

    /// <summary>A name "prefix_k" not yet used in this graph.</summary>
    public string FreshName(string prefix)
    {
        while (true)
        {
            int k = _counters.TryGetValue(prefix, out int c) ? c : 0;
            _counters[prefix] = k + 1;
            string candidate = $"{prefix}_{k}";
            if (!_names.Contains(candidate)) return candidate;
        }
    }

    private void Claim(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (!_names.Add(name))
            throw new ArgumentException($"tensor name '{name}' is already used in this graph.", nameof(name));
    }

    private static List<AttributeProto> PoolAttributes(long[] kernel, long[]? strides, long[]? pads, long[]? dilations)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        var attrs = new List<AttributeProto> { OnnxAttributes.Ints("kernel_shape", kernel) };
        if (strides is not null) attrs.Add(OnnxAttributes.Ints("strides", strides));
        if (pads is not null) attrs.Add(OnnxAttributes.Ints("pads", pads));
        if (dilations is not null) attrs.Add(OnnxAttributes.Ints("dilations", dilations));
        return attrs;
    }

    /// <summary>A value info with a tensor type and the given dims (an empty list is a scalar).</summary>
    public static ValueInfoProto ValueInfo(string name, OnnxElementType elementType, IReadOnlyList<OnnxDim> dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
        {
            var dim = new TensorShapeProto.Types.Dimension();
            if (d.Value is { } v) dim.DimValue = v;
            else if (d.Param is { } p) dim.DimParam = p;
            shape.Dim.Add(dim);
        }
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)elementType, Shape = shape } },
        };
    }

    private static float[] RandomUniform(Random rng, int count, float bound)
    {
        var a = new float[count];
        for (int i = 0; i < count; i++) a[i] = (float)((2 * rng.NextDouble() - 1) * bound);
        return a;
    }
}
