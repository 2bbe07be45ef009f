using Google.Protobuf;
using NUnit.Framework;
using Saliency.Models.Autodiff;
using Saliency.Models.Data;
using Saliency.Models.Onnx;
using Saliency.Models.Onnx.Proto;
using Saliency.Models.Runtime;
using static Saliency.Models.Tests.Autodiff.JacobianHarness;
using Saliency.TestSupport;

namespace Saliency.Models.Tests.Autodiff;

/// <summary>
/// Whole-model checks on the bundled LeNet (as PyTorch exported it) and a C#-built ResNet-style model (conv,
/// batch norm, residual add, global average pool, gemm): the full exported Jacobian against central finite
/// differences, and — these networks being piecewise linear — the first-order identity
/// <c>logits(x + δ) − logits(x) = Wᵀδ</c> for a tiny δ inside the activation region.
/// </summary>
[TestFixture]
internal sealed class ModelJacobianTests
{
    private static ModelProto LoadLeNet() => ModelProto.Parser.ParseFrom(File.ReadAllBytes(RepoFiles.LeNetModel));

    private static ModelProto SmallResNet() => RandomModels.ResNetBlocks(channels: 3, size: 16, classes: 10, seed: 5, width: 4, blocks: 2);

    /// <summary>
    /// A bundled digit plus a little noise. A clean digit has a constant background, so max-pool windows there hold
    /// exact ties: the image sits on the boundary between activation regions, where the max is not differentiable
    /// and one-sided differences disagree with any subgradient. The noise moves it inside one region.
    /// </summary>
    private static float[] LeNetDigit()
    {
        var x = BundledLeNet.Digits().ImageFloats(3);
        var noise = RandomVector(new Random(4), x.Length, 0.02);
        return x.Zip(noise, (a, b) => a + b).ToArray();
    }

    /// <summary>The full Jacobian (k = c identity cotangents) of the exported model, as W[j, i] = ∂logit_j/∂x_i.</summary>
    private static (float[] Logits, float[] W, int Classes) ExportedJacobian(ModelProto exported, float[] x)
    {
        int c = (int)exported.Graph.Input.First(i => i.Name == "cotangents").Type.TensorType.Shape.Dim[1].DimValue;
        var identity = new float[c * c];
        for (int j = 0; j < c; j++) identity[j * c + j] = 1f;
        using var session = InferenceSession.Create(exported.ToByteArray(), Options);
        var (logits, vjp) = RunVjp(session, exported, x, identity, c);
        return (logits, vjp, c);
    }

    /// <summary>
    /// Central finite differences of every logit along the given input coordinates, in float64 by the independent
    /// reference evaluator. The step is tiny (1e-6) because a larger one lets a coordinate's probe cross a ReLU or
    /// max-pool kink of a unit near its threshold, which spoils that column only (seen with 1e-4 on LeNet).
    /// </summary>
    private static double[] FiniteDifferenceColumns(ModelProto original, ModelProto exported, float[] x, int[] columns, int c, double h)
    {
        var probes = new double[2 * columns.Length][];
        for (int q = 0; q < columns.Length; q++)
        {
            probes[2 * q] = x.Select(v => (double)v).ToArray();
            probes[2 * q][columns[q]] += h;
            probes[2 * q + 1] = x.Select(v => (double)v).ToArray();
            probes[2 * q + 1][columns[q]] -= h;
        }
        var f = ReferenceLogits(original, exported, probes);
        var w = new double[c * columns.Length];
        for (int q = 0; q < columns.Length; q++)
            for (int j = 0; j < c; j++) w[j * columns.Length + q] = (f[2 * q * c + j] - f[(2 * q + 1) * c + j]) / (2 * h);
        return w;
    }

    /// <summary>
    /// The full exported Jacobian (all classes) against float64 finite differences on a random subset of input
    /// coordinates (all classes each), relative Frobenius error over that block.
    /// </summary>
    private static void AssertJacobianMatchesFiniteDifferences(ModelProto original, float[] x, int columnCount, double relativeFrobenius)
    {
        var exported = JacobianExporter.Export(original);
        AssertDefaultDomainOnly(exported);
        var (_, w, c) = ExportedJacobian(exported, x);
        int d = x.Length;
        var columns = Enumerable.Range(0, d).Select(i => (i, key: new Random(i * 7919 + 1).Next())).OrderBy(t => t.key).Take(columnCount).Select(t => t.i).Order().ToArray();
        var fd = FiniteDifferenceColumns(original, exported, x, columns, c, h: 1e-6);
        double diff = 0, norm = 0;
        for (int j = 0; j < c; j++)
            for (int q = 0; q < columns.Length; q++)
            {
                double e = w[j * d + columns[q]] - fd[j * columns.Length + q];
                diff += e * e;
                norm += fd[j * columns.Length + q] * fd[j * columns.Length + q];
            }
        Assert.That(norm, Is.GreaterThan(0));
        Assert.That(Math.Sqrt(diff / norm), Is.LessThan(relativeFrobenius), "‖W − W_fd‖_F / ‖W_fd‖_F");
    }

    /// <summary>
    /// logits(x + δ) − logits(x) against Wᵀδ. For a piecewise-linear network this is exact while δ keeps every
    /// ReLU sign and max-pool winner, so the only error left is float32 rounding of the two forward passes.
    /// </summary>
    private static void AssertFirstOrderIdentity(ModelProto original, float[] x, double deltaScale, double tolerance)
    {
        var exported = JacobianExporter.Export(original);
        var (logits, w, c) = ExportedJacobian(exported, x);
        int d = x.Length;
        var rng = new Random(17);
        var delta = RandomVector(rng, d, deltaScale);
        var shifted = x.Zip(delta, (a, b) => a + b).ToArray();
        var f = ForwardLogits(original, exported, [x, shifted]);
        double worst = 0, scale = 0;
        for (int j = 0; j < c; j++)
        {
            double predicted = 0;
            for (int i = 0; i < d; i++) predicted += (double)w[j * d + i] * ((double)shifted[i] - x[i]);
            double actual = (double)f[c + j] - f[j];
            worst = Math.Max(worst, Math.Abs(actual - predicted));
            scale = Math.Max(scale, Math.Abs(predicted));
            Assert.That(logits[j], Is.EqualTo(f[j]).Within(1e-5 * (1 + Math.Abs(f[j]))));
        }
        Assert.That(scale, Is.GreaterThan(10 * tolerance), "δ must move the logits well above the tolerance");
        Assert.That(worst, Is.LessThan(tolerance), $"max_j |Δlogit_j − (Wᵀδ)_j| (largest (Wᵀδ)_j = {scale:G3})");
    }

    [Test]
    public void BundledLeNet_JacobianMatchesFiniteDifferences() =>
        AssertJacobianMatchesFiniteDifferences(LoadLeNet(), LeNetDigit(), columnCount: 64, relativeFrobenius: 1e-5);

    [Test]
    public void BundledLeNet_LogitChangeIsWTransposeDelta() =>
        AssertFirstOrderIdentity(LoadLeNet(), LeNetDigit(), deltaScale: 1e-4, tolerance: 2e-5);

    [Test]
    public void BundledLeNet_RandomCotangentsMatchDirectionalDifferences() =>
        AssertMatchesFiniteDifferences(LoadLeNet(), seed: 3, k: 5, directions: 8, h: 1e-3, x: LeNetDigit());

    [Test]
    public void ResNetStyle_JacobianMatchesFiniteDifferences()
    {
        var x = RandomVector(new Random(1), 3 * 16 * 16);
        AssertJacobianMatchesFiniteDifferences(SmallResNet(), x, columnCount: 96, relativeFrobenius: 1e-5);
    }

    [Test]
    public void ResNetStyle_LogitChangeIsWTransposeDelta()
    {
        var x = RandomVector(new Random(2), 3 * 16 * 16);
        AssertFirstOrderIdentity(SmallResNet(), x, deltaScale: 1e-3, tolerance: 2e-5);
    }

    [Test]
    public void ResNetStyle_ExportedModelUsesOnlyStandardOperators()
    {
        var exported = JacobianExporter.Export(SmallResNet());
        AssertDefaultDomainOnly(exported);
        var ops = exported.Graph.Node.Select(n => n.OpType).ToHashSet();
        Assert.That(ops, Does.Contain("ConvTranspose"));
        Assert.That(ops, Does.Not.Contain("MaxUnpool"));
        Assert.That(exported.Graph.Output.Select(o => o.Name), Is.SupersetOf(new[] { "logits", "probabilities", "vjp" }));
    }

    [Test]
    public void BundledLeNet_ExportedModelUsesScatterAddForMaxPool()
    {
        var exported = JacobianExporter.Export(LoadLeNet());
        AssertDefaultDomainOnly(exported);
        var scatters = exported.Graph.Node.Where(n => n.OpType == "ScatterElements").ToList();
        Assert.That(scatters, Has.Count.EqualTo(2));
        Assert.That(scatters.All(n => n.Attribute.Single(a => a.Name == "reduction").S.ToStringUtf8() == "add"));
    }

    [Test]
    public void ProbabilitiesOutputIsSoftmaxOfLogits()
    {
        var model = LoadLeNet();
        var exported = JacobianExporter.Export(model);
        using var session = InferenceSession.Create(exported.ToByteArray(), Options);
        var input = exported.MetadataProps.First(e => e.Key == JacobianExporter.MetadataInput).Value;
        var outputs = session.Run([new FloatTensor(input, LeNetDigit(), [1, 1, 28, 28]), new FloatTensor("cotangents", new float[10], [1, 10])],
            ["logits", "probabilities"]);
        var logits = outputs[0].Data;
        double max = logits.Max(), z = logits.Sum(l => Math.Exp(l - max));
        for (int j = 0; j < 10; j++)
            Assert.That(outputs[1].Data[j], Is.EqualTo(Math.Exp(logits[j] - max) / z).Within(1e-6));
    }
}
