using System.CommandLine;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Google.Protobuf;
using NUnit.Framework;
using Saliency.Cli.Commands;
using Saliency.Imaging;
using Saliency.Models.Onnx;
using Saliency.Models.Onnx.Proto;
using Saliency.Models.Runtime;
using Saliency.TestSupport;

namespace Saliency.Tests.Cli;

/// <summary>
/// predict/explain/info/export-jacobian on the models and files users bring (issue 10 items 3, 4, 6, 7): output kinds,
/// forward-only methods on models the exporter cannot differentiate, and hostile or odd files, each giving one line and
/// the documented exit code. Numerical oracles: ONNX Runtime runs of the model itself on the same input.
/// </summary>
[TestFixture]
internal sealed partial class UserModelCommandTests : CliTestBase
{
    private const int Size = 16;

    /// <summary>One-line error with exit code 1 and no stack trace; returns the line.</summary>
    private static string OneLineError((int Exit, string Out, string Err) r, int exit = 1)
    {
        Assert.That(r.Exit, Is.EqualTo(exit), r.Err + r.Out);
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.That(lines, Has.Length.EqualTo(1), r.Err);
        Assert.That(r.Err + r.Out, Does.Not.Contain("   at "));
        return lines[0];
    }

    private static ModelProto Cnn(int classes = 7, int channels = 3) => RandomModels.SmallCnn(channels, Size, classes, seed: 41);

    /// <summary>The model with <paramref name="op"/> on its logits as its only output "scores".</summary>
    private static ModelProto WithHead(ModelProto model, string op, string output = "scores", params AttributeProto[] attributes)
    {
        var m = model.Clone();
        string logits = m.Graph.Output[0].Name;
        m.Graph.Node.Add(new NodeProto { OpType = op, Name = $"head{m.Graph.Node.Count}", Input = { logits }, Output = { output }, Attribute = { attributes } });
        m.Graph.Output.Clear();
        m.Graph.Output.Add(new ValueInfoProto { Name = output, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1 } } });
        return m;
    }

    private string Save(ModelProto model, string name)
    {
        var path = Path.Combine(Temp, name);
        File.WriteAllBytes(path, model.ToByteArray());
        return path;
    }

    /// <summary>A random RGB picture of the model's size.</summary>
    private string Picture(string name = "x.png", int width = Size, int height = Size, int seed = 5)
    {
        var rng = new Random(seed);
        var pixels = new byte[width * height * 3];
        rng.NextBytes(pixels);
        var path = Path.Combine(Temp, name);
        ImageCodec.WritePng(path, new ImageBuffer(width, height, PixelFormat.Rgb, pixels));
        return path;
    }

    private static float[] RunModel(string model, float[] input, long[] shape, string? output = null)
    {
        using var session = InferenceSession.Create(model);
        return session.Run([new FloatTensor(session.Inputs[0].Name, input, shape)], output is null ? null : [output])[0].Data;
    }

    private static double[] Probabilities(string output) =>
        UnitTestRows().Matches(output).Select(m => double.Parse(m.Groups[3].Value, System.Globalization.CultureInfo.InvariantCulture)).ToArray();

    [System.Text.RegularExpressions.GeneratedRegex(@"│\s*(\d+)\s*│\s*(\d+)\s*│\s*([0-9.]+)\s*│")]
    private static partial System.Text.RegularExpressions.Regex UnitTestRows();

    [Test]
    public void PredictShowsTheProbabilitiesOfAModelEndingInSoftmax()
    {
        // Logits ×100 before the Softmax: the model says ≈ 1.0000 for its top class (softmax on top would print 0.4…).
        var scaled = Cnn();
        scaled.Graph.Initializer.Add(new TensorProto { Name = "hundred", DataType = 1, FloatData = { 100f } });
        string logits = scaled.Graph.Output[0].Name;
        scaled.Graph.Node.Add(new NodeProto { OpType = "Mul", Name = "scale", Input = { logits, "hundred" }, Output = { "scaled" } });
        scaled.Graph.Output[0].Name = "scaled";
        var model = Save(WithHead(scaled, "Softmax", "probs", OnnxAttributes.Int("axis", 1)), "softmax.onnx");
        var image = Picture();
        var r = Invoke("predict", "--model", model, "--image", image);
        Assert.That(r.Exit, Is.EqualTo(0), r.Err);
        var input = ImageCodec.Read(image).ToPlanarFloats(3);
        var p = RunModel(model, input, [1, 3, Size, Size]);
        var printed = Probabilities(r.Out);
        Assert.That(printed, Has.Length.EqualTo(3));
        Assert.That(printed[0], Is.EqualTo(p.Max()).Within(6e-5), "the model's own top probability");

        // 2 classes: the default --top 3 lists both, no error.
        var two = Save(WithHead(Cnn(classes: 2), "Softmax", "probs", OnnxAttributes.Int("axis", 1)), "two.onnx");
        var r2 = Invoke("predict", "--model", two, "--image", image);
        Assert.That(r2.Exit, Is.EqualTo(0), r2.Err);
        var p2 = RunModel(two, input, [1, 3, Size, Size]);
        Assert.That(Probabilities(r2.Out), Is.EqualTo(p2.OrderByDescending(v => v).Select(v => (double)v).ToArray()).Within(6e-5));
    }

    [Test]
    public void ThreadsChangeNothingButTheThreadCount()
    {
        // --threads is ONNX Runtime's intra-op thread count: same probabilities and map to float rounding with 1 and 2.
        var model = Save(Cnn(), "threads.onnx");
        var image = Picture();
        var one = Invoke("explain", "--method", "gradient", "--model", model, "--image", image, "--threads", "1", "--format", "npy", "--out", Path.Combine(Temp, "t1.npy"));
        var two = Invoke("explain", "--method", "gradient", "--model", model, "--image", image, "--threads", "2", "--format", "npy", "--out", Path.Combine(Temp, "t2.npy"));
        Assert.That((one.Exit, two.Exit), Is.EqualTo((0, 0)), one.Err + two.Err);
        var a = File.ReadAllBytes(Path.Combine(Temp, "t1.npy"));
        var b = File.ReadAllBytes(Path.Combine(Temp, "t2.npy"));
        Assert.That(b, Has.Length.EqualTo(a.Length));
        var fa = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(a.AsSpan(128)).ToArray();
        var fb = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(b.AsSpan(128)).ToArray();
        float scale = fa.Max(Math.Abs);
        Assert.That(fa.Zip(fb, (x, y) => Math.Abs(x - y)).Max(), Is.LessThanOrEqualTo(1e-5f * scale));

        var bad = Invoke("predict", "--model", model, "--image", image, "--threads", "-1");
        Assert.That(bad.Exit, Is.EqualTo(1));
        Assert.That(bad.Err, Does.Contain("--threads must be between 0 and 1024"));
    }

    [Test]
    public void ForwardOnlyMethodsRunOnAModelTheExporterCannotDifferentiate()
    {
        // Cos has no backward rule and the opset is 9: LEG and occlusion need only forward passes.
        var m = WithHead(Cnn(), "Cos");
        m.OpsetImport.Single(o => o.Domain is "" or "ai.onnx").Version = 9;
        var model = Save(m, "cos9.onnx");
        var image = Picture();
        foreach (var method in new[] { "leg", "occlusion" })
        {
            var ok = Invoke("explain", "--method", method, "--model", model, "--image", image, "--samples", "20", "--out", Path.Combine(Temp, $"{method}.png"));
            Assert.That(ok.Exit, Is.EqualTo(0), ok.Err);
            Assert.That(File.Exists(Path.Combine(Temp, $"{method}.png")));
        }
        var line = OneLineError(Invoke("explain", "--method", "gradient", "--model", model, "--image", image, "--out", Path.Combine(Temp, "g.png")));
        Assert.That(line, Does.Contain("'Cos'").And.Contain("forward-only methods"));
        Assert.That(File.Exists(Path.Combine(Temp, "g.png")), Is.False);
    }

    [Test]
    public void SigmoidLabelsAndFeatureChannelsAreExplainedAlone()
    {
        var image = Picture();
        var sigmoid = Save(WithHead(Cnn(), "Sigmoid"), "multilabel.onnx");
        var r = Invoke("explain", "--method", "gradient", "--model", sigmoid, "--image", image, "--target", "4", "--out", Path.Combine(Temp, "s.png"));
        Assert.That(r.Exit, Is.EqualTo(0), r.Err);
        var sigma = RunModel(sigmoid, ImageCodec.Read(image).ToPlanarFloats(3), [1, 3, Size, Size]);
        Assert.That(r.Out, Does.Contain("sigmoid, multi-label").And.Contain($"p = {sigma[4].ToString("0.0000", System.Globalization.CultureInfo.InvariantCulture)}"));

        // [N, C, 1, 1] feature output, chosen by name among two outputs, one channel explained.
        var f = Cnn().Clone();
        f.Graph.Initializer.Add(new TensorProto { Name = "shape4", DataType = 7, Dims = { 4 }, Int64Data = { 1, 7, 1, 1 } });
        f.Graph.Node.Add(new NodeProto { OpType = "Reshape", Name = "to4d", Input = { f.Graph.Output[0].Name, "shape4" }, Output = { "features" } });
        f.Graph.Output.Add(new ValueInfoProto { Name = "features", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1 } } });
        var features = Save(f, "features.onnx");
        var c = Invoke("explain", "--method", "gradient", "--model", features, "--output", "features", "--channel", "3", "--image", image, "--out", Path.Combine(Temp, "f.png"));
        Assert.That(c.Exit, Is.EqualTo(0), c.Err);
        Assert.That(c.Out, Does.Contain("features [7 scores]").And.Contain("channel 3"));
        Assert.That(OneLineError(Invoke("explain", "--method", "gradient", "--model", features, "--output", "features", "--channel", "7", "--image", image)),
            Does.Contain("--channel must be between 0 and 6"));
    }

    [Test]
    public void HostileFilesGiveOneLineInsteadOfHangingOrExhaustingMemory()
    {
        var image = Picture();
        string fifo = Path.Combine(Temp, "pipe.png");
        Assert.That(mkfifo(fifo, Convert.ToUInt32("600", 8)), Is.EqualTo(0), "mkfifo");
        // A guard against the old behaviour (blocking forever in open/read), not a speed assertion.
        var run = Task.Run(() => Invoke("predict", "--image", fifo));
        Assert.That(run.Wait(TimeSpan.FromMinutes(2)), Is.True, "a FIFO as --image must not block");
        Assert.That(OneLineError(run.Result), Does.Contain("not a regular file"));

        Assert.That(OneLineError(Invoke("predict", "--model", "/dev/zero", "--image", image)), Does.Contain("not a regular file"));
        Assert.That(OneLineError(Invoke("info", "--model", Temp)), Does.Contain("is a directory"));
        Assert.That(OneLineError(Invoke("predict", "--model", Temp, "--image", image)), Does.Contain("is a directory"));
    }

    [Test]
    public void OddModelsGetClearMessages()
    {
        var image = Picture();
        ModelProto Resized(long c, long h, long w)
        {
            var m = Cnn();
            var d = m.Graph.Input[0].Type.TensorType.Shape.Dim;
            d[1] = new TensorShapeProto.Types.Dimension { DimValue = c };
            d[2] = h > 0 ? new TensorShapeProto.Types.Dimension { DimValue = h } : new TensorShapeProto.Types.Dimension { DimParam = "H" };
            d[3] = w > 0 ? new TensorShapeProto.Types.Dimension { DimValue = w } : new TensorShapeProto.Types.Dimension { DimParam = "W" };
            return m;
        }
        var huge = Save(Resized(3, 100_000, 100_000), "huge.onnx");
        Assert.That(OneLineError(Invoke("predict", "--model", huge, "--image", image)), Does.Contain("values per image, the limit"));
        Assert.That(OneLineError(Invoke("explain", "--method", "leg", "--model", huge, "--image", image)), Does.Contain("values per image, the limit"));
        Assert.That(OneLineError(Invoke("export-jacobian", "--model", huge, "--out", Path.Combine(Temp, "huge.jacobian.onnx"))), Does.Contain("values per image, the limit"));
        Assert.That(File.Exists(Path.Combine(Temp, "huge.jacobian.onnx")), Is.False);
        var dynamic = Save(Resized(3, -1, -1), "dynamic.onnx");
        Assert.That(OneLineError(Invoke("predict", "--model", dynamic, "--image", image)), Does.Contain("--input-shape"));
        var withShape = Invoke("predict", "--model", dynamic, "--image", image, "--input-shape", $"3,{Size},{Size}");
        Assert.That(withShape.Exit, Is.EqualTo(0), withShape.Err);

        foreach (int channels in new[] { 2, 4 })
        {
            var model = Save(Cnn(channels: channels), $"c{channels}.onnx");
            Assert.That(OneLineError(Invoke("predict", "--model", model, "--image", image)), Does.Contain($"has {channels} channels").And.Contain("1 (gray) or 3 (RGB/BGR)"));
        }

        var zero = Cnn();
        zero.Graph.Output[0].Type.TensorType.Shape.Dim[1] = new TensorShapeProto.Types.Dimension { DimValue = 0 };
        Assert.That(OneLineError(Invoke("predict", "--model", Save(zero, "zero.onnx"), "--image", image)), Does.Contain("zero classes"));

        var nan = Cnn();
        var w = nan.Graph.Initializer.First(t => t.Dims.Count == 4);
        if (w.FloatData.Count > 0) for (int i = 0; i < w.FloatData.Count; i++) w.FloatData[i] = float.NaN;
        else w.RawData = ByteString.CopyFrom(Enumerable.Range(0, w.RawData.Length / 4).SelectMany(_ => BitConverter.GetBytes(float.NaN)).ToArray());
        var nanModel = Save(nan, "nan.onnx");
        foreach (var args in new[] { new[] { "predict" }, new[] { "explain", "--method", "gradient", "--out", Path.Combine(Temp, "n.png") } })
        {
            var line = OneLineError(Invoke([.. args, "--model", nanModel, "--image", image]));
            Assert.That(line, Does.Contain("NaN or infinite weights").And.Not.Contain("saliency map"));
        }
    }

    [Test]
    public void PreprocessingComesFromTheSidecarFileOrAPreset()
    {
        var model = Save(Cnn(), "m.onnx");
        var image = Picture("wide.png", width: 40, height: 24);
        // BGR and a mean/std, beside the model: the CLI's probabilities are the model's on that input.
        File.WriteAllText(Path.Combine(Temp, "m.preprocess.json"), """{ "channels": "bgr", "scale": 0.00392156862745098, "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3] }""");
        var r = Invoke("predict", "--model", model, "--image", image);
        Assert.That(r.Exit, Is.EqualTo(0), r.Err);
        var crop = ImageTransforms.ResizeAndCenterCrop(ImageCodec.Read(image), Size, Size).ToPlanarFloats(3);
        int n = Size * Size;
        double[] mean = [0.5, 0.4, 0.3], std = [0.2, 0.25, 0.3];
        var input = new float[3 * n];
        for (int p = 0; p < 3; p++)
            for (int i = 0; i < n; i++) input[p * n + i] = (float)((crop[(2 - p) * n + i] - mean[p]) / std[p]);
        var logits = RunModel(model, input, [1, 3, Size, Size]);
        var expected = Saliency.Models.Classifiers.Softmax.Probabilities(logits).OrderByDescending(v => v).Take(3).ToArray();
        Assert.That(Probabilities(r.Out), Is.EqualTo(expected).Within(6e-5));

        File.WriteAllText(Path.Combine(Temp, "m.preprocess.json"), """{ "chanels": "bgr" }""");
        Assert.That(OneLineError(Invoke("predict", "--model", model, "--image", image)), Does.Contain("unknown key \"chanels\""));
        Assert.That(OneLineError(Invoke("predict", "--model", model, "--image", image, "--preprocess", "imagenett")), Does.Contain("neither a preset"));
        var unit = Invoke("predict", "--model", model, "--image", image, "--preprocess", "unit");
        Assert.That(unit.Exit, Is.EqualTo(0), unit.Err);
    }

    [Test]
    public void ExportJacobianRefusesToOverwriteItsInputAndChecksTheResultLoads()
    {
        var model = Save(Cnn(), "m.onnx");
        var before = File.ReadAllBytes(model);
        Assert.That(OneLineError(Invoke("export-jacobian", "--model", model, "--out", model)), Does.Contain("is the model file itself"));
        string symlink = Path.Combine(Temp, "link.onnx"), hardlink = Path.Combine(Temp, "hard.onnx");
        File.CreateSymbolicLink(symlink, model);
        Assert.That(link(model, hardlink), Is.EqualTo(0), "link(2)");
        foreach (var alias in new[] { symlink, hardlink })
            Assert.That(OneLineError(Invoke("export-jacobian", "--model", model, "--out", alias)), Does.Contain("is the model file itself"), alias);
        Assert.That(File.ReadAllBytes(model), Is.EqualTo(before));

        // An attribute ONNX Runtime does not know: the exporter copies the node, the session refuses the result.
        var bad = Cnn();
        bad.Graph.Node.First(n => n.OpType == "Relu").Attribute.Add(OnnxAttributes.Int("bogus", 1));
        string outPath = Path.Combine(Temp, "bad.jacobian.onnx");
        Assert.That(OneLineError(Invoke("export-jacobian", "--model", Save(bad, "bad.onnx"), "--out", outPath)), Does.Contain("nothing was written"));
        Assert.That(File.Exists(outPath), Is.False);
    }

    [Test]
    public void ControlCharactersInNamesAreEscaped()
    {
        var m = Cnn();
        string evil = "logits\u001b[2J\u0007";
        foreach (var n in m.Graph.Node) for (int i = 0; i < n.Output.Count; i++) if (n.Output[i] == m.Graph.Output[0].Name) n.Output[i] = evil;
        m.Graph.Output[0].Name = evil;
        var model = Save(m, "evil.onnx");
        var info = Invoke("info", "--model", model);
        Assert.That(info.Exit, Is.EqualTo(0), info.Err);
        Assert.That(info.Out, Does.Not.Contain("\u001b").And.Not.Contain("\u0007"));
        Assert.That(info.Out, Does.Contain("\\u001B"));
        var line = OneLineError(Invoke("predict", "--model", model, "--image", Picture(), "--output", "nope"));
        Assert.That(line, Does.Contain("\\u001B[2J\\u0007").And.Not.Contain("\u001b"));
    }

    [Test]
    public void InternalErrorsAndCancelsHaveTheirOwnExitCodes()
    {
        (int Exit, string Err) RunBody(Func<int> body)
        {
            var command = new Command("probe");
            command.SetAction(parse => CommandSupport.Run(parse, _ => body()));
            var root = new RootCommand { command };
            var error = new StringWriter();
            int exit = root.Parse(["probe"]).Invoke(new InvocationConfiguration { Output = new StringWriter(), Error = error });
            return (exit, error.ToString());
        }
        var bug = RunBody(() => throw new InvalidOperationException("something\nbroke"));
        Assert.That(bug.Exit, Is.EqualTo(CommandSupport.InternalErrorExitCode));
        Assert.That(bug.Err.TrimEnd(), Is.EqualTo("internal error: InvalidOperationException: something\\u000Abroke"));
        var oom = RunBody(() => throw new OutOfMemoryException());
        Assert.That((oom.Exit, oom.Err.TrimEnd()), Is.EqualTo((2, "internal error: out of memory; try a smaller image, model or --samples.")));
        var cancel = RunBody(() => throw new OperationCanceledException());
        Assert.That((cancel.Exit, cancel.Err.TrimEnd()), Is.EqualTo((130, "cancelled")));
    }

    [Test]
    public void CtrlCEndsTheProcessWithExitCode130()
    {
        // The real executable, interrupted while LEG runs a long sampling loop on the bundled model.
        string exe = Path.Combine(AppContext.BaseDirectory, "saliency.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { exe, "explain", "--method", "leg", "--digit", "0", "--samples", "2000000", "--out", Path.Combine(Temp, "never.png") })
            start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        // Wait until the command is past start-up (it has opened the model), then send SIGINT.
        Thread.Sleep(3000);
        Assert.That(process.HasExited, Is.False, process.HasExited ? process.StandardError.ReadToEnd() : "");
        Assert.That(kill(process.Id, 2), Is.EqualTo(0), "kill(SIGINT)");
        Assert.That(process.WaitForExit(60_000), Is.True);
        Assert.That(process.ExitCode, Is.EqualTo(CommandSupport.CancelledExitCode));
        // "cancelled" is printed once the handler is registered; a SIGINT before that ends the process the same way.
        Assert.That(process.StandardError.ReadToEnd(), Does.Not.Contain("   at "));
        Assert.That(File.Exists(Path.Combine(Temp, "never.png")), Is.False);
    }

    [LibraryImport("libc", EntryPoint = "mkfifo", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int mkfifo(string path, uint mode);

    [LibraryImport("libc", EntryPoint = "link", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int link(string existing, string created);

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int kill(int pid, int signal);
}
