using Saliency.Models.Data;
using Saliency.Models.Onnx;
using Saliency.Models.Onnx.Proto;

namespace Saliency.TestSupport;

/// <summary>
/// The bundled LeNet and digits for tests, found through <see cref="RepoFiles"/>, and variants of the model with
/// edited initializers (read and written through the library's ONNX reader/writer).
/// </summary>
internal static class BundledLeNet
{
    /// <summary>The 500 held-out digits.</summary>
    public static DigitSet Digits() => DigitSet.Load(RepoFiles.DigitImages, RepoFiles.DigitLabels);

    /// <summary>The bundled model as read from disk.</summary>
    public static OnnxModel Model() => OnnxModel.Load(RepoFiles.LeNetModel);

    /// <summary>
    /// The model with the last Gemm's weight B and bias C multiplied by <paramref name="factor"/>: its logits are
    /// exactly <paramref name="factor"/> times the original ones (the last layer is affine and follows the ReLU),
    /// so large factors push them past float32's exp range. Returned after a write/read round trip.
    /// </summary>
    public static OnnxModel WithScaledLastGemm(float factor) =>
        EditLastGemm((weights, bias) =>
        {
            for (int i = 0; i < weights.Length; i++) weights[i] *= factor;
            for (int i = 0; i < bias.Length; i++) bias[i] *= factor;
        });

    /// <summary>The model with bias entry <paramref name="cls"/> of the last Gemm set to <paramref name="value"/> (e.g. NaN).</summary>
    public static OnnxModel WithLastBias(int cls, float value) => EditLastGemm((_, bias) => bias[cls] = value);

    private static OnnxModel EditLastGemm(Action<float[], float[]> edit)
    {
        var model = Model();
        var gemm = model.Graph.Node.Last(n => n.OpType == "Gemm");
        var (weights, wDims) = model.GetFloatInitializer(gemm.Input[1]);
        var (bias, bDims) = model.GetFloatInitializer(gemm.Input[2]);
        edit(weights, bias);
        Replace(model.Graph, OnnxTensors.FromFloats(gemm.Input[1], weights, wDims));
        Replace(model.Graph, OnnxTensors.FromFloats(gemm.Input[2], bias, bDims));
        return OnnxModel.Parse(model.ToBytes());
    }

    private static void Replace(GraphProto graph, TensorProto tensor)
    {
        int index = graph.Initializer.ToList().FindIndex(t => t.Name == tensor.Name);
        graph.Initializer[index] = tensor;
    }
}
