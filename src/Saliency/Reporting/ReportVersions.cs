using System.Reflection;
using System.Runtime.InteropServices;
using Saliency.Models.Runtime;

namespace Saliency.Reporting;

/// <summary>The versions a report records: .NET, OS, ONNX Runtime, and the packages in use — from the loaded assemblies,
/// with no git state (an informational version's "+commit" suffix is dropped).</summary>
public static class ReportVersions
{
    /// <summary>Name → version, of the loaded assemblies and of <paramref name="also"/> (packages not loaded yet, e.g. the plotting library).</summary>
    public static IReadOnlyDictionary<string, string> Collect(IEnumerable<Assembly>? also = null)
    {
        var versions = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            [".NET"] = RuntimeInformation.FrameworkDescription,
            ["OS"] = RuntimeInformation.OSDescription,
            ["architecture"] = RuntimeInformation.ProcessArchitecture.ToString(),
            ["ONNX Runtime (native)"] = InferenceSession.RuntimeVersion,
        };
        // SkiaSharp draws the report's pictures after the run; name it now.
        foreach (var assembly in AppDomain.CurrentDomain.GetAssemblies().Append(typeof(SkiaSharp.SKBitmap).Assembly).Concat(also ?? []).Distinct())
        {
            string? name = assembly.GetName().Name;
            if (name is null || assembly.IsDynamic) continue;
            if (!(name.StartsWith("Saliency", StringComparison.Ordinal) || name == "saliency" || name.StartsWith("Microsoft.ML.OnnxRuntime", StringComparison.Ordinal)
                  || name is "SkiaSharp" or "ScottPlot" or "Spectre.Console" or "MathNet.Numerics" or "ILGPU" or "ILGPU.Algorithms" or "System.CommandLine" or "Google.Protobuf"))
                continue;
            var informational = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
                ?? assembly.GetName().Version?.ToString() ?? "?";
            int plus = informational.IndexOf('+', StringComparison.Ordinal);
            versions[name] = plus >= 0 ? informational[..plus] : informational;
        }
        return versions;
    }
}
