using BenchmarkDotNet.Running;

namespace Saliency.Bench;

/// <summary>
/// Benchmark entry point: <c>dotnet run -c Release --project bench/Saliency.Bench -- --filter '*Name*'</c>.
/// Peer comparisons (HiGHS, CLP, memory copy baselines) are measured in the same run as ours.
/// </summary>
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
