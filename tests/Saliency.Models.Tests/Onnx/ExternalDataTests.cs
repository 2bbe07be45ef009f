using Google.Protobuf;
using NUnit.Framework;
using Saliency.Models.Classifiers;
using Saliency.Models.Onnx;
using Saliency.Models.Onnx.Proto;
using Saliency.TestSupport;

namespace Saliency.Models.Tests.Onnx;

/// <summary>
/// External-data weights (issue 10 item 1): read from the model's folder only, with offsets and lengths checked
/// against the dims and the file's real size; everything else is an <see cref="OnnxFormatException"/> naming the tensor.
/// </summary>
[TestFixture]
public sealed class ExternalDataTests
{
    private string _root = null!;

    [SetUp]
    public void SetUp()
    {
        _root = Path.Combine(Path.GetTempPath(), $"saliency-extdata-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path.Combine(_root, "model"));
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_root, recursive: true);

    private string ModelFolder => Path.Combine(_root, "model");

    /// <summary>A small MLP whose Gemm weight [3, 4] is moved to an external file at <paramref name="location"/> (offset 16).</summary>
    private (ModelProto Inline, string Path) WriteModel(string location, Action<TensorProto>? tweak = null, bool writeData = true)
    {
        var b = new OnnxGraphBuilder("ext");
        string x = b.Input("input", OnnxElementType.Float, "N", 4);
        var w = Enumerable.Range(0, 12).Select(i => 0.25f * i - 1f).ToArray();
        string h = b.Gemm(x, b.Initializer("w", w, 3, 4), b.Initializer("b", [0.1f, -0.2f, 0.3f], 3), transB: true);
        b.Output(h, OnnxElementType.Float, "N", 3);
        var inline = b.Build();
        var model = inline.Clone();
        var t = model.Graph.Initializer.Single(i => i.Name == "w");
        var bytes = t.RawData.ToByteArray();
        if (writeData)
        {
            string dataPath = Path.Combine(ModelFolder, location);
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(dataPath))!);
            File.WriteAllBytes(dataPath, [.. new byte[16], .. bytes]);
        }
        t.RawData = ByteString.Empty;
        t.DataLocation = TensorProto.Types.DataLocation.External;
        t.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = location });
        t.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = "16" });
        t.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = bytes.Length.ToString() });
        tweak?.Invoke(t);
        string path = Path.Combine(ModelFolder, "model.onnx");
        File.WriteAllBytes(path, model.ToByteArray());
        return (inline, path);
    }

    [Test]
    public void WeightsBesideTheModelAreReadAndGiveTheSameModel()
    {
        var (inline, path) = WriteModel("weights/data.bin");
        var loaded = OnnxModel.Load(path);
        Assert.That(loaded.FindInitializer("w")!.RawData.ToByteArray(), Is.EqualTo(inline.Graph.Initializer.Single(i => i.Name == "w").RawData.ToByteArray()));
        Assert.That(OnnxExternalData.HasExternalData(loaded.Proto), Is.False);

        // The classifier reads them too, and predicts what the inline model predicts.
        float[] image = [0.5f, -1f, 2f, 0.25f];
        using var fromFile = OnnxClassifier.Create(path);
        using var fromInline = OnnxClassifier.Create(inline);
        Assert.That(fromFile.Predict(image).Logits, Is.EqualTo(fromInline.Predict(image).Logits));
    }

    [TestCase("/etc/passwd", "absolute path")]
    [TestCase("../outside.bin", "outside the model's folder")]
    [TestCase("weights/../../outside.bin", "outside the model's folder")]
    public void LocationsOutsideTheFolderAreRefused(string location, string message)
    {
        File.WriteAllBytes(Path.Combine(_root, "outside.bin"), new byte[64]);
        var (_, path) = WriteModel(location, writeData: false);
        var e = Assert.Throws<OnnxFormatException>(() => OnnxModel.Load(path));
        Assert.That(e!.Message, Does.Contain(message).And.Contain("'w'"));
    }

    [Test]
    public void SymbolicLinkLeadingOutOfTheFolderIsRefused()
    {
        File.WriteAllBytes(Path.Combine(_root, "outside.bin"), new byte[64]);
        Directory.CreateDirectory(Path.Combine(_root, "elsewhere"));
        File.WriteAllBytes(Path.Combine(_root, "elsewhere", "data.bin"), new byte[64]);
        File.CreateSymbolicLink(Path.Combine(ModelFolder, "link.bin"), Path.Combine(_root, "outside.bin"));
        Directory.CreateSymbolicLink(Path.Combine(ModelFolder, "dir"), Path.Combine(_root, "elsewhere"));
        foreach (var location in new[] { "link.bin", "dir/data.bin" })
        {
            var (_, path) = WriteModel(location, writeData: false);
            var e = Assert.Throws<OnnxFormatException>(() => OnnxModel.Load(path));
            Assert.That(e!.Message, Does.Contain("outside the model's folder"), location);
        }
        // A link that stays inside the folder is fine.
        WriteModel("real/data.bin");
        File.CreateSymbolicLink(Path.Combine(ModelFolder, "inside.bin"), Path.Combine(ModelFolder, "real", "data.bin"));
        var (_, ok) = WriteModel("inside.bin", writeData: false);
        Assert.That(OnnxModel.Load(ok).FindInitializer("w")!.RawData.Length, Is.EqualTo(48));
    }

    [Test]
    public void OffsetsAndLengthsAreCheckedAgainstTheDimsAndTheFileSize()
    {
        void Expect(Action<TensorProto> tweak, string message)
        {
            var (_, path) = WriteModel("data.bin", tweak);
            var e = Assert.Throws<OnnxFormatException>(() => OnnxModel.Load(path));
            Assert.That(e!.Message, Does.Contain(message));
        }
        static void Set(TensorProto t, string key, string value) => t.ExternalData.Single(e => e.Key == key).Value = value;
        Expect(t => Set(t, "offset", "40"), "beyond the end");
        Expect(t => Set(t, "offset", "9223372036854775000"), "beyond the end");
        Expect(t => Set(t, "offset", "-8"), "not a non-negative integer");
        Expect(t => Set(t, "length", "44"), "does not match dims");
        // Dims near 2⁶³ are refused from the dims alone, before any allocation.
        Expect(t => { t.Dims.Clear(); t.Dims.Add(1L << 40); t.Dims.Add(1L << 20); }, "too many elements");
        Expect(t => Set(t, "location", "missing.bin"), "does not exist");
        Expect(t => t.ExternalData.Remove(t.ExternalData.Single(e => e.Key == "location")), "no location");
    }

    [Test]
    public void ParameterCountIncludesConstantNodeWeights()
    {
        var b = new OnnxGraphBuilder("constants");
        string x = b.Input("input", OnnxElementType.Float, "N", 4);
        string w = b.Node("Constant", [], [OnnxAttributes.Tensor("value", OnnxTensors.FromFloats("w", new float[12], [3, 4]))]);
        string c = b.Node("Constant", [], [OnnxAttributes.Floats("value_floats", 1f, 2f, 3f)]);
        b.Output(b.Gemm(x, w, c, transB: true), OnnxElementType.Float, "N", 3);
        Assert.That(b.BuildModel().ParameterCount, Is.EqualTo(15));
    }
}
