using NUnit.Framework;
using Saliency.Models.Onnx;
using Saliency.TestSupport;

namespace Saliency.Tests.Cli;

/// <summary>
/// <c>saliency export-jacobian</c> on models of older opsets (issue 10 item 1) and with an operator that has no
/// backward rule: one error line naming the op, the node and the opset, and no output file.
/// </summary>
[TestFixture]
public sealed class ExportJacobianOpsetTests : CliTestBase
{
    private string WriteModel(string name, long opset, bool unsupported)
    {
        var rng = new Random(2);
        var b = new OnnxGraphBuilder("old", 13);
        string x = b.Input("input", OnnxElementType.Float, "N", 1, 6, 6);
        string h = b.Relu(b.Conv2d(x, 1, 2, 3, rng, pad: 1));
        // Clip with attribute bounds is the opset-9 form of ReLU6; Sin has no backward rule.
        h = unsupported ? b.Node("Sin", [h], name: "odd_sin") : b.Node("Clip", [h], [OnnxAttributes.Float("min", 0f), OnnxAttributes.Float("max", 6f)]);
        b.Output(b.Linear(b.Flatten(h), 72, 3, rng), OnnxElementType.Float, "N", 3);
        var model = b.Build();
        model.OpsetImport[0].Version = opset;
        var path = Path.Combine(Temp, name);
        File.WriteAllBytes(path, Google.Protobuf.MessageExtensions.ToByteArray(model));
        return path;
    }

    [Test]
    public void Opset9ModelIsExported()
    {
        var outPath = Path.Combine(Temp, "out.onnx");
        var (exit, output, error) = Invoke("export-jacobian", "--model", WriteModel("old.onnx", 9, unsupported: false), "--out", outPath);
        Assert.That(exit, Is.EqualTo(0), error);
        Assert.That(output, Does.Contain("opset 13"), "raised to 13: no MaxPool among the differentiated ops");
        Assert.That(OnnxModel.Load(outPath).DefaultOpset, Is.EqualTo(13));
    }

    [Test]
    public void UnsupportedOperatorIsOneErrorNamingOpNodeAndOpsetAndWritesNothing()
    {
        var outPath = Path.Combine(Temp, "out.onnx");
        var (exit, _, error) = Invoke("export-jacobian", "--model", WriteModel("sin.onnx", 11, unsupported: true), "--out", outPath);
        Assert.That(exit, Is.EqualTo(1), error);
        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.That(lines, Has.Length.EqualTo(1), error);
        Assert.That(lines[0], Does.Contain("'Sin'").And.Contain("'odd_sin'").And.Contain("opset 11"));
        Assert.That(File.Exists(outPath), Is.False);
        Assert.That(Directory.GetFiles(Temp), Has.Length.EqualTo(1), "no temporary file left behind either");
    }
}
