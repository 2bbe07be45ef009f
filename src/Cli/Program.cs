using System.CommandLine;
using System.Runtime.InteropServices;
using Saliency.Cli.Commands;

namespace Saliency.Cli;

/// <summary>Entry point of the <c>saliency</c> command. Each subcommand lives in Commands/ and exposes Create().</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        // Ctrl-C: one line on stderr, then the default action (the runtime ends the process by SIGINT, which shells and
        // Process.ExitCode report as 130 = 128 + SIGINT). The commands' work is synchronous native calls (ONNX Runtime,
        // solvers) that cannot be interrupted midway, and atomic writes leave no partial output files behind.
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, _ => Console.Error.WriteLine("cancelled"));
        var root = BuildRootCommand();
        // System.CommandLine's own termination handling serves asynchronous actions only; ours are synchronous.
        return root.Parse(args).Invoke(new InvocationConfiguration { ProcessTerminationTimeout = null });
    }

    public static RootCommand BuildRootCommand()
    {
        var root = new RootCommand("saliency: explain image classifiers given as ONNX models (CAFO/CASO, LEG/LEG-TV, baselines).");
        foreach (var command in CommandCatalog.All())
            root.Subcommands.Add(command);
        return root;
    }
}
