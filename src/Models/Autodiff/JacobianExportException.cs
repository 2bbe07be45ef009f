namespace Saliency.Models.Autodiff;

/// <summary>
/// Thrown when a classifier cannot be turned into a Jacobian model: an operator without a backward rule on the
/// path from the image to the logits, an attribute setting the rule does not cover, a model without a float image
/// input, a shape that cannot be determined statically, or a name clash with the added inputs and outputs.
/// Nothing is written when it is thrown.
/// </summary>
internal sealed class JacobianExportException : Exception
{
    /// <summary>Creates the exception for a problem with the model as a whole.</summary>
    public JacobianExportException(string message) : base(message) { }

    /// <summary>Creates the exception for a problem at one node.</summary>
    public JacobianExportException(string message, string opType, string nodeName) : base(message)
    {
        OpType = opType;
        NodeName = nodeName;
    }

    /// <summary>The operator type of the offending node, when the problem is at a node.</summary>
    public string? OpType { get; }

    /// <summary>The name of the offending node (or <c>#index</c> when it has none), when the problem is at a node.</summary>
    public string? NodeName { get; }
}
