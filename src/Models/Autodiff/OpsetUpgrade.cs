using Saliency.Models.Onnx;
using Saliency.Models.Onnx.Proto;
using static Saliency.Models.Onnx.OnnxAttributes;

namespace Saliency.Models.Autodiff;

/// <summary>
/// Rewrites the forward graph of an opset 7–12 model into the operator forms of opset 13, so that the augmented
/// model (whose added nodes need opset 13 or 16) is one consistent graph that ONNX Runtime loads, and so that the
/// backward rules see one form per operator. Semantics are kept exactly (ONNX operator changelog,
/// https://github.com/onnx/onnx/blob/main/docs/Changelog.md):
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>attributes that became inputs: Clip min/max (11), Slice starts/ends/axes (10), Pad pads/value (11),
/// Squeeze/Unsqueeze axes (13), ReduceSum axes (13), Split split (13), TopK k (10);</item>
/// <item>Softmax/LogSoftmax/Hardmax before 13 coerce the input to 2-D at <c>axis</c> (default 1) and normalise
/// over the flattened tail: kept as is when <c>axis</c> is the last axis, otherwise Reshape (tail merged) → op(axis = −1) → Reshape;</item>
/// <item>Upsample (7: scales attribute, 9: input) and Resize-10 become Resize-13 with coordinate_transformation_mode
/// "asymmetric"; their nearest rounding (ONNX Runtime's pre-11 rule: truncation when upsampling, ceiling when
/// downsampling) becomes nearest_mode floor or ceil;</item>
/// <item>BatchNormalization-7/8 <c>spatial</c>: 1 (per channel) is the later default and is dropped; 0 (statistics per
/// element, [C, D1, …]) becomes the explicit affine map x·a + b with a = scale/√(var + ε), b = B − mean·a;</item>
/// <item>Dropout before 12 is the identity at inference whatever its <c>ratio</c>: the attribute is dropped;</item>
/// <item>Scatter (removed in 11) is ScatterElements.</item>
/// </list>
/// Operators whose later versions only widen types (most of them) are left as they are.
/// </remarks>
internal sealed class OpsetUpgrade
{
    /// <summary>The opset whose operator forms the upgrade produces.</summary>
    public const long TargetOpset = 13;

    private readonly long _from;
    private readonly StaticShapes _shapes;
    private readonly HashSet<string> _names;
    private readonly List<NodeProto> _nodes = [];
    private int _counter;

    /// <summary>Constants the rewritten nodes read (shapes, axes, bounds), to be added as initializers.</summary>
    public List<TensorProto> Initializers { get; } = [];

    private OpsetUpgrade(long from, StaticShapes shapes, HashSet<string> names)
    {
        _from = from;
        _shapes = shapes;
        _names = names;
    }

    /// <summary>
    /// The nodes of <paramref name="sorted"/> in opset-13 form (same order; a rewritten node may become several).
    /// </summary>
    /// <param name="sorted">The forward nodes, topologically sorted.</param>
    /// <param name="from">The model's default-domain opset (7–12).</param>
    /// <param name="shapes">Static shapes of the original graph (Softmax ranks, Upsample scales).</param>
    /// <param name="names">Every tensor and node name in use; fresh names are added to it.</param>
    /// <exception cref="JacobianExportException">A node cannot be rewritten (e.g. a non-constant attribute-era argument).</exception>
    public static (List<NodeProto> Nodes, List<TensorProto> Initializers) Apply(IReadOnlyList<NodeProto> sorted, long from, StaticShapes shapes, HashSet<string> names)
    {
        var upgrade = new OpsetUpgrade(from, shapes, names);
        for (int i = 0; i < sorted.Count; i++)
        {
            var node = sorted[i];
            if (node.Domain is not ("" or "ai.onnx"))
            {
                upgrade._nodes.Add(node);
                continue;
            }
            upgrade.Rewrite(node, i);
        }
        return (upgrade._nodes, upgrade.Initializers);
    }

    private string Fresh(string hint)
    {
        string name;
        do name = $"opset_upgrade/{hint}_{_counter++}";
        while (!_names.Add(name));
        return name;
    }

    private string Int64s(string hint, params long[] values)
    {
        var name = Fresh(hint);
        Initializers.Add(OnnxTensors.FromInt64s(name, values, [values.Length]));
        return name;
    }

    private string FloatScalar(string hint, float value)
    {
        var name = Fresh(hint);
        Initializers.Add(OnnxTensors.FromFloats(name, [value], []));
        return name;
    }

    private static void Remove(NodeProto node, params string[] attributes)
    {
        for (int i = node.Attribute.Count - 1; i >= 0; i--)
            if (attributes.Contains(node.Attribute[i].Name)) node.Attribute.RemoveAt(i);
    }

    private NodeProto Add(string op, IEnumerable<string> inputs, IEnumerable<string> outputs, params AttributeProto[] attributes)
    {
        var n = new NodeProto { OpType = op, Name = Fresh(op) };
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        n.Attribute.AddRange(attributes);
        _nodes.Add(n);
        return n;
    }

    private static JacobianExportException Refuse(NodeProto node, int index, long opset, string why)
    {
        string name = NodeAttributes.DisplayName(node, index);
        return new JacobianExportException($"Cannot convert node '{name}' (op '{node.OpType}', opset {opset}) to opset {TargetOpset}: {why}.", node.OpType, name);
    }

    private void Rewrite(NodeProto node, int index)
    {
        switch (node.OpType)
        {
            case "Softmax" or "LogSoftmax" or "Hardmax":
                RewriteSoftmax(node, index);
                return;
            case "Clip" when _from < 11:
                {
                    // Clip-6: min/max attributes (defaults ∓FLT_MAX, i.e. no bound) → optional inputs.
                    var min = Find(node, "min");
                    var max = Find(node, "max");
                    Remove(node, "min", "max");
                    node.Input.Add(min is null ? "" : FloatScalar("clip_min", min.F));
                    if (max is not null) node.Input.Add(FloatScalar("clip_max", max.F));
                    else if (min is null) node.Input.RemoveAt(1);
                    break;
                }
            case "Slice" when _from < 10:
                {
                    var starts = GetInts(node, "starts") ?? throw Refuse(node, index, _from, "starts is missing");
                    var ends = GetInts(node, "ends") ?? throw Refuse(node, index, _from, "ends is missing");
                    var axes = GetInts(node, "axes");
                    Remove(node, "starts", "ends", "axes");
                    node.Input.Add(Int64s("slice_starts", starts));
                    node.Input.Add(Int64s("slice_ends", ends));
                    if (axes is not null) node.Input.Add(Int64s("slice_axes", axes));
                    break;
                }
            case "Pad" when _from < 11:
                {
                    var pads = GetInts(node, "pads") ?? throw Refuse(node, index, _from, "pads is missing");
                    float value = GetFloat(node, "value", 0f);
                    Remove(node, "pads", "value");
                    node.Input.Add(Int64s("pads", pads));
                    if (value != 0f) node.Input.Add(FloatScalar("pad_value", value));
                    break;
                }
            case "Squeeze" or "Unsqueeze" or "ReduceSum" when _from < 13:
                {
                    var axes = GetInts(node, "axes");
                    Remove(node, "axes");
                    if (axes is not null) node.Input.Add(Int64s("axes", axes));
                    else if (node.OpType == "Unsqueeze") throw Refuse(node, index, _from, "Unsqueeze has no axes");
                    break;
                }
            case "Split" when _from < 13:
                {
                    var split = GetInts(node, "split");
                    Remove(node, "split");
                    if (split is not null) node.Input.Add(Int64s("split", split));
                    break;
                }
            case "TopK" when _from < 10:
                {
                    long k = GetInt(node, "k", -1);
                    Remove(node, "k");
                    node.Input.Add(Int64s("k", k));
                    break;
                }
            case "Scatter":
                node.OpType = "ScatterElements";
                break;
            case "Upsample":
            case "Resize" when _from == 10:
                RewriteUpsample(node, index);
                return;
            case "Dropout" when _from < 12:
                Remove(node, "ratio", "is_test");
                break;
            case "BatchNormalization" when _from < 9:
                if (GetInt(node, "spatial", 1) == 0)
                {
                    RewritePerElementBatchNorm(node, index);
                    return;
                }
                Remove(node, "spatial");
                break;
        }
        _nodes.Add(node);
    }

    private void RewriteSoftmax(NodeProto node, int index)
    {
        if (_from >= 13)
        {
            _nodes.Add(node);
            return;
        }
        long axis = GetInt(node, "axis", 1);
        var x = node.Input[0];
        if (_shapes.TryGetShape(x, out var shape))
        {
            long a = axis < 0 ? axis + shape.Length : axis;
            if (a == shape.Length - 1)
            {
                // Coercion to 2-D at the last axis changes nothing: the same as opset 13's one-axis form.
                Remove(node, "axis");
                node.Attribute.Add(Int("axis", -1));
                _nodes.Add(node);
                return;
            }
        }
        // Merge the axes from `axis` on into one (Reshape with 0 = "copy this dim", so the batch stays put), normalise
        // it, and restore the shape (static when known, else Shape(x)).
        if (axis < 0)
        {
            if (!_shapes.TryGetShape(x, out var s)) throw Refuse(node, index, _from, "a negative axis on a tensor of unknown rank");
            axis += s.Length;
        }
        var merged = Fresh("coerced");
        Add("Reshape", [x, Int64s("coerce_shape", [.. Enumerable.Repeat(0L, (int)axis), -1])], [merged]);
        var normalized = Fresh("normalized");
        var op = new NodeProto { OpType = node.OpType, Name = node.Name, Input = { merged }, Output = { normalized }, Attribute = { Int("axis", -1) } };
        _nodes.Add(op);
        string target;
        if (_shapes.TryGetShape(x, out var known)) target = Int64s("shape", [0, .. known[1..]]);
        else
        {
            target = Fresh("shape");
            Add("Shape", [x], [target]);
        }
        Add("Reshape", [normalized, target], [node.Output[0]]);
    }

    /// <summary>Upsample-7/9 and Resize-10 → Resize-13 (X, roi = "", scales) with the pre-11 coordinate and rounding rules.</summary>
    private void RewriteUpsample(NodeProto node, int index)
    {
        string mode = GetString(node, "mode", "nearest");
        if (mode == "bilinear") mode = "linear";
        if (mode is not ("nearest" or "linear")) throw Refuse(node, index, _from, $"mode '{mode}' has no Resize-13 equivalent here");
        float[] scales;
        string scalesInput;
        if (Find(node, "scales") is { } attr)
        {
            scales = attr.Floats.ToArray();
            var name = Fresh("scales");
            Initializers.Add(OnnxTensors.FromFloats(name, scales, [scales.Length]));
            scalesInput = name;
        }
        else
        {
            scalesInput = node.Input.Count > 1 ? node.Input[1] : throw Refuse(node, index, _from, "it has no scales");
            scales = _shapes.FloatValues(scalesInput) ?? throw Refuse(node, index, _from, "its scales are not constant");
        }
        // ONNX Runtime before Resize-11 rounds nearest sources down when upsampling an axis and up when downsampling.
        string nearest = scales.All(s => s >= 1f) ? "floor" : scales.All(s => s <= 1f) ? "ceil"
            : throw Refuse(node, index, _from, "nearest resampling that upsamples some axes and downsamples others");
        var resize = new NodeProto { OpType = "Resize", Name = node.Name, Input = { node.Input[0], "", scalesInput } };
        resize.Output.Add(node.Output[0]);
        resize.Attribute.Add(String("mode", mode));
        resize.Attribute.Add(String("coordinate_transformation_mode", "asymmetric"));
        if (mode == "nearest") resize.Attribute.Add(String("nearest_mode", nearest));
        _nodes.Add(resize);
    }

    /// <summary>BatchNormalization-7/8 with spatial = 0: per-element statistics [C, D1, …] as an explicit affine map.</summary>
    private void RewritePerElementBatchNorm(NodeProto node, int index)
    {
        if (node.Output.Skip(1).Any(o => o.Length > 0)) throw Refuse(node, index, _from, "training-mode outputs (mean, variance) are requested");
        float eps = GetFloat(node, "epsilon", 1e-5f);
        string scale = node.Input[1], bias = node.Input[2], mean = node.Input[3], variance = node.Input[4];
        var shifted = Fresh("bn_var_eps");
        Add("Add", [variance, FloatScalar("bn_eps", eps)], [shifted]);
        var std = Fresh("bn_std");
        Add("Sqrt", [shifted], [std]);
        var a = Fresh("bn_a");
        Add("Div", [scale, std], [a]);
        var b = Fresh("bn_b");
        var meanA = Fresh("bn_mean_a");
        Add("Mul", [mean, a], [meanA]);
        Add("Sub", [bias, meanA], [b]);
        var scaled = Fresh("bn_scaled");
        Add("Mul", [node.Input[0], a], [scaled]);
        Add("Add", [scaled, b], [node.Output[0]]);
    }
}
