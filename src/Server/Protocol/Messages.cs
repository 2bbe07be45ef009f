using System.Text.Json;
using System.Text.Json.Serialization;

namespace Saliency.Server.Protocol;

// Bodies of the KServe v1 and Open Inference Protocol (v2) endpoints, serialised in snake_case. The request records
// describe the bodies for the OpenAPI document; the server reads requests with JsonDocument (RequestReader) so that
// depth, length and shape are checked before any tensor is allocated.

/// <summary>A KServe v1 request: instances (image {"b64": …} or tensor as nested arrays) and parameters.</summary>
internal sealed record V1Request(IReadOnlyList<JsonElement> Instances, IReadOnlyDictionary<string, JsonElement>? Parameters);

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

/// <summary>An Open Inference Protocol tensor (request input or response output).</summary>
internal sealed record V2Tensor(string Name, long[] Shape, string Datatype, JsonElement? Parameters, object Data);

/// <summary>An output the client asks for by name.</summary>
internal sealed record V2RequestedOutput(string Name);

/// <summary><c>POST /v2/models/{name}/infer</c>.</summary>
internal sealed record V2InferRequest(string? Id, IReadOnlyList<V2Tensor> Inputs, IReadOnlyList<V2RequestedOutput>? Outputs,
    IReadOnlyDictionary<string, JsonElement>? Parameters);

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
    };
}
