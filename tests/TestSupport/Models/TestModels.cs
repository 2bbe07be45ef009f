using Saliency.Models.Onnx;
using Saliency.Models.Onnx.Proto;

namespace Saliency.TestSupport;

/// <summary>
/// Small ONNX models with fixed seeds for tests (built with <see cref="OnnxGraphBuilder"/>), and helpers for
/// one-node models and random inputs. Every model has input "input" with a dynamic batch "N" and output "logits".
/// </summary>
internal static class TestModels
{
    /// <summary>MLP 6 → 16 → 12 → 5 with ReLU (or another activation).</summary>
    public static ModelProto Mlp(int seed = 11, string activation = "Relu") => RandomModels.Mlp([6, 16, 12, 5], seed, activation);

    /// <summary>Small CNN on [N, 3, 16, 16] → 7 classes (conv, relu, maxpool, strided conv, avgpool, gemm).</summary>
    public static ModelProto SmallCnn(int seed = 12) => RandomModels.SmallCnn(channels: 3, size: 16, classes: 7, seed);

    /// <summary>LeNet-shaped CNN on [N, 1, 28, 28] → 10 classes.</summary>
    public static ModelProto LeNet(int seed = 13) => RandomModels.LeNet(seed);

    /// <summary>ResNet-style model on [N, 3, 8, 8] → 4 classes: conv + batch norm + two residual blocks (one with a
    /// strided projection shortcut) + global average pool + gemm.</summary>
    public static ModelProto ResNetBlock(int seed = 14) => RandomModels.ResNetBlocks(channels: 3, size: 8, classes: 4, seed, width: 4, blocks: 2);

    /// <summary>
    /// A model with one node: float inputs "x0", "x1", … of the given fixed shapes (null entries become omitted
    /// optional inputs), extra initializers added by <paramref name="addInitializers"/> (which may append input
    /// names), and the node's outputs ("y", "y_1", …) as graph outputs of unknown shape.
    /// </summary>
    public static ModelProto SingleNode(string opType, long[]?[] inputShapes, IEnumerable<AttributeProto>? attributes = null,
                                        int outputCount = 1, long opset = 17,
                                        Action<OnnxGraphBuilder, List<string>>? addInitializers = null)
    {
        var b = new OnnxGraphBuilder($"single_{opType}", opset);
        var inputs = new List<string>();
        for (int i = 0; i < inputShapes.Length; i++)
        {
            if (inputShapes[i] is not { } s) { inputs.Add(""); continue; }
            inputs.Add(b.Input($"x{i}", OnnxElementType.Float, s.Select(d => (OnnxDim)d).ToArray()));
        }
        addInitializers?.Invoke(b, inputs);
        var outs = b.Node(opType, inputs.ToArray(), outputCount, attributes, name: "y");
        for (int k = 0; k < outs.Length; k++)
            b.OutputWithUnknownShape(outs[k], opType == "MaxPool" && k == 1 ? OnnxElementType.Int64 : OnnxElementType.Float);
        return b.Build();
    }

    /// <summary>Uniform random values in [lo, hi) from a seed.</summary>
    public static double[] RandomData(long count, int seed, double lo = -1, double hi = 1)
    {
        var rng = new Random(seed);
        var a = new double[count];
        for (long i = 0; i < count; i++) a[i] = lo + (hi - lo) * rng.NextDouble();
        return a;
    }

    /// <summary>A random reference tensor of the given shape.</summary>
    public static ReferenceTensor RandomTensor(int seed, params long[] shape) =>
        new(RandomData(ReferenceTensor.ElementCount(shape), seed), shape);

    /// <summary>A random tensor with values rounded to float first, so that float32 and float64 evaluations see the same input.</summary>
    public static ReferenceTensor RandomFloatTensor(int seed, params long[] shape) =>
        new(RandomData(ReferenceTensor.ElementCount(shape), seed).Select(v => (double)(float)v).ToArray(), shape);
}
