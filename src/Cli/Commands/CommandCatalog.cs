using System.CommandLine;

namespace Saliency.Cli.Commands;

/// <summary>The list of subcommands. Add one line per command here; each command's code sits in its own file.</summary>
internal static class CommandCatalog
{
    public static IEnumerable<Command> All()
    {
        yield return InfoCommand.Create();
        yield return PredictCommand.Create();
        yield return DemoCommand.Create();
        yield return ExportJacobianCommand.Create();
        yield return ExplainCommand.Create();
        yield return ReportCommand.Create();
        yield return ServeCommand.Create();
    }
}
