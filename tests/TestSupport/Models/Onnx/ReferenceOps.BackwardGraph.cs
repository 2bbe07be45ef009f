using Saliency.Models.Onnx.Proto;
using static Saliency.Models.Onnx.OnnxAttributes;

using Saliency.Models.Onnx;

namespace Saliency.TestSupport;

/// <summary>
/// The ops that derivative graphs (the Jacobian exporter's backward rules) are made of, beyond the forward ops
/// of <see cref="OnnxGraphBuilder"/>: unary math, comparisons and logic (booleans are 0/1), Where, Cast, shape
/// computation (Shape, Size, ConstantOfShape, Expand, Unsqueeze, Squeeze, Slice, Gather), reductions, variadic
/// Sum/Max/Min, ConvTranspose, ScatterElements, LogSoftmax, Softplus, GlobalMaxPool. With them the float64
/// evaluator runs exported VJP models too, for derivative checks free of float32 rounding.
/// </summary>
internal static partial class ReferenceOps
{
    /// <summary>Op types implemented in this file.</summary>
    internal static readonly string[] BackwardGraphOps =
    [
        "Neg", "Abs", "Sign", "Exp", "Log", "Sqrt", "Reciprocal", "Pow", "Softplus", "LogSoftmax",
        "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "Equal", "And", "Or", "Xor", "Not", "Where", "Cast",
        "Shape", "Size", "ConstantOfShape", "Expand", "Unsqueeze", "Squeeze", "Slice", "Gather",
        "ReduceSum", "ReduceMean", "ReduceMax", "Sum", "Max", "Min", "ConvTranspose", "ScatterElements", "GlobalMaxPool",
    ];

    private static ReferenceTensor[] ApplyBackwardGraphOp(NodeProto node, ReferenceTensor?[] inputs, long opset)
    {
        ReferenceTensor In(int i) =>
            i < inputs.Length && inputs[i] is { } t ? t : throw new ArgumentException($"input #{i} is required.");
        ReferenceTensor? Opt(int i) => i < inputs.Length ? inputs[i] : null;
        ReferenceTensor[] All() => inputs.Select((t, i) => t ?? throw new ArgumentException($"input #{i} is empty.")).ToArray();

        switch (node.OpType)
        {
            case "Neg": return [Map(In(0), static v => -v)];
            case "Abs": return [Map(In(0), Math.Abs)];
            case "Sign": return [Map(In(0), static v => double.IsNaN(v) ? v : Math.Sign(v))];
            case "Exp": return [Map(In(0), Math.Exp)];
            case "Log": return [Map(In(0), Math.Log)];
            case "Sqrt": return [Map(In(0), Math.Sqrt)];
            case "Reciprocal": return [Map(In(0), static v => 1 / v)];
            case "Pow": return [Broadcast(In(0), In(1), Math.Pow)];
            // log(1 + eˣ) without overflow for large x.
            case "Softplus": return [Map(In(0), static v => v > 0 ? v + Math.Log(1 + Math.Exp(-v)) : Math.Log(1 + Math.Exp(v)))];
            case "LogSoftmax":
            {
                var s = Softmax(In(0), GetInt(node, "axis", opset >= 13 ? -1 : 1), opset >= 13);
                return [Map(s, Math.Log)];
            }
            case "Greater": return [Broadcast(In(0), In(1), static (a, b) => a > b ? 1 : 0)];
            case "Less": return [Broadcast(In(0), In(1), static (a, b) => a < b ? 1 : 0)];
            case "GreaterOrEqual": return [Broadcast(In(0), In(1), static (a, b) => a >= b ? 1 : 0)];
            case "LessOrEqual": return [Broadcast(In(0), In(1), static (a, b) => a <= b ? 1 : 0)];
            case "Equal": return [Broadcast(In(0), In(1), static (a, b) => a == b ? 1 : 0)];
            case "And": return [Broadcast(In(0), In(1), static (a, b) => a != 0 && b != 0 ? 1 : 0)];
            case "Or": return [Broadcast(In(0), In(1), static (a, b) => a != 0 || b != 0 ? 1 : 0)];
            case "Xor": return [Broadcast(In(0), In(1), static (a, b) => (a != 0) ^ (b != 0) ? 1 : 0)];
            case "Not": return [Map(In(0), static v => v == 0 ? 1 : 0)];
            case "Where": return [Where(In(0), In(1), In(2))];
            case "Cast": return [Cast(node, In(0))];
            case "Shape": return [Shape(node, In(0))];
            case "Size": return [new ReferenceTensor([In(0).Length], [])];
            case "ConstantOfShape": return [ConstantOfShape(node, In(0))];
            case "Expand": return [Broadcast(In(0), Zeros(Longs(In(1), "Expand shape")), static (a, _) => a)];
            case "Unsqueeze":
                return [Unsqueeze(In(0), opset >= 13 ? Longs(In(1), "Unsqueeze axes") : GetInts(node, "axes") ?? throw new ArgumentException("Unsqueeze needs axes."))];
            case "Squeeze":
                return [Squeeze(In(0), opset >= 13 ? (Opt(1) is { } squeezeAxes ? Longs(squeezeAxes, "Squeeze axes") : null) : GetInts(node, "axes"))];
            case "Slice" when opset < 10:
                return [Slice(In(0), GetInts(node, "starts") ?? throw new ArgumentException("Slice needs starts."),
                    GetInts(node, "ends") ?? throw new ArgumentException("Slice needs ends."), GetInts(node, "axes"), null)];
            case "Slice": return [Slice(In(0), Longs(In(1), "starts"), Longs(In(2), "ends"), Opt(3) is { } ax ? Longs(ax, "axes") : null, Opt(4) is { } st ? Longs(st, "steps") : null)];
            case "Gather": return [Gather(In(0), In(1), GetInt(node, "axis", 0))];
            case "ReduceSum":
            case "ReduceMean":
            case "ReduceMax":
            {
                // ReduceSum takes axes as an input from opset 13, ReduceMean/ReduceMax from opset 18.
                bool axesInput = node.OpType == "ReduceSum" ? opset >= 13 : opset >= 18;
                long[]? axes = axesInput ? (Opt(1) is { } axesTensor && axesTensor.Length > 0 ? Longs(axesTensor, "axes") : null) : GetInts(node, "axes");
                bool noopEmpty = GetInt(node, "noop_with_empty_axes", 0) != 0;
                if (axes is null && noopEmpty) return [In(0)];
                return [Reduce(In(0), axes, GetInt(node, "keepdims", 1) != 0, node.OpType)];
            }
            case "Sum": return [All().Aggregate((a, b) => Broadcast(a, b, static (x, y) => x + y))];
            case "Max": return [All().Aggregate((a, b) => Broadcast(a, b, Math.Max))];
            case "Min": return [All().Aggregate((a, b) => Broadcast(a, b, Math.Min))];
            case "ConvTranspose": return [ConvTranspose(node, In(0), In(1), Opt(2))];
            case "ScatterElements": return [ScatterElements(node, In(0), In(1), In(2))];
            case "GlobalMaxPool": return [GlobalMaxPool(In(0))];
            default: throw new NotSupportedException($"op '{node.OpType}' is not implemented by the reference evaluator.");
        }
    }

    private static ReferenceTensor Zeros(long[] shape)
    {
        if (shape.Any(d => d < 0)) throw new ArgumentException($"shape {ReferenceTensor.Format(shape)} has a negative dimension.");
        return new ReferenceTensor(NewData(ReferenceTensor.ElementCount(shape)), shape);
    }

    /// <summary>An integer-valued tensor (shape, axes, indices) as longs; non-integers are an error.</summary>
    private static long[] Longs(ReferenceTensor t, string what)
    {
        var r = new long[t.Length];
        for (int i = 0; i < r.Length; i++)
        {
            double v = t.Data[i];
            if (v != Math.Floor(v) || double.IsInfinity(v))
                throw new ArgumentException($"{what} must hold integers, found {v}.");
            r[i] = (long)v;
        }
        return r;
    }

    private static ReferenceTensor Where(ReferenceTensor cond, ReferenceTensor a, ReferenceTensor b)
    {
        long[] shape = BroadcastShape(BroadcastShape(cond.Shape, a.Shape), b.Shape);
        var y = NewData(ReferenceTensor.ElementCount(shape));
        var index = new long[shape.Length];
        for (long k = 0; k < y.Length; k++)
        {
            y[k] = cond.Data[BroadcastOffset(index, cond.Shape)] != 0 ? a.Data[BroadcastOffset(index, a.Shape)] : b.Data[BroadcastOffset(index, b.Shape)];
            Increment(index, shape);
        }
        return new ReferenceTensor(y, shape);
    }

    /// <summary>
    /// Cast. Values stay float64 for the float types (the reference does not round to float32 on purpose);
    /// integer targets truncate toward zero, BOOL maps non-zero to 1.
    /// </summary>
    private static ReferenceTensor Cast(NodeProto node, ReferenceTensor x)
    {
        var to = (OnnxElementType)GetInt(node, "to", 0);
        return to switch
        {
            OnnxElementType.Float or OnnxElementType.Double or OnnxElementType.Float16 or OnnxElementType.BFloat16 => x,
            OnnxElementType.Bool => Map(x, static v => v != 0 ? 1 : 0),
            OnnxElementType.Int64 or OnnxElementType.Int32 or OnnxElementType.Int16 or OnnxElementType.Int8
                or OnnxElementType.UInt8 or OnnxElementType.UInt16 or OnnxElementType.UInt32 or OnnxElementType.UInt64 => Map(x, Math.Truncate),
            _ => throw new NotSupportedException($"Cast to {to} is not supported by the reference evaluator."),
        };
    }

    private static ReferenceTensor Shape(NodeProto node, ReferenceTensor x)
    {
        int r = x.Rank;
        long start = GetInt(node, "start", 0), end = GetInt(node, "end", r);
        start = Math.Clamp(start < 0 ? start + r : start, 0, r);
        end = Math.Clamp(end < 0 ? end + r : end, 0, r);
        var dims = x.Shape.Skip((int)start).Take((int)Math.Max(0, end - start)).Select(d => (double)d).ToArray();
        return new ReferenceTensor(dims, [dims.Length]);
    }

    private static ReferenceTensor ConstantOfShape(NodeProto node, ReferenceTensor shapeTensor)
    {
        long[] shape = Longs(shapeTensor, "ConstantOfShape shape");
        double value = Find(node, "value")?.T is { } t ? OnnxTensors.ToDoubleArray(t).Single() : 0.0;
        var y = NewData(ReferenceTensor.ElementCount(shape));
        Array.Fill(y, value);
        return new ReferenceTensor(y, shape);
    }

    private static ReferenceTensor Unsqueeze(ReferenceTensor x, long[] axes)
    {
        int r = x.Rank + axes.Length;
        var normalized = axes.Select(a => NormalizeAxis(a, r, "Unsqueeze")).ToHashSet();
        if (normalized.Count != axes.Length) throw new ArgumentException("Unsqueeze axes repeat.");
        var shape = new long[r];
        for (int i = 0, k = 0; i < r; i++) shape[i] = normalized.Contains(i) ? 1 : x.Shape[k++];
        return new ReferenceTensor(x.Data, shape);
    }

    private static ReferenceTensor Squeeze(ReferenceTensor x, long[]? axes)
    {
        HashSet<int> drop = axes is null
            ? Enumerable.Range(0, x.Rank).Where(i => x.Shape[i] == 1).ToHashSet()
            : axes.Select(a => NormalizeAxis(a, x.Rank, "Squeeze")).ToHashSet();
        foreach (int a in drop)
            if (x.Shape[a] != 1) throw new ArgumentException($"Squeeze axis {a} has size {x.Shape[a]}, not 1.");
        return new ReferenceTensor(x.Data, x.Shape.Where((_, i) => !drop.Contains(i)).ToArray());
    }

    /// <summary>numpy-style slicing per axis with ONNX clamping rules (negative indices count from the end).</summary>
    private static ReferenceTensor Slice(ReferenceTensor x, long[] starts, long[] ends, long[]? axes, long[]? steps)
    {
        int r = x.Rank;
        axes ??= Enumerable.Range(0, starts.Length).Select(i => (long)i).ToArray();
        steps ??= Enumerable.Repeat(1L, starts.Length).ToArray();
        if (ends.Length != starts.Length || axes.Length != starts.Length || steps.Length != starts.Length)
            throw new ArgumentException("Slice starts, ends, axes and steps differ in length.");
        var begin = new long[r];
        var step = Enumerable.Repeat(1L, r).ToArray();
        var shape = (long[])x.Shape.Clone();
        for (int k = 0; k < starts.Length; k++)
        {
            int a = NormalizeAxis(axes[k], r, "Slice");
            long dim = x.Shape[a], s = steps[k];
            if (s == 0) throw new ArgumentException("Slice step 0.");
            long st = starts[k] < 0 ? starts[k] + dim : starts[k];
            long en = ends[k] < 0 ? ends[k] + dim : ends[k];
            if (s > 0) { st = Math.Clamp(st, 0, dim); en = Math.Clamp(en, 0, dim); shape[a] = Math.Max(0, (en - st + s - 1) / s); }
            else { st = Math.Clamp(st, -1, dim - 1); en = Math.Clamp(en, -1, dim - 1); shape[a] = Math.Max(0, (st - en - s - 1) / -s); }
            begin[a] = st;
            step[a] = s;
        }
        long[] inStrides = ReferenceTensor.Strides(x.Shape);
        var y = NewData(ReferenceTensor.ElementCount(shape));
        var index = new long[r];
        for (long k = 0; k < y.Length; k++)
        {
            long at = 0;
            for (int i = 0; i < r; i++) at += (begin[i] + index[i] * step[i]) * inStrides[i];
            y[k] = x.Data[at];
            Increment(index, shape);
        }
        return new ReferenceTensor(y, shape);
    }

    private static ReferenceTensor Gather(ReferenceTensor x, ReferenceTensor indices, long axis)
    {
        int ax = NormalizeAxis(axis, x.Rank, "Gather");
        long[] idx = Longs(indices, "Gather indices");
        long dim = x.Shape[ax];
        for (int i = 0; i < idx.Length; i++)
        {
            if (idx[i] < -dim || idx[i] >= dim) throw new ArgumentException($"Gather index {idx[i]} is out of range for size {dim}.");
            if (idx[i] < 0) idx[i] += dim;
        }
        long outer = 1, inner = 1;
        for (int i = 0; i < ax; i++) outer *= x.Shape[i];
        for (int i = ax + 1; i < x.Rank; i++) inner *= x.Shape[i];
        var y = NewData(checked(outer * idx.Length * inner));
        for (long o = 0; o < outer; o++)
            for (long j = 0; j < idx.Length; j++)
                Array.Copy(x.Data, (o * dim + idx[j]) * inner, y, (o * idx.Length + j) * inner, inner);
        long[] shape = [.. x.Shape[..ax], .. indices.Shape, .. x.Shape[(ax + 1)..]];
        return new ReferenceTensor(y, shape);
    }

    private static ReferenceTensor Reduce(ReferenceTensor x, long[]? axes, bool keepDims, string op)
    {
        int r = x.Rank;
        var reduce = axes is null ? Enumerable.Range(0, r).ToHashSet() : axes.Select(a => NormalizeAxis(a, r, op)).ToHashSet();
        long[] kept = x.Shape.Select((d, i) => reduce.Contains(i) ? 1L : d).ToArray();
        var acc = NewData(ReferenceTensor.ElementCount(kept));
        if (op == "ReduceMax") Array.Fill(acc, double.NegativeInfinity);
        var index = new long[r];
        for (long k = 0; k < x.Length; k++)
        {
            long o = BroadcastOffset(index, kept);
            acc[o] = op == "ReduceMax" ? Math.Max(acc[o], x.Data[k]) : acc[o] + x.Data[k];
            Increment(index, x.Shape);
        }
        if (op == "ReduceMean")
        {
            long count = x.Length / Math.Max(1, acc.Length);
            for (int i = 0; i < acc.Length; i++) acc[i] /= count;
        }
        return new ReferenceTensor(acc, keepDims ? kept : x.Shape.Where((_, i) => !reduce.Contains(i)).ToArray());
    }

    /// <summary>
    /// ConvTranspose (2-D, or 1-D lifted): every input pixel scatters its kernel-weighted value,
    /// y[n, g·M/g + m, i·s − p + u·d, …] += x[n, c, i, …] · W[c, m, u, …]. Output size
    /// s(in − 1) + output_padding + d(k − 1) + 1 − pad_begin − pad_end, or <c>output_shape</c> when given.
    /// </summary>
    private static ReferenceTensor ConvTranspose(NodeProto node, ReferenceTensor x, ReferenceTensor w, ReferenceTensor? bias)
    {
        bool oneD = x.Rank == 3;
        long[] xs = As2D(x.Shape, "ConvTranspose");
        if (w.Rank != x.Rank) throw new ArgumentException($"ConvTranspose weight rank {w.Rank} differs from input rank {x.Rank}.");
        long[] ws = As2D(w.Shape, "ConvTranspose");
        if (oneD)
        {
            node = Lift1D(node);
            foreach (var a in node.Attribute)
                if (a.Name is "output_padding" or "output_shape" && a.Ints.Count == 1)
                    a.Ints.Insert(0, a.Name == "output_shape" ? 1 : 0);
        }
        long n = xs[0], c = xs[1], h = xs[2], wd = xs[3];
        long group = GetInt(node, "group", 1);
        if (group <= 0 || c % group != 0 || ws[0] != c)
            throw new ArgumentException($"ConvTranspose weight {ReferenceTensor.Format(w.Shape)} does not match {c} input channels and group {group}.");
        long mg = ws[1], m = mg * group, kh = ws[2], kw = ws[3], cg = c / group;
        if (bias is not null && bias.Length != m) throw new ArgumentException($"ConvTranspose bias must have {m} values.");
        long[] strides = GetInts(node, "strides") ?? [1, 1];
        long[] dilations = GetInts(node, "dilations") ?? [1, 1];
        long[] outPad = GetInts(node, "output_padding") ?? [0, 0];
        long[] pads = GetInts(node, "pads") ?? [0, 0, 0, 0];
        long[]? outputShape = GetInts(node, "output_shape");
        string autoPad = GetString(node, "auto_pad", "NOTSET");
        if (strides.Length != 2 || dilations.Length != 2 || outPad.Length != 2 || pads.Length != 4)
            throw new ArgumentException("ConvTranspose attributes do not match the spatial rank.");
        long[] inSize = [h, wd], kernel = [kh, kw];
        var begin = new long[2];
        var size = new long[2];
        for (int i = 0; i < 2; i++)
        {
            long full = checked(strides[i] * (inSize[i] - 1) + outPad[i] + dilations[i] * (kernel[i] - 1) + 1);
            if (outputShape is not null || autoPad is "SAME_UPPER" or "SAME_LOWER")
            {
                long target = outputShape is not null ? outputShape[outputShape.Length - 2 + i] : inSize[i] * strides[i];
                long total = full - target;
                begin[i] = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2;
                size[i] = target;
            }
            else
            {
                if (autoPad == "VALID") { pads[i] = 0; pads[i + 2] = 0; }
                begin[i] = pads[i];
                size[i] = full - pads[i] - pads[i + 2];
            }
            if (size[i] <= 0) throw new ArgumentException($"ConvTranspose output size {size[i]} at spatial axis {i} is not positive.");
        }
        long oh = size[0], ow = size[1];
        var y = NewData(checked(n * m * oh * ow));
        for (long b = 0; b < n; b++)
            for (long ic = 0; ic < c; ic++)
            {
                long g = ic / cg;
                for (long i = 0; i < h; i++)
                    for (long j = 0; j < wd; j++)
                    {
                        double v = x.Data[((b * c + ic) * h + i) * wd + j];
                        for (long om = 0; om < mg; om++)
                            for (long u = 0; u < kh; u++)
                            {
                                long yy = i * strides[0] - begin[0] + u * dilations[0];
                                if (yy < 0 || yy >= oh) continue;
                                for (long q = 0; q < kw; q++)
                                {
                                    long xx = j * strides[1] - begin[1] + q * dilations[1];
                                    if (xx < 0 || xx >= ow) continue;
                                    y[((b * m + g * mg + om) * oh + yy) * ow + xx] += v * w.Data[((ic * mg + om) * kh + u) * kw + q];
                                }
                            }
                    }
            }
        if (bias is not null)
            for (long b = 0; b < n; b++)
                for (long oc = 0; oc < m; oc++)
                    for (long p = 0; p < oh * ow; p++)
                        y[(b * m + oc) * oh * ow + p] += bias.Data[oc];
        return new ReferenceTensor(y, oneD ? [n, m, ow] : [n, m, oh, ow]);
    }

    /// <summary>ScatterElements: a copy of data with data[index with axis replaced by indices[…]] = / += / *= updates[…].</summary>
    private static ReferenceTensor ScatterElements(NodeProto node, ReferenceTensor data, ReferenceTensor indices, ReferenceTensor updates)
    {
        int r = data.Rank;
        int ax = NormalizeAxis(GetInt(node, "axis", 0), r, "ScatterElements");
        string reduction = GetString(node, "reduction", "none");
        if (indices.Rank != r || !indices.Shape.SequenceEqual(updates.Shape))
            throw new ArgumentException($"ScatterElements indices {ReferenceTensor.Format(indices.Shape)} and updates {ReferenceTensor.Format(updates.Shape)} must have equal shapes of the data's rank {r}.");
        long[] idx = Longs(indices, "ScatterElements indices");
        long[] strides = ReferenceTensor.Strides(data.Shape);
        var y = (double[])data.Data.Clone();
        var index = new long[r];
        for (long k = 0; k < idx.Length; k++)
        {
            long target = idx[k], dim = data.Shape[ax];
            if (target < -dim || target >= dim) throw new ArgumentException($"ScatterElements index {target} is out of range for size {dim}.");
            if (target < 0) target += dim;
            long at = 0;
            for (int i = 0; i < r; i++)
            {
                long coord = i == ax ? target : index[i];
                if (coord >= data.Shape[i]) throw new ArgumentException($"ScatterElements indices exceed the data at axis {i}.");
                at += coord * strides[i];
            }
            y[at] = reduction switch
            {
                "none" => updates.Data[k],
                "add" => y[at] + updates.Data[k],
                "mul" => y[at] * updates.Data[k],
                "max" => Math.Max(y[at], updates.Data[k]),
                "min" => Math.Min(y[at], updates.Data[k]),
                _ => throw new ArgumentException($"ScatterElements reduction '{reduction}' is unknown."),
            };
            Increment(index, indices.Shape);
        }
        return new ReferenceTensor(y, data.Shape);
    }

    private static ReferenceTensor GlobalMaxPool(ReferenceTensor x)
    {
        if (x.Rank < 3) throw new ArgumentException($"GlobalMaxPool needs rank ≥ 3, got {ReferenceTensor.Format(x.Shape)}.");
        return Reduce(x, Enumerable.Range(2, x.Rank - 2).Select(i => (long)i).ToArray(), keepDims: true, "ReduceMax");
    }
}
