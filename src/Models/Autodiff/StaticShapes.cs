using Saliency.Models.Onnx;
using Saliency.Models.Onnx.Proto;

namespace Saliency.Models.Autodiff;

/// <summary>
/// Static shape inference over an ONNX graph with the image batch fixed to 1, plus constant folding of the small
/// integer subgraphs exporters use to compute shapes (<c>Shape → Gather → Unsqueeze → Concat → Reshape</c>).
/// The backward rules need every shape statically: broadcast reduction axes, ConvTranspose output padding,
/// pooling divisors and Reshape targets are all baked into the exported graph as constants.
/// </summary>
internal sealed class StaticShapes
{
    private readonly Dictionary<string, long[]> _shapes = new();
    private readonly Dictionary<string, long[]> _ints = new();
    private readonly Dictionary<string, float[]> _floats = new();

    /// <summary>Float constants up to this many elements are kept for the rules that read them (Pow exponents, Resize scales, Clip bounds).</summary>
    private const int MaxFloatConstant = 4096;

    public bool TryGetShape(string name, out long[] shape) => _shapes.TryGetValue(name, out shape!);

    /// <summary>The constant values of an integer tensor, when they are known at export time.</summary>
    public long[]? IntValues(string name) => _ints.GetValueOrDefault(name);

    /// <summary>The values of a small float constant (initializer or <c>Constant</c> node), when known at export time.</summary>
    public float[]? FloatValues(string name) => _floats.GetValueOrDefault(name);

    private void RecordFloats(string name, TensorProto t)
    {
        if (t.DataType != (int)TensorProto.Types.DataType.Float || OnnxTensors.IsExternal(t)) return;
        try
        {
            if (OnnxTensors.ElementCount(t.Dims) <= MaxFloatConstant) _floats[name] = OnnxTensors.ToFloatArray(t);
        }
        catch (OnnxFormatException)
        {
            // Unreadable data leaves the value unknown; a rule that needs it says so.
        }
    }

    public static StaticShapes Infer(GraphProto graph, IReadOnlyList<NodeProto> sortedNodes, string imageInput, long[] imageShape)
    {
        var s = new StaticShapes();
        foreach (var init in graph.Initializer)
        {
            s._shapes[init.Name] = init.Dims.ToArray();
            if (NodeAttributes.ReadInt64s(init) is { } values) s._ints[init.Name] = values;
            s.RecordFloats(init.Name, init);
        }
        foreach (var input in graph.Input)
        {
            if (input.Name == imageInput) s._shapes[input.Name] = imageShape;
            else if (!s._shapes.ContainsKey(input.Name) && DeclaredShape(input) is { } declared) s._shapes[input.Name] = declared;
        }
        foreach (var node in sortedNodes)
        {
            try
            {
                s.InferNode(node);
            }
            catch (Exception e) when (e is IndexOutOfRangeException or ArgumentException or InvalidOperationException or KeyNotFoundException or OverflowException or DivideByZeroException)
            {
                // Leaves the outputs unknown; the exporter reports any unknown shape it actually needs.
            }
        }
        // Declared value_info shapes fill gaps the rules above do not cover (e.g. ops off the differentiated path).
        foreach (var vi in graph.ValueInfo.Concat(graph.Output))
            if (!s._shapes.ContainsKey(vi.Name) && DeclaredShape(vi) is { } declared) s._shapes[vi.Name] = declared;
        return s;
    }

    /// <summary>The declared shape of a value, when every dimension is a number.</summary>
    public static long[]? DeclaredShape(ValueInfoProto vi)
    {
        var tensor = vi.Type?.TensorType;
        if (tensor?.Shape is null) return null;
        var dims = new long[tensor.Shape.Dim.Count];
        for (int i = 0; i < dims.Length; i++)
        {
            var d = tensor.Shape.Dim[i];
            if (d.ValueCase != TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue || d.DimValue <= 0) return null;
            dims[i] = d.DimValue;
        }
        return dims;
    }

    private long[] In(NodeProto node, int i) => _shapes[node.Input[i]];

    private bool HasInput(NodeProto node, int i) => node.Input.Count > i && node.Input[i].Length > 0;

    private void Set(NodeProto node, int output, long[] shape)
    {
        if (node.Output.Count > output && node.Output[output].Length > 0) _shapes[node.Output[output]] = shape;
    }

    private void SetInts(NodeProto node, long[] values, long[] shape)
    {
        _ints[node.Output[0]] = values;
        _shapes[node.Output[0]] = shape;
    }

    private void InferNode(NodeProto node)
    {
        switch (node.OpType)
        {
            case "Constant":
                InferConstant(node);
                break;
            case "Identity" or "Cast":
                Set(node, 0, In(node, 0));
                if (IntValues(node.Input[0]) is { } v && (node.OpType == "Identity" || IsIntegerCast(node))) _ints[node.Output[0]] = v;
                if (FloatValues(node.Input[0]) is { } f && (node.OpType == "Identity" || OnnxAttributes.GetInt(node, "to", 0) == (long)TensorProto.Types.DataType.Float))
                    _floats[node.Output[0]] = f;
                break;
            case "Dropout" or "Relu" or "LeakyRelu" or "Sigmoid" or "Tanh" or "Softmax" or "LogSoftmax" or "Clip"
                or "BatchNormalization" or "Neg" or "Exp" or "Log" or "Sqrt" or "Abs" or "Erf" or "Elu" or "Selu"
                or "Softplus" or "HardSigmoid" or "HardSwish" or "Reciprocal" or "PRelu" or "LRN" or "Sign"
                or "LayerNormalization" or "InstanceNormalization" or "Not" or "Floor" or "Ceil" or "Round":
                Set(node, 0, In(node, 0));
                break;
            case "Add" or "Sub" or "Mul" or "Div" or "Pow" or "Greater" or "Less" or "Equal" or "And" or "Or"
                or "GreaterOrEqual" or "LessOrEqual":
                Set(node, 0, Broadcast(In(node, 0), In(node, 1)));
                FoldIntegerArithmetic(node);
                break;
            case "Sum" or "Max" or "Min" or "Mean":
                Set(node, 0, node.Input.Select(i => _shapes[i]).Aggregate(Broadcast));
                break;
            case "Expand":
                Set(node, 0, Broadcast(In(node, 0), IntValues(node.Input[1]) ?? throw new InvalidOperationException("shape not constant")));
                break;
            case "ReduceSum" or "ReduceMean" or "ReduceMax" or "ReduceMin" or "ReduceProd" or "ReduceL1" or "ReduceL2"
                or "ReduceLogSumExp" or "ReduceSumSquare":
                InferReduce(node);
                break;
            case "Split":
                InferSplit(node);
                break;
            case "Pad":
                InferPad(node);
                break;
            case "Resize" or "Upsample":
                InferResize(node);
                break;
            case "Where":
                Set(node, 0, Broadcast(Broadcast(In(node, 0), In(node, 1)), In(node, 2)));
                break;
            case "Gemm":
                InferGemm(node);
                break;
            case "MatMul":
                Set(node, 0, MatMulShape(In(node, 0), In(node, 1)));
                break;
            case "Conv":
                Set(node, 0, ConvShape(node, In(node, 0), In(node, 1)));
                break;
            case "MaxPool" or "AveragePool":
                {
                    var shape = PoolShape(node, In(node, 0));
                    Set(node, 0, shape);
                    Set(node, 1, shape);
                    break;
                }
            case "GlobalAveragePool" or "GlobalMaxPool":
                {
                    var x = In(node, 0);
                    var y = x.ToArray();
                    for (int i = 2; i < y.Length; i++) y[i] = 1;
                    Set(node, 0, y);
                    break;
                }
            case "Flatten":
                {
                    var x = In(node, 0);
                    int axis = (int)NormalizeAxis(OnnxAttributes.GetInt(node, "axis", 1), x.Length + 1);
                    Set(node, 0, [Product(x[..axis]), Product(x[axis..])]);
                    break;
                }
            case "Reshape":
                InferReshape(node);
                break;
            case "Transpose":
                {
                    var x = In(node, 0);
                    var perm = OnnxAttributes.GetInts(node, "perm") ?? Enumerable.Range(0, x.Length).Reverse().Select(i => (long)i).ToArray();
                    Set(node, 0, perm.Select(p => x[p]).ToArray());
                    break;
                }
            case "Concat":
                InferConcat(node);
                break;
            case "Shape":
                {
                    var x = In(node, 0);
                    int start = (int)NormalizeClamped(OnnxAttributes.GetInt(node, "start", 0), x.Length);
                    int end = (int)NormalizeClamped(OnnxAttributes.GetInt(node, "end", x.Length), x.Length);
                    var values = x[start..Math.Max(start, end)];
                    SetInts(node, values, [values.Length]);
                    break;
                }
            case "Gather":
                InferGather(node);
                break;
            case "Unsqueeze":
                InferUnsqueeze(node);
                break;
            case "Squeeze":
                InferSqueeze(node);
                break;
            case "Slice":
                InferSlice(node);
                break;
            case "ConstantOfShape":
                if (IntValues(node.Input[0]) is { } dims) Set(node, 0, dims);
                break;
        }
    }

    /// <summary>
    /// Integer Add/Sub/Mul/Div of known shape values (PyTorch's Slice bounds for <c>chunk</c>: Shape → Gather →
    /// Add → Div → Mul). Scalars and 1-D tensors only; Div truncates toward zero as ONNX Runtime's integer Div does.
    /// </summary>
    private void FoldIntegerArithmetic(NodeProto node)
    {
        if (node.OpType is not ("Add" or "Sub" or "Mul" or "Div")) return;
        if (IntValues(node.Input[0]) is not { } a || IntValues(node.Input[1]) is not { } b) return;
        if (a.Length != b.Length && a.Length != 1 && b.Length != 1) return;
        int n = Math.Max(a.Length, b.Length);
        var r = new long[n];
        for (int i = 0; i < n; i++)
        {
            long x = a[a.Length == 1 ? 0 : i], y = b[b.Length == 1 ? 0 : i];
            r[i] = node.OpType switch
            {
                "Add" => checked(x + y),
                "Sub" => checked(x - y),
                "Mul" => checked(x * y),
                _ => y == 0 ? throw new DivideByZeroException() : x / y,
            };
        }
        _ints[node.Output[0]] = r;
    }

    private static bool IsIntegerCast(NodeProto node)
    {
        var to = (TensorProto.Types.DataType)OnnxAttributes.GetInt(node, "to", 0);
        return to is TensorProto.Types.DataType.Int64 or TensorProto.Types.DataType.Int32;
    }

    private void InferConstant(NodeProto node)
    {
        if (OnnxAttributes.Find(node, "value") is { T: { } t })
        {
            var dims = t.Dims.ToArray();
            if (NodeAttributes.ReadInt64s(t) is { } v) SetInts(node, v, dims);
            else Set(node, 0, dims);
            RecordFloats(node.Output[0], t);
        }
        else if (OnnxAttributes.Find(node, "value_int") is { } vi) SetInts(node, [vi.I], []);
        else if (OnnxAttributes.Find(node, "value_ints") is { } vis) SetInts(node, vis.Ints.ToArray(), [vis.Ints.Count]);
        else if (OnnxAttributes.Find(node, "value_float") is { } vf)
        {
            Set(node, 0, []);
            _floats[node.Output[0]] = [vf.F];
        }
        else if (OnnxAttributes.Find(node, "value_floats") is { } vfs)
        {
            Set(node, 0, [vfs.Floats.Count]);
            _floats[node.Output[0]] = vfs.Floats.ToArray();
        }
    }

    private void InferGemm(NodeProto node)
    {
        var a = In(node, 0);
        var b = In(node, 1);
        if (a.Length != 2 || b.Length != 2) throw new ArgumentException("Gemm needs matrices");
        long m = OnnxAttributes.GetInt(node, "transA", 0) != 0 ? a[1] : a[0];
        long n = OnnxAttributes.GetInt(node, "transB", 0) != 0 ? b[0] : b[1];
        Set(node, 0, [m, n]);
    }

    private void InferReshape(NodeProto node)
    {
        var x = In(node, 0);
        var target = IntValues(node.Input[1]) ?? throw new InvalidOperationException("shape not constant");
        bool allowZero = OnnxAttributes.GetInt(node, "allowzero", 0) != 0;
        var y = new long[target.Length];
        int inferred = -1;
        for (int i = 0; i < y.Length; i++)
        {
            if (target[i] == 0 && !allowZero) y[i] = x[i];
            else if (target[i] == -1) { inferred = i; y[i] = 1; }
            else y[i] = target[i];
        }
        if (inferred >= 0) y[inferred] = Product(x) / Product(y);
        Set(node, 0, y);
    }

    private void InferConcat(NodeProto node)
    {
        var first = In(node, 0);
        int axis = (int)NormalizeAxis(OnnxAttributes.GetInt(node, "axis", 0), first.Length);
        var y = first.ToArray();
        y[axis] = node.Input.Sum(i => _shapes[i][axis]);
        Set(node, 0, y);
        if (first.Length == 1 && node.Input.All(i => _ints.ContainsKey(i)))
            _ints[node.Output[0]] = node.Input.SelectMany(i => _ints[i]).ToArray();
    }

    private void InferGather(NodeProto node)
    {
        var data = In(node, 0);
        var indices = In(node, 1);
        int axis = (int)NormalizeAxis(OnnxAttributes.GetInt(node, "axis", 0), data.Length);
        var y = data[..axis].Concat(indices).Concat(data[(axis + 1)..]).ToArray();
        Set(node, 0, y);
        if (data.Length == 1 && IntValues(node.Input[0]) is { } dv && IntValues(node.Input[1]) is { } iv)
            _ints[node.Output[0]] = iv.Select(i => dv[i < 0 ? i + dv.Length : i]).ToArray();
    }

    private long[] AxesOf(NodeProto node)
    {
        if (HasInput(node, 1)) return IntValues(node.Input[1]) ?? throw new InvalidOperationException("axes not constant");
        return OnnxAttributes.GetInts(node, "axes") ?? [];
    }

    private void InferUnsqueeze(NodeProto node)
    {
        var x = In(node, 0);
        var axes = AxesOf(node);
        int rank = x.Length + axes.Length;
        var normalized = axes.Select(a => NormalizeAxis(a, rank)).ToHashSet();
        var y = new long[rank];
        int j = 0;
        for (int i = 0; i < rank; i++) y[i] = normalized.Contains(i) ? 1 : x[j++];
        Set(node, 0, y);
        if (IntValues(node.Input[0]) is { } v) _ints[node.Output[0]] = v;
    }

    private void InferSqueeze(NodeProto node)
    {
        var x = In(node, 0);
        var axes = HasInput(node, 1) || OnnxAttributes.Find(node, "axes") is not null
            ? AxesOf(node).Select(a => NormalizeAxis(a, x.Length)).ToHashSet()
            : Enumerable.Range(0, x.Length).Where(i => x[i] == 1).Select(i => (long)i).ToHashSet();
        Set(node, 0, x.Where((_, i) => !axes.Contains(i)).ToArray());
        if (IntValues(node.Input[0]) is { } v) _ints[node.Output[0]] = v;
    }

    private void InferSlice(NodeProto node)
    {
        var x = In(node, 0);
        var (starts, ends, axes, steps) = SliceArguments(node);
        var y = x.ToArray();
        var picked = new long[x.Length][];
        for (int i = 0; i < starts.Length; i++)
        {
            int axis = (int)NormalizeAxis(axes[i], x.Length);
            picked[axis] = SliceSource(starts[i], ends[i], steps[i], x[axis]);
            y[axis] = picked[axis].Length;
        }
        Set(node, 0, y);
        if (x.Length == 1 && IntValues(node.Input[0]) is { } v)
            _ints[node.Output[0]] = picked[0] is { } p ? p.Select(i => v[i]).ToArray() : v;
    }

    /// <summary>The input index read by each output position of a Slice along one axis (ONNX clamping rules, either step sign).</summary>
    public static long[] SliceSource(long start, long end, long step, long dim)
    {
        if (step == 0) throw new InvalidOperationException("a slice step of 0");
        // Clamp before adding dim: exporters write ±(2⁶³ − 1) for "to the end".
        start = start < 0 ? Math.Max(start, -dim - 1) + dim : start;
        end = end < 0 ? Math.Max(end, -dim - 1) + dim : end;
        var list = new List<long>();
        if (step > 0)
        {
            start = Math.Clamp(start, 0, dim);
            end = Math.Clamp(end, 0, dim);
            for (long i = start; i < end; i += step) list.Add(i);
        }
        else
        {
            start = Math.Clamp(start, 0, dim - 1);
            end = Math.Clamp(end, -1, dim - 1);
            for (long i = start; i > end; i += step) list.Add(i);
        }
        return list.ToArray();
    }

    /// <summary>Slice's starts, ends, axes and steps: inputs from opset 10, attributes before (no steps then).</summary>
    public (long[] Starts, long[] Ends, long[] Axes, long[] Steps) SliceArguments(NodeProto node)
    {
        long[] starts, ends;
        long[]? axes, steps = null;
        if (node.Input.Count > 1)
        {
            starts = IntValues(node.Input[1]) ?? throw new InvalidOperationException("starts not constant");
            ends = IntValues(node.Input[2]) ?? throw new InvalidOperationException("ends not constant");
            axes = HasInput(node, 3) ? IntValues(node.Input[3]) ?? throw new InvalidOperationException("axes not constant") : null;
            steps = HasInput(node, 4) ? IntValues(node.Input[4]) ?? throw new InvalidOperationException("steps not constant") : null;
        }
        else
        {
            starts = OnnxAttributes.GetInts(node, "starts") ?? throw new InvalidOperationException("starts missing");
            ends = OnnxAttributes.GetInts(node, "ends") ?? throw new InvalidOperationException("ends missing");
            axes = OnnxAttributes.GetInts(node, "axes");
        }
        if (ends.Length != starts.Length) throw new InvalidOperationException("starts and ends differ in length");
        axes ??= Enumerable.Range(0, starts.Length).Select(i => (long)i).ToArray();
        steps ??= Enumerable.Repeat(1L, starts.Length).ToArray();
        if (axes.Length != starts.Length || steps.Length != starts.Length) throw new InvalidOperationException("slice arguments differ in length");
        return (starts, ends, axes, steps);
    }

    /// <summary>
    /// The axes of a reduction: the <c>axes</c> input (ReduceSum from opset 13, the others from 18) or attribute;
    /// null means all axes (or none, with <c>noop_with_empty_axes</c>).
    /// </summary>
    public long[]? ReduceAxes(NodeProto node)
    {
        if (HasInput(node, 1))
        {
            var a = IntValues(node.Input[1]) ?? throw new InvalidOperationException("axes not constant");
            return a.Length > 0 ? a : null;
        }
        return OnnxAttributes.GetInts(node, "axes") is { Length: > 0 } attr ? attr : null;
    }

    private void InferReduce(NodeProto node)
    {
        var x = In(node, 0);
        var axes = ReduceAxes(node);
        bool keep = OnnxAttributes.GetInt(node, "keepdims", 1) != 0;
        if (axes is null && OnnxAttributes.GetInt(node, "noop_with_empty_axes", 0) != 0)
        {
            Set(node, 0, x);
            return;
        }
        var reduced = axes is null ? Enumerable.Range(0, x.Length).Select(i => (long)i).ToHashSet() : axes.Select(a => NormalizeAxis(a, x.Length)).ToHashSet();
        var y = new List<long>();
        for (int i = 0; i < x.Length; i++)
            if (!reduced.Contains(i)) y.Add(x[i]);
            else if (keep) y.Add(1);
        Set(node, 0, y.ToArray());
    }

    /// <summary>The sizes of Split's outputs along its axis: the <c>split</c> input (opset 13+) or attribute, or equal parts.</summary>
    public long[] SplitSizes(NodeProto node, long[] x)
    {
        int axis = (int)NormalizeAxis(OnnxAttributes.GetInt(node, "axis", 0), x.Length);
        long[]? split = HasInput(node, 1) ? IntValues(node.Input[1]) ?? throw new InvalidOperationException("split not constant")
            : OnnxAttributes.GetInts(node, "split");
        int parts = node.Output.Count;
        if (split is null || split.Length == 0)
        {
            long n = OnnxAttributes.GetInt(node, "num_outputs", parts);
            // Opset 18: the last chunk is smaller when the axis does not divide evenly.
            long chunk = (x[axis] + n - 1) / n;
            split = Enumerable.Range(0, (int)n).Select(i => Math.Min(chunk, Math.Max(0, x[axis] - i * chunk))).ToArray();
        }
        if (split.Length != parts || split.Sum() != x[axis]) throw new InvalidOperationException("split sizes do not add up");
        return split;
    }

    private void InferSplit(NodeProto node)
    {
        var x = In(node, 0);
        int axis = (int)NormalizeAxis(OnnxAttributes.GetInt(node, "axis", 0), x.Length);
        var sizes = SplitSizes(node, x);
        for (int i = 0; i < sizes.Length; i++)
        {
            var y = x.ToArray();
            y[axis] = sizes[i];
            Set(node, i, y);
        }
    }

    /// <summary>Pad's begin/end pads per axis (all begins, then all ends): the <c>pads</c> input (opset 11+, with optional <c>axes</c> from 18) or attribute.</summary>
    public long[] PadAmounts(NodeProto node, int rank)
    {
        long[] pads = HasInput(node, 1) ? IntValues(node.Input[1]) ?? throw new InvalidOperationException("pads not constant")
            : OnnxAttributes.GetInts(node, "pads") ?? throw new InvalidOperationException("pads missing");
        if (HasInput(node, 3))
        {
            var axes = IntValues(node.Input[3]) ?? throw new InvalidOperationException("axes not constant");
            if (pads.Length != 2 * axes.Length) throw new InvalidOperationException("pads and axes differ in length");
            var full = new long[2 * rank];
            for (int i = 0; i < axes.Length; i++)
            {
                int a = (int)NormalizeAxis(axes[i], rank);
                full[a] = pads[i];
                full[rank + a] = pads[axes.Length + i];
            }
            return full;
        }
        if (pads.Length != 2 * rank) throw new InvalidOperationException("pads length");
        return pads;
    }

    private void InferPad(NodeProto node)
    {
        var x = In(node, 0);
        var pads = PadAmounts(node, x.Length);
        Set(node, 0, x.Select((d, i) => d + pads[i] + pads[x.Length + i]).ToArray());
    }

    /// <summary>
    /// Resize/Upsample output sizes and per-axis scales (output/input when sizes are given): Upsample-7 reads the
    /// <c>scales</c> attribute, Upsample-9 and Resize-10 the second input, Resize-11+ <c>scales</c> (input 2) or
    /// <c>sizes</c> (input 3), with optional <c>axes</c> from opset 18.
    /// </summary>
    public (long[] Sizes, double[] Scales) ResizeGeometry(NodeProto node, long[] x)
    {
        float[]? scales = null;
        long[]? sizes = null;
        if (node.OpType == "Upsample" && OnnxAttributes.Find(node, "scales") is { } attr) scales = attr.Floats.ToArray();
        else if (node.OpType == "Upsample" || node.Input.Count == 2)
            scales = FloatValues(node.Input[1]) ?? throw new InvalidOperationException("scales not constant");
        else
        {
            if (HasInput(node, 3)) sizes = IntValues(node.Input[3]) ?? throw new InvalidOperationException("sizes not constant");
            else if (HasInput(node, 2))
                scales = FloatValues(node.Input[2]) is { Length: > 0 } sc ? sc : throw new InvalidOperationException("scales not constant");
            else throw new InvalidOperationException("neither scales nor sizes");
        }
        var axes = OnnxAttributes.GetInts(node, "axes")?.Select(a => (int)NormalizeAxis(a, x.Length)).ToArray()
            ?? Enumerable.Range(0, x.Length).ToArray();
        int given = sizes?.Length ?? scales!.Length;
        if (given != axes.Length) throw new InvalidOperationException("scales/sizes do not match the rank");
        var outSizes = x.ToArray();
        var outScales = Enumerable.Repeat(1.0, x.Length).ToArray();
        for (int i = 0; i < axes.Length; i++)
        {
            int a = axes[i];
            if (sizes is not null)
            {
                outSizes[a] = sizes[i];
                outScales[a] = (double)sizes[i] / x[a];
            }
            else
            {
                // Output size floor(in · scale), as ONNX defines it (the scale computed in float, as ONNX Runtime does).
                outScales[a] = scales![i];
                outSizes[a] = (long)Math.Floor(x[a] * (double)scales[i]);
            }
            if (outSizes[a] <= 0) throw new InvalidOperationException("empty resize output");
        }
        if (sizes is not null && OnnxAttributes.GetString(node, "keep_aspect_ratio_policy", "stretch") != "stretch")
            throw new InvalidOperationException("keep_aspect_ratio_policy");
        return (outSizes, outScales);
    }

    private void InferResize(NodeProto node) => Set(node, 0, ResizeGeometry(node, In(node, 0)).Sizes);

    public static long Product(IEnumerable<long> dims) => dims.Aggregate(1L, (a, b) => a * b);

    public static long NormalizeAxis(long axis, int rank)
    {
        long a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank) throw new ArgumentException($"axis {axis} out of range for rank {rank}");
        return a;
    }

    private static long NormalizeClamped(long axis, int rank) => Math.Clamp(axis < 0 ? axis + rank : axis, 0, rank);

    /// <summary>Numpy-style (ONNX multidirectional) broadcast of two shapes: align on the right, a 1 stretches.</summary>
    public static long[] Broadcast(long[] a, long[] b)
    {
        int r = Math.Max(a.Length, b.Length);
        var s = new long[r];
        for (int i = 0; i < r; i++)
        {
            long da = i - (r - a.Length) >= 0 ? a[i - (r - a.Length)] : 1;
            long db = i - (r - b.Length) >= 0 ? b[i - (r - b.Length)] : 1;
            if (da != db && da != 1 && db != 1)
                throw new ArgumentException($"shapes [{string.Join(", ", a)}] and [{string.Join(", ", b)}] are not broadcastable (axis {i}: {da} vs {db}).");
            s[i] = da == 1 ? db : da;
        }
        return s;
    }

    private static long[] MatMulShape(long[] a, long[] b)
    {
        if (a.Length < 2 || b.Length < 2) throw new ArgumentException("MatMul folding needs rank >= 2");
        var batch = Broadcast(a[..^2], b[..^2]);
        return [.. batch, a[^2], b[^1]];
    }

    /// <summary>Explicit begin/end pads per spatial axis, resolving <c>auto_pad</c> as ONNX defines it.</summary>
    public static (long[] Begin, long[] End) Pads(NodeProto node, long[] spatialIn, long[] kernel, long[] strides, long[] dilations)
    {
        int n = spatialIn.Length;
        var begin = new long[n];
        var end = new long[n];
        string autoPad = OnnxAttributes.GetString(node, "auto_pad", "NOTSET");
        if (autoPad is "SAME_UPPER" or "SAME_LOWER")
        {
            for (int i = 0; i < n; i++)
            {
                long outSize = (spatialIn[i] + strides[i] - 1) / strides[i];
                long total = Math.Max(0, (outSize - 1) * strides[i] + dilations[i] * (kernel[i] - 1) + 1 - spatialIn[i]);
                begin[i] = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2;
                end[i] = total - begin[i];
            }
        }
        else if (autoPad is "NOTSET" or "")
        {
            var pads = OnnxAttributes.GetInts(node, "pads");
            if (pads is not null)
            {
                if (pads.Length != 2 * n) throw new ArgumentException("pads length");
                for (int i = 0; i < n; i++) { begin[i] = pads[i]; end[i] = pads[n + i]; }
            }
        }
        else if (autoPad != "VALID") throw new ArgumentException($"auto_pad '{autoPad}'");
        return (begin, end);
    }

    /// <summary>Spatial geometry of a Conv or pooling node: kernel, strides, dilations and explicit pads.</summary>
    public static (long[] Kernel, long[] Strides, long[] Dilations, long[] Begin, long[] End) Geometry(NodeProto node, long[] x, long[] kernel)
    {
        int n = x.Length - 2;
        var strides = OnnxAttributes.GetInts(node, "strides") ?? Enumerable.Repeat(1L, n).ToArray();
        var dilations = OnnxAttributes.GetInts(node, "dilations") ?? Enumerable.Repeat(1L, n).ToArray();
        var (begin, end) = Pads(node, x[2..], kernel, strides, dilations);
        return (kernel, strides, dilations, begin, end);
    }

    private static long[] ConvShape(NodeProto node, long[] x, long[] w)
    {
        var kernel = OnnxAttributes.GetInts(node, "kernel_shape") ?? w[2..];
        var (k, s, d, b, e) = Geometry(node, x, kernel);
        var y = new long[x.Length];
        y[0] = x[0];
        y[1] = w[0];
        for (int i = 0; i < k.Length; i++) y[i + 2] = (x[i + 2] + b[i] + e[i] - d[i] * (k[i] - 1) - 1) / s[i] + 1;
        return y;
    }

    public static long[] PoolShape(NodeProto node, long[] x)
    {
        var kernel = OnnxAttributes.GetInts(node, "kernel_shape") ?? throw new ArgumentException("kernel_shape missing");
        var (k, s, d, b, e) = Geometry(node, x, kernel);
        bool ceil = OnnxAttributes.GetInt(node, "ceil_mode", 0) != 0;
        var y = new long[x.Length];
        y[0] = x[0];
        y[1] = x[1];
        for (int i = 0; i < k.Length; i++)
        {
            long span = x[i + 2] + b[i] + e[i] - d[i] * (k[i] - 1) - 1;
            long o = (ceil ? (span + s[i] - 1) / s[i] : span / s[i]) + 1;
            // As in ONNX Runtime and PyTorch: with ceil_mode the last window must start inside the input or its begin pad.
            if (ceil && (o - 1) * s[i] >= x[i + 2] + b[i]) o--;
            y[i + 2] = o;
        }
        return y;
    }
}
