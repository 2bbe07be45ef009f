namespace Saliency.Kernels.Backends;

/// <summary>A backend was selected that cannot run here (no driver, no GPU); <see cref="Exception.Message"/> says why.</summary>
internal sealed class BackendUnavailableException : Exception
{
    /// <summary>Creates the exception for <paramref name="kind"/> with the probing <paramref name="reason"/>.</summary>
    public BackendUnavailableException(BackendKind kind, string reason)
        : base($"The {kind} compute backend is not available: {reason}")
    {
        Kind = kind;
        Reason = reason;
    }

    /// <summary>The backend that was requested.</summary>
    public BackendKind Kind { get; }

    /// <summary>Why it is unavailable.</summary>
    public string Reason { get; }
}
