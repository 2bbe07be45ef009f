using System.Text.RegularExpressions;
using NUnit.Framework;
using Saliency.Models.Data;
using Saliency.Models.Onnx;
using Saliency.Models.Runtime;
using Saliency.TestSupport;

namespace Saliency.Tests.Models;

/// <summary>The bundled LeNet (models/lenet.onnx) on the bundled held-out digits, through our ONNX Runtime binding.</summary>
[TestFixture]
internal class BundledModelTests
{
    /// <summary>Correct digits out of the 500 committed ones, as the README states it.</summary>
    private const int StatedCorrect = 492;

    private static float[] Logits(InferenceSession session, DigitSet digits, int start, int count) =>
        session.Run([new FloatTensor("input", digits.Batch(start, count), [count, 1, 28, 28])])[0].Data;

    private static int ArgMax(ReadOnlySpan<float> v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    [Test]
    public void ModelInterfaceIsAsDocumented()
    {
        var model = OnnxModel.Load(RepoFiles.LeNetModel);
        Assert.That(model.DefaultOpset, Is.GreaterThanOrEqualTo(13));
        Assert.That(model.Inputs.Single().Name, Is.EqualTo("input"));
        Assert.That(model.Inputs.Single().Shape, Is.EqualTo(new long[] { -1, 1, 28, 28 }));
        Assert.That(model.Outputs.Single().Name, Is.EqualTo("logits"));
        Assert.That(model.Outputs.Single().Shape, Is.EqualTo(new long[] { -1, 10 }));
        Assert.That(model.OpHistogram.Keys, Is.EquivalentTo(new[] { "Conv", "Relu", "MaxPool", "Flatten", "Gemm" }),
            "LeNet-style ReLU CNN with raw logits (no Softmax)");
        Assert.That(model.OpHistogram["Conv"], Is.EqualTo(2));
        Assert.That(model.OpHistogram["Gemm"], Is.EqualTo(2));
    }

    [Test]
    public void ReachesTheReadmeAccuracyOnTheCommittedDigits()
    {
        var digits = BundledLeNet.Digits();
        using var session = InferenceSession.Create(RepoFiles.LeNetModel);
        int correct = 0;
        for (int start = 0; start < digits.Count; start += 125)
        {
            var logits = Logits(session, digits, start, 125);
            for (int i = 0; i < 125; i++)
                if (ArgMax(logits.AsSpan(i * 10, 10)) == digits.Label(start + i)) correct++;
        }
        Assert.That(correct, Is.EqualTo(StatedCorrect), "recomputed through ONNX Runtime");
        Assert.That(correct / 500.0, Is.GreaterThanOrEqualTo(0.97), "the issue's bar");

        // The README must state exactly this figure.
        var readme = File.ReadAllText(Path.Combine(RepoFiles.Root, "README.md"));
        Assert.That(readme, Does.Contain($"{StatedCorrect}/500"));
        Assert.That(readme, Does.Contain($"{100.0 * StatedCorrect / 500:0.00} %"));
    }

    [Test]
    public void OrtLogitsEqualTheFloat64ReferenceEvaluator()
    {
        // Independent oracle: the project's straightforward float64 ONNX interpreter on the same file.
        var digits = BundledLeNet.Digits();
        var model = OnnxModel.Load(RepoFiles.LeNetModel);
        using var session = InferenceSession.Create(RepoFiles.LeNetModel);
        const int n = 40;
        var ort = Logits(session, digits, 0, n);
        var reference = ReferenceEvaluator.Evaluate(model.Proto,
            new Dictionary<string, (double[], long[])> { ["input"] = (Array.ConvertAll(digits.Batch(0, n), v => (double)v), [n, 1, 28, 28]) })["logits"];
        Assert.That(reference, Has.Length.EqualTo(n * 10));
        double scale = reference.Max(Math.Abs);
        for (int i = 0; i < ort.Length; i++)
            Assert.That(ort[i], Is.EqualTo(reference[i]).Within(1e-4 * scale), $"logit {i}");
    }

    [Test]
    public void BatchSizeDoesNotChangeTheLogits()
    {
        var digits = BundledLeNet.Digits();
        using var session = InferenceSession.Create(RepoFiles.LeNetModel);
        var batched = Logits(session, digits, 0, 16);
        for (int i = 0; i < 16; i++)
        {
            var single = Logits(session, digits, i, 1);
            Assert.That(single, Is.EqualTo(batched.AsSpan(i * 10, 10).ToArray()).Within(1e-5), $"digit {i}");
        }
    }
}
