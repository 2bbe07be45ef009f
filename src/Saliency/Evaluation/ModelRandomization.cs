using Google.Protobuf;
using Saliency.Kernels.Ops;
using Saliency.Models.Onnx;
using Saliency.Models.Onnx.Proto;

namespace Saliency.Evaluation;

/// <summary>What the randomization does with a layer's bias.</summary>
internal enum BiasRandomization
{
    /// <summary>Re-drawn like the weights: N(0, s_b²) with s_b the standard deviation of the original bias values
    /// (default; a bias whose entries are all equal, e.g. a single entry, has s_b = 0 and becomes 0).</summary>
    Gaussian,

    /// <summary>Set to 0 (what most initialisers do).</summary>
    Zero,

    /// <summary>Left as trained.</summary>
    Keep,
}

/// <summary>
/// A parameterised layer: one weight initializer feeding a Gemm, MatMul or Conv node, with the bias attached to the
/// node (Gemm's C, Conv's B, or for MatMul the initializer added by the single Add node that consumes its output).
/// </summary>
/// <param name="Index">Position from the output: 0 is the layer closest to the logits.</param>
/// <param name="NodeIndex">The node's index in the graph (topological order).</param>
/// <param name="NodeName">The node's name (may be empty).</param>
/// <param name="OpType">Gemm, MatMul or Conv.</param>
/// <param name="Weight">The weight initializer's name.</param>
/// <param name="Bias">The bias initializer's name, or null.</param>
/// <param name="WeightCount">Number of weights.</param>
/// <param name="WeightMean">Mean of the original weights.</param>
/// <param name="WeightStd">Standard deviation of the original weights (population, about their mean): the scale of the re-draw.</param>
/// <param name="BiasStd">Standard deviation of the original bias values, or null without a bias.</param>
internal sealed record ParameterizedLayer(int Index, int NodeIndex, string NodeName, string OpType, string Weight, string? Bias,
    long WeightCount, double WeightMean, double WeightStd, double? BiasStd);

/// <summary>One cascading-randomization step: the model bytes with the top <see cref="Depth"/> layers re-drawn.</summary>
/// <param name="Depth">k: how many layers, counted from the output, are randomized (0 = the original model).</param>
/// <param name="Randomized">Those layers, top first.</param>
/// <param name="ModelBytes">The modified ONNX model (protobuf bytes, validated).</param>
internal sealed record RandomizedModel(int Depth, IReadOnlyList<ParameterizedLayer> Randomized, byte[] ModelBytes);

/// <summary>
/// Cascading model-parameter randomization (Adebayo et al., <i>Sanity Checks for Saliency Maps</i>, NeurIPS 2018, §3.1):
/// re-initialise the parameterised layers in the ONNX initializers from the logits layer downward. Step k randomizes
/// the top k layers; the layers below keep their trained initializers byte for byte.
/// </summary>
/// <remarks>
/// <para><b>Layers.</b> The nodes of op type Gemm, MatMul or Conv whose weight (Gemm/Conv input 1, MatMul's initializer
/// operand) is a float initializer, ordered from the output back: ONNX nodes are topologically sorted, so reverse node
/// order puts every layer before the layers that feed it (also in branching graphs). A weight shared by several nodes
/// is one layer, at its consumer closest to the output. Weights reached through other nodes (Transpose, Identity,
/// Constant) are not layers.</para>
/// <para><b>Re-draw.</b> Weights of layer j become N(0, s²), s the standard deviation of that layer's trained weights
/// (mean 0, as initialisers draw). The draws are the seeded Philox/Box–Muller stream (<see cref="GaussianRng"/>):
/// layer j's weights are the window starting at j·2³³, its bias the window at j·2³³ + 2³², so layer j is re-drawn
/// identically at every depth ≥ j + 1 and the cascade only ever adds layers. Biases follow
/// <see cref="BiasRandomization"/>.</para>
/// </remarks>
internal static class ModelRandomization
{
    private const ulong LayerStride = 1UL << 33, BiasOffset = 1UL << 32;

    /// <summary>The parameterised layers of <paramref name="model"/>, closest to the output first.</summary>
    /// <exception cref="EvaluationInputException">A layer's weight or bias initializer is not float32.</exception>
    public static IReadOnlyList<ParameterizedLayer> Layers(OnnxModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var graph = model.Graph;
        var initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var consumers = new Dictionary<string, List<NodeProto>>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
            foreach (var input in node.Input)
                if (input.Length > 0)
                {
                    if (!consumers.TryGetValue(input, out var list)) consumers[input] = list = [];
                    list.Add(node);
                }

        var layers = new List<ParameterizedLayer>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = graph.Node.Count - 1; i >= 0; i--)
        {
            var node = graph.Node[i];
            string? weight = null, bias = null;
            switch (node.OpType)
            {
                case "Gemm" or "Conv":
                    if (node.Input.Count > 1 && initializers.ContainsKey(node.Input[1])) weight = node.Input[1];
                    if (node.Input.Count > 2 && initializers.ContainsKey(node.Input[2])) bias = node.Input[2];
                    break;
                case "MatMul":
                    weight = node.Input.Skip(1).Concat(node.Input.Take(1)).FirstOrDefault(initializers.ContainsKey);
                    // x·W + b as exported by most frameworks: the bias is the initializer operand of the one Add that reads the product.
                    if (consumers.TryGetValue(node.Output[0], out var next) && next.Count == 1 && next[0].OpType == "Add")
                        bias = next[0].Input.FirstOrDefault(n => n != node.Output[0] && initializers.ContainsKey(n));
                    break;
            }
            if (weight is null || !seen.Add(weight)) continue;
            if (bias is not null && !seen.Add(bias)) bias = null;
            var w = FloatData(initializers[weight], node, "weight");
            var (mean, std) = MeanAndStd(w);
            double? biasStd = bias is null ? null : MeanAndStd(FloatData(initializers[bias], node, "bias")).Std;
            layers.Add(new ParameterizedLayer(layers.Count, i, node.Name, node.OpType, weight, bias, w.Length, mean, std, biasStd));
        }
        return layers;
    }

    /// <summary>
    /// The model with its top <paramref name="depth"/> layers re-drawn from the stream of <paramref name="seed"/>
    /// (depth 0: the original bytes). The input model is not modified.
    /// </summary>
    /// <exception cref="EvaluationInputException">Depth outside 0…layer count, no layers, or a non-float layer.</exception>
    public static RandomizedModel Cascade(OnnxModel model, int depth, ulong seed, BiasRandomization bias = BiasRandomization.Gaussian)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (!Enum.IsDefined(bias)) throw new EvaluationInputException($"Unknown bias randomization {bias}.", nameof(bias));
        var layers = Layers(model);
        if (layers.Count == 0)
            throw new EvaluationInputException("The model has no Gemm, MatMul or Conv node with an initializer weight to randomize.", nameof(model));
        if (depth < 0 || depth > layers.Count)
            throw new EvaluationInputException($"The cascade depth {depth} must lie in 0..{layers.Count} (the model's parameterised layers).", nameof(depth));

        var proto = model.Proto.Clone();
        var graph = proto.Graph;
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < graph.Initializer.Count; i++) index[graph.Initializer[i].Name] = i;
        for (int j = 0; j < depth; j++)
        {
            var layer = layers[j];
            ulong offset = (ulong)j * LayerStride;
            Redraw(graph, index[layer.Weight], seed, offset, layer.WeightStd);
            if (layer.Bias is null || bias == BiasRandomization.Keep) continue;
            Redraw(graph, index[layer.Bias], seed, offset + BiasOffset, bias == BiasRandomization.Zero ? 0 : layer.BiasStd!.Value);
        }
        var bytes = proto.ToByteArray();
        // The edit keeps names, dims and types, so the model stays valid; parse it back as any reader would.
        OnnxModel.Parse(bytes);
        return new RandomizedModel(depth, layers.Take(depth).ToArray(), bytes);
    }

    private static void Redraw(GraphProto graph, int at, ulong seed, ulong offset, double std)
    {
        var old = graph.Initializer[at];
        var values = new float[OnnxTensors.ElementCount(old.Dims, $"initializer '{old.Name}'")];
        GaussianRng.Fill<float>(values, seed, offset, 0, std);
        graph.Initializer[at] = OnnxTensors.FromFloats(old.Name, values, old.Dims.ToArray());
    }

    private static float[] FloatData(TensorProto tensor, NodeProto node, string role)
    {
        if (tensor.DataType != (int)OnnxElementType.Float)
            throw new EvaluationInputException(
                $"The {role} '{tensor.Name}' of {node.OpType} node '{node.Name}' is {(OnnxElementType)tensor.DataType}; only float32 layers can be randomized.");
        return OnnxTensors.ToFloatArray(tensor);
    }

    /// <summary>Mean and population standard deviation in float64 (two passes).</summary>
    internal static (double Mean, double Std) MeanAndStd(ReadOnlySpan<float> values)
    {
        if (values.IsEmpty) return (0, 0);
        double mean = 0;
        foreach (float v in values) mean += v;
        mean /= values.Length;
        double ss = 0;
        foreach (float v in values) ss += (v - mean) * (v - mean);
        return (mean, Math.Sqrt(ss / values.Length));
    }
}
