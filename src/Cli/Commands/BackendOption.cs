using System.CommandLine;
using Saliency.Kernels.Backends;

namespace Saliency.Cli.Commands;

/// <summary>
/// <c>--backend cpu|ilgpu-cpu|cuda</c>: where the saliency solvers run (CASO/CAFO and Smooth CASO/CAFO: the whole FISTA solve, HVPs
/// included). <c>cpu</c> is the hand-written CPU reference; <c>ilgpu-cpu</c> the ILGPU CPU accelerator (the GPU kernels
/// run on the host, for checking); <c>cuda</c> the ILGPU CUDA accelerator. A backend that cannot run here is a user
/// error with the probe's reason.
/// </summary>
internal static class BackendOption
{
    /// <summary>The names <c>--backend</c> accepts, with the <see cref="BackendKind"/> member each one means.</summary>
    public static readonly (string Name, BackendKind Kind)[] Names =
        [("cpu", BackendKind.Cpu), ("ilgpu-cpu", BackendKind.IlgpuCpu), ("cuda", BackendKind.Cuda)];

    public static Option<string> Create()
    {
        var option = new Option<string>("--backend")
        {
            Description = "Compute backend of the solvers: cpu (reference), ilgpu-cpu (ILGPU CPU accelerator) or cuda (NVIDIA GPU).",
            DefaultValueFactory = _ => "cpu",
        };
        option.AcceptOnlyFromAmong(Names.Select(n => n.Name).ToArray());
        return option;
    }

    /// <summary>The backend kind a <c>--backend</c> value names.</summary>
    /// <exception cref="UserInputException">An unknown name.</exception>
    public static BackendKind Parse(string? name)
    {
        foreach (var (n, kind) in Names)
            if (string.Equals(n, name, StringComparison.OrdinalIgnoreCase))
                return kind;
        throw new UserInputException($"unknown backend '{name}'; use one of {string.Join(", ", Names.Select(x => x.Name))}.");
    }

    /// <summary>Creates the backend a <c>--backend</c> value names; dispose it when done.</summary>
    /// <exception cref="UserInputException">The backend cannot run here (the message says why, e.g. no CUDA driver or device).</exception>
    public static IComputeBackend Open(string? name)
    {
        var kind = Parse(name);
        try
        {
            return ComputeBackends.Create(kind);
        }
        catch (BackendUnavailableException e)
        {
            // One line: the probe's reason may span several (driver messages).
            throw new UserInputException($"--backend {name}: {string.Join(" ", e.Message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))}");
        }
    }
}
