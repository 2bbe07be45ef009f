using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Logging;
using Saliency.Models.Classifiers;
using Saliency.Server.Inference;
using Saliency.Server.Protocol;
using Saliency.Server.Telemetry;

namespace Saliency.Server.Hosting;

/// <summary>
/// The HTTP endpoints, after KServe's v1 protocol (https://kserve.github.io/website/docs/concepts/architecture/data-plane/v1-protocol)
/// and the Open Inference Protocol v2 (https://github.com/kserve/open-inference-protocol). Every answer is JSON;
/// errors are <c>{"error": "…"}</c> with a 4xx status for the client's faults (docs/serve.md lists them), 503 with
/// Retry-After when the queue is full or the server is stopping, 504 when the deadline passed, 500 only for the
/// server's own faults.
/// </summary>
internal static class Endpoints
{
    internal sealed record Context(ModelCatalog Models, WorkScheduler Scheduler, ServerMetrics Metrics, PrometheusExporter Exporter,
        ServeOptions Options, ILogger Logger);

    /// <summary>Status written to the metrics for a request whose client went away (nginx's convention; nothing is sent).</summary>
    private const int ClientClosedRequest = 499;

    public static void Map(WebApplication app, Context c)
    {
        var v1 = app.MapGroup("/v1").WithTags("KServe v1");
        v1.MapGet("/models", () => TypedResults.Ok(new ModelList(c.Models.Names))).WithSummary("The served models' names.");
        v1.MapGet("/models/{name}", (string name) => c.Models.Find(name) is { } m
                ? Results.Ok(new V1ModelStatus(m.Name, c.Scheduler.Accepting))
                : Results.Json(new ErrorBody($"no model named '{name}'."), statusCode: 404))
            .WithSummary("Whether the model is ready.").Produces<V1ModelStatus>().Produces<ErrorBody>(404);
        v1.MapPost("/models/{name}:predict", (HttpContext h, string name) => Handle(h, c, "v1_predict", ct => V1Async(h, c, name, explain: false, ct)))
            .WithSummary("Class probabilities and logits of each instance (image as base64 PNG/JPEG or tensor).")
            .WithDescription(ParametersText(RequestReader.PredictParameters))
            .Accepts<V1PredictRequest>("application/json").Produces<V1PredictResponse>().Produces<ErrorBody>(400).Produces<ErrorBody>(503);
        v1.MapPost("/models/{name}:explain", (HttpContext h, string name) => Handle(h, c, "v1_explain", ct => V1Async(h, c, name, explain: true, ct)))
            .WithSummary("A saliency map of each instance with the method's report.")
            .WithDescription($"Methods: {string.Join(", ", SaliencyMethods.All)}. {ParametersText(RequestReader.ExplainParameters)}")
            .Accepts<V1ExplainRequest>("application/json").Produces<V1ExplainResponse>().Produces<ErrorBody>(400).Produces<ErrorBody>(503);

        var v2 = app.MapGroup("/v2").WithTags("Open Inference Protocol v2");
        v2.MapGet("", () => new V2ServerMetadata("saliency", typeof(SaliencyServer).Assembly.GetName().Version?.ToString() ?? "0", []))
            .WithSummary("Server metadata.");
        v2.MapGet("/health/live", () => TypedResults.Ok(new LiveBody(true))).WithSummary("The process answers.");
        v2.MapGet("/health/ready", () => c.Scheduler.Accepting
                ? Results.Ok(new ReadyBody(true))
                : Results.Json(new ReadyBody(false), statusCode: 503))
            .WithSummary("Models loaded and work accepted (503 while stopping).").Produces<ReadyBody>().Produces<ReadyBody>(503);
        v2.MapGet("/models/{name}", (string name) => c.Models.Find(name) is { } m
                ? Results.Ok(Metadata(m))
                : Results.Json(new ErrorBody($"no model named '{name}'."), statusCode: 404))
            .WithSummary("Model metadata: inputs and outputs.").Produces<V2ModelMetadata>().Produces<ErrorBody>(404);
        v2.MapGet("/models/{name}/ready", (string name) => c.Models.Find(name) is null
                ? Results.Json(new ErrorBody($"no model named '{name}'."), statusCode: 404)
                : c.Scheduler.Accepting ? Results.Ok(new ReadyBody(true)) : Results.Json(new ReadyBody(false), statusCode: 503))
            .WithSummary("Whether the model is ready.").Produces<ReadyBody>();
        v2.MapPost("/models/{name}/infer", (HttpContext h, string name) => Handle(h, c, "v2_infer", ct => V2Async(h, c, name, ct)))
            .WithSummary("Inference: one FP32 input [N, C, H, W]; outputs probabilities, logits and predicted_class.")
            .Accepts<V2InferRequest>("application/json").Produces<V2InferResponse>().Produces<ErrorBody>(400).Produces<ErrorBody>(503);

        app.MapGet("/metrics", () => Results.Text(c.Exporter.Render(), PrometheusExporter.ContentType))
            .WithTags("Monitoring").WithSummary("Prometheus text format.");
    }

    /// <summary>The description's list of parameters, from the list the reader accepts (so it cannot go stale).</summary>
    private static string ParametersText(IEnumerable<string> names) =>
        $"Parameters (all optional; others are refused with 400): {string.Join(", ", names)}.";

    /// <summary>The message for a status that routing answered without a body.</summary>
    internal static string RoutingMessage(int status) => status switch
    {
        StatusCodes.Status404NotFound => "no such endpoint; see /openapi/v1.json.",
        StatusCodes.Status405MethodNotAllowed => "this endpoint does not take that HTTP method; see /openapi/v1.json.",
        StatusCodes.Status415UnsupportedMediaType => "the body must be JSON (Content-Type: application/json).",
        _ => ReasonPhrases.GetReasonPhrase(status),
    };

    private static V2ModelMetadata Metadata(ServedModel m) => new(m.Name, ["1"], "onnxruntime_onnx",
        [new V2TensorMetadata(m.InputName, "FP32", [-1, m.Channels, m.Height, m.Width])],
        [new V2TensorMetadata("probabilities", "FP32", [-1, m.Classes]), new V2TensorMetadata(m.OutputName, "FP32", [-1, m.Classes]),
         new V2TensorMetadata("predicted_class", "INT64", [-1])]);

    /// <summary>Runs a work endpoint: deadline, error mapping, metrics.</summary>
    private static async Task<IResult> Handle(HttpContext h, Context c, string endpoint, Func<CancellationTokenSource, Task<IResult>> body)
    {
        long start = Stopwatch.GetTimestamp();
        h.Items[StartKey] = start;
        int status = StatusCodes.Status200OK;
        // The request's deadline, from its arrival; the client's disconnect cancels it too.
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(h.RequestAborted);
        deadline.CancelAfter(c.Options.RequestTimeout);
        try
        {
            var result = await body(deadline).ConfigureAwait(false);
            status = (result as IStatusCodeHttpResult)?.StatusCode ?? StatusCodes.Status200OK;
            return result;
        }
        catch (OperationCanceledException) when (h.RequestAborted.IsCancellationRequested)
        {
            status = ClientClosedRequest;
            return Results.Empty;
        }
        catch (Exception e)
        {
            (status, string message) = Classify(e, deadline.IsCancellationRequested, c);
            if (status == StatusCodes.Status503ServiceUnavailable)
                h.Response.Headers.RetryAfter = c.Options.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (status >= 500 && status != 503 && status != 504)
                c.Logger.LogError(e, "{Endpoint} failed", endpoint);
            return Results.Json(new ErrorBody(message), Json.Options, statusCode: status);
        }
        finally
        {
            c.Metrics.Request(endpoint, status, Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
    }

    /// <summary>Status and message for an exception: the client's faults are 4xx, never 5xx.</summary>
    private static (int Status, string Message) Classify(Exception e, bool deadlinePassed, Context c) => e switch
    {
        ClientError ce => (ce.Status, ce.Message),
        Unavailable u => (StatusCodes.Status503ServiceUnavailable, u.Message),
        OperationCanceledException when deadlinePassed => (StatusCodes.Status504GatewayTimeout,
            $"the request's deadline passed ({c.Options.RequestTimeout.TotalSeconds:0.###} s at most, or parameters.timeout_ms) before its work finished."),
        OperationCanceledException => (StatusCodes.Status503ServiceUnavailable, "the server is stopping; retry elsewhere or later."),
        // The engine's typed refusals, raised before anything was allocated or run.
        BudgetExceededException => (StatusCodes.Status422UnprocessableEntity, e.Message),
        ModelNotFoundException => (StatusCodes.Status404NotFound, e.Message),
        SaliencyRequestException or ArgumentException => (StatusCodes.Status400BadRequest, e.Message),
        ClassifierOutputException => (StatusCodes.Status422UnprocessableEntity, $"the model gives no finite scores for this input: {e.Message}"),
        _ => (StatusCodes.Status500InternalServerError, "internal error; the server log has the details."),
    };

    /// <summary>Refusal of new work: the queue is full or the server is stopping (503 with Retry-After).</summary>
    private sealed class Unavailable(string message) : Exception(message);

    private static async Task<IResult> V1Async(HttpContext h, Context c, string name, bool explain, CancellationTokenSource deadline)
    {
        var model = Find(c, name);
        using var document = await RequestReader.ReadJsonAsync(h.Request, c.Options, deadline.Token).ConfigureAwait(false);
        var call = RequestReader.ReadV1(document.RootElement, model, c.Options, explain);
        Shorten(deadline, h, call.Timeout);
        var results = await RunAsync(c, deadline, token => call.Instances.Select(i => explain
            ? (WorkItem)new ExplainItem(model, i.Image, i.Target, call.Settings, token)
            : new PredictItem(model, i.Image, token)).ToArray()).ConfigureAwait(false);
        if (!explain)
            return Results.Json(new V1PredictResponse(results.Cast<PredictionResult>()
                .Select(p => new V1Prediction(p.PredictedClass, p.Probabilities, p.Logits)).ToArray()), Json.Options);
        return Results.Json(new V1ExplainResponse(results.Cast<ExplainResult>().Select(ToBody).ToArray()), Json.Options);
    }

    private static async Task<IResult> V2Async(HttpContext h, Context c, string name, CancellationTokenSource deadline)
    {
        var model = Find(c, name);
        using var document = await RequestReader.ReadJsonAsync(h.Request, c.Options, deadline.Token).ConfigureAwait(false);
        var (instances, id, requested, timeout) = RequestReader.ReadV2(document.RootElement, model, c.Options);
        string[] available = ["probabilities", model.OutputName, "predicted_class"];
        if (requested?.FirstOrDefault(r => !available.Contains(r)) is string unknown)
            throw ClientError.Bad($"unknown output '{unknown}'; this model has {string.Join(", ", available)}.");
        Shorten(deadline, h, timeout);
        var results = (await RunAsync(c, deadline, token => instances.Select(i => (WorkItem)new PredictItem(model, i.Image, token)).ToArray())
            .ConfigureAwait(false)).Cast<PredictionResult>().ToArray();
        long n = results.Length;
        var outputs = new List<V2Output>();
        foreach (var output in requested ?? available)
        {
            if (output == "predicted_class")
                outputs.Add(new V2Output(output, [n], "INT64", results.Select(r => (long)r.PredictedClass).ToArray()));
            else
                outputs.Add(new V2Output(output, [n, model.Classes], "FP32",
                    results.SelectMany(r => (output == "probabilities" ? r.Probabilities : r.Logits).ToArray()).ToArray()));
        }
        return Results.Json(new V2InferResponse(model.Name, "1", id, outputs), Json.Options);
    }

    private static ServedModel Find(Context c, string name) =>
        c.Models.Find(name) ?? throw new ClientError(StatusCodes.Status404NotFound, $"no model named '{name}'; GET /v1/models lists them.");

    /// <summary>Applies a shorter deadline asked for in the body; the time since the request's arrival counts.</summary>
    private static void Shorten(CancellationTokenSource deadline, HttpContext h, TimeSpan? timeout)
    {
        if (timeout is not TimeSpan t) return;
        var elapsed = h.Items[StartKey] is long start ? Stopwatch.GetElapsedTime(start) : TimeSpan.Zero;
        var left = t - elapsed;
        if (left <= TimeSpan.Zero) deadline.Cancel();
        else deadline.CancelAfter(left);
    }

    private const string StartKey = "saliency.start";

    /// <summary>
    /// Queues every instance of a request and waits for all of them. All or nothing: when one instance finds the queue
    /// full, the ones already queued are cancelled (dropped unread) and the request gets 503 at once.
    /// </summary>
    private static async Task<object[]> RunAsync(Context c, CancellationTokenSource deadline, Func<CancellationToken, WorkItem[]> make)
    {
        var items = make(deadline.Token);
        for (int i = 0; i < items.Length; i++)
        {
            if (c.Scheduler.TryEnqueue(items[i])) continue;
            deadline.Cancel();
            c.Metrics.Rejected(items.Length);
            throw new Unavailable(c.Scheduler.Accepting
                ? $"the work queue is full ({c.Options.QueueCapacity} instances); retry after {c.Options.RetryAfterSeconds} s."
                : "the server is stopping; retry elsewhere or later.");
        }
        try
        {
            return await Task.WhenAll(items.Select(i => i.Completion.Task)).WaitAsync(deadline.Token).ConfigureAwait(false);
        }
        catch
        {
            deadline.Cancel(); // the siblings of a failed instance are not needed any more
            throw;
        }
    }

    private static V1Explanation ToBody(ExplainResult r)
    {
        var m = r.Map;
        var values = m.Values.Span;
        var map = new float[m.Channels][][];
        for (int ch = 0; ch < m.Channels; ch++)
        {
            map[ch] = new float[m.Height][];
            for (int y = 0; y < m.Height; y++)
                map[ch][y] = values.Slice((ch * m.Height + y) * m.Width, m.Width).ToArray();
        }
        return new V1Explanation(r.Method, r.Target, r.PredictedClass, r.Probabilities.Span[r.Target], r.Probabilities,
            [m.Channels, m.Height, m.Width], map, r.Report);
    }
}
