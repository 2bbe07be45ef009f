using Google.Protobuf;
using NUnit.Framework;
using Saliency.Models.Autodiff;
using Saliency.Models.Onnx;
using Saliency.Models.Onnx.Proto;
using Saliency.Models.Runtime;
using static Saliency.Models.Tests.Autodiff.JacobianHarness;
using Saliency.TestSupport;

namespace Saliency.Models.Tests.Autodiff;

/// <summary>
/// How the exporter treats model shapes it must recognise (final Softmax, PyTorch's dynamic Reshape, older opsets,
/// symbolic image sizes) and bad input: each refusal is a <see cref="JacobianExportException"/> naming the problem.
/// </summary>
[TestFixture]
public sealed class ExporterBehaviourTests
{
    private static ModelProto TinyCnn(Func<OnnxGraphBuilder, string, string>? tail = null, long opset = 17)
    {
        var rng = new Random(3);
        var b = new OnnxGraphBuilder("tiny", opset);
        string x = b.Input("input", OnnxElementType.Float, "N", 1, 6, 6);
        string h = b.Relu(b.Conv2d(x, 1, 2, 3, rng, pad: 1, name: "conv"));
        h = b.Linear(b.Flatten(h), 72, 5, rng, name: "fc");
        if (tail is not null) h = tail(b, h);
        b.Output(h, OnnxElementType.Float, "N", 5);
        return b.Build();
    }

    [Test]
    public void FinalSoftmaxIsDetectedAndDifferentiatedFromTheLogits()
    {
        var model = TinyCnn((b, h) => b.Softmax(b.Identity(h), -1, "prob"));
        var exported = JacobianExporter.Export(model);
        Assert.That(exported.MetadataProps.Single(e => e.Key == JacobianExporter.MetadataEndsInSoftmax).Value, Is.EqualTo("true"));
        Assert.That(exported.MetadataProps.Single(e => e.Key == JacobianExporter.MetadataLogits).Value, Is.Not.EqualTo("prob"));
        // The probabilities output is the classifier's own output; the VJP is that of the logits (checked by finite differences of the logits tensor).
        using var session = InferenceSession.Create(exported.ToByteArray(), Options);
        var x = RandomVector(new Random(1), 36);
        var outputs = session.Run([new FloatTensor("input", x, [1, 1, 6, 6]), new FloatTensor("cotangents", new float[5], [1, 5])], ["prob", "probabilities", "logits"]);
        Assert.That(outputs[1].Data, Is.EqualTo(outputs[0].Data));
        Assert.That(outputs[2].Data.Sum(), Is.Not.EqualTo(1f).Within(1e-3), "logits are not probabilities");
        AssertMatchesFiniteDifferences(model, seed: 2);
    }

    [Test]
    public void ClassifierWithoutSoftmaxGetsOneAppended()
    {
        var exported = JacobianExporter.Export(TinyCnn());
        Assert.That(exported.MetadataProps.Single(e => e.Key == JacobianExporter.MetadataEndsInSoftmax).Value, Is.EqualTo("false"));
        Assert.That(exported.Graph.Node.Count(n => n.OpType == "Softmax"), Is.EqualTo(1));
    }

    [Test]
    public void Opset13ModelIsRaisedOnlyAsFarAsTheAddedNodesNeed()
    {
        // No MaxPool: the added nodes are opset-13 forms, so the model stays at 13.
        var model = TinyCnn(opset: 13);
        var exported = JacobianExporter.Export(model);
        Assert.That(exported.OpsetImport.Single().Version, Is.EqualTo(13));
        AssertMatchesFiniteDifferences(model, seed: 4);
        // A MaxPool's backward uses ScatterElements with reduction="add" (opset 16).
        var pooled = TinyCnn((b, h) => b.Flatten(b.MaxPool(b.Reshape(h, [0, 1, 5, 1]), [2, 1], [1, 1])), opset: 13);
        pooled.Graph.Output[0].Type.TensorType.Shape.Dim[1].DimValue = 4;
        var raised = JacobianExporter.Export(pooled);
        Assert.That(raised.OpsetImport.Single().Version, Is.EqualTo(16));
        AssertMatchesFiniteDifferences(pooled, seed: 4);
        // A source opset above what the added nodes need is kept.
        Assert.That(JacobianExporter.Export(TinyCnn(opset: 18)).OpsetImport.Single().Version, Is.EqualTo(18));
    }

    [Test]
    public void InputModelIsNotModified()
    {
        var model = TinyCnn((b, h) => h);
        var before = model.ToByteArray();
        JacobianExporter.Export(model);
        Assert.That(model.ToByteArray(), Is.EqualTo(before));
    }

    /// <summary>PyTorch's <c>x.view(x.size(0), -1)</c>: Shape → Gather → Unsqueeze → Concat → Reshape, folded to constants.</summary>
    [Test]
    public void PyTorchStyleDynamicReshapeIsFolded()
    {
        var rng = new Random(8);
        var b = new OnnxGraphBuilder("dynamic_reshape");
        string x = b.Input("input", OnnxElementType.Float, "N", 2, 4, 4);
        string h = b.Relu(b.Conv2d(x, 2, 3, 3, rng, pad: 1, name: "conv"));
        string shape = b.Node("Shape", [h]);
        string zero = b.Initializer("zero", [0L]);
        string batch = b.Node("Gather", [shape, b.Initializer("index0", new long[] { 0 })], [OnnxAttributes.Int("axis", 0)]);
        string minusOne = b.Initializer("minus_one", [-1L], 1);
        string target = b.Node("Concat", [b.Node("Unsqueeze", [batch, zero]), minusOne], [OnnxAttributes.Int("axis", 0)]);
        h = b.Node("Reshape", [h, target]);
        h = b.Linear(h, 48, 3, rng, name: "fc");
        b.Output(h, OnnxElementType.Float, "N", 3);
        var model = b.Build();
        var exported = JacobianExporter.Export(model);
        AssertDefaultDomainOnly(exported);
        AssertMatchesFiniteDifferences(model, seed: 9, h: 1e-3);
    }

    [Test]
    public void SymbolicImageSizeNeedsInputShapeOption()
    {
        var rng = new Random(1);
        var b = new OnnxGraphBuilder("symbolic");
        string x = b.Input("input", OnnxElementType.Float, "N", 4, "W");
        b.Output(b.Linear(b.Flatten(x), 12, 2, rng, name: "fc"), OnnxElementType.Float, "N", 2);
        var model = b.Build();
        var e = Assert.Throws<JacobianExportException>(() => JacobianExporter.Export(model));
        Assert.That(e!.Message, Does.Contain("InputShape"));
        var exported = JacobianExporter.Export(model, new JacobianExportOptions { InputShape = [4, 3] });
        Assert.That(ImageShape(exported), Is.EqualTo(new long[] { 1, 4, 3 }));
    }

    [Test]
    public void UnsupportedOperatorOnThePathIsNamedWithItsNode()
    {
        // Sin has no backward rule (no classifier family uses it): one error naming the op, the node and the opset,
        // thrown before the clone is modified.
        var model = TinyCnn((b, h) => b.Node("Sin", [h], null, "the_sin"));
        var e = Assert.Throws<JacobianExportException>(() => JacobianExporter.Export(model));
        Assert.That(e!.OpType, Is.EqualTo("Sin"));
        Assert.That(e.NodeName, Is.EqualTo("the_sin"));
        Assert.That(e.Message, Does.Contain("'Sin'").And.Contain("'the_sin'").And.Contain("(opset 17)"));
        model.OpsetImport[0].Version = 9;
        var old = Assert.Throws<JacobianExportException>(() => JacobianExporter.Export(model));
        Assert.That(old!.Message, Does.Contain("'Sin'").And.Contain("(opset 9)"));
    }

    [Test]
    public void UnsupportedOperatorOffThePathIsIgnored()
    {
        var rng = new Random(2);
        var b = new OnnxGraphBuilder("side_branch");
        string x = b.Input("input", OnnxElementType.Float, "N", 6);
        string logits = b.Linear(x, 6, 3, rng, name: "fc");
        b.Output(logits, OnnxElementType.Float, "N", 3);
        b.Output(b.Node("Exp", [x]), OnnxElementType.Float, "N", 6);
        var exported = JacobianExporter.Export(b.Build());
        Assert.That(exported.Graph.Output.Select(o => o.Name), Does.Contain("vjp"));
    }

    [Test]
    public void CustomDomainOperatorIsRefusedWithItsDomain()
    {
        var model = TinyCnn((b, h) =>
        {
            b.ImportOpset("com.example", 1);
            return b.Node("Relu", [h], null, "custom_relu", "com.example");
        });
        var e = Assert.Throws<JacobianExportException>(() => JacobianExporter.Export(model));
        Assert.That(e!.Message, Does.Contain("com.example").And.Contain("custom_relu"));
    }

    [Test]
    public void ModelWithoutFloatInputIsRefused()
    {
        var b = new OnnxGraphBuilder("ints");
        string x = b.Input("tokens", OnnxElementType.Int64, "N", 4);
        b.Output(b.Node("Cast", [x], [OnnxAttributes.Int("to", 1)]), OnnxElementType.Float, "N", 4);
        var e = Assert.Throws<JacobianExportException>(() => JacobianExporter.Export(b.Build()));
        Assert.That(e!.Message, Does.Contain("no float input"));
    }

    [TestCase(6)]
    [TestCase(22)]
    public void OpsetOutsideSevenToTwentyOneIsRefused(long opset)
    {
        var model = TinyCnn();
        model.OpsetImport[0].Version = opset;
        var e = Assert.Throws<JacobianExportException>(() => JacobianExporter.Export(model));
        Assert.That(e!.Message, Does.Contain($"opset {opset}").And.Contain("7–21"));
    }

    [Test]
    public void NameClashWithAddedOutputsIsRefused()
    {
        var model = TinyCnn((b, h) => b.Identity(b.Identity(h, "vjp_node"), "vjp_alias"));
        model.Graph.Node.Last().Output[0] = "vjp";
        model.Graph.Output[0].Name = "vjp";
        var e = Assert.Throws<JacobianExportException>(() => JacobianExporter.Export(model));
        Assert.That(e!.Message, Does.Contain("'vjp'"));
        var exported = JacobianExporter.Export(model, new JacobianExportOptions { VjpName = "input_gradient" });
        Assert.That(exported.Graph.Output.Select(o => o.Name), Does.Contain("input_gradient"));
    }

    [Test]
    public void AddedNamesMustDifferFromEachOther()
    {
        var e = Assert.Throws<JacobianExportException>(() => JacobianExporter.Export(TinyCnn(), new JacobianExportOptions { VjpName = "out", ProbabilitiesName = "out" }));
        Assert.That(e!.Message, Does.Contain("must differ"));
    }

    [Test]
    public void OutputThatDoesNotDependOnTheInputIsRefused()
    {
        var b = new OnnxGraphBuilder("constant");
        b.Input("input", OnnxElementType.Float, "N", 3);
        var c = b.Initializer("c", [1f, 2f], 1, 2);
        b.Output(b.Identity(c), OnnxElementType.Float, 1, 2);
        var e = Assert.Throws<JacobianExportException>(() => JacobianExporter.Export(b.Build()));
        Assert.That(e!.Message, Does.Contain("does not depend"));
    }

    [Test]
    public void WeightThatDependsOnTheInputIsRefused()
    {
        var b = new OnnxGraphBuilder("input_weight");
        string x = b.Input("input", OnnxElementType.Float, 1, 4);
        string w = b.Reshape(b.Mul(x, x), [4, 1]);
        b.Output(b.Gemm(x, w), OnnxElementType.Float, 1, 1);
        var e = Assert.Throws<JacobianExportException>(() => JacobianExporter.Export(b.Build()));
        Assert.That(e!.OpType, Is.AnyOf("Gemm", "Reshape"));
    }

    [Test]
    public void TransposeOfTheBatchAxisIsRefused()
    {
        var rng = new Random(1);
        var b = new OnnxGraphBuilder("batch_transpose");
        string x = b.Input("input", OnnxElementType.Float, 1, 3);
        string t = b.Transpose(b.Relu(b.Transpose(x, [1, 0])), [1, 0]);
        b.Output(b.Gemm(t, b.Initializer("w", RandomVector(rng, 6), 3, 2)), OnnxElementType.Float, 1, 2);
        var e = Assert.Throws<JacobianExportException>(() => JacobianExporter.Export(b.Build()));
        Assert.That(e!.Message, Does.Contain("batch axis"));
    }

    [Test]
    public void GarbageBytesAreRefused()
    {
        var e = Assert.Throws<JacobianExportException>(() => JacobianExporter.Export([0xFF, 0xFF, 0xFF, 0x01, 0x02]));
        Assert.That(e!.Message, Does.Contain("not a valid ONNX model"));
        Assert.Throws<ArgumentNullException>(() => JacobianExporter.Export((ModelProto)null!));
    }

    [Test]
    public void ModelWithoutGraphIsRefused()
    {
        var e = Assert.Throws<JacobianExportException>(() => JacobianExporter.Export(new ModelProto()));
        Assert.That(e!.Message, Does.Contain("no graph"));
    }
}

/// <summary>Seeded structural fuzzing: a mutated classifier is either exported or refused with <see cref="JacobianExportException"/>, never anything else.</summary>
[TestFixture]
public sealed class ExporterFuzzTests
{
    private static readonly string[] OpTypes = ["Relu", "Conv", "MaxPool", "Gemm", "Flatten", "Add", "Softmax", "Reshape", "Concat", "Exp", "Transpose"];

    [Test]
    public void MutatedModelsAreExportedOrRefusedWithTypedExceptions()
    {
        var rng = new Random(2024);
        var seed = Saliency.TestSupport.RandomModels.SmallCnn(channels: 1, size: 8, classes: 3, seed: 1);
        int exported = 0, refused = 0;
        for (int trial = 0; trial < 400; trial++)
        {
            var model = seed.Clone();
            int mutations = 1 + rng.Next(3);
            for (int m = 0; m < mutations; m++) Mutate(model, rng);
            try
            {
                JacobianExporter.Export(model);
                exported++;
            }
            catch (JacobianExportException)
            {
                refused++;
            }
        }
        Assert.That(refused, Is.GreaterThan(0), "the mutations must hit the refusal paths");
        TestContext.Out.WriteLine($"exported {exported}, refused {refused}");
    }

    private static void Mutate(ModelProto model, Random rng)
    {
        var nodes = model.Graph.Node;
        var node = nodes[rng.Next(nodes.Count)];
        switch (rng.Next(7))
        {
            case 0 when node.Input.Count > 0:
                node.Input.RemoveAt(rng.Next(node.Input.Count));
                break;
            case 1 when node.Attribute.Count > 0:
                {
                    var a = node.Attribute[rng.Next(node.Attribute.Count)];
                    if (a.Ints.Count > 0) a.Ints[rng.Next(a.Ints.Count)] = rng.Next(-3, 6);
                    else a.I = rng.Next(-3, 6);
                    break;
                }
            case 2:
                node.OpType = OpTypes[rng.Next(OpTypes.Length)];
                break;
            case 3:
                nodes.Remove(node);
                break;
            case 4 when model.Graph.Initializer.Count > 0:
                {
                    var t = model.Graph.Initializer[rng.Next(model.Graph.Initializer.Count)];
                    if (t.Dims.Count > 0) t.Dims[rng.Next(t.Dims.Count)] = rng.Next(0, 9);
                    break;
                }
            case 5:
                {
                    var dims = model.Graph.Input[0].Type.TensorType.Shape.Dim;
                    dims[rng.Next(dims.Count)] = new TensorShapeProto.Types.Dimension { DimValue = rng.Next(0, 12) };
                    break;
                }
            default:
                if (node.Input.Count > 0) node.Input[rng.Next(node.Input.Count)] = nodes[rng.Next(nodes.Count)].Output[0];
                break;
        }
    }
}
