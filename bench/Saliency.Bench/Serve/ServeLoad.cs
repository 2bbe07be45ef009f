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
/// <c>dotnet run -c Release --project bench/Saliency.Bench -- serve [seconds] [clients] [rounds]</c>: explanations per second and
/// latency percentiles of <c>saliency serve</c> on the bundled LeNet, with dynamic batching (max batch 16, 2 ms delay)
/// and without (max batch 1), for predict, gradient (cheap) and CASO (expensive). A closed-loop load test over
/// loopback, not a BenchmarkDotNet benchmark: what matters is the server's throughput and tail latency under
/// concurrent clients, which BenchmarkDotNet's single-caller invocations do not measure. Both modes of a method are
/// measured in the same run, in alternating ABBA windows on two warm servers (the peer of each figure is in the same run).
/// </summary>
public static class ServeLoad
{
    private sealed record Cell(string Method, string Path, Func<int, string> Body);

    public static int Run(string[] args)
    {
        double seconds = args.Length > 1 ? double.Parse(args[1], CultureInfo.InvariantCulture) : 3;
        int clients = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 16;
        int rounds = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 3;
        var digits = DigitSet.Load(RepoFiles.DigitImages, RepoFiles.DigitLabels);
        var bodies = Enumerable.Range(0, 64).Select(i => Tensor(digits.ImageFloats(i))).ToArray();
        string Explain(int i, string method) => bodies[i % bodies.Length][..^1] + ",\"parameters\":{\"method\":\"" + method + "\"}}";
        Cell[] cells =
        [
            new("predict", "/v1/models/lenet:predict", i => bodies[i % bodies.Length]),
            new("gradient", "/v1/models/lenet:explain", i => Explain(i, "gradient")),
            new("caso", "/v1/models/lenet:explain", i => Explain(i, "caso")),
        ];
        Console.WriteLine($"{clients} closed-loop clients; per method {rounds} ABBA pairs of {seconds:0.#} s windows (batching on/off alternating, " +
                          $"both servers warm); medians over windows; {Environment.ProcessorCount} cores; load average {Load()}");
        Console.WriteLine("| method | batching | requests/s | p50 ms | p99 ms | mean batch | errors |");
        Console.WriteLine("|---|---|---:|---:|---:|---:|---:|");
        foreach (var cell in cells) MeasureCell(cell, seconds, clients, rounds).GetAwaiter().GetResult();
        Console.WriteLine($"load average after: {Load()}");
        return 0;
    }

    private static async Task MeasureCell(Cell cell, double seconds, int clients, int rounds)
    {
        // Two servers, batching on and off, alive together; windows alternate A B B A so that drifting machine load
        // (other sessions on the shared cores) falls on both alike.
        await using var on = await Start(batching: true, clients);
        await using var off = await Start(batching: false, clients);
        var windows = new Dictionary<bool, List<(double Rate, double P50, double P99, double MeanBatch, int Errors)>> { [true] = [], [false] = [] };
        foreach (var (server, client) in new[] { on, off })
            await Load(client, cell, TimeSpan.FromSeconds(2), clients); // warm-up: JIT, ORT first runs, connections
        for (int r = 0; r < rounds; r++)
            foreach (bool batching in new[] { true, false, false, true })
            {
                var (server, client) = batching ? on : off;
                long batches = server.Metrics.BatchCount, instances = server.Metrics.BatchInstances;
                var (latencies, errors, wall) = await Load(client, cell, TimeSpan.FromSeconds(seconds), clients);
                double meanBatch = (server.Metrics.BatchInstances - instances) / (double)Math.Max(1, server.Metrics.BatchCount - batches);
                var sorted = latencies.Order().ToArray();
                windows[batching].Add((sorted.Length / wall.TotalSeconds, P(sorted, 50), P(sorted, 99), meanBatch, errors));
            }
        foreach (bool batching in new[] { true, false })
        {
            var w = windows[batching];
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {cell.Method} | {(batching ? "on (16, 2 ms)" : "off (1)")} | {Median(w.Select(x => x.Rate)):0.0} | {Median(w.Select(x => x.P50)):0.0} | " +
                $"{Median(w.Select(x => x.P99)):0.0} | {Median(w.Select(x => x.MeanBatch)):0.00} | {w.Sum(x => x.Errors)} |"));
        }
        // The gain per ABBA pair (on/off rate ratios of adjacent windows), median and range.
        var ratios = Enumerable.Range(0, windows[true].Count).Select(i => windows[true][i].Rate / windows[false][i].Rate).Order().ToArray();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| **{cell.Method} batching gain** | | **{Median(ratios):0.00}×** (windows {ratios[0]:0.00}–{ratios[^1]:0.00}) | | | | |"));
    }

    private sealed class Running(SaliencyServer server, HttpClient client) : IAsyncDisposable
    {
        public void Deconstruct(out SaliencyServer s, out HttpClient c) => (s, c) = (server, client);

        public async ValueTask DisposeAsync()
        {
            client.Dispose();
            await server.DisposeAsync();
        }
    }

    private static async Task<Running> Start(bool batching, int clients)
    {
        var server = SaliencyServer.Create(new ServeOptions
        {
            Urls = "http://127.0.0.1:0",
            ModelPaths = [RepoFiles.LeNetModel],
            LogLevel = LogLevel.None,
            MaxBatch = batching ? 16 : 1,
            MaxBatchDelay = TimeSpan.FromMilliseconds(batching ? 2 : 0),
            QueueCapacity = 4 * clients, // never full: this measures throughput, not refusals
        });
        await server.StartAsync();
        var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = clients * 2 }) { BaseAddress = new Uri(server.Addresses.Single()) };
        return new Running(server, client);
    }

    private static double P(double[] sorted, double p) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(p / 100 * sorted.Length) - 1, 0, sorted.Length - 1)];

    private static double Median(IEnumerable<double> values)
    {
        var v = values.Order().ToArray();
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
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
