namespace Saliency.Models.Runtime;

/// <summary>ONNX Runtime's graph optimisation levels (<c>GraphOptimizationLevel</c>; same numbers as the C API).</summary>
internal enum GraphOptimizationLevel
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

/// <summary>Where a session runs its operators.</summary>
internal enum ExecutionProvider
{
    /// <summary>ONNX Runtime's CPU provider (every package has it).</summary>
    Cpu = 0,

    /// <summary>
    /// The CUDA provider, CPU for the operators it lacks. Needs the build made with <c>-p:SaliencyOrtGpu=true</c>
    /// (package Microsoft.ML.OnnxRuntime.Gpu.Linux), the NVIDIA driver, the CUDA runtime, cuBLAS and cuDNN 9; anything
    /// missing → <see cref="CudaProviderUnavailableException"/> naming it. Never falls back to the CPU silently.
    /// </summary>
    Cuda = 1,
}

/// <summary>How an <see cref="InferenceSession"/> is created.</summary>
/// <remarks>
/// The defaults suit explanation workloads — many small runs of a small model (a Jacobian of k rows, a batch of
/// perturbed images), often issued from several threads at once — and were chosen from the measurement in
/// <c>bench/Saliency.Bench/Models/RESULTS.md</c>: one intra-op thread and no spinning. ONNX Runtime's own default
/// (a pool of one thread per core whose workers spin between operators) was several times slower there, because the
/// spinning workers compete for the cores with the caller's threads.
/// A host that needs more (a ResNet-sized model, one big batch, an idle machine) raises
/// <see cref="IntraOpThreads"/> or passes its own <c>Microsoft.ML.OnnxRuntime.SessionOptions</c>.
/// </remarks>
internal sealed class InferenceSessionOptions
{
    /// <summary>
    /// Threads ONNX Runtime uses inside one operator (<c>SessionOptions.IntraOpNumThreads</c>); default 1.
    /// 0 lets ONNX Runtime choose (one per physical core).
    /// </summary>
    public int IntraOpThreads { get; set; } = 1;

    /// <summary>
    /// Threads running independent operators in parallel (<c>SessionOptions.InterOpNumThreads</c>, used only in
    /// ONNX Runtime's parallel execution mode, which this binding does not switch on); default 1. 0 = ONNX Runtime's choice.
    /// </summary>
    public int InterOpThreads { get; set; } = 1;

    /// <summary>
    /// Whether idle pool threads busy-wait for the next operator (session config entries
    /// <c>session.intra_op.allow_spinning</c> and <c>session.inter_op.allow_spinning</c>). Default false: spinning
    /// buys latency only on cores nobody else wants, and burns the cores of concurrent callers otherwise.
    /// </summary>
    public bool AllowSpinning { get; set; }

    /// <summary>Graph optimisation level; default <see cref="GraphOptimizationLevel.All"/>.</summary>
    public GraphOptimizationLevel GraphOptimizationLevel { get; set; } = GraphOptimizationLevel.All;

    /// <summary>The execution provider; default <see cref="ExecutionProvider.Cpu"/>.</summary>
    public ExecutionProvider ExecutionProvider { get; set; } = ExecutionProvider.Cpu;

    /// <summary>CUDA device ordinal used when <see cref="ExecutionProvider"/> is <see cref="ExecutionProvider.Cuda"/>.</summary>
    public int CudaDeviceId { get; set; }

    /// <summary>
    /// When set, ONNX Runtime records every operator's time and writes a Chrome-trace JSON file whose name starts with
    /// this path when the session is disposed (<c>SessionOptions.EnableProfiling</c>); for performance work only.
    /// </summary>
    public string? ProfilePathPrefix { get; set; }

    internal void Validate()
    {
        if (IntraOpThreads < 0)
            throw new ArgumentOutOfRangeException(nameof(IntraOpThreads), IntraOpThreads, "IntraOpThreads must be ≥ 0 (0 = ONNX Runtime's default).");
        if (InterOpThreads < 0)
            throw new ArgumentOutOfRangeException(nameof(InterOpThreads), InterOpThreads, "InterOpThreads must be ≥ 0 (0 = ONNX Runtime's default).");
        if (!Enum.IsDefined(GraphOptimizationLevel))
            throw new ArgumentOutOfRangeException(nameof(GraphOptimizationLevel), GraphOptimizationLevel, "Unknown graph optimisation level.");
        if (!Enum.IsDefined(ExecutionProvider))
            throw new ArgumentOutOfRangeException(nameof(ExecutionProvider), ExecutionProvider, "Unknown execution provider.");
        if (CudaDeviceId < 0)
            throw new ArgumentOutOfRangeException(nameof(CudaDeviceId), CudaDeviceId, "CudaDeviceId must be ≥ 0.");
    }
}
