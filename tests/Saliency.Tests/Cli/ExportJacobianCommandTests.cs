using System.CommandLine;
using NUnit.Framework;
using Saliency.Cli;
using Saliency.Imaging;
using Saliency.Models.Autodiff;
using Saliency.Models.Classifiers;
using Saliency.Models.Data;
using Saliency.Models.Onnx;
using Saliency.Models.Runtime;
using Saliency.TestSupport;

namespace Saliency.Tests.Cli;

/// <summary>
/// <c>saliency export-jacobian</c>, run in-process through the real command tree: the file it writes is a
/// well-formed ONNX model whose <c>vjp</c> output is the classifier's Jacobian (checked against
/// <see cref="OnnxClassifier.Jacobian"/> and against central finite differences of the original model's logits).
/// </summary>
[TestFixture]
internal class ExportJacobianCommandTests : CliTestBase
{
    private const int Classes = 10;
    private const int Pixels = 28 * 28;


    /// <summary>Exit code 1, exactly one non-empty line on the error writer, and no stack trace anywhere.</summary>
    private static string AssertOneLineUserError((int Exit, string Out, string Err) r)
    {
        Assert.That(r.Exit, Is.EqualTo(1), r.Err);
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.That(lines, Has.Length.EqualTo(1), r.Err);
        Assert.That(r.Err + r.Out, Does.Not.Contain("   at "), "no stack trace for user errors");
        return lines[0];
    }

    private static float[] SampleImage() => ImageCodec.Read(Path.Combine(RepoFiles.Samples, "digit-3-0.png")).ToGrayFloats();

    private string ExportBundledModel()
    {
        var outPath = Path.Combine(Temp, "lenet.jacobian.onnx");
        var (exit, output, error) = Invoke("export-jacobian", "--model", RepoFiles.LeNetModel, "--out", outPath);
        Assert.That(exit, Is.EqualTo(0), error);
        Assert.That(output, Does.Contain(outPath));
        Assert.That(File.Exists(outPath), Is.True);
        return outPath;
    }

    [Test]
    public void ExportedFileParsesWithCotangentsInVjpOutAndOnlyDefaultDomainNodes()
    {
        var model = OnnxModel.Load(ExportBundledModel());

        var cotangents = model.Graph.Input.SingleOrDefault(i => i.Name == "cotangents");
        Assert.That(cotangents, Is.Not.Null, "cotangents input");
        Assert.That(OnnxModel.Describe(cotangents!).ElementType, Is.EqualTo(OnnxElementType.Float));
        var vjp = model.Graph.Output.SingleOrDefault(o => o.Name == "vjp");
        Assert.That(vjp, Is.Not.Null, "vjp output");
        Assert.That(OnnxModel.Describe(vjp!).ElementType, Is.EqualTo(OnnxElementType.Float));

        // Stock ONNX Runtime runs it only when every node is a standard operator (no contrib or custom domains).
        Assert.That(model.Graph.Node, Is.Not.Empty);
        foreach (var node in model.Graph.Node)
            Assert.That(node.Domain, Is.EqualTo("").Or.EqualTo("ai.onnx"), $"{node.OpType} '{node.Name}'");
    }

    [Test]
    public void VjpWithIdentityRowsEqualsTheJacobianColumns()
    {
        var path = ExportBundledModel();
        var image = SampleImage();
        Assert.That(image, Has.Length.EqualTo(Pixels));

        // Cotangent row c = e_c, so vjp row c = ∂logit_c/∂x, the c-th Jacobian column.
        var identity = new float[Classes * Classes];
        for (int c = 0; c < Classes; c++) identity[c * Classes + c] = 1f;
        using var exported = InferenceSession.Create(path);
        var vjp = exported.Run([new FloatTensor("input", image, [1, 1, 28, 28]), new FloatTensor("cotangents", identity, [Classes, Classes])], ["vjp"])[0];
        Assert.That(vjp.Shape, Is.EqualTo(new long[] { Classes, 1, 28, 28 }));

        // Oracle 1: the library's in-memory export driven through OnnxClassifier.
        using var classifier = OnnxClassifier.Create(RepoFiles.LeNetModel);
        var jacobian = classifier.Jacobian(image);
        Assert.That(jacobian.Classes, Is.EqualTo(Enumerable.Range(0, Classes)));
        for (int c = 0; c < Classes; c++)
        {
            var column = jacobian.Column(c);
            float scale = 0f;
            for (int i = 0; i < Pixels; i++) scale = Math.Max(scale, Math.Abs(column[i]));
            Assert.That(scale, Is.GreaterThan(0f), $"class {c}: non-zero Jacobian column");
            for (int i = 0; i < Pixels; i++)
                Assert.That(vjp.Data[c * Pixels + i], Is.EqualTo(column[i]).Within(1e-5f * scale), $"class {c}, pixel {i}");
        }

        // Oracle 2 (independent of the exporter): finite differences of the original model's logits. LeNet is
        // piecewise linear and MaxPool ties on the flat background make some pixels kinks (one-sided slopes differ),
        // so only pixels where the forward and backward differences agree are compared, with the central difference.
        using var original = InferenceSession.Create(RepoFiles.LeNetModel);
        double Logit(float[] x, int c) => original.Run([new FloatTensor("input", x, [1, 1, 28, 28])])[0].Data[c];
        var baseLogits = original.Run([new FloatTensor("input", image, [1, 1, 28, 28])])[0].Data;
        int predicted = Array.IndexOf(baseLogits, baseLogits.Max());
        const float h = 1e-3f;
        foreach (int c in new[] { predicted, (predicted + 1) % Classes })
        {
            var row = vjp.Data.AsSpan(c * Pixels, Pixels).ToArray();
            float scale = row.Max(Math.Abs);
            int compared = 0;
            foreach (int i in Enumerable.Range(0, Pixels).OrderByDescending(i => Math.Abs(row[i])).Take(40))
            {
                var plus = (float[])image.Clone();
                var minus = (float[])image.Clone();
                plus[i] += h;
                minus[i] -= h;
                double up = Logit(plus, c), here = baseLogits[c], down = Logit(minus, c);
                double forward = (up - here) / h, backward = (here - down) / h;
                if (Math.Abs(forward - backward) > 0.01 * scale) continue;
                Assert.That(row[i], Is.EqualTo((up - down) / (2 * h)).Within(0.01 * scale), $"class {c}, pixel {i}: finite difference");
                compared++;
            }
            Assert.That(compared, Is.GreaterThanOrEqualTo(4), $"class {c}: pixels where the logit is differentiable");
        }
    }

    [Test]
    public void MissingModelOptionIsAOneLineErrorWithExitCodeOne()
    {
        var line = AssertOneLineUserError(Invoke("export-jacobian", "--out", Path.Combine(Temp, "out.onnx")));
        Assert.That(line, Does.Contain("--model"));
        Assert.That(File.Exists(Path.Combine(Temp, "out.onnx")), Is.False);
    }

    [Test]
    public void NonOnnxModelIsAOneLineErrorWithExitCodeOne()
    {
        var notOnnx = Path.Combine(Temp, "notes.onnx");
        File.WriteAllText(notOnnx, "This is a text file, not an ONNX model.\n");
        var outPath = Path.Combine(Temp, "out.onnx");
        var line = AssertOneLineUserError(Invoke("export-jacobian", "--model", notOnnx, "--out", outPath));
        Assert.That(line, Does.StartWith("error: "));
        Assert.That(File.Exists(outPath), Is.False, "no partial output after a refusal");
    }

    [Test]
    public void UnwritableOutIsAOneLineErrorWithExitCodeOne()
    {
        // A path below a directory that does not exist, and a path that is an existing directory.
        var inMissingDir = Path.Combine(Temp, "no-such-dir", "out.onnx");
        Assert.That(AssertOneLineUserError(Invoke("export-jacobian", "--model", RepoFiles.LeNetModel, "--out", inMissingDir)),
            Does.StartWith("error: "));
        Assert.That(AssertOneLineUserError(Invoke("export-jacobian", "--model", RepoFiles.LeNetModel, "--out", Temp)),
            Does.StartWith("error: "));
    }
}
