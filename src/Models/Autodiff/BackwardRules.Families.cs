using Saliency.Models.Onnx;
using Saliency.Models.Onnx.Proto;
using static Saliency.Models.Onnx.OnnxAttributes;

namespace Saliency.Models.Autodiff;

public static partial class JacobianExporter
{
    /// <summary>
    /// Backward rules for the operators of the common classifier families beyond plain CNNs (MobileNet v2/v3,
    /// EfficientNet, ShuffleNet, GoogLeNet, SqueezeNet, DenseNet, transformer heads): smooth activations,
    /// element-wise maths, reductions, layout ops, resampling, LRN and LayerNormalization. Conventions as in
    /// <c>BackwardRules.cs</c>: <c>gy</c> is [k, output dims without batch]; forward tensors (batch 1) broadcast.
    /// </summary>
    private sealed partial class Exporter
    {
        /// <summary>Returns false when <paramref name="node"/> is not one of the operators handled here.</summary>
        private bool BackwardFamily(NodeProto node, int index, string gy, long[] y)
        {
            string x = node.Input[0];
            switch (node.OpType)
            {
                case "HardSigmoid":
                    {
                        // y = max(0, min(1, αx + β)): slope α where 0 < y < 1.
                        float alpha = GetFloat(node, "alpha", 0.2f);
                        var s = node.Output[0];
                        var inside = _emit.Op("And", _emit.Op("Greater", s, _emit.Scalar(0f)), _emit.Op("Less", s, _emit.Scalar(1f)));
                        var slope = _emit.Op("Mul", Mask(inside), _emit.Scalar(alpha));
                        Flow(x, _emit.Op("Mul", gy, slope));
                        return true;
                    }
                case "HardSwish":
                    {
                        // y = x·HardSigmoid(x) with α = 1/6, β = 1/2: y' = 0 below −3, 1 above 3, x/3 + 1/2 between.
                        var middle = _emit.Op("Add", _emit.Op("Mul", x, _emit.Scalar(1f / 3f)), _emit.Scalar(0.5f));
                        var upper = _emit.Op("Where", _emit.Op("Greater", x, _emit.Scalar(3f)), _emit.Scalar(1f), middle);
                        var slope = _emit.Op("Where", _emit.Op("Less", x, _emit.Scalar(-3f)), _emit.Scalar(0f), upper);
                        Flow(x, _emit.Op("Mul", gy, slope));
                        return true;
                    }
                case "PRelu":
                    {
                        // y = x for x > 0, slope·x otherwise; the slope broadcasts onto x (unidirectionally).
                        RequireConstant(node, index, 1, "slope");
                        var slope = _emit.Op("Where", _emit.Op("Greater", x, _emit.Scalar(0f)), _emit.Scalar(1f), node.Input[1]);
                        Flow(x, _emit.Op("Mul", gy, slope));
                        return true;
                    }
                case "Elu":
                    {
                        // y = α(eˣ − 1) for x ≤ 0, so y' = y + α there.
                        float alpha = GetFloat(node, "alpha", 1f);
                        var slope = _emit.Op("Where", _emit.Op("Greater", x, _emit.Scalar(0f)), _emit.Scalar(1f), _emit.Op("Add", node.Output[0], _emit.Scalar(alpha)));
                        Flow(x, _emit.Op("Mul", gy, slope));
                        return true;
                    }
                case "Softplus":
                    // d/dx log(1 + eˣ) = σ(x).
                    Flow(x, _emit.Op("Mul", gy, _emit.Op("Sigmoid", x)));
                    return true;
                case "Exp":
                    Flow(x, _emit.Op("Mul", gy, node.Output[0]));
                    return true;
                case "Log":
                    Flow(x, _emit.Op("Div", gy, x));
                    return true;
                case "Sqrt":
                    // d√x = 1 / (2√x), from the forward output.
                    Flow(x, _emit.Op("Div", gy, _emit.Op("Mul", node.Output[0], _emit.Scalar(2f))));
                    return true;
                case "Erf":
                    // erf'(x) = 2/√π · exp(−x²).
                    Flow(x, _emit.Op("Mul", gy, _emit.Op("Mul", _emit.Op("Exp", _emit.Op("Neg", _emit.Op("Mul", x, x))), _emit.Scalar((float)(2 / Math.Sqrt(Math.PI))))));
                    return true;
                case "Neg":
                    Flow(x, _emit.Op("Neg", gy));
                    return true;
                case "Pow":
                    BackwardPow(node, index, gy, y);
                    return true;
                case "Cast":
                    if (GetInt(node, "to", 0) != (long)TensorProto.Types.DataType.Float)
                        throw AtNode(node, index, "only Cast to float is differentiable here (the backward pass runs in float32)");
                    Flow(x, gy);
                    return true;
                case "Squeeze" or "Unsqueeze":
                    {
                        var xs = ShapeOf(x, node, index);
                        if (xs.Length == 0 || xs[0] != 1) throw AtNode(node, index, "its input must keep the batch axis first");
                        var axes = node.OpType == "Squeeze" && node.Input.Count < 2 && Find(node, "axes") is null
                            ? Enumerable.Range(0, xs.Length).Where(i => xs[i] == 1).Select(i => (long)i).ToArray()
                            : (node.Input.Count > 1 && node.Input[1].Length > 0 ? _shapes.IntValues(node.Input[1]) : GetInts(node, "axes"))
                              ?? throw AtNode(node, index, "its axes are not constant");
                        int rank = node.OpType == "Squeeze" ? xs.Length : y.Length;
                        if (axes.Any(a => StaticShapes.NormalizeAxis(a, rank) == 0))
                            throw AtNode(node, index, $"a {node.OpType} of the batch axis is not supported");
                        Flow(x, _emit.Op("Reshape", gy, _emit.Int64s([-1, .. xs[1..]])));
                        return true;
                    }
                case "LogSoftmax":
                    {
                        long axis = StaticShapes.NormalizeAxis(GetInt(node, "axis", -1), y.Length);
                        if (axis == 0) throw AtNode(node, index, "a LogSoftmax over the batch axis is not supported");
                        // y = x − logΣeˣ: Jᵀg = g − softmax(x)·Σg along the axis.
                        var total = _emit.Op("ReduceSum", [gy, _emit.Int64s(axis)], Int("keepdims", 1));
                        Flow(x, _emit.Op("Sub", gy, _emit.Op("Mul", _emit.Op("Exp", node.Output[0]), total)));
                        return true;
                    }
                case "Sum":
                    foreach (var input in node.Input.Distinct())
                        if (Wants(input))
                        {
                            var reduced = ReduceTo(gy, y, ShapeOf(input, node, index), node, index);
                            // An input listed twice contributes twice.
                            int times = node.Input.Count(i => i == input);
                            Flow(input, times == 1 ? reduced : _emit.Op("Mul", reduced, _emit.Scalar(times)));
                        }
                    return true;
                case "ReduceSum" or "ReduceMean" or "ReduceMax":
                    BackwardReduce(node, index, gy, y);
                    return true;
                case "GlobalMaxPool":
                    BackwardMax(node, index, gy, Enumerable.Range(2, y.Length - 2).Select(i => (long)i).ToArray());
                    return true;
                case "Split":
                    // Handled with all its outputs' gradients in BackwardSplit.
                    return true;
                case "Gather":
                    BackwardGather(node, index, gy, y);
                    return true;
                case "Slice":
                    BackwardSlice(node, index, gy, y);
                    return true;
                case "Pad":
                    BackwardPad(node, index, gy, y);
                    return true;
                case "Resize":
                    BackwardResize(node, index, gy, y);
                    return true;
                case "LRN":
                    BackwardLrn(node, index, gy, y);
                    return true;
                case "LayerNormalization":
                    BackwardLayerNorm(node, index, gy, y);
                    return true;
                default:
                    return false;
            }
        }

        private string Mask(string boolean) => _emit.Op("Cast", [boolean], Int("to", (long)TensorProto.Types.DataType.Float));

        /// <summary>A reduction that keeps dims, in the form of the source opset (axes as an input from opset 18, except ReduceSum from 13).</summary>
        private string ReduceKeepDims(string op, string t, long[] axes) =>
            op == "ReduceSum" || _sourceOpset >= 18
                ? _emit.Op(op, [t, _emit.Int64s(axes)], Int("keepdims", 1))
                : _emit.Op(op, [t], Ints("axes", axes), Int("keepdims", 1));

        /// <summary>
        /// Applies a constant linear map along one axis of a k-batched gradient: r[.., i, ..] = Σ_o m[i, o] g[.., o, ..],
        /// with <paramref name="m"/> row-major [inSize, outSize]. Written as Reshape → MatMul(m, g) → Reshape, so the
        /// map is a 2-D left operand broadcast over k and the leading axes (no transposes).
        /// </summary>
        private string AlongAxis(string g, long[] shape, int axis, float[] m, long inSize, string hint)
        {
            long outSize = shape[axis];
            long after = StaticShapes.Product(shape[(axis + 1)..]);
            var matrix = _emit.Floats(m, [inSize, outSize], hint);
            var g3 = _emit.Op("Reshape", g, _emit.Int64s(-1, outSize, after));
            var r = _emit.Op("MatMul", matrix, g3);
            var result = shape.ToArray();
            result[axis] = inSize;
            return _emit.Op("Reshape", r, _emit.Int64s([-1, .. result[1..]]));
        }

        /// <summary>The 0/1 matrix [inSize, outSize] of an index map (output position o reads input source[o]; −1: none).</summary>
        private static float[] SelectionMatrix(long[] source, long inSize)
        {
            var m = new float[checked(inSize * source.Length)];
            for (int o = 0; o < source.Length; o++)
                if (source[o] >= 0) m[source[o] * source.Length + o] += 1f;
            return m;
        }

        private void BackwardPow(NodeProto node, int index, string gy, long[] y)
        {
            RequireConstant(node, index, 1, "exponent");
            var p = node.Input[1];
            var exponent = _shapes.FloatValues(p) ?? _shapes.IntValues(p)?.Select(v => (float)v).ToArray()
                ?? throw AtNode(node, index, "its exponent is not a constant the exporter can read");
            var pShape = ShapeOf(p, node, index);
            // d xᵖ = p·xᵖ⁻¹ (p − 1 folded at export time, so integer exponents work too).
            var pm1 = _emit.Floats(exponent.Select(v => v - 1f).ToArray(), pShape, "pow_exponent");
            var pf = _emit.Floats(exponent, pShape, "pow_factor");
            var slope = _emit.Op("Mul", pf, _emit.Op("Pow", node.Input[0], pm1));
            Flow(node.Input[0], ReduceTo(_emit.Op("Mul", gy, slope), y, ShapeOf(node.Input[0], node, index), node, index));
        }

        /// <summary>The reduced axes of a Reduce* node (normalised), or null for "no reduction" (noop_with_empty_axes).</summary>
        private long[]? ReducedAxes(NodeProto node, int index, long[] x)
        {
            long[]? axes;
            try { axes = _shapes.ReduceAxes(node); }
            catch (InvalidOperationException) { throw AtNode(node, index, "its axes are not constant"); }
            if (axes is null && GetInt(node, "noop_with_empty_axes", 0) != 0) return null;
            var normalized = (axes ?? Enumerable.Range(0, x.Length).Select(i => (long)i).ToArray())
                .Select(a => StaticShapes.NormalizeAxis(a, x.Length)).Distinct().Order().ToArray();
            if (normalized.Contains(0)) throw AtNode(node, index, "a reduction over the batch axis is not supported");
            return normalized;
        }

        private void BackwardReduce(NodeProto node, int index, string gy, long[] y)
        {
            var x = ShapeOf(node.Input[0], node, index);
            var axes = ReducedAxes(node, index, x);
            if (axes is null)
            {
                Flow(node.Input[0], gy);
                return;
            }
            // Without keepdims, put the reduced axes back as 1s so that the gradient broadcasts onto x.
            var kept = x.Select((d, i) => axes.Contains(i) ? 1L : d).ToArray();
            var g = GetInt(node, "keepdims", 1) != 0 ? gy : _emit.Op("Reshape", gy, _emit.Int64s([-1, .. kept[1..]]));
            switch (node.OpType)
            {
                case "ReduceSum":
                    Flow(node.Input[0], _emit.Op("Expand", g, _emit.Int64s([1, .. x[1..]])));
                    break;
                case "ReduceMean":
                    {
                        long count = StaticShapes.Product(axes.Select(a => x[a]));
                        Flow(node.Input[0], _emit.Op("Expand", _emit.Op("Mul", g, _emit.Scalar(1f / count)), _emit.Int64s([1, .. x[1..]])));
                        break;
                    }
                default:
                    BackwardMax(node, index, g, axes, kept);
                    break;
            }
        }

        /// <summary>
        /// Max over <paramref name="axes"/> (ReduceMax, GlobalMaxPool): the gradient goes to the maximal elements, split
        /// evenly between ties (the subgradient PyTorch's amax uses). <paramref name="g"/> has the kept-dims shape.
        /// </summary>
        private void BackwardMax(NodeProto node, int index, string g, long[] axes, long[]? keptShape = null)
        {
            var x = ShapeOf(node.Input[0], node, index);
            keptShape ??= x.Select((d, i) => axes.Contains(i) ? 1L : d).ToArray();
            var max = _emit.Op("Reshape", node.Output[0], _emit.Int64s(keptShape));
            var mask = Mask(_emit.Op("Equal", node.Input[0], max));
            var share = _emit.Op("Div", mask, _emit.Op("ReduceSum", [mask, _emit.Int64s(axes)], Int("keepdims", 1)));
            Flow(node.Input[0], _emit.Op("Mul", g, share));
        }

        /// <summary>Split: each output's gradient is padded with zeros back to the input's extent along the axis and summed.</summary>
        private void BackwardSplit(NodeProto node, int index)
        {
            var x = ShapeOf(node.Input[0], node, index);
            int axis = (int)StaticShapes.NormalizeAxis(GetInt(node, "axis", 0), x.Length);
            if (axis == 0) throw AtNode(node, index, "a Split along the batch axis is not supported");
            long[] sizes;
            try { sizes = _shapes.SplitSizes(node, x); }
            catch (InvalidOperationException e) { throw AtNode(node, index, $"its split sizes are not known ({e.Message})"); }
            long offset = 0;
            for (int i = 0; i < node.Output.Count; i++)
            {
                var g = node.Output[i].Length > 0 ? _emit.TakeGradient(node.Output[i]) : null;
                if (g is not null)
                {
                    var pads = new long[2 * x.Length];
                    pads[axis] = offset;
                    pads[x.Length + axis] = x[axis] - offset - sizes[i];
                    Flow(node.Input[0], _emit.Op("Pad", g, _emit.Int64s(pads)));
                }
                offset += sizes[i];
            }
        }

        private void BackwardGather(NodeProto node, int index, string gy, long[] y)
        {
            RequireConstant(node, index, 1, "indices");
            var data = ShapeOf(node.Input[0], node, index);
            int axis = (int)StaticShapes.NormalizeAxis(GetInt(node, "axis", 0), data.Length);
            if (axis == 0) throw AtNode(node, index, "a Gather along the batch axis is not supported");
            var indices = _shapes.IntValues(node.Input[1]) ?? throw AtNode(node, index, "its indices are not constant");
            long n = data[axis];
            var source = indices.Select(i =>
            {
                long j = i < 0 ? i + n : i;
                return j >= 0 && j < n ? j : throw AtNode(node, index, $"index {i} is out of range for an axis of size {n}");
            }).ToArray();
            // Collapse the index dims to one axis of length |indices|, then map it back with the one-hot matrix (repeated
            // indices add up).
            var collapsed = data.ToArray();
            collapsed[axis] = source.Length;
            var g = _emit.Op("Reshape", gy, _emit.Int64s([-1, .. collapsed[1..]]));
            Flow(node.Input[0], AlongAxis(g, collapsed, axis, SelectionMatrix(source, n), n, "gather_map"));
        }

        private void BackwardSlice(NodeProto node, int index, string gy, long[] y)
        {
            for (int i = 1; i < node.Input.Count; i++) RequireConstant(node, index, i, "slice bound");
            var x = ShapeOf(node.Input[0], node, index);
            (long[] Starts, long[] Ends, long[] Axes, long[] Steps) args;
            try { args = _shapes.SliceArguments(node); }
            catch (InvalidOperationException e) { throw AtNode(node, index, $"its bounds are not constant ({e.Message})"); }
            // Separable: undo one sliced axis at a time, from the output's shape back to the input's.
            var shape = y.ToArray();
            var g = gy;
            for (int i = 0; i < args.Starts.Length; i++)
            {
                int axis = (int)StaticShapes.NormalizeAxis(args.Axes[i], x.Length);
                var source = StaticShapes.SliceSource(args.Starts[i], args.Ends[i], args.Steps[i], x[axis]);
                if (source.Length == x[axis] && source.Select((s, o) => s == o).All(b => b)) continue;
                if (axis == 0) throw AtNode(node, index, "a Slice of the batch axis is not supported");
                g = AlongAxis(g, shape, axis, SelectionMatrix(source, x[axis]), x[axis], "slice_map");
                shape[axis] = x[axis];
            }
            Flow(node.Input[0], g);
        }

        private void BackwardPad(NodeProto node, int index, string gy, long[] y)
        {
            for (int i = 1; i < node.Input.Count; i++) RequireConstant(node, index, i, "pad amounts or value");
            var x = ShapeOf(node.Input[0], node, index);
            long[] pads;
            try { pads = _shapes.PadAmounts(node, x.Length); }
            catch (InvalidOperationException e) { throw AtNode(node, index, $"its pads are not constant ({e.Message})"); }
            string mode = GetString(node, "mode", "constant");
            if (mode is not ("constant" or "edge" or "reflect" or "wrap")) throw AtNode(node, index, $"pad mode '{mode}' is not supported");
            var shape = y.ToArray();
            var g = gy;
            for (int axis = 0; axis < x.Length; axis++)
            {
                long begin = pads[axis], end = pads[x.Length + axis], n = x[axis];
                if (begin == 0 && end == 0) continue;
                if (axis == 0) throw AtNode(node, index, "padding the batch axis is not supported");
                // Output position o reads input o − begin, mapped back inside by the mode (constant: none).
                var source = new long[n + begin + end];
                for (long o = 0; o < source.Length; o++)
                {
                    long s = o - begin;
                    source[o] = s >= 0 && s < n ? s : mode switch
                    {
                        "edge" => Math.Clamp(s, 0, n - 1),
                        "wrap" => ((s % n) + n) % n,
                        "reflect" when n > 1 => Reflect(s, n),
                        "reflect" => 0,
                        _ => -1,
                    };
                }
                g = AlongAxis(g, shape, axis, SelectionMatrix(source, n), n, "pad_map");
                shape[axis] = n;
            }
            Flow(node.Input[0], g);
        }

        /// <summary>Reflection without repeating the edge (numpy "reflect"): period 2(n − 1).</summary>
        private static long Reflect(long s, long n)
        {
            long period = 2 * (n - 1);
            long r = ((s % period) + period) % period;
            return r < n ? r : period - r;
        }

        private void BackwardResize(NodeProto node, int index, string gy, long[] y)
        {
            for (int i = 1; i < node.Input.Count; i++) RequireConstant(node, index, i, "roi, scales or sizes");
            var x = ShapeOf(node.Input[0], node, index);
            string mode = GetString(node, "mode", "nearest");
            string transform = GetString(node, "coordinate_transformation_mode", "half_pixel");
            string nearest = GetString(node, "nearest_mode", "round_prefer_floor");
            if (mode is not ("nearest" or "linear")) throw AtNode(node, index, $"Resize mode '{mode}' is not supported (nearest and linear are)");
            if (GetInt(node, "antialias", 0) != 0) throw AtNode(node, index, "Resize with antialias=1 is not supported");
            if (transform == "tf_crop_and_resize") throw AtNode(node, index, "coordinate_transformation_mode 'tf_crop_and_resize' is not supported");
            (long[] Sizes, double[] Scales) geometry;
            try { geometry = _shapes.ResizeGeometry(node, x); }
            catch (InvalidOperationException e) { throw AtNode(node, index, $"its scales or sizes are not known ({e.Message})"); }
            // Nearest and (multi)linear interpolation are tensor products of one 1-D map per axis, linear in x.
            var shape = y.ToArray();
            var g = gy;
            for (int axis = 0; axis < x.Length; axis++)
            {
                if (geometry.Sizes[axis] == x[axis] && geometry.Scales[axis] == 1.0) continue;
                if (axis == 0) throw AtNode(node, index, "resizing the batch axis is not supported");
                var m = ResizeMatrix(x[axis], geometry.Sizes[axis], (float)geometry.Scales[axis], mode, transform, nearest, node, index);
                g = AlongAxis(g, shape, axis, m, x[axis], "resize_map");
                shape[axis] = x[axis];
            }
            Flow(node.Input[0], g);
        }

        /// <summary>
        /// The 1-D Resize map as a matrix [inSize, outSize] (column o: the weights output o gives the inputs), in
        /// float arithmetic as ONNX Runtime computes it: the coordinate transforms of the ONNX Resize spec, nearest
        /// rounding by <c>nearest_mode</c>, linear weights after clamping the source coordinate into [0, n − 1].
        /// </summary>
        private static float[] ResizeMatrix(long inSize, long outSize, float scale, string mode, string transform, string nearest, NodeProto node, int index)
        {
            var m = new float[checked(inSize * outSize)];
            for (long o = 0; o < outSize; o++)
            {
                float xo = transform switch
                {
                    "half_pixel" => (o + 0.5f) / scale - 0.5f,
                    "pytorch_half_pixel" => outSize > 1 ? (o + 0.5f) / scale - 0.5f : 0f,
                    "align_corners" => outSize == 1 ? 0f : o * (float)(inSize - 1) / (outSize - 1),
                    "asymmetric" => o / scale,
                    "half_pixel_symmetric" => (float)(inSize / 2.0 * (1 - outSize / (scale * (double)inSize))) + (o + 0.5f) / scale - 0.5f,
                    _ => throw AtNode(node, index, $"coordinate_transformation_mode '{transform}' is not supported"),
                };
                if (mode == "nearest")
                {
                    double f = Math.Floor(xo);
                    long i = nearest switch
                    {
                        "round_prefer_floor" => (long)(xo == f + 0.5 ? f : Math.Round(xo, MidpointRounding.AwayFromZero)),
                        "round_prefer_ceil" => (long)(xo == f + 0.5 ? f + 1 : Math.Round(xo, MidpointRounding.AwayFromZero)),
                        "floor" => (long)f,
                        "ceil" => (long)Math.Ceiling(xo),
                        _ => throw AtNode(node, index, $"nearest_mode '{nearest}' is not supported"),
                    };
                    i = Math.Clamp(i, 0, inSize - 1);
                    m[i * outSize + o] += 1f;
                }
                else
                {
                    float c = Math.Clamp(xo, 0f, inSize - 1);
                    long i0 = Math.Min((long)c, inSize - 1), i1 = Math.Min(i0 + 1, inSize - 1);
                    float w1 = c - i0;
                    m[i0 * outSize + o] += 1f - w1;
                    m[i1 * outSize + o] += w1;
                }
            }
            return m;
        }

        private void BackwardLrn(NodeProto node, int index, string gy, long[] y)
        {
            var x = ShapeOf(node.Input[0], node, index);
            if (x.Length < 3) throw AtNode(node, index, "LRN needs an input of rank 3 or more (N, C, …)");
            long size = GetInt(node, "size", 0);
            if (size < 1) throw AtNode(node, index, "LRN needs a positive size");
            float alpha = GetFloat(node, "alpha", 1e-4f), beta = GetFloat(node, "beta", 0.75f), bias = GetFloat(node, "bias", 1f);
            long c = x[1];
            // ONNX LRN: D_i = bias + α/size · Σ_{j ∈ win(i)} x_j², win(i) = [i − ⌊(size−1)/2⌋, i + ⌈(size−1)/2⌉], y_i = x_i D_i^−β.
            // ∂y_i/∂x_j = δ_ij D_i^−β − (2αβ/size) x_i x_j D_i^(−β−1) [j ∈ win(i)], so
            // g_x = g / D^β − (2αβ/size) x ⊙ Bᵀ(g ⊙ y / D) with B[i, j] = [j ∈ win(i)] along the channels.
            long lo = (size - 1) / 2, hi = size - 1 - lo;
            var window = new float[c * c];
            var windowT = new float[c * c];
            for (long i = 0; i < c; i++)
                for (long j = Math.Max(0, i - lo); j <= Math.Min(c - 1, i + hi); j++)
                {
                    window[i * c + j] = 1f;
                    windowT[j * c + i] = 1f;
                }
            var squares = _emit.Op("Mul", node.Input[0], node.Input[0]);
            var sums = AlongAxis(squares, x, 1, window, c, "lrn_window");
            var d = _emit.Op("Add", _emit.Op("Mul", sums, _emit.Scalar(alpha / size)), _emit.Scalar(bias));
            var direct = _emit.Op("Div", gy, _emit.Op("Pow", d, _emit.Scalar(beta)));
            var v = _emit.Op("Div", _emit.Op("Mul", gy, node.Output[0]), d);
            var spread = AlongAxis(v, y, 1, windowT, c, "lrn_window_t");
            var cross = _emit.Op("Mul", _emit.Op("Mul", node.Input[0], spread), _emit.Scalar(2 * alpha * beta / size));
            Flow(node.Input[0], _emit.Op("Sub", direct, cross));
        }

        private void BackwardLayerNorm(NodeProto node, int index, string gy, long[] y)
        {
            RequireConstant(node, index, 1, "scale");
            RequireConstant(node, index, 2, "bias");
            var x = ShapeOf(node.Input[0], node, index);
            long axis = StaticShapes.NormalizeAxis(GetInt(node, "axis", -1), x.Length);
            if (axis == 0) throw AtNode(node, index, "a LayerNormalization over the batch axis is not supported");
            float eps = GetFloat(node, "epsilon", 1e-5f);
            var axes = Enumerable.Range((int)axis, x.Length - (int)axis).Select(i => (long)i).ToArray();
            // x̂ = (x − μ)/σ over the normalised axes, y = x̂ ⊙ scale + B. With ĝ = g ⊙ scale (Ba et al. 2016; the
            // standard normalisation backward): g_x = (ĝ − mean(ĝ) − x̂ ⊙ mean(ĝ ⊙ x̂)) / σ.
            var mean = ReduceKeepDims("ReduceMean", node.Input[0], axes);
            var centred = _emit.Op("Sub", node.Input[0], mean);
            var variance = ReduceKeepDims("ReduceMean", _emit.Op("Mul", centred, centred), axes);
            var sigma = _emit.Op("Sqrt", _emit.Op("Add", variance, _emit.Scalar(eps)));
            var normalized = _emit.Op("Div", centred, sigma);
            var gh = _emit.Op("Mul", gy, node.Input[1]);
            var meanG = ReduceKeepDims("ReduceMean", gh, axes);
            var meanGx = ReduceKeepDims("ReduceMean", _emit.Op("Mul", gh, normalized), axes);
            var inner = _emit.Op("Sub", _emit.Op("Sub", gh, meanG), _emit.Op("Mul", normalized, meanGx));
            Flow(node.Input[0], _emit.Op("Div", inner, sigma));
        }
    }
}
