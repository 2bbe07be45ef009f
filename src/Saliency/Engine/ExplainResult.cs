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

/// <summary>A method's typed report (what it decided: settings, solver and fit figures); <c>kind</c> names the method family in JSON.</summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "kind")]
[JsonDerivedType(typeof(CasoReport), "caso")]
[JsonDerivedType(typeof(LegReport), "leg")]
[JsonDerivedType(typeof(SamplingReport), "sampling")]
[JsonDerivedType(typeof(GradCamReport), "gradcam")]
[JsonDerivedType(typeof(OcclusionReport), "occlusion")]
[JsonDerivedType(typeof(LimeReport), "lime")]
[JsonDerivedType(typeof(KernelShapReport), "kernelshap")]
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

/// <summary>Grad-CAM (Selvaraju et al. 2017): the tapped layer and a summary of its channel weights α_k (eq. 1).</summary>
/// <param name="Layer">The tapped tensor's name in the ONNX graph.</param>
/// <param name="Channels">K, the layer's channels.</param>
/// <param name="Height">h, the layer's height (the map is upsampled from h × w).</param>
/// <param name="Width">w, the layer's width.</param>
/// <param name="PositiveWeights">Channels with α_k &gt; 0, of <paramref name="Channels"/>.</param>
/// <param name="ClippedCells">Cells of the h × w map where Σ_k α_k A_k ≤ 0, set to 0 by eq. 2's ReLU (h·w: the map is all zero).</param>
public sealed record GradCamReport(string Layer, int Channels, int Height, int Width, int PositiveWeights, int ClippedCells) : ExplanationReport;

/// <summary>Occlusion (Zeiler and Fergus 2014): the windows slid over the image and the model evaluations they took.</summary>
/// <param name="Window">Window side in pixels (all channels occluded together).</param>
/// <param name="Stride">Step between window origins; the last origin in each direction is flush with the border.</param>
/// <param name="Positions">Window positions (occluded images).</param>
/// <param name="BaselineValue">The value the window is filled with (null: a baseline image).</param>
/// <param name="Evaluations">Images the model scored: <paramref name="Positions"/> + 1 (the image itself).</param>
/// <param name="InputScore">F(x), the target logit of the unoccluded image (every drop is measured from it).</param>
public sealed record OcclusionReport(int Window, int Stride, int Positions, float? BaselineValue, int Evaluations, double InputScore) : ExplanationReport;

/// <summary>The interpretable features of a perturbation method: regions switched between the image and the baseline.</summary>
public enum FeatureKind
{
    /// <summary>Square grid cells (the last row/column smaller when the size is not a multiple).</summary>
    GridCells,
    /// <summary>SLIC superpixels of the explained image.</summary>
    Superpixels,
}

/// <summary>
/// LIME (Ribeiro et al. 2016, eq. 1–2): the features, the samples and the kernel-weighted ridge surrogate
/// <c>F(z) ≈ β₀ + βᵀz</c> with kernel <c>π(z) = exp(−D(z)²/σ²)</c>, D the cosine distance to the image.
/// </summary>
/// <param name="Features">Grid cells or superpixels.</param>
/// <param name="FeatureCount">F, the number of features (SLIC may return fewer than asked).</param>
/// <param name="Cell">Cell side in pixels (grid cells; null for superpixels).</param>
/// <param name="Segments">SLIC's requested number of superpixels (null for grid cells).</param>
/// <param name="Samples">n, the perturbed samples, the image itself first: the model evaluations.</param>
/// <param name="KernelWidth">σ of the kernel.</param>
/// <param name="Ridge">α of the ridge penalty α‖β‖² (intercept unpenalised).</param>
/// <param name="Intercept">β₀, the surrogate's score with every feature off.</param>
/// <param name="WeightedR2">The surrogate's π-weighted R² on the samples (1: the score is exactly affine in z and α = 0).</param>
/// <param name="Seed">The masks' seed.</param>
public sealed record LimeReport(FeatureKind Features, int FeatureCount, int? Cell, int? Segments, int Samples, double KernelWidth, double Ridge,
    double Intercept, double WeightedR2, ulong Seed) : ExplanationReport;

/// <summary>
/// Kernel SHAP (Lundberg and Lee 2017, Theorem 2) on grid cells: the coalitions evaluated and the fit of the additive
/// surrogate <c>φ₀ + Σ φᵢ zᵢ</c> under the Shapley kernel, with efficiency <c>Σ φ = F(x) − F(∅)</c> imposed.
/// </summary>
/// <param name="FeatureCount">F, the number of grid cells (players).</param>
/// <param name="Cell">Cell side in pixels.</param>
/// <param name="Enumerated">True when every coalition was evaluated (F ≤ 14): the values are the exact Shapley values.</param>
/// <param name="Coalitions">Coalitions evaluated, ∅ and the full set included: the model evaluations (2^F when enumerated).</param>
/// <param name="Seed">The sampled coalitions' seed (null when enumerated: nothing is drawn).</param>
/// <param name="BaseValue">φ₀ = F(∅), the target logit of the baseline image.</param>
/// <param name="InputValue">F(x), the target logit of the image.</param>
/// <param name="EfficiencyGap">|Σ φ − (F(x) − F(∅))|: zero up to rounding.</param>
/// <param name="WeightedR2">The surrogate's weighted R² over the coalitions other than ∅ and the full set (Shapley-kernel weights when
/// enumerated, 1 when sampled); 1 when the game is additive over the cells.</param>
public sealed record KernelShapReport(int FeatureCount, int Cell, bool Enumerated, int Coalitions, ulong? Seed, double BaseValue, double InputValue,
    double EfficiencyGap, double WeightedR2) : ExplanationReport;

/// <summary>One explanation: the map, the class explained, the prediction at the image and the method's typed report.</summary>
/// <param name="Model">The model's name.</param>
/// <param name="Method">The method's name.</param>
/// <param name="Target">The explained class.</param>
/// <param name="PredictedClass">The predicted class of the image.</param>
/// <param name="Map">The saliency map.</param>
/// <param name="Logits">The image's logits.</param>
/// <param name="Probabilities">The image's class probabilities.</param>
/// <param name="Report">The method's typed report (null for gradient and gradient × input).</param>
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
