using System.CommandLine;
using Saliency.Cli.Commands;

namespace Saliency.Cli;

/// <summary>Entry point of the <c>saliency</c> command. Each subcommand lives in Commands/ and exposes Create().</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        var root = BuildRootCommand();
        return root.Parse(args).Invoke();
    }

    public static RootCommand BuildRootCommand()
    {
        var root = new RootCommand("saliency: explain image classifiers given as ONNX models (CAFO/CASO, LEG/LEG-TV, baselines).");
        foreach (var command in CommandCatalog.All())
            root.Subcommands.Add(command);
        return root;
    }
}
