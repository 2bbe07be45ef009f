namespace Saliency.Kernels.Cuda;

/// <summary>A CUDA driver, NVRTC or cuBLAS call failed; the message names the call, the status and its description.</summary>
public sealed class CudaException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CudaException(string call, int status, string statusName, string description, string? compileLog = null)
        : base($"{call} failed with {statusName} ({status}): {description}" +
               (string.IsNullOrWhiteSpace(compileLog) ? "" : $"{Environment.NewLine}NVRTC log:{Environment.NewLine}{compileLog}"))
    {
        Call = call;
        Status = status;
        StatusName = statusName;
        CompileLog = compileLog;
    }

    /// <summary>Creates the exception for a failure outside a status-returning call (e.g. a missing symbol).</summary>
    public CudaException(string message) : base(message)
    {
        Call = "";
        StatusName = "";
    }

    /// <summary>The native function that failed.</summary>
    public string Call { get; }

    /// <summary>The raw CUresult / nvrtcResult / cublasStatus_t value.</summary>
    public int Status { get; }

    /// <summary>The symbolic name of <see cref="Status"/>.</summary>
    public string StatusName { get; }

    /// <summary>The NVRTC compile log when a kernel failed to compile.</summary>
    public string? CompileLog { get; }
}
