using Saliency.Models.Data;

namespace Saliency.Cli;

/// <summary>
/// Finds the demo model and digits (<c>models/lenet.onnx</c>, <c>data/</c>). The build copies them next to the
/// command (Saliency.Cli.csproj), so the command finds them from any working directory and wherever the build
/// output lives, without recording a path of the build machine. Search order: the directory in the environment
/// variable <see cref="EnvironmentVariable"/>; <see cref="AppContext.BaseDirectory"/> and the directories above it;
/// the directories above the current directory.
/// </summary>
internal static class BundledAssets
{
    /// <summary>Environment variable naming the repository root (the folder that holds <c>models/</c> and <c>data/</c>).</summary>
    public const string EnvironmentVariable = "SALIENCY_HOME";

    /// <summary>Path of the bundled model relative to the root.</summary>
    public const string ModelRelativePath = "models/lenet.onnx";
    /// <summary>Path of the bundled digit images relative to the root.</summary>
    public const string ImagesRelativePath = "data/digits-heldout-images.idx3-ubyte";
    /// <summary>Path of the bundled digit labels relative to the root.</summary>
    public const string LabelsRelativePath = "data/digits-heldout-labels.idx1-ubyte";
    /// <summary>Folder of the bundled sample PNGs relative to the root.</summary>
    public const string SamplesRelativePath = "data/samples";

    /// <summary>The root folder holding <c>models/lenet.onnx</c>.</summary>
    /// <exception cref="FileNotFoundException">No candidate folder holds the bundled model.</exception>
    public static string Root()
    {
        var tried = new List<string>();
        foreach (var candidate in Candidates())
        {
            tried.Add(candidate);
            if (File.Exists(Path.Combine(candidate, ModelRelativePath)))
                return candidate;
        }
        throw new FileNotFoundException(
            $"Cannot find the bundled model '{ModelRelativePath}'. Run from a clone of the repository, or set " +
            $"{EnvironmentVariable} to its root. Looked in: {string.Join(", ", tried.Distinct())}.");
    }

    /// <summary>Full path of the bundled model.</summary>
    public static string ModelPath => Path.Combine(Root(), ModelRelativePath);

    /// <summary>Full path of the bundled sample PNG folder.</summary>
    public static string SamplesPath => Path.Combine(Root(), SamplesRelativePath);

    /// <summary>Loads the bundled held-out digits.</summary>
    public static DigitSet LoadDigits()
    {
        var root = Root();
        return DigitSet.Load(Path.Combine(root, ImagesRelativePath), Path.Combine(root, LabelsRelativePath));
    }

    private static IEnumerable<string> Candidates()
    {
        var env = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(env))
            yield return Path.GetFullPath(env);
        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                yield return dir.FullName;
    }
}
