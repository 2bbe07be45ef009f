using NUnit.Framework;
using Saliency.Models.Classifiers;
using Saliency.TestSupport;

namespace Saliency.Models.Tests.Classifiers;

/// <summary>
/// The raw classifier API rejects NaN/∞ pixels with <see cref="NonFiniteInputException"/> before any model run (one NaN
/// pixel used to give NaN logits and class 0), and <see cref="OnnxClassifier.WithCancellation"/>'s view gives the
/// classifier's own results (oracle: the same calls on the classifier) and refuses to run once cancelled.
/// </summary>
[TestFixture]
public sealed class ClassifierInputTests
{
    private OnnxClassifier _lenet = null!;
    private float[] _digit = [];

    [OneTimeSetUp]
    public void SetUp()
    {
        _lenet = OnnxClassifier.Create(RepoFiles.LeNetModel);
        _digit = BundledLeNet.Digits().ImageFloats(1);
    }

    [OneTimeTearDown]
    public void TearDown() => _lenet.Dispose();

    [TestCase(float.NaN, 0)]
    [TestCase(float.PositiveInfinity, 400)]
    [TestCase(float.NegativeInfinity, 783)]
    public void NonFinitePixelsAreRejectedByEveryMethod(float bad, int index)
    {
        var image = (float[])_digit.Clone();
        image[index] = bad;
        void Rejects(Action call, long expectedIndex)
        {
            var e = Assert.Throws<NonFiniteInputException>(() => call())!;
            Assert.That(e.Index, Is.EqualTo(expectedIndex));
        }
        Rejects(() => _lenet.Predict(image), index);
        Rejects(() => _lenet.Predict([.. _digit, .. image]), 784 + index);
        Rejects(() => _lenet.Jacobian(image), index);
        Rejects(() => _lenet.TopKJacobian(image, 3), index);
        Rejects(() => _lenet.LossGradient(image), index);
        Rejects(() => _lenet.VectorJacobianProduct(image, new float[10], new float[784]), index);
    }

    [Test]
    public void TheCancellableViewGivesTheSameResultsAndStopsWhenCancelled()
    {
        using var cts = new CancellationTokenSource();
        var view = _lenet.WithCancellation(cts.Token);
        Assert.That(view.Predict(_digit).Logits, Is.EqualTo(_lenet.Predict(_digit).Logits));
        Assert.That(view.Jacobian(_digit).Data, Is.EqualTo(_lenet.Jacobian(_digit).Data));
        Assert.That(view.LossGradient(_digit, 2).Gradient, Is.EqualTo(_lenet.LossGradient(_digit, 2).Gradient));

        cts.Cancel();
        Assert.Throws<OperationCanceledException>(() => view.Predict(_digit));
        Assert.Throws<OperationCanceledException>(() => view.Jacobian(_digit));
        Assert.Throws<OperationCanceledException>(() => view.LossGradient(_digit));
        view.Dispose();
        Assert.That(_lenet.Predict(_digit).Batch, Is.EqualTo(1), "disposing the view leaves the classifier open");
        Assert.That(_lenet.WithCancellation(CancellationToken.None), Is.SameAs(_lenet));
    }
}
