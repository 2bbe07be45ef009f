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
    /// <param name="Backend">Where CAFO/CASO solves run.</param>
    /// <param name="Report">The report section's settings (null: no report).</param>
    internal sealed record DemoContext(IAnsiConsole Console, string ModelPath, OnnxModel Model, InferenceSession Session,
        CommandSupport.ClassifierLayout Layout, DigitSet Digits, int Shown, Saliency.Kernels.Backends.IComputeBackend? Backend = null,
        DemoReport? Report = null);

    /// <summary>The demo report's settings and outcome.</summary>
    /// <param name="Digits">Digits in the report's evaluations (the first ones of the set).</param>
    /// <param name="SanityImages">Digits that also run the sanity check.</param>
    /// <param name="OutFolder">The report folder.</param>
    /// <param name="Error">Where progress goes.</param>
    /// <param name="Cancellation">Ctrl-C.</param>
    internal sealed record DemoReport(int Digits, int SanityImages, string OutFolder, TextWriter Error, CancellationToken Cancellation)
    {
        /// <summary>0, or 130 when the report was cancelled (and written as partial).</summary>
        public int ExitCode { get; set; }
    }

    /// <summary>
    /// Default digits in the demo report: with every method of the catalogue, 16 digits of masking curves and CASO
    /// diagnostics, 1 of them through the 4-step sanity check, keep the whole demo under 2 minutes on 2 cores even when
    /// they are shared (42 s for the whole demo with 14 methods at load average 49–59)
    /// (README, "The two commands").
    /// </summary>
    internal const int DefaultReportDigits = 16;

    /// <summary>The demo, in order.</summary>
    private static readonly (string Title, Action<DemoContext> Run)[] Sections =
    [
        ("Model", ModelSection),
        ("Predictions", PredictionSection),
        ("Accuracy", AccuracySection),
        ("Saliency", ExplainCommand.DemoSection),
        ("Report", ReportSection),
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
        var reportDigits = new Option<int>("--report-digits")
        {
            Description = "Digits in the demo report (masking curves, CASO diagnostics); 0 = no report.",
            DefaultValueFactory = _ => DefaultReportDigits,
        };
        var sanityDigits = new Option<int>("--sanity-digits")
        {
            Description = "Digits of the report that also run the cascading-randomization sanity check.",
            DefaultValueFactory = _ => 1,
        };
        var output = new Option<DirectoryInfo>("--out") { Description = "Report folder (default: out/demo)." };
        var backendName = BackendOption.Create();
        var command = new Command("demo", "Run the demo on the bundled model and held-out digits: model summary, predictions, accuracy, and the HTML report (out/demo/index.html).")
        {
            model, images, labels, count, reportDigits, sanityDigits, output, backendName,
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

            int reportCount = parseResult.GetValue(reportDigits), sanityCount = parseResult.GetValue(sanityDigits);
            if (reportCount < 0 || reportCount > digits.Count)
                throw new UserInputException($"--report-digits must lie in 0..{digits.Count}, got {reportCount}.");
            if (sanityCount < 0) throw new UserInputException($"--sanity-digits must be ≥ 0, got {sanityCount}.");
            using var cancellation = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) =>
            {
                if (cancellation.IsCancellationRequested) return;
                e.Cancel = true;
                cancellation.Cancel();
            };
            var report = reportCount == 0 ? null : new DemoReport(reportCount, sanityCount,
                parseResult.GetValue(output)?.FullName ?? Path.GetFullPath(ExplainCommand.DemoOutputFolder), parseResult.InvocationConfiguration.Error, cancellation.Token);
            var context = new DemoContext(console, modelPath, onnx, session, layout, digits, Math.Min(shown, digits.Count), backend, report);
            Console.CancelKeyPress += onCancel;
            try
            {
                foreach (var (title, run) in Sections)
                {
                    console.Write(new Rule($"[bold]{Markup.Escape(title)}[/]").LeftJustified());
                    run(context);
                }
            }
            finally
            {
                Console.CancelKeyPress -= onCancel;
            }
            return report?.ExitCode ?? 0;
        }));
        return command;
    }

    private static string Bundled(string relative)
    {
        try { return Path.Combine(BundledAssets.Root(), relative); }
        catch (FileNotFoundException e) { throw new UserInputException(e.Message); }
    }

    /// <summary>
    /// The report on the first <see cref="DemoReport.Digits"/> digits with every method of the catalogue at its explain
    /// defaults, except LEG-TV, which uses the demo grid (<see cref="Saliency.Explainers.LegExplainerOptions.DigitDemo"/>:
    /// 14×14 cells of 2×2 pixels, K_L = 0.5, n = 4000) so that its map is TV-sparse.
    /// </summary>
    private static void ReportSection(DemoContext c)
    {
        if (c.Report is not { } r) return;
        var options = new Report.ReportMethodOptions();
        var parse = options.Parse();
        int height = c.Digits.Rows, width = c.Digits.Cols;
        var overrides = new Dictionary<string, Func<ulong, Saliency.Explainers.IExplainer>>
        {
            ["leg-tv"] = seed => new Saliency.Explainers.LegExplainer(Saliency.Explainers.LegExplainerOptions.DigitDemo(height, width, seed: seed)),
        };
        var settings = new SortedDictionary<string, string>(options.Describe(parse).ToDictionary(), StringComparer.Ordinal)
        {
            ["leg-tv (demo)"] = "14×14 grid of 2×2-pixel cells, K_L = 0.5, n = 4000 antithetic",
        };
        var inputs = Enumerable.Range(0, r.Digits)
            .Select(i => new Saliency.Reporting.ReportInput(i, c.Digits.ImageFloats(i), c.Digits.Label(i), $"digit {i}")).ToArray();
        var request = new ReportCommand.Request(c.ModelPath, inputs, $"digits 0…{r.Digits - 1} of {c.Digits.Count}",
            options.Resolve(parse, c.Backend, overrides), settings,
            new Saliency.Reporting.ReportRunOptions
            {
                SanityImages = r.SanityImages,
                Caso = new Saliency.Evaluation.CasoDiagnosticsOptions { Backend = c.Backend },
                SweepImage = 0,
            }, null, r.OutFolder, 3, c.Model);
        r.ExitCode = ReportCommand.Execute(request, c.Console, r.Error, r.Cancellation);
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
