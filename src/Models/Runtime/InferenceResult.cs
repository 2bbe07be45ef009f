using System.Collections;

namespace Saliency.Models.Runtime;

/// <summary>
/// What a run noticed about its data. Non-finite values (NaN, ±∞) are allowed as inputs — ONNX Runtime
/// propagates them by IEEE rules — but they are counted here so that a caller can refuse or flag the result.
/// </summary>
internal sealed class InferenceDiagnostics
{
    internal InferenceDiagnostics(IReadOnlyDictionary<string, int> nonFiniteInputs, IReadOnlyDictionary<string, int> nonFiniteOutputs)
    {
        NonFiniteInputs = nonFiniteInputs;
        NonFiniteOutputs = nonFiniteOutputs;
        NonFiniteInputCount = nonFiniteInputs.Values.Sum();
        NonFiniteOutputCount = nonFiniteOutputs.Values.Sum();
    }

    /// <summary>Number of NaN/±∞ elements in each input, by input name (every input is listed).</summary>
    public IReadOnlyDictionary<string, int> NonFiniteInputs { get; }

    /// <summary>Number of NaN/±∞ elements in each output, by output name (every output is listed).</summary>
    public IReadOnlyDictionary<string, int> NonFiniteOutputs { get; }

    /// <summary>Total NaN/±∞ elements over all inputs.</summary>
    public int NonFiniteInputCount { get; }

    /// <summary>Total NaN/±∞ elements over all outputs.</summary>
    public int NonFiniteOutputCount { get; }

    /// <summary>Whether any input held a NaN or an infinity.</summary>
    public bool HasNonFiniteInputs => NonFiniteInputCount > 0;

    /// <inheritdoc />
    public override string ToString() =>
        $"non-finite inputs: {NonFiniteInputCount}, non-finite outputs: {NonFiniteOutputCount}";
}

/// <summary>
/// The outputs of <see cref="InferenceSession.Run"/>, in the
/// order requested, plus the run's <see cref="Diagnostics"/>.
/// </summary>
internal sealed class InferenceResult : IReadOnlyList<FloatTensor>
{
    private readonly FloatTensor[] _outputs;

    internal InferenceResult(FloatTensor[] outputs, InferenceDiagnostics diagnostics)
    {
        _outputs = outputs;
        Diagnostics = diagnostics;
    }

    /// <summary>Non-finite counts of this run's inputs and outputs.</summary>
    public InferenceDiagnostics Diagnostics { get; }

    /// <inheritdoc />
    public FloatTensor this[int index] => _outputs[index];

    /// <summary>The output with the given name.</summary>
    /// <exception cref="TensorNameException">No output of that name was produced.</exception>
    public FloatTensor this[string name] =>
        Array.Find(_outputs, t => t.Name == name)
        ?? throw new TensorNameException(name, $"The run produced no output named '{name}'; it produced: {string.Join(", ", _outputs.Select(o => o.Name))}.");

    /// <inheritdoc />
    public int Count => _outputs.Length;

    /// <inheritdoc />
    public IEnumerator<FloatTensor> GetEnumerator() => ((IEnumerable<FloatTensor>)_outputs).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
