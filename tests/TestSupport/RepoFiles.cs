using System.Reflection;

namespace Saliency.TestSupport;

/// <summary>
/// Files of the repository the tests read (the bundled model <c>models/lenet.onnx</c>, the digits under <c>data/</c>,
/// README.md). The root is the first folder above the test assembly or the current directory that holds
/// Saliency.Gpu.sln and the model (the CLI's build also copies the model next to the binaries, so the model alone does
/// not mark the root), else the repository root recorded when this (never shipped) assembly was built, which is needed when the build
/// output lives outside the tree (<c>SALIENCY_BUILD_ROOT</c>).
/// </summary>
internal static class RepoFiles
{
    private static readonly Lazy<string> RootFolder = new(FindRoot);

    /// <summary>The repository root.</summary>
    public static string Root => RootFolder.Value;

    /// <summary>Full path of a file or folder given relative to the root.</summary>
    public static string Path(string relative) => System.IO.Path.Combine(Root, relative);

    /// <summary>The bundled LeNet.</summary>
    public static string LeNetModel => Path("models/lenet.onnx");

    /// <summary>The 500 held-out digit images (IDX).</summary>
    public static string DigitImages => Path("data/digits-heldout-images.idx3-ubyte");

    /// <summary>Their labels (IDX).</summary>
    public static string DigitLabels => Path("data/digits-heldout-labels.idx1-ubyte");

    /// <summary>The folder of sample PNGs.</summary>
    public static string Samples => Path("data/samples");

    private static string FindRoot()
    {
        var tried = new List<string>();
        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                tried.Add(dir.FullName);
                if (IsRoot(dir.FullName)) return dir.FullName;
            }
        var recorded = typeof(RepoFiles).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "SaliencyRepoRoot")?.Value;
        if (!string.IsNullOrEmpty(recorded) && IsRoot(recorded))
            return recorded;
        throw new FileNotFoundException($"The repository root (Saliency.Gpu.sln, models/lenet.onnx) was not found above {string.Join(", ", tried.Take(2))} nor at '{recorded}'.");
    }

    private static bool IsRoot(string dir) =>
        File.Exists(System.IO.Path.Combine(dir, "Saliency.Gpu.sln")) && File.Exists(System.IO.Path.Combine(dir, "models", "lenet.onnx"));
}
