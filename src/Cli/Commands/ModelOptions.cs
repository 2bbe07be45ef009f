using System.CommandLine;
using Saliency.Imaging;
using Saliency.Imaging.Preprocessing;
using Saliency.Models.Caching;
using Saliency.Models.Classifiers;
using Saliency.Models.Onnx;

namespace Saliency.Cli.Commands;

/// <summary>
/// The options predict and explain share to open a user's model and picture: <c>--model</c>, <c>--output</c>,
/// <c>--output-kind</c>, <c>--channel</c>, <c>--input-shape</c> and <c>--preprocess</c> (preset, JSON file, or the
/// <c>&lt;model&gt;.preprocess.json</c> beside the model), and the reading of <c>--image</c> through them.
/// </summary>
internal sealed class ModelOptions
{
    /// <summary>The kinds <c>--output-kind</c> accepts.</summary>
    public static readonly string[] Kinds = ["auto", "logits", "probabilities", "log-probabilities", "sigmoid"];

    public Option<FileInfo> Model { get; } = new("--model") { Description = "ONNX image classifier (default: the bundled models/lenet.onnx)." };

    public Option<string> Output { get; } = new("--output") { Description = "The model output to explain, by name (default: the first output)." };

    public Option<string> OutputKind { get; } = new("--output-kind")
    {
        Description = "What the output holds: logits, probabilities, log-probabilities or sigmoid (multi-label); default auto: a final Softmax, LogSoftmax or Sigmoid node says.",
        DefaultValueFactory = _ => "auto",
    };

    public Option<int?> Channel { get; } = new("--channel")
    {
        Description = "Explain this one output score alone (a feature extractor's channel, or a multi-label model's label) as 'score vs. rest'.",
    };

    public Option<string> InputShape { get; } = new("--input-shape")
    {
        Description = "Image shape without batch, e.g. 3,224,224, for models whose input height/width are not fixed.",
    };

    public Option<string> Preprocess { get; } = new("--preprocess")
    {
        Description = "imagenet (shorter side 256, center crop 224, mean/std), inception ([-1, 1]), unit (/255), mnist (gray /255), or a JSON spec file "
                      + "(docs/preprocessing.md). Default: <model>.preprocess.json when it exists, else unit.",
    };

    public Option<int?> Threads { get; } = new("--threads")
    {
        Description = "ONNX Runtime threads inside one operator; 0 = one per physical core. Default: 1 for models under 4 MiB "
                      + "(thread hand-offs cost more than they save on small layers), else 0.",
    };

    /// <summary>Model files from this size on get all cores by default: a ResNet-sized layer keeps every core busy.</summary>
    internal const long AllCoresFromBytes = 4L << 20;

    public ModelOptions()
    {
        OutputKind.AcceptOnlyFromAmong(Kinds);
        Threads.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int?>() is < 0 or > 1024) r.AddError("--threads must be between 0 and 1024.");
        });
    }

    /// <summary>The options, to add to a command.</summary>
    public IEnumerable<Option> All => [Model, Output, OutputKind, Channel, InputShape, Preprocess, Threads];

    /// <summary>
    /// Reads and opens the model (forward session only; the Jacobian model is built when a method needs it) and the
    /// preprocessing spec. A spec's NHWC layout becomes the classifier's input layout.
    /// </summary>
    public OpenedModel Open(ParseResult parseResult, bool useCache = false)
    {
        var given = parseResult.GetValue(Model);
        string path = CommandSupport.ResolvePath(given, CommandSupport.BundledModel, "model file");
        var bytes = InputFiles.Read(new FileInfo(path), "model file", InputFiles.MaxModelBytes);
        var proto = OnnxModel.Parse(bytes).Proto;
        OnnxClassifier.InlineExternalData(proto, path);
        var (spec, specSource) = LoadSpec(parseResult.GetValue(Preprocess), path);
        var kind = parseResult.GetValue(OutputKind) switch
        {
            "logits" => Models.Classifiers.OutputKind.Logits,
            "probabilities" => Models.Classifiers.OutputKind.Probabilities,
            "log-probabilities" => Models.Classifiers.OutputKind.LogProbabilities,
            "sigmoid" => Models.Classifiers.OutputKind.Sigmoid,
            _ => Models.Classifiers.OutputKind.Auto,
        };
        var classifier = OnnxClassifier.Open(proto, new OnnxClassifierOptions
        {
            OutputName = parseResult.GetValue(Output),
            OutputKind = kind,
            InputShape = CommandSupport.ParseShape(parseResult.GetValue(InputShape)),
            InputLayout = spec?.Layout ?? InputLayout.Nchw,
            Cache = useCache ? JacobianModelCache.CreateDefault() : null,
            Session = new Models.Runtime.InferenceSessionOptions
            {
                IntraOpThreads = parseResult.GetValue(Threads) ?? (bytes.Length >= AllCoresFromBytes ? 0 : 1),
            },
        });
        int? channel = parseResult.GetValue(Channel);
        if (channel is { } c && (c < 0 || c >= classifier.ClassCount))
        {
            classifier.Dispose();
            throw new UserInputException($"--channel must be between 0 and {classifier.ClassCount - 1} (the output '{Terminal.Escape(classifier.OutputName)}' has {classifier.ClassCount} scores), got {c}.");
        }
        return new OpenedModel(classifier, path, spec, specSource, channel);
    }

    /// <summary>The spec from <c>--preprocess</c> (preset name or file), else the model's sidecar file, else null (plain /255).</summary>
    private static (PreprocessSpec? Spec, string? Source) LoadSpec(string? option, string modelPath)
    {
        if (option is not null && PreprocessSpec.PresetNames.Contains(option))
            return (PreprocessSpec.Preset(option), option);
        string? file = option;
        if (file is null)
        {
            string sidecar = PreprocessSpec.SidecarPath(modelPath);
            if (!File.Exists(sidecar)) return (null, null);
            file = sidecar;
        }
        var info = new FileInfo(file);
        if (!info.Exists && !Directory.Exists(file))
            throw new UserInputException($"--preprocess: '{Terminal.Escape(file)}' is neither a preset ({string.Join(", ", PreprocessSpec.PresetNames)}) nor a file.");
        var bytes = InputFiles.Read(info, "preprocessing spec", PreprocessSpec.MaxFileBytes);
        string text;
        try
        {
            text = new System.Text.UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (System.Text.DecoderFallbackException)
        {
            throw new PreprocessSpecException($"{info.FullName}: not UTF-8 text.");
        }
        return (PreprocessSpec.Parse(text, info.FullName), info.FullName);
    }
}

/// <summary>An opened model: the classifier, where it came from, its preprocessing and the score chosen with <c>--channel</c>.</summary>
internal sealed record OpenedModel(OnnxClassifier Classifier, string Path, PreprocessSpec? Spec, string? SpecSource, int? Channel) : IDisposable
{
    /// <summary>The picture file prepared for the model: the spec's resize, crop and normalisation, or without a spec v / 255 of a picture of the model's size (any size with <paramref name="resize"/>).</summary>
    public PreparedImage LoadPicture(FileInfo image, bool resize)
    {
        var shape = Classifier.InputShape;
        if (shape.Count != 3)
            throw new UserInputException($"the model input [{string.Join(", ", shape)}] is not an image [channels, height, width].");
        int channels = (int)shape[0], height = (int)shape[1], width = (int)shape[2];
        // Read checks the file (InputFiles.CheckRegular) before reading it.
        var picture = ImageCodec.Decode(InputFiles.Read(image, "image file", InputFiles.MaxImageBytes), source: image.FullName);
        if (channels is not (1 or 3) && Spec is null)
            throw new UserInputException(CommandSupport.ChannelMessage(channels));
        if (Spec is null && !resize && (picture.Width != width || picture.Height != height))
            throw new UserInputException(
                $"the image is {picture.Width}×{picture.Height} but the model expects {width}×{height}; pass --resize or a --preprocess preset (e.g. imagenet), or resize it first.");
        return Saliency.Imaging.Preprocessing.Preprocess.Apply(picture, Spec ?? PreprocessSpec.Preset("unit"), channels, height, width);
    }

    /// <summary>Describes the preprocessing for reports.</summary>
    public string DescribePreprocessing()
    {
        var shape = Classifier.InputShape;
        var spec = Spec ?? PreprocessSpec.Preset("unit");
        return shape.Count == 3 ? spec.Describe((int)shape[1], (int)shape[2]) : spec.Source;
    }

    public void Dispose() => Classifier.Dispose();
}
