using Google.Protobuf;
using NUnit.Framework;
using Saliency.Models.Autodiff;
using Saliency.Models.Onnx.Proto;
using Saliency.Models.Runtime;
using Saliency.Models.Onnx;
using Saliency.TestSupport;
using static Saliency.Models.Tests.Autodiff.JacobianHarness;

namespace Saliency.Models.Tests.Zoo;

/// <summary>
/// The conformance zoo (<c>tests/Fixtures/zoo</c>, issue 10 item 5): ten torchvision architectures exported by
/// torch.onnx at opsets 9, 11, 13 and 17. For every file, ONNX Runtime reproduces torch's logits, and the Jacobian W
/// of the exported graph (run in ONNX Runtime) matches float64 central differences of the original graph.
/// </summary>
[TestFixture]
[Parallelizable(ParallelScope.None)]
public sealed class ZooConformanceTests
{
    /// <summary>
    /// |ORT − torch| per logit, relative to the largest |logit|: both run the same float32 graph with different
    /// summation orders (im2col/GEMM blocking), which over ~20–60 layers accumulates to ≤ 2.3e-5 of the logit scale here.
    /// </summary>
    private const double LogitTolerance = 1e-4;

    /// <summary>
    /// Oracle of W: central differences of the original graph in float64 with step h = 1e-6 along unit directions δ. At that step
    /// no ReLU or max-pool winner of these networks changes (float32 differences through ONNX Runtime cross so many
    /// kinks of these random deep networks that the error is 1–40 % at any step), and the rounding of the quotient is
    /// ~1e-10. What remains is ONNX Runtime's float32 rounding of W itself: measured ≤ 6.2e-5 of ‖FD‖ (EfficientNet;
    /// ≤ 1.5e-6 for the piecewise-linear families). The test first checks that the evaluator's logits are ONNX Runtime's.
    /// </summary>
    private const double Step = 1e-6, Tolerance = 5e-4;

    /// <summary>Random unit directions δ per model (each costs two forward evaluations).</summary>
    private const int Directions = 3;

    public static IEnumerable<TestCaseData> Models() =>
        ZooFixtures.Models.Select(m => new TestCaseData(m).SetArgDisplayNames(m.ToString()));

    [TestCaseSource(nameof(Models))]
    public void OrtLogitsMatchTorch(ZooModel model)
    {
        var x = model.Input();
        using var session = InferenceSession.Create(model.Bytes(), Options);
        var logits = session.Run([new FloatTensor("input", x, model.InputShape)], ["logits"])[0].Data;
        Assert.That(logits, Has.Length.EqualTo(model.TorchLogits.Length));
        double scale = Math.Max(1, model.TorchLogits.Max(v => Math.Abs((double)v)));
        for (int j = 0; j < logits.Length; j++)
            Assert.That(logits[j], Is.EqualTo(model.TorchLogits[j]).Within(LogitTolerance * scale), $"logit {j}");
        TestContext.Out.WriteLine($"{model}: max |ORT − torch| / scale = {logits.Select((v, j) => Math.Abs(v - model.TorchLogits[j]) / scale).Max():G3}");
    }

    [TestCaseSource(nameof(Models))]
    public void JacobianMatchesCentralDifferences(ZooModel model)
    {
        var original = ModelProto.Parser.ParseFrom(model.Bytes());
        var exported = JacobianExporter.Export(original);
        Assert.That(exported.Graph.Node.Where(n => n.Domain is not ""), Is.Empty, "only default-domain ops");
        Assert.That(exported.OpsetImport.Where(o => o.Domain is not ("" or "ai.onnx")), Is.Empty);
        var x = model.Input();
        int d = x.Length, c = model.TorchLogits.Length;

        // All of W in one run: identity cotangents, row r of vjp = ∂logit_r/∂x.
        var identity = new float[c * c];
        for (int r = 0; r < c; r++) identity[r * c + r] = 1f;
        float[] logits, w;
        using (var session = InferenceSession.Create(exported.ToByteArray(), Options))
            (logits, w) = RunVjp(session, exported, x, identity, c);

        var rng = new Random(model.Opset * 1000 + model.Arch.Length);
        var dirs = new double[Directions][];
        for (int j = 0; j < Directions; j++)
        {
            var v = RandomVector(rng, d);
            double norm = Math.Sqrt(v.Sum(t => (double)t * t));
            dirs[j] = v.Select(t => t / norm).ToArray();
        }
        Assert.That(original.Graph.Node.Select(n => n.OpType).Where(op => !ReferenceEvaluator.SupportedOps.Contains(op)), Is.Empty,
            "ops the float64 reference evaluator (tests/TestSupport/Models/Onnx) lacks");
        var x64 = x.Select(v => (double)v).ToArray();
        var probes = dirs.SelectMany(v => new[] { x64.Zip(v, (a, b) => a + Step * b).ToArray(), x64.Zip(v, (a, b) => a - Step * b).ToArray() }).ToArray();
        double[] f = ReferenceLogits(original, exported, [x64, .. probes]);
        for (int r = 0; r < c; r++)
            Assert.That(logits[r], Is.EqualTo(f[r]).Within(1e-4 * (1 + Math.Abs(f[r]))), "exported logits (ORT) = forward logits of the oracle");

        double worst = 0;
        for (int j = 0; j < Directions; j++)
        {
            double err2 = 0, fd2 = 0;
            for (int r = 0; r < c; r++)
            {
                double an = 0;
                for (int i = 0; i < d; i++) an += w[r * d + i] * dirs[j][i];
                double fd = (f[(1 + 2 * j) * c + r] - f[(2 + 2 * j) * c + r]) / (2 * Step);
                err2 += (an - fd) * (an - fd);
                fd2 += fd * fd;
            }
            double err = Math.Sqrt(err2 / fd2);
            Assert.That(Math.Sqrt(fd2), Is.GreaterThan(1e-3), "the directional derivative must not vanish (the check would prove nothing)");
            worst = Math.Max(worst, err);
            Assert.That(err, Is.LessThan(Tolerance), $"direction {j}: ‖Wᵀδ − FD‖/‖FD‖");
        }
        TestContext.Out.WriteLine($"{model}: worst ‖Wᵀδ − FD‖/‖FD‖ = {worst:G3}");
    }
}
