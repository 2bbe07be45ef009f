using Microsoft.Extensions.Logging;

namespace Saliency.Server.Hosting;

/// <summary>
/// Settings of <c>saliency serve</c>: where it listens, which models it serves, and the bounds that keep a busy or
/// hostile client from exhausting the host (queue, batch, deadline, body size, JSON depth, instance count). The
/// defaults are the CLI's; docs/serve.md lists them.
/// </summary>
public sealed record ServeOptions
{
    /// <summary>Default listening address: loopback only, so a server started by hand is not exposed by accident.</summary>
    public const string DefaultUrls = "http://127.0.0.1:8080";

    /// <summary>Addresses to listen on, ';'-separated, as ASP.NET Core's <c>--urls</c> (port 0 picks a free port).</summary>
    public string Urls { get; init; } = DefaultUrls;

    /// <summary>The ONNX classifiers to serve, each under its file name without <c>.onnx</c>.</summary>
    public IReadOnlyList<string> ModelPaths { get; init; } = [];

    /// <summary>Requests (instances) waiting for a worker; one more is answered 503 with Retry-After at once.</summary>
    public int QueueCapacity { get; init; } = 64;

    /// <summary>Most compatible instances run together (one ORT run for predictions).</summary>
    public int MaxBatch { get; init; } = 16;

    /// <summary>How long a batch waits for more compatible instances once it has its first one.</summary>
    public TimeSpan MaxBatchDelay { get; init; } = TimeSpan.FromMilliseconds(2);

    /// <summary>Batches run at once. One per core: ONNX Runtime and the solvers use the cores within a batch too.</summary>
    public int Workers { get; init; } = Math.Max(1, Environment.ProcessorCount);

    /// <summary>Deadline of a request from its arrival, queueing included (a request may ask for less with <c>timeout_ms</c>).</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Largest request body (Kestrel's MaxRequestBodySize); larger bodies get 413.</summary>
    public long MaxRequestBodyBytes { get; init; } = 8L * 1024 * 1024;

    /// <summary>Deepest JSON nesting accepted (a [C, H, W] tensor inside an instance is 6 levels).</summary>
    public int MaxJsonDepth { get; init; } = 12;

    /// <summary>Most instances in one request.</summary>
    public int MaxInstances { get; init; } = 64;

    /// <summary>
    /// The engine's budget for every request (<see cref="ResourceBudget"/>: pixels, classes, samples, iterations,
    /// memory); breaking it is answered 422. The server's default lowers the sample cap to 20,000 model evaluations.
    /// </summary>
    public ResourceBudget Budget { get; init; } = new() { MaxSamples = 20_000 };

    /// <summary>Seconds a client is told to wait (Retry-After) when the queue is full.</summary>
    public int RetryAfterSeconds { get; init; } = 1;

    /// <summary>How long a shutdown waits for accepted work to finish.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Least level logged to the console (<see cref="LogLevel.None"/>: no console logging, as in tests).</summary>
    public LogLevel LogLevel { get; init; } = LogLevel.Information;

    /// <summary>Throws <see cref="ArgumentException"/> (one-line message) for a setting out of range.</summary>
    public void Validate()
    {
        static void Positive(long value, string name)
        {
            if (value <= 0) throw new ArgumentException($"{name} must be positive, got {value}.");
        }
        Positive(QueueCapacity, nameof(QueueCapacity));
        Positive(MaxBatch, nameof(MaxBatch));
        Positive(Workers, nameof(Workers));
        Positive(MaxRequestBodyBytes, nameof(MaxRequestBodyBytes));
        Positive(MaxJsonDepth, nameof(MaxJsonDepth));
        Positive(MaxInstances, nameof(MaxInstances));
        ArgumentNullException.ThrowIfNull(Budget);
        Positive(RetryAfterSeconds, nameof(RetryAfterSeconds));
        if (MaxBatchDelay < TimeSpan.Zero) throw new ArgumentException($"MaxBatchDelay must not be negative, got {MaxBatchDelay}.");
        if (RequestTimeout <= TimeSpan.Zero) throw new ArgumentException($"RequestTimeout must be positive, got {RequestTimeout}.");
        if (ShutdownTimeout < TimeSpan.Zero) throw new ArgumentException($"ShutdownTimeout must not be negative, got {ShutdownTimeout}.");
        if (string.IsNullOrWhiteSpace(Urls)) throw new ArgumentException("Urls must name at least one address.");
        if (ModelPaths.Count == 0) throw new ArgumentException("Serve at least one model.");
    }
}
