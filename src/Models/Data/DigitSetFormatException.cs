namespace Saliency.Models.Data;

/// <summary>An IDX digit file is malformed: wrong magic number, bad dimensions, wrong size, or labels that are not digits.</summary>
internal sealed class DigitSetFormatException : Exception
{
    public DigitSetFormatException(string message) : base(message) { }
}
