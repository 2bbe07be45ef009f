using Google.Protobuf;
using NUnit.Framework;
using Saliency.Models.Onnx;
using Saliency.Models.Onnx.Proto;
using Saliency.TestSupport;

namespace Saliency.Models.Tests.Onnx;

/// <summary>Bad files and bad models: each gets a typed exception whose message names the problem.</summary>
[TestFixture]
internal sealed class OnnxModelValidationTests
{
    private static ModelProto Valid() => TestModels.Mlp();

    private static OnnxFormatException Rejects(ModelProto m) =>
        Assert.Throws<OnnxFormatException>(() => OnnxModel.Parse(m.ToByteArray()))!;

    [Test]
    public void MissingFile_ThrowsFileNotFound_WithThePath()
    {
        string path = Path.Combine(Path.GetTempPath(), $"no-such-model-{Guid.NewGuid():N}.onnx");
        var e = Assert.Throws<FileNotFoundException>(() => OnnxModel.Load(path))!;
        Assert.That(e.FileName, Is.EqualTo(path));
        Assert.That(e.Message, Does.Contain(path));
    }

    [Test]
    public void DirectoryInsteadOfFile_IsAFileNotFoundSayingSo()
    {
        string dir = Path.GetTempPath();
        var e = Assert.Throws<FileNotFoundException>(() => OnnxModel.Load(dir))!;
        Assert.That(e.Message, Does.Contain("directory"));
    }

    [Test]
    public void NodeInADomainThatIsNotImported_IsRejected()
    {
        var m = Valid();
        m.Graph.Node[0].Domain = "com.microsoft";
        Assert.That(Rejects(m).Message, Does.Contain("'com.microsoft'").And.Contain("opset_import"));
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.microsoft", Version = 1 });
        Assert.DoesNotThrow(() => OnnxModel.Parse(m.ToByteArray()));
    }

    [Test]
    public void GarbageFile_MessageNamesTheFile()
    {
        string path = Path.Combine(Path.GetTempPath(), $"onnxio-garbage-{Guid.NewGuid():N}.onnx");
        File.WriteAllText(path, "this is not a protobuf model\n");
        try
        {
            var e = Assert.Throws<OnnxFormatException>(() => OnnxModel.Load(path))!;
            Assert.That(e.Message, Does.Contain(path));
        }
        finally { File.Delete(path); }
    }

    [Test]
    public void EmptyBytes_AreRejected()
    {
        var e = Assert.Throws<OnnxFormatException>(() => OnnxModel.Parse(Array.Empty<byte>()))!;
        Assert.That(e.Message, Does.Contain("empty"));
        Assert.Throws<ArgumentNullException>(() => OnnxModel.Parse((byte[])null!));
    }

    [Test]
    public void MalformedProtobuf_IsWrapped()
    {
        // Field 7 (graph), wire type 2, length 100 but only 2 bytes follow.
        var e = Assert.Throws<OnnxFormatException>(() => OnnxModel.Parse(new byte[] { 0x3A, 100, 1, 2 }))!;
        Assert.That(e.InnerException, Is.InstanceOf<InvalidProtocolBufferException>());
        Assert.That(e.Message, Does.Contain("malformed"));
    }

    [Test]
    public void WrongFileType_PngHeader_IsRejected()
    {
        byte[] png = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52];
        Assert.Throws<OnnxFormatException>(() => OnnxModel.Parse(png));
    }

    [Test]
    public void MissingGraph_IsRejected()
    {
        var m = Valid();
        m.Graph = null;
        Assert.That(Rejects(m).Message, Does.Contain("no graph"));
    }

    [Test]
    public void ValidProtobufOfAnotherMessage_IsRejectedAsMissingGraph()
    {
        // A TensorProto's bytes parse as a ModelProto with unknown fields but no graph.
        var t = OnnxTensors.FromFloats("t", [1f, 2f], [2]);
        Assert.Throws<OnnxFormatException>(() => OnnxModel.Parse(t.ToByteArray()));
    }

    [Test]
    public void MissingIrVersionOrOpset_IsRejected()
    {
        var m = Valid();
        m.IrVersion = 0;
        Assert.That(Rejects(m).Message, Does.Contain("ir_version"));
        m = Valid();
        m.OpsetImport.Clear();
        Assert.That(Rejects(m).Message, Does.Contain("opset"));
    }

    [Test]
    public void NodeReadingAnUnknownTensor_IsRejected_NamingNodeAndTensor()
    {
        var m = Valid();
        m.Graph.Node[1].Input[0] = "nowhere";
        var e = Rejects(m);
        Assert.That(e.Message, Does.Contain("'nowhere'"));
        Assert.That(e.Message, Does.Contain(m.Graph.Node[1].Name));
    }

    [Test]
    public void NodesOutOfTopologicalOrder_AreRejected()
    {
        var m = Valid();
        var first = m.Graph.Node[0];
        m.Graph.Node.RemoveAt(0);
        m.Graph.Node.Add(first);
        Assert.That(Rejects(m).Message, Does.Contain("earlier node"));
    }

    [Test]
    public void TensorWrittenTwice_IsRejected()
    {
        var m = Valid();
        m.Graph.Node[1].Output[0] = m.Graph.Node[0].Output[0];
        Assert.That(Rejects(m).Message, Does.Contain("already exists"));
    }

    [Test]
    public void GraphOutputNotProduced_IsRejected()
    {
        var m = Valid();
        m.Graph.Output[0].Name = "ghost";
        Assert.That(Rejects(m).Message, Does.Contain("'ghost'"));
    }

    [Test]
    public void InitializerRawDataOfWrongSize_IsRejected_WithCounts()
    {
        var m = Valid();
        var w = m.Graph.Initializer[0];
        w.RawData = ByteString.CopyFrom(w.RawData.Span[..^4]);
        var e = Rejects(m);
        Assert.That(e.Message, Does.Contain($"'{w.Name}'"));
        Assert.That(e.Message, Does.Contain("raw_data"));
    }

    [Test]
    public void InitializerDimsNotMatchingTypedData_IsRejected()
    {
        var m = Valid();
        var t = new TensorProto { Name = "extra", DataType = (int)OnnxElementType.Float };
        t.Dims.AddRange([2, 2]);
        t.FloatData.AddRange([1f, 2f, 3f]);
        m.Graph.Initializer.Add(t);
        var e = Rejects(m);
        Assert.That(e.Message, Does.Contain("'extra'").And.Contain("3").And.Contain("4"));
    }

    [Test]
    public void InitializerWithNegativeDim_OrOverflowingDims_IsRejected()
    {
        var m = Valid();
        m.Graph.Initializer[0].Dims[0] = -3;
        Assert.That(Rejects(m).Message, Does.Contain("negative"));
        m = Valid();
        m.Graph.Initializer[0].Dims.Clear();
        m.Graph.Initializer[0].Dims.AddRange([1L << 40, 1L << 40]);
        Assert.That(Rejects(m).Message, Does.Contain("too many"));
    }

    [Test]
    public void UnsupportedDataType_IsRejected()
    {
        var m = Valid();
        m.Graph.Initializer[0].DataType = 99;
        Assert.That(Rejects(m).Message, Does.Contain("data_type 99"));
        m = Valid();
        m.Graph.Input[0].Type.TensorType.ElemType = 0;
        Assert.That(Rejects(m).Message, Does.Contain("element type"));
    }

    [Test]
    public void DuplicateInitializer_IsRejected()
    {
        var m = Valid();
        m.Graph.Initializer.Add(m.Graph.Initializer[0].Clone());
        Assert.That(Rejects(m).Message, Does.Contain("defined twice"));
    }

    [Test]
    public void GraphInputWithoutType_IsRejected()
    {
        var m = Valid();
        m.Graph.Input[0].Type = null;
        Assert.That(Rejects(m).Message, Does.Contain("no tensor type"));
    }

    [Test]
    public void InitializerOfTheWrongType_ForTheAccessor_IsATypedError()
    {
        var b = new OnnxGraphBuilder("t");
        string x = b.Input("x", OnnxElementType.Float, 2, 3);
        string y = b.Reshape(x, [3, 2], name: "r");
        b.Output(y, OnnxElementType.Float, 3, 2);
        var m = b.BuildModel();
        string shape = m.Graph.Node[0].Input[1];
        Assert.That(Assert.Throws<OnnxFormatException>(() => m.GetFloatInitializer(shape))!.Message, Does.Contain("Int64"));
        Assert.Throws<KeyNotFoundException>(() => m.GetFloatInitializer("absent"));
    }

    [Test]
    public void OlderModelsListingInitializersAsInputs_AreAccepted_AndInputsExcludeThem()
    {
        var m = Valid();
        foreach (var t in m.Graph.Initializer)
            m.Graph.Input.Add(OnnxGraphBuilder.ValueInfo(t.Name, OnnxElementType.Float, t.Dims.Select(d => (OnnxDim)d).ToArray()));
        var parsed = OnnxModel.Parse(m.ToByteArray());
        Assert.That(parsed.Inputs.Select(i => i.Name), Is.EqualTo(new[] { "input" }));
    }

    [Test]
    public void Builder_RefusesBadArguments()
    {
        var b = new OnnxGraphBuilder("t");
        string x = b.Input("x", OnnxElementType.Float, "N", 3);
        Assert.Throws<ArgumentException>(() => b.Input("x", OnnxElementType.Float, 1), "duplicate name");
        Assert.Throws<ArgumentException>(() => b.Initializer("w", new float[5], 2, 3), "5 values for dims [2, 3]");
        Assert.Throws<ArgumentException>(() => b.Relu("undefined"), "unknown input tensor");
        Assert.Throws<ArgumentException>(() => b.Output("undefined", OnnxElementType.Float), "unknown output tensor");
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new OnnxGraphBuilder("old", opset: 9));
        Assert.Throws<ArgumentOutOfRangeException>(() => b.Input("y", OnnxElementType.Float, -2));
        string r = b.Relu(x, name: "r");
        Assert.Throws<ArgumentException>(() => b.Relu(x, name: "r"), "node name reused");
        // No outputs declared yet: the model is not valid.
        Assert.That(Assert.Throws<OnnxFormatException>(() => b.Build())!.Message, Does.Contain("no outputs"));
        b.Output(r, OnnxElementType.Float, "N", 3);
        Assert.That(b.Build().Graph.Output.Single().Name, Is.EqualTo("r"));
    }
}
