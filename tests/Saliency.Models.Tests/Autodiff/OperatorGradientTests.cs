using NUnit.Framework;
using Saliency.Models.Onnx;
using Saliency.Models.Onnx.Proto;
using static Saliency.Models.Tests.Autodiff.JacobianHarness;
using Saliency.TestSupport;

namespace Saliency.Models.Tests.Autodiff;

/// <summary>
/// For every operator with a backward rule: the exported VJP against central finite differences of the forward
/// pass, on random inputs and random cotangents, for several attribute settings. Each case is a tiny classifier
/// input → body → Flatten → Gemm; the body puts the operator under test on the path to the logits.
/// </summary>
[TestFixture]
internal sealed class OperatorGradientTests
{
    public sealed record Case(string Name, long[] InputShape, Func<OnnxGraphBuilder, string, Random, string> Body, double Tolerance = 2e-3, double Step = 1e-2, bool FixedBatch = false, long Opset = 17)
    {
        public override string ToString() => Name;
    }

    private static string W(OnnxGraphBuilder b, Random rng, string hint, params long[] dims) =>
        b.Initializer(b.FreshName(hint), RandomVector(rng, (int)dims.Aggregate(1L, (a, c) => a * c), 0.5), dims);

    private static string Conv(OnnxGraphBuilder b, string x, Random rng, long cin, long cout, long k, long[]? strides = null,
        long[]? pads = null, long[]? dilations = null, long group = 1) =>
        b.Conv(x, W(b, rng, "w", cout, cin / group, k, k), W(b, rng, "bias", cout), strides, pads, dilations, group);

    public static IEnumerable<Case> Cases()
    {
        // Dense layers.
        yield return new("Gemm transB", [6], (b, x, r) => b.Gemm(x, W(b, r, "w", 5, 6), W(b, r, "c", 5), transB: true));
        yield return new("Gemm alpha beta, no transB", [6], (b, x, r) => b.Gemm(x, W(b, r, "w", 6, 5), W(b, r, "c", 1, 5), alpha: 0.7f, beta: 1.3f));
        yield return new("Gemm with C depending on the input", [5], (b, x, r) => b.Gemm(x, W(b, r, "w", 5, 5), b.Tanh(x), alpha: 0.5f, beta: 2f));
        yield return new("MatMul", [6], (b, x, r) => b.MatMul(x, W(b, r, "w", 6, 4)));
        yield return new("MatMul rank 3", [3, 6], (b, x, r) => b.MatMul(x, W(b, r, "w", 6, 4)));

        // Elementwise arithmetic with broadcasting (constants and tensors).
        yield return new("Add constant broadcast per channel", [2, 4, 4], (b, x, r) => b.Add(x, W(b, r, "c", 2, 1, 1)));
        yield return new("Mul constant broadcast per column", [2, 4, 4], (b, x, r) => b.Mul(x, W(b, r, "c", 1, 1, 4)));
        yield return new("Sub constant minus input", [2, 3, 3], (b, x, r) => b.Sub(W(b, r, "c", 2, 3, 3), x));
        yield return new("Div by constant", [2, 3, 3], (b, x, r) => b.Div(x, b.Add(b.Mul(W(b, r, "c", 2, 1, 1), W(b, r, "c", 2, 1, 1)), b.Initializer(b.FreshName("one"), [1f]))));
        yield return new("Mul tensor by broadcast tensor (squeeze-excite)", [2, 4, 4], (b, x, r) => b.Mul(x, b.Sigmoid(b.GlobalAveragePool(x))));
        yield return new("Add tensor and broadcast tensor", [3, 4, 4], (b, x, r) => b.Add(b.Tanh(x), b.GlobalAveragePool(x)));
        yield return new("Mul same tensor twice", [2, 3, 3], (b, x, r) => b.Mul(x, x));
        yield return new("Div tensor by tensor", [2, 3, 3], (b, x, r) => b.Div(b.Tanh(x), b.Add(b.Sigmoid(x), b.Initializer(b.FreshName("one"), [1f]))));
        yield return new("Sub tensor minus broadcast tensor", [2, 4, 4], (b, x, r) => b.Sub(x, b.GlobalAveragePool(b.Mul(x, x))));

        // Activations.
        yield return new("Relu", [2, 4, 4], (b, x, r) => b.Relu(Conv(b, x, r, 2, 3, 3, pads: [1, 1, 1, 1])));
        yield return new("LeakyRelu", [2, 4, 4], (b, x, r) => b.LeakyRelu(Conv(b, x, r, 2, 3, 3, pads: [1, 1, 1, 1]), 0.2f));
        yield return new("Sigmoid", [8], (b, x, r) => b.Sigmoid(b.Gemm(x, W(b, r, "w", 6, 8), transB: true)));
        yield return new("Tanh", [8], (b, x, r) => b.Tanh(b.Gemm(x, W(b, r, "w", 6, 8), transB: true)));
        yield return new("Softmax last axis", [7], (b, x, r) => b.Softmax(b.Mul(x, b.Initializer(b.FreshName("t"), [2f])), -1));
        yield return new("Softmax channel axis of a 4-D tensor", [3, 2, 2], (b, x, r) => b.Softmax(x, 1));
        yield return new("Clip both bounds", [2, 4, 4], (b, x, r) => b.Clip(x, -0.5f, 0.7f));
        yield return new("Clip min only", [2, 4, 4], (b, x, r) => b.Clip(x, min: 0.1f));

        // Convolutions.
        yield return new("Conv 3x3 pad 1", [2, 6, 6], (b, x, r) => Conv(b, x, r, 2, 3, 3, pads: [1, 1, 1, 1]));
        yield return new("Conv stride 2 asymmetric pads dilation 2", [2, 9, 8], (b, x, r) => Conv(b, x, r, 2, 3, 3, [2, 2], [1, 0, 2, 1], [2, 2]));
        yield return new("Conv stride 3 leaves rows unread", [1, 10, 10], (b, x, r) => Conv(b, x, r, 1, 2, 2, [3, 3]));
        yield return new("Conv groups 2", [4, 6, 6], (b, x, r) => Conv(b, x, r, 4, 6, 3, pads: [1, 1, 1, 1], group: 2));
        // Stride 1 differentiates as a Conv with flipped, channel-swapped weights; pads beyond d(k−1) keep ConvTranspose.
        yield return new("Conv stride 1 asymmetric pads dilation 2", [2, 9, 8], (b, x, r) => Conv(b, x, r, 2, 3, 3, null, [1, 0, 2, 1], [2, 2]));
        yield return new("Conv depthwise stride 1", [3, 7, 7], (b, x, r) => Conv(b, x, r, 3, 3, 3, null, [1, 1, 1, 1], group: 3));
        yield return new("Conv 1x1", [4, 5, 5], (b, x, r) => Conv(b, x, r, 4, 2, 1));
        yield return new("Conv stride 1 pads beyond the kernel", [2, 4, 4], (b, x, r) => Conv(b, x, r, 2, 3, 3, null, [3, 3, 3, 3]));
        yield return new("Conv depthwise stride 2", [3, 7, 7], (b, x, r) => Conv(b, x, r, 3, 3, 3, [2, 2], [1, 1, 1, 1], group: 3));
        yield return new("Conv auto_pad SAME_UPPER stride 2", [2, 7, 6], (b, x, r) =>
            b.Node("Conv", [x, W(b, r, "w", 3, 2, 3, 3)], [OnnxAttributes.String("auto_pad", "SAME_UPPER"), OnnxAttributes.Ints("strides", [2, 2])]));

        // Pooling.
        yield return new("MaxPool overlapping 3x3 stride 1", [2, 6, 6], (b, x, r) => b.MaxPool(x, [3, 3], [1, 1]), Step: 1e-3);
        yield return new("MaxPool 3x3 stride 2 pad 1", [2, 7, 7], (b, x, r) => b.MaxPool(x, [3, 3], [2, 2], [1, 1, 1, 1]));
        yield return new("MaxPool dilation 2", [1, 8, 8], (b, x, r) => b.MaxPool(x, [2, 2], [1, 1], null, [2, 2]), Step: 1e-3);
        yield return new("MaxPool ceil_mode", [2, 7, 7], (b, x, r) =>
            b.Node("MaxPool", [x], [OnnxAttributes.Ints("kernel_shape", [2, 2]), OnnxAttributes.Ints("strides", [2, 2]), OnnxAttributes.Int("ceil_mode", 1)]));
        yield return new("AveragePool 2x2 stride 2", [2, 6, 6], (b, x, r) => b.AveragePool(x, [2, 2], [2, 2]));
        yield return new("AveragePool pads, count_include_pad 0", [2, 5, 5], (b, x, r) => b.AveragePool(x, [3, 3], [2, 2], [1, 1, 1, 1]));
        yield return new("AveragePool pads, count_include_pad 1", [2, 5, 5], (b, x, r) => b.AveragePool(x, [3, 3], [1, 1], [1, 0, 1, 2], countIncludePad: true));
        yield return new("GlobalAveragePool", [3, 5, 4], (b, x, r) => b.GlobalAveragePool(x));
        yield return new("BatchNormalization", [3, 4, 4], (b, x, r) => b.BatchNorm2d(x, 3, r));

        // Shape and routing ops.
        yield return new("Flatten then Reshape", [2, 3, 3], (b, x, r) => b.Reshape(b.Flatten(x), [1, 3, -1]), FixedBatch: true);
        yield return new("Reshape with 0 and -1", [2, 3, 4], (b, x, r) => b.Reshape(x, [0, 6, -1]));
        yield return new("Transpose NCHW to NHWC", [2, 3, 4], (b, x, r) => b.Mul(b.Transpose(x, [0, 2, 3, 1]), W(b, r, "c", 1, 1, 1, 2)));
        yield return new("Concat channel axis, one input twice", [2, 3, 3], (b, x, r) => b.Concat([b.Relu(x), x, b.Tanh(x), x], 1));
        yield return new("Concat last axis with a constant", [2, 3, 3], (b, x, r) => b.Concat([x, W(b, r, "c", 1, 2, 3, 2)], 3), FixedBatch: true);
        yield return new("Identity and Dropout", [5], (b, x, r) => b.Dropout(b.Identity(b.Tanh(x))));

        foreach (var c in FamilyCases()) yield return c;
    }

    private static string Op(OnnxGraphBuilder b, string op, string[] inputs, params AttributeProto[] attributes) => b.Node(op, inputs, attributes);

    private static string F(OnnxGraphBuilder b, params float[] values) => b.Initializer(b.FreshName("c"), values);

    private static string F(OnnxGraphBuilder b, float[] values, params long[] dims) => b.Initializer(b.FreshName("c"), values, dims);

    private static string I(OnnxGraphBuilder b, params long[] values) => b.Initializer(b.FreshName("i"), values, values.Length);

    /// <summary>The operators of the common classifier families (issue 10): activations, element-wise maths, reductions, layout, resampling, normalisation.</summary>
    public static IEnumerable<Case> FamilyCases()
    {
        // Activations (inputs spread by a convolution so that every branch of a piecewise rule is visited).
        yield return new("HardSigmoid default", [2, 4, 4], (b, x, r) => Op(b, "HardSigmoid", [b.Mul(x, F(b, 3f))]));
        yield return new("HardSigmoid alpha beta", [2, 4, 4], (b, x, r) => Op(b, "HardSigmoid", [b.Mul(x, F(b, 3f))], OnnxAttributes.Float("alpha", 0.3f), OnnxAttributes.Float("beta", 0.4f)));
        yield return new("HardSwish", [2, 4, 4], (b, x, r) => Op(b, "HardSwish", [b.Mul(x, F(b, 4f))]));
        yield return new("HardSwish as x times HardSigmoid (opset 13 export)", [2, 4, 4], (b, x, r) =>
        {
            var s = b.Mul(x, F(b, 4f));
            return b.Mul(s, Op(b, "HardSigmoid", [s], OnnxAttributes.Float("alpha", 1f / 6), OnnxAttributes.Float("beta", 0.5f)));
        }, Opset: 13);
        yield return new("PRelu per channel", [3, 4, 4], (b, x, r) => Op(b, "PRelu", [x, F(b, [0.1f, -0.3f, 0.6f], 3, 1, 1)]));
        yield return new("Elu", [2, 4, 4], (b, x, r) => Op(b, "Elu", [x], OnnxAttributes.Float("alpha", 0.7f)));
        yield return new("Softplus", [2, 3, 3], (b, x, r) => Op(b, "Softplus", [b.Mul(x, F(b, 2f))]));
        yield return new("SiLU as x times Sigmoid (EfficientNet)", [2, 3, 3], (b, x, r) => b.Mul(x, b.Sigmoid(x)));
        yield return new("GELU as x Phi(x) with Erf", [2, 3, 3], (b, x, r) =>
            b.Mul(b.Mul(x, F(b, 0.5f)), b.Add(Op(b, "Erf", [b.Mul(x, F(b, 0.70710677f))]), F(b, 1f))));
        yield return new("Clip as ReLU6", [2, 4, 4], (b, x, r) => b.Clip(b.Mul(x, F(b, 5f)), 0f, 6f));

        // Element-wise maths.
        yield return new("Exp", [2, 3, 3], (b, x, r) => Op(b, "Exp", [x]));
        yield return new("Log of a positive tensor", [2, 3, 3], (b, x, r) => Op(b, "Log", [b.Add(b.Mul(x, x), F(b, 0.5f))]));
        yield return new("Sqrt of a positive tensor", [2, 3, 3], (b, x, r) => Op(b, "Sqrt", [b.Add(b.Mul(x, x), F(b, 0.5f))]));
        yield return new("Pow integer exponent", [2, 3, 3], (b, x, r) => Op(b, "Pow", [x, F(b, 3f)]));
        yield return new("Pow fractional exponent per channel", [2, 3, 3], (b, x, r) => Op(b, "Pow", [b.Add(b.Mul(x, x), F(b, 0.5f)), F(b, [0.5f, 1.5f], 2, 1, 1)]));
        yield return new("Erf", [2, 3, 3], (b, x, r) => Op(b, "Erf", [x]));
        yield return new("Neg", [4], (b, x, r) => Op(b, "Neg", [b.Tanh(x)]));
        yield return new("Cast float to float", [2, 3, 3], (b, x, r) => Op(b, "Cast", [b.Tanh(x)], OnnxAttributes.Int("to", 1)));
        yield return new("Sum of three with a repeat", [2, 3, 3], (b, x, r) => Op(b, "Sum", [x, b.Tanh(x), x, F(b, [1f, 2f], 2, 1, 1)]));
        yield return new("LogSoftmax channel axis", [3, 2, 2], (b, x, r) => Op(b, "LogSoftmax", [x], OnnxAttributes.Int("axis", 1)));

        // Reductions.
        yield return new("ReduceMean spatial, keepdims 0 (opset 17 attribute axes)", [3, 4, 5], (b, x, r) =>
            Op(b, "ReduceMean", [b.Tanh(x)], OnnxAttributes.Ints("axes", 2, 3), OnnxAttributes.Int("keepdims", 0)));
        yield return new("ReduceMean axes input (opset 18)", [3, 4, 5], (b, x, r) => Op(b, "ReduceMean", [b.Tanh(x), I(b, -1)]), Opset: 18);
        yield return new("ReduceSum channel axis input (opset 13)", [3, 4, 4], (b, x, r) => Op(b, "ReduceSum", [b.Mul(x, x), I(b, 1)]), Opset: 13);
        yield return new("ReduceSum keepdims 0 two axes", [3, 4, 4], (b, x, r) => Op(b, "ReduceSum", [b.Tanh(x), I(b, 1, 3)], OnnxAttributes.Int("keepdims", 0)));
        yield return new("ReduceMax last axis", [3, 4, 5], (b, x, r) => Op(b, "ReduceMax", [x], OnnxAttributes.Ints("axes", 3)));
        yield return new("GlobalMaxPool", [3, 4, 4], (b, x, r) => Op(b, "GlobalMaxPool", [x]));

        // Layout.
        yield return new("Split equal parts, one part unused", [6, 3, 3], (b, x, r) =>
        {
            var parts = b.Node("Split", [x], 3, [OnnxAttributes.Int("axis", 1)]);
            return b.Concat([b.Tanh(parts[0]), b.Mul(parts[2], F(b, 2f))], 1);
        });
        yield return new("Split sizes input (opset 13)", [5, 3, 3], (b, x, r) =>
        {
            var parts = b.Node("Split", [x, I(b, 2, 3)], 2, [OnnxAttributes.Int("axis", 1)]);
            return b.Concat([parts[1], b.Tanh(parts[0])], 1);
        }, Opset: 13);
        yield return new("Channel shuffle (Reshape, Transpose 5-D, Reshape)", [4, 3, 3], (b, x, r) =>
            b.Reshape(b.Transpose(b.Reshape(b.Tanh(x), [1, 2, 2, 3, 3]), [0, 2, 1, 3, 4]), [1, 4, 3, 3]), FixedBatch: true);
        yield return new("Gather constant indices with a repeat and a negative index", [4, 3, 3], (b, x, r) =>
            Op(b, "Gather", [x, I(b, 2, 0, 2, -1)], OnnxAttributes.Int("axis", 1)));
        yield return new("Gather a scalar index (x[:, 0])", [3, 4, 4], (b, x, r) =>
            Op(b, "Unsqueeze", [Op(b, "Gather", [x, b.Initializer(b.FreshName("idx"), [1L])], OnnxAttributes.Int("axis", 1)), I(b, 1)]));
        yield return new("Slice steps 2 and a negative step", [4, 6, 5], (b, x, r) =>
            Op(b, "Slice", [x, I(b, 1, 4), I(b, 4, -100), I(b, 2, 3), I(b, 2, -1)]));
        yield return new("Pad constant", [2, 3, 3], (b, x, r) => Op(b, "Pad", [x, I(b, 0, 0, 1, 2, 0, 0, 2, 0), F(b, 0.5f)]));
        yield return new("Pad reflect", [2, 4, 4], (b, x, r) => Op(b, "Pad", [x, I(b, 0, 0, 2, 1, 0, 0, 1, 3)], OnnxAttributes.String("mode", "reflect")));
        yield return new("Pad edge", [2, 3, 3], (b, x, r) => Op(b, "Pad", [x, I(b, 0, 0, 1, 2, 0, 0, 2, 0)], OnnxAttributes.String("mode", "edge")));
        yield return new("Pad negative (crop)", [2, 5, 5], (b, x, r) => Op(b, "Pad", [x, I(b, 0, 0, -1, 1, 0, 0, 1, -2)]));
        yield return new("Squeeze then Unsqueeze", [3, 1, 4], (b, x, r) => Op(b, "Unsqueeze", [Op(b, "Squeeze", [b.Tanh(x), I(b, 2)]), I(b, 3)]));

        // Resampling (ONNX Runtime's forward is the oracle: the float64 evaluator has no Resize).
        foreach (var (name, attrs, scales) in new (string, AttributeProto[], float[])[]
        {
            ("nearest ×2 (half_pixel, round_prefer_floor)", [], [1, 1, 2, 2]),
            ("nearest ×2 asymmetric floor (Upsample semantics)", [OnnxAttributes.String("coordinate_transformation_mode", "asymmetric"), OnnxAttributes.String("nearest_mode", "floor")], [1, 1, 2, 2]),
            ("nearest ×1.5 round_prefer_ceil", [OnnxAttributes.String("nearest_mode", "round_prefer_ceil")], [1, 1, 1.5f, 1.5f]),
            ("linear ×2 half_pixel", [OnnxAttributes.String("mode", "linear")], [1, 1, 2, 2]),
            ("linear ×2 align_corners", [OnnxAttributes.String("mode", "linear"), OnnxAttributes.String("coordinate_transformation_mode", "align_corners")], [1, 1, 2, 2]),
            ("linear ×0.5 asymmetric", [OnnxAttributes.String("mode", "linear"), OnnxAttributes.String("coordinate_transformation_mode", "asymmetric")], [1, 1, 0.5f, 0.5f]),
            ("linear ×1.75 pytorch_half_pixel", [OnnxAttributes.String("mode", "linear"), OnnxAttributes.String("coordinate_transformation_mode", "pytorch_half_pixel")], [1, 1, 1.75f, 1.75f]),
        })
            yield return new($"Resize {name}", [2, 4, 4], (b, x, r) => b.Node("Resize", [x, "", F(b, scales, 4)], attrs));
        yield return new("Resize linear to sizes 7×3", [2, 4, 5], (b, x, r) =>
            b.Node("Resize", [x, "", "", I(b, 1, 2, 7, 3)], [OnnxAttributes.String("mode", "linear")]), FixedBatch: true);

        // Normalisation.
        yield return new("LRN size 3", [5, 3, 3], (b, x, r) => Op(b, "LRN", [x], OnnxAttributes.Int("size", 3), OnnxAttributes.Float("alpha", 0.5f), OnnxAttributes.Float("beta", 0.75f), OnnxAttributes.Float("bias", 1.5f)));
        yield return new("LRN size 5 default bias", [6, 3, 3], (b, x, r) => Op(b, "LRN", [x], OnnxAttributes.Int("size", 5), OnnxAttributes.Float("alpha", 0.3f), OnnxAttributes.Float("beta", 0.6f)));
        yield return new("LayerNormalization last axis", [3, 5], (b, x, r) =>
            Op(b, "LayerNormalization", [x, W(b, r, "scale", 5), W(b, r, "bias", 5)], OnnxAttributes.Float("epsilon", 1e-3f)));
        yield return new("LayerNormalization over C, H, W", [3, 2, 2], (b, x, r) =>
            Op(b, "LayerNormalization", [x, W(b, r, "scale", 3, 2, 2)], OnnxAttributes.Int("axis", 1)));

        // Squeeze-excitation (MobileNet v3): GlobalAveragePool → 1×1 conv → ReLU → 1×1 conv → HardSigmoid → Mul.
        yield return new("Squeeze-excitation block", [4, 5, 5], (b, x, r) =>
        {
            var gate = b.GlobalAveragePool(x);
            gate = b.Relu(Conv(b, gate, r, 4, 2, 1));
            gate = Op(b, "HardSigmoid", [Conv(b, gate, r, 2, 4, 1)], OnnxAttributes.Float("alpha", 1f / 6), OnnxAttributes.Float("beta", 0.5f));
            return b.Mul(x, gate);
        });
    }

    [TestCaseSource(nameof(Cases))]
    public void VjpMatchesFiniteDifferences(Case testCase)
    {
        var model = Classifier(testCase.InputShape, testCase.Body, seed: testCase.Name.Length, opset: testCase.Opset, fixedBatch: testCase.FixedBatch);
        AssertMatchesFiniteDifferences(model, seed: 11, h: testCase.Step, tolerance: testCase.Tolerance);
    }
}
