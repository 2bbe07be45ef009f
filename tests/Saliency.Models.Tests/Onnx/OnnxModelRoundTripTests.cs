using Google.Protobuf;
using NUnit.Framework;
using Saliency.Models.Onnx;
using Saliency.Models.Onnx.Proto;
using Saliency.TestSupport;

namespace Saliency.Models.Tests.Onnx;

[TestFixture]
internal sealed class OnnxModelRoundTripTests
{
    private static IEnumerable<TestCaseData> Models()
    {
        yield return new TestCaseData(TestModels.Mlp()).SetArgDisplayNames("Mlp");
        yield return new TestCaseData(TestModels.SmallCnn()).SetArgDisplayNames("SmallCnn");
        yield return new TestCaseData(TestModels.LeNet()).SetArgDisplayNames("LeNet");
        yield return new TestCaseData(TestModels.ResNetBlock()).SetArgDisplayNames("ResNetBlock");
    }

    [TestCaseSource(nameof(Models))]
    public void BuildToBytesParseToBytes_IsByteIdentical_AndProtoEqual(ModelProto built)
    {
        byte[] first = OnnxModel.FromProto(built).ToBytes();
        var parsed = OnnxModel.Parse(first);
        byte[] second = parsed.ToBytes();
        Assert.That(second, Is.EqualTo(first));
        Assert.That(parsed.Proto, Is.EqualTo(built), "message equality after the round trip");
    }

    [TestCaseSource(nameof(Models))]
    public void SaveThenLoad_GivesTheSameModel(ModelProto built)
    {
        string path = Path.Combine(Path.GetTempPath(), $"onnxio-{Guid.NewGuid():N}.onnx");
        try
        {
            OnnxModel.FromProto(built).Save(path);
            var loaded = OnnxModel.Load(path);
            Assert.That(loaded.Proto, Is.EqualTo(built));
            Assert.That(File.ReadAllBytes(path), Is.EqualTo(built.ToByteArray()));
        }
        finally { File.Delete(path); }
    }

    [Test]
    public void ParsedBuilderModel_HasTheGraphThatWasBuilt()
    {
        float[] w = [1, 2, 3, 4, 5, 6];
        float[] bias = [0.5f, -0.5f];
        var b = new OnnxGraphBuilder("tiny", opset: 17);
        string x = b.Input("input", OnnxElementType.Float, "N", 3);
        string wt = b.Initializer("w", w, 2, 3);
        string bs = b.Initializer("b", bias, 2);
        string h = b.Gemm(x, wt, bs, transB: true, name: "fc");
        string y = b.Softmax(b.LeakyRelu(h, 0.2f, name: "act"), axis: 1, name: "probs");
        b.Output(y, OnnxElementType.Float, "N", 2);

        var m = OnnxModel.Parse(b.BuildModel().ToBytes());

        Assert.That(m.IrVersion, Is.EqualTo(8));
        Assert.That(m.DefaultOpset, Is.EqualTo(17));
        Assert.That(m.OpsetImports, Is.EquivalentTo(new Dictionary<string, long> { [""] = 17 }));
        Assert.That(m.Graph.Name, Is.EqualTo("tiny"));

        Assert.That(m.Inputs, Has.Count.EqualTo(1));
        Assert.That(m.Inputs[0].Name, Is.EqualTo("input"));
        Assert.That(m.Inputs[0].ElementType, Is.EqualTo(OnnxElementType.Float));
        Assert.That(m.Inputs[0].Dims, Is.EqualTo(new OnnxDim[] { "N", 3 }));
        Assert.That(m.Inputs[0].Shape, Is.EqualTo(new long[] { -1, 3 }));
        Assert.That(m.Outputs.Single().Name, Is.EqualTo("probs"));
        Assert.That(m.Outputs.Single().Dims, Is.EqualTo(new OnnxDim[] { "N", 2 }));

        Assert.That(m.Graph.Node.Select(n => n.OpType), Is.EqualTo(new[] { "Gemm", "LeakyRelu", "Softmax" }));
        Assert.That(m.Graph.Node[0].Input, Is.EqualTo(new[] { "input", "w", "b" }));
        Assert.That(m.Graph.Node[0].Output, Is.EqualTo(new[] { "fc" }));
        Assert.That(OnnxAttributes.GetInt(m.Graph.Node[0], "transB", 0), Is.EqualTo(1));
        Assert.That(OnnxAttributes.GetFloat(m.Graph.Node[1], "alpha", 0), Is.EqualTo(0.2f));
        Assert.That(OnnxAttributes.GetInt(m.Graph.Node[2], "axis", 0), Is.EqualTo(1));
        Assert.That(m.OpHistogram, Is.EquivalentTo(new Dictionary<string, int> { ["Gemm"] = 1, ["LeakyRelu"] = 1, ["Softmax"] = 1 }));

        var (wData, wDims) = m.GetFloatInitializer("w");
        Assert.That(wData, Is.EqualTo(w));
        Assert.That(wDims, Is.EqualTo(new long[] { 2, 3 }));
        Assert.That(m.GetFloatInitializer("b").Data, Is.EqualTo(bias));
        Assert.That(m.InitializerNames, Is.EqualTo(new[] { "w", "b" }));
    }

    [Test]
    public void ResNetBlock_HasConvBatchNormResidualAddGlobalPoolGemm()
    {
        var m = OnnxModel.FromProto(TestModels.ResNetBlock());
        var h = m.OpHistogram;
        Assert.That(h["Conv"], Is.EqualTo(6), "stem + 2 per block + 1 projection");
        Assert.That(h["BatchNormalization"], Is.EqualTo(6));
        Assert.That(h["Add"], Is.EqualTo(2), "one residual Add per block");
        Assert.That(h["GlobalAveragePool"], Is.EqualTo(1));
        Assert.That(h["Gemm"], Is.EqualTo(1));
        var stemRelu = m.Graph.Node.Single(n => n.OpType == "Relu" && n.Input[0] == "stem_bn");
        var add = m.Graph.Node.First(n => n.OpType == "Add");
        Assert.That(add.Input[0], Is.EqualTo(stemRelu.Output[0]), "the first residual Add reads the block input (identity shortcut)");
    }

    [Test]
    public void SameSeed_SameBytes_DifferentSeed_DifferentWeights()
    {
        Assert.That(TestModels.SmallCnn(3).ToByteArray(), Is.EqualTo(TestModels.SmallCnn(3).ToByteArray()));
        Assert.That(TestModels.SmallCnn(4).ToByteArray(), Is.Not.EqualTo(TestModels.SmallCnn(3).ToByteArray()));
    }

    [Test]
    public void MaxPoolWithIndices_AndInt64Reshape_RoundTrip()
    {
        var b = new OnnxGraphBuilder("pool");
        string x = b.Input("x", OnnxElementType.Float, 1, 1, 4, 4);
        var (y, idx) = b.MaxPoolWithIndices(x, [2, 2], [2, 2], name: "mp");
        string r = b.Reshape(y, [1, -1], name: "flat");
        b.Output(r, OnnxElementType.Float, 1, 4);
        b.Output(idx, OnnxElementType.Int64, 1, 1, 2, 2);
        var m = OnnxModel.Parse(b.BuildModel().ToBytes());
        var node = m.Graph.Node[0];
        Assert.That(node.Output, Is.EqualTo(new[] { "mp", "mp_1" }));
        Assert.That(OnnxAttributes.GetInts(node, "kernel_shape"), Is.EqualTo(new long[] { 2, 2 }));
        string shapeName = m.Graph.Node[1].Input[1];
        var (shape, dims) = m.GetInt64Initializer(shapeName);
        Assert.That(shape, Is.EqualTo(new long[] { 1, -1 }));
        Assert.That(dims, Is.EqualTo(new long[] { 2 }));
        Assert.That(m.Outputs[1].ElementType, Is.EqualTo(OnnxElementType.Int64));
    }

    // ---- tensor decoding: raw_data (little-endian) and the typed fields must agree ----

    [Test]
    public void FloatInitializer_DecodesRawDataAndFloatData_Identically()
    {
        float[] values = [1.5f, -2.25f, 3e-8f, float.MaxValue, 0f, -0f];
        var raw = OnnxTensors.FromFloats("r", values, [2, 3]);
        var typed = new TensorProto { Name = "t", DataType = (int)OnnxElementType.Float };
        typed.Dims.AddRange([2, 3]);
        typed.FloatData.AddRange(values);
        Assert.That(OnnxTensors.ToFloatArray(raw), Is.EqualTo(values));
        Assert.That(OnnxTensors.ToFloatArray(typed), Is.EqualTo(values));
        // Little-endian layout: 1.5f = 0x3FC00000 → bytes 00 00 C0 3F.
        Assert.That(raw.RawData.Span[..4].ToArray(), Is.EqualTo(new byte[] { 0x00, 0x00, 0xC0, 0x3F }));
    }

    [Test]
    public void Int64Initializer_DecodesRawDataAndInt64Data_Identically()
    {
        long[] values = [1, -1, long.MaxValue, long.MinValue];
        var raw = OnnxTensors.FromInt64s("r", values, [4]);
        var typed = new TensorProto { Name = "t", DataType = (int)OnnxElementType.Int64 };
        typed.Dims.Add(4);
        typed.Int64Data.AddRange(values);
        Assert.That(OnnxTensors.ToInt64Array(raw), Is.EqualTo(values));
        Assert.That(OnnxTensors.ToInt64Array(typed), Is.EqualTo(values));
        Assert.That(raw.RawData.Span[..8].ToArray(), Is.EqualTo(new byte[] { 1, 0, 0, 0, 0, 0, 0, 0 }));
    }

    [Test]
    public void OtherElementTypes_DecodeToTheirValues()
    {
        // float16 1.0 = 0x3C00, −2.0 = 0xC000; bfloat16 1.0 = 0x3F80; int8 −1 = 0xFF; int32 data typed.
        var half = new TensorProto { Name = "h", DataType = (int)OnnxElementType.Float16, RawData = ByteString.CopyFrom(0x00, 0x3C, 0x00, 0xC0) };
        half.Dims.Add(2);
        Assert.That(OnnxTensors.ToDoubleArray(half), Is.EqualTo(new[] { 1.0, -2.0 }));
        var bf = new TensorProto { Name = "bf", DataType = (int)OnnxElementType.BFloat16 };
        bf.Int32Data.Add(0x3F80);
        Assert.That(OnnxTensors.ToDoubleArray(bf), Is.EqualTo(new[] { 1.0 }), "a scalar (no dims) has one element");
        var i8 = new TensorProto { Name = "i8", DataType = (int)OnnxElementType.Int8, RawData = ByteString.CopyFrom(0xFF, 0x7F) };
        i8.Dims.Add(2);
        Assert.That(OnnxTensors.ToInt64Array(i8), Is.EqualTo(new long[] { -1, 127 }));
        var d = new TensorProto { Name = "d", DataType = (int)OnnxElementType.Double };
        d.Dims.Add(2);
        d.DoubleData.AddRange([0.1, 1e300]);
        Assert.That(OnnxTensors.ToDoubleArray(d), Is.EqualTo(new[] { 0.1, 1e300 }));
        Assert.That(OnnxTensors.ToFloatArray(d), Is.EqualTo(new[] { 0.1f, float.PositiveInfinity }));
    }

    [Test]
    public void BundledLeNet_LoadsWithItsDeclaredStructure()
    {
        string path = RepoFiles.LeNetModel;
        var m = OnnxModel.Load(path);
        Assert.That(m.Inputs.Single().Shape, Is.EqualTo(new long[] { -1, 1, 28, 28 }));
        Assert.That(m.Outputs.Single().Shape, Is.EqualTo(new long[] { -1, 10 }));
        Assert.That(m.OpHistogram["Conv"], Is.EqualTo(2));
        Assert.That(OnnxModel.Parse(m.ToBytes()).Proto, Is.EqualTo(m.Proto), "bytes written back parse to an equal message");
    }
}
