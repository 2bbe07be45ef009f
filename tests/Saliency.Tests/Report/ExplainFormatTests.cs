using System.Text.Json;
using NUnit.Framework;
using Saliency.Explainers;
using Saliency.Models.Classifiers;
using Saliency.Reporting;
using Saliency.Tests.Cli;
using Saliency.TestSupport;

namespace Saliency.Tests.Report;

/// <summary><c>explain --format png|npy|json</c>: the raw map for every method.</summary>
public sealed class ExplainFormatTests : CliTestBase
{
    [Test]
    public void NpyAndJsonHoldTheMapsSignedValues()
    {
        string npy = Path.Combine(Temp, "g.npy"), json = Path.Combine(Temp, "g.json");
        var a = Invoke("explain", "--method", "gradient", "--digit", "3", "--format", "npy", "--out", npy);
        Assert.That(a.Exit, Is.Zero, a.Err);
        Assert.That(a.Out, Does.Contain("npy, 1×28×28 values"));
        var b = Invoke("explain", "--method", "gradient", "--digit", "3", "--format", "json", "--out", json);
        Assert.That(b.Exit, Is.Zero, b.Err);

        // The oracle: the library's gradient map of the same digit, in-process.
        using var classifier = OnnxClassifier.Create(RepoFiles.LeNetModel);
        var digits = Saliency.Models.Data.DigitSet.Load(RepoFiles.DigitImages, RepoFiles.DigitLabels);
        var expected = new GradientExplainer().Explain(classifier, digits.ImageFloats(3));

        var array = Npy.Decode(File.ReadAllBytes(npy));
        Assert.That(array.Shape, Is.EqualTo(new[] { 1, 28, 28 }));
        Assert.That(array.Descr, Is.EqualTo("<f4"));
        Assert.That(array.Values.Select(v => (float)v), Is.EqualTo(expected.Map.Values));

        using var document = JsonDocument.Parse(File.ReadAllBytes(json));
        var root = document.RootElement;
        Assert.That(root.GetProperty("method").GetString(), Is.EqualTo("gradient"));
        Assert.That(root.GetProperty("target").GetInt32(), Is.EqualTo(expected.Target));
        Assert.That(root.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()), Is.EqualTo(new[] { 1, 28, 28 }));
        Assert.That(root.GetProperty("values").EnumerateArray().Select(e => e.GetSingle()), Is.EqualTo(expected.Map.Values));
        Assert.That(root.GetProperty("probabilities").GetArrayLength(), Is.EqualTo(10));
        foreach (var (key, value) in expected.Details)
            Assert.That(root.GetProperty("report").GetProperty(key).GetString(), Is.EqualTo(value), key);
    }

    [Test]
    public void DefaultFormatIsPngAndOthersAreRefused()
    {
        string png = Path.Combine(Temp, "g.png");
        Assert.That(Invoke("explain", "--method", "gradient", "--digit", "0", "--out", png).Exit, Is.Zero);
        Assert.That(File.ReadAllBytes(png)[1..4], Is.EqualTo("PNG"u8.ToArray()));
        var bad = Invoke("explain", "--method", "gradient", "--digit", "0", "--format", "tiff", "--out", png);
        Assert.That(bad.Exit, Is.Not.Zero);
    }
}
