using System.Text.Json;
using System.Text.Json.Serialization;

namespace Saliency.Server.Protocol;

// Bodies of the KServe v1 and Open Inference Protocol (v2) endpoints, serialised in snake_case. The request records
// describe the bodies for the OpenAPI document; the server reads requests with JsonDocument (RequestReader) so that
// depth, length and shape are checked before any tensor is allocated.

/// <summary>A KServe v1 request: instances (image {"b64": …} or tensor as nested arrays) and parameters.</summary>
public sealed record V1Request(IReadOnlyList<JsonElement> Instances, IReadOnlyDictionary<string, JsonElement>? Parameters);

/// <summary>The answer of <c>:predict</c>.</summary>
public sealed record V1PredictResponse(IReadOnlyList<Prediction> Predictions);

/// <summary>One instance's prediction.</summary>
public sealed record Prediction([property: JsonPropertyName("class")] int Class, float[] Probabilities, float[] Logits);

/// <summary>The answer of <c>:explain</c>.</summary>
public sealed record V1ExplainResponse(IReadOnlyList<ExplanationBody> Explanations);

/// <summary>
/// One instance's explanation: the signed map [C][H][W] on the method's grid, the explained and predicted classes,
/// the probabilities, and the method's report (typed per method).
/// </summary>
public sealed record ExplanationBody(string Method, int Target, int PredictedClass, float TargetProbability, float[] Probabilities,
    int[] MapShape, float[][][] Map, object Report);

/// <summary><c>GET /v1/models</c>.</summary>
public sealed record ModelList(IReadOnlyList<string> Models);

/// <summary><c>GET /v1/models/{name}</c>.</summary>
public sealed record V1ModelStatus(string Name, bool Ready);

/// <summary>An error answer, as KServe and the Open Inference Protocol write it.</summary>
public sealed record ErrorBody(string Error);

/// <summary>An Open Inference Protocol tensor (request input or response output).</summary>
public sealed record V2Tensor(string Name, long[] Shape, string Datatype, JsonElement? Parameters, object Data);

/// <summary>An output the client asks for by name.</summary>
public sealed record V2RequestedOutput(string Name);

/// <summary><c>POST /v2/models/{name}/infer</c>.</summary>
public sealed record V2InferRequest(string? Id, IReadOnlyList<V2Tensor> Inputs, IReadOnlyList<V2RequestedOutput>? Outputs,
    IReadOnlyDictionary<string, JsonElement>? Parameters);

/// <summary>The answer of <c>/infer</c>.</summary>
public sealed record V2InferResponse(string ModelName, string ModelVersion, string? Id, IReadOnlyList<V2Output> Outputs);

/// <summary>One output tensor, row-major data.</summary>
public sealed record V2Output(string Name, long[] Shape, string Datatype, Array Data);

/// <summary>Tensor metadata in <c>GET /v2/models/{name}</c>.</summary>
public sealed record V2TensorMetadata(string Name, string Datatype, long[] Shape);

/// <summary><c>GET /v2/models/{name}</c>.</summary>
public sealed record V2ModelMetadata(string Name, IReadOnlyList<string> Versions, string Platform,
    IReadOnlyList<V2TensorMetadata> Inputs, IReadOnlyList<V2TensorMetadata> Outputs);

/// <summary><c>GET /v2</c>.</summary>
public sealed record V2ServerMetadata(string Name, string Version, IReadOnlyList<string> Extensions);

/// <summary><c>/v2/health/live</c>.</summary>
public sealed record LiveBody(bool Live);

/// <summary><c>/v2/health/ready</c> and <c>/v2/models/{name}/ready</c>.</summary>
public sealed record ReadyBody(bool Ready);

internal static class Json
{
    /// <summary>snake_case, as KServe and the Open Inference Protocol name fields.</summary>
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };
}
