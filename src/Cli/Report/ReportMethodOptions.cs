using System.CommandLine;
using System.Globalization;
using Saliency.Cli.Commands;
using Saliency.Explainers;
using Saliency.Kernels.Backends;
using Saliency.Reporting;

namespace Saliency.Cli.Report;

/// <summary>
/// The methods of a report and their options, taken from the CLI's method catalogue: every name
/// <see cref="ExplainCommand.Methods"/> lists, built by the same factories as <c>explain</c>
/// (<see cref="BaselineMethods.Explainer"/>, <see cref="ExplainCommand.Explainer"/>) with the same options, so a method
/// added to the catalogue appears in reports without a change here.
/// </summary>
internal sealed class ReportMethodOptions
{
    public Option<string?> Methods { get; } = new("--methods")
    {
        Description = "Comma-separated methods (default: every method of explain's --method).",
    };

    public Option<int?> Samples { get; } = new("--samples")
    {
        Description = "Samples of every sampled method (LEG n, smoothgrad copies, lime samples, ...); default: each method's explain default.",
    };

    public Option<double?> Lambda1 { get; } = new("--lambda1") { Description = "CAFO/CASO: a fixed λ1 instead of the sparsity sweep." };

    public Option<double> BoundFactor { get; } = new("--bound-factor")
    {
        Description = "LEG-TV: K_L of L = K_L · L_max.",
        DefaultValueFactory = _ => ExplainCommand.DefaultBoundFactor,
    };

    public BaselineMethods Baselines { get; } = new();

    /// <summary>The options, to add to a command.</summary>
    public IEnumerable<Option> All => [Methods, Samples, Lambda1, BoundFactor, .. Baselines.All];

    /// <summary>The methods named by <c>--methods</c> (or all of the catalogue), each with its explainer factory.</summary>
    /// <param name="parse">The parsed command line holding <see cref="All"/>.</param>
    /// <param name="backend">Where CAFO/CASO solves run.</param>
    /// <param name="overrides">Method-specific explainers replacing the catalogue's (the demo's LEG-TV grid).</param>
    public IReadOnlyList<ReportMethod> Resolve(ParseResult parse, IComputeBackend? backend,
        IReadOnlyDictionary<string, Func<ulong, IExplainer>>? overrides = null)
    {
        var names = parse.GetValue(Methods) is string list
            ? list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : ExplainCommand.Methods;
        if (names.Length == 0) throw new UserInputException("--methods names no method.");
        foreach (var name in names)
            if (!ExplainCommand.Methods.Contains(name))
                throw new UserInputException($"unknown method '{name}' in --methods; use any of {string.Join(", ", ExplainCommand.Methods)}.");
        if (names.Distinct().Count() != names.Length) throw new UserInputException("--methods lists a method twice.");
        int? samples = parse.GetValue(Samples);
        if (samples is < 2) throw new UserInputException($"--samples must be ≥ 2, got {samples}.");
        double? lambda1 = parse.GetValue(Lambda1);
        double kl = parse.GetValue(BoundFactor);
        if (!(kl >= 0 && kl <= 1)) throw new UserInputException($"--bound-factor must lie in [0, 1], got {kl}.");
        // Build each explainer once now so that a bad option fails before any model work.
        var methods = names.Select(name => new ReportMethod(name, overrides?.GetValueOrDefault(name) ?? (seed =>
        {
            int n = samples ?? BaselineMethods.DefaultSamples(name);
            return BaselineMethods.Handles(name)
                ? Baselines.Explainer(name, parse, seed, n, lambda1, backend)
                : ExplainCommand.Explainer(name, lambda1, seed, n, kl, backend);
        }))).ToArray();
        foreach (var m in methods) _ = m.Create(0);
        return methods;
    }

    /// <summary>The method options as given (or defaulted), for the report's parameter table.</summary>
    public IReadOnlyDictionary<string, string> Describe(ParseResult parse)
    {
        var settings = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var option in All.Where(o => o != Methods))
        {
            var result = parse.GetResult(option);
            object? value = result is null
                ? (option.HasDefaultValue ? option.GetDefaultValue() : null)
                : result.GetValueOrDefault<object?>();
            settings[option.Name] = value switch
            {
                null => "(method default)",
                IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
                var v => v.ToString() ?? "",
            };
        }
        return settings;
    }

    /// <summary>Parses <paramref name="args"/> against these options alone (the demo's fixed settings).</summary>
    public ParseResult Parse(params string[] args)
    {
        var command = new RootCommand();
        foreach (var option in All) command.Options.Add(option);
        var parse = command.Parse(args);
        if (parse.Errors.Count > 0) throw new UserInputException(string.Join("; ", parse.Errors.Select(e => e.Message)));
        return parse;
    }
}
