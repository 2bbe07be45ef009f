using BenchmarkDotNet.Running;

namespace Saliency.Bench;

/// <summary>
/// Benchmark entry point: <c>dotnet run -c Release --project bench/Saliency.Bench -- --filter '*Name*'</c>.
/// Peer comparisons (HiGHS, CLP, memory copy baselines) are measured in the same run as ours.
/// <c>-- coldstart caso|gradient [repeats]</c> runs the cold-start Stopwatch harness instead (ColdStart/FirstExplanation.cs);
/// <c>-- lp-table</c> prints the LEG-TV LP size table (Lp/TvLpTable.cs);
/// <c>-- serve [seconds] [clients] [rounds]</c> the load test of <c>saliency serve</c> (Serve/ServeLoad.cs);
/// <c>-- e2e MODEL IMAGE METHOD ...</c> the end-to-end per-image harness (EndToEnd/EndToEndRun.cs);
/// <c>-- gram [d] [c] [repeats]</c> the all-class spectrum's Gram and eigensolver timed apart (Linalg/GramSpectrumRun.cs).
/// </summary>
public static class Program
{
    public static void Main(string[] args)
    {
        // The Stopwatch harnesses, by their first argument; anything else goes to BenchmarkDotNet.
        Func<string[], int>? harness = (args.Length > 0 ? args[0] : null) switch
        {
            "coldstart" => ColdStart.FirstExplanation.Run,
            "lp-table" => Lp.TvLpTable.Run,
            "serve" => Serve.ServeLoad.Run,
            "gram" => Linalg.GramSpectrumRun.Run,
            "e2e" => EndToEnd.EndToEndRun.Run,
            _ => null,
        };
        if (harness is not null)
        {
            Environment.ExitCode = harness(args);
            return;
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
