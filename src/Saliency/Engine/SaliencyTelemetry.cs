using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Saliency;

/// <summary>
/// The engine's OpenTelemetry-compatible signals: the Meter and ActivitySource named <see cref="Name"/>. Listen with
/// <c>MeterListener</c> / <c>ActivityListener</c>, or <c>AddMeter("Saliency.Gpu")</c> / <c>AddSource("Saliency.Gpu")</c>
/// in OpenTelemetry. Instruments (docs/api.md): <c>saliency.explanations</c>, <c>saliency.explanation.duration</c>,
/// <c>saliency.in_flight</c>, <c>saliency.rejections</c>, <c>saliency.predictions</c>.
/// </summary>
public static class SaliencyTelemetry
{
    /// <summary>"Saliency.Gpu": the name of the Meter and of the ActivitySource.</summary>
    public const string Name = "Saliency.Gpu";

    internal static readonly ActivitySource ActivitySource = new(Name, typeof(SaliencyTelemetry).Assembly.GetName().Version?.ToString());
}

/// <summary>One engine's instruments (one Meter per engine, disposed with it).</summary>
internal sealed class EngineMetrics : IDisposable
{
    private readonly Meter _meter = new(SaliencyTelemetry.Name, typeof(SaliencyTelemetry).Assembly.GetName().Version?.ToString());

    public EngineMetrics()
    {
        Explanations = _meter.CreateCounter<long>("saliency.explanations", "{explanation}",
            "Explanations finished, by model, method and outcome (ok, error, cancelled, rejected).");
        Predictions = _meter.CreateCounter<long>("saliency.predictions", "{image}", "Images predicted, by model.");
        Duration = _meter.CreateHistogram<double>("saliency.explanation.duration", "s", "Wall time of an explanation, queueing excluded.");
        InFlight = _meter.CreateUpDownCounter<long>("saliency.in_flight", "{request}", "Explanations and predictions running or waiting for a slot.");
        Rejections = _meter.CreateCounter<long>("saliency.rejections", "{request}", "Requests refused before running, by reason (a ResourceBudget limit or 'request').");
    }

    public Counter<long> Explanations { get; }
    public Counter<long> Predictions { get; }
    public Histogram<double> Duration { get; }
    public UpDownCounter<long> InFlight { get; }
    public Counter<long> Rejections { get; }

    public void Dispose() => _meter.Dispose();
}
