using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using Saliency.Models.Data;
using Saliency.Server.Hosting;
using Saliency.TestSupport;

namespace Saliency.Bench.Serve;

/// <summary>
/// <c>dotnet run -c Release --project bench/Saliency.Bench -- serve [seconds] [clients]</c>: explanations per second and
/// latency percentiles of <c>saliency serve</c> on the bundled LeNet, with dynamic batching (max batch 16, 2 ms delay)
/// and without (max batch 1), for predict, gradient (cheap) and CASO (expensive). A closed-loop load test over
/// loopback, not a BenchmarkDotNet benchmark: what matters is the server's throughput and tail latency under
/// concurrent clients, which BenchmarkDotNet's single-caller invocations do not measure. Both modes of a method run
/// back to back in one process (the peer of each figure is measured in the same run), each after a warm-up.
/// </summary>
public static class ServeLoad
{
    private sealed record Cell(string Method, string Path, Func<int, string> Body);

    public static int Run(string[] args)
    {
        double seconds = args.Length > 1 ? double.Parse(args[1], CultureInfo.InvariantCulture) : 10;
        int clients = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 16;
        var digits = DigitSet.Load(RepoFiles.DigitImages, RepoFiles.DigitLabels);
        var bodies = Enumerable.Range(0, 64).Select(i => Tensor(digits.ImageFloats(i))).ToArray();
        string Explain(int i, string method) => bodies[i % bodies.Length][..^1] + ",\"parameters\":{\"method\":\"" + method + "\"}}";
        Cell[] cells =
        [
            new("predict", "/v1/models/lenet:predict", i => bodies[i % bodies.Length]),
            new("gradient", "/v1/models/lenet:explain", i => Explain(i, "gradient")),
            new("caso", "/v1/models/lenet:explain", i => Explain(i, "caso")),
        ];
        Console.WriteLine($"{clients} closed-loop clients, {seconds:0.#} s per cell after a 2 s warm-up; {Environment.ProcessorCount} cores; load average {Load()}");
        Console.WriteLine("| method | batching | requests/s | p50 ms | p99 ms | mean batch | errors |");
        Console.WriteLine("|---|---|---:|---:|---:|---:|---:|");
        foreach (var cell in cells)
        {
            var rates = new Dictionary<bool, double>();
            foreach (bool batching in new[] { true, false })
            {
                var r = Measure(cell, batching, seconds, clients).GetAwaiter().GetResult();
                rates[batching] = r.Rate;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {cell.Method} | {(batching ? "on (16, 2 ms)" : "off (1)")} | {r.Rate:0.0} | {r.P50:0.0} | {r.P99:0.0} | {r.MeanBatch:0.00} | {r.Errors} |"));
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"|   {cell.Method} batching gain | | {rates[true] / rates[false]:0.00}× | | | | |"));
        }
        Console.WriteLine($"load average after: {Load()}");
        return 0;
    }

    private static async Task<(double Rate, double P50, double P99, double MeanBatch, int Errors)> Measure(Cell cell, bool batching, double seconds, int clients)
    {
        var options = new ServeOptions
        {
            Urls = "http://127.0.0.1:0",
            ModelPaths = [RepoFiles.LeNetModel],
            LogLevel = LogLevel.None,
            MaxBatch = batching ? 16 : 1,
            MaxBatchDelay = TimeSpan.FromMilliseconds(batching ? 2 : 0),
            QueueCapacity = 4 * clients, // never full: the test measures throughput, not refusals
        };
        await using var server = SaliencyServer.Create(options);
        await server.StartAsync();
        using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = clients * 2 }) { BaseAddress = new Uri(server.Addresses.Single()) };
        await Load(client, cell, TimeSpan.FromSeconds(2), clients); // warm-up: JIT, ORT first runs, connections
        long batchesBefore = server.Metrics.BatchCount, instancesBefore = server.Metrics.BatchInstances;
        var (latencies, errors, wall) = await Load(client, cell, TimeSpan.FromSeconds(seconds), clients);
        double meanBatch = (server.Metrics.BatchInstances - instancesBefore) / (double)Math.Max(1, server.Metrics.BatchCount - batchesBefore);
        var sorted = latencies.Order().ToArray();
        double P(double p) => sorted.Length == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(p / 100 * sorted.Length) - 1, 0, sorted.Length - 1)];
        return (sorted.Length / wall.TotalSeconds, P(50), P(99), meanBatch, errors);
    }

    private static async Task<(List<double> Latencies, int Errors, TimeSpan Wall)> Load(HttpClient client, Cell cell, TimeSpan duration, int clients)
    {
        var latencies = new ConcurrentBag<double>();
        int errors = 0, counter = 0;
        var wall = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
        {
            while (wall.Elapsed < duration)
            {
                string body = cell.Body(Interlocked.Increment(ref counter));
                long start = Stopwatch.GetTimestamp();
                using var response = await client.PostAsync(cell.Path, new StringContent(body, Encoding.UTF8, "application/json"));
                await response.Content.ReadAsByteArrayAsync();
                if (response.IsSuccessStatusCode) latencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                else Interlocked.Increment(ref errors);
            }
        })));
        return (latencies.ToList(), errors, wall.Elapsed);
    }

    private static string Tensor(float[] image) =>
        "{\"instances\":[[" + string.Join(',', Enumerable.Range(0, 28).Select(y =>
            "[" + string.Join(',', image.Skip(y * 28).Take(28).Select(v => v.ToString("R", CultureInfo.InvariantCulture))) + "]")) + "]]}";

    private static string Load()
    {
        try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; }
        catch (IOException) { return "?"; }
    }
}
