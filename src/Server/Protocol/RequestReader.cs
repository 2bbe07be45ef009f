using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Saliency.Imaging;
using Saliency.Imaging.Preprocessing;
using Saliency.Server.Hosting;
using Saliency.Server.Inference;

namespace Saliency.Server.Protocol;

/// <summary>A fault of the client's request, answered with <see cref="Status"/> (4xx) and the message.</summary>
internal sealed class ClientError(int status, string message) : Exception(message)
{
    public int Status { get; } = status;

    public static ClientError Bad(string message) => new(StatusCodes.Status400BadRequest, message);

    /// <summary>Well-formed but not acceptable: a value out of range or over a budget, an image of the wrong size.</summary>
    public static ClientError Unprocessable(string message) => new(StatusCodes.Status422UnprocessableEntity, message);
}

/// <summary>One instance read from a request: the model input (flattened [C, H, W]) and its own target, if any.</summary>
internal readonly record struct Instance(float[] Image, int? Target);

/// <summary>A v1 request as the server runs it.</summary>
internal sealed record V1Call(IReadOnlyList<Instance> Instances, MethodSettings Settings, TimeSpan? Timeout);

/// <summary>
/// Reads request bodies with every bound checked before allocating for the content: Content-Type, body size
/// (Kestrel's MaxRequestBodySize, and Content-Length up front), JSON depth (<see cref="JsonDocumentOptions.MaxDepth"/>),
/// instance count, tensor shape (walked before the float buffer exists), image header (ImageCodec limits) and
/// parameter ranges.
/// </summary>
internal static class RequestReader
{
    /// <summary>The parameters v2 <c>/infer</c> takes: <see cref="V2InferParameters"/>'s names, as in the OpenAPI document.</summary>
    internal static readonly string[] InferParameters = Json.PropertyNames<V2InferParameters>();

    /// <summary>The parameters <c>:predict</c> takes: <see cref="V1PredictParameters"/>'s names, as in the OpenAPI document.</summary>
    internal static readonly string[] PredictParameters = Json.PropertyNames<V1PredictParameters>();

    /// <summary>The parameters <c>:explain</c> takes: <see cref="V1ExplainParameters"/>'s names, as in the OpenAPI document.</summary>
    internal static readonly string[] ExplainParameters = Json.PropertyNames<V1ExplainParameters>();

    /// <summary>The body as a JSON object.</summary>
    public static async Task<JsonDocument> ReadJsonAsync(HttpRequest request, ServeOptions options, CancellationToken cancellationToken)
    {
        var contentType = request.ContentType;
        if (contentType is null || !IsJson(contentType))
            throw new ClientError(StatusCodes.Status415UnsupportedMediaType, $"the body must be JSON (Content-Type: application/json), got '{contentType ?? "none"}'.");
        if (request.ContentLength > options.MaxRequestBodyBytes)
            throw new ClientError(StatusCodes.Status413PayloadTooLarge, $"the body has {request.ContentLength} bytes, more than the limit of {options.MaxRequestBodyBytes}.");
        JsonDocument document;
        try
        {
            document = await JsonDocument.ParseAsync(request.Body, new JsonDocumentOptions { MaxDepth = options.MaxJsonDepth }, cancellationToken).ConfigureAwait(false);
        }
        catch (JsonException e)
        {
            throw ClientError.Bad($"the body is not valid JSON (or is nested deeper than {options.MaxJsonDepth} levels): {e.Message}");
        }
        catch (BadHttpRequestException e)
        {
            // Kestrel's MaxRequestBodySize (413) or a malformed/incomplete body (400).
            throw new ClientError(e.StatusCode, e.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? $"the body is larger than the limit of {options.MaxRequestBodyBytes} bytes."
                : $"the body could not be read: {e.Message}");
        }
        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            var kind = document.RootElement.ValueKind;
            document.Dispose();
            throw ClientError.Bad($"the body must be a JSON object, got {kind}.");
        }
        return document;
    }

    private static bool IsJson(string contentType)
    {
        var media = contentType.Split(';', 2)[0].Trim();
        return media.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || (media.StartsWith("application/", StringComparison.OrdinalIgnoreCase) && media.EndsWith("+json", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>A v1 <c>:predict</c> (<paramref name="explain"/> false) or <c>:explain</c> body.</summary>
    public static V1Call ReadV1(JsonElement root, ServedModel model, ServeOptions options, bool explain)
    {
        foreach (var p in root.EnumerateObject())
            if (p.Name is not ("instances" or "parameters"))
                throw ClientError.Bad($"unknown field '{p.Name}'; a v1 body has 'instances' and 'parameters'.");
        var parameters = Parameters(root, explain ? ExplainParameters : PredictParameters);
        bool resize = Bool(parameters, "resize") ?? false;
        var settings = explain ? Settings(parameters) : MethodSettings.Predict;
        int? sharedTarget = explain && parameters.TryGetValue("target", out var shared) ? Target(shared, model, "parameters.target") : null;

        if (!root.TryGetProperty("instances", out var instances) || instances.ValueKind != JsonValueKind.Array)
            throw ClientError.Bad("the body needs 'instances': an array of images ({\"image\": {\"b64\": \"…\"}}) or tensors (nested arrays).");
        int count = instances.GetArrayLength();
        if (count == 0) throw ClientError.Bad("'instances' is empty.");
        if (count > options.MaxInstances)
            throw new ClientError(StatusCodes.Status413PayloadTooLarge, $"{count} instances in one request; the limit is {options.MaxInstances}.");
        var list = new List<Instance>(count);
        int index = 0;
        foreach (var instance in instances.EnumerateArray())
        {
            var (image, target) = ReadInstance(instance, model, resize, explain, $"instances[{index}]");
            list.Add(new Instance(image, target ?? sharedTarget));
            index++;
        }
        return new V1Call(list, settings, Timeout(parameters, options));
    }

    private static (float[] Image, int? Target) ReadInstance(JsonElement instance, ServedModel model, bool resize, bool explain, string where)
    {
        switch (instance.ValueKind)
        {
            case JsonValueKind.Array:
                return (Tensor(instance, model, where), null);
            case JsonValueKind.Object:
                float[]? image = null;
                int? target = null;
                foreach (var p in instance.EnumerateObject())
                {
                    switch (p.Name)
                    {
                        case "b64":
                            image = One(image, DecodeImage(p.Value, model, resize, $"{where}.b64"), where);
                            break;
                        case "image":
                            image = One(image, p.Value.ValueKind == JsonValueKind.Array
                                ? Tensor(p.Value, model, $"{where}.image")
                                : p.Value.ValueKind == JsonValueKind.Object && p.Value.TryGetProperty("b64", out var b64) && CountProperties(p.Value) == 1
                                    ? DecodeImage(b64, model, resize, $"{where}.image.b64")
                                    : throw ClientError.Bad($"{where}.image must be {{\"b64\": \"<PNG or JPEG as base64>\"}} or a tensor (nested arrays)."), where);
                            break;
                        case "tensor":
                            image = One(image, Tensor(p.Value, model, $"{where}.tensor"), where);
                            break;
                        case "target" when explain:
                            target = Target(p.Value, model, $"{where}.target");
                            break;
                        default:
                            throw ClientError.Bad($"unknown field '{p.Name}' in {where}; use 'image', 'b64' or 'tensor'{(explain ? " and 'target'" : "")}.");
                    }
                }
                return (image ?? throw ClientError.Bad($"{where} has no 'image', 'b64' or 'tensor'."), target);
            default:
                throw ClientError.Bad($"{where} must be an object ({{\"image\": {{\"b64\": …}}}}) or a tensor (nested arrays), got {instance.ValueKind}.");
        }
    }

    private static int CountProperties(JsonElement e)
    {
        int n = 0;
        foreach (var _ in e.EnumerateObject()) n++;
        return n;
    }

    private static float[] One(float[]? existing, float[] value, string where) =>
        existing is null ? value : throw ClientError.Bad($"{where} gives the image twice; give one of 'image', 'b64' and 'tensor'.");

    /// <summary>Base64 PNG/JPEG (any format ImageCodec reads) → model input in [0, 1], planar, at the model's size.</summary>
    private static float[] DecodeImage(JsonElement value, ServedModel model, bool resize, string where)
    {
        if (value.ValueKind != JsonValueKind.String) throw ClientError.Bad($"{where} must be a base64 string.");
        var text = value.GetString()!;
        var bytes = new byte[text.Length / 4 * 3 + 3];
        if (!Convert.TryFromBase64String(text, bytes, out int written))
            throw ClientError.Bad($"{where} is not valid base64.");
        ImageBuffer picture;
        try
        {
            picture = ImageCodec.Decode(bytes.AsSpan(0, written), ImageLimits.Default, where);
        }
        catch (ImageFormatException e)
        {
            throw ClientError.Bad(e.Message);
        }
        if (model.Preprocess is { } spec)
        {
            // The model's own spec (resize, crop, channel order, mean/std): the CLI's mechanism, not a second one here.
            try { return Preprocess.Apply(picture, spec, model.Channels, model.Height, model.Width).Input; }
            catch (PreprocessSpecException e) { throw ClientError.Unprocessable($"{where}: {e.Message}"); }
        }
        if (picture.Width != model.Width || picture.Height != model.Height)
        {
            if (!resize)
                throw ClientError.Unprocessable($"{where}: the image is {picture.Width}×{picture.Height} but model '{model.Name}' takes {model.Width}×{model.Height}; resize it or pass \"parameters\": {{\"resize\": true}}.");
            picture = ImageTransforms.ResizeAndCenterCrop(picture, model.Width, model.Height);
        }
        // Preprocessing: samples / 255, colour to BT.601 luma for a gray model or gray replicated for RGB (the CLI's default).
        return picture.ToPlanarFloats(model.Channels, AlphaMode.Drop);
    }

    /// <summary>
    /// A tensor instance as nested arrays of numbers: [C, H, W], [1, C, H, W], [H, W] for a gray model, or flat with
    /// C·H·W values. The shape is read from the first element at each level and checked before the buffer is made.
    /// </summary>
    private static float[] Tensor(JsonElement value, ServedModel model, string where)
    {
        var dims = Shape(value, where);
        var expected = new[] { model.Channels, model.Height, model.Width };
        var trimmed = dims.SkipWhile((d, i) => d == 1 && dims.Count - i > 3).ToArray();
        bool ok = trimmed.SequenceEqual(expected)
            || (model.Channels == 1 && trimmed.SequenceEqual(expected[1..]))
            || (dims.Count == 1 && dims[0] == model.InputSize);
        if (!ok)
            throw ClientError.Unprocessable($"{where} has shape [{string.Join(", ", dims)}]; model '{model.Name}' takes [{string.Join(", ", expected)}]" +
                (model.Channels == 1 ? $", [{model.Height}, {model.Width}]" : "") + $" or {model.InputSize} values.");
        var data = new float[model.InputSize];
        int filled = Fill(value, dims, 0, data, 0, where);
        if (filled != data.Length) throw ClientError.Bad($"{where} is not rectangular.");
        return data;
    }

    /// <summary>The dimensions of nested arrays, along the first element of each level.</summary>
    private static List<int> Shape(JsonElement value, string where)
    {
        var dims = new List<int>();
        var e = value;
        while (e.ValueKind == JsonValueKind.Array)
        {
            int n = e.GetArrayLength();
            if (n == 0) throw ClientError.Bad($"{where} has an empty array.");
            dims.Add(n);
            e = e[0];
        }
        if (e.ValueKind != JsonValueKind.Number) throw ClientError.Bad($"{where} must hold numbers, found {e.ValueKind}.");
        return dims;
    }

    private static int Fill(JsonElement e, List<int> dims, int level, float[] data, int offset, string where)
    {
        if (level == dims.Count)
        {
            if (e.ValueKind != JsonValueKind.Number || !e.TryGetSingle(out float v) || !float.IsFinite(v))
                throw ClientError.Bad($"{where}: every value must be a finite number, found {(e.ValueKind == JsonValueKind.Number ? e.GetRawText() : e.ValueKind.ToString())}.");
            data[offset] = v;
            return offset + 1;
        }
        if (e.ValueKind != JsonValueKind.Array || e.GetArrayLength() != dims[level])
            throw ClientError.Bad($"{where} is not rectangular: expected an array of {dims[level]} at depth {level + 1}.");
        foreach (var child in e.EnumerateArray()) offset = Fill(child, dims, level + 1, data, offset, where);
        return offset;
    }

    /// <summary>
    /// A v2 <c>/infer</c> body: one FP32 input of shape [N, C, H, W] (or [C, H, W] for one instance) with N·C·H·W
    /// values, flat or nested. Returns the instances and the requested output names (null: all).
    /// </summary>
    public static (List<Instance> Instances, string? Id, string[]? Outputs, TimeSpan? Timeout) ReadV2(JsonElement root, ServedModel model, ServeOptions options)
    {
        foreach (var p in root.EnumerateObject())
            if (p.Name is not ("id" or "inputs" or "outputs" or "parameters"))
                throw ClientError.Bad($"unknown field '{p.Name}'; a v2 inference request has 'id', 'inputs', 'outputs' and 'parameters'.");
        string? id = root.TryGetProperty("id", out var idValue)
            ? idValue.ValueKind == JsonValueKind.String ? idValue.GetString() : throw ClientError.Bad("'id' must be a string.")
            : null;
        var parameters = Parameters(root, InferParameters);
        if (!root.TryGetProperty("inputs", out var inputs) || inputs.ValueKind != JsonValueKind.Array || inputs.GetArrayLength() != 1)
            throw ClientError.Bad($"'inputs' must be an array with one tensor (the model's input '{model.InputName}').");
        var input = inputs[0];
        if (input.ValueKind != JsonValueKind.Object) throw ClientError.Bad("inputs[0] must be an object with name, shape, datatype and data.");
        foreach (var p in input.EnumerateObject())
            if (p.Name is not ("name" or "shape" or "datatype" or "data" or "parameters"))
                throw ClientError.Bad($"unknown field '{p.Name}' in inputs[0].");
        if (!input.TryGetProperty("datatype", out var datatype) || datatype.ValueKind != JsonValueKind.String || datatype.GetString() != "FP32")
            throw ClientError.Bad("inputs[0].datatype must be \"FP32\".");
        if (input.TryGetProperty("name", out var name) && (name.ValueKind != JsonValueKind.String || name.GetString() != model.InputName))
            throw ClientError.Bad($"inputs[0].name must be '{model.InputName}'.");
        if (!input.TryGetProperty("shape", out var shapeValue) || shapeValue.ValueKind != JsonValueKind.Array)
            throw ClientError.Bad("inputs[0].shape must be an array of integers.");
        var shape = new List<long>();
        foreach (var s in shapeValue.EnumerateArray())
            shape.Add(s.ValueKind == JsonValueKind.Number && s.TryGetInt64(out long dim) && dim > 0 ? dim : throw ClientError.Bad("inputs[0].shape must hold positive integers."));
        long[] image = [model.Channels, model.Height, model.Width];
        long count = shape.Count == 4 && shape.Skip(1).SequenceEqual(image) ? shape[0]
            : shape.Count == 3 && shape.SequenceEqual(image) ? 1
            : throw ClientError.Unprocessable($"inputs[0].shape [{string.Join(", ", shape)}] does not match the model's [N, {string.Join(", ", image)}].");
        if (count > options.MaxInstances)
            throw new ClientError(StatusCodes.Status413PayloadTooLarge, $"{count} instances in one request; the limit is {options.MaxInstances}.");
        if (!input.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Array)
            throw ClientError.Bad("inputs[0].data must be an array of numbers (flat, row-major, or nested).");
        int d = model.InputSize;
        // One buffer per instance, filled in place: the instances own their images (no flat copy to split).
        var images = new float[count][];
        for (int i = 0; i < count; i++) images[i] = new float[d];
        int written = Flatten(data, images, d, 0, "inputs[0].data");
        if (written != count * d)
            throw ClientError.Unprocessable($"inputs[0].data has {written} values; shape [{string.Join(", ", shape)}] needs {count * d}.");
        var list = images.Select(image => new Instance(image, null)).ToList();

        string[]? outputs = null;
        if (root.TryGetProperty("outputs", out var requested))
        {
            if (requested.ValueKind != JsonValueKind.Array) throw ClientError.Bad("'outputs' must be an array of {\"name\": …}.");
            outputs = requested.EnumerateArray().Select(o => o.ValueKind == JsonValueKind.Object && o.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String
                ? n.GetString()! : throw ClientError.Bad("each of 'outputs' must be {\"name\": \"…\"}.")).ToArray();
        }
        return (list, id, outputs, Timeout(parameters, options));
    }

    /// <summary>
    /// Copies nested arrays of numbers in row-major order into consecutive rows of <paramref name="d"/> values,
    /// refusing more values than the rows hold.
    /// </summary>
    private static int Flatten(JsonElement e, float[][] rows, int d, int offset, string where)
    {
        foreach (var child in e.EnumerateArray())
        {
            if (child.ValueKind == JsonValueKind.Array)
            {
                offset = Flatten(child, rows, d, offset, where);
                continue;
            }
            if (offset >= (long)rows.Length * d) throw ClientError.Unprocessable($"{where} has more values than its shape.");
            if (child.ValueKind != JsonValueKind.Number || !child.TryGetSingle(out float v) || !float.IsFinite(v))
                throw ClientError.Bad($"{where}: every value must be a finite number.");
            rows[offset / d][offset % d] = v;
            offset++;
        }
        return offset;
    }

    private static Dictionary<string, JsonElement> Parameters(JsonElement root, string[] allowed)
    {
        var result = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        if (!root.TryGetProperty("parameters", out var parameters) || parameters.ValueKind == JsonValueKind.Null) return result;
        if (parameters.ValueKind != JsonValueKind.Object) throw ClientError.Bad("'parameters' must be an object.");
        foreach (var p in parameters.EnumerateObject())
        {
            if (!allowed.Contains(p.Name))
                throw ClientError.Bad($"unknown parameter '{p.Name}'; this endpoint takes {string.Join(", ", allowed)}.");
            result[p.Name] = p.Value;
        }
        return result;
    }

    /// <summary>Longest layer name taken: the name is looked up in the graph and quoted back in the engine's errors.</summary>
    private const int MaxLayerName = 1024;

    /// <summary>
    /// The method and its parameters (<see cref="V1ExplainParameters"/>), type-checked here, with the values no method
    /// could use refused whatever the method (the engine ignores the parameters a method does not take); the ranges
    /// that depend on the method or the model, and the budget, are the engine's to check
    /// (<see cref="SaliencyRequestException"/> → 400, <see cref="BudgetExceededException"/> → 422).
    /// </summary>
    internal static MethodSettings Settings(Dictionary<string, JsonElement> p)
    {
        string method = Text(p, "method") ?? SaliencyMethods.Gradient;
        if (!SaliencyMethods.All.Contains(method))
            throw ClientError.Bad($"unknown method '{method}'; use one of {string.Join(", ", SaliencyMethods.All)}.");
        ulong seed = 0;
        if (p.TryGetValue("seed", out var seedValue) && seedValue.ValueKind != JsonValueKind.Null
            && !(seedValue.ValueKind == JsonValueKind.Number && seedValue.TryGetUInt64(out seed)))
            throw ClientError.Bad("parameters.seed must be a non-negative integer.");
        double? lambda1 = Number(p, "lambda1"), bound = Number(p, "bound_factor");
        if (lambda1 < 0) throw ClientError.Bad($"parameters.lambda1 must be ≥ 0, got {lambda1}.");
        if (bound is < 0 or > 1) throw ClientError.Bad($"parameters.bound_factor must lie in [0, 1], got {bound}.");
        int? samples = Positive(p, "samples"), top = Positive(p, "top_classes"), iterations = Positive(p, "max_iterations");
        string? layer = Text(p, "layer");
        if (layer is { Length: 0 or > MaxLayerName })
            throw ClientError.Bad($"parameters.layer must name a node or tensor of the model (1–{MaxLayerName} characters).");
        int? window = Positive(p, "window"), stride = Positive(p, "stride"), cell = Positive(p, "cell"), segments = Positive(p, "segments");
        bool superpixels = Bool(p, "superpixels") ?? false;
        int? channel = Integer(p, "channel");
        if (channel < 0) throw ClientError.Bad($"parameters.channel must be a non-negative score index, got {channel}.");
        return new MethodSettings(method, lambda1, samples, seed, bound, top, iterations)
        {
            Layer = layer, Window = window, Stride = stride, Cell = cell, Superpixels = superpixels, Segments = segments, Channel = channel,
        };
    }

    private static int? Target(JsonElement? value, ServedModel model, string where)
    {
        if (value is not JsonElement v || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int t)) throw ClientError.Bad($"{where} must be an integer class index.");
        if (t < 0 || t >= model.Classes) throw ClientError.Unprocessable($"{where} = {t} is outside 0..{model.Classes - 1}.");
        return t;
    }

    private static TimeSpan? Timeout(Dictionary<string, JsonElement> p, ServeOptions options)
    {
        int? ms = Integer(p, "timeout_ms");
        if (ms is null) return null;
        if (ms <= 0) throw ClientError.Unprocessable($"parameters.timeout_ms must be positive, got {ms}.");
        // A request may shorten its deadline, never extend the server's.
        var asked = TimeSpan.FromMilliseconds(ms.Value);
        return asked < options.RequestTimeout ? asked : options.RequestTimeout;
    }

    private static double? Number(Dictionary<string, JsonElement> p, string name) =>
        !p.TryGetValue(name, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double d) && double.IsFinite(d) ? d
        : throw ClientError.Bad($"parameters.{name} must be a finite number.");

    private static int? Integer(Dictionary<string, JsonElement> p, string name) =>
        !p.TryGetValue(name, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i) ? i
        : throw ClientError.Bad($"parameters.{name} must be an integer.");

    private static int? Positive(Dictionary<string, JsonElement> p, string name)
    {
        int? value = Integer(p, name);
        return value < 1 ? throw ClientError.Bad($"parameters.{name} must be a positive integer, got {value}.") : value;
    }

    private static string? Text(Dictionary<string, JsonElement> p, string name) =>
        !p.TryGetValue(name, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.String ? v.GetString()
        : throw ClientError.Bad($"parameters.{name} must be a string.");

    private static bool? Bool(Dictionary<string, JsonElement> p, string name) =>
        !p.TryGetValue(name, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean()
        : throw ClientError.Bad($"parameters.{name} must be true or false.");

}
