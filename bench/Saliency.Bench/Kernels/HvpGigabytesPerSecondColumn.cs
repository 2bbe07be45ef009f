using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Saliency.Bench.Kernels;

/// <summary>Bytes of W an HVP streams (2·c'·d·4, c' = the case's ActiveClasses) divided by the median time of the call.</summary>
internal sealed class HvpGigabytesPerSecondColumn : IColumn
{
    /// <summary>d of the HVP benchmarks (3·224·224).</summary>
    public const int Dimension = 150_528;

    public string Id => "HvpGBps";
    public string ColumnName => "GB/s";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "Bytes of W streamed per call (2·c'·d·4) / median time, in 1e9 bytes per second";
    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var report = summary[benchmarkCase];
        if (report?.ResultStatistics is null) return "NA";
        int classes = (int)benchmarkCase.Parameters["ActiveClasses"];
        double bytes = 2.0 * classes * HvpGigabytesPerSecondColumn.Dimension * sizeof(float);
        return (bytes / (report.ResultStatistics.Median * 1e-9) / 1e9).ToString("F2");
    }
}
