using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using NUnit.Framework;
using Saliency.Imaging;
using Saliency.Models.Data;
using Saliency.TestSupport;

namespace Saliency.Server.Tests;

/// <summary>
/// Load and fault tests on loopback (issue 12 item 5). Each is bounded in requests, stops by itself, and asserts only
/// outcomes (status codes, counts, metrics) plus bounds far above anything a loaded 2-core machine needs; the
/// figures (throughput, p50/p99, memory) are printed for the record.
/// </summary>
[TestFixture]
[NonParallelizable]
public class LoadAndFaultTests
{
    private DigitSet _digits = null!;

    [OneTimeSetUp]
    public void LoadDigits() => _digits = DigitSet.Load(RepoFiles.DigitImages, RepoFiles.DigitLabels);

    private string PredictBody(int i) => Bodies.Tensor(_digits.ImageFloats(i % _digits.Count));

    /// <summary>Closed-loop clients: each sends its requests one after another. Returns (status, ms, Retry-After present) per request.</summary>
    private static async Task<(List<(int Status, double Ms, bool RetryAfter)> Results, TimeSpan Wall)> ClosedLoop(
        ServerHarness server, int clients, int requestsPerClient, string path, Func<int, string> body)
    {
        var results = new ConcurrentBag<(int, double, bool)>();
        var wall = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            for (int r = 0; r < requestsPerClient; r++)
            {
                long start = Stopwatch.GetTimestamp();
                using var response = await server.PostAsync(path, body(c * requestsPerClient + r));
                await response.Content.ReadAsByteArrayAsync();
                results.Add(((int)response.StatusCode, Stats.Ms(start), response.Headers.RetryAfter is not null));
            }
        })));
        return (results.ToList(), wall.Elapsed);
    }

    [Test]
    public async Task SustainedLoadAtCapacityAnswersEveryRequest()
    {
        // Capacity: every worker busy with a full batch; as many closed-loop clients as that.
        await using var server = await ServerHarness.StartAsync(o => o with { Workers = 2, MaxBatch = 8 });
        await server.PostAsync("/v1/models/lenet:predict", PredictBody(0)); // warm-up (JIT, ORT first run)
        int clients = 2 * 8;

        var (predict, predictWall) = await ClosedLoop(server, clients, 40, "/v1/models/lenet:predict", PredictBody);
        TestContext.Out.WriteLine(Stats.Describe("predict at capacity", predict.Select(r => r.Ms), predictWall));
        var (gradient, gradientWall) = await ClosedLoop(server, clients, 8, "/v1/models/lenet:explain",
            i => Bodies.Tensor(_digits.ImageFloats(i % _digits.Count), "{\"method\":\"gradient\"}"));
        TestContext.Out.WriteLine(Stats.Describe("gradient at capacity", gradient.Select(r => r.Ms), gradientWall));

        Assert.That(predict.Select(r => r.Status), Is.All.EqualTo(200));
        Assert.That(gradient.Select(r => r.Status), Is.All.EqualTo(200));
        var metrics = await server.MetricsAsync();
        TestContext.Out.WriteLine($"predict batches: {metrics["saliency_server_batch_size_count{kind=\"predict\"}"]} for {metrics["saliency_server_batch_size_sum{kind=\"predict\"}"]} instances");
        Assert.That(metrics.Where(m => m.Key.StartsWith("saliency_server_rejected_total", StringComparison.Ordinal)).Sum(m => m.Value), Is.Zero);
    }

    [Test]
    public async Task ThreeTimesOverloadGetsFast503sWithRetryAfterAndFlatMemory()
    {
        // Capacity 5 in the system (1 running + 4 queued); 15 clients keep 3× that many requests open.
        await using var server = await ServerHarness.StartAsync(o => o with { Workers = 1, MaxBatch = 1, QueueCapacity = 4 });
        string caso = Bodies.Tensor(_digits.ImageFloats(1), "{\"method\":\"caso\"}");
        await server.PostAsync("/v1/models/lenet:explain", caso); // warm-up

        var rounds = new List<(List<(int Status, double Ms, bool RetryAfter)> Results, TimeSpan Wall)>();
        var managed = new List<long>();
        for (int round = 0; round < 2; round++)
        {
            rounds.Add(await ClosedLoop(server, 15, 10, "/v1/models/lenet:explain", _ => caso));
            managed.Add(GC.GetTotalMemory(forceFullCollection: true));
        }
        var all = rounds.SelectMany(r => r.Results).ToList();
        var accepted = all.Where(r => r.Status == 200).ToList();
        var rejected = all.Where(r => r.Status == 503).ToList();
        var wall = rounds[0].Wall + rounds[1].Wall;
        TestContext.Out.WriteLine(Stats.Describe("accepted (200)", accepted.Select(r => r.Ms), wall));
        TestContext.Out.WriteLine(Stats.Describe("rejected (503)", rejected.Select(r => r.Ms), wall));
        TestContext.Out.WriteLine($"managed heap after round 1: {managed[0] / 1e6:0.0} MB, after round 2: {managed[1] / 1e6:0.0} MB; working set {Environment.WorkingSet / 1e6:0} MB");

        Assert.That(all.Select(r => r.Status), Is.All.EqualTo(200).Or.EqualTo(503), "only answers or fast refusals");
        Assert.That(rejected, Is.Not.Empty, "3× overload must be refused in part");
        Assert.That(accepted, Is.Not.Empty);
        Assert.That(rejected.Select(r => r.RetryAfter), Is.All.True, "503 without Retry-After");
        // Generous bounds: a refusal does not wait for work (milliseconds when quiet); an accepted request waits at
        // most for the 4 ahead of it and its own solve (well under a second each when quiet).
        Assert.That(Stats.Percentile(rejected.Select(r => r.Ms).Order().ToList(), 99), Is.LessThan(5_000));
        Assert.That(accepted.Max(r => r.Ms), Is.LessThan(30_000));
        Assert.That(managed[1] - managed[0], Is.LessThan(64L * 1024 * 1024), "managed memory grew between two equal overload rounds");
    }

    /// <summary>Seeded malformed bodies of many kinds, each certainly invalid.</summary>
    private IEnumerable<(string ContentType, string Body)> MalformedBodies(int count)
    {
        var random = new Random(1234);
        string valid = PredictBody(0);
        string png = Convert.ToBase64String(ImageCodec.EncodePng(ImageBuffer.FromFloats(28, 28, PixelFormat.Gray, _digits.ImageFloats(0))));
        string Param(string json) => Bodies.Tensor(new float[784], json);
        string[] fixedCases =
        [
            "", " ", "null", "true", "42", "\"instances\"", "[]", "{}", "{\"instances\":null}", "{\"instances\":{}}", "{\"instances\":\"x\"}",
            "{\"instances\":[]}", "{\"instances\":[null]}", "{\"instances\":[true]}", "{\"instances\":[{}]}", "{\"instances\":[[]]}",
            "{\"instances\":[[[[]]]]}", "{\"instances\":[[NaN]]}", "{\"instances\":[[Infinity]]}", "{\"instances\":[[1e999]]}",
            "{\"instances\":[[\"0\"]]}", "{\"instances\":[{\"image\":{}}]}", "{\"instances\":[{\"image\":{\"b64\":42}}]}",
            "{\"instances\":[{\"image\":{\"b64\":\"" + png + "\",\"x\":1}}]}", "{\"instances\":[{\"b64\":\"" + png[..(png.Length / 2)] + "\"}]}",
            "{\"instances\":[{\"b64\":\"" + png + "\",\"tensor\":[0]}]}", "{\"instances\":[{\"target\":1}]}",
            Param("[]"), Param("{\"method\":1}"), Param("{\"samples\":-5}"), Param("{\"seed\":-1}"), Param("{\"timeout_ms\":0}"),
            Param("{\"resize\":\"yes\"}"), Param("{\"lambda1\":-1}"), Param("{\"bound_factor\":2}"), Param("{\"top_classes\":0}"), Param("{\"max_iterations\":-3}"), Param("{\"steps\":8}"),
            "{\"instances\":" + new string('[', 64) + "0" + new string(']', 64) + "}",
        ];
        for (int i = 0; i < count; i++)
        {
            switch (i % 8)
            {
                case 0: // a strict prefix of a valid object is never valid JSON
                    yield return ("application/json", valid[..random.Next(valid.Length)]);
                    break;
                case 1: // random printable bytes that are not a JSON object
                    var chars = Enumerable.Range(0, random.Next(1, 200)).Select(_ => (char)random.Next(32, 127)).ToArray();
                    if (chars[0] == '{') chars[0] = '[';
                    yield return ("application/json", new string(chars));
                    break;
                case 2: // a tensor of a random wrong shape
                    int rows = random.Next(1, 40), cols = random.Next(1, 40);
                    if (rows == 28 && cols == 28) cols = 27;
                    yield return ("application/json", "{\"instances\":[[" + string.Join(',', Enumerable.Repeat("[" + string.Join(',', Enumerable.Repeat("0", cols)) + "]", rows)) + "]]}");
                    break;
                case 3: // random bytes as base64: not an image
                    var bytes = new byte[random.Next(1, 300)];
                    random.NextBytes(bytes);
                    yield return ("application/json", "{\"instances\":[{\"image\":{\"b64\":\"" + Convert.ToBase64String(bytes) + "\"}}]}");
                    break;
                case 4: // a valid body with a wrong content type
                    yield return (random.Next(3) switch { 0 => "text/plain", 1 => "application/xml", _ => "image/png" }, valid);
                    break;
                case 5: // a PNG cut within its first half (inside the pixel data: cutting only the end chunk would still decode)
                    yield return ("application/json", "{\"instances\":[{\"b64\":\"" + png[..(4 * random.Next(1, png.Length / 8))] + "\"}]}");
                    break;
                case 6: // a v2 body whose data does not fit its shape, or a wrong datatype
                    int n = random.Next(0, 2000);
                    if (n == 784) n = 783;
                    yield return ("application/json", "{\"inputs\":[{\"name\":\"input\",\"shape\":[1,1,28,28],\"datatype\":\"" + (random.Next(4) == 0 ? "FP64" : "FP32") +
                        "\",\"data\":[" + string.Join(',', Enumerable.Repeat("0", n)) + "]}]}");
                    break;
                default:
                    yield return ("application/json", fixedCases[random.Next(fixedCases.Length)]);
                    break;
            }
        }
    }

    [Test]
    public async Task AThousandMalformedBodiesGet4xxNever5xx()
    {
        await using var server = await ServerHarness.StartAsync();
        var bodies = MalformedBodies(1000).ToArray();
        var statuses = new int[bodies.Length];
        var wall = Stopwatch.StartNew();
        await Parallel.ForEachAsync(Enumerable.Range(0, bodies.Length), new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (i, ct) =>
        {
            string path = bodies[i].Body.StartsWith("{\"inputs\"", StringComparison.Ordinal) ? "/v2/models/lenet/infer" : (i % 3 == 0 ? "/v1/models/lenet:explain" : "/v1/models/lenet:predict");
            using var response = await server.Client.PostAsync(path, new StringContent(bodies[i].Body, Encoding.UTF8, bodies[i].ContentType), ct);
            statuses[i] = (int)response.StatusCode;
        });
        TestContext.Out.WriteLine($"{bodies.Length} malformed bodies in {wall.Elapsed.TotalSeconds:0.0} s: " +
            string.Join(", ", statuses.GroupBy(s => s).OrderBy(g => g.Key).Select(g => $"{g.Key} × {g.Count()}")));

        var wrong = Enumerable.Range(0, bodies.Length).Where(i => statuses[i] is < 400 or >= 500).ToArray();
        Assert.That(wrong, Is.Empty, () => string.Join("\n", wrong.Take(5).Select(i => $"{statuses[i]} for {bodies[i].ContentType}: {bodies[i].Body[..Math.Min(200, bodies[i].Body.Length)]}")));
        // The server is still fine afterwards.
        using var ok = await server.PostAsync("/v1/models/lenet:predict", PredictBody(0));
        Assert.That(ok.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    public async Task ClientsThatDisconnectLeaveNoWorkRunning()
    {
        // One worker and a slow method: the first request runs, the others wait in the queue when their clients leave.
        await using var server = await ServerHarness.StartAsync(o => o with { Workers = 1, MaxBatch = 1 });
        const int clients = 8;
        string slow = Bodies.Tensor(_digits.ImageFloats(2), "{\"method\":\"leg\",\"samples\":20000}");
        var outcomes = await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            try
            {
                using var response = await server.PostAsync("/v1/models/lenet:explain", slow, cts.Token);
                return (int)response.StatusCode;
            }
            catch (OperationCanceledException)
            {
                return -1; // the client left
            }
        }));
        Assert.That(outcomes, Has.Some.EqualTo(-1), "no client left before its answer; the test needs a slower method");

        // Wait (bounded) until nothing is queued or running; the metrics are the server's own account.
        var waited = Stopwatch.StartNew();
        Dictionary<string, double> metrics;
        do
        {
            await Task.Delay(100);
            metrics = await server.MetricsAsync();
        } while ((metrics["saliency_server_in_flight"] > 0 || metrics["saliency_server_queue_length"] > 0) && waited.Elapsed < TimeSpan.FromSeconds(60));
        double executed = metrics.GetValueOrDefault("saliency_server_batch_size_sum{kind=\"explain\"}");
        double dropped = metrics.Where(m => m.Key.StartsWith("saliency_server_cancelled_total", StringComparison.Ordinal)).Sum(m => m.Value);
        TestContext.Out.WriteLine($"{outcomes.Count(o => o == -1)} of {clients} clients left; {executed} instances computed, {dropped} dropped; idle after {waited.Elapsed.TotalSeconds:0.0} s");

        Assert.That(metrics["saliency_server_in_flight"], Is.Zero, "work still running 60 s after every client left");
        Assert.That(metrics["saliency_server_queue_length"], Is.Zero);
        // Only what had started when the clients left ran (one worker: one, or two if a client left just after a start).
        Assert.That(executed, Is.LessThanOrEqualTo(2));
        Assert.That(dropped, Is.GreaterThanOrEqualTo(outcomes.Count(o => o == -1) - executed - 0.5));
    }

    [Test]
    public async Task ShutdownUnderLoadAnswersEveryAcceptedRequest()
    {
        var server = await ServerHarness.StartAsync(o => o with { Workers = 1, MaxBatch = 2, QueueCapacity = 32, ShutdownTimeout = TimeSpan.FromSeconds(60) });
        try
        {
            string caso = Bodies.Tensor(_digits.ImageFloats(1), "{\"method\":\"caso\"}");
            await server.PostAsync("/v1/models/lenet:explain", caso); // warm-up, counted as accepted
            long before = server.Server.Metrics.AcceptedTotal;
            const int clients = 24;
            var requests = Enumerable.Range(0, clients).Select(async _ =>
            {
                try
                {
                    using var response = await server.PostAsync("/v1/models/lenet:explain", caso);
                    return (int)response.StatusCode;
                }
                catch (HttpRequestException)
                {
                    return -1; // not accepted: the connection was refused or closed before the request was read
                }
            }).ToArray();
            // Stop once work is queued behind the running instance.
            var waited = Stopwatch.StartNew();
            while (server.Server.Metrics.Queued < 4 && waited.Elapsed < TimeSpan.FromSeconds(30)) await Task.Delay(10);
            var stopping = Stopwatch.StartNew();
            await server.Server.StopAsync();
            var statuses = await Task.WhenAll(requests);
            long accepted = server.Server.Metrics.AcceptedTotal - before;
            TestContext.Out.WriteLine($"stop after {waited.Elapsed.TotalSeconds:0.00} s with {accepted} accepted; drained in {stopping.Elapsed.TotalSeconds:0.0} s; " +
                string.Join(", ", statuses.GroupBy(s => s).OrderBy(g => g.Key).Select(g => $"{g.Key} × {g.Count()}")) + $" (load average {Stats.LoadAverage()})");

            Assert.That(accepted, Is.GreaterThan(1), "stopped before the load arrived");
            Assert.That(statuses.Count(s => s == 200), Is.EqualTo(accepted), "every accepted request is answered 200");
            Assert.That(statuses, Is.All.EqualTo(200).Or.EqualTo(503).Or.EqualTo(-1));
            Assert.That(server.Server.Metrics.InFlight + server.Server.Metrics.Queued, Is.Zero);
        }
        finally
        {
            await server.DisposeAsync();
        }
    }
}
