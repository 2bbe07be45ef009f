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
        if (args.Length > 0 && args[0] == "coldstart")
        {
            Environment.ExitCode = ColdStart.FirstExplanation.Run(args);
            return;
        }
        if (args.Length > 0 && args[0] == "lp-table")
        {
            Environment.ExitCode = Lp.TvLpTable.Run(args);
            return;
        }
        if (args.Length > 0 && args[0] == "serve")
        {
            Environment.ExitCode = Serve.ServeLoad.Run(args);
            return;
        }
        if (args.Length > 0 && args[0] == "gram")
        {
            Environment.ExitCode = Linalg.GramSpectrumRun.Run(args);
            return;
        }
        if (args.Length > 0 && args[0] == "e2e")
        {
            Environment.ExitCode = EndToEnd.EndToEndRun.Run(args);
            return;
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
