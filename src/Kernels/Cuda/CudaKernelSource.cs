using System.Reflection;

namespace Saliency.Kernels.Cuda;

/// <summary>
/// CUDA C source of one module (usually the <c>.cu</c> file next to a kernel's C# launcher, embedded as a resource).
/// Compiled once per process and device architecture by NVRTC; see <see cref="CudaBackend.GetKernel"/>.
/// </summary>
/// <param name="Name">Unique module name (used as the NVRTC program name and the cache key).</param>
/// <param name="Code">CUDA C++ source; kernels to be looked up must be <c>extern "C"</c>.</param>
public sealed record CudaKernelSource(string Name, string Code)
{
    /// <summary>Reads an embedded resource of <paramref name="assembly"/> whose name ends with <paramref name="fileName"/>.</summary>
    /// <exception cref="InvalidOperationException">No or several resources match.</exception>
    public static CudaKernelSource FromResource(Assembly assembly, string fileName)
    {
        var names = assembly.GetManifestResourceNames().Where(n => n.EndsWith(fileName, StringComparison.Ordinal)).ToArray();
        if (names.Length != 1)
            throw new InvalidOperationException(
                $"Expected exactly one embedded resource ending in '{fileName}' in {assembly.GetName().Name}, found {names.Length}.");
        using var stream = assembly.GetManifestResourceStream(names[0])!;
        using var reader = new StreamReader(stream);
        return new CudaKernelSource(fileName, reader.ReadToEnd());
    }

    /// <summary>Reads a <c>.cu</c> file embedded in Saliency.Kernels.</summary>
    internal static CudaKernelSource Embedded(string fileName) => FromResource(typeof(CudaKernelSource).Assembly, fileName);
}
