using NUnit.Framework;
using Saliency.Models.Autodiff;
using Saliency.Models.Classifiers;
using Saliency.Models.Runtime;
using Saliency.TestSupport;

namespace Saliency.Models.Tests.Classifiers;

/// <summary>
/// <see cref="OnnxClassifier.JacobianInto"/>: W computed in cotangent chunks, each run writing its rows in place, equals
/// the one-run W of <see cref="OnnxClassifier.Jacobian"/> float for float, for chunks of 1, 3, c − 1, c and more than c,
/// on LeNet (c = 10) and a tiny random CNN (c = 6), and for a Jacobian model with a fixed cotangent batch (last run
/// padded). Also the interface's default (Jacobian per chunk) and the argument checks before any run.
/// </summary>
[TestFixture]
internal sealed class ChunkedJacobianTests
{
    private static readonly InferenceSessionOptions Options = new() { IntraOpThreads = 1 };
    private OnnxClassifier _lenet = null!;
    private OnnxClassifier _cnn = null!;
    private float[] _digit = [];

    [OneTimeSetUp]
    public void Open()
    {
        _lenet = OnnxClassifier.Create(RepoFiles.LeNetModel, Options);
        _cnn = OnnxClassifier.Create(TestModels.SmallCnn(), Options);
        _digit = BundledLeNet.Digits().ImageFloats(0);
    }

    [OneTimeTearDown]
    public void Close()
    {
        _lenet.Dispose();
        _cnn.Dispose();
    }

    private static float[] CnnImage() => Autodiff.JacobianHarness.RandomVector(new Random(3), 3 * 16 * 16);

    private static void AssertChunkedEqualsOneRun(IClassifier classifier, float[] image, int chunk)
    {
        var one = classifier.Jacobian(image);
        var w = new float[classifier.InputSize * classifier.ClassCount];
        var scores = classifier.JacobianInto(image, w, chunk);
        Assert.That(w, Is.EqualTo(one.Data), $"chunk {chunk}: the same floats as one run");
        Assert.That(scores.Logits, Is.EqualTo(one.Scores.Logits));
        Assert.That(scores.Probabilities, Is.EqualTo(one.Scores.Probabilities));
    }

    [TestCase(1)]
    [TestCase(3)]
    [TestCase(9)]
    [TestCase(10)]
    [TestCase(11)]
    [TestCase(IClassifier.DefaultJacobianChunk)]
    public void LeNetChunksEqualTheOneRunJacobian(int chunk) => AssertChunkedEqualsOneRun(_lenet, _digit, chunk);

    [TestCase(1)]
    [TestCase(3)]
    [TestCase(5)]
    [TestCase(6)]
    [TestCase(7)]
    public void SmallCnnChunksEqualTheOneRunJacobian(int chunk) => AssertChunkedEqualsOneRun(_cnn, CnnImage(), chunk);

    [TestCase(4, 64)]
    [TestCase(3, 1)]
    [TestCase(16, 5)]
    public void AFixedCotangentBatchRunsItsOwnSizeAndPadsTheLastRun(int batch, int chunk)
    {
        // c = 10 with K = 4: runs of 4, 4 and 2 real rows padded to 4; K = 16 > c: one padded run. The chunk asked for is
        // overridden by the model's fixed batch.
        using var fixedK = OnnxClassifier.Create(RepoFiles.LeNetModel, Options, new JacobianExportOptions { CotangentBatch = batch });
        var w = new float[_lenet.InputSize * _lenet.ClassCount];
        var scores = fixedK.JacobianInto(_digit, w, chunk);
        var one = _lenet.Jacobian(_digit);
        Assert.That(w, Is.EqualTo(one.Data));
        Assert.That(scores.Logits, Is.EqualTo(one.Scores.Logits));
    }

    [Test]
    public void TheInterfaceDefaultEqualsTheInPlaceRuns()
    {
        IClassifier plain = new JacobianOnly(_lenet);
        var w = new float[_lenet.InputSize * _lenet.ClassCount];
        var scores = plain.JacobianInto(_digit, w, 3);
        Assert.That(w, Is.EqualTo(_lenet.Jacobian(_digit).Data));
        Assert.That(scores.Logits, Is.EqualTo(_lenet.Predict(_digit).Logits).Within(1e-5f));
    }

    [Test]
    public void BadArgumentsAreRefusedBeforeAnyRun()
    {
        var w = new float[_lenet.InputSize * _lenet.ClassCount];
        Assert.Throws<ArgumentOutOfRangeException>(() => _lenet.JacobianInto(_digit, w, 0));
        var shortW = new float[w.Length - 1];
        var e = Assert.Throws<ArgumentException>(() => _lenet.JacobianInto(_digit, shortW));
        Assert.That(e!.Message, Does.Contain("7840"));
        var bad = (float[])_digit.Clone();
        bad[5] = float.NaN;
        Assert.Throws<NonFiniteInputException>(() => _lenet.JacobianInto(bad, w));
        Assert.Throws<ArgumentException>(() => _lenet.JacobianInto(_digit.AsSpan(1).ToArray(), w));
        Assert.Throws<ArgumentOutOfRangeException>(() => JacobianExporter.Export(BundledLeNet.Model().Proto, new JacobianExportOptions { CotangentBatch = 0 }));
    }

    /// <summary>An <see cref="IClassifier"/> that implements only the required members, so JacobianInto is the interface's default.</summary>
    private sealed class JacobianOnly(IClassifier inner) : IClassifier
    {
        public IReadOnlyList<long> InputShape => inner.InputShape;
        public int InputSize => inner.InputSize;
        public int ClassCount => inner.ClassCount;
        public ClassScores Predict(ReadOnlySpan<float> images) => inner.Predict(images);
        public JacobianMatrix Jacobian(ReadOnlySpan<float> image, IReadOnlyList<int>? classes = null) => inner.Jacobian(image, classes);
        public JacobianMatrix TopKJacobian(ReadOnlySpan<float> image, int k) => inner.TopKJacobian(image, k);
        public LossGradient LossGradient(ReadOnlySpan<float> image, int? target = null) => inner.LossGradient(image, target);
        public ClassScores VectorJacobianProduct(ReadOnlySpan<float> image, ReadOnlySpan<float> cotangents, Span<float> destination) =>
            inner.VectorJacobianProduct(image, cotangents, destination);
        public void Dispose() { }
    }
}
