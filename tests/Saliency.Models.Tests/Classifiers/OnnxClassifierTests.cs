using NUnit.Framework;
using Saliency.Models.Classifiers;
using Saliency.Models.Onnx;
using Saliency.Models.Onnx.Proto;
using Saliency.Models.Runtime;
using Saliency.TestSupport;

namespace Saliency.Models.Tests.Classifiers;

/// <summary>
/// <see cref="OnnxClassifier"/>: every quantity is checked against an independent route — logits against the float64
/// reference evaluator, W against finite differences of it, the loss gradient against the dense combination of W's
/// columns and against finite differences of the cross-entropy, top-k against the full Jacobian, concurrency against
/// serial results.
/// </summary>
[TestFixture]
internal sealed class OnnxClassifierTests
{
    private const int Classes = 6;
    private static readonly ModelProto Model = RandomModels.SmallCnn(channels: 2, size: 8, classes: Classes, seed: 21);
    private static readonly InferenceSessionOptions Options = new() { IntraOpThreads = 1 };

    private static float[] Image(int seed) => Autodiff.JacobianHarness.RandomVector(new Random(seed), 2 * 8 * 8);

    private static double[] ReferenceLogits(double[] image) =>
        new ReferenceEvaluator(Model).Evaluate("logits", new Dictionary<string, ReferenceTensor> { ["input"] = new(image, [1, 2, 8, 8]) }).Data;

    [Test]
    public void ShapesComeFromTheModel()
    {
        using var classifier = OnnxClassifier.Create(Model, Options);
        Assert.That(classifier.InputShape, Is.EqualTo(new long[] { 2, 8, 8 }));
        Assert.That(classifier.InputSize, Is.EqualTo(128));
        Assert.That(classifier.ClassCount, Is.EqualTo(Classes));
    }

    [Test]
    public void PredictMatchesReferenceEvaluatorForABatch()
    {
        using var classifier = OnnxClassifier.Create(Model, Options);
        var images = Enumerable.Range(0, 3).SelectMany(Image).ToArray();
        var scores = classifier.Predict(images);
        Assert.That(scores.Batch, Is.EqualTo(3));
        for (int b = 0; b < 3; b++)
        {
            var reference = ReferenceLogits(Image(b).Select(v => (double)v).ToArray());
            for (int j = 0; j < Classes; j++)
                Assert.That(scores.LogitsOf(b)[j], Is.EqualTo(reference[j]).Within(1e-4 * (1 + Math.Abs(reference[j]))));
            Assert.That(scores.ProbabilitiesOf(b).ToArray().Sum(), Is.EqualTo(1f).Within(1e-5));
        }
    }

    [Test]
    public void JacobianColumnsMatchFiniteDifferences()
    {
        using var classifier = OnnxClassifier.Create(Model, Options);
        var x = Image(1);
        var w = classifier.Jacobian(x);
        Assert.That(w.Classes, Is.EqualTo(Enumerable.Range(0, Classes)));
        var rng = new Random(5);
        const double h = 1e-6;
        for (int probe = 0; probe < 12; probe++)
        {
            int i = rng.Next(x.Length);
            var plus = x.Select(v => (double)v).ToArray();
            var minus = x.Select(v => (double)v).ToArray();
            plus[i] += h;
            minus[i] -= h;
            var fp = ReferenceLogits(plus);
            var fm = ReferenceLogits(minus);
            for (int j = 0; j < Classes; j++)
            {
                double fd = (fp[j] - fm[j]) / (2 * h);
                Assert.That(w[i, j], Is.EqualTo(fd).Within(1e-4 * (1 + Math.Abs(fd))), $"W[{i}, {j}]");
            }
        }
        for (int j = 0; j < Classes; j++)
            Assert.That(w.Scores.Logits[j], Is.EqualTo(ReferenceLogits(x.Select(v => (double)v).ToArray())[j]).Within(1e-4));
    }

    [Test]
    public void SelectedAndTopKColumnsEqualTheFullJacobianColumns()
    {
        using var classifier = OnnxClassifier.Create(Model, Options);
        var x = Image(2);
        var full = classifier.Jacobian(x);
        var selected = classifier.Jacobian(x, [4, 1]);
        Assert.That(selected.Column(0).ToArray(), Is.EqualTo(full.Column(4).ToArray()).Within(1e-6));
        Assert.That(selected.Column(1).ToArray(), Is.EqualTo(full.Column(1).ToArray()).Within(1e-6));

        var top = classifier.TopKJacobian(x, 3);
        var p = full.Scores.Probabilities;
        var expected = Enumerable.Range(0, Classes).OrderByDescending(i => p[i]).Take(3).ToArray();
        Assert.That(top.Classes, Is.EqualTo(expected));
        for (int j = 0; j < 3; j++)
            Assert.That(top.Column(j).ToArray(), Is.EqualTo(full.Column(expected[j]).ToArray()).Within(1e-6));
    }

    [Test]
    public void LossGradientIsWTimesPMinusY()
    {
        using var classifier = OnnxClassifier.Create(Model, Options);
        var x = Image(3);
        var w = classifier.Jacobian(x);
        int target = 2;
        var g = classifier.LossGradient(x, target);
        Assert.That(g.Target, Is.EqualTo(target));
        var p = w.Scores.Probabilities;
        for (int i = 0; i < x.Length; i++)
        {
            double expected = 0;
            for (int j = 0; j < Classes; j++) expected += w[i, j] * (p[j] - (j == target ? 1 : 0));
            Assert.That(g.Gradient[i], Is.EqualTo(expected).Within(1e-5 * (1 + Math.Abs(expected))));
        }
        // And against finite differences of the cross-entropy −log softmax(logits)_target (float64 reference).
        double Loss(double[] image)
        {
            var l = ReferenceLogits(image);
            double max = l.Max();
            return -(l[target] - max - Math.Log(l.Sum(v => Math.Exp(v - max))));
        }
        var rng = new Random(6);
        for (int probe = 0; probe < 6; probe++)
        {
            int i = rng.Next(x.Length);
            var plus = x.Select(v => (double)v).ToArray();
            var minus = x.Select(v => (double)v).ToArray();
            plus[i] += 1e-6;
            minus[i] -= 1e-6;
            double fd = (Loss(plus) - Loss(minus)) / 2e-6;
            Assert.That(g.Gradient[i], Is.EqualTo(fd).Within(1e-4 * (1 + Math.Abs(fd))));
        }
    }

    [Test]
    public void LossGradientDefaultsToThePredictedClass()
    {
        using var classifier = OnnxClassifier.Create(Model, Options);
        var x = Image(4);
        Assert.That(classifier.LossGradient(x).Target, Is.EqualTo(classifier.Predict(x).PredictedClass()));
    }

    [Test]
    public void VectorJacobianProductIsLinearInTheCotangents()
    {
        using var classifier = OnnxClassifier.Create(Model, Options);
        var x = Image(5);
        var w = classifier.Jacobian(x);
        var u = Autodiff.JacobianHarness.RandomVector(new Random(9), 2 * Classes);
        var destination = new float[2 * x.Length];
        classifier.VectorJacobianProduct(x, u, destination);
        for (int r = 0; r < 2; r++)
            for (int i = 0; i < x.Length; i++)
            {
                double expected = 0;
                for (int j = 0; j < Classes; j++) expected += w[i, j] * u[r * Classes + j];
                Assert.That(destination[r * x.Length + i], Is.EqualTo(expected).Within(1e-5 * (1 + Math.Abs(expected))));
            }
    }

    [Test]
    public void ConcurrentCallsGiveTheSerialResults()
    {
        using var classifier = OnnxClassifier.Create(Model, Options);
        var images = Enumerable.Range(0, 8).Select(Image).ToArray();
        var serial = images.Select(x => classifier.Jacobian(x).Data).ToArray();
        var serialLoss = images.Select(x => classifier.LossGradient(x).Gradient).ToArray();
        var failures = 0;
        Parallel.For(0, 8 * 10, new ParallelOptions { MaxDegreeOfParallelism = 8 }, n =>
        {
            int i = n % 8;
            if (!classifier.Jacobian(images[i]).Data.SequenceEqual(serial[i])) Interlocked.Increment(ref failures);
            if (!classifier.LossGradient(images[i]).Gradient.SequenceEqual(serialLoss[i])) Interlocked.Increment(ref failures);
        });
        Assert.That(failures, Is.Zero);
    }

    [Test]
    public void ClassifierEndingInSoftmaxReportsTheLogitsBeforeIt()
    {
        var b = new OnnxGraphBuilder("softmax_mlp");
        var rng = new Random(2);
        string x = b.Input("input", OnnxElementType.Float, "N", 5);
        string logits = b.Linear(x, 5, 3, rng, name: "fc");
        b.Output(b.Softmax(logits, -1, "prob"), OnnxElementType.Float, "N", 3);
        var model = b.Build();
        using var classifier = OnnxClassifier.Create(model, Options);
        var image = Autodiff.JacobianHarness.RandomVector(rng, 5);
        var scores = classifier.Predict(image);
        var reference = new ReferenceEvaluator(model).Evaluate(logits, new Dictionary<string, ReferenceTensor> { ["input"] = new(image.Select(v => (double)v).ToArray(), [1, 5]) }).Data;
        for (int j = 0; j < 3; j++) Assert.That(scores.Logits[j], Is.EqualTo(reference[j]).Within(1e-5));
        // For a linear model W is the weight matrix: ∂logit_j/∂x_i = fc.weight[j, i].
        var weights = model.Graph.Initializer.Single(t => t.Name == "fc.weight");
        var wData = Saliency.Models.Onnx.OnnxTensors.ToDoubleArray(weights);
        var w = classifier.Jacobian(image);
        for (int j = 0; j < 3; j++)
            for (int i = 0; i < 5; i++) Assert.That(w[i, j], Is.EqualTo(wData[j * 5 + i]).Within(1e-6));
    }

    [Test]
    public void BadArgumentsGiveTypedExceptions()
    {
        var classifier = OnnxClassifier.Create(Model, Options);
        var x = Image(0);
        Assert.Throws<ArgumentException>(() => classifier.Predict(new float[127]));
        Assert.Throws<ArgumentException>(() => classifier.Predict(ReadOnlySpan<float>.Empty));
        Assert.Throws<ArgumentException>(() => classifier.Jacobian(new float[5]));
        Assert.Throws<ArgumentOutOfRangeException>(() => classifier.Jacobian(x, [Classes]));
        Assert.Throws<ArgumentException>(() => classifier.Jacobian(x, []));
        Assert.Throws<ArgumentOutOfRangeException>(() => classifier.TopKJacobian(x, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => classifier.LossGradient(x, -1));
        Assert.Throws<ArgumentException>(() => classifier.VectorJacobianProduct(x, new float[Classes + 1], new float[x.Length]));
        Assert.Throws<ArgumentException>(() => classifier.VectorJacobianProduct(x, new float[Classes], new float[x.Length - 1]));
        Assert.Throws<ArgumentException>(() => classifier.VectorJacobianProduct(x, Enumerable.Repeat(float.NaN, Classes).ToArray(), new float[x.Length]));
        Assert.Throws<FileNotFoundException>(() => OnnxClassifier.Create("/nonexistent/model.onnx"));
        classifier.Dispose();
        Assert.Throws<ObjectDisposedException>(() => classifier.Jacobian(x));
        classifier.Dispose();
    }
}
