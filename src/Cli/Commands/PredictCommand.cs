using System.CommandLine;
using System.Globalization;
using Saliency.Models.Classifiers;
using Spectre.Console;

namespace Saliency.Cli.Commands;

/// <summary>
/// <c>saliency predict --image x.png|jpg|webp|bmp|gif [--resize | --preprocess p] [--model m.onnx] [--output name]
/// [--output-kind k] [--input-shape s] [--top 3]</c>: the top-k classes of one image, with the model's probabilities.
/// </summary>
internal static class PredictCommand
{
    public static Command Create()
    {
        var models = new ModelOptions();
        var image = new Option<FileInfo>("--image")
        {
            Description = CommandSupport.ImageOptionDescription,
            Required = true,
        };
        var resize = new Option<bool>("--resize") { Description = CommandSupport.ResizeOptionDescription };
        var top = new Option<int>("--top")
        {
            Description = "How many classes to list (at most the class count).",
            DefaultValueFactory = _ => 3,
        };
        var command = new Command("predict", "Classify one image and list the top classes with probabilities.") { image, resize, top };
        foreach (var option in models.All) command.Options.Add(option);
        command.SetAction(parseResult => CommandSupport.Run(parseResult, console =>
        {
            int k = parseResult.GetValue(top);
            if (k < 1) throw new UserInputException($"--top must be at least 1, got {k}.");
            var imageFile = parseResult.GetValue(image)!;
            using var opened = models.Open(parseResult);
            var prepared = opened.LoadPicture(imageFile, parseResult.GetValue(resize));
            var classifier = opened.Classifier;
            var scores = classifier.Predict(prepared.Input);
            // The model's own probabilities: softmax of the logits (for a Softmax output, of its input, so a model that
            // says 1.0000 prints 1.0000), or for a sigmoid output each label's σ(z) on its own.
            float[] probabilities = classifier.OwnProbabilities(scores);
            string heading = classifier.OutputKind == OutputKind.Sigmoid ? "probability (σ, per label)" : "probability";
            Render(console, imageFile.FullName, probabilities, Math.Min(k, probabilities.Length), heading, scores.Logits);
            return 0;
        }));
        return command;
    }

    /// <summary>Writes the top-<paramref name="k"/> table for one image's probabilities.</summary>
    /// <remarks>With <paramref name="logits"/>, a "logit" column shows the scores themselves (for a feature extractor, the channel values).</remarks>
    public static void Render(IAnsiConsole console, string imagePath, float[] probabilities, int k, string heading = "probability", float[]? logits = null)
    {
        var ranked = Enumerable.Range(0, probabilities.Length)
            .OrderByDescending(c => probabilities[c]).ThenBy(c => c).Take(k).ToArray();
        var table = new Table().Title($"[bold]{Markup.Escape(Terminal.Escape(Path.GetFileName(imagePath)))}[/]")
            .AddColumn(new TableColumn("rank").RightAligned())
            .AddColumn(new TableColumn("class").RightAligned())
            .AddColumn(new TableColumn(Markup.Escape(heading)).RightAligned());
        if (logits is not null) table.AddColumn(new TableColumn("logit").RightAligned());
        for (int r = 0; r < ranked.Length; r++)
        {
            string[] cells = [(r + 1).ToString(CultureInfo.InvariantCulture), ranked[r].ToString(CultureInfo.InvariantCulture),
                probabilities[ranked[r]].ToString("0.0000", CultureInfo.InvariantCulture)];
            table.AddRow(logits is null ? cells : [.. cells, logits[ranked[r]].ToString("0.0000", CultureInfo.InvariantCulture)]);
        }
        console.Write(table);
    }
}
