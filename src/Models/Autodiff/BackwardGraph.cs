using Saliency.Models.Onnx;
using Saliency.Models.Onnx.Proto;

namespace Saliency.Models.Autodiff;

/// <summary>
/// The nodes and constants of the backward pass as they are emitted, with fresh names that cannot clash with the
/// forward graph, and the accumulation of gradient contributions per forward tensor (a tensor read by several
/// nodes gets the <c>Sum</c> of their contributions).
/// </summary>
internal sealed class BackwardGraph(HashSet<string> existingNames)
{
    private readonly HashSet<string> _names = existingNames;
    private readonly Dictionary<string, List<string>> _gradients = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _constants = new(StringComparer.Ordinal);
    private int _counter;

    public List<NodeProto> Nodes { get; } = [];

    public List<TensorProto> Initializers { get; } = [];

    public string Fresh(string hint)
    {
        string name;
        do name = $"jacobian/{hint}_{_counter++}";
        while (!_names.Add(name));
        return name;
    }

    /// <summary>Appends a node with one output and returns the output's name (<paramref name="output"/> or a fresh one).</summary>
    public string Node(string op, IEnumerable<string> inputs, string? output, IEnumerable<AttributeProto> attributes)
    {
        output ??= Fresh(op);
        var node = new NodeProto { OpType = op, Name = $"{output}/{op}" };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        node.Attribute.AddRange(attributes);
        Nodes.Add(node);
        return output;
    }

    public string Op(string op, params string[] inputs) => Node(op, inputs, null, []);

    public string Op(string op, string[] inputs, params AttributeProto[] attributes) => Node(op, inputs, null, attributes);

    /// <summary>A 1-D int64 constant (shapes, axes, slice bounds), shared between uses.</summary>
    public string Int64s(params long[] values) => Constant($"i64:{string.Join(",", values)}",
        name => OnnxTensors.FromInt64s(name, values, [values.Length]));

    /// <summary>A float scalar constant, shared between uses.</summary>
    public string Scalar(float value) => Constant($"f32:{BitConverter.SingleToInt32Bits(value)}",
        name => OnnxTensors.FromFloats(name, [value], []));

    /// <summary>A float constant of any shape (not shared).</summary>
    public string Floats(float[] values, long[] dims, string hint)
    {
        var name = Fresh(hint);
        Initializers.Add(OnnxTensors.FromFloats(name, values, dims));
        return name;
    }

    private string Constant(string key, Func<string, TensorProto> make)
    {
        if (_constants.TryGetValue(key, out var existing)) return existing;
        var name = Fresh("const");
        Initializers.Add(make(name));
        _constants[key] = name;
        return name;
    }

    public void AddGradient(string tensor, string gradient)
    {
        if (!_gradients.TryGetValue(tensor, out var list)) _gradients[tensor] = list = [];
        list.Add(gradient);
    }

    /// <summary>The total gradient of a forward tensor (null when nothing flowed into it); call once, after all its consumers.</summary>
    public string? TakeGradient(string tensor)
    {
        if (!_gradients.Remove(tensor, out var list)) return null;
        return list.Count == 1 ? list[0] : Op("Sum", [.. list]);
    }
}
