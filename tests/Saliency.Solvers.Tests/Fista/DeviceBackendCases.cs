using Saliency.Kernels.Backends;

namespace Saliency.Solvers.Tests.Fista;

/// <summary>
/// The backends the device-resident solver tests run on: every backend that runs here (the CPU reference always;
/// accelerators when present). A backend that cannot start is listed with the reason, and its cases are ignored.
/// </summary>
internal static class DeviceBackendCases
{
    public static IEnumerable<BackendKind> Kinds() => Enum.GetValues<BackendKind>();

    /// <summary>The backend of <paramref name="kind"/>, or an NUnit ignore with the reason.</summary>
    public static IComputeBackend Create(BackendKind kind)
    {
        try
        {
            return ComputeBackends.Create(kind);
        }
        catch (BackendUnavailableException ex)
        {
            NUnit.Framework.Assert.Ignore($"The {kind} backend cannot run here (no GPU): {ex.Message}");
            throw;
        }
    }
}
