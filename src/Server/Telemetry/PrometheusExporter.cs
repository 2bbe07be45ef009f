using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace Saliency.Server.Telemetry;

/// <summary>
/// Renders System.Diagnostics.Metrics instruments in the Prometheus text exposition format 0.0.4
/// (https://prometheus.io/docs/instrumenting/exposition_formats/) for <c>/metrics</c>. It listens, through a
/// <see cref="MeterListener"/>, to the server's own Meter and to every other Meter whose name starts with
/// "Saliency." (the library's instruments), aggregating in process: counters as sums, up-down counters and gauges
/// as current values, histograms as cumulative buckets with sum and count. Written here because the OpenTelemetry
/// Prometheus exporter is still a prerelease package; this covers exactly the instrument kinds the project uses.
/// </summary>
/// <remarks>Names follow the OpenTelemetry → Prometheus mapping: '.' becomes '_', unit "s" adds "_seconds",
/// counters end in "_total".</remarks>
internal sealed class PrometheusExporter : IDisposable
{
    /// <summary>The Content-Type of the text format.</summary>
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    // OpenTelemetry's default explicit bucket boundaries, for histograms that give no advice.
    private static readonly double[] DefaultBounds = [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000];

    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<Instrument, Family> _byInstrument = new();
    // By Prometheus name: instruments of the same name on several Meter objects (one engine Meter per SaliencyEngine)
    // feed one family, so the text never repeats a family.
    private readonly ConcurrentDictionary<string, Family> _families = new(StringComparer.Ordinal);

    /// <summary>Starts listening to <paramref name="own"/> and to the library's meters.</summary>
    public PrometheusExporter(Meter own)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, own)
                || (instrument.Meter.Name.StartsWith("Saliency.", StringComparison.Ordinal) && instrument.Meter.Name != ServerMetrics.MeterName))
            {
                var family = new Family(instrument);
                _byInstrument.TryAdd(instrument, _families.GetOrAdd(family.Name, family));
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<int>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Record(i, v, tags));
        _listener.SetMeasurementEventCallback<float>((i, v, tags, _) => Record(i, v, tags));
        _listener.MeasurementsCompleted = (i, _) => _byInstrument.TryRemove(i, out Family? _);
        _listener.Start();
    }

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (_byInstrument.TryGetValue(instrument, out var family)) family.Record(value, LabelText(tags));
    }

    /// <summary>The current figures as Prometheus text (observable instruments are read now).</summary>
    public string Render()
    {
        _listener.RecordObservableInstruments();
        var text = new StringBuilder();
        foreach (var family in _families.Values.OrderBy(f => f.Name, StringComparer.Ordinal))
            family.Write(text);
        return text.ToString();
    }

    /// <summary>'{a="x",b="y"}' with the tags sorted by key, or "" without tags.</summary>
    private static string LabelText(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (tags.Length == 0) return "";
        var pairs = tags.ToArray();
        Array.Sort(pairs, (a, b) => string.CompareOrdinal(a.Key, b.Key));
        var sb = new StringBuilder("{");
        for (int i = 0; i < pairs.Length; i++)
        {
            if (i > 0) sb.Append(',');
            sb.Append(Sanitize(pairs[i].Key)).Append("=\"");
            string value = Convert.ToString(pairs[i].Value, CultureInfo.InvariantCulture) ?? "";
            // Label values escape backslash, double quote and line feed (exposition format).
            sb.Append(value.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n")).Append('"');
        }
        return sb.Append('}').ToString();
    }

    /// <summary>A metric or label name: [a-zA-Z_:][a-zA-Z0-9_:]*, other characters become '_'.</summary>
    private static string Sanitize(string name)
    {
        var chars = name.ToCharArray();
        for (int i = 0; i < chars.Length; i++)
            if (!(char.IsAsciiLetterOrDigit(chars[i]) || chars[i] is '_' or ':')) chars[i] = '_';
        if (chars.Length == 0 || char.IsAsciiDigit(chars[0])) return "_" + new string(chars);
        return new string(chars);
    }

    private static string Format(double v) => double.IsPositiveInfinity(v) ? "+Inf" : v.ToString("R", CultureInfo.InvariantCulture);

    public void Dispose() => _listener.Dispose();

    /// <summary>One instrument: its Prometheus name and type, and one series per label set.</summary>
    private sealed class Family
    {
        private enum Kind { Counter, Gauge, CumulativeCounter, Histogram }

        private readonly Kind _kind;
        private readonly double[] _bounds = [];
        private readonly string _help;
        private readonly ConcurrentDictionary<string, Series> _series = new(StringComparer.Ordinal);

        public Family(Instrument instrument)
        {
            var type = instrument.GetType().GetGenericTypeDefinition();
            _kind = type == typeof(Counter<>) ? Kind.Counter
                : type == typeof(ObservableCounter<>) ? Kind.CumulativeCounter
                : type == typeof(Histogram<>) ? Kind.Histogram
                : Kind.Gauge; // UpDownCounter (summed), ObservableGauge / ObservableUpDownCounter (last value), Gauge
            Summed = type == typeof(UpDownCounter<>);
            string name = Sanitize(instrument.Name);
            if (instrument.Unit == "s") name += "_seconds";
            else if (instrument.Unit == "By") name += "_bytes";
            Name = name;
            _help = (instrument.Description ?? instrument.Name).Replace("\\", "\\\\").Replace("\n", "\\n");
            if (_kind == Kind.Histogram) _bounds = AdvisedBounds(instrument) ?? DefaultBounds;
        }

        public string Name { get; }

        private bool Summed { get; }

        private static double[]? AdvisedBounds(Instrument instrument) => instrument switch
        {
            Histogram<double> h => h.Advice?.HistogramBucketBoundaries?.ToArray(),
            Histogram<long> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToArray(),
            Histogram<int> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToArray(),
            Histogram<float> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToArray(),
            _ => null,
        };

        public void Record(double value, string labels)
        {
            var series = _series.GetOrAdd(labels, _ => new Series(_bounds.Length));
            lock (series)
            {
                switch (_kind)
                {
                    case Kind.Counter:
                        series.Value += value;
                        break;
                    case Kind.Histogram:
                        int bucket = Array.BinarySearch(_bounds, value);
                        // Bucket i counts values ≤ bounds[i] ("le"); past the last bound is the +Inf bucket.
                        series.Buckets[bucket >= 0 ? bucket : ~bucket]++;
                        series.Sum += value;
                        series.Count++;
                        break;
                    default:
                        series.Value = Summed ? series.Value + value : value;
                        break;
                }
            }
        }

        public void Write(StringBuilder text)
        {
            string full = _kind is Kind.Counter or Kind.CumulativeCounter ? Name + "_total" : Name;
            string type = _kind switch { Kind.Counter or Kind.CumulativeCounter => "counter", Kind.Histogram => "histogram", _ => "gauge" };
            text.Append("# HELP ").Append(full).Append(' ').Append(_help).Append('\n');
            text.Append("# TYPE ").Append(full).Append(' ').Append(type).Append('\n');
            foreach (var (labels, series) in _series.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                lock (series)
                {
                    if (_kind != Kind.Histogram)
                    {
                        text.Append(full).Append(labels).Append(' ').Append(Format(series.Value)).Append('\n');
                        continue;
                    }
                    long cumulative = 0;
                    for (int b = 0; b <= _bounds.Length; b++)
                    {
                        cumulative += series.Buckets[b];
                        string le = b < _bounds.Length ? Format(_bounds[b]) : "+Inf";
                        string bucketLabels = labels.Length == 0 ? $"{{le=\"{le}\"}}" : $"{labels[..^1]},le=\"{le}\"}}";
                        text.Append(Name).Append("_bucket").Append(bucketLabels).Append(' ').Append(cumulative.ToString(CultureInfo.InvariantCulture)).Append('\n');
                    }
                    text.Append(Name).Append("_sum").Append(labels).Append(' ').Append(Format(series.Sum)).Append('\n');
                    text.Append(Name).Append("_count").Append(labels).Append(' ').Append(series.Count.ToString(CultureInfo.InvariantCulture)).Append('\n');
                }
            }
        }
    }

    private sealed class Series(int bounds)
    {
        public double Value;
        public double Sum;
        public long Count;
        public readonly long[] Buckets = new long[bounds + 1];
    }
}
