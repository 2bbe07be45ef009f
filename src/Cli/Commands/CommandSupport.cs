using System.CommandLine;
using Saliency.Imaging;
using Saliency.Imaging.Preprocessing;
using Saliency.Models.Autodiff;
using Saliency.Models.Classifiers;
using Saliency.Models.Data;
using Saliency.Models.Onnx;
using Saliency.Models.Runtime;
using Spectre.Console;

namespace Saliency.Cli.Commands;

/// <summary>A problem with the user's input (a path, a size, an option) that the CLI reports in one line, without a stack trace.</summary>
internal sealed class UserInputException(string message) : Exception(message);

/// <summary>
/// What the info, predict and demo commands share: the console they write to, the translation of user errors
/// into a one-line message and exit code 1, and image-classifier plumbing (input layout, batched softmax).
/// </summary>
internal static class CommandSupport
{
    /// <summary>Exit code for a user error (bad path, unreadable file, wrong image size, a model that cannot be used, ...).</summary>
    public const int UserErrorExitCode = 1;

    /// <summary>Exit code for an internal error (a bug, or the machine ran out of memory): a short message, no stack trace.</summary>
    public const int InternalErrorExitCode = 2;

    /// <summary>Exit code after Ctrl-C (128 + SIGINT, as shells report a process ended by it).</summary>
    public const int CancelledExitCode = 130;

    /// <summary>
    /// Runs <paramref name="body"/> with a Spectre console bound to the invocation's output writer (so tests can
    /// capture it). Every failure becomes one line on the error writer, control characters escaped
    /// (<see cref="Terminal.Escape"/>), and an exit code: expected failures — missing files, malformed
    /// images/ONNX/IDX/specs, models that cannot be used, ONNX Runtime errors, bad sizes — "error: message" and
    /// <see cref="UserErrorExitCode"/>; a cancel <see cref="CancelledExitCode"/>; anything else "internal error: …"
    /// and <see cref="InternalErrorExitCode"/>.
    /// </summary>
    public static int Run(ParseResult parseResult, Func<IAnsiConsole, int> body)
    {
        var output = parseResult.InvocationConfiguration.Output;
        var error = parseResult.InvocationConfiguration.Error;
        // Colours only on a real terminal: redirected or captured output stays plain text.
        bool terminal = ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected;
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
        });
        try
        {
            return body(console);
        }
        catch (Exception e) when (IsUserError(e))
        {
            error.WriteLine($"error: {Terminal.Escape(e.Message)}");
            return UserErrorExitCode;
        }
        catch (OperationCanceledException)
        {
            error.WriteLine("cancelled");
            return CancelledExitCode;
        }
        catch (OutOfMemoryException)
        {
            error.WriteLine("internal error: out of memory; try a smaller image, model or --samples.");
            return InternalErrorExitCode;
        }
        catch (Exception e)
        {
            error.WriteLine($"internal error: {e.GetType().Name}: {Terminal.Escape(e.Message)}");
            return InternalErrorExitCode;
        }
    }

    private static bool IsUserError(Exception e) => e is UserInputException or FileNotFoundException
        or DirectoryNotFoundException or UnauthorizedAccessException or IOException
        or ImageFormatException or OnnxFormatException or DigitSetFormatException or ClassifierOutputException
        or ClassifierModelException or PreprocessSpecException or JacobianExportException
        or OrtException or OnnxRuntimeNotFoundException
        or TensorShapeException or TensorNameException or TensorElementTypeException;

    /// <summary>The option's file, or the bundled one when the option was not given.</summary>
    public static string ResolvePath(FileInfo? given, Func<string> bundled, string what)
    {
        if (given is null)
            return bundled();
        return InputFiles.CheckRegular(given, what);
    }

    /// <summary>Shape of an image classifier's single input and output, read from the session.</summary>
    public sealed record ClassifierLayout(string InputName, string OutputName, int Channels, int Height, int Width, int Classes);

    /// <summary>
    /// Checks that the model is an image classifier the CLI can drive — one float input [batch, channels, H, W]
    /// with 1 or 3 channels, one float output [batch, classes] — and returns its layout. Dynamic H/W are taken
    /// from <paramref name="imageHeight"/>/<paramref name="imageWidth"/> when given.
    /// </summary>
    public static ClassifierLayout Layout(InferenceSession session, int? imageHeight = null, int? imageWidth = null)
    {
        if (session.Inputs.Count != 1 || session.Outputs.Count < 1)
            throw new UserInputException(
                $"the model has {session.Inputs.Count} inputs and {session.Outputs.Count} outputs; an image classifier needs one input and one output.");
        var input = session.Inputs[0];
        var output = session.Outputs[0];
        if (input.ElementType != TensorElementType.Float || input.Shape.Length != 4)
            throw new UserInputException(
                $"the model input {input} is not a float image batch [batch, channels, height, width].");
        if (output.ElementType != TensorElementType.Float || output.Shape.Length != 2 || output.Shape[1] <= 0)
            throw new UserInputException(
                $"the model output {output} is not a float score matrix [batch, classes] with a fixed class count.");
        long channels = input.Shape[1];
        if (channels is not (1 or 3))
            throw new UserInputException(ChannelMessage(channels));
        long height = input.Shape[2] > 0 ? input.Shape[2] : imageHeight ?? -1;
        long width = input.Shape[3] > 0 ? input.Shape[3] : imageWidth ?? -1;
        if (height <= 0 || width <= 0)
            throw new UserInputException($"the model input {Terminal.Escape(input.ToString())} has no fixed image size; give it with --input-shape (e.g. {channels},224,224).");
        return new ClassifierLayout(input.Name, output.Name, (int)channels, (int)height, (int)width, (int)output.Shape[1]);
    }

    /// <summary>Option text shared by predict and explain.</summary>
    public const string ImageOptionDescription =
        "PNG, JPEG, WebP, BMP or GIF (first frame) of the model's input size (or any size with --resize).";

    /// <summary>Option text shared by predict and explain.</summary>
    public const string ResizeOptionDescription =
        "Scale the image so its shorter side fits the model input (bilinear), then center-crop to the input size.";

    /// <summary>
    /// The image at the model's input size. Without <paramref name="resize"/> the image must already have that size
    /// (a one-line user error otherwise); with it, the image is scaled by max(w/W, h/H) and center-cropped
    /// (<see cref="ImageTransforms.ResizeAndCenterCrop"/>).
    /// </summary>
    public static ImageBuffer FitToModel(ImageBuffer image, ClassifierLayout layout, bool resize)
    {
        if (image.Width == layout.Width && image.Height == layout.Height)
            return image;
        if (!resize)
            throw new UserInputException(
                $"the image is {image.Width}×{image.Height} but the model expects {layout.Width}×{layout.Height}; resize it first or pass --resize.");
        return ImageTransforms.ResizeAndCenterCrop(image, layout.Width, layout.Height);
    }

    /// <summary>
    /// An image of the model's size as model input [channels, H, W] in [0, 1] (sample / 255): colour is reduced to
    /// BT.601 luma for a 1-channel model, gray replicated for a 3-channel model; alpha is dropped (the stored colour
    /// is used, as before the Skia codecs).
    /// </summary>
    public static float[] ImageAsInput(ImageBuffer image, ClassifierLayout layout)
    {
        if (image.Width != layout.Width || image.Height != layout.Height)
            throw new UserInputException(
                $"the image is {image.Width}×{image.Height} but the model expects {layout.Width}×{layout.Height}; resize it first or pass --resize.");
        return image.ToPlanarFloats(layout.Channels, AlphaMode.Drop);
    }

    /// <summary>
    /// Runs a batch of <paramref name="count"/> images (NCHW, flattened) and returns class probabilities
    /// [count, classes], the library's <see cref="Softmax"/> of the model's logits. A model that already ends in a
    /// softmax would be normalised twice, which is why the bundled model outputs raw logits.
    /// </summary>
    public static float[] Probabilities(InferenceSession session, ClassifierLayout layout, float[] images, int count)
    {
        var input = new FloatTensor(layout.InputName, images, [count, layout.Channels, layout.Height, layout.Width]);
        var result = session.Run([input], [layout.OutputName]);
        var logits = result[0].Data;
        if (logits.Length != count * layout.Classes)
            throw new UserInputException($"the model returned {logits.Length} scores for {count} images of {layout.Classes} classes.");
        int bad = Softmax.FirstNonFinite(logits);
        if (bad >= 0)
            throw new UserInputException(
                $"the model returned a non-finite score ({logits[bad]}) for class {bad % layout.Classes} of image {bad / layout.Classes}.");
        var probabilities = new float[logits.Length];
        Softmax.Rows(logits, probabilities, layout.Classes);
        return probabilities;
    }

    /// <summary>Model file path for the bundled default, with a user-facing error when it cannot be found.</summary>
    public static string BundledModel()
    {
        try { return BundledAssets.ModelPath; }
        catch (FileNotFoundException e) { throw new UserInputException(e.Message); }
    }

    /// <summary>The message for a model whose image input has neither 1 nor 3 channels.</summary>
    public static string ChannelMessage(long channels) =>
        $"the model input has {channels} channels; pictures give 1 (gray) or 3 (RGB/BGR) planes. This model does not take pictures as they are " +
        "(a 2- or 4-channel input needs its own preprocessing).";

    /// <summary>Parses <c>--input-shape</c>: the image shape without batch, e.g. 3,224,224; null when not given.</summary>
    public static long[]? ParseShape(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var dims = new long[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!long.TryParse(parts[i], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out dims[i]) || dims[i] <= 0 || dims[i] > 1 << 20)
                throw new UserInputException($"--input-shape must be positive integers (at most 1048576) separated by commas, e.g. 3,224,224; got '{Terminal.Escape(text)}'.");
        return dims;
    }
}
