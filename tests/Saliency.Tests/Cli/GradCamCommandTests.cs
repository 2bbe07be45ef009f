using Google.Protobuf;
using NUnit.Framework;
using Saliency.Explainers;
using Saliency.Imaging;
using Saliency.Models.Classifiers;
using Saliency.Models.Onnx;
using Saliency.Models.Onnx.Proto;
using Saliency.Reporting;
using Saliency.TestSupport;

namespace Saliency.Tests.Cli;

/// <summary>
/// <c>saliency explain --method gradcam [--layer]</c> and <c>--method lime --features superpixel</c>: the PNG is the
/// library's map; Grad-CAM of one score alone (<c>--channel</c> on a feature output, a sigmoid output's label) is the
/// library's Grad-CAM of that score on the model itself (GradCamTests checks it against the closed form).
/// </summary>
[TestFixture]
internal sealed class GradCamCommandTests : CliTestBase
{
    [TestCase("gradcam", new string[0], "[16×10×10]")]
    [TestCase("gradcam", new[] { "--layer", "/conv1/Conv" }, "/conv1/Conv_output_0 [8×28×28]")]
    [TestCase("lime", new[] { "--features", "superpixel", "--segments", "20", "--compactness", "5", "--samples", "64", "--seed", "1" }, "SLIC superpixels (asked 20, compactness m = 5)")]
    public void WritesTheMapOfTheMethodAsAPng(string method, string[] options, string reportText)
    {
        string outPath = Path.Combine(Temp, $"{method}.png");
        var (exit, output, error) = Invoke(["explain", "--method", method, "--digit", "4", "--out", outPath, "--scale", "1", .. options]);
        Assert.That(exit, Is.EqualTo(0), error);
        Assert.That(output, Does.Contain(reportText));
        var png = ImageCodec.Read(outPath);
        Assert.That((png.Width, png.Height), Is.EqualTo((28, 28)));

        using var classifier = OnnxClassifier.Create(RepoFiles.LeNetModel);
        IExplainer explainer = method == "gradcam"
            ? new GradCamExplainer(new GradCamOptions { Layer = options.Length > 0 ? options[1] : null })
            : new LimeExplainer(new LimeOptions { Features = LimeFeatureKind.Superpixel, Segments = 20, Compactness = 5, SampleCount = 64, Seed = 1 });
        var map = explainer.Explain(classifier, BundledLeNet.Digits().ImageFloats(4)).Map;
        for (int i = 0; i < 28 * 28; i++)
        {
            var (r, g, b) = MapRenderer.Lookup(ColorMap.Hot, map.Normalized[i]);
            Assert.That((int)png.Pixels[3 * i], Is.EqualTo((int)Math.Round(r * 255)).Within(1), $"red at {i}");
            Assert.That((int)png.Pixels[3 * i + 1], Is.EqualTo((int)Math.Round(g * 255)).Within(1), $"green at {i}");
            Assert.That((int)png.Pixels[3 * i + 2], Is.EqualTo((int)Math.Round(b * 255)).Within(1), $"blue at {i}");
        }
    }

    [TestCase("features", 3)]
    [TestCase("sigmoid", 4)]
    public void GradCamExplainsOneScoreAlone(string head, int score)
    {
        // RandomModels.SmallCnn (3×16×16 → 7 scores) with a [1, 7, 1, 1] feature output next to the logits, or a Sigmoid head.
        var model = RandomModels.SmallCnn(channels: 3, size: 16, classes: 7, seed: 41);
        string logits = model.Graph.Output[0].Name;
        if (head == "features")
        {
            model.Graph.Initializer.Add(new TensorProto { Name = "shape4", DataType = 7, Dims = { 4 }, Int64Data = { 1, 7, 1, 1 } });
            model.Graph.Node.Add(new NodeProto { OpType = "Reshape", Name = "to4d", Input = { logits, "shape4" }, Output = { "features" } });
        }
        else
        {
            model.Graph.Node.Add(new NodeProto { OpType = "Sigmoid", Name = "head", Input = { logits }, Output = { "sigmoid" } });
            model.Graph.Output.Clear();
        }
        model.Graph.Output.Add(new ValueInfoProto { Name = head, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1 } } });
        string modelPath = Path.Combine(Temp, $"{head}.onnx"), imagePath = Path.Combine(Temp, "x.png"), outPath = Path.Combine(Temp, "map.npy");
        File.WriteAllBytes(modelPath, model.ToByteArray());
        var pixels = new byte[16 * 16 * 3];
        new Random(5).NextBytes(pixels);
        ImageCodec.WritePng(imagePath, new ImageBuffer(16, 16, PixelFormat.Rgb, pixels));

        string[] choose = head == "features" ? ["--output", "features", "--channel", $"{score}"] : ["--target", $"{score}"];
        var (exit, output, error) = Invoke(["explain", "--method", "gradcam", "--model", modelPath, "--image", imagePath, "--format", "npy", "--out", outPath, .. choose]);
        Assert.That(exit, Is.EqualTo(0), error);
        Assert.That(output, Does.Contain(head == "features" ? $"channel {score}" : "sigmoid, multi-label").And.Contain("layer"));

        // The same score of the model itself, explained by the library: the cotangent e_score reaches the same tapped run.
        using var classifier = OnnxClassifier.Open(model, new OnnxClassifierOptions { OutputName = head });
        var input = ImageCodec.Read(imagePath).ToPlanarFloats(3);
        var expected = new GradCamExplainer().Explain(classifier, input, score).Map;
        var written = Npy.Decode(File.ReadAllBytes(outPath));
        Assert.That(written.Shape, Is.EqualTo(new[] { 1, 16, 16 }));
        Assert.That(written.Values.Select(v => (float)v), Is.EqualTo(expected.Values));
        Assert.That(expected.Values.Max(), Is.GreaterThan(0f), "a non-trivial map");
    }

    [TestCase(new[] { "--method", "gradcam", "--layer", "nope" }, "no node or node output named 'nope'")]
    [TestCase(new[] { "--method", "gradcam", "--layer", "logits" }, "spatial activation")]
    [TestCase(new[] { "--method", "lime", "--features", "superpixel", "--segments", "0" }, "segments must lie in 1..784")]
    public void BadOptionsGiveOneLineAndExitOne(string[] args, string expected)
    {
        string outPath = Path.Combine(Temp, "never.png");
        var (exit, output, error) = Invoke(["explain", .. args, "--digit", "0", "--out", outPath]);
        Assert.That(exit, Is.EqualTo(1), output);
        Assert.That(error, Does.StartWith("error: ").And.Contain(expected));
        Assert.That(error + output, Does.Not.Contain("   at "));
        Assert.That(File.Exists(outPath), Is.False);
    }
}
