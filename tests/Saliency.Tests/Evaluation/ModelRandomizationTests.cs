using Google.Protobuf;
using NUnit.Framework;
using Saliency.Evaluation;
using Saliency.Models.Onnx;
using Saliency.TestSupport;

namespace Saliency.Tests.Evaluation;

/// <summary>Cascading re-initialisation of ONNX layers: which layers, what scale, what stays untouched.</summary>
[TestFixture]
internal sealed class ModelRandomizationTests
{
    private OnnxModel _lenet = null!;

    [OneTimeSetUp]
    public void Open() => _lenet = BundledLeNet.Model();

    [Test]
    public void LeNetsLayersRunFromTheLogitsDown()
    {
        var layers = ModelRandomization.Layers(_lenet);
        Assert.That(layers.Select(l => l.OpType), Is.EqualTo(new[] { "Gemm", "Gemm", "Conv", "Conv" }));
        Assert.That(layers.Select(l => l.WeightCount), Is.EqualTo(new long[] { 64 * 10, 400 * 64, 16 * 8 * 25, 8 * 25 }));
        Assert.That(layers.Select(l => l.Index), Is.EqualTo(new[] { 0, 1, 2, 3 }));
        Assert.That(layers.Select(l => l.NodeIndex), Is.Ordered.Descending);
        var last = _lenet.Graph.Node.Last(n => n.OpType == "Gemm");
        Assert.That(layers[0].Weight, Is.EqualTo(last.Input[1]));
        Assert.That(layers[0].Bias, Is.EqualTo(last.Input[2]));
        Assert.That(layers.All(l => l.Bias is not null), Is.True);
    }

    [Test]
    public void RedrawnWeightsHaveTheLayersStandardDeviation()
    {
        var layers = ModelRandomization.Layers(_lenet);
        var model = OnnxModel.Parse(ModelRandomization.Cascade(_lenet, layers.Count, seed: 7).ModelBytes);
        foreach (var layer in layers)
        {
            var (w, _) = model.GetFloatInitializer(layer.Weight);
            var (mean, std) = MeanAndStd(w);
            // Sample std of n normals: relative error ≈ 1/√(2n); sample mean ≈ s/√n. Allow 5 of those.
            Assert.That(std / layer.WeightStd, Is.EqualTo(1).Within(5 / Math.Sqrt(2.0 * w.Length)), layer.Weight);
            Assert.That(Math.Abs(mean), Is.LessThan(5 * layer.WeightStd / Math.Sqrt(w.Length)), layer.Weight);
            var (original, _) = _lenet.GetFloatInitializer(layer.Weight);
            Assert.That(w, Is.Not.EqualTo(original));
            var (b, _) = model.GetFloatInitializer(layer.Bias!);
            Assert.That(MeanAndStd(b).Std / layer.BiasStd!.Value, Is.EqualTo(1).Within(5 / Math.Sqrt(2.0 * b.Length)), layer.Bias);
        }
    }

    [Test]
    public void ALargeLayerMatchesItsScaleTightly()
    {
        // 25,600 weights of the 400→64 Gemm: the sample std is within 2 % of the target.
        var layer = ModelRandomization.Layers(_lenet)[1];
        var (w, _) = OnnxModel.Parse(ModelRandomization.Cascade(_lenet, 2, seed: 3).ModelBytes).GetFloatInitializer(layer.Weight);
        Assert.That(MeanAndStd(w).Std / layer.WeightStd, Is.EqualTo(1).Within(0.02));
    }

    [Test]
    public void TheSameSeedGivesTheSameModelAndAnotherSeedAnother()
    {
        var a = ModelRandomization.Cascade(_lenet, 2, seed: 11).ModelBytes;
        var b = ModelRandomization.Cascade(_lenet, 2, seed: 11).ModelBytes;
        var c = ModelRandomization.Cascade(_lenet, 2, seed: 12).ModelBytes;
        Assert.That(a, Is.EqualTo(b));
        Assert.That(a, Is.Not.EqualTo(c));
    }

    [TestCase(0)]
    [TestCase(1)]
    [TestCase(3)]
    public void LayersBelowTheCascadePointAreByteIdentical(int depth)
    {
        var layers = ModelRandomization.Layers(_lenet);
        var step = ModelRandomization.Cascade(_lenet, depth, seed: 5);
        var deeper = ModelRandomization.Cascade(_lenet, depth + 1, seed: 5);
        var model = OnnxModel.Parse(step.ModelBytes);
        var deeperModel = OnnxModel.Parse(deeper.ModelBytes);
        var randomized = layers.Take(depth).SelectMany(l => new[] { l.Weight, l.Bias! }).ToHashSet();
        Assert.That(model.Graph.Initializer.Count, Is.EqualTo(_lenet.Graph.Initializer.Count));
        for (int i = 0; i < model.Graph.Initializer.Count; i++)
        {
            var t = model.Graph.Initializer[i];
            var original = _lenet.Graph.Initializer[i];
            Assert.That(t.Name, Is.EqualTo(original.Name));
            if (randomized.Contains(t.Name))
            {
                Assert.That(t.ToByteArray(), Is.Not.EqualTo(original.ToByteArray()), t.Name);
                // Cascading: a layer re-drawn at depth k is re-drawn identically at depth k + 1.
                Assert.That(t.ToByteArray(), Is.EqualTo(deeperModel.Graph.Initializer[i].ToByteArray()), t.Name);
            }
            else
            {
                Assert.That(t.ToByteArray(), Is.EqualTo(original.ToByteArray()), t.Name);
            }
        }
        Assert.That(model.Graph.Node.Select(n => n.ToByteArray()), Is.EqualTo(_lenet.Graph.Node.Select(n => n.ToByteArray())));
        if (depth == 0) Assert.That(step.ModelBytes, Is.EqualTo(_lenet.ToBytes()));
    }

    [Test]
    public void BiasRulesZeroAndKeep()
    {
        var top = ModelRandomization.Layers(_lenet)[0];
        var zero = OnnxModel.Parse(ModelRandomization.Cascade(_lenet, 1, 1, BiasRandomization.Zero).ModelBytes);
        Assert.That(zero.GetFloatInitializer(top.Bias!).Data, Is.All.EqualTo(0f));
        var keep = OnnxModel.Parse(ModelRandomization.Cascade(_lenet, 1, 1, BiasRandomization.Keep).ModelBytes);
        Assert.That(keep.GetFloatInitializer(top.Bias!).Data, Is.EqualTo(_lenet.GetFloatInitializer(top.Bias!).Data));
        Assert.That(keep.GetFloatInitializer(top.Weight).Data, Is.EqualTo(zero.GetFloatInitializer(top.Weight).Data));
    }

    [Test]
    public void MatMulLayersTakeTheBiasOfTheirAdd()
    {
        var b = new OnnxGraphBuilder("matmul");
        string x = b.Input("input", OnnxElementType.Float, "N", 6);
        string h = b.Add(b.MatMul(x, b.Initializer("W1", EvaluationOracles.Uniform(6 * 5, 1, -1, 1), 6, 5)), b.Initializer("b1", EvaluationOracles.Uniform(5, 2), 5));
        string y = b.MatMul(b.Relu(h), b.Initializer("W2", EvaluationOracles.Uniform(5 * 3, 3, -1, 1), 5, 3), name: "logits");
        b.Output(y, OnnxElementType.Float, "N", 3);
        var layers = ModelRandomization.Layers(b.BuildModel());
        Assert.That(layers.Select(l => (l.Weight, l.Bias)), Is.EqualTo(new (string, string?)[] { ("W2", null), ("W1", "b1") }));
    }

    [Test]
    public void BadRequestsAreRefused()
    {
        Assert.Throws<EvaluationInputException>(() => ModelRandomization.Cascade(_lenet, 5, 1));
        Assert.Throws<EvaluationInputException>(() => ModelRandomization.Cascade(_lenet, -1, 1));
        var b = new OnnxGraphBuilder("no_layers");
        b.Output(b.Relu(b.Input("input", OnnxElementType.Float, "N", 4)), OnnxElementType.Float, "N", 4);
        Assert.Throws<EvaluationInputException>(() => ModelRandomization.Cascade(b.BuildModel(), 0, 1));
    }

    private static (double Mean, double Std) MeanAndStd(float[] v)
    {
        double mean = v.Average(x => (double)x);
        return (mean, Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / v.Length));
    }
}
