namespace Saliency.Evaluation;

/// <summary>Bad input to an evaluation (lengths, sizes, option values), reported before any model run.</summary>
internal sealed class EvaluationInputException : ArgumentException
{
    /// <summary>Creates the exception.</summary>
    public EvaluationInputException(string message, string? paramName = null) : base(message, paramName) { }
}
