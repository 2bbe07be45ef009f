using Google.Protobuf;
using NUnit.Framework;
using Saliency.Models.Autodiff;
using Saliency.Models.Onnx.Proto;
using Saliency.Models.Runtime;
using Saliency.TestSupport;
using static Saliency.Models.Tests.Autodiff.JacobianHarness;

namespace Saliency.Models.Tests.Autodiff;

/// <summary>
/// <see cref="JacobianExportOptions.ActivationTaps"/>: the tapped cotangent against float64 directional finite
/// differences of the reference evaluator with the tapped tensor overridden, on a tensor read by two consumers (a
/// residual block's output feeding the next block's conv and its shortcut, so the tap must see the summed gradient);
/// the taps leave the untapped outputs as they were; the default layer rule; refusals.
/// </summary>
[TestFixture]
public sealed class ActivationTapTests
{
    private static readonly ModelProto ResNet = RandomModels.ResNetBlocks(channels: 1, size: 8, classes: 4, seed: 9, width: 2, blocks: 2);

    /// <summary>Block 0's output (ReLU of block0.add): read by block1.conv1 and by the shortcut projection block1.downsample.0.</summary>
    private static string Block0Output => ResNet.Graph.Node.Single(n => n.OpType == "Relu" && n.Input[0] == "block0.add").Output[0];

    private static (float[] Logits, float[] Vjp, float[] Activation, float[] ActivationVjp) Run(ModelProto exported, float[] x, float[] u, int k)
    {
        using var session = InferenceSession.Create(exported.ToByteArray(), Options);
        var outputs = session.Run([new FloatTensor("input", x, [1, 1, 8, 8]), new FloatTensor("cotangents", u, [k, 4])],
            ["logits", "vjp", JacobianExportOptions.ActivationName(0), JacobianExportOptions.ActivationVjpName(0)]);
        return (outputs[0].Data, outputs[1].Data, outputs[2].Data, outputs[3].Data);
    }

    [Test]
    public void ATensorReadTwiceGetsItsTotalGradient()
    {
        string tapped = Block0Output;
        Assert.That(ResNet.Graph.Node.Count(n => n.Input.Contains(tapped)), Is.EqualTo(2));
        var exported = JacobianExporter.Export(ResNet, new JacobianExportOptions { ActivationTaps = [tapped] });
        Assert.That(exported.MetadataProps.Single(e => e.Key == JacobianExporter.MetadataTapPrefix + "0").Value, Is.EqualTo(tapped));
        var rng = new Random(4);
        var x = RandomVector(rng, 64);
        const int k = 2;
        var u = RandomVector(rng, k * 4);
        var (_, _, activation, gradient) = Run(exported, x, u, k);
        int size = activation.Length;
        Assert.That(size, Is.EqualTo(2 * 8 * 8));
        Assert.That(gradient, Has.Length.EqualTo(k * size));

        // uᵣᵀ (L(A + εv) − L(A − εv)) / 2ε = ⟨gᵣ, v⟩ for random directions v, in float64 (piecewise linear: exact off kinks).
        var evaluator = new ReferenceEvaluator(ResNet);
        var feeds = new Dictionary<string, ReferenceTensor> { ["input"] = ReferenceTensor.FromFloats(x, 1, 1, 8, 8) };
        var a = evaluator.Evaluate(tapped, feeds);
        Assert.That(a.Data.Select(v => (float)v), Is.EqualTo(activation).Within(1e-4));
        string output = ResNet.Graph.Output[0].Name;
        for (int trial = 0; trial < 3; trial++)
        {
            var v = RandomVector(rng, size);
            double[] Logits(double step)
            {
                var fed = a.Clone();
                for (int i = 0; i < size; i++) fed.Data[i] += step * v[i];
                return evaluator.Run(new Dictionary<string, ReferenceTensor>(feeds) { [tapped] = fed })[output].Data;
            }
            const double eps = 1e-6;
            var plus = Logits(eps);
            var minus = Logits(-eps);
            for (int r = 0; r < k; r++)
            {
                double fd = 0, analytic = 0;
                for (int c = 0; c < 4; c++) fd += u[r * 4 + c] * (plus[c] - minus[c]) / (2 * eps);
                for (int i = 0; i < size; i++) analytic += gradient[r * size + i] * (double)v[i];
                Assert.That(analytic, Is.EqualTo(fd).Within(1e-4 * (Math.Abs(fd) + 1)), $"direction {trial}, row {r}");
            }
        }
    }

    [Test]
    public void TapsLeaveTheOtherOutputsAsTheyWere()
    {
        var plain = JacobianExporter.Export(ResNet);
        var tapped = JacobianExporter.Export(ResNet, new JacobianExportOptions { ActivationTaps = [JacobianExportOptions.DefaultLayer] });
        var rng = new Random(6);
        var x = RandomVector(rng, 64);
        var u = RandomVector(rng, 4);
        using var session = InferenceSession.Create(plain.ToByteArray(), Options);
        var (logits, vjp) = RunVjp(session, plain, x, u, 1);
        var run = Run(tapped, x, u, 1);
        Assert.That(run.Logits, Is.EqualTo(logits));
        Assert.That(run.Vjp, Is.EqualTo(vjp));
        Assert.That(JacobianExporter.Export(ResNet, new JacobianExportOptions { ActivationTaps = [] }).ToByteArray(), Is.EqualTo(plain.ToByteArray()));
    }

    [Test]
    public void TheDefaultLayerIsTheLastSpatialActivation()
    {
        // ResNetBlocks: block 1's output ReLU ([1, 4, 4, 4]), just before GlobalAveragePool. ResNet-18 layout at 64×64,
        // width 1/16: the ReLU ending layer4.1 ([1, 32, 2, 2]), pytorch-grad-cam's layer4[-1].
        AssertDefaultLayer(ResNet, "block1.add", [4, 4, 4]);
        AssertDefaultLayer(RandomModels.ResNet18(seed: 1, classes: 10, size: 64, widthScale: 1.0 / 16), "layer4.1.add", [32, 2, 2]);
    }

    private static void AssertDefaultLayer(ModelProto model, string reluInput, long[] shape)
    {
        var exported = JacobianExporter.Export(model, new JacobianExportOptions { ActivationTaps = [JacobianExportOptions.DefaultLayer] });
        string layer = exported.MetadataProps.Single(e => e.Key == JacobianExporter.MetadataTapPrefix + "0").Value;
        var producer = model.Graph.Node.Single(n => n.Output.Contains(layer));
        Assert.That((producer.OpType, producer.Input[0]), Is.EqualTo(("Relu", reluInput)));
        var declared = exported.Graph.Output.Single(o => o.Name == JacobianExportOptions.ActivationVjpName(0)).Type.TensorType.Shape.Dim;
        long[] expected = [-1, .. shape];
        Assert.That(declared.Select(d => d.DimParam.Length > 0 ? -1 : d.DimValue), Is.EqualTo(expected));
    }

    [Test]
    public void BadTapsAreRefusedByName()
    {
        JacobianExportException Refusal(string layer) =>
            Assert.Throws<JacobianExportException>(() => JacobianExporter.Export(ResNet, new JacobianExportOptions { ActivationTaps = [layer] }))!;
        Assert.That(Refusal("missing").Message, Does.Contain("'missing'"));
        Assert.That(Refusal("block0.conv1.weight").Message, Does.Contain("'block0.conv1.weight'"));
        var mlp = RandomModels.Mlp([6, 5, 3], seed: 2);
        var e = Assert.Throws<JacobianExportException>(() => JacobianExporter.Export(mlp, new JacobianExportOptions { ActivationTaps = [JacobianExportOptions.DefaultLayer] }))!;
        Assert.That(e.Message, Does.Contain("no spatial layer"));
    }
}
