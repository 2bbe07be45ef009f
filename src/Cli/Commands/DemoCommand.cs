using System.CommandLine;
using System.Globalization;
using Saliency.Models.Data;
using Saliency.Models.Onnx;
using Saliency.Models.Runtime;
using Spectre.Console;

namespace Saliency.Cli.Commands;

/// <summary>
/// <c>saliency demo</c>: the main job on the bundled model and digits (or given ones) — model summary,
/// predictions for a few digits, accuracy on the whole digit set. The demo is a list of sections run in order
/// over one shared <see cref="DemoContext"/>; a new part of the demo (e.g. saliency maps) is one more entry in
/// <see cref="Sections"/>.
/// </summary>
internal static class DemoCommand
{
    /// <summary>Batch size of the accuracy pass (the model takes any batch size).</summary>
    private const int BatchSize = 100;

    /// <summary>What every section of one demo run can use.</summary>
    /// <param name="Console">Where to write.</param>
    /// <param name="ModelPath">The model file.</param>
    /// <param name="Model">The parsed model (our ONNX reader).</param>
    /// <param name="Session">The model loaded into ONNX Runtime.</param>
    /// <param name="Layout">The classifier's input/output layout.</param>
    /// <param name="Digits">The labelled digits.</param>
    /// <param name="Shown">How many digits the per-digit sections show.</param>
    internal sealed record DemoContext(IAnsiConsole Console, string ModelPath, OnnxModel Model, InferenceSession Session,
        CommandSupport.ClassifierLayout Layout, DigitSet Digits, int Shown, Saliency.Kernels.Backends.IComputeBackend? Backend = null);

    /// <summary>The demo, in order.</summary>
    private static readonly (string Title, Action<DemoContext> Run)[] Sections =
    [
        ("Model", ModelSection),
        ("Predictions", PredictionSection),
        ("Accuracy", AccuracySection),
        ("Saliency", ExplainCommand.DemoSection),
    ];

    public static Command Create()
    {
        var model = new Option<FileInfo>("--model")
        {
            Description = "ONNX digit classifier, input [batch, 1, 28, 28] (default: the bundled models/lenet.onnx).",
        };
        var images = new Option<FileInfo>("--images")
        {
            Description = "IDX image file (default: the bundled data/digits-heldout-images.idx3-ubyte).",
        };
        var labels = new Option<FileInfo>("--labels")
        {
            Description = "IDX label file (default: the bundled data/digits-heldout-labels.idx1-ubyte).",
        };
        var count = new Option<int>("--count")
        {
            Description = "How many digits to show predictions for.",
            DefaultValueFactory = _ => 8,
        };
        var backendName = BackendOption.Create();
        var command = new Command("demo", "Run the demo on the bundled model and held-out digits: model summary, predictions, accuracy.")
        {
            model, images, labels, count, backendName,
        };
        command.SetAction(parseResult => CommandSupport.Run(parseResult, console =>
        {
            // The backend first: asking for one that cannot run here fails before any model work.
            using var backend = BackendOption.Open(parseResult.GetValue(backendName));
            var modelPath = CommandSupport.ResolvePath(parseResult.GetValue(model), CommandSupport.BundledModel, "model file");
            var imagesPath = CommandSupport.ResolvePath(parseResult.GetValue(images), () => Bundled(BundledAssets.ImagesRelativePath), "image file");
            var labelsPath = CommandSupport.ResolvePath(parseResult.GetValue(labels), () => Bundled(BundledAssets.LabelsRelativePath), "label file");
            var digits = DigitSet.Load(imagesPath, labelsPath);
            int shown = parseResult.GetValue(count);
            if (shown < 0)
                throw new UserInputException($"--count must be ≥ 0, got {shown}.");

            var onnx = OnnxModel.Load(modelPath);
            using var session = InferenceSession.Create(modelPath);
            var layout = CommandSupport.Layout(session, digits.Rows, digits.Cols);
            if (layout.Channels != 1 || layout.Height != digits.Rows || layout.Width != digits.Cols)
                throw new UserInputException(
                    $"the model takes {layout.Channels}×{layout.Height}×{layout.Width} images but the digits are 1×{digits.Rows}×{digits.Cols}.");

            var context = new DemoContext(console, modelPath, onnx, session, layout, digits, Math.Min(shown, digits.Count), backend);
            foreach (var (title, run) in Sections)
            {
                console.Write(new Rule($"[bold]{Markup.Escape(title)}[/]").LeftJustified());
                run(context);
            }
            return 0;
        }));
        return command;
    }

    private static string Bundled(string relative)
    {
        try { return Path.Combine(BundledAssets.Root(), relative); }
        catch (FileNotFoundException e) { throw new UserInputException(e.Message); }
    }

    private static void ModelSection(DemoContext c)
    {
        InfoCommand.Render(c.Console, c.ModelPath, c.Model);
        c.Console.WriteLine(InfoCommand.RuntimeLine());
    }

    private static void PredictionSection(DemoContext c)
    {
        if (c.Shown == 0) return;
        var probabilities = CommandSupport.Probabilities(c.Session, c.Layout, c.Digits.Batch(0, c.Shown), c.Shown);
        var table = new Table()
            .AddColumn(new TableColumn("digit").RightAligned())
            .AddColumn(new TableColumn("label").RightAligned())
            .AddColumn(new TableColumn("predicted").RightAligned())
            .AddColumn(new TableColumn("probability").RightAligned())
            .AddColumn("");
        for (int i = 0; i < c.Shown; i++)
        {
            var p = probabilities.AsSpan(i * c.Layout.Classes, c.Layout.Classes);
            int predicted = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(p);
            bool right = predicted == c.Digits.Label(i);
            table.AddRow(i.ToString(CultureInfo.InvariantCulture), c.Digits.Label(i).ToString(CultureInfo.InvariantCulture),
                predicted.ToString(CultureInfo.InvariantCulture), p[predicted].ToString("0.0000", CultureInfo.InvariantCulture),
                right ? "[green]ok[/]" : "[red]wrong[/]");
        }
        c.Console.Write(table);
    }

    private static void AccuracySection(DemoContext c)
    {
        var (correct, perClassTotal, perClassCorrect) = Evaluate(c);
        var table = new Table()
            .AddColumn(new TableColumn("class").RightAligned())
            .AddColumn(new TableColumn("digits").RightAligned())
            .AddColumn(new TableColumn("correct").RightAligned());
        for (int k = 0; k < perClassTotal.Length; k++)
            if (perClassTotal[k] > 0)
                table.AddRow(k.ToString(CultureInfo.InvariantCulture), perClassTotal[k].ToString(CultureInfo.InvariantCulture),
                    perClassCorrect[k].ToString(CultureInfo.InvariantCulture));
        c.Console.Write(table);
        double percent = 100.0 * correct / Math.Max(1, c.Digits.Count);
        c.Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Accuracy on {c.Digits.Count} digits: {correct}/{c.Digits.Count} = {percent:0.00} %"));
    }

    /// <summary>Classifies every digit in batches; returns the number right, overall and per class.</summary>
    internal static (int Correct, int[] PerClassTotal, int[] PerClassCorrect) Evaluate(DemoContext c)
    {
        var total = new int[c.Layout.Classes];
        var right = new int[c.Layout.Classes];
        int correct = 0;
        for (int start = 0; start < c.Digits.Count; start += BatchSize)
        {
            int n = Math.Min(BatchSize, c.Digits.Count - start);
            var probabilities = CommandSupport.Probabilities(c.Session, c.Layout, c.Digits.Batch(start, n), n);
            for (int i = 0; i < n; i++)
            {
                int label = c.Digits.Label(start + i);
                int predicted = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(probabilities.AsSpan(i * c.Layout.Classes, c.Layout.Classes));
                if (label < total.Length) total[label]++;
                if (predicted == label) { correct++; right[label]++; }
            }
        }
        return (correct, total, right);
    }
}
