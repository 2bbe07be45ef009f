using Google.Protobuf;
using NUnit.Framework;
using Saliency.Models.Autodiff;
using Saliency.Models.Classifiers;
using Saliency.Models.Onnx;
using Saliency.Models.Onnx.Proto;
using Saliency.Models.Runtime;
using Saliency.TestSupport;
using static Saliency.Models.Onnx.OnnxAttributes;
using static Saliency.Models.Tests.Autodiff.JacobianHarness;

namespace Saliency.Models.Tests.Autodiff;

/// <summary>
/// Per-opset operator forms (issue 10 item 1): models written in the form of an older opset (attributes that later
/// became inputs, Softmax's 2-D coercion, BatchNormalization's <c>spatial</c>, Dropout's <c>ratio</c>, Upsample and
/// Resize-10) are exported and their VJP is checked by central finite differences of the <b>original</b> model —
/// evaluated at its own opset by the float64 reference evaluator, or by ONNX Runtime for ops the evaluator lacks
/// (Upsample, Resize) — so the upgrade to opset-13 forms is tested against an independent reading of the old form.
/// The exported model must load in ONNX Runtime at the opset it declares.
/// </summary>
[TestFixture]
public sealed class OpsetFormsTests
{
    public sealed record Case(string Name, long Opset, long[] InputShape, long Features, Func<OnnxGraphBuilder, string, string> Body, bool FixedBatch = false)
    {
        public override string ToString() => $"{Name} (opset {Opset})";
    }

    /// <summary>
    /// input [N, shape] → body → Flatten → Gemm → logits [N, 3], written at <paramref name="opset"/>. The builder
    /// checks structure only, so old operator forms are written with <see cref="OnnxGraphBuilder.Node(string, string[], IEnumerable{AttributeProto}?, string?, string)"/>.
    /// </summary>
    private static ModelProto Legacy(long opset, long[] inputShape, long features, Func<OnnxGraphBuilder, string, string> body, bool fixedBatch = false)
    {
        var rng = new Random((int)opset * 31 + inputShape.Length);
        var b = new OnnxGraphBuilder("legacy", 13);
        OnnxDim batch = fixedBatch ? 1 : "N";
        string x = b.Input("input", OnnxElementType.Float, [batch, .. inputShape.Select(s => (OnnxDim)s)]);
        string h = b.Flatten(body(b, x));
        var w = b.Initializer("head_w", RandomVector(rng, (int)(3 * features), 1.0 / Math.Sqrt(features)), 3, features);
        var c = b.Initializer("head_b", RandomVector(rng, 3, 0.1), 3);
        b.Output(b.Gemm(h, w, c, transB: true), OnnxElementType.Float, batch, 3);
        var model = b.Build();
        model.OpsetImport[0].Version = opset;
        model.IrVersion = opset < 9 ? 3 : opset < 11 ? 5 : 7;
        if (model.IrVersion < 4) ListInitializersAsInputs(model);
        return model;
    }

    /// <summary>Before IR version 4 every initializer is also a graph input (as old exporters write them).</summary>
    private static void ListInitializersAsInputs(ModelProto model)
    {
        foreach (var t in model.Graph.Initializer)
            model.Graph.Input.Add(OnnxGraphBuilder.ValueInfo(t.Name, (OnnxElementType)t.DataType, t.Dims.Select(d => (OnnxDim)d).ToArray()));
    }

    private static string F(OnnxGraphBuilder b, params float[] v) => b.Initializer(b.FreshName("f"), v, v.Length);

    private static string I(OnnxGraphBuilder b, params long[] v) => b.Initializer(b.FreshName("i"), v, v.Length);

    public static IEnumerable<Case> Cases()
    {
        yield return new("Clip min/max attributes", 9, [2, 3, 3], 18, (b, x) => b.Node("Clip", [x], [Float("min", -0.5f), Float("max", 0.7f)]));
        yield return new("Clip min attribute only (ReLU-like)", 7, [2, 3, 3], 18, (b, x) => b.Node("Clip", [x], [Float("min", 0.1f)]));
        yield return new("Clip bounds as inputs", 11, [2, 3, 3], 18, (b, x) => b.Node("Clip", [x, F(b, 0f), F(b, 0.6f)]));
        yield return new("Slice attributes", 9, [4, 5, 3], 2 * 4 * 3, (b, x) => b.Node("Slice", [x], [Ints("starts", 1, 1), Ints("ends", 3, 100), Ints("axes", 1, 2)]));
        yield return new("Slice inputs with steps", 10, [4, 5, 3], 2 * 3 * 3, (b, x) => b.Node("Slice", [x, I(b, 0, 0), I(b, 4, 5), I(b, 1, 2), I(b, 2, 2)]));
        yield return new("Pad attributes with a value", 9, [2, 3, 3], 2 * 4 * 6, (b, x) => b.Node("Pad", [x], [Ints("pads", 0, 0, 1, 2, 0, 0, 0, 1), Float("value", 0.25f)]));
        yield return new("Pad attributes, reflect", 9, [2, 4, 4], 2 * 6 * 5, (b, x) => b.Node("Pad", [x], [Ints("pads", 0, 0, 1, 0, 0, 0, 1, 1), String("mode", "reflect")]));
        yield return new("Squeeze and Unsqueeze axes attributes", 11, [3, 1, 4], 12, (b, x) =>
            b.Node("Unsqueeze", [b.Node("Squeeze", [b.Tanh(x)], [Ints("axes", 2)])], [Ints("axes", 1)]));
        yield return new("Squeeze and Unsqueeze axes inputs", 13, [3, 1, 4], 12, (b, x) =>
            b.Node("Unsqueeze", [b.Node("Squeeze", [b.Tanh(x), I(b, 2)]), I(b, 1)]));
        yield return new("ReduceSum axes attribute", 11, [3, 4, 4], 16, (b, x) => b.Node("ReduceSum", [b.Mul(x, x)], [Ints("axes", 1), Int("keepdims", 0)]));
        yield return new("ReduceMean axes attribute (adaptive pooling)", 9, [3, 4, 4], 3, (b, x) => b.Node("ReduceMean", [b.Tanh(x)], [Ints("axes", 2, 3), Int("keepdims", 0)]));
        yield return new("ReduceMean axes input", 18, [3, 4, 4], 3, (b, x) => b.Node("ReduceMean", [b.Tanh(x), I(b, 2, 3)], [Int("keepdims", 0)]));
        yield return new("Split equal parts", 9, [4, 3, 3], 18, (b, x) =>
        {
            var parts = b.Node("Split", [x], 2, [Int("axis", 1)]);
            return b.Mul(parts[0], b.Tanh(parts[1]));
        });
        yield return new("Split split attribute", 11, [5, 3, 3], 45, (b, x) =>
        {
            var parts = b.Node("Split", [x], 2, [Int("axis", 1), Ints("split", 2, 3)]);
            return b.Concat([parts[1], b.Tanh(parts[0])], 1);
        });
        yield return new("Split num_outputs", 18, [4, 3, 3], 18, (b, x) =>
        {
            var parts = b.Node("Split", [x], 2, [Int("axis", 1), Int("num_outputs", 2)]);
            return b.Sub(parts[0], b.Tanh(parts[1]));
        });
        // Before 13, Softmax normalises over all axes from `axis` on (the input coerced to 2-D); from 13 over one axis.
        yield return new("Softmax coerced at axis 1 of a 4-D tensor", 11, [2, 3, 3], 18, (b, x) => b.Node("Softmax", [x], [Int("axis", 1)]));
        yield return new("Softmax default axis (1) of a 4-D tensor", 9, [2, 2, 3], 12, (b, x) => b.Node("Softmax", [x]));
        yield return new("LogSoftmax coerced at axis 2", 12, [2, 3, 3], 18, (b, x) => b.Node("LogSoftmax", [x], [Int("axis", 2)]));
        yield return new("Softmax one axis of a 4-D tensor", 13, [2, 3, 3], 18, (b, x) => b.Node("Softmax", [x], [Int("axis", 1)]));
        yield return new("BatchNormalization spatial 1", 7, [3, 3, 3], 27, (b, x) =>
            b.Node("BatchNormalization", [x, F(b, 1f, 0.5f, 2f), F(b, 0f, 0.1f, -0.2f), F(b, 0.1f, 0f, 0.3f), F(b, 1f, 2f, 0.5f)], [Int("spatial", 1)]));
        yield return new("BatchNormalization spatial 0 (per-element statistics)", 7, [2, 2, 2], 8, (b, x) =>
        {
            string S(float lo, float hi) => b.Initializer(b.FreshName("bn"), Enumerable.Range(0, 8).Select(i => lo + (hi - lo) * i / 7f).ToArray(), 2, 2, 2);
            return b.Node("BatchNormalization", [x, S(0.5f, 1.5f), S(-0.2f, 0.2f), S(-0.1f, 0.3f), S(0.5f, 2f)], [Int("spatial", 0), Float("epsilon", 1e-3f)]);
        });
        yield return new("Dropout ratio attribute", 7, [6], 6, (b, x) => b.Node("Dropout", [b.Tanh(x)], [Float("ratio", 0.3f)]));
        yield return new("Dropout ratio input", 13, [6], 6, (b, x) => b.Node("Dropout", [b.Tanh(x), b.Initializer(b.FreshName("ratio"), [0.3f])]));
        yield return new("Upsample nearest, scales attribute", 7, [2, 3, 3], 2 * 6 * 6, (b, x) =>
            b.Node("Upsample", [x], [String("mode", "nearest"), Floats("scales", 1, 1, 2, 2)]));
        yield return new("Upsample linear, scales input", 9, [2, 3, 3], 2 * 6 * 6, (b, x) =>
            b.Node("Upsample", [x, F(b, 1, 1, 2, 2)], [String("mode", "linear")]));
        yield return new("Resize-10 nearest", 10, [2, 3, 3], 2 * 9 * 9, (b, x) => b.Node("Resize", [x, F(b, 1, 1, 3, 3)]));
        yield return new("Resize-10 linear", 10, [2, 3, 3], 2 * 6 * 6, (b, x) => b.Node("Resize", [x, F(b, 1, 1, 2, 2)], [String("mode", "linear")]));
        yield return new("Resize-11 linear with empty roi", 11, [2, 3, 3], 2 * 6 * 6, (b, x) =>
            b.Node("Resize", [x, b.Initializer(b.FreshName("roi"), Array.Empty<float>(), 0), F(b, 1, 1, 2, 2)], [String("mode", "linear")]));
        yield return new("Resize-19 half_pixel_symmetric", 19, [2, 3, 3], 2 * 5 * 5, (b, x) =>
            b.Node("Resize", [x, "", F(b, 1, 1, 1.7f, 1.7f)], [String("mode", "linear"), String("coordinate_transformation_mode", "half_pixel_symmetric")]));
        yield return new("LayerNormalization", 17, [3, 4], 12, (b, x) => b.Node("LayerNormalization", [x, F(b, 1f, 0.5f, 2f, 1.5f), F(b, 0f, 0.1f, 0f, -0.1f)]));
        yield return new("HardSwish", 14, [2, 3, 3], 18, (b, x) => b.Node("HardSwish", [b.Mul(x, F(b, 4f))]));
        yield return new("opset 21 (Reshape, ReduceMax axes input)", 21, [2, 3, 3], 6, (b, x) =>
            b.Node("ReduceMax", [b.Reshape(b.Relu(x), [0, 2, 3, 3]), I(b, 3)], [Int("keepdims", 0)]));
    }

    [TestCaseSource(nameof(Cases))]
    public void VjpMatchesFiniteDifferencesOfTheOriginalForm(Case testCase)
    {
        var model = Legacy(testCase.Opset, testCase.InputShape, testCase.Features, testCase.Body, testCase.FixedBatch);
        var exported = JacobianExporter.Export(model);
        long declared = exported.OpsetImport.Single(o => o.Domain is "" or "ai.onnx").Version;
        Assert.That(declared, Is.EqualTo(Math.Max(13, testCase.Opset)), "raised only as far as the added ops need (13 without MaxPool)");
        Assert.That(exported.Graph.Node.Where(n => n.Name.StartsWith("jacobian/") is false).Select(n => n.OpType), Does.Not.Contain("Upsample"));
        AssertMatchesFiniteDifferences(model, seed: 5);
    }

    [Test]
    public void Opset7NetworkWithMaxPoolIsRaisedTo16AndRunsInAClassifier()
    {
        // Conv → BatchNormalization (spatial) → Relu → MaxPool → Dropout(ratio) → Flatten → Gemm → Softmax(axis 1) at opset 7.
        var rng = new Random(8);
        var b = new OnnxGraphBuilder("old", 13);
        string x = b.Input("input", OnnxElementType.Float, "N", 2, 6, 6);
        string h = b.Conv2d(x, 2, 3, 3, rng, pad: 1);
        h = b.Node("BatchNormalization", [h, F(b, 1f, 0.7f, 1.3f), F(b, 0f, 0.1f, -0.1f), F(b, 0f, 0.2f, 0f), F(b, 1f, 0.5f, 2f)], [Int("spatial", 1)]);
        h = b.MaxPool(b.Relu(h), [2, 2], [2, 2]);
        h = b.Node("Dropout", [b.Flatten(h)], [Float("ratio", 0.5f)]);
        h = b.Linear(h, 27, 4, rng);
        string p = b.Node("Softmax", [h], [Int("axis", 1)], "prob");
        b.Output(p, OnnxElementType.Float, "N", 4);
        var model = b.Build();
        model.OpsetImport[0].Version = 7;
        model.IrVersion = 3;
        ListInitializersAsInputs(model);

        var exported = JacobianExporter.Export(model);
        Assert.That(exported.OpsetImport.Single().Version, Is.EqualTo(16));
        Assert.That(exported.MetadataProps.Single(e => e.Key == JacobianExporter.MetadataEndsInSoftmax).Value, Is.EqualTo("true"), "the opset-7 final Softmax(axis 1) of [N, 4] is the classifier's softmax");
        Assert.That(JacobianExporter.IsPiecewiseLinear(exported), Is.True);
        AssertMatchesFiniteDifferences(model, seed: 6);

        using var classifier = OnnxClassifier.Create(model, Options);
        Assert.That(classifier.ClassCount, Is.EqualTo(4));
        Assert.That(classifier.IsPiecewiseLinear, Is.True);
        var image = RandomVector(new Random(2), 72);
        var jacobian = classifier.Jacobian(image, [1]);
        Assert.That(jacobian.Data.Any(v => v != 0), Is.True);
    }

    [Test]
    public void ConstantNodeWeightsAreDifferentiatedAsConstants()
    {
        // PyTorch and other exporters sometimes keep weights in Constant nodes instead of initializers.
        var rng = new Random(4);
        var b = new OnnxGraphBuilder("constants", 13);
        string x = b.Input("input", OnnxElementType.Float, "N", 2, 5, 5);
        string w = b.Node("Constant", [], [Tensor("value", OnnxTensors.FromFloats("w", RandomVector(rng, 3 * 2 * 3 * 3, 0.5), [3, 2, 3, 3]))]);
        string slope = b.Node("Constant", [], [Tensor("value", OnnxTensors.FromFloats("s", [0.2f, -0.1f, 0.3f], [3, 1, 1]))]);
        string exponent = b.Node("Constant", [], [Tensor("value", OnnxTensors.FromFloats("e", [2f], []))]);
        string h = b.Node("PRelu", [b.Conv(x, w), slope]);
        h = b.Node("Pow", [h, exponent]);
        h = b.Linear(b.Flatten(h), 27, 3, rng);
        b.Output(h, OnnxElementType.Float, "N", 3);
        var model = b.Build();
        model.OpsetImport[0].Version = 9;
        var exported = JacobianExporter.Export(model);
        Assert.That(JacobianExporter.IsPiecewiseLinear(exported), Is.False, "Pow makes the network curved");
        AssertMatchesFiniteDifferences(model, seed: 3);
    }
}
