using System.Globalization;
using Saliency.Solvers.Caso;
using Spectre.Console;

namespace Saliency.Cli.Commands;

/// <summary>The λ1 sweep's path as a compact table: one row per solved λ1, in order of λ1, the choice marked.</summary>
internal static class SweepPathTable
{
    /// <summary>
    /// Columns: λ1, η, non-zero entries, modelled loss, FISTA iterations (and status unless converged), the stage that
    /// solved the point (grid, search, probe, bisect) with its batch number, and a mark: "in range", "← chosen".
    /// </summary>
    public static Table Create(Lambda1SweepResult sweep)
    {
        ArgumentNullException.ThrowIfNull(sweep);
        var table = new Table().Title(Markup.Escape($"λ1 sweep path ({sweep.Path.Count} solves in {sweep.Batches} batches)"))
            .AddColumn("λ1").AddColumn("η").AddColumn("non-zero").AddColumn("loss").AddColumn("FISTA").AddColumn("stage").AddColumn("");
        foreach (var p in sweep.Path)
        {
            string mark = p.Selected ? "← chosen" : p.InRange ? "in range" : "";
            table.AddRow(
                F($"{p.Lambda1:G4}"), F($"{p.SparsityRatio:0.0000}"), F($"{p.NonZeros}"), F($"{p.Loss:G4}"),
                Markup.Escape(F($"{p.Iterations} it{(p.Status == Saliency.Solvers.Fista.FistaStatus.Converged ? "" : ", " + p.Status)}")),
                F($"{Stage(p.Phase)} {p.Round}"), Markup.Escape(mark));
        }
        return table;
    }

    private static string Stage(Lambda1SweepPhase phase) => phase switch
    {
        Lambda1SweepPhase.Bisection => "bisect",
        _ => phase.ToString().ToLowerInvariant(),
    };

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
