using Saliency.Models.Onnx;
using Saliency.Models.Onnx.Proto;
using static Saliency.Models.Autodiff.NodeAttributes;
using static Saliency.Models.Onnx.OnnxAttributes;

namespace Saliency.Models.Autodiff;

internal static partial class JacobianExporter
{
    /// <summary>
    /// The backward rule of every supported operator. Each rule receives <c>gy</c>, the gradient of the node's
    /// first output with shape [k, output dims without batch], and adds the gradient of each input that depends on
    /// the image, with shape [k, input dims without batch]. Forward tensors (batch 1) broadcast against k.
    /// </summary>
    private sealed partial class Exporter
    {
        private void Backward(NodeProto node, int index, string gy)
        {
            var y = ShapeOf(node.Output[0], node, index);
            if (y.Length == 0 || y[0] != 1)
                throw AtNode(node, index, $"its output '{node.Output[0]}' has shape [{string.Join(", ", y)}], which does not keep the batch axis first");
            switch (node.OpType)
            {
                case "Identity":
                    Flow(node.Input[0], gy);
                    break;
                case "Dropout":
                    if (node.Input.Count > 2 && node.Input[2].Length > 0 && _shapes.IntValues(node.Input[2]) is not [0])
                        throw AtNode(node, index, "Dropout must be in inference mode (training_mode a constant false)");
                    Flow(node.Input[0], gy);
                    break;
                case "Relu":
                    {
                        // The mask [x > 0] is sign(ReLU(x)) ∈ {0, 1}: one node on the forward output instead of
                        // Greater + Cast on the input (fewer nodes for ONNX Runtime to plan and run).
                        Flow(node.Input[0], _emit.Op("Mul", gy, _emit.Op("Sign", node.Output[0])));
                        break;
                    }
                case "LeakyRelu":
                    {
                        float alpha = GetFloat(node, "alpha", 0.01f);
                        var slope = _emit.Op("Where", _emit.Op("Greater", node.Input[0], _emit.Scalar(0f)), _emit.Scalar(1f), _emit.Scalar(alpha));
                        Flow(node.Input[0], _emit.Op("Mul", gy, slope));
                        break;
                    }
                case "Sigmoid":
                    {
                        // σ' = σ(1 − σ), from the forward output.
                        var s = node.Output[0];
                        Flow(node.Input[0], _emit.Op("Mul", gy, _emit.Op("Mul", s, _emit.Op("Sub", _emit.Scalar(1f), s))));
                        break;
                    }
                case "Tanh":
                    {
                        var t = node.Output[0];
                        Flow(node.Input[0], _emit.Op("Mul", gy, _emit.Op("Sub", _emit.Scalar(1f), _emit.Op("Mul", t, t))));
                        break;
                    }
                case "Softmax":
                    BackwardSoftmax(node, index, gy, y);
                    break;
                case "Clip":
                    BackwardClip(node, index, gy);
                    break;
                case "Flatten" or "Reshape":
                    {
                        var x = ShapeOf(node.Input[0], node, index);
                        if (x.Length == 0 || x[0] != 1) throw AtNode(node, index, "its input must keep the batch axis first");
                        Flow(node.Input[0], _emit.Op("Reshape", gy, _emit.Int64s([-1, .. x[1..]])));
                        break;
                    }
                case "Transpose":
                    {
                        var perm = GetInts(node, "perm") ?? Enumerable.Range(0, y.Length).Reverse().Select(i => (long)i).ToArray();
                        if (perm[0] != 0) throw AtNode(node, index, "a Transpose that moves the batch axis is not supported");
                        var inverse = new long[perm.Length];
                        for (int i = 0; i < perm.Length; i++) inverse[perm[i]] = i;
                        Flow(node.Input[0], _emit.Op("Transpose", [gy], Ints("perm", inverse)));
                        break;
                    }
                case "Concat":
                    BackwardConcat(node, index, gy, y);
                    break;
                case "Add" or "Sub" or "Mul" or "Div":
                    BackwardBinary(node, index, gy, y);
                    break;
                case "Gemm":
                    BackwardGemm(node, index, gy, y);
                    break;
                case "MatMul":
                    BackwardMatMul(node, index, gy);
                    break;
                case "Conv":
                    BackwardConv(node, index, gy, y);
                    break;
                case "MaxPool":
                    BackwardMaxPool(node, index, gy, y);
                    break;
                case "AveragePool":
                    BackwardAveragePool(node, index, gy, y);
                    break;
                case "GlobalAveragePool":
                    {
                        var x = ShapeOf(node.Input[0], node, index);
                        long spatial = StaticShapes.Product(x[2..]);
                        var scaled = _emit.Op("Mul", gy, _emit.Scalar(1f / spatial));
                        Flow(node.Input[0], _emit.Op("Expand", scaled, _emit.Int64s([1, 1, .. x[2..]])));
                        break;
                    }
                case "BatchNormalization":
                    BackwardBatchNorm(node, index, gy);
                    break;
                default:
                    // CheckSupported has rejected every other operator before any rule runs.
                    if (!BackwardFamily(node, index, gy, y)) throw AtNode(node, index, "no backward rule");
                    break;
            }
        }

        private bool Wants(string tensor) => tensor.Length > 0 && _active.Contains(tensor) && _needed.Contains(tensor);

        private void Flow(string tensor, string gradient)
        {
            if (Wants(tensor)) _emit.AddGradient(tensor, gradient);
        }

        private void RequireConstant(NodeProto node, int index, int input, string role)
        {
            if (node.Input.Count > input && Wants(node.Input[input]))
                throw AtNode(node, index, $"its {role} depends on the input; only the gradient through the data operand is supported");
        }

        private long[] ShapeOf(string tensor, NodeProto node, int index) =>
            _shapes.TryGetShape(tensor, out var s) ? s
            : throw AtNode(node, index, $"the shape of '{tensor}' cannot be determined statically");

        private static JacobianExportException AtNode(NodeProto node, int index, string why)
        {
            string name = DisplayName(node, index);
            return new JacobianExportException($"Cannot differentiate node '{name}' (op '{node.OpType}'): {why}.", node.OpType, name);
        }

        /// <summary>Sums a broadcast gradient back to an operand's shape (ReduceSum over the axes the operand was broadcast along).</summary>
        private string ReduceTo(string g, long[] y, long[] operand, NodeProto node, int index)
        {
            if (operand.Length != y.Length || operand[0] != 1)
                throw AtNode(node, index, "an operand that depends on the input must have the output's rank with the batch axis first");
            var axes = Enumerable.Range(1, y.Length - 1).Where(i => operand[i] == 1 && y[i] != 1).Select(i => (long)i).ToArray();
            return axes.Length == 0 ? g : _emit.Op("ReduceSum", [g, _emit.Int64s(axes)], Int("keepdims", 1));
        }

        private void BackwardBinary(NodeProto node, int index, string gy, long[] y)
        {
            string a = node.Input[0], b = node.Input[1];
            if (Wants(a))
            {
                var ga = node.OpType switch
                {
                    "Add" or "Sub" => gy,
                    "Mul" => _emit.Op("Mul", gy, b),
                    _ => _emit.Op("Div", gy, b),
                };
                Flow(a, ReduceTo(ga, y, ShapeOf(a, node, index), node, index));
            }
            if (Wants(b))
            {
                var gb = node.OpType switch
                {
                    "Add" => gy,
                    "Sub" => _emit.Op("Neg", gy),
                    "Mul" => _emit.Op("Mul", gy, a),
                    // d(a/b)/db = −(a/b)/b = −y/b.
                    _ => _emit.Op("Neg", _emit.Op("Div", _emit.Op("Mul", gy, node.Output[0]), b)),
                };
                Flow(b, ReduceTo(gb, y, ShapeOf(b, node, index), node, index));
            }
        }

        private void BackwardSoftmax(NodeProto node, int index, string gy, long[] y)
        {
            long axis = StaticShapes.NormalizeAxis(GetInt(node, "axis", -1), y.Length);
            if (axis == 0) throw AtNode(node, index, "a Softmax over the batch axis is not supported");
            // J_softmax(s)ᵀ g = s ⊙ (g − ⟨g, s⟩) along the axis.
            var s = node.Output[0];
            var dot = _emit.Op("ReduceSum", [_emit.Op("Mul", gy, s), _emit.Int64s(axis)], Int("keepdims", 1));
            Flow(node.Input[0], _emit.Op("Mul", s, _emit.Op("Sub", gy, dot)));
        }

        private void BackwardClip(NodeProto node, int index, string gy)
        {
            RequireConstant(node, index, 1, "min bound");
            RequireConstant(node, index, 2, "max bound");
            var x = node.Input[0];
            string? inside = null;
            if (node.Input.Count > 1 && node.Input[1].Length > 0) inside = _emit.Op("GreaterOrEqual", x, node.Input[1]);
            if (node.Input.Count > 2 && node.Input[2].Length > 0)
            {
                var below = _emit.Op("LessOrEqual", x, node.Input[2]);
                inside = inside is null ? below : _emit.Op("And", inside, below);
            }
            if (inside is null)
            {
                Flow(x, gy);
                return;
            }
            var mask = _emit.Op("Cast", [inside], Int("to", (long)TensorProto.Types.DataType.Float));
            Flow(x, _emit.Op("Mul", gy, mask));
        }

        private void BackwardConcat(NodeProto node, int index, string gy, long[] y)
        {
            long axis = StaticShapes.NormalizeAxis(GetInt(node, "axis", 0), y.Length);
            if (axis == 0) throw AtNode(node, index, "a Concat along the batch axis is not supported");
            long offset = 0;
            foreach (var input in node.Input)
            {
                long size = ShapeOf(input, node, index)[axis];
                if (Wants(input))
                    Flow(input, _emit.Op("Slice", gy, _emit.Int64s(offset), _emit.Int64s(offset + size), _emit.Int64s(axis)));
                offset += size;
            }
        }

        private void BackwardGemm(NodeProto node, int index, string gy, long[] y)
        {
            RequireConstant(node, index, 1, "second operand (B)");
            float alpha = GetFloat(node, "alpha", 1f), beta = GetFloat(node, "beta", 1f);
            long transB = GetInt(node, "transB", 0);
            if (Wants(node.Input[0]))
            {
                if (GetInt(node, "transA", 0) != 0) throw AtNode(node, index, "transA=1 on the operand that depends on the input puts the batch axis second");
                // Y = α A B' + β C  ⇒  ∂A = α gy B'ᵀ, i.e. Gemm(gy, B) with transB flipped.
                Flow(node.Input[0], _emit.Op("Gemm", [gy, node.Input[1]], Float("alpha", alpha), Int("transB", 1 - transB)));
            }
            if (node.Input.Count > 2 && Wants(node.Input[2]))
            {
                var gc = beta == 1f ? gy : _emit.Op("Mul", gy, _emit.Scalar(beta));
                Flow(node.Input[2], ReduceTo(gc, y, ShapeOf(node.Input[2], node, index), node, index));
            }
        }

        private void BackwardMatMul(NodeProto node, int index, string gy)
        {
            RequireConstant(node, index, 1, "second operand");
            var a = ShapeOf(node.Input[0], node, index);
            var b = ShapeOf(node.Input[1], node, index);
            if (b.Length != 2 || a.Length < 2)
                throw AtNode(node, index, "only MatMul of a batch-leading tensor by a matrix (rank-2 second operand) is supported");
            Flow(node.Input[0], _emit.Op("MatMul", gy, _emit.Op("Transpose", node.Input[1])));
        }

        /// <summary>
        /// Begin/end pads and output_padding for a ConvTranspose that maps a [.., out] gradient back onto exactly
        /// [.., in]: ConvTranspose size = s(out−1) + d(k−1) + 1 − begin − end + output_padding. The rows a
        /// strided window never reaches get zero gradient through output_padding.
        /// </summary>
        private static (long[] Pads, long[] OutputPadding) TransposedPads(long[] xIn, long[] yOut, long[] k, long[] s, long[] d, long[] begin, long[] end)
        {
            int n = k.Length;
            var pads = new long[2 * n];
            var outputPadding = new long[n];
            for (int i = 0; i < n; i++)
            {
                long need = xIn[i] - (s[i] * (yOut[i] - 1) + d[i] * (k[i] - 1) + 1 - begin[i] - end[i]);
                pads[i] = begin[i];
                pads[n + i] = need >= 0 ? end[i] : end[i] - need;
                outputPadding[i] = Math.Max(0, need);
            }
            return (pads, outputPadding);
        }

        private void BackwardConv(NodeProto node, int index, string gy, long[] y)
        {
            RequireConstant(node, index, 1, "weight");
            RequireConstant(node, index, 2, "bias");
            var x = ShapeOf(node.Input[0], node, index);
            var w = ShapeOf(node.Input[1], node, index);
            var (k, s, d, begin, end) = StaticShapes.Geometry(node, x, GetInts(node, "kernel_shape") ?? w[2..]);
            long group = GetInt(node, "group", 1);
            if (s.All(v => v == 1) && Enumerable.Range(0, k.Length).All(i => begin[i] <= d[i] * (k[i] - 1) && end[i] <= d[i] * (k[i] - 1)))
            {
                Flow(node.Input[0], StrideOneInputGradient(node.Input[1], gy, w, k, d, begin, end, group));
                return;
            }
            var (pads, outputPadding) = TransposedPads(x[2..], y[2..], k, s, d, begin, end);
            // The input-gradient of a grouped convolution is the transposed convolution with the same weight
            // tensor: [M, C/g, k..] read as ConvTranspose's [C_in = M, C_out/g = C/g, k..].
            Flow(node.Input[0], _emit.Op("ConvTranspose", [gy, node.Input[1]],
                Ints("kernel_shape", k), Ints("strides", s), Ints("dilations", d), Ints("pads", pads),
                Ints("output_padding", outputPadding), Int("group", GetInt(node, "group", 1))));
        }

        /// <summary>
        /// The input-gradient of a stride-1 convolution as a convolution: for y = W ⋆ x (cross-correlation, pads b, e,
        /// dilation d), ∂L/∂x = W' ⋆ gy with W' the spatially flipped weight with input and output channels swapped
        /// within each group, [M, C/g, k..] → [C, M/g, k..], and pads d(k−1) − b, d(k−1) − e (the "full" correlation
        /// of the gradient, cut back to x's size). It equals ConvTranspose(gy, W) term by term, but ONNX Runtime runs
        /// Conv through its blocked NCHWc kernels and ConvTranspose through im2col/col2im: on ResNet-18's Jacobian
        /// the stride-1 ConvTransposes took 60 % of the run. W' is built from W by Reshape/Transpose/Slice, which
        /// ONNX Runtime folds into a constant when W is one.
        /// </summary>
        private string StrideOneInputGradient(string weight, string gy, long[] w, long[] k, long[] d, long[] begin, long[] end, long group)
        {
            int n = k.Length;
            long m = w[0], cPerGroup = w[1];
            // [M, C/g, k..] → [g, M/g, C/g, k..] → [g, C/g, M/g, k..] → [C, M/g, k..]
            var grouped = _emit.Op("Reshape", weight, _emit.Int64s([group, m / group, cPerGroup, .. k]));
            var perm = new long[n + 3];
            perm[0] = 0; perm[1] = 2; perm[2] = 1;
            for (int i = 0; i < n; i++) perm[3 + i] = 3 + i;
            var swapped = _emit.Op("Reshape", _emit.Op("Transpose", [grouped], Ints("perm", perm)), _emit.Int64s([group * cPerGroup, m / group, .. k]));
            // Flip every spatial axis: Slice with step −1 from the last element to before the first.
            var axes = Enumerable.Range(2, n).Select(a => (long)a).ToArray();
            var flipped = _emit.Op("Slice", swapped, _emit.Int64s(Enumerable.Repeat(-1L, n).ToArray()),
                _emit.Int64s(Enumerable.Repeat(long.MinValue, n).ToArray()), _emit.Int64s(axes), _emit.Int64s(Enumerable.Repeat(-1L, n).ToArray()));
            var pads = new long[2 * n];
            for (int i = 0; i < n; i++)
            {
                pads[i] = d[i] * (k[i] - 1) - begin[i];
                pads[n + i] = d[i] * (k[i] - 1) - end[i];
            }
            return _emit.Op("Conv", [gy, flipped], Ints("kernel_shape", k), Ints("strides", Enumerable.Repeat(1L, n).ToArray()),
                Ints("dilations", d), Ints("pads", pads), Int("group", group));
        }

        private void BackwardMaxPool(NodeProto node, int index, string gy, long[] y)
        {
            if (GetInt(node, "storage_order", 0) != 0) throw AtNode(node, index, "storage_order=1 (column-major indices) is not supported");
            var x = ShapeOf(node.Input[0], node, index);
            // Let the forward MaxPool also return the flat argmax indices (row-major over the batch-1 input).
            if (node.Output.Count < 2) node.Output.Add(_emit.Fresh("maxpool_indices"));
            else if (node.Output[1].Length == 0) node.Output[1] = _emit.Fresh("maxpool_indices");
            long nIn = StaticShapes.Product(x[1..]), nOut = StaticShapes.Product(y[1..]);
            // The k-dependent shapes are read from the gradient itself (not from the cotangents input), so that
            // these nodes become ready only when the gradient does (see NodeSchedule).
            var updates = _emit.Op("Reshape", gy, _emit.Int64s(-1, nOut));
            var updatesShape = _emit.Op("Shape", updates);
            var indices = _emit.Op("Expand", _emit.Op("Reshape", node.Output[1], _emit.Int64s(1, nOut)), updatesShape);
            var rows = _emit.Op("Shape", [updates], Int("start", 0), Int("end", 1));
            var zeros = _emit.Op("ConstantOfShape", _emit.Op("Concat", [rows, _emit.Int64s(nIn)], Int("axis", 0)));
            // reduction="add", not MaxUnpool: overlapping windows can pick the same input element twice.
            var scattered = _emit.Op("ScatterElements", [zeros, indices, updates], Int("axis", 1), OnnxAttributes.String("reduction", "add"));
            Flow(node.Input[0], _emit.Op("Reshape", scattered, _emit.Int64s([-1, .. x[1..]])));
        }

        private void BackwardAveragePool(NodeProto node, int index, string gy, long[] y)
        {
            if (GetInt(node, "ceil_mode", 0) != 0) throw AtNode(node, index, "AveragePool with ceil_mode=1 is not supported");
            var x = ShapeOf(node.Input[0], node, index);
            var kernel = GetInts(node, "kernel_shape") ?? throw AtNode(node, index, "kernel_shape is missing");
            var (k, s, d, begin, end) = StaticShapes.Geometry(node, x, kernel);
            bool includePad = GetInt(node, "count_include_pad", 0) != 0;
            bool padded = begin.Any(p => p != 0) || end.Any(p => p != 0);
            long channels = x[1];
            long window = StaticShapes.Product(k);
            var g = gy;
            float weightValue = 1f / window;
            if (padded && !includePad)
            {
                // The divisor is the number of real (non-pad) elements in each window; it factorises over axes.
                var outSpatial = y[2..];
                var counts = new float[StaticShapes.Product(outSpatial)];
                for (int flat = 0; flat < counts.Length; flat++)
                {
                    long rest = flat, count = 1;
                    for (int axis = outSpatial.Length - 1; axis >= 0; axis--)
                    {
                        long o = rest % outSpatial[axis];
                        rest /= outSpatial[axis];
                        long inside = 0;
                        for (long j = 0; j < k[axis]; j++)
                        {
                            long p = o * s[axis] - begin[axis] + j * d[axis];
                            if (p >= 0 && p < x[axis + 2]) inside++;
                        }
                        count *= inside;
                    }
                    counts[flat] = 1f / count;
                }
                g = _emit.Op("Mul", gy, _emit.Floats(counts, [1, 1, .. outSpatial], "avgpool_divisor"));
                weightValue = 1f;
            }
            var weights = Enumerable.Repeat(weightValue, (int)(channels * window)).ToArray();
            var w = _emit.Floats(weights, [channels, 1, .. k], "avgpool_weight");
            var (pads, outputPadding) = TransposedPads(x[2..], y[2..], k, s, d, begin, end);
            Flow(node.Input[0], _emit.Op("ConvTranspose", [g, w],
                Ints("kernel_shape", k), Ints("strides", s), Ints("dilations", d), Ints("pads", pads),
                Ints("output_padding", outputPadding), Int("group", channels)));
        }

        private void BackwardBatchNorm(NodeProto node, int index, string gy)
        {
            if (GetInt(node, "training_mode", 0) != 0) throw AtNode(node, index, "BatchNormalization in training mode is not supported");
            for (int i = 1; i < 5; i++) RequireConstant(node, index, i, "statistics or affine parameters");
            var x = ShapeOf(node.Input[0], node, index);
            // Inference form: y = scale (x − mean) / √(var + ε) + B, a per-channel scale.
            float eps = GetFloat(node, "epsilon", 1e-5f);
            var factor = _emit.Op("Div", node.Input[1], _emit.Op("Sqrt", _emit.Op("Add", node.Input[4], _emit.Scalar(eps))));
            long[] perChannel = [x[1], .. Enumerable.Repeat(1L, x.Length - 2)];
            Flow(node.Input[0], _emit.Op("Mul", gy, _emit.Op("Reshape", factor, _emit.Int64s(perChannel))));
        }
    }
}
