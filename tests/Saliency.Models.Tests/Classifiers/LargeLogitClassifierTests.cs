using NUnit.Framework;
using Saliency.Models.Classifiers;
using Saliency.Models.Runtime;
using Saliency.TestSupport;

namespace Saliency.Models.Tests.Classifiers;

/// <summary>
/// The classifier on the bundled LeNet with its last Gemm (weights and bias) scaled by 20, so that the logits —
/// exactly 20× the original ones — exceed float32's exp range (≈ 88.7). Oracles: the original model's logits times
/// 20 (ONNX Runtime), a float64 softmax computed here, and <c>W(p − y)</c> formed from the full Jacobian's columns.
/// </summary>
[TestFixture]
internal sealed class LargeLogitClassifierTests
{
    private const float Scale = 20f;
    private static readonly InferenceSessionOptions Options = new() { IntraOpThreads = 1 };
    private OnnxClassifier _scaled = null!;
    private InferenceSession _original = null!;
    private float[][] _images = null!;

    [OneTimeSetUp]
    public void SetUp()
    {
        _scaled = OnnxClassifier.Create(BundledLeNet.WithScaledLastGemm(Scale).Proto, Options);
        _original = InferenceSession.Create(RepoFiles.LeNetModel, Options);
        var digits = BundledLeNet.Digits();
        _images = Enumerable.Range(0, 12).Select(digits.ImageFloats).ToArray();
    }

    [OneTimeTearDown]
    public void TearDown()
    {
        _scaled.Dispose();
        _original.Dispose();
    }

    private double[] ScaledReferenceLogits(float[] image) =>
        _original.Run([new FloatTensor("input", image, [1, 1, 28, 28])])[0].Data.Select(v => Scale * (double)v).ToArray();

    /// <summary>Independent float64 softmax: exp(z − max) / Σ exp(z − max).</summary>
    private static double[] ReferenceSoftmax(IReadOnlyList<double> z)
    {
        double max = z.Max();
        var e = z.Select(v => Math.Exp(v - max)).ToArray();
        double sum = e.Sum();
        return e.Select(v => v / sum).ToArray();
    }

    [Test]
    public void ProbabilitiesAreFiniteSumToOneAndMatchTheFloat64Softmax()
    {
        double largest = 0;
        foreach (var image in _images)
        {
            var scores = _scaled.Predict(image);
            var reference = ScaledReferenceLogits(image);
            for (int j = 0; j < 10; j++)
                Assert.That(scores.Logits[j], Is.EqualTo(reference[j]).Within(1e-4 * (1 + Math.Abs(reference[j]))));
            largest = Math.Max(largest, reference.Max());
            var p = scores.ProbabilitiesOf(0).ToArray();
            Assert.That(p, Is.All.Matches<float>(float.IsFinite));
            Assert.That(p.Sum(v => (double)v), Is.EqualTo(1.0).Within(1e-6));
            var expected = ReferenceSoftmax(scores.Logits.Select(v => (double)v).ToArray());
            for (int j = 0; j < 10; j++) Assert.That(p[j], Is.EqualTo(expected[j]).Within(1e-6));
        }
        Assert.That(largest, Is.GreaterThan(89), "the scaled logits must leave float32's exp range for this test to mean anything");
    }

    [Test]
    public void JacobianRunScoresAreTheSameSoftmax()
    {
        var w = _scaled.Jacobian(_images[0]);
        var expected = ReferenceSoftmax(w.Scores.Logits.Select(v => (double)v).ToArray());
        for (int j = 0; j < 10; j++) Assert.That(w.Scores.Probabilities[j], Is.EqualTo(expected[j]).Within(1e-6));
    }

    [Test]
    public void TopKPicksTheClassesOfTheLargestLogits()
    {
        foreach (var image in _images)
        {
            var reference = ScaledReferenceLogits(image);
            var expected = Enumerable.Range(0, 10).OrderByDescending(j => reference[j]).Take(3).ToArray();
            Assert.That(_scaled.TopKJacobian(image, 3).Classes, Is.EqualTo(expected));
        }
    }

    [Test]
    public void LossGradientIsFiniteAndEqualsWTimesPMinusY()
    {
        foreach (var image in _images.Take(4))
        {
            var reference = ScaledReferenceLogits(image);
            int runnerUp = Enumerable.Range(0, 10).OrderByDescending(j => reference[j]).ElementAt(1);
            var w = _scaled.Jacobian(image);
            var p = ReferenceSoftmax(w.Scores.Logits.Select(v => (double)v).ToArray());
            foreach (int? target in new int?[] { null, runnerUp })
            {
                var loss = _scaled.LossGradient(image, target);
                int t = target ?? Array.IndexOf(reference, reference.Max());
                Assert.That(loss.Target, Is.EqualTo(t));
                Assert.That(loss.Gradient, Is.All.Matches<float>(float.IsFinite));
                var expected = new double[w.InputSize];
                for (int j = 0; j < 10; j++)
                {
                    double r = p[j] - (j == t ? 1 : 0);
                    for (int i = 0; i < expected.Length; i++) expected[i] += r * w[i, j];
                }
                double scale = expected.Max(Math.Abs);
                if (target is not null) Assert.That(scale, Is.GreaterThan(1e-3), "a wrong target gives a gradient of order ‖W‖");
                for (int i = 0; i < expected.Length; i++)
                    Assert.That(loss.Gradient[i], Is.EqualTo(expected[i]).Within(1e-4 * scale + 1e-7));
            }
        }
    }

    [Test]
    public void NonFiniteLogitsGiveATypedError()
    {
        using var broken = OnnxClassifier.Create(BundledLeNet.WithLastBias(3, float.NaN).Proto, Options);
        var image = _images[0];
        var e = Assert.Throws<ClassifierOutputException>(() => broken.Predict(image));
        Assert.That(e!.Message, Does.Contain("class 3"));
        Assert.Throws<ClassifierOutputException>(() => broken.Jacobian(image));
        Assert.Throws<ClassifierOutputException>(() => broken.TopKJacobian(image, 2));
        Assert.Throws<ClassifierOutputException>(() => broken.LossGradient(image));
        Assert.Throws<ClassifierOutputException>(() => broken.VectorJacobianProduct(image, new float[10], new float[784]));

        using var infinite = OnnxClassifier.Create(BundledLeNet.WithLastBias(0, float.PositiveInfinity).Proto, Options);
        Assert.Throws<ClassifierOutputException>(() => infinite.Predict(image));
    }
}
