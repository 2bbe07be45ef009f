using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using NUnit.Framework;
using Saliency.Explainers;
using Saliency.Imaging;
using Saliency.Models.Classifiers;
using Saliency.Models.Data;
using Saliency.Models.Runtime;
using Saliency.TestSupport;

namespace Saliency.Server.Tests;

/// <summary>
/// The endpoints on a real Kestrel: answers checked against oracles outside the server — an independent ONNX
/// Runtime session for logits, softmax in float64, central finite differences for the gradient, the library's
/// explainer called directly for CASO — and every client fault mapped to its 4xx.
/// </summary>
[TestFixture]
internal class ProtocolTests
{
    private ServerHarness _server = null!;
    private DigitSet _digits = null!;
    private InferenceSession _reference = null!;

    [OneTimeSetUp]
    public async Task Start()
    {
        _server = await ServerHarness.StartAsync();
        _digits = DigitSet.Load(RepoFiles.DigitImages, RepoFiles.DigitLabels);
        _reference = InferenceSession.Create(RepoFiles.LeNetModel);
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        _reference.Dispose();
        await _server.DisposeAsync();
    }

    /// <summary>Logits of one image from a session of our own (batch 1): the oracle for the server's forward runs.</summary>
    private float[] ReferenceLogits(float[] image)
    {
        var name = _reference.Inputs[0].Name;
        return _reference.Run([new FloatTensor(name, image, [1, 1, 28, 28])], [_reference.Outputs[0].Name])[0].Data;
    }

    private static float[] Floats(JsonNode? array) => array!.AsArray().Select(v => v!.GetValue<float>()).ToArray();

    private static void AssertSoftmax(float[] logits, float[] probabilities)
    {
        // float64 softmax with the max subtracted, the oracle for the probabilities.
        double max = logits.Max();
        var e = logits.Select(l => Math.Exp(l - max)).ToArray();
        double sum = e.Sum();
        for (int c = 0; c < logits.Length; c++)
            Assert.That(probabilities[c], Is.EqualTo(e[c] / sum).Within(1e-6), $"class {c}");
    }

    [Test]
    public async Task V2InferOfABatchMatchesAnIndependentSessionImageByImage()
    {
        const int n = 5;
        var batch = _digits.Batch(0, n);
        var body = "{\"id\":\"t1\",\"inputs\":[{\"name\":\"input\",\"shape\":[5,1,28,28],\"datatype\":\"FP32\",\"data\":["
                   + string.Join(',', batch.Select(v => v.ToString("R", CultureInfo.InvariantCulture))) + "]}]}";
        var (status, json) = await _server.PostJsonAsync("/v2/models/lenet/infer", body);

        Assert.That(status, Is.EqualTo(200), json?.ToJsonString());
        Assert.That(json!["id"]!.GetValue<string>(), Is.EqualTo("t1"));
        var outputs = json["outputs"]!.AsArray().ToDictionary(o => o!["name"]!.GetValue<string>(), o => o!);
        var logits = Floats(outputs["logits"]["data"]);
        var probabilities = Floats(outputs["probabilities"]["data"]);
        var classes = outputs["predicted_class"]["data"]!.AsArray().Select(v => v!.GetValue<long>()).ToArray();
        Assert.That(outputs["logits"]["shape"]!.AsArray().Select(v => v!.GetValue<long>()), Is.EqualTo(new long[] { n, 10 }));
        for (int i = 0; i < n; i++)
        {
            var expected = ReferenceLogits(batch.AsSpan(i * 784, 784).ToArray());
            Assert.That(logits.AsSpan(i * 10, 10).ToArray(), Is.EqualTo(expected).Within(1e-4), $"image {i}");
            AssertSoftmax(logits.AsSpan(i * 10, 10).ToArray(), probabilities.AsSpan(i * 10, 10).ToArray());
            Assert.That(classes[i], Is.EqualTo(Array.IndexOf(expected, expected.Max())));
        }
    }

    [Test]
    public async Task V1PredictGivesTheSameAnswerForAPngAndForTheTensor()
    {
        var image = _digits.ImageFloats(3);
        var png = ImageCodec.EncodePng(ImageBuffer.FromFloats(28, 28, PixelFormat.Gray, image));
        var (s1, fromPng) = await _server.PostJsonAsync("/v1/models/lenet:predict", Bodies.Image(png));
        var (s2, fromTensor) = await _server.PostJsonAsync("/v1/models/lenet:predict", Bodies.Tensor(image));

        Assert.That((s1, s2), Is.EqualTo((200, 200)));
        var expected = ReferenceLogits(image);
        foreach (var json in new[] { fromPng!, fromTensor! })
        {
            var p = json["predictions"]![0]!;
            Assert.That(Floats(p["logits"]), Is.EqualTo(expected).Within(1e-4));
            AssertSoftmax(Floats(p["logits"]), Floats(p["probabilities"]));
            Assert.That(p["class"]!.GetValue<int>(), Is.EqualTo(Array.IndexOf(expected, expected.Max())));
        }
    }

    [Test]
    public async Task ConcurrentPredictionsShareBatchesAndEachGetsItsOwnAnswer()
    {
        // One worker and a long batch delay, so that requests sent together meet in the queue.
        await using var server = await ServerHarness.StartAsync(o => o with { Workers = 1, MaxBatch = 16, MaxBatchDelay = TimeSpan.FromMilliseconds(500) });
        const int n = 32;
        var answers = await Task.WhenAll(Enumerable.Range(0, n).Select(i => server.PostJsonAsync("/v1/models/lenet:predict", Bodies.Tensor(_digits.ImageFloats(i)))));
        for (int i = 0; i < n; i++)
        {
            Assert.That(answers[i].Status, Is.EqualTo(200));
            Assert.That(Floats(answers[i].Body!["predictions"]![0]!["logits"]), Is.EqualTo(ReferenceLogits(_digits.ImageFloats(i))).Within(1e-4), $"request {i}");
        }
        var metrics = await server.MetricsAsync();
        double batches = metrics["saliency_server_batch_size_count{kind=\"predict\"}"];
        double instances = metrics["saliency_server_batch_size_sum{kind=\"predict\"}"];
        TestContext.Out.WriteLine($"{instances} instances in {batches} batches");
        Assert.That(instances, Is.EqualTo(n));
        Assert.That(batches, Is.LessThan(n), "no two requests shared a batch");
    }

    [Test]
    public async Task EveryBatchWaitsItsDelayNotOnlyTheFirst()
    {
        await using var server = await ServerHarness.StartAsync(o => o with { Workers = 1, MaxBatch = 8, MaxBatchDelay = TimeSpan.FromMilliseconds(800) });
        // A lone request: its batch waits out the whole delay.
        Assert.That((await server.PostJsonAsync("/v1/models/lenet:predict", Bodies.Tensor(_digits.ImageFloats(0)))).Status, Is.EqualTo(200));
        // Then four requests 50 ms apart: the first one's batch must wait for the others again.
        var wave = new List<Task<(int Status, System.Text.Json.Nodes.JsonNode? Body)>>();
        for (int i = 0; i < 4; i++)
        {
            wave.Add(server.PostJsonAsync("/v1/models/lenet:predict", Bodies.Tensor(_digits.ImageFloats(i + 1))));
            await Task.Delay(50);
        }
        Assert.That((await Task.WhenAll(wave)).Select(a => a.Status), Is.All.EqualTo(200));
        var metrics = await server.MetricsAsync();
        double batches = metrics["saliency_server_batch_size_count{kind=\"predict\"}"];
        TestContext.Out.WriteLine($"{batches} batches for 5 requests");
        Assert.That(batches, Is.LessThan(5), "the second wave was not batched: the delay only held for the first batch");
    }

    [Test]
    public async Task BatchedExplanationsKeepEachInstancesTargetAndMap()
    {
        // One worker and a long delay: the concurrent requests meet in batches; each must still get its own target's map,
        // equal to the library's explainer on that image alone.
        await using var server = await ServerHarness.StartAsync(o => o with { Workers = 1, MaxBatch = 8, MaxBatchDelay = TimeSpan.FromMilliseconds(500) });
        const int n = 8;
        var answers = await Task.WhenAll(Enumerable.Range(0, n).Select(i => server.PostJsonAsync("/v1/models/lenet:explain",
            Bodies.Tensor(_digits.ImageFloats(i), i % 2 == 0 ? $"{{\"method\":\"gradient\",\"target\":{i}}}" : "{\"method\":\"gradient\"}"))));
        using var classifier = OnnxClassifier.Create(RepoFiles.LeNetModel);
        for (int i = 0; i < n; i++)
        {
            Assert.That(answers[i].Status, Is.EqualTo(200), answers[i].Body?.ToJsonString());
            var e = answers[i].Body!["explanations"]![0]!;
            var expected = new GradientExplainer().Explain(classifier, _digits.ImageFloats(i), i % 2 == 0 ? i : null);
            Assert.That(e["target"]!.GetValue<int>(), Is.EqualTo(expected.Target), $"request {i}");
            Assert.That(e["map"]![0]!.AsArray().SelectMany(row => Floats(row)).ToArray(), Is.EqualTo(expected.Map.Values).Within(1e-5), $"request {i}");
        }
        var metrics = await server.MetricsAsync();
        Assert.That(metrics["saliency_server_batch_size_sum{kind=\"explain\"}"], Is.EqualTo(n));
        Assert.That(metrics["saliency_server_batch_size_count{kind=\"explain\"}"], Is.LessThan(n), "no two requests shared a batch");
    }

    [Test]
    public async Task OcclusionThroughTheEngineEqualsTheExplainer()
    {
        // The server takes any engine method: occlusion (default 4-pixel windows, stride 2) equals the explainer called directly.
        var image = _digits.ImageFloats(3);
        var (status, json) = await _server.PostJsonAsync("/v1/models/lenet:explain", Bodies.Tensor(image, "{\"method\":\"occlusion\"}"));
        Assert.That(status, Is.EqualTo(200), json?.ToJsonString());
        using var classifier = OnnxClassifier.Create(RepoFiles.LeNetModel);
        var expected = new OcclusionExplainer(new OcclusionOptions { Window = 4, Stride = 2 }).Explain(classifier, image, null);
        var e = json!["explanations"]![0]!;
        Assert.That(e["target"]!.GetValue<int>(), Is.EqualTo(expected.Target));
        Assert.That(e["map"]![0]!.AsArray().SelectMany(row => Floats(row)).ToArray(), Is.EqualTo(expected.Map.Values).Within(1e-5));
    }

    [Test]
    public async Task GradientMapMatchesCentralFiniteDifferencesOfTheTargetLogit()
    {
        var image = _digits.ImageFloats(7);
        const int target = 4; // not the predicted class: the target must be honoured
        var (status, json) = await _server.PostJsonAsync("/v1/models/lenet:explain", Bodies.Tensor(image, "{\"method\":\"gradient\",\"target\":4}"));

        Assert.That(status, Is.EqualTo(200), json?.ToJsonString());
        var e = json!["explanations"]![0]!;
        Assert.That(e["target"]!.GetValue<int>(), Is.EqualTo(target));
        Assert.That(e["map_shape"]!.AsArray().Select(v => v!.GetValue<int>()), Is.EqualTo(new[] { 1, 28, 28 }));
        var map = e["map"]![0]!.AsArray().SelectMany(row => Floats(row)).ToArray();
        // LeNet is piecewise linear: within its activation region a central difference is the exact slope.
        double scale = map.Max(Math.Abs);
        const float h = 1e-2f;
        foreach (int i in Enumerable.Range(0, 784).OrderByDescending(i => Math.Abs(map[i])).Take(12))
        {
            var plus = (float[])image.Clone();
            var minus = (float[])image.Clone();
            plus[i] += h;
            minus[i] -= h;
            double fd = (ReferenceLogits(plus)[target] - (double)ReferenceLogits(minus)[target]) / (2 * h);
            Assert.That(map[i], Is.EqualTo(fd).Within(1e-2 * scale + 1e-3), $"pixel {i}");
        }
    }

    [Test]
    public async Task CasoExplanationEqualsTheLibraryExplainerAndReportsItsSolve()
    {
        var image = _digits.ImageFloats(1);
        var (status, json) = await _server.PostJsonAsync("/v1/models/lenet:explain", Bodies.Tensor(image, "{\"method\":\"caso\"}"));

        Assert.That(status, Is.EqualTo(200), json?.ToJsonString());
        var e = json!["explanations"]![0]!;
        using var classifier = OnnxClassifier.Create(RepoFiles.LeNetModel);
        var expected = (CasoExplanation)new CasoExplainer().Explain(classifier, image);
        var map = e["map"]![0]!.AsArray().SelectMany(row => Floats(row)).ToArray();
        Assert.That(map, Is.EqualTo(expected.Map.Values).Within(1e-6));
        var report = e["report"]!;
        Assert.That(report["kind"]!.GetValue<string>(), Is.EqualTo("caso"));
        Assert.That(report["second_order"]!.GetValue<bool>(), Is.True);
        Assert.That(report["status"]!.GetValue<string>(), Is.EqualTo(expected.Result.Converged ? "Converged" : expected.Result.Status.ToString()));
        Assert.That(report["lambda1"]!.GetValue<double>(), Is.EqualTo(expected.Result.Lambda1).Within(1e-12));
        Assert.That(report["iterations"]!.GetValue<int>(), Is.EqualTo(expected.Result.Iterations));
        Assert.That(report["lambda1_tried"]!.GetValue<int>(), Is.EqualTo(expected.Sweep!.Tried.Count));
    }

    [Test]
    public async Task ModelListMetadataHealthOpenApiAndMetricsAnswer()
    {
        var list = JsonNode.Parse(await _server.Client.GetStringAsync("/v1/models"))!;
        Assert.That(list["models"]!.AsArray().Select(n => n!.GetValue<string>()), Is.EqualTo(new[] { "lenet" }));
        var meta = JsonNode.Parse(await _server.Client.GetStringAsync("/v2/models/lenet"))!;
        Assert.That(meta["inputs"]![0]!["shape"]!.AsArray().Select(v => v!.GetValue<long>()), Is.EqualTo(new long[] { -1, 1, 28, 28 }));
        Assert.That(meta["inputs"]![0]!["name"]!.GetValue<string>(), Is.EqualTo(_reference.Inputs[0].Name));
        Assert.That((int)(await _server.Client.GetAsync("/v2/health/live")).StatusCode, Is.EqualTo(200));
        Assert.That((int)(await _server.Client.GetAsync("/v2/health/ready")).StatusCode, Is.EqualTo(200));
        Assert.That((int)(await _server.Client.GetAsync("/v2/models/nope")).StatusCode, Is.EqualTo(404));
        var openApi = JsonNode.Parse(await _server.Client.GetStringAsync("/openapi/v1.json"))!;
        var paths = openApi["paths"]!.AsObject().Select(p => p.Key).ToArray();
        Assert.That(paths, Does.Contain("/v1/models/{name}:predict").And.Contain("/v1/models/{name}:explain").And.Contain("/v2/models/{name}/infer"));

        await _server.PostJsonAsync("/v1/models/lenet:predict", Bodies.Tensor(_digits.ImageFloats(0)));
        using var metrics = await _server.Client.GetAsync("/metrics");
        Assert.That(metrics.Content.Headers.ContentType!.MediaType, Is.EqualTo("text/plain"));
        var samples = await _server.MetricsAsync();
        Assert.That(samples.Keys, Has.Some.StartsWith("saliency_server_requests_total{code=\"200\",endpoint=\"v1_predict\"}"));
        Assert.That(samples["saliency_server_in_flight"], Is.EqualTo(0));
        Assert.That(samples["saliency_server_queue_length"], Is.EqualTo(0));
    }

    private static string Deep(int depth) => "{\"instances\":" + new string('[', depth) + "0" + new string(']', depth) + "}";

    public static IEnumerable<TestCaseData> ClientFaults()
    {
        string zeros = Bodies.Tensor(new float[784]);
        yield return new TestCaseData("/v1/models/nope:predict", "application/json", zeros, 404).SetName("unknown model → 404");
        yield return new TestCaseData("/v1/models/lenet:predict", "text/plain", zeros, 415).SetName("not JSON content type → 415");
        yield return new TestCaseData("/v1/models/lenet:predict", "application/json", "{\"instances\":[", 400).SetName("truncated JSON → 400");
        yield return new TestCaseData("/v1/models/lenet:predict", "application/json", Deep(200), 400).SetName("JSON deeper than the limit → 400");
        yield return new TestCaseData("/v1/models/lenet:predict", "application/json", "[1,2]", 400).SetName("body not an object → 400");
        yield return new TestCaseData("/v1/models/lenet:predict", "application/json", "{\"instances\":[[1,2,3]]}", 422).SetName("wrong tensor size → 422");
        yield return new TestCaseData("/v1/models/lenet:predict", "application/json", "{\"instances\":[[[1,2],[3]]]}", 422).SetName("ragged tensor → 422");
        yield return new TestCaseData("/v1/models/lenet:predict", "application/json", "{\"instances\":[{\"image\":{\"b64\":\"@@@\"}}]}", 400).SetName("bad base64 → 400");
        yield return new TestCaseData("/v1/models/lenet:predict", "application/json", "{\"instances\":[{\"b64\":\"aGVsbG8gd29ybGQ=\"}]}", 400).SetName("not an image → 400");
        yield return new TestCaseData("/v1/models/lenet:predict", "application/json", "{\"instances\":[],\"x\":1}", 400).SetName("unknown field → 400");
        yield return new TestCaseData("/v1/models/lenet:explain", "application/json", Bodies.Tensor(new float[784], "{\"method\":\"magic\"}"), 400).SetName("unknown method → 400");
        yield return new TestCaseData("/v1/models/lenet:explain", "application/json", Bodies.Tensor(new float[784], "{\"target\":10}"), 422).SetName("target out of range → 422");
        yield return new TestCaseData("/v1/models/lenet:explain", "application/json", Bodies.Tensor(new float[784], "{\"method\":\"leg\",\"samples\":100000000}"), 422).SetName("samples over budget → 422");
        yield return new TestCaseData("/v1/models/lenet:predict", "application/json",
            "{\"instances\":[" + string.Join(',', Enumerable.Repeat("[0]", 65)) + "]}", 413).SetName("too many instances → 413");
        yield return new TestCaseData("/v2/models/lenet/infer", "application/json",
            "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,1,28,28],\"datatype\":\"INT8\",\"data\":[0]}]}", 400).SetName("v2 wrong datatype → 400");
        yield return new TestCaseData("/v2/models/lenet/infer", "application/json",
            "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,1,28,28],\"datatype\":\"FP32\",\"data\":[0,1]}]}", 422).SetName("v2 too few values → 422");
    }

    [TestCaseSource(nameof(ClientFaults))]
    public async Task ClientFaultsGetTheirStatusAndAnErrorMessage(string path, string contentType, string body, int expected)
    {
        using var response = await _server.Client.PostAsync(path, new StringContent(body, Encoding.UTF8, contentType));
        var text = await response.Content.ReadAsStringAsync();
        Assert.That((int)response.StatusCode, Is.EqualTo(expected), text);
        Assert.That(JsonNode.Parse(text)!["error"]!.GetValue<string>(), Is.Not.Empty);
    }

    [Test]
    public async Task ARequestPastItsDeadlineIs504AndItsWorkIsCancelled()
    {
        // LEG with 20,000 samples takes seconds; a 50 ms deadline passes while it runs (or while it waits).
        var (status, json) = await _server.PostJsonAsync("/v1/models/lenet:explain",
            Bodies.Tensor(_digits.ImageFloats(0), "{\"method\":\"leg\",\"samples\":20000,\"timeout_ms\":50}"));
        Assert.That(status, Is.EqualTo(504), json?.ToJsonString());
        Assert.That(json!["error"]!.GetValue<string>(), Does.Contain("deadline"));
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while ((await _server.MetricsAsync())["saliency_server_in_flight"] > 0 && waited.Elapsed < TimeSpan.FromSeconds(60)) await Task.Delay(50);
        Assert.That((await _server.MetricsAsync())["saliency_server_in_flight"], Is.Zero);
    }

    [Test]
    public async Task ABodyOverTheSizeLimitIs413()
    {
        await using var server = await ServerHarness.StartAsync(o => o with { MaxRequestBodyBytes = 64 * 1024 });
        var big = Encoding.UTF8.GetBytes("{\"instances\":[[" + string.Join(',', Enumerable.Repeat("0.5", 40_000)) + "]]}");
        // With Content-Length the server refuses before reading; Expect: 100-continue lets the client hear that before
        // it sends the body (without it, Kestrel may close the connection while the body is still being sent).
        using var declared = new HttpRequestMessage(HttpMethod.Post, "/v1/models/lenet:predict") { Content = new ByteArrayContent(big) };
        declared.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        declared.Headers.ExpectContinue = true;
        using var first = await server.Client.SendAsync(declared);
        Assert.That(first.StatusCode, Is.EqualTo(HttpStatusCode.RequestEntityTooLarge), await first.Content.ReadAsStringAsync());
        // Without Content-Length (chunked), Kestrel's MaxRequestBodySize stops the read past the limit.
        using var chunked = new HttpRequestMessage(HttpMethod.Post, "/v1/models/lenet:predict") { Content = new StreamContent(new MemoryStream(big)) };
        chunked.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        chunked.Headers.TransferEncodingChunked = true;
        chunked.Headers.ExpectContinue = true;
        using var second = await server.Client.SendAsync(chunked);
        Assert.That(second.StatusCode, Is.EqualTo(HttpStatusCode.RequestEntityTooLarge), await second.Content.ReadAsStringAsync());
    }
}
