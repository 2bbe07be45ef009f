using NUnit.Framework;
using Saliency.Explainers;
using Saliency.Imaging;
using Saliency.Models.Classifiers;
using Saliency.TestSupport;

namespace Saliency.Tests.Explainers;

/// <summary>
/// LIME with SLIC superpixel features on a linear model <c>logit = Wx + b</c> (graph builder, ONNX Runtime): the score is
/// exactly affine in the on/off vector, so the coefficients are the per-segment sums <c>Σ_{i∈s} w_i (x_i − b_i)</c>
/// over the segment's pixels and channels (closed form), as for grid features.
/// </summary>
[TestFixture]
public sealed class LimeSuperpixelTests
{
    [Test]
    public void LimeOnALinearModelRecoversThePerSegmentSums()
    {
        const int channels = 3, size = 16, target = 2;
        var linear = KnownFunctionModel.Create(channels, size, size, classes: 3, seed: 31);
        using var classifier = OnnxClassifier.Create(linear.Proto);
        // Four colour quadrants plus noise, so the superpixels follow the quadrants and are not grid cells.
        var rng = new Random(32);
        int plane = size * size;
        var x = new float[channels * plane];
        for (int c = 0; c < channels; c++)
            for (int i = 0; i < plane; i++)
            {
                int quadrant = (i / size >= size / 2 ? 2 : 0) + (i % size >= size / 2 ? 1 : 0);
                x[c * plane + i] = (float)Math.Clamp(0.2 + 0.2 * ((quadrant + c) % 4) + 0.05 * rng.NextDouble(), 0, 1);
            }
        var options = new LimeOptions { Features = LimeFeatureKind.Superpixel, Segments = 12, SampleCount = 300, Ridge = 1e-9, BaselineValue = 0.1f, Seed = 4 };
        var explanation = new LimeExplainer(options).Explain(classifier, x, target);
        var report = explanation.Report;
        var segments = report.Segments!;
        Assert.That(report.Features, Is.EqualTo(segments.Count));
        Assert.That(segments.Count, Is.InRange(6, 24));
        Assert.That(segments.Labels, Is.EqualTo(Slic.Segment(x, channels, size, size, new SlicOptions { Segments = 12 }).Labels));

        var expected = new double[segments.Count];
        for (int c = 0; c < channels; c++)
            for (int i = 0; i < plane; i++)
                expected[segments.Labels[i]] += linear.Weight(target, c * plane + i) * (x[c * plane + i] - 0.1f);
        double scale = expected.Max(Math.Abs);
        Assert.That(scale, Is.GreaterThan(0));
        Assert.That(report.Coefficients, Is.EqualTo(expected).Within(1e-5 * scale));
        Assert.That(report.WeightedR2, Is.EqualTo(1).Within(1e-9));
        // The map spreads each coefficient over its segment's values: segment sums of the map give the coefficients back.
        var mapSums = new double[segments.Count];
        for (int c = 0; c < channels; c++)
            for (int i = 0; i < plane; i++) mapSums[segments.Labels[i]] += explanation.Map.Values[c * plane + i];
        Assert.That(mapSums, Is.EqualTo(expected).Within(1e-5 * scale));
    }

    [Test]
    public void BadSuperpixelSettingsAreTypedErrors()
    {
        var linear = KnownFunctionModel.Create(1, 8, 8, classes: 2, seed: 3);
        using var classifier = OnnxClassifier.Create(linear.Proto);
        var x = new float[64];
        Assert.Throws<ExplainerInputException>(() =>
            new LimeExplainer(new LimeOptions { Features = LimeFeatureKind.Superpixel, Segments = 0 }).Explain(classifier, x));
        Assert.Throws<ExplainerInputException>(() =>
            new LimeExplainer(new LimeOptions { Features = LimeFeatureKind.Superpixel, Compactness = double.NaN }).Explain(classifier, x));
        Assert.Throws<ExplainerInputException>(() => new LimeExplainer(new LimeOptions { Features = (LimeFeatureKind)7 }).Explain(classifier, x));
    }
}
