using System.Reflection;

namespace Saliency.Models.Data;

/// <summary>
/// Finds the demo model and digits that ship with the repository (<c>models/lenet.onnx</c>, <c>data/</c>).
/// Search order: the directory in the environment variable <see cref="EnvironmentVariable"/>; the directories
/// above <see cref="AppContext.BaseDirectory"/>; the directories above the current directory; the repository
/// root recorded at build time (needed when the build output lives outside the tree, e.g. with
/// <c>SALIENCY_BUILD_ROOT</c>).
/// </summary>
public static class BundledAssets
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
        var recorded = typeof(BundledAssets).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "SaliencyRepoRoot")?.Value;
        if (!string.IsNullOrEmpty(recorded))
            yield return Path.GetFullPath(recorded);
    }
}
