namespace Saliency;

/// <summary>
/// A request the engine cannot run as given (unknown method, wrong image size, a NaN pixel, a parameter out of range),
/// reported before any model run. A server answers it with 400.
/// </summary>
public class SaliencyRequestException : ArgumentException
{
    /// <summary>Creates the exception.</summary>
    public SaliencyRequestException(string message, string? paramName = null, Exception? inner = null) : base(message, paramName, inner) { }
}

/// <summary>The request names a model the engine does not serve (a server answers 404).</summary>
public sealed class ModelNotFoundException : SaliencyRequestException
{
    /// <summary>Creates the exception.</summary>
    public ModelNotFoundException(string model, IEnumerable<string> known)
        : base($"No model named '{model}'. Models: {string.Join(", ", known.Select(n => $"'{n}'"))}.", "Model") => Model = model;

    /// <summary>The name asked for.</summary>
    public string Model { get; }
}

/// <summary>
/// A request would break its <see cref="ResourceBudget"/>; raised before anything is allocated (a server answers 413 or
/// 422). <see cref="Limit"/> names the budget property.
/// </summary>
public sealed class BudgetExceededException : SaliencyRequestException
{
    /// <summary>Creates the exception.</summary>
    public BudgetExceededException(string limit, long requested, long allowed, string message) : base(message, limit)
    {
        Limit = limit;
        Requested = requested;
        Allowed = allowed;
    }

    /// <summary>The <see cref="ResourceBudget"/> property that was exceeded, e.g. "MaxSamples".</summary>
    public string Limit { get; }

    /// <summary>What the request needs (count, pixels or bytes).</summary>
    public long Requested { get; }

    /// <summary>What the budget allows.</summary>
    public long Allowed { get; }
}

/// <summary>A registered model could not be opened (missing file, not ONNX, not differentiable). A server answers 500/503.</summary>
public sealed class ModelLoadException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public ModelLoadException(string model, string message, Exception? inner = null) : base(message, inner) => Model = model;

    /// <summary>The model's name.</summary>
    public string Model { get; }
}
