using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using Saliency.Models.Data;
using Saliency.Models.Runtime;
using Saliency.TestSupport;

namespace Saliency.Bench.Models;

/// <summary>
/// Batched forward throughput of the bundled LeNet (<c>models/lenet.onnx</c>) through our ONNX Runtime binding,
/// for batch sizes 1, 8 and 64, on real held-out digits. <c>Run</c> allocates its outputs; <c>RunInto</c> writes
/// into a preallocated buffer (zero copy both ways). The <c>Images/s</c> column is batch ÷ median time; batch 1 is
/// the baseline the larger batches are compared with.
/// Run: <c>cd bench/Saliency.Bench &amp;&amp; dotnet run -c Release -- --filter '*ForwardThroughput*' --job short</c>.
/// </summary>
[Config(typeof(ThroughputConfig))]
public class ForwardThroughputBenchmarks
{
    private InferenceSession _session = null!;
    private FloatTensor[] _input = null!;
    private FloatTensor[] _output = null!;

    /// <summary>Images per forward pass.</summary>
    [Params(1, 8, 64)]
    public int Batch { get; set; }

    /// <summary>
    /// ONNX Runtime intra-op threads: 1, i.e. one core per call — the setting of a host that runs many calls at once,
    /// and the one that keeps this measurement meaningful on a shared machine.
    /// </summary>
    private const int Threads = 1;

    [GlobalSetup]
    public void Setup()
    {
        _session = InferenceSession.Create(RepoFiles.LeNetModel, new InferenceSessionOptions { IntraOpThreads = Threads });
        DigitSet digits = BundledLeNet.Digits();
        int pixels = digits.PixelsPerImage;
        var data = new float[Batch * pixels];
        for (int b = 0; b < Batch; b++)
        {
            var image = digits.ImageBytes(b % digits.Count);
            for (int p = 0; p < pixels; p++) data[b * pixels + p] = image[p] / 255f;
        }
        string inputName = _session.Inputs[0].Name, outputName = _session.Outputs[0].Name;
        _input = [new FloatTensor(inputName, data, [Batch, 1, digits.Rows, digits.Cols])];
        long classes = _session.Outputs[0].Shape[^1];
        _output = [new FloatTensor(outputName, new float[Batch * classes], [Batch, classes])];
    }

    [GlobalCleanup]
    public void Cleanup() => _session.Dispose();

    /// <summary>Forward pass returning freshly allocated logits.</summary>
    [Benchmark(Baseline = true)]
    public float Run() => _session.Run(_input)[0].Data[0];

    /// <summary>Forward pass into a preallocated logits buffer.</summary>
    [Benchmark]
    public float RunInto()
    {
        _session.RunInto(_input, _output);
        return _output[0].Data[0];
    }

    private sealed class ThroughputConfig : ManualConfig
    {
        public ThroughputConfig()
        {
            AddColumn(new ImagesPerSecondColumn());
            AddColumn(StatisticColumn.Median);
        }
    }

    /// <summary>Images per second from the median time of one call and the case's <see cref="Batch"/>.</summary>
    private sealed class ImagesPerSecondColumn : IColumn
    {
        public string Id => "ImagesPerSecond";
        public string ColumnName => "Images/s";
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => 0;
        public bool IsNumeric => true;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => "Images per second: Batch / median time per call";
        public bool IsAvailable(Summary summary) => true;
        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            var stats = summary[benchmarkCase]?.ResultStatistics;
            var batch = benchmarkCase.Parameters.Items.FirstOrDefault(p => p.Name == nameof(Batch))?.Value;
            if (stats is null || batch is null) return "-";
            double seconds = stats.Median * 1e-9;
            return (Convert.ToDouble(batch) / seconds).ToString("N0");
        }
    }
}
