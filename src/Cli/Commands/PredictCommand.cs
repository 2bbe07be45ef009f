using System.CommandLine;
using System.Globalization;
using Saliency.Imaging;
using Saliency.Models.Runtime;
using Spectre.Console;

namespace Saliency.Cli.Commands;

/// <summary><c>saliency predict --image x.png|jpg|webp|bmp|gif [--resize] [--model m.onnx] [--top 3]</c>: the top-k classes of one image, with probabilities.</summary>
internal static class PredictCommand
{
    public static Command Create()
    {
        var model = new Option<FileInfo>("--model")
        {
            Description = "ONNX image classifier (default: the bundled models/lenet.onnx).",
        };
        var image = new Option<FileInfo>("--image")
        {
            Description = CommandSupport.ImageOptionDescription,
            Required = true,
        };
        var resize = new Option<bool>("--resize") { Description = CommandSupport.ResizeOptionDescription };
        var top = new Option<int>("--top")
        {
            Description = "How many classes to list.",
            DefaultValueFactory = _ => 3,
        };
        var command = new Command("predict", "Classify one image and list the top classes with probabilities.") { model, image, resize, top };
        command.SetAction(parseResult => CommandSupport.Run(parseResult, console =>
        {
            var modelPath = CommandSupport.ResolvePath(parseResult.GetValue(model), CommandSupport.BundledModel, "model file");
            var imageFile = parseResult.GetValue(image)!;
            var imagePath = CommandSupport.ResolvePath(imageFile, () => imageFile.FullName, "image file");
            int k = parseResult.GetValue(top);

            var picture = ImageCodec.Read(imagePath);
            using var session = InferenceSession.Create(modelPath);
            var layout = CommandSupport.Layout(session, picture.Height, picture.Width);
            if (k < 1 || k > layout.Classes)
                throw new UserInputException($"--top must be between 1 and {layout.Classes} (the model's class count), got {k}.");
            var input = CommandSupport.ImageAsInput(CommandSupport.FitToModel(picture, layout, parseResult.GetValue(resize)), layout);
            var probabilities = CommandSupport.Probabilities(session, layout, input, 1);
            Render(console, imagePath, probabilities, k);
            return 0;
        }));
        return command;
    }

    /// <summary>Writes the top-<paramref name="k"/> table for one image's probabilities.</summary>
    public static void Render(IAnsiConsole console, string imagePath, float[] probabilities, int k)
    {
        var ranked = Enumerable.Range(0, probabilities.Length)
            .OrderByDescending(c => probabilities[c]).ThenBy(c => c).Take(k).ToArray();
        var table = new Table().Title($"[bold]{Markup.Escape(Path.GetFileName(imagePath))}[/]")
            .AddColumn(new TableColumn("rank").RightAligned())
            .AddColumn(new TableColumn("class").RightAligned())
            .AddColumn(new TableColumn("probability").RightAligned());
        for (int r = 0; r < ranked.Length; r++)
            table.AddRow((r + 1).ToString(CultureInfo.InvariantCulture), ranked[r].ToString(CultureInfo.InvariantCulture),
                probabilities[ranked[r]].ToString("0.0000", CultureInfo.InvariantCulture));
        console.Write(table);
    }
}
