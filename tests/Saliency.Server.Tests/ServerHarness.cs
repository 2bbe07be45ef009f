using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Saliency.Server.Hosting;
using Saliency.TestSupport;

namespace Saliency.Server.Tests;

/// <summary>
/// A real server on 127.0.0.1 with an OS-chosen port, serving the bundled LeNet, and an HttpClient for it. Tests
/// build one per fixture (or per test when they stop it).
/// </summary>
internal sealed class ServerHarness : IAsyncDisposable
{
    private ServerHarness(SaliencyServer server, HttpClient client)
    {
        Server = server;
        Client = client;
    }

    public SaliencyServer Server { get; }

    public HttpClient Client { get; }

    public Uri BaseAddress => Client.BaseAddress!;

    /// <summary>Options for LeNet on loopback with logging off; <paramref name="configure"/> adjusts them.</summary>
    public static ServeOptions Options(Func<ServeOptions, ServeOptions>? configure = null)
    {
        var options = new ServeOptions { Urls = "http://127.0.0.1:0", ModelPaths = [RepoFiles.LeNetModel], LogLevel = LogLevel.None };
        return configure is null ? options : configure(options);
    }

    public static async Task<ServerHarness> StartAsync(Func<ServeOptions, ServeOptions>? configure = null)
    {
        var server = SaliencyServer.Create(Options(configure));
        await server.StartAsync();
        var address = server.Addresses.Single();
        // Connections are pooled per client; tests that need many parallel connections raise the limit here.
        var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256, PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
        {
            BaseAddress = new Uri(address),
            Timeout = TimeSpan.FromSeconds(120),
        };
        return new ServerHarness(server, client);
    }

    public static StringContent JsonBody(string json) => new(json, Encoding.UTF8, "application/json");

    public Task<HttpResponseMessage> PostAsync(string path, string json, CancellationToken cancellationToken = default) =>
        Client.PostAsync(path, JsonBody(json), cancellationToken);

    public async Task<(int Status, JsonNode? Body)> PostJsonAsync(string path, string json)
    {
        using var response = await PostAsync(path, json);
        var text = await response.Content.ReadAsStringAsync();
        JsonNode? node = null;
        try { node = JsonNode.Parse(text); } catch (JsonException) { }
        return ((int)response.StatusCode, node);
    }

    /// <summary>The /metrics text parsed into "name{labels}" → value (sample lines only).</summary>
    public async Task<Dictionary<string, double>> MetricsAsync()
    {
        var text = await Client.GetStringAsync("/metrics");
        var samples = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith('#')) continue;
            int space = line.LastIndexOf(' ');
            samples[line[..space]] = double.Parse(line[(space + 1)..], CultureInfo.InvariantCulture);
        }
        return samples;
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Server.DisposeAsync();
    }
}

/// <summary>Request bodies for LeNet.</summary>
internal static class Bodies
{
    /// <summary>A v1 body with one tensor instance [1, 28, 28] and the given parameters JSON (or none).</summary>
    public static string Tensor(float[] image, string? parameters = null)
    {
        var sb = new StringBuilder("{\"instances\":[[[");
        for (int y = 0; y < 28; y++)
        {
            if (y > 0) sb.Append(',');
            sb.Append('[').AppendJoin(',', image.Skip(y * 28).Take(28).Select(v => v.ToString("R", CultureInfo.InvariantCulture))).Append(']');
        }
        sb.Append("]]]");
        if (parameters is not null) sb.Append(",\"parameters\":").Append(parameters);
        return sb.Append('}').ToString();
    }

    /// <summary>A v1 body with one base64 image instance.</summary>
    public static string Image(byte[] encoded, string? parameters = null) =>
        "{\"instances\":[{\"image\":{\"b64\":\"" + Convert.ToBase64String(encoded) + "\"}}]" + (parameters is null ? "" : ",\"parameters\":" + parameters) + "}";
}

/// <summary>Latency figures of a load run.</summary>
internal static class Stats
{
    public static double Percentile(IReadOnlyList<double> sorted, double p) =>
        sorted.Count == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(p / 100 * sorted.Count) - 1, 0, sorted.Count - 1)];

    public static string Describe(string what, IEnumerable<double> milliseconds, TimeSpan wall)
    {
        var sorted = milliseconds.Order().ToArray();
        return string.Create(CultureInfo.InvariantCulture,
            $"{what}: n = {sorted.Length}, {sorted.Length / wall.TotalSeconds:0.0}/s, p50 {Percentile(sorted, 50):0.0} ms, p99 {Percentile(sorted, 99):0.0} ms, max {(sorted.Length > 0 ? sorted[^1] : double.NaN):0.0} ms (load average {LoadAverage()})");
    }

    public static string LoadAverage()
    {
        try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; }
        catch (IOException) { return "?"; }
    }

    public static double Ms(long startTimestamp) => Stopwatch.GetElapsedTime(startTimestamp).TotalMilliseconds;
}
