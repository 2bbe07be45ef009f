using System.CommandLine;
using System.Globalization;
using Saliency.Models.Onnx;
using Saliency.Models.Runtime;
using Spectre.Console;

namespace Saliency.Cli.Commands;

/// <summary><c>saliency info [--model m.onnx]</c>: inputs, outputs, opsets, parameter count and op histogram of an ONNX model, and the ONNX Runtime in use.</summary>
internal static class InfoCommand
{
    public static Command Create()
    {
        var model = new Option<FileInfo>("--model")
        {
            Description = "ONNX model file (default: the bundled models/lenet.onnx).",
        };
        var command = new Command("info", "Describe an ONNX model: inputs, outputs, opset, op histogram.") { model };
        command.SetAction(parseResult => CommandSupport.Run(parseResult, console =>
        {
            var path = CommandSupport.ResolvePath(parseResult.GetValue(model), CommandSupport.BundledModel, "model file");
            OnnxModel parsed;
            try { parsed = OnnxModel.Parse(InputFiles.Read(new FileInfo(path), "model file", InputFiles.MaxModelBytes)); }
            catch (OnnxFormatException e) { throw new OnnxFormatException($"'{path}': {e.Message}", e); }
            Render(console, path, parsed);
            console.WriteLine(RuntimeLine());
            return 0;
        }));
        return command;
    }

    /// <summary>Writes the model summary (also the first section of the demo).</summary>
    public static void Render(IAnsiConsole console, string path, OnnxModel model)
    {
        long parameters = model.ParameterCount;
        var opsets = string.Join(", ", model.OpsetImports.Select(o => $"{(o.Key.Length == 0 ? "ai.onnx" : o.Key)} {o.Value}"));
        var summary = new Table().Title("[bold]Model[/]").HideHeaders().AddColumns("", "");
        summary.AddRow("file", Text(path));
        summary.AddRow("size", $"{new FileInfo(path).Length.ToString("N0", CultureInfo.InvariantCulture)} bytes");
        summary.AddRow("producer", Text($"{model.Proto.ProducerName} {model.Proto.ProducerVersion}".Trim()));
        summary.AddRow("IR version", model.IrVersion.ToString(CultureInfo.InvariantCulture));
        summary.AddRow("opset", Text(opsets));
        summary.AddRow("parameters", parameters.ToString("N0", CultureInfo.InvariantCulture));
        summary.AddRow("nodes", model.Graph.Node.Count.ToString(CultureInfo.InvariantCulture));
        console.Write(summary);

        var io = new Table().Title("[bold]Inputs and outputs[/]").AddColumns("kind", "name", "type", "shape");
        foreach (var v in model.Inputs)
            io.AddRow("input", Text(v.Name), v.ElementType.ToString(), Text(ShapeText(v)));
        foreach (var v in model.Outputs)
            io.AddRow("output", Text(v.Name), v.ElementType.ToString(), Text(ShapeText(v)));
        console.Write(io);

        var ops = new Table().Title("[bold]Operators[/]").AddColumn("op").AddColumn(new TableColumn("count").RightAligned());
        foreach (var (op, count) in model.OpHistogram)
            ops.AddRow(Text(op), count.ToString(CultureInfo.InvariantCulture));
        console.Write(ops);
    }

    /// <summary>The ONNX Runtime in use: version, providers and the library file the NuGet runtime assets resolved to.</summary>
    public static string RuntimeLine() =>
        $"ONNX Runtime {InferenceSession.RuntimeVersion} ({string.Join(", ", InferenceSession.AvailableProviders)}): {InferenceSession.RuntimeLibraryPath}";

    /// <summary>Text from the model file for a Spectre cell: control characters escaped (<see cref="Terminal.Escape"/>), then markup.</summary>
    private static string Text(string s) => Markup.Escape(Terminal.Escape(s));

    private static string ShapeText(OnnxValueInfo v) => v.Dims is null ? "?" : $"[{string.Join(", ", v.Dims)}]";
}
