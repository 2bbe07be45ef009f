using System.Runtime.InteropServices;

namespace Saliency.Models.Runtime;

/// <summary>
/// Checks, before ONNX Runtime is asked for the CUDA execution provider, that everything it needs is there, so that a
/// missing piece is reported by name (ONNX Runtime's own message is a bare dlopen failure of
/// <c>libonnxruntime_providers_cuda.so</c>, or "not enabled in this build" for the CPU package).
/// </summary>
/// <remarks>
/// The list follows the dynamic section of <c>libonnxruntime_providers_cuda.so</c> in Microsoft.ML.OnnxRuntime.Gpu.Linux
/// 1.31.0 (<c>readelf -d</c>: libcuda.so.1, libcudart.so.13, libcublas.so.13, libcublasLt.so.13, libcurand.so.10) plus
/// cuDNN 9, which the provider opens at run time (https://onnxruntime.ai/docs/execution-providers/CUDA-ExecutionProvider.html#requirements).
/// Probing loads each library with <see cref="NativeLibrary.TryLoad(string, out nint)"/> and frees it again.
/// </remarks>
internal static class CudaProviderProbe
{
    /// <summary>ONNX Runtime's name of the provider in <c>OrtEnv.GetAvailableProviders()</c>.</summary>
    public const string ProviderName = "CUDAExecutionProvider";

    /// <summary>One library the provider needs: the soname probed and the words a person recognises it by.</summary>
    internal sealed record Requirement(string Library, string What);

    internal static readonly Requirement[] Requirements =
    [
        new("libcuda.so.1", "the NVIDIA driver (libcuda.so.1; a GPU and its driver, e.g. Debian's libcuda1 / nvidia-driver)"),
        new("libcudart.so.13", "the CUDA 13 runtime (libcudart.so.13, e.g. pip nvidia-cuda-runtime or the CUDA toolkit)"),
        new("libcublas.so.13", "cuBLAS for CUDA 13 (libcublas.so.13)"),
        new("libcublasLt.so.13", "cuBLASLt for CUDA 13 (libcublasLt.so.13)"),
        new("libcurand.so.10", "cuRAND (libcurand.so.10)"),
        new("libcudnn.so.9", "cuDNN 9 (libcudnn.so.9)"),
    ];

    /// <summary>
    /// What is missing for the CUDA provider: the GPU package when ONNX Runtime does not list the provider, then every
    /// library of <see cref="Requirements"/> that <paramref name="tryLoad"/> cannot load. Empty = all there.
    /// </summary>
    /// <param name="availableProviders">ONNX Runtime's <c>GetAvailableProviders()</c>.</param>
    /// <param name="tryLoad">Loads a library by soname and releases it again; true when it loaded.</param>
    internal static List<string> FindMissing(IReadOnlyCollection<string> availableProviders, Func<string, bool> tryLoad)
    {
        var missing = new List<string>();
        if (!availableProviders.Contains(ProviderName))
            missing.Add("the GPU build of ONNX Runtime (this build uses the CPU package Microsoft.ML.OnnxRuntime, whose providers are " +
                $"{string.Join(", ", availableProviders)}; rebuild with `dotnet build -p:SaliencyOrtGpu=true`, which references " +
                "Microsoft.ML.OnnxRuntime.Gpu.Linux 1.31.0)");
        foreach (var requirement in Requirements)
            if (!tryLoad(requirement.Library))
                missing.Add(requirement.What);
        return missing;
    }

    /// <summary>Loads and frees one library through the process's loader (LD_LIBRARY_PATH, ld.so.cache, RUNPATH of the host).</summary>
    internal static bool TryLoadAndFree(string library)
    {
        if (!NativeLibrary.TryLoad(library, out nint handle)) return false;
        NativeLibrary.Free(handle);
        return true;
    }

    /// <summary>Throws <see cref="CudaProviderUnavailableException"/> naming every missing piece, if any.</summary>
    internal static void ThrowIfUnavailable(IReadOnlyCollection<string> availableProviders, int deviceId, Func<string, bool>? tryLoad = null)
    {
        var missing = FindMissing(availableProviders, tryLoad ?? TryLoadAndFree);
        if (missing.Count == 0) return;
        throw new CudaProviderUnavailableException(missing, "(not asked: checked before ONNX Runtime)", Describe(deviceId, missing));
    }

    /// <summary>The exception for ONNX Runtime refusing the provider although every library was found (e.g. no device).</summary>
    internal static CudaProviderUnavailableException Refused(int deviceId, OrtException ort) =>
        new([], ort.OrtMessage,
            $"The CUDA execution provider (device {deviceId}) cannot be used although its libraries load: {ort.OrtMessage}\n" +
            "Check that the device exists (nvidia-smi) and that the driver supports CUDA 13. Or select ExecutionProvider.Cpu.", ort);

    private static string Describe(int deviceId, List<string> missing) =>
        $"The CUDA execution provider (device {deviceId}) was requested but cannot be used; missing:\n" +
        string.Concat(missing.Select(m => $"  - {m}\n")) +
        "No CPU fallback is made. Install what is missing (the CUDA libraries must be on the loader path, e.g. LD_LIBRARY_PATH), " +
        "or select ExecutionProvider.Cpu.";
}
