using System.Diagnostics;
using System.Globalization;
using Saliency.Kernels.Backends;

namespace Saliency.GpuCheck;

/// <summary>
/// <c>saliency-gpu-check [--accelerator cuda|ilgpu-cpu] [--budget-seconds s]</c>: runs every kernel on the accelerator
/// against the CPU reference backend (same seeded inputs, stated tolerance each), then the GPU benchmarks (HVP
/// bandwidth against a device copy, PDHG on 224² and a 3×224² batch, CASO iterations/s), and prints one table.
/// Exit codes: 0 all parity checks pass; 1 a parity check failed; 2 the accelerator is not available (the reason is
/// printed); 64 bad arguments.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        string accelerator = "cuda";
        double budget = 270;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--accelerator" when i + 1 < args.Length:
                    accelerator = args[++i];
                    break;
                case "--budget-seconds" when i + 1 < args.Length && double.TryParse(args[i + 1], NumberStyles.Float, CultureInfo.InvariantCulture, out budget) && budget > 0:
                    i++;
                    break;
                case "-h" or "--help":
                    Console.WriteLine("usage: saliency-gpu-check [--accelerator cuda|ilgpu-cpu] [--budget-seconds 270]");
                    return 0;
                default:
                    Console.Error.WriteLine($"error: unknown argument '{args[i]}' (usage: saliency-gpu-check [--accelerator cuda|ilgpu-cpu] [--budget-seconds s])");
                    return 64;
            }
        }

        var kindName = accelerator switch { "cuda" => "Cuda", "ilgpu-cpu" => "IlgpuCpu", _ => null };
        if (kindName is null)
        {
            Console.Error.WriteLine($"error: unknown accelerator '{accelerator}'; use cuda or ilgpu-cpu.");
            return 64;
        }
        if (!Enum.TryParse<BackendKind>(kindName, out var kind))
        {
            Console.Error.WriteLine($"error: this build has no {accelerator} backend.");
            return 2;
        }
        IComputeBackend device;
        try
        {
            device = ComputeBackends.Create(kind);
        }
        catch (BackendUnavailableException e)
        {
            Console.Error.WriteLine(kind == BackendKind.Cuda
                ? $"error: no CUDA device is usable here, nothing was checked: {e.Reason}"
                : $"error: {e.Message}");
            return 2;
        }

        using (device)
        {
            var clock = Stopwatch.StartNew();
            var reference = ComputeBackends.Cpu;
            bool full = kind == BackendKind.Cuda;
            Console.WriteLine($"saliency-gpu-check: {device.Kind} backend on {device.DeviceName}; reference {reference.DeviceName}; .NET {Environment.Version}");
            Console.WriteLine(full
                ? "sizes: full (ImageNet-sized W: d = 3·224², c = 1000)"
                : "sizes: reduced for a CPU accelerator (proves the kit end to end; the figures are not GPU figures)");

            var table = new Table(["section", "check", "size", "result", "target / peer", "verdict"]);
            int failures = KernelParity.Run(device, reference, table);
            table.Separator();
            Benchmarks.Run(device, reference, table, full, TimeSpan.FromSeconds(budget), clock);
            table.Print(Console.Out);
            Console.WriteLine($"{(failures == 0 ? "all parity checks passed" : $"{failures} parity check(s) FAILED")}; total {clock.Elapsed.TotalSeconds:0.0} s");
            return failures == 0 ? 0 : 1;
        }
    }
}

/// <summary>A plain fixed-width table (no console library: the kit is one self-contained file).</summary>
internal sealed class Table(string[] headers)
{
    private readonly List<string[]?> _rows = [];
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    /// <summary>Adds a row, and echoes it on stderr as progress (a run cut short by a timeout still shows how far it got).</summary>
    public void Add(params string[] cells)
    {
        _rows.Add(cells);
        Console.Error.WriteLine($"[{_clock.Elapsed.TotalSeconds,6:0.0} s] {string.Join(" | ", cells)}");
    }

    public void Separator() => _rows.Add(null);

    public void Print(TextWriter w)
    {
        var width = headers.Select(h => h.Length).ToArray();
        foreach (var r in _rows.OfType<string[]>())
            for (int i = 0; i < r.Length && i < width.Length; i++) width[i] = Math.Max(width[i], r[i].Length);
        string Line(string[] cells) => string.Join(" | ", cells.Select((c, i) => c.PadRight(width[i]))).TrimEnd();
        string rule = string.Join("-+-", width.Select(n => new string('-', n)));
        w.WriteLine(Line(headers));
        w.WriteLine(rule);
        foreach (var r in _rows) w.WriteLine(r is null ? rule : Line(r));
    }
}
