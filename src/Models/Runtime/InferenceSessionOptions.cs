namespace Saliency.Models.Runtime;

/// <summary>ONNX Runtime's graph optimisation levels (<c>GraphOptimizationLevel</c>).</summary>
public enum GraphOptimizationLevel
{
    /// <summary>No graph optimisation.</summary>
    DisableAll = 0,
    /// <summary>Semantics-preserving rewrites such as constant folding and redundant node removal.</summary>
    Basic = 1,
    /// <summary>Basic plus complex node fusions.</summary>
    Extended = 2,
    /// <summary>Extended plus layout optimisations.</summary>
    Layout = 3,
    /// <summary>Everything ONNX Runtime offers.</summary>
    All = 99,
}

/// <summary>How an <see cref="InferenceSession"/> is created.</summary>
public sealed class InferenceSessionOptions
{
    /// <summary>
    /// Threads ONNX Runtime uses inside one operator; 0 (the default) lets ONNX Runtime choose (one per core).
    /// Hosts that run many sessions or call <c>Run</c> from many threads usually want 1.
    /// </summary>
    public int IntraOpThreads { get; set; }

    /// <summary>Graph optimisation level; default <see cref="GraphOptimizationLevel.All"/>.</summary>
    public GraphOptimizationLevel GraphOptimizationLevel { get; set; } = GraphOptimizationLevel.All;

    /// <summary>
    /// Run on the CUDA execution provider (CPU for the operators it lacks). Needs the provider library
    /// (<c>SALIENCY_ORT_GPU=1 native/onnxruntime/fetch.sh</c>), CUDA 13 and cuDNN; otherwise session creation
    /// throws <see cref="CudaProviderUnavailableException"/>.
    /// </summary>
    public bool UseCuda { get; set; }

    /// <summary>CUDA device ordinal used when <see cref="UseCuda"/> is set.</summary>
    public int CudaDeviceId { get; set; }

    internal void Validate()
    {
        if (IntraOpThreads < 0)
            throw new ArgumentOutOfRangeException(nameof(IntraOpThreads), IntraOpThreads, "IntraOpThreads must be ≥ 0 (0 = ONNX Runtime's default).");
        if (!Enum.IsDefined(GraphOptimizationLevel))
            throw new ArgumentOutOfRangeException(nameof(GraphOptimizationLevel), GraphOptimizationLevel, "Unknown graph optimisation level.");
        if (CudaDeviceId < 0)
            throw new ArgumentOutOfRangeException(nameof(CudaDeviceId), CudaDeviceId, "CudaDeviceId must be ≥ 0.");
    }
}
