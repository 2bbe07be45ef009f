using Google.Protobuf;
using NUnit.Framework;
using Saliency.Models.Autodiff;
using Saliency.Models.Classifiers;
using Saliency.Models.Onnx;
using Saliency.Models.Onnx.Proto;
using Saliency.Models.Runtime;
using Saliency.TestSupport;

namespace Saliency.Models.Tests.Classifiers;

/// <summary>
/// <see cref="OnnxClassifier.Open(ModelProto, OnnxClassifierOptions?)"/> on the output forms users bring. The oracle of
/// every case is the plain logits model the variant was built from: its ONNX Runtime logits and its exported Jacobian
/// (itself proven against finite differences in <see cref="OnnxClassifierTests"/>), combined in closed form (softmax,
/// σ, the binary-view loss gradient −(1 − σ)∇z).
/// </summary>
[TestFixture]
internal sealed class OnnxClassifierOutputTests
{
    private const int Classes = 5;
    private static readonly InferenceSessionOptions Session = new() { IntraOpThreads = 1 };
    private static readonly ModelProto Base = RandomModels.SmallCnn(channels: 3, size: 8, classes: Classes, seed: 31);

    private static OnnxClassifierOptions Options(OutputKind kind = OutputKind.Auto, string? output = null) =>
        new() { Session = Session, OutputKind = kind, OutputName = output };

    private static float[] Image(int seed) => Autodiff.JacobianHarness.RandomVector(new Random(seed), 3 * 8 * 8);

    /// <summary>The base model with <paramref name="op"/> applied to its logits, the result as the only output.</summary>
    internal static ModelProto WithHead(ModelProto model, string op, params AttributeProto[] attributes)
    {
        var m = model.Clone();
        string logits = m.Graph.Output[0].Name;
        int k = m.Graph.Node.Count;
        m.Graph.Node.Add(new NodeProto { OpType = op, Name = $"head{k}", Input = { logits }, Output = { $"scores{k}" }, Attribute = { attributes } });
        m.Graph.Output.Clear();
        m.Graph.Output.Add(OnnxGraphBuilder.ValueInfo($"scores{k}", OnnxElementType.Float, [(OnnxDim)"N", (OnnxDim)Classes]));
        return m;
    }

    private static (float[] Logits, JacobianMatrix W) Oracle(float[] x)
    {
        using var plain = OnnxClassifier.Create(Base, Session);
        return (plain.Predict(x).Logits, plain.Jacobian(x));
    }

    private static float[] RunModel(ModelProto model, float[] x, long[] shape)
    {
        using var session = InferenceSession.Create(model.ToByteArray(), Session);
        return session.Run([new FloatTensor("input", x, shape)])[0].Data;
    }

    [Test]
    public void FinalSoftmaxIsReadThroughItsInputAndProbabilitiesAreTheModels()
    {
        var model = WithHead(Base, "Softmax", OnnxAttributes.Int("axis", 1));
        var x = Image(1);
        var (z, w) = Oracle(x);
        using var c = OnnxClassifier.Open(model, Options());
        Assert.That(c.OutputKind, Is.EqualTo(OutputKind.Probabilities));
        Assert.That(c.HasJacobian, Is.False, "forward only until a Jacobian is asked for");
        var scores = c.Predict(x);
        Assert.That(scores.Logits, Is.EqualTo(z).Within(1e-5f));
        // The library's softmax of the Softmax input is the model's own output (no softmax applied twice).
        Assert.That(scores.Probabilities, Is.EqualTo(RunModel(model, x, [1, 3, 8, 8])).Within(1e-6f));
        Assert.That(c.Jacobian(x).Data, Is.EqualTo(w.Data).Within(1e-5f));
        Assert.That(c.HasJacobian, Is.True);
    }

    [Test]
    public void LogSoftmaxOutputsAreLogitsUpToAShift()
    {
        var model = WithHead(Base, "LogSoftmax", OnnxAttributes.Int("axis", -1));
        var x = Image(2);
        var (z, _) = Oracle(x);
        using var c = OnnxClassifier.Open(model, Options());
        Assert.That(c.OutputKind, Is.EqualTo(OutputKind.LogProbabilities));
        Assert.That(c.Predict(x).Logits, Is.EqualTo(z).Within(1e-5f));
        // Given as log-probabilities without a LogSoftmax node (an Identity in between): the output itself, log p = z − lse(z).
        var through = WithHead(model, "Identity");
        using var given = OnnxClassifier.Open(through, Options(OutputKind.LogProbabilities));
        double lse = Softmax.LogSumExp(z);
        Assert.That(given.Predict(x).Logits, Is.EqualTo(z.Select(v => (float)(v - lse)).ToArray()).Within(1e-5f));
        Assert.That(given.Predict(x).Probabilities, Is.EqualTo(Softmax.Probabilities(z).Select(p => (float)p).ToArray()).Within(1e-6f));
    }

    [Test]
    public void ProbabilitiesWithoutASoftmaxNodeAreForwardOnly()
    {
        var model = WithHead(WithHead(Base, "Softmax", OnnxAttributes.Int("axis", 1)), "Identity");
        var x = Image(3);
        var (z, _) = Oracle(x);
        using var auto = OnnxClassifier.Open(model, Options());
        Assert.That(auto.OutputKind, Is.EqualTo(OutputKind.Logits), "an Identity hides the Softmax");
        using var c = OnnxClassifier.Open(model, Options(OutputKind.Probabilities));
        var p = Softmax.Probabilities(z);
        Assert.That(c.Predict(x).Probabilities, Is.EqualTo(p.Select(v => (float)v).ToArray()).Within(1e-6f));
        var e = Assert.Throws<ClassifierModelException>(() => c.EnsureJacobian());
        Assert.That(e!.Message, Does.Contain("no Softmax").And.Contain("forward-only"));
    }

    [Test]
    public void SigmoidLabelIsExplainedAloneThroughTheBinaryView()
    {
        var model = WithHead(Base, "Sigmoid");
        var x = Image(4);
        var (z, w) = Oracle(x);
        using var c = OnnxClassifier.Open(model, Options());
        Assert.That(c.OutputKind, Is.EqualTo(OutputKind.Sigmoid));
        Assert.That(c.Predict(x).Logits, Is.EqualTo(z).Within(1e-5f), "the Sigmoid's input");
        var sigma = RunModel(model, x, [1, 3, 8, 8]);
        const int label = 2;
        using var view = new SingleScoreClassifier(c, label);
        var scores = view.Predict(x);
        Assert.That(scores.Probabilities[1], Is.EqualTo(sigma[label]).Within(1e-6f), "class 1 = σ(z_label), the model's own output");
        var jacobian = view.Jacobian(x);
        Assert.That(jacobian.Column(1).ToArray(), Is.EqualTo(w.Column(label).ToArray()).Within(1e-5f));
        Assert.That(jacobian.Column(0).ToArray(), Is.All.EqualTo(0f));
        // −log σ(z): gradient −(1 − σ) ∇z.
        var loss = view.LossGradient(x, 1);
        var expected = w.Column(label).ToArray().Select(g => -(1 - sigma[label]) * g).ToArray();
        Assert.That(loss.Gradient, Is.EqualTo(expected).Within(1e-5f));

        // Centred at b = z_label(x): p = σ(0) = ½ and the loss gradient is −½∇z.
        using var centred = new SingleScoreClassifier(c, label, offset: z[label]);
        Assert.That(centred.Predict(x).Probabilities[1], Is.EqualTo(0.5f).Within(1e-6f));
        Assert.That(centred.LossGradient(x, 1).Gradient, Is.EqualTo(w.Column(label).ToArray().Select(g => -0.5f * g).ToArray()).Within(1e-5f));
    }

    [Test]
    public void FeatureMapShapedOutputsAreFlattenedAndChosenByName()
    {
        // [N, C, 1, 1] like a ResNet trunk, listed second after an inner feature output.
        var m = Base.Clone();
        string logits = m.Graph.Output[0].Name;
        m.Graph.Node.Add(new NodeProto { OpType = "Reshape", Name = "to4d", Input = { logits, "shape4" }, Output = { "features" } });
        m.Graph.Initializer.Add(new TensorProto { Name = "shape4", DataType = (int)TensorProto.Types.DataType.Int64, Dims = { 4 }, Int64Data = { 1, Classes, 1, 1 } });
        string inner = m.Graph.Node.First(n => n.OpType == "MaxPool").Output[0];
        m.Graph.Output.Clear();
        m.Graph.Output.Add(OnnxGraphBuilder.ValueInfo(inner, OnnxElementType.Float, []));
        m.Graph.Output.Add(OnnxGraphBuilder.ValueInfo("features", OnnxElementType.Float, [1, Classes, 1, 1]));
        var x = Image(5);
        var (z, w) = Oracle(x);

        var first = Assert.Throws<ClassifierModelException>(() => OnnxClassifier.Open(m, Options()));
        Assert.That(first!.Message, Does.Contain("a map, not one score per class").And.Contain("--output"));
        var missing = Assert.Throws<ClassifierModelException>(() => OnnxClassifier.Open(m, Options(output: "nope")));
        Assert.That(missing!.Message, Does.Contain("'features'"));

        using var c = OnnxClassifier.Open(m, Options(output: "features"));
        Assert.That(c.ClassCount, Is.EqualTo(Classes));
        Assert.That(c.Predict(x).Logits, Is.EqualTo(z).Within(1e-5f));
        Assert.That(c.Jacobian(x, [3]).Column(0).ToArray(), Is.EqualTo(w.Column(3).ToArray()).Within(1e-5f));
    }

    [Test]
    public void ForwardOnlyOpenWorksWhereTheExporterCannot()
    {
        // Cos has no backward rule, and opset 9 is older than the exporter's minimum: ONNX Runtime runs it anyway.
        var m = WithHead(Base, "Cos");
        m.OpsetImport.Single(o => o.Domain is "" or "ai.onnx").Version = 9;
        var x = Image(6);
        using var c = OnnxClassifier.Open(m, Options());
        var (z, _) = Oracle(x);
        Assert.That(c.Predict(x).Logits, Is.EqualTo(z.Select(MathF.Cos).ToArray()).Within(1e-5f));
        Assert.Throws<JacobianExportException>(() => c.Jacobian(x));
        Assert.Throws<JacobianExportException>(() => OnnxClassifier.Create(m, Session), "Create still exports eagerly");
    }

    [Test]
    public void NhwcInputsArePresentedAsNchw()
    {
        // NHWC model: input [N, 8, 8, 3] transposed to the base model's NCHW.
        var m = Base.Clone();
        var input = m.Graph.Input.Single(i => i.Name == "input");
        foreach (var n in m.Graph.Node)
            for (int i = 0; i < n.Input.Count; i++) if (n.Input[i] == "input") n.Input[i] = "input_nchw";
        m.Graph.Node.Insert(0, new NodeProto { OpType = "Transpose", Name = "t", Input = { "input" }, Output = { "input_nchw" }, Attribute = { OnnxAttributes.Ints("perm", 0, 3, 1, 2) } });
        m.Graph.Input.Remove(input);
        m.Graph.Input.Insert(0, OnnxGraphBuilder.ValueInfo("input", OnnxElementType.Float, ["N", 8, 8, 3]));
        var x = Image(7);
        var (z, w) = Oracle(x);
        using var c = OnnxClassifier.Open(m, new OnnxClassifierOptions { Session = Session, InputLayout = InputLayout.Nhwc });
        Assert.That(c.InputShape, Is.EqualTo(new long[] { 3, 8, 8 }));
        Assert.That(c.ModelInputShape, Is.EqualTo(new long[] { 8, 8, 3 }));
        Assert.That(c.Predict(x).Logits, Is.EqualTo(z).Within(1e-5f));
        Assert.That(c.Jacobian(x).Data, Is.EqualTo(w.Data).Within(1e-5f), "W in NCHW order");
    }

    [Test]
    public void DynamicSizesNeedAnInputShapeAndHugeOnesAreRefusedBeforeAllocation()
    {
        var m = Base.Clone();
        var dims = m.Graph.Input[0].Type.TensorType.Shape.Dim;
        dims[2] = new TensorShapeProto.Types.Dimension { DimParam = "H" };
        dims[3] = new TensorShapeProto.Types.Dimension { DimParam = "W" };
        var e = Assert.Throws<ClassifierModelException>(() => OnnxClassifier.Open(m, Options()));
        Assert.That(e!.Message, Does.Contain("'H'").And.Contain("--input-shape"));
        var x = Image(8);
        using (var c = OnnxClassifier.Open(m, new OnnxClassifierOptions { Session = Session, InputShape = [3, 8, 8] }))
            Assert.That(c.Predict(x).Logits, Is.EqualTo(Oracle(x).Logits).Within(1e-5f));
        Assert.Throws<ClassifierModelException>(() => OnnxClassifier.Open(m, new OnnxClassifierOptions { Session = Session, InputShape = [4, 8, 8] }),
            "a fixed channel count that disagrees");

        foreach (long side in new[] { 100_000L, long.MaxValue / 2 })
        {
            var huge = Base.Clone();
            var d = huge.Graph.Input[0].Type.TensorType.Shape.Dim;
            d[2] = new TensorShapeProto.Types.Dimension { DimValue = side };
            d[3] = new TensorShapeProto.Types.Dimension { DimValue = side };
            var tooLarge = Assert.Throws<ClassifierModelException>(() => OnnxClassifier.Open(huge, Options()));
            Assert.That(tooLarge!.Message, Does.Contain("values per image, the limit"));
        }
    }

    [Test]
    public void ZeroClassesAndNonFiniteScoresAreTypedErrors()
    {
        var zero = Base.Clone();
        zero.Graph.Output[0].Type.TensorType.Shape.Dim[1] = new TensorShapeProto.Types.Dimension { DimValue = 0 };
        var e = Assert.Throws<ClassifierModelException>(() => OnnxClassifier.Open(zero, Options()));
        Assert.That(e!.Message, Does.Contain("zero classes"));

        var nan = Base.Clone();
        var weights = nan.Graph.Initializer.First(t => t.Dims.Count == 4);
        for (int i = 0; i < weights.FloatData.Count; i++) weights.FloatData[i] = float.NaN;
        if (weights.FloatData.Count == 0) weights.RawData = Google.Protobuf.ByteString.CopyFrom(Enumerable.Repeat(BitConverter.GetBytes(float.NaN), weights.RawData.Length / 4).SelectMany(b => b).ToArray());
        using var c = OnnxClassifier.Open(nan, Options());
        var bad = Assert.Throws<ClassifierOutputException>(() => c.Predict(Image(9)));
        Assert.That(bad!.Message, Does.Contain("NaN or infinite weights"));
    }
}
