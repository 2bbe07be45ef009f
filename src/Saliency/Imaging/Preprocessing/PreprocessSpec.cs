using System.Globalization;
using System.Text.Json;
using Saliency.Models.Classifiers;

namespace Saliency.Imaging.Preprocessing;

/// <summary>Order of the colour planes the model takes.</summary>
internal enum ChannelOrder
{
    /// <summary>Follow the model: gray for 1 channel, RGB for 3.</summary>
    Auto,

    /// <summary>Red, green, blue (torchvision, Keras).</summary>
    Rgb,

    /// <summary>Blue, green, red (Caffe, OpenCV-trained models).</summary>
    Bgr,

    /// <summary>One BT.601 luma plane.</summary>
    Gray,
}

/// <summary>
/// How a picture becomes a model input (docs/preprocessing.md): resize so the shorter side is <see cref="ResizeShorter"/>
/// (bilinear), center-crop to the model's input size, take the planes in <see cref="Channels"/> order, and map each
/// 8-bit sample v of plane c to <c>(v · Scale − Mean[c]) / Std[c]</c>.
/// </summary>
/// <remarks>
/// The presets follow the references: <c>imagenet</c> is torchvision's ImageNet evaluation transform
/// (Resize(256) → CenterCrop(224) → ToTensor → Normalize(mean, std), with 256/224 scaled to other input sizes);
/// <c>inception</c> maps samples to [−1, 1] (TF-slim's inception_preprocessing); <c>unit</c> is v / 255; <c>mnist</c>
/// is gray v / 255.
/// </remarks>
internal sealed record PreprocessSpec
{
    /// <summary>The preset names <see cref="Preset"/> knows.</summary>
    public static readonly string[] PresetNames = ["imagenet", "inception", "unit", "mnist"];

    /// <summary>The shorter side after resizing, in pixels; null: the smallest scale at which the crop fits.</summary>
    public int? ResizeShorter { get; init; }

    /// <summary>
    /// ImageNet's ratio: shorter side = round(crop side · 256 / 224), applied to whatever input size the model has.
    /// Used instead of <see cref="ResizeShorter"/> when set.
    /// </summary>
    public double? ResizeRatio { get; init; }

    /// <summary>Plane order.</summary>
    public ChannelOrder Channels { get; init; } = ChannelOrder.Auto;

    /// <summary>The model input's layout.</summary>
    public InputLayout Layout { get; init; } = InputLayout.Nchw;

    /// <summary>Factor applied to the 8-bit samples before mean/std.</summary>
    public double Scale { get; init; } = 1.0 / 255;

    /// <summary>Per-plane mean (one value for all planes, or one per plane).</summary>
    public IReadOnlyList<double> Mean { get; init; } = [0.0];

    /// <summary>Per-plane standard deviation (positive; one value or one per plane).</summary>
    public IReadOnlyList<double> Std { get; init; } = [1.0];

    /// <summary>The name this spec came from (a preset or a file), for messages and reports.</summary>
    public string Source { get; init; } = "unit";

    /// <summary>A named preset.</summary>
    /// <exception cref="PreprocessSpecException">Unknown name.</exception>
    public static PreprocessSpec Preset(string name) => name switch
    {
        "imagenet" => new PreprocessSpec
        {
            ResizeRatio = 256.0 / 224, Channels = ChannelOrder.Rgb, Scale = 1.0 / 255,
            Mean = [0.485, 0.456, 0.406], Std = [0.229, 0.224, 0.225], Source = "imagenet",
        },
        "inception" => new PreprocessSpec { Channels = ChannelOrder.Rgb, Scale = 2.0 / 255, Mean = [1.0], Std = [1.0], Source = "inception" },
        "unit" => new PreprocessSpec { Source = "unit" },
        "mnist" => new PreprocessSpec { Channels = ChannelOrder.Gray, Source = "mnist" },
        _ => throw new PreprocessSpecException($"unknown preprocessing preset '{name}'; use one of {string.Join(", ", PresetNames)}."),
    };

    /// <summary>The JSON file beside a model: <c>model.onnx</c> → <c>model.preprocess.json</c>.</summary>
    public static string SidecarPath(string modelPath) => Path.ChangeExtension(modelPath, ".preprocess.json");

    /// <summary>Largest spec file read (a spec is a few hundred bytes).</summary>
    public const int MaxFileBytes = 64 * 1024;

    /// <summary>Parses a spec (docs/preprocessing.md). Unknown keys are errors, so a misspelt key is not silently ignored.</summary>
    /// <exception cref="PreprocessSpecException">Not JSON, unknown key, wrong type, or an invalid value.</exception>
    public static PreprocessSpec Parse(string json, string source)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 4, CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new PreprocessSpecException($"{source}: not valid JSON ({e.Message})");
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new PreprocessSpecException($"{source}: the spec must be a JSON object.");
            var spec = root.TryGetProperty("preset", out var preset)
                ? Preset(preset.ValueKind == JsonValueKind.String ? preset.GetString()! : throw new PreprocessSpecException($"{source}: \"preset\" must be a string."))
                : new PreprocessSpec();
            spec = spec with { Source = source };
            foreach (var p in root.EnumerateObject())
            {
                spec = p.Name switch
                {
                    "preset" => spec,
                    "resize" => p.Value.ValueKind == JsonValueKind.Null ? spec with { ResizeShorter = null, ResizeRatio = null }
                        : spec with { ResizeShorter = Int(p, source, 1, 1 << 16), ResizeRatio = null },
                    "channels" => spec with { Channels = Name(p, source, ["rgb", "bgr", "gray"]) switch { "rgb" => ChannelOrder.Rgb, "bgr" => ChannelOrder.Bgr, _ => ChannelOrder.Gray } },
                    "layout" => spec with { Layout = Name(p, source, ["nchw", "nhwc"]) == "nhwc" ? InputLayout.Nhwc : InputLayout.Nchw },
                    "scale" => spec with { Scale = Number(p.Value, source, p.Name) },
                    "mean" => spec with { Mean = Numbers(p, source) },
                    "std" => spec with { Std = Numbers(p, source) },
                    _ => throw new PreprocessSpecException(
                        $"{source}: unknown key \"{p.Name}\"; the keys are preset, resize, channels, layout, scale, mean, std."),
                };
            }
            spec.Validate();
            return spec;
        }
    }

    /// <summary>Checks the values: finite scale, finite means, positive finite stds, one or three of each.</summary>
    /// <exception cref="PreprocessSpecException">An invalid value.</exception>
    public void Validate()
    {
        if (!double.IsFinite(Scale) || Scale == 0) throw new PreprocessSpecException($"{Source}: scale must be finite and non-zero, got {Scale}.");
        if (Mean.Count is not (1 or 3) || Mean.Any(m => !double.IsFinite(m)))
            throw new PreprocessSpecException($"{Source}: mean must be 1 or 3 finite numbers.");
        if (Std.Count is not (1 or 3) || Std.Any(s => !(s > 0) || !double.IsFinite(s)))
            throw new PreprocessSpecException($"{Source}: std must be 1 or 3 positive finite numbers.");
        if (ResizeRatio is { } r && !(r >= 1 && r <= 16)) throw new PreprocessSpecException($"{Source}: the resize ratio must lie in [1, 16], got {r}.");
    }

    /// <summary>A short description for reports, e.g. "imagenet (shorter side 256, center crop 224×224, RGB, mean/std)".</summary>
    public string Describe(int height, int width)
    {
        var parts = new List<string>();
        int? shorter = ShorterSide(height, width);
        parts.Add(shorter is { } s ? $"shorter side {s}, center crop {width}×{height}" : $"fit and center crop {width}×{height}");
        if (Channels != ChannelOrder.Auto) parts.Add(Channels.ToString().ToUpperInvariant());
        if (Layout == InputLayout.Nhwc) parts.Add("NHWC");
        parts.Add(string.Create(CultureInfo.InvariantCulture, $"×{Scale:G4}"));
        if (Mean.Any(m => m != 0) || Std.Any(v => v != 1))
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"mean [{string.Join(", ", Mean)}], std [{string.Join(", ", Std)}]"));
        return $"{Source} ({string.Join(", ", parts)})";
    }

    /// <summary>The shorter side after resizing for a model of input <paramref name="height"/>×<paramref name="width"/>, or null to fit the crop.</summary>
    public int? ShorterSide(int height, int width) =>
        ResizeRatio is { } r ? (int)Math.Round(Math.Min(height, width) * r) : ResizeShorter;

    private static int Int(JsonProperty p, string source, int min, int max) =>
        p.Value.ValueKind == JsonValueKind.Number && p.Value.TryGetInt32(out int v) && v >= min && v <= max
            ? v : throw new PreprocessSpecException($"{source}: \"{p.Name}\" must be an integer in [{min}, {max}].");

    private static string Name(JsonProperty p, string source, string[] allowed)
    {
        var s = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()!.ToLowerInvariant() : null;
        return s is not null && allowed.Contains(s) ? s
            : throw new PreprocessSpecException($"{source}: \"{p.Name}\" must be one of {string.Join(", ", allowed.Select(a => $"\"{a}\""))}.");
    }

    private static double Number(JsonElement e, string source, string key) =>
        e.ValueKind == JsonValueKind.Number && e.TryGetDouble(out double v) && double.IsFinite(v)
            ? v : throw new PreprocessSpecException($"{source}: \"{key}\" must be a finite number.");

    private static double[] Numbers(JsonProperty p, string source)
    {
        if (p.Value.ValueKind == JsonValueKind.Number) return [Number(p.Value, source, p.Name)];
        if (p.Value.ValueKind != JsonValueKind.Array || p.Value.GetArrayLength() is not (1 or 3))
            throw new PreprocessSpecException($"{source}: \"{p.Name}\" must be a number or an array of 1 or 3 numbers.");
        return p.Value.EnumerateArray().Select(e => Number(e, source, p.Name)).ToArray();
    }
}

/// <summary>A preprocessing spec that cannot be used (unknown preset, malformed JSON, invalid values, or one that does not fit the model).</summary>
internal sealed class PreprocessSpecException(string message) : FormatException(message);
