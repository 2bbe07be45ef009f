using Saliency.Models.Onnx.Proto;
using static Saliency.Models.Onnx.OnnxAttributes;

using Saliency.Models.Onnx;

namespace Saliency.TestSupport;

/// <summary>
/// The op implementations of <see cref="ReferenceEvaluator"/>, written as direct transcriptions of the
/// ONNX operator definitions (plain loops over output positions). Shape errors throw
/// <see cref="ArgumentException"/>; the evaluator adds the node's name.
/// </summary>
internal static partial class ReferenceOps
{
    public static ReferenceTensor[] Apply(NodeProto node, ReferenceTensor?[] inputs, long opset)
    {
        ReferenceTensor In(int i) =>
            i < inputs.Length && inputs[i] is { } t ? t : throw new ArgumentException($"input #{i} is required.");
        ReferenceTensor? Opt(int i) => i < inputs.Length ? inputs[i] : null;

        switch (node.OpType)
        {
            case "Add": return [Broadcast(In(0), In(1), static (a, b) => a + b)];
            case "Sub": return [Broadcast(In(0), In(1), static (a, b) => a - b)];
            case "Mul": return [Broadcast(In(0), In(1), static (a, b) => a * b)];
            case "Div": return [Broadcast(In(0), In(1), static (a, b) => a / b)];
            case "Relu": return [Map(In(0), static v => v > 0 ? v : 0)];
            case "LeakyRelu":
            {
                double alpha = GetFloat(node, "alpha", 0.01f);
                return [Map(In(0), v => v >= 0 ? v : alpha * v)];
            }
            case "Sigmoid": return [Map(In(0), static v => v >= 0 ? 1 / (1 + Math.Exp(-v)) : Math.Exp(v) / (1 + Math.Exp(v)))];
            case "Tanh": return [Map(In(0), Math.Tanh)];
            case "Identity": return [In(0)];
            case "Dropout": return Dropout(node, In(0), Opt(2), node.Output.Count);
            case "Clip": return [Clip(node, In(0), Opt(1), Opt(2), opset)];
            case "Softmax": return [Softmax(In(0), GetInt(node, "axis", opset >= 13 ? -1 : 1), opset >= 13)];
            case "Gemm": return [Gemm(node, In(0), In(1), Opt(2))];
            case "MatMul": return [MatMul(In(0), In(1))];
            case "Conv": return [Conv(node, In(0), In(1), Opt(2))];
            case "MaxPool": return MaxPool(node, In(0), node.Output.Count > 1 && node.Output[1].Length > 0);
            case "AveragePool": return [AveragePool(node, In(0))];
            case "GlobalAveragePool": return [GlobalAveragePool(In(0))];
            case "BatchNormalization": return [BatchNormalization(node, In(0), In(1), In(2), In(3), In(4))];
            case "Flatten": return [Flatten(In(0), GetInt(node, "axis", 1))];
            case "Reshape":
                return [Reshape(In(0), opset >= 5 ? In(1).Data.Select(v => (long)v).ToArray()
                                                : GetInts(node, "shape") ?? throw new ArgumentException("Reshape-1 needs a 'shape' attribute."),
                                GetInt(node, "allowzero", 0) != 0)];
            case "Transpose": return [Transpose(In(0), GetInts(node, "perm"))];
            case "Concat":
                return [Concat(inputs.Select((t, i) => t ?? throw new ArgumentException($"Concat input #{i} is empty.")).ToArray(),
                               Find(node, "axis")?.I ?? throw new ArgumentException("Concat needs an 'axis' attribute."))];
            case "Constant": return [Constant(node)];
            default: return ApplyFamilyOp(node, inputs, opset) ?? ApplyBackwardGraphOp(node, inputs, opset);
        }
    }

    /// <summary>Largest tensor the evaluator allocates (2²⁸ doubles = 2 GiB): a model asking for more is refused, not attempted.</summary>
    public const long MaxElements = 1L << 28;

    /// <summary>A zeroed buffer for an op's output, refusing sizes beyond <see cref="MaxElements"/>.</summary>
    private static double[] NewData(long count) =>
        count >= 0 && count <= MaxElements
            ? new double[count]
            : throw new ArgumentException($"the output would have {count} elements, more than the reference evaluator's limit of {MaxElements}.");

    // ---- elementwise ----------------------------------------------------------------------------------

    private static ReferenceTensor Map(ReferenceTensor x, Func<double, double> f)
    {
        var y = NewData(x.Length);
        for (int i = 0; i < y.Length; i++) y[i] = f(x.Data[i]);
        return new ReferenceTensor(y, x.Shape);
    }

    /// <summary>ONNX multidirectional (numpy) broadcasting: align trailing dims; a dim of 1 stretches.</summary>
    public static long[] BroadcastShape(long[] a, long[] b)
    {
        int r = Math.Max(a.Length, b.Length);
        var s = new long[r];
        for (int i = 0; i < r; i++)
        {
            long da = i - (r - a.Length) >= 0 ? a[i - (r - a.Length)] : 1;
            long db = i - (r - b.Length) >= 0 ? b[i - (r - b.Length)] : 1;
            if (da != db && da != 1 && db != 1)
                throw new ArgumentException($"shapes {ReferenceTensor.Format(a)} and {ReferenceTensor.Format(b)} are not broadcastable (axis {i}: {da} vs {db}).");
            s[i] = da == 1 ? db : da;
        }
        return s;
    }

    /// <summary>Offset of output position <paramref name="index"/> (output coordinates) into a broadcast operand.</summary>
    private static long BroadcastOffset(long[] outIndex, long[] shape)
    {
        int shift = outIndex.Length - shape.Length;
        long offset = 0;
        for (int i = 0; i < shape.Length; i++)
            offset = offset * shape[i] + (shape[i] == 1 ? 0 : outIndex[i + shift]);
        return offset;
    }

    private static ReferenceTensor Broadcast(ReferenceTensor a, ReferenceTensor b, Func<double, double, double> f)
    {
        var shape = BroadcastShape(a.Shape, b.Shape);
        var y = NewData(ReferenceTensor.ElementCount(shape));
        var index = new long[shape.Length];
        for (long k = 0; k < y.Length; k++)
        {
            y[k] = f(a.Data[BroadcastOffset(index, a.Shape)], b.Data[BroadcastOffset(index, b.Shape)]);
            Increment(index, shape);
        }
        return new ReferenceTensor(y, shape);
    }

    /// <summary>Advances a row-major multi-index by one.</summary>
    private static void Increment(long[] index, long[] shape)
    {
        for (int i = index.Length - 1; i >= 0; i--)
        {
            if (++index[i] < shape[i]) return;
            index[i] = 0;
        }
    }

    private static ReferenceTensor Clip(NodeProto node, ReferenceTensor x, ReferenceTensor? min, ReferenceTensor? max, long opset)
    {
        double lo, hi;
        if (opset >= 11)
        {
            lo = min is null ? double.NegativeInfinity : Scalar(min, "Clip min");
            hi = max is null ? double.PositiveInfinity : Scalar(max, "Clip max");
        }
        else
        {
            lo = Find(node, "min")?.F ?? float.MinValue;
            hi = Find(node, "max")?.F ?? float.MaxValue;
        }
        return Map(x, v => Math.Min(Math.Max(v, lo), hi));
    }

    private static double Scalar(ReferenceTensor t, string what) =>
        t.Length == 1 ? t.Data[0] : throw new ArgumentException($"{what} must be a scalar, got shape {ReferenceTensor.Format(t.Shape)}.");

    private static ReferenceTensor[] Dropout(NodeProto node, ReferenceTensor x, ReferenceTensor? trainingMode, int outputCount)
    {
        if (trainingMode is not null && Scalar(trainingMode, "Dropout training_mode") != 0)
            throw new NotSupportedException("Dropout in training mode is random; the reference evaluator evaluates inference only.");
        if (GetInt(node, "is_test", 1) == 0 && node.Attribute.Any(a => a.Name == "is_test"))
            throw new NotSupportedException("Dropout with is_test = 0 is training mode; the reference evaluator evaluates inference only.");
        var mask = new ReferenceTensor(Enumerable.Repeat(1.0, x.Length).ToArray(), x.Shape);
        return outputCount > 1 ? [x, mask] : [x];
    }

    private static ReferenceTensor Softmax(ReferenceTensor x, long axis, bool singleAxis)
    {
        int r = x.Rank;
        int ax = NormalizeAxis(axis, r, "Softmax");
        // opset ≥ 13: softmax along one axis; before: over the flattened trailing block [axis, r).
        long inner = 1, mid = 1, outer = 1;
        for (int i = 0; i < ax; i++) outer *= x.Shape[i];
        if (singleAxis)
        {
            mid = x.Shape[ax];
            for (int i = ax + 1; i < r; i++) inner *= x.Shape[i];
        }
        else
        {
            for (int i = ax; i < r; i++) mid *= x.Shape[i];
        }
        var y = NewData(x.Length);
        for (long o = 0; o < outer; o++)
            for (long j = 0; j < inner; j++)
            {
                double max = double.NegativeInfinity;
                for (long m = 0; m < mid; m++) max = Math.Max(max, x.Data[(o * mid + m) * inner + j]);
                double sum = 0;
                for (long m = 0; m < mid; m++) sum += y[(o * mid + m) * inner + j] = Math.Exp(x.Data[(o * mid + m) * inner + j] - max);
                for (long m = 0; m < mid; m++) y[(o * mid + m) * inner + j] /= sum;
            }
        return new ReferenceTensor(y, x.Shape);
    }

    // ---- linear algebra -------------------------------------------------------------------------------

    private static ReferenceTensor Gemm(NodeProto node, ReferenceTensor a, ReferenceTensor b, ReferenceTensor? c)
    {
        if (a.Rank != 2 || b.Rank != 2)
            throw new ArgumentException($"Gemm needs 2-D A and B, got {ReferenceTensor.Format(a.Shape)} and {ReferenceTensor.Format(b.Shape)}.");
        double alpha = GetFloat(node, "alpha", 1f), beta = GetFloat(node, "beta", 1f);
        bool ta = GetInt(node, "transA", 0) != 0, tb = GetInt(node, "transB", 0) != 0;
        long m = ta ? a.Shape[1] : a.Shape[0], k = ta ? a.Shape[0] : a.Shape[1];
        long kb = tb ? b.Shape[1] : b.Shape[0], n = tb ? b.Shape[0] : b.Shape[1];
        if (k != kb)
            throw new ArgumentException($"Gemm inner dimensions differ: op(A) is [{m}, {k}], op(B) is [{kb}, {n}].");
        long[] cShape = c?.Shape ?? [];
        if (c is not null) BroadcastToExactly(c.Shape, [m, n], "Gemm C");
        var y = NewData(checked(m * n));
        for (long i = 0; i < m; i++)
            for (long j = 0; j < n; j++)
            {
                double s = 0;
                for (long p = 0; p < k; p++)
                    s += a.Data[ta ? p * m + i : i * k + p] * b.Data[tb ? j * k + p : p * n + j];
                y[i * n + j] = alpha * s + (c is null ? 0 : beta * c.Data[BroadcastOffset([i, j], cShape)]);
            }
        return new ReferenceTensor(y, [m, n]);
    }

    private static void BroadcastToExactly(long[] from, long[] to, string what)
    {
        long[] s = BroadcastShape(from, to);
        if (!s.SequenceEqual(to))
            throw new ArgumentException($"{what} of shape {ReferenceTensor.Format(from)} does not broadcast to {ReferenceTensor.Format(to)}.");
    }

    /// <summary>numpy matmul: 1-D operands get a dim prepended (A) or appended (B) and removed after; batch dims broadcast.</summary>
    private static ReferenceTensor MatMul(ReferenceTensor a, ReferenceTensor b)
    {
        if (a.Rank == 0 || b.Rank == 0) throw new ArgumentException("MatMul operands must have rank ≥ 1.");
        long[] sa = a.Rank == 1 ? [1, a.Shape[0]] : a.Shape;
        long[] sb = b.Rank == 1 ? [b.Shape[0], 1] : b.Shape;
        long m = sa[^2], k = sa[^1], kb = sb[^2], n = sb[^1];
        if (k != kb)
            throw new ArgumentException($"MatMul inner dimensions differ: {ReferenceTensor.Format(a.Shape)} × {ReferenceTensor.Format(b.Shape)}.");
        long[] batchA = sa[..^2], batchB = sb[..^2];
        long[] batch = BroadcastShape(batchA, batchB);
        long batchCount = ReferenceTensor.ElementCount(batch);
        var y = NewData(checked(batchCount * m * n));
        var index = new long[batch.Length];
        for (long t = 0; t < batchCount; t++)
        {
            long oa = BroadcastOffset(index, batchA) * m * k, ob = BroadcastOffset(index, batchB) * k * n;
            for (long i = 0; i < m; i++)
                for (long j = 0; j < n; j++)
                {
                    double s = 0;
                    for (long p = 0; p < k; p++) s += a.Data[oa + i * k + p] * b.Data[ob + p * n + j];
                    y[(t * m + i) * n + j] = s;
                }
            Increment(index, batch);
        }
        var shape = new List<long>(batch);
        if (a.Rank > 1) shape.Add(m);
        if (b.Rank > 1) shape.Add(n);
        return new ReferenceTensor(y, shape.ToArray());
    }

    // ---- convolution and pooling (NCHW) ---------------------------------------------------------------

    /// <summary>Spatial geometry shared by Conv and the pools: kernel, strides, dilations, begin/end pads, output size.</summary>
    private readonly record struct Window(long[] Kernel, long[] Strides, long[] Dilations, long[] PadBegin, long[] Output);

    /// <param name="ceilMode">Pools only: round the output size up (ONNX ceil_mode), dropping a last window that would
    /// start beyond the input and its leading padding, as ONNX Runtime does.</param>
    private static Window Geometry(NodeProto node, long[] spatial, long[] kernel, bool ceilMode = false)
    {
        int r = spatial.Length;
        long[] strides = GetInts(node, "strides") ?? Enumerable.Repeat(1L, r).ToArray();
        long[] dilations = GetInts(node, "dilations") ?? Enumerable.Repeat(1L, r).ToArray();
        long[] pads = GetInts(node, "pads") ?? new long[2 * r];
        string autoPad = GetString(node, "auto_pad", "NOTSET");
        if (strides.Length != r || dilations.Length != r || pads.Length != 2 * r || kernel.Length != r)
            throw new ArgumentException($"{node.OpType} attributes do not match spatial rank {r} (strides {strides.Length}, dilations {dilations.Length}, pads {pads.Length}, kernel {kernel.Length}).");
        if (strides.Any(s => s <= 0) || dilations.Any(d => d <= 0) || pads.Any(p => p < 0) || kernel.Any(k => k <= 0))
            throw new ArgumentException($"{node.OpType} needs positive strides, dilations and kernel and non-negative pads.");
        var padBegin = new long[r];
        var output = new long[r];
        for (int i = 0; i < r; i++)
        {
            long effective = checked(dilations[i] * (kernel[i] - 1) + 1);
            long begin = pads[i], end = pads[i + r];
            switch (autoPad)
            {
                case "NOTSET": break;
                case "VALID": begin = end = 0; break;
                case "SAME_UPPER":
                case "SAME_LOWER":
                {
                    long outSize = (spatial[i] + strides[i] - 1) / strides[i];
                    long total = Math.Max(0, (outSize - 1) * strides[i] + effective - spatial[i]);
                    // SAME_UPPER puts the odd extra pad at the end, SAME_LOWER at the beginning.
                    begin = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2;
                    end = total - begin;
                    break;
                }
                default: throw new ArgumentException($"unknown auto_pad '{autoPad}'.");
            }
            long span = checked(spatial[i] + begin + end - effective);
            if (span < 0)
                throw new ArgumentException($"{node.OpType} window (effective size {effective}) is larger than the padded input ({spatial[i] + begin + end}) at spatial axis {i}.");
            padBegin[i] = begin;
            output[i] = span / strides[i] + 1;
            if (ceilMode && span % strides[i] != 0)
            {
                output[i]++;
                if ((output[i] - 1) * strides[i] >= spatial[i] + begin) output[i]--;
            }
        }
        return new Window(kernel, strides, dilations, padBegin, output);
    }

    /// <summary>Brings a rank-3 (1-D) tensor to rank 4 by inserting a unit height; rank 4 is returned as is.</summary>
    private static long[] As2D(long[] shape, string op)
    {
        if (shape.Length == 4) return shape;
        if (shape.Length == 3) return [shape[0], shape[1], 1, shape[2]];
        throw new NotSupportedException($"{op} on rank-{shape.Length} tensors: the reference evaluator supports 1-D and 2-D spatial data (rank 3 or 4).");
    }

    /// <summary>Attribute arrays of a 1-D op extended to 2-D with a trivial height axis.</summary>
    private static NodeProto Lift1D(NodeProto node)
    {
        var lifted = node.Clone();
        foreach (var a in lifted.Attribute)
        {
            if (a.Name is "strides" or "dilations" or "kernel_shape") { a.Ints.Insert(0, 1); }
            else if (a.Name == "pads" && a.Ints.Count == 2) { long b = a.Ints[0], e = a.Ints[1]; a.Ints.Clear(); a.Ints.AddRange([0, b, 0, e]); }
        }
        return lifted;
    }

    private static ReferenceTensor Conv(NodeProto node, ReferenceTensor x, ReferenceTensor w, ReferenceTensor? bias)
    {
        bool oneD = x.Rank == 3;
        long[] xs = As2D(x.Shape, "Conv");
        if (w.Rank != x.Rank)
            throw new ArgumentException($"Conv weight rank {w.Rank} differs from input rank {x.Rank}.");
        long[] ws = As2D(w.Shape, "Conv");
        if (oneD) node = Lift1D(node);
        long n = xs[0], c = xs[1], h = xs[2], wd = xs[3];
        long m = ws[0], cg = ws[1], kh = ws[2], kw = ws[3];
        long group = GetInt(node, "group", 1);
        if (group <= 0 || c % group != 0 || m % group != 0 || cg != c / group)
            throw new ArgumentException($"Conv with group {group}: input channels {c}, weight {ReferenceTensor.Format(w.Shape)} are inconsistent (weight dim 1 must be C/group).");
        if (GetInts(node, "kernel_shape") is { } ks && !ks.SequenceEqual(new[] { kh, kw }))
            throw new ArgumentException($"Conv kernel_shape [{string.Join(", ", ks)}] differs from the weight's spatial dims [{kh}, {kw}].");
        if (bias is not null && (bias.Rank != 1 || bias.Shape[0] != m))
            throw new ArgumentException($"Conv bias must have shape [{m}], got {ReferenceTensor.Format(bias.Shape)}.");
        var g = Geometry(node, [h, wd], [kh, kw]);
        long oh = g.Output[0], ow = g.Output[1], mg = m / group;
        long sh = g.Strides[0], sw = g.Strides[1], ph = g.PadBegin[0], pw = g.PadBegin[1], dh = g.Dilations[0], dw = g.Dilations[1];
        double[] xd = x.Data, wdata = w.Data;
        var y = NewData(checked(n * m * oh * ow));
        // y[b, oc, i, j] = bias[oc] + Σ_{ic in oc's group, u, v} x[b, g·cg + ic, i·s − p + u·d, j·s − p + v·d] · w[oc, ic, u, v],
        // taps falling into the padding contribute zero. Offsets are hoisted out of the inner loops, nothing else.
        for (long b = 0; b < n; b++)
            for (long oc = 0; oc < m; oc++)
            {
                long gi = oc / mg;
                for (long i = 0; i < oh; i++)
                    for (long j = 0; j < ow; j++)
                    {
                        double s = bias?.Data[oc] ?? 0;
                        for (long ic = 0; ic < cg; ic++)
                        {
                            long xPlane = (b * c + gi * cg + ic) * h * wd;
                            long wPlane = (oc * cg + ic) * kh * kw;
                            for (long u = 0; u < kh; u++)
                            {
                                long yy = i * sh - ph + u * dh;
                                if (yy < 0 || yy >= h) continue;
                                long xRow = xPlane + yy * wd, wRow = wPlane + u * kw;
                                for (long v = 0; v < kw; v++)
                                {
                                    long xx = j * sw - pw + v * dw;
                                    if (xx < 0 || xx >= wd) continue;
                                    s += xd[xRow + xx] * wdata[wRow + v];
                                }
                            }
                        }
                        y[((b * m + oc) * oh + i) * ow + j] = s;
                    }
            }
        return new ReferenceTensor(y, oneD ? [n, m, ow] : [n, m, oh, ow]);
    }

    private static ReferenceTensor[] MaxPool(NodeProto node, ReferenceTensor x, bool withIndices)
    {
        bool oneD = x.Rank == 3;
        long[] xs = As2D(x.Shape, "MaxPool");
        if (oneD) node = Lift1D(node);
        long[] kernel = GetInts(node, "kernel_shape") ?? throw new ArgumentException("MaxPool needs 'kernel_shape'.");
        if (withIndices && GetInt(node, "storage_order", 0) != 0)
            throw new NotSupportedException("MaxPool Indices with storage_order = 1 (column-major) are not supported by the reference evaluator.");
        long n = xs[0], c = xs[1], h = xs[2], wd = xs[3];
        var g = Geometry(node, [h, wd], kernel, ceilMode: GetInt(node, "ceil_mode", 0) != 0);
        long oh = g.Output[0], ow = g.Output[1];
        var y = NewData(checked(n * c * oh * ow));
        var idx = NewData(y.Length);
        for (long plane = 0; plane < n * c; plane++)
            for (long i = 0; i < oh; i++)
                for (long j = 0; j < ow; j++)
                {
                    // Padding never wins (it is −∞); ties keep the first maximum in row-major window order, like ONNX Runtime.
                    double best = double.NegativeInfinity;
                    long bestIndex = -1;
                    for (long u = 0; u < kernel[0]; u++)
                    {
                        long yy = i * g.Strides[0] - g.PadBegin[0] + u * g.Dilations[0];
                        if (yy < 0 || yy >= h) continue;
                        for (long v = 0; v < kernel[1]; v++)
                        {
                            long xx = j * g.Strides[1] - g.PadBegin[1] + v * g.Dilations[1];
                            if (xx < 0 || xx >= wd) continue;
                            long at = (plane * h + yy) * wd + xx;
                            if (bestIndex < 0 || x.Data[at] > best) { best = x.Data[at]; bestIndex = at; }
                        }
                    }
                    long o = (plane * oh + i) * ow + j;
                    y[o] = best;
                    idx[o] = bestIndex;
                }
        long[] shape = oneD ? [n, c, ow] : [n, c, oh, ow];
        var output = new ReferenceTensor(y, shape);
        return withIndices ? [output, new ReferenceTensor(idx, shape)] : [output];
    }

    private static ReferenceTensor AveragePool(NodeProto node, ReferenceTensor x)
    {
        bool oneD = x.Rank == 3;
        long[] xs = As2D(x.Shape, "AveragePool");
        if (oneD) node = Lift1D(node);
        long[] kernel = GetInts(node, "kernel_shape") ?? throw new ArgumentException("AveragePool needs 'kernel_shape'.");
        bool includePad = GetInt(node, "count_include_pad", 0) != 0;
        long n = xs[0], c = xs[1], h = xs[2], wd = xs[3];
        bool ceilMode = GetInt(node, "ceil_mode", 0) != 0;
        if (ceilMode && includePad)
            throw new NotSupportedException("AveragePool with ceil_mode = 1 and count_include_pad = 1 is not supported by the reference evaluator (runtimes disagree on the divisor of windows past the padding).");
        var g = Geometry(node, [h, wd], kernel, ceilMode);
        long oh = g.Output[0], ow = g.Output[1];
        var y = NewData(checked(n * c * oh * ow));
        for (long plane = 0; plane < n * c; plane++)
            for (long i = 0; i < oh; i++)
                for (long j = 0; j < ow; j++)
                {
                    double s = 0;
                    long count = 0;
                    for (long u = 0; u < kernel[0]; u++)
                    {
                        long yy = i * g.Strides[0] - g.PadBegin[0] + u * g.Dilations[0];
                        for (long v = 0; v < kernel[1]; v++)
                        {
                            long xx = j * g.Strides[1] - g.PadBegin[1] + v * g.Dilations[1];
                            bool inside = yy >= 0 && yy < h && xx >= 0 && xx < wd;
                            if (inside) s += x.Data[(plane * h + yy) * wd + xx];
                            // count_include_pad counts every window position (all lie within the padded input:
                            // ceil_mode is refused with it); otherwise only positions inside the image.
                            if (inside || includePad) count++;
                        }
                    }
                    y[(plane * oh + i) * ow + j] = s / count;
                }
        return new ReferenceTensor(y, oneD ? [n, c, ow] : [n, c, oh, ow]);
    }

    private static ReferenceTensor GlobalAveragePool(ReferenceTensor x)
    {
        if (x.Rank < 3) throw new ArgumentException($"GlobalAveragePool needs rank ≥ 3 (N, C, spatial…), got {ReferenceTensor.Format(x.Shape)}.");
        long planes = x.Shape[0] * x.Shape[1];
        long size = x.Length / Math.Max(1, planes);
        var y = NewData(planes);
        for (long p = 0; p < planes; p++)
        {
            double s = 0;
            for (long k = 0; k < size; k++) s += x.Data[p * size + k];
            y[p] = s / size;
        }
        var shape = x.Shape.Select((d, i) => i < 2 ? d : 1L).ToArray();
        return new ReferenceTensor(y, shape);
    }

    private static ReferenceTensor BatchNormalization(NodeProto node, ReferenceTensor x, ReferenceTensor scale, ReferenceTensor bias,
                                                      ReferenceTensor mean, ReferenceTensor variance)
    {
        if (GetInt(node, "training_mode", 0) != 0 || node.Output.Skip(1).Any(o => o.Length > 0))
            throw new NotSupportedException("BatchNormalization in training mode (or with running-statistics outputs) is not supported; inference form only.");
        if (x.Rank < 2) throw new ArgumentException($"BatchNormalization needs rank ≥ 2, got {ReferenceTensor.Format(x.Shape)}.");
        long c = x.Shape[1];
        double eps = GetFloat(node, "epsilon", 1e-5f);
        long inner = x.Length / (x.Shape[0] * c == 0 ? 1 : x.Shape[0] * c);
        // Opsets 7–8: spatial = 0 keeps one statistic per element of [C, D1, …] instead of one per channel.
        bool perElement = GetInt(node, "spatial", 1) == 0;
        foreach (var (t, what) in new[] { (scale, "scale"), (bias, "B"), (mean, "mean"), (variance, "var") })
            if (t.Length != (perElement ? c * inner : c)) throw new ArgumentException($"BatchNormalization {what} has {t.Length} values for {c} channels.");
        if (perElement)
        {
            var z = NewData(x.Length);
            for (long b = 0; b < x.Shape[0]; b++)
                for (long e = 0; e < c * inner; e++)
                    z[b * c * inner + e] = (x.Data[b * c * inner + e] - mean.Data[e]) * scale.Data[e] / Math.Sqrt(variance.Data[e] + eps) + bias.Data[e];
            return new ReferenceTensor(z, x.Shape);
        }
        var y = NewData(x.Length);
        for (long b = 0; b < x.Shape[0]; b++)
            for (long ch = 0; ch < c; ch++)
            {
                double k = scale.Data[ch] / Math.Sqrt(variance.Data[ch] + eps);
                for (long s = 0; s < inner; s++)
                {
                    long at = (b * c + ch) * inner + s;
                    y[at] = (x.Data[at] - mean.Data[ch]) * k + bias.Data[ch];
                }
            }
        return new ReferenceTensor(y, x.Shape);
    }

    // ---- shape ops -----------------------------------------------------------------------------------

    private static int NormalizeAxis(long axis, int rank, string op, bool allowEnd = false)
    {
        long upper = allowEnd ? rank : rank - 1;
        long a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a > upper) throw new ArgumentException($"{op} axis {axis} is out of range for rank {rank}.");
        return (int)a;
    }

    private static ReferenceTensor Flatten(ReferenceTensor x, long axis)
    {
        int ax = NormalizeAxis(axis, x.Rank, "Flatten", allowEnd: true);
        long rows = 1;
        for (int i = 0; i < ax; i++) rows *= x.Shape[i];
        return new ReferenceTensor(x.Data, [rows, rows == 0 ? 0 : x.Length / rows]);
    }

    private static ReferenceTensor Reshape(ReferenceTensor x, long[] target, bool allowZero)
    {
        var shape = new long[target.Length];
        int inferred = -1;
        long known = 1;
        for (int i = 0; i < target.Length; i++)
        {
            long d = target[i];
            if (d == 0 && !allowZero)
            {
                if (i >= x.Rank) throw new ArgumentException($"Reshape dim 0 at axis {i} copies an input axis that does not exist.");
                d = x.Shape[i];
            }
            if (d == -1)
            {
                if (inferred >= 0) throw new ArgumentException("Reshape has more than one −1.");
                inferred = i;
                continue;
            }
            if (d < 0) throw new ArgumentException($"Reshape dim {d} at axis {i} is invalid.");
            shape[i] = d;
            known *= d;
        }
        if (inferred >= 0)
        {
            if (known == 0 || x.Length % known != 0)
                throw new ArgumentException($"Reshape cannot infer −1: {x.Length} elements into {ReferenceTensor.Format(target)}.");
            shape[inferred] = x.Length / known;
        }
        if (ReferenceTensor.ElementCount(shape) != x.Length)
            throw new ArgumentException($"Reshape of {ReferenceTensor.Format(x.Shape)} to {ReferenceTensor.Format(target)} changes the element count.");
        return new ReferenceTensor(x.Data, shape);
    }

    private static ReferenceTensor Transpose(ReferenceTensor x, long[]? perm)
    {
        int r = x.Rank;
        perm ??= Enumerable.Range(0, r).Reverse().Select(i => (long)i).ToArray();
        if (perm.Length != r || perm.Distinct().Count() != r || perm.Any(p => p < 0 || p >= r))
            throw new ArgumentException($"Transpose perm [{string.Join(", ", perm)}] is not a permutation of rank {r}.");
        long[] shape = perm.Select(p => x.Shape[p]).ToArray();
        long[] inStrides = ReferenceTensor.Strides(x.Shape);
        var y = NewData(x.Length);
        var index = new long[r];
        for (long k = 0; k < y.Length; k++)
        {
            long at = 0;
            for (int i = 0; i < r; i++) at += index[i] * inStrides[perm[i]];
            y[k] = x.Data[at];
            Increment(index, shape);
        }
        return new ReferenceTensor(y, shape);
    }

    private static ReferenceTensor Concat(ReferenceTensor[] xs, long axis)
    {
        if (xs.Length == 0) throw new ArgumentException("Concat needs at least one input.");
        int r = xs[0].Rank;
        int ax = NormalizeAxis(axis, r, "Concat");
        foreach (var t in xs)
            if (t.Rank != r || Enumerable.Range(0, r).Any(i => i != ax && t.Shape[i] != xs[0].Shape[i]))
                throw new ArgumentException($"Concat inputs {string.Join(", ", xs.Select(q => ReferenceTensor.Format(q.Shape)))} differ outside axis {ax}.");
        long outer = 1, inner = 1;
        for (int i = 0; i < ax; i++) outer *= xs[0].Shape[i];
        for (int i = ax + 1; i < r; i++) inner *= xs[0].Shape[i];
        long total = xs.Sum(t => t.Shape[ax]);
        var y = NewData(checked(outer * total * inner));
        long offset = 0;
        foreach (var t in xs)
        {
            long block = t.Shape[ax] * inner;
            for (long o = 0; o < outer; o++)
                Array.Copy(t.Data, o * block, y, o * total * inner + offset, block);
            offset += block;
        }
        var shape = (long[])xs[0].Shape.Clone();
        shape[ax] = total;
        return new ReferenceTensor(y, shape);
    }

    private static ReferenceTensor Constant(NodeProto node)
    {
        if (node.Attribute.Count != 1)
            throw new ArgumentException("Constant needs exactly one value attribute.");
        var a = node.Attribute[0];
        return a.Name switch
        {
            "value" when a.T is not null => new ReferenceTensor(OnnxTensors.ToDoubleArray(a.T), a.T.Dims.ToArray()),
            "value_float" => new ReferenceTensor([a.F], []),
            "value_floats" => new ReferenceTensor(a.Floats.Select(v => (double)v).ToArray(), [a.Floats.Count]),
            "value_int" => new ReferenceTensor([a.I], []),
            "value_ints" => new ReferenceTensor(a.Ints.Select(v => (double)v).ToArray(), [a.Ints.Count]),
            _ => throw new NotSupportedException($"Constant with attribute '{a.Name}' is not supported by the reference evaluator."),
        };
    }
}
