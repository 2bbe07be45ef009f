using System.Diagnostics.Metrics;

namespace Saliency.Server.Telemetry;

/// <summary>
/// The server's instruments on the Meter <see cref="MeterName"/> (System.Diagnostics.Metrics, so OpenTelemetry can
/// collect them too); <see cref="PrometheusExporter"/> serves them at <c>/metrics</c>. One instance per server: two
/// servers in one process (tests) keep separate figures because each exporter listens to its own Meter object.
/// </summary>
internal sealed class ServerMetrics : IDisposable
{
    /// <summary>Name of the server's Meter.</summary>
    public const string MeterName = "Saliency.Server";

    private readonly Counter<long> _requests;
    private readonly Counter<long> _accepted;
    private readonly Counter<long> _rejected;
    private readonly Counter<long> _cancelled;
    private readonly Histogram<double> _duration;
    private readonly Histogram<int> _batchSize;
    private long _queued;
    private long _inFlight;
    private long _acceptedTotal;
    private long _batches;
    private long _batchInstances;

    public ServerMetrics()
    {
        Meter = new Meter(MeterName);
        _requests = Meter.CreateCounter<long>("saliency.server.requests", description: "HTTP requests answered, by endpoint and status code.");
        _accepted = Meter.CreateCounter<long>("saliency.server.accepted", description: "Instances queued for work (each is answered, also during shutdown).");
        _rejected = Meter.CreateCounter<long>("saliency.server.rejected", description: "Instances refused because the queue was full or the server was stopping (503).");
        _cancelled = Meter.CreateCounter<long>("saliency.server.cancelled",
            description: "Instances dropped because their client disconnected or their deadline passed, by stage (queued: before any work; running: between steps).");
        _duration = Meter.CreateHistogram<double>("saliency.server.request.duration", unit: "s", description: "Time from request start to response, by endpoint.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] });
        _batchSize = Meter.CreateHistogram<int>("saliency.server.batch.size", description: "Instances per executed batch, by kind (predict, explain).",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64] });
        Meter.CreateObservableGauge("saliency.server.queue.length", () => Interlocked.Read(ref _queued), description: "Instances waiting for a worker.");
        Meter.CreateObservableGauge("saliency.server.in_flight", () => Interlocked.Read(ref _inFlight), description: "Instances being computed now.");
    }

    /// <summary>The Meter the instruments belong to.</summary>
    public Meter Meter { get; }

    /// <summary>Instances waiting now.</summary>
    public long Queued => Interlocked.Read(ref _queued);

    /// <summary>Instances being computed now.</summary>
    public long InFlight => Interlocked.Read(ref _inFlight);

    public void Request(string endpoint, int status, double seconds)
    {
        var tags = new KeyValuePair<string, object?>[] { new("endpoint", endpoint), new("code", status) };
        _requests.Add(1, tags);
        _duration.Record(seconds, new KeyValuePair<string, object?>("endpoint", endpoint));
    }

    /// <summary>Instances queued since start.</summary>
    public long AcceptedTotal => Interlocked.Read(ref _acceptedTotal);

    public void Accepted()
    {
        Interlocked.Increment(ref _acceptedTotal);
        _accepted.Add(1);
    }

    public void Rejected(int count) => _rejected.Add(count);

    public void Cancelled(string stage, int count = 1) => _cancelled.Add(count, new KeyValuePair<string, object?>("stage", stage));

    /// <summary>Batches executed since start.</summary>
    public long BatchCount => Interlocked.Read(ref _batches);

    /// <summary>Instances in those batches.</summary>
    public long BatchInstances => Interlocked.Read(ref _batchInstances);

    public void Batch(string kind, int size)
    {
        Interlocked.Increment(ref _batches);
        Interlocked.Add(ref _batchInstances, size);
        _batchSize.Record(size, new KeyValuePair<string, object?>("kind", kind));
    }

    public void QueuedDelta(long delta) => Interlocked.Add(ref _queued, delta);

    public void InFlightDelta(long delta) => Interlocked.Add(ref _inFlight, delta);

    public void Dispose() => Meter.Dispose();
}
