using System.Text.Json.Serialization;

namespace Saliency;

/// <summary>
/// A saliency map: signed values per channel and pixel (<c>Channels × Height × Width</c>, channel-major, row-major) and
/// its visualisation (<c>Height × Width</c> in [0, 1], SmoothGrad's normalisation: |·| summed over channels, capped at the
/// 99th percentile). The grid is the method's: the image's for gradients and CAFO/CASO, LEG's perturbation grid for LEG.
/// </summary>
/// <param name="Channels">Number of channels.</param>
/// <param name="Height">Map height.</param>
/// <param name="Width">Map width.</param>
/// <param name="Values">Signed saliency, Channels × Height × Width.</param>
/// <param name="Normalized">The visualisation map, Height × Width values in [0, 1].</param>
/// <param name="SparsityRatio">η: the fraction of exact zeros in <paramref name="Values"/>.</param>
public sealed record AttributionMap(int Channels, int Height, int Width, ReadOnlyMemory<float> Values, ReadOnlyMemory<float> Normalized, double SparsityRatio);

/// <summary>Logits and softmax probabilities of a batch, row-major [Batch, Classes].</summary>
/// <param name="Model">The model's name.</param>
/// <param name="Batch">Number of images.</param>
/// <param name="Classes">Number of classes.</param>
/// <param name="Logits">The logits, [Batch, Classes].</param>
/// <param name="Probabilities">softmax(logits) per row.</param>
/// <param name="PredictedClasses">The argmax of each row (first on ties).</param>
public sealed record Prediction(string Model, int Batch, int Classes, ReadOnlyMemory<float> Logits, ReadOnlyMemory<float> Probabilities,
    IReadOnlyList<int> PredictedClasses);

/// <summary>How an iterative solver ended.</summary>
public enum SolverStatus
{
    /// <summary>The tolerance was reached (FISTA: relative residual; PDHG: relative gap and residuals).</summary>
    Converged,
    /// <summary>The iteration cap came first; the last (best checked) point is returned.</summary>
    IterationLimit,
    /// <summary>A NaN or ∞ appeared.</summary>
    NonFinite,
}

/// <summary>A method's typed report (the solver's figures); <c>kind</c> names the method family in JSON.</summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "kind")]
[JsonDerivedType(typeof(CasoReport), "caso")]
[JsonDerivedType(typeof(LegReport), "leg")]
[JsonDerivedType(typeof(SamplingReport), "sampling")]
public abstract record ExplanationReport;

/// <summary>CAFO/CASO: the chosen solution's λ's and FISTA's figures (see docs/mathematics.md for the objective).</summary>
/// <param name="SecondOrder">True for CASO (with H), false for CAFO.</param>
/// <param name="Lambda1">The L1 weight of the map.</param>
/// <param name="Lambda1FromSweep">True when the sparsity sweep chose λ1 (false: given).</param>
/// <param name="SweepFoundInRange">Whether the sweep reached its sparsity range (true when λ1 was given).</param>
/// <param name="Lambda1Tried">λ1 values the sweep solved for (1 when given).</param>
/// <param name="Lambda2">The L2 weight (<c>L/2 + margin</c>).</param>
/// <param name="LambdaMax">L = λ_max(H) used by the λ2 rule.</param>
/// <param name="Status">FISTA's end.</param>
/// <param name="Iterations">FISTA iterations of the chosen solution.</param>
/// <param name="Residual">Final relative residual.</param>
/// <param name="Objective">The maximised objective at the map.</param>
/// <param name="ModelledLoss">gᵀΔ + ½ΔᵀHΔ (CASO) or gᵀΔ (CAFO).</param>
/// <param name="ClassesKept">Columns of W used (all classes, or top-k plus the target).</param>
/// <param name="DroppedProbabilityMass">Probability mass of the classes left out by top-k (0 with all classes).</param>
public sealed record CasoReport(bool SecondOrder, double Lambda1, bool Lambda1FromSweep, bool SweepFoundInRange, int Lambda1Tried,
    double Lambda2, double LambdaMax, SolverStatus Status, int Iterations, double Residual, double Objective, double ModelledLoss,
    int ClassesKept, double DroppedProbabilityMass) : ExplanationReport;

/// <summary>One LEG-TV linear program (one channel): its bound and how PDHG ended.</summary>
/// <param name="Bound">L of <c>‖Σγ − y‖∞ ≤ L</c>.</param>
/// <param name="Status">PDHG's end.</param>
/// <param name="Iterations">PDHG iterations.</param>
/// <param name="RelativeGap">The certificate's relative duality gap.</param>
public sealed record LpReport(double Bound, SolverStatus Status, int Iterations, double RelativeGap);

/// <summary>LEG / LEG-TV: the sampling stage and, for LEG-TV, one LP per channel.</summary>
/// <param name="GridRows">Rows of the perturbation grid (the map's height).</param>
/// <param name="GridCols">Columns of the grid.</param>
/// <param name="Samples">Model evaluations n.</param>
/// <param name="Antithetic">Whether draws were paired with their negatives.</param>
/// <param name="Seed">The perturbation seed.</param>
/// <param name="BaselineValue">f(x₀) = p_target at the image.</param>
/// <param name="ConstantRegions">Distinct constant regions of the map (LEG-TV's TV-sparsity).</param>
/// <param name="LinearPrograms">LEG-TV's LPs, one per channel; empty for LEG.</param>
public sealed record LegReport(int GridRows, int GridCols, int Samples, bool Antithetic, ulong Seed, double BaselineValue, int ConstantRegions,
    IReadOnlyList<LpReport> LinearPrograms) : ExplanationReport;

/// <summary>SmoothGrad / Integrated Gradients: model evaluations used (the gradient methods have no report).</summary>
/// <param name="Samples">Noisy copies (SmoothGrad) or path points (IG).</param>
public sealed record SamplingReport(int Samples) : ExplanationReport;

/// <summary>One explanation: the map, the class explained, the prediction at the image and the method's typed report.</summary>
/// <param name="Model">The model's name.</param>
/// <param name="Method">The method's name.</param>
/// <param name="Target">The explained class.</param>
/// <param name="PredictedClass">The predicted class of the image.</param>
/// <param name="Map">The saliency map.</param>
/// <param name="Logits">The image's logits.</param>
/// <param name="Probabilities">The image's class probabilities.</param>
/// <param name="Report">The solver report (null for the plain gradient methods).</param>
/// <param name="Duration">Wall time of the explanation (queueing excluded).</param>
public sealed record ExplainResult(string Model, string Method, int Target, int PredictedClass, AttributionMap Map,
    ReadOnlyMemory<float> Logits, ReadOnlyMemory<float> Probabilities, ExplanationReport? Report, TimeSpan Duration);

/// <summary>What a registered model takes and returns.</summary>
/// <param name="Name">The name requests use.</param>
/// <param name="Path">The ONNX file.</param>
/// <param name="InputShape">One image's shape without the batch axis, e.g. [1, 28, 28].</param>
/// <param name="InputSize">Values in one image.</param>
/// <param name="ClassCount">Number of classes.</param>
public sealed record ModelInfo(string Name, string Path, IReadOnlyList<long> InputShape, int InputSize, int ClassCount);
