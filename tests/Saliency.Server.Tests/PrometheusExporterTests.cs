using System.Diagnostics.Metrics;
using NUnit.Framework;
using Saliency.Server.Telemetry;

namespace Saliency.Server.Tests;

/// <summary>
/// The /metrics text against the exposition format written out by hand for known measurements: counter sums with
/// "_total", cumulative histogram buckets with "+Inf", sum and count, escaped label values, gauges read at scrape time.
/// </summary>
[TestFixture]
public class PrometheusExporterTests
{
    [Test]
    public void KnownMeasurementsRenderAsTheExpositionFormat()
    {
        using var meter = new Meter("Saliency.Server");
        var counter = meter.CreateCounter<long>("saliency.server.requests", description: "Requests.");
        var histogram = meter.CreateHistogram<double>("saliency.server.request.duration", unit: "s", description: "Durations.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.1, 1] });
        long queued = 7;
        meter.CreateObservableGauge("saliency.server.queue.length", () => queued, description: "Queued.");
        using var exporter = new PrometheusExporter(meter);

        counter.Add(2, new KeyValuePair<string, object?>("endpoint", "a\"b"), new KeyValuePair<string, object?>("code", 200));
        counter.Add(3, new KeyValuePair<string, object?>("code", 200), new KeyValuePair<string, object?>("endpoint", "a\"b"));
        foreach (double v in new[] { 0.05, 0.1, 0.5, 2.0 }) histogram.Record(v);
        queued = 9;

        string text = exporter.Render();
        string expected = string.Join('\n',
            "# HELP saliency_server_queue_length Queued.",
            "# TYPE saliency_server_queue_length gauge",
            "saliency_server_queue_length 9",
            "# HELP saliency_server_request_duration_seconds Durations.",
            "# TYPE saliency_server_request_duration_seconds histogram",
            "saliency_server_request_duration_seconds_bucket{le=\"0.1\"} 2", // 0.05 and 0.1 (le is inclusive)
            "saliency_server_request_duration_seconds_bucket{le=\"1\"} 3",
            "saliency_server_request_duration_seconds_bucket{le=\"+Inf\"} 4",
            "saliency_server_request_duration_seconds_sum " + (0.05 + 0.1 + 0.5 + 2.0).ToString("R", System.Globalization.CultureInfo.InvariantCulture),
            "saliency_server_request_duration_seconds_count 4",
            "# HELP saliency_server_requests_total Requests.",
            "# TYPE saliency_server_requests_total counter",
            "saliency_server_requests_total{code=\"200\",endpoint=\"a\\\"b\"} 5",
            "");
        Assert.That(text, Is.EqualTo(expected));
    }

    [Test]
    public void AnotherServersMeterOfTheSameNameIsNotListenedTo()
    {
        // Two servers in one process (tests, benchmarks): each exporter reports its own server's figures only.
        using var own = new Meter("Saliency.Server");
        using var other = new Meter("Saliency.Server");
        var mine = own.CreateCounter<long>("saliency.server.accepted");
        var theirs = other.CreateCounter<long>("saliency.server.accepted");
        using var exporter = new PrometheusExporter(own);
        mine.Add(1);
        theirs.Add(100);
        Assert.That(exporter.Render(), Does.Contain("saliency_server_accepted_total 1\n").And.Not.Contain("100"));
    }
}
