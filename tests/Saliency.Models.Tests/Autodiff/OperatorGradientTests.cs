using NUnit.Framework;
using Saliency.Models.Onnx;
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
    public sealed record Case(string Name, long[] InputShape, Func<OnnxGraphBuilder, string, Random, string> Body, double Tolerance = 2e-3, double Step = 1e-2, bool FixedBatch = false)
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
    }

    [TestCaseSource(nameof(Cases))]
    public void VjpMatchesFiniteDifferences(Case testCase)
    {
        var model = Classifier(testCase.InputShape, testCase.Body, seed: testCase.Name.Length, fixedBatch: testCase.FixedBatch);
        AssertMatchesFiniteDifferences(model, seed: 11, h: testCase.Step, tolerance: testCase.Tolerance);
    }
}
