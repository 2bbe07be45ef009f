using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Saliency.Cli.Report;
using Saliency.Evaluation;
using Saliency.Explainers;
using Saliency.Imaging;
using Saliency.Kernels.Backends;
using Saliency.Models.Autodiff;
using Saliency.Models.Data;
using Saliency.Models.Onnx;
using Saliency.Reporting;
using Spectre.Console;

namespace Saliency.Cli.Commands;

/// <summary>
/// <c>saliency report [--model m.onnx] [--images x.idx3 --labels y.idx1 | --image a.png b.png … [--resize]] [--first i] [--count n]
/// [--methods a,b] [--sanity-images k] [--mask-cell s] [--shard i/N] [--out dir]</c>, and <c>saliency report --merge dir… --out dir</c>:
/// every method's maps, the sanity check, the masking curves and the CASO diagnostics of a data set, written as a static HTML
/// folder with report.json and .npy maps (<see cref="HtmlReport"/>, docs/report.md). Ctrl-C writes the finished images as a
/// report marked partial and exits with 130.
/// </summary>
internal static class ReportCommand
{
    /// <summary>Exit code after a cancellation: <see cref="CommandSupport.CancelledExitCode"/>.</summary>
    public const int CancelledExitCode = CommandSupport.CancelledExitCode;

    /// <summary>Everything one report run needs, from the command line or from the demo.</summary>
    /// <param name="Model">The model at <paramref name="ModelPath"/> when the caller has already loaded it (else loaded here).</param>
    internal sealed record Request(string ModelPath, IReadOnlyList<ReportInput> DataSet, string DataSetDescription, IReadOnlyList<ReportMethod> Methods,
        IReadOnlyDictionary<string, string> MethodSettings, ReportRunOptions Options, ShardInfo? Shard, string OutFolder, int Shown,
        OnnxModel? Model = null);

    public static Command Create()
    {
        var model = new Option<FileInfo>("--model") { Description = "ONNX image classifier (default: the bundled models/lenet.onnx)." };
        var images = new Option<FileInfo>("--images") { Description = "IDX image file (default: the bundled held-out digits)." };
        var labels = new Option<FileInfo>("--labels") { Description = "IDX label file (default: the bundled held-out labels)." };
        var files = new Option<FileInfo[]>("--image") { Description = "Image files instead of an IDX set (" + CommandSupport.ImageOptionDescription + ")", AllowMultipleArgumentsPerToken = true };
        var resize = new Option<bool>("--resize") { Description = CommandSupport.ResizeOptionDescription };
        var first = new Option<int>("--first") { Description = "First IDX image of the data set.", DefaultValueFactory = _ => 0 };
        var count = new Option<int>("--count") { Description = "Images in the data set (IDX).", DefaultValueFactory = _ => 20 };
        var sanityImages = new Option<int>("--sanity-images") { Description = "Run the sanity check on the first k images of the data set.", DefaultValueFactory = _ => 1 };
        var sanityDepth = new Option<int?>("--sanity-depth") { Description = "Deepest randomization step (default: every layer)." };
        var maskCell = new Option<int>("--mask-cell") { Description = "Cell side in pixels of the masking curves.", DefaultValueFactory = _ => 4 };
        var seed = new Option<ulong>("--seed") { Description = "Base seed (image i uses a seed derived from it and i).", DefaultValueFactory = _ => 0 };
        var output = new Option<DirectoryInfo>("--out") { Description = "Report folder (default: out/report)." };
        var shard = new Option<string?>("--shard") { Description = "Compute only slice i of N of the data set (i/N, 0-based); join the slices with --merge." };
        var merge = new Option<DirectoryInfo[]>("--merge") { Description = "Join the shard report folders given into one report at --out.", AllowMultipleArgumentsPerToken = true };
        var shown = new Option<int>("--show") { Description = "Images whose maps index.html shows.", DefaultValueFactory = _ => 3 };
        var methodOptions = new ReportMethodOptions();
        var backendName = BackendOption.Create();
        var command = new Command("report", "Write an HTML report (maps, sanity check, masking curves, CASO diagnostics) with report.json and .npy maps.")
        {
            model, images, labels, files, resize, first, count, sanityImages, sanityDepth, maskCell, seed, output, shard, merge, shown, backendName,
        };
        foreach (var option in methodOptions.All) command.Options.Add(option);
        command.SetAction(parseResult => CommandSupport.Run(parseResult, console =>
        {
            string outFolder = parseResult.GetValue(output)?.FullName ?? Path.GetFullPath(Path.Combine("out", "report"));
            if (parseResult.GetValue(merge) is { Length: > 0 } shards)
                return Merge(console, shards, outFolder, parseResult.GetValue(shown));

            using var backend = BackendOption.Open(parseResult.GetValue(backendName));
            var modelPath = CommandSupport.ResolvePath(parseResult.GetValue(model), CommandSupport.BundledModel, "model file");
            var onnx = OnnxModel.Load(modelPath);
            var (dataSet, description) = parseResult.GetValue(files) is { Length: > 0 } given
                ? ImageFiles(onnx, given, parseResult.GetValue(resize))
                : Digits(parseResult.GetValue(images), parseResult.GetValue(labels), parseResult.GetValue(first), parseResult.GetValue(count));
            int cell = parseResult.GetValue(maskCell);
            if (cell < 1) throw new UserInputException($"--mask-cell must be ≥ 1, got {cell}.");
            int sanity = parseResult.GetValue(sanityImages);
            if (sanity < 0) throw new UserInputException($"--sanity-images must be ≥ 0, got {sanity}.");
            int? depth = parseResult.GetValue(sanityDepth);
            if (depth is < 0) throw new UserInputException($"--sanity-depth must be ≥ 0, got {depth}.");
            var request = new Request(modelPath, dataSet, description, methodOptions.Resolve(parseResult, backend), methodOptions.Describe(parseResult),
                new ReportRunOptions
                {
                    Seed = parseResult.GetValue(seed),
                    SanityImages = sanity,
                    SanityDepth = depth,
                    Sensitivity = new SensitivityOptions { CellSize = cell },
                    Caso = new CasoDiagnosticsOptions { Backend = backend },
                    SweepImage = dataSet.Count > 0 ? dataSet[0].Index : -1,
                },
                ParseShard(parseResult.GetValue(shard), dataSet.Count), outFolder, parseResult.GetValue(shown), onnx);
            using var cancellation = new CancellationTokenSource();
            // Ctrl-C: finish the current unit, write the finished images as a partial report, exit 130 (a second Ctrl-C is the default: kill).
            ConsoleCancelEventHandler onCancel = (_, e) =>
            {
                if (cancellation.IsCancellationRequested) return;
                e.Cancel = true;
                cancellation.Cancel();
            };
            Console.CancelKeyPress += onCancel;
            // SIGTERM too: what Kubernetes and Slurm send before killing a shard (docs/scaling.md).
            using var onTerm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, context =>
            {
                context.Cancel = true;
                cancellation.Cancel();
            });
            try
            {
                return Execute(request, console, parseResult.InvocationConfiguration.Error, cancellation.Token);
            }
            finally
            {
                Console.CancelKeyPress -= onCancel;
            }
        }));
        return command;
    }

    /// <summary>
    /// Runs the report (or the request's shard of it) and writes the folder; returns 0, or <see cref="CancelledExitCode"/>
    /// when <paramref name="cancellation"/> fired (the folder then holds a consistent report marked partial).
    /// </summary>
    internal static int Execute(Request request, IAnsiConsole console, TextWriter error, CancellationToken cancellation, Action<ReportProgress>? observe = null)
    {
        var clock = Stopwatch.StartNew();
        var onnx = request.Model ?? OnnxModel.Load(request.ModelPath);
        var slice = request.Shard is { } s ? request.DataSet.Skip(s.Start).Take(s.End - s.Start).ToArray() : request.DataSet;
        var parameters = new ReportParameters
        {
            Model = Path.GetFileName(request.ModelPath),
            ModelSha256 = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(request.ModelPath))),
            DataSet = request.DataSetDescription,
            DataSetSize = request.DataSet.Count,
            MethodSettings = request.MethodSettings,
        };
        ReportDocument document;
        try
        {
            document = WithProgress(error, slice.Count, report =>
                ReportRunner.Run(onnx, parameters, request.Methods, slice, request.Options, p => { report(p); observe?.Invoke(p); }, cancellation));
        }
        catch (Exception e) when (e is EvaluationInputException or ExplainerInputException or Saliency.Solvers.Caso.CasoInputException or JacobianExportException or ArgumentOutOfRangeException)
        {
            throw new UserInputException(e.Message);
        }
        document = document with { Shard = request.Shard, Versions = ReportVersions.Collect([typeof(ScottPlot.Plot).Assembly]) };
        string index = HtmlReport.Write(request.OutFolder, document, request.Shown);
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Report{(document.Partial ? " (partial: cancelled)" : "")}: {index} — {document.Images.Count} image(s), {request.Methods.Count} methods, {clock.Elapsed.TotalSeconds:0.0} s"));
        return document.Partial ? CancelledExitCode : 0;
    }

    /// <summary>Spectre progress bars when stderr is a terminal; otherwise one plain line per finished image.</summary>
    private static ReportDocument WithProgress(TextWriter error, int images, Func<Action<ReportProgress>, ReportDocument> run)
    {
        if (ReferenceEquals(error, Console.Error) && !Console.IsErrorRedirected)
        {
            var terminal = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
            ReportDocument? result = null;
            terminal.Progress().AutoClear(false).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                .Start(context =>
                {
                    var task = context.AddTask("report", maxValue: 1);
                    result = run(p =>
                    {
                        task.MaxValue = p.Total;
                        task.Value = p.Done;
                        task.Description = Markup.Escape($"{p.ImagesDone}/{images} images · {p.What}");
                    });
                });
            return result!;
        }
        int last = -1;
        return run(p =>
        {
            if (p.ImagesDone == last) return;
            last = p.ImagesDone;
            error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"report: {p.ImagesDone}/{images} images ({p.Done}/{p.Total} steps)"));
        });
    }

    private static int Merge(IAnsiConsole console, DirectoryInfo[] folders, string outFolder, int shown)
    {
        ReportDocument merged;
        try
        {
            merged = ReportMerge.Merge(folders.Select(f => ReportFiles.Read(f.FullName)).ToArray());
        }
        catch (Exception e) when (e is ReportFormatException or EvaluationInputException)
        {
            throw new UserInputException(e.Message);
        }
        string index = HtmlReport.Write(outFolder, merged, shown);
        console.WriteLine($"Report merged from {folders.Length} shards: {index} — {merged.Images.Count} image(s){(merged.Partial ? " (partial)" : "")}");
        return merged.Partial ? CancelledExitCode : 0;
    }

    /// <summary><c>i/N</c> → the slice; null when not given.</summary>
    internal static ShardInfo? ParseShard(string? text, int size)
    {
        if (text is null) return null;
        var parts = text.Split('/');
        if (parts.Length != 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int i)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n < 1 || i >= n)
            throw new UserInputException($"--shard must be i/N with 0 ≤ i < N, got '{text}'.");
        return ShardInfo.Of(i, n, size);
    }

    /// <summary>Images [first, first + count) of an IDX set (the bundled digits by default).</summary>
    internal static (IReadOnlyList<ReportInput>, string) Digits(FileInfo? images, FileInfo? labels, int first, int count)
    {
        DigitSet digits;
        string description;
        if (images is null && labels is null)
        {
            try { digits = BundledAssets.LoadDigits(); }
            catch (FileNotFoundException e) { throw new UserInputException(e.Message); }
            description = "bundled held-out digits";
        }
        else
        {
            var imagesPath = CommandSupport.ResolvePath(images, () => throw new UserInputException("--labels needs --images."), "image file");
            var labelsPath = CommandSupport.ResolvePath(labels, () => throw new UserInputException("--images needs --labels."), "label file");
            digits = DigitSet.Load(imagesPath, labelsPath);
            description = Path.GetFileName(imagesPath);
        }
        if (first < 0 || count < 1 || (long)first + count > digits.Count)
            throw new UserInputException($"--first {first} --count {count} must select images within 0..{digits.Count - 1}.");
        var inputs = Enumerable.Range(first, count)
            .Select(i => new ReportInput(i - first, digits.ImageFloats(i), digits.Label(i), string.Create(CultureInfo.InvariantCulture, $"digit {i}"))).ToArray();
        return (inputs, string.Create(CultureInfo.InvariantCulture, $"{description}, images {first}…{first + count - 1}"));
    }

    private static (IReadOnlyList<ReportInput>, string) ImageFiles(OnnxModel model, FileInfo[] files, bool resize)
    {
        var dims = model.Inputs.Count == 1 ? model.Inputs[0].Dims : null;
        if (dims is not { Count: 4 } || !dims.Skip(1).All(d => d.IsFixed))
            throw new UserInputException("--image needs a model with one fixed-size input [batch, channels, height, width].");
        var layout = new CommandSupport.ClassifierLayout("", "", (int)dims[1].Value!.Value, (int)dims[2].Value!.Value, (int)dims[3].Value!.Value, 0);
        var inputs = files.Select((f, i) =>
        {
            var path = CommandSupport.ResolvePath(f, () => f.FullName, "image file");
            var picture = CommandSupport.FitToModel(ImageCodec.Read(path), layout, resize);
            return new ReportInput(i, CommandSupport.ImageAsInput(picture, layout), null, Path.GetFileName(path));
        }).ToArray();
        return (inputs, string.Create(CultureInfo.InvariantCulture, $"{files.Length} image file(s)"));
    }
}
