using System.ComponentModel;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Saliency.Server.Protocol;

// Bodies of the KServe v1 and Open Inference Protocol (v2) endpoints, serialised in snake_case. The request records
// describe the bodies for the OpenAPI document; the server reads requests with JsonDocument (RequestReader) so that
// depth, length and shape are checked before any tensor is allocated.

/// <summary>A KServe v1 <c>:predict</c> request: instances (image {"b64": …} or tensor as nested arrays) and parameters.</summary>
internal sealed record V1PredictRequest
{
    /// <summary>Images <c>{"image": {"b64": …}}</c>, <c>{"b64": …}</c>, <c>{"tensor": …}</c> or tensors (nested arrays).</summary>
    [Description("Images {\"image\": {\"b64\": …}}, {\"b64\": …}, {\"image\": tensor}, {\"tensor\": tensor} or bare tensors (nested arrays [C, H, W], [1, C, H, W], [H, W] or flat).")]
    public required IReadOnlyList<JsonElement> Instances { get; init; }

    public V1PredictParameters? Parameters { get; init; }
}

/// <summary>A KServe v1 <c>:explain</c> request: as <see cref="V1PredictRequest"/>, and an instance may carry its own "target".</summary>
internal sealed record V1ExplainRequest
{
    [Description("As for :predict; an object instance may also carry its own \"target\" (class index).")]
    public required IReadOnlyList<JsonElement> Instances { get; init; }

    public V1ExplainParameters? Parameters { get; init; }
}

// The parameter records are the catalogue of the parameters: RequestReader accepts exactly their JSON names
// (Json.PropertyNames) and the OpenAPI document is generated from them, so the two cannot drift apart. Every
// parameter may be absent or null (the default). The ranges are checked by RequestReader and the engine.

/// <summary>The parameters of <c>:predict</c>.</summary>
internal sealed record V1PredictParameters
{
    [Description("Scale the shorter side to cover the model's size, then center-crop (images only; default false).")]
    public bool? Resize { get; init; }

    [Description("A shorter deadline than the server's, in milliseconds (never a longer one).")]
    public int? TimeoutMs { get; init; }
}

/// <summary>The parameters of <c>:explain</c>: <see cref="ExplainRequest"/>'s names in snake_case, plus resize and timeout_ms.</summary>
internal sealed record V1ExplainParameters
{
    [Description("The method; default gradient.")]
    public string? Method { get; init; }

    [Description("The class to explain (default: the predicted class); an instance's own \"target\" overrides it.")]
    public int? Target { get; init; }

    [Description("cafo, caso, smooth-cafo, smooth-caso: a fixed λ1 ≥ 0 (default: the sparsity sweep).")]
    public double? Lambda1 { get; init; }

    [Description("Sampling methods: model evaluations (LEG n, SmoothGrad copies, IG steps, LIME/Kernel SHAP samples, smooth-caso copies); default per method.")]
    public int? Samples { get; init; }

    [Description("Seed of the sampling methods (non-negative integer, default 0).")]
    public ulong? Seed { get; init; }

    [Description("leg-tv: K_L of the bound L = K_L · L_max, in [0, 1] (default 0.1).")]
    public double? BoundFactor { get; init; }

    [Description("cafo, caso, smooth-cafo, smooth-caso: keep the k most probable classes (plus the target).")]
    public int? TopClasses { get; init; }

    [Description("Solver iteration cap (FISTA per λ1, PDHG per LP).")]
    public int? MaxIterations { get; init; }

    [Description("Explain this one output score alone, as score vs. rest (a feature channel; a multi-label model's labels are explained this way through target); target must then be absent.")]
    public int? Channel { get; init; }

    [Description("gradcam: the layer (node or tensor name); default the last Conv/activation output of at least 2×2.")]
    public string? Layer { get; init; }

    [Description("occlusion: the window side in pixels (default 4).")]
    public int? Window { get; init; }

    [Description("occlusion: the step between windows (default half the window, at least 1).")]
    public int? Stride { get; init; }

    [Description("lime (grid), kernelshap: the grid cell side in pixels (default 4 for lime, 7 for kernelshap).")]
    public int? Cell { get; init; }

    [Description("lime: SLIC superpixels instead of grid cells (default false).")]
    public bool? Superpixels { get; init; }

    [Description("lime with superpixels: SLIC's target number of superpixels K (default 50).")]
    public int? Segments { get; init; }

    [Description("Scale the shorter side to cover the model's size, then center-crop (images only; default false).")]
    public bool? Resize { get; init; }

    [Description("A shorter deadline than the server's, in milliseconds (never a longer one).")]
    public int? TimeoutMs { get; init; }
}

/// <summary>The answer of <c>:predict</c>.</summary>
internal sealed record V1PredictResponse(IReadOnlyList<V1Prediction> Predictions);

/// <summary>One instance's prediction.</summary>
internal sealed record V1Prediction([property: JsonPropertyName("class")] int Class, ReadOnlyMemory<float> Probabilities, ReadOnlyMemory<float> Logits);

/// <summary>The answer of <c>:explain</c>.</summary>
internal sealed record V1ExplainResponse(IReadOnlyList<V1Explanation> Explanations);

/// <summary>
/// One instance's explanation: the signed map [C][H][W] on the method's grid, the explained and predicted classes,
/// the probabilities, and the method's report (typed per method).
/// </summary>
internal sealed record V1Explanation(string Method, int Target, int PredictedClass, float TargetProbability, ReadOnlyMemory<float> Probabilities,
    int[] MapShape, float[][][] Map, ExplanationReport? Report);

/// <summary><c>GET /v1/models</c>.</summary>
internal sealed record ModelList(IReadOnlyList<string> Models);

/// <summary><c>GET /v1/models/{name}</c>.</summary>
internal sealed record V1ModelStatus(string Name, bool Ready);

/// <summary>An error answer, as KServe and the Open Inference Protocol write it.</summary>
internal sealed record ErrorBody(string Error);

/// <summary>An Open Inference Protocol input tensor: FP32, [N, C, H, W] or [C, H, W], data flat row-major or nested.</summary>
internal sealed record V2Tensor
{
    [Description("The model's input name (GET /v2/models/{name}); optional.")]
    public string? Name { get; init; }

    public required long[] Shape { get; init; }

    [Description("\"FP32\".")]
    public required string Datatype { get; init; }

    public JsonElement? Parameters { get; init; }

    public required IReadOnlyList<JsonElement> Data { get; init; }
}

/// <summary>An output the client asks for by name.</summary>
internal sealed record V2RequestedOutput(string Name);

/// <summary><c>POST /v2/models/{name}/infer</c>: one input tensor; all three outputs unless <see cref="Outputs"/> names some.</summary>
internal sealed record V2InferRequest
{
    public string? Id { get; init; }

    public required IReadOnlyList<V2Tensor> Inputs { get; init; }

    public IReadOnlyList<V2RequestedOutput>? Outputs { get; init; }

    public V2InferParameters? Parameters { get; init; }
}

/// <summary>The parameters of <c>/infer</c> (the catalogue RequestReader accepts, as for v1).</summary>
internal sealed record V2InferParameters
{
    [Description("A shorter deadline than the server's, in milliseconds (never a longer one).")]
    public int? TimeoutMs { get; init; }
}

/// <summary>The answer of <c>/infer</c>.</summary>
internal sealed record V2InferResponse(string ModelName, string ModelVersion, string? Id, IReadOnlyList<V2Output> Outputs);

/// <summary>One output tensor, row-major data.</summary>
internal sealed record V2Output(string Name, long[] Shape, string Datatype, Array Data);

/// <summary>Tensor metadata in <c>GET /v2/models/{name}</c>.</summary>
internal sealed record V2TensorMetadata(string Name, string Datatype, long[] Shape);

/// <summary><c>GET /v2/models/{name}</c>.</summary>
internal sealed record V2ModelMetadata(string Name, IReadOnlyList<string> Versions, string Platform,
    IReadOnlyList<V2TensorMetadata> Inputs, IReadOnlyList<V2TensorMetadata> Outputs);

/// <summary><c>GET /v2</c>.</summary>
internal sealed record V2ServerMetadata(string Name, string Version, IReadOnlyList<string> Extensions);

/// <summary><c>/v2/health/live</c>.</summary>
internal sealed record LiveBody(bool Live);

/// <summary><c>/v2/health/ready</c> and <c>/v2/models/{name}/ready</c>.</summary>
internal sealed record ReadyBody(bool Ready);

internal static class Json
{
    /// <summary>snake_case, as KServe and the Open Inference Protocol name fields.</summary>
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        // Solver statuses as names ("Converged"), not numbers.
        Converters = { new JsonStringEnumConverter() },
        // Messages quote names ('lenet') and use × and λ: JSON needs no escapes for them (these bodies are never HTML).
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        // Requests are read with JsonDocument, which takes numbers only as numbers: the OpenAPI schemas must say so.
        NumberHandling = JsonNumberHandling.Strict,
        // Reflection metadata, also for PropertyNames before anything was serialised.
        TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver(),
    };

    /// <summary>
    /// The same settings for ASP.NET Core's own serialisation, from which Microsoft.AspNetCore.OpenApi generates the
    /// schemas: the document then names the fields as the bodies do (snake_case).
    /// </summary>
    public static void Configure(JsonSerializerOptions target)
    {
        target.PropertyNamingPolicy = Options.PropertyNamingPolicy;
        target.DefaultIgnoreCondition = Options.DefaultIgnoreCondition;
        target.NumberHandling = Options.NumberHandling;
        target.Encoder = Options.Encoder;
        foreach (var converter in Options.Converters) target.Converters.Add(converter);
    }

    /// <summary>The JSON names of <typeparamref name="T"/>'s properties, in declaration order.</summary>
    public static string[] PropertyNames<T>() => Options.GetTypeInfo(typeof(T)).Properties.Select(p => p.Name).ToArray();
}
