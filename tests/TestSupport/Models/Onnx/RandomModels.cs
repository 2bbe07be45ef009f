using Saliency.Models.Onnx.Proto;

using Saliency.Models.Onnx;

namespace Saliency.TestSupport;

/// <summary>
/// Ready-made classifier models with seeded random weights, built with <see cref="OnnxGraphBuilder"/>:
/// for tests, benchmarks and demos that need a real graph without a trained model. All take a dynamic
/// batch "N" and output logits named "logits" (float, [N, classes]). The same seed gives the same bytes.
/// </summary>
internal static class RandomModels
{
    /// <summary>
    /// A multilayer perceptron: input [N, layerSizes[0]], Gemm layers with the activation between them
    /// (none after the last).
    /// </summary>
    /// <param name="layerSizes">Input width, hidden widths, number of classes (at least two entries).</param>
    /// <param name="seed">Weight seed.</param>
    /// <param name="activation">"Relu", "LeakyRelu", "Sigmoid" or "Tanh".</param>
    public static ModelProto Mlp(int[] layerSizes, int seed, string activation = "Relu")
    {
        ArgumentNullException.ThrowIfNull(layerSizes);
        if (layerSizes.Length < 2 || layerSizes.Any(s => s <= 0))
            throw new ArgumentException("an MLP needs at least an input and an output width, all positive.", nameof(layerSizes));
        var rng = new Random(seed);
        var b = new OnnxGraphBuilder("mlp");
        string h = b.Input("input", OnnxElementType.Float, "N", layerSizes[0]);
        for (int l = 1; l < layerSizes.Length; l++)
        {
            bool last = l == layerSizes.Length - 1;
            h = b.Linear(h, layerSizes[l - 1], layerSizes[l], rng, name: last ? "logits" : $"fc{l}");
            if (!last) h = Activate(b, h, activation);
        }
        b.Output(h, OnnxElementType.Float, "N", layerSizes[^1]);
        return b.Build();
    }

    /// <summary>
    /// A small CNN on [N, channels, size, size]: conv3×3(pad 1) → ReLU → maxpool 2 → conv3×3 (stride 2,
    /// pad 1) → ReLU → average pool 2 → flatten → Gemm → ReLU → Gemm to the classes. <paramref name="size"/>
    /// must be a multiple of 8.
    /// </summary>
    public static ModelProto SmallCnn(int channels, int size, int classes, int seed, int width = 4)
    {
        if (size <= 0 || size % 8 != 0) throw new ArgumentException("size must be a positive multiple of 8.", nameof(size));
        var rng = new Random(seed);
        var b = new OnnxGraphBuilder("small_cnn");
        string x = b.Input("input", OnnxElementType.Float, "N", channels, size, size);
        string h = b.Relu(b.Conv2d(x, channels, width, 3, rng, pad: 1, name: "conv1"));
        h = b.MaxPool(h, [2, 2], [2, 2]);
        h = b.Relu(b.Conv2d(h, width, 2 * width, 3, rng, stride: 2, pad: 1, name: "conv2"));
        h = b.AveragePool(h, [2, 2], [2, 2]);
        h = b.Flatten(h);
        int features = 2 * width * (size / 8) * (size / 8);
        h = b.Relu(b.Linear(h, features, 16, rng, name: "fc1"));
        h = b.Linear(h, 16, classes, rng, name: "logits");
        b.Output(h, OnnxElementType.Float, "N", classes);
        return b.Build();
    }

    /// <summary>
    /// A LeNet-5-shaped ReLU CNN on [N, 1, 28, 28] (the shape of the bundled MNIST model): conv5×5(6, pad 2)
    /// → ReLU → maxpool 2 → conv5×5(16) → ReLU → maxpool 2 → flatten → 120 → 84 → 10.
    /// </summary>
    public static ModelProto LeNet(int seed)
    {
        var rng = new Random(seed);
        var b = new OnnxGraphBuilder("lenet");
        string x = b.Input("input", OnnxElementType.Float, "N", 1, 28, 28);
        string h = b.Relu(b.Conv2d(x, 1, 6, 5, rng, pad: 2, name: "conv1"));
        h = b.MaxPool(h, [2, 2], [2, 2]);
        h = b.Relu(b.Conv2d(h, 6, 16, 5, rng, name: "conv2"));
        h = b.MaxPool(h, [2, 2], [2, 2]);
        h = b.Flatten(h);
        h = b.Relu(b.Linear(h, 16 * 5 * 5, 120, rng, name: "fc1"));
        h = b.Relu(b.Linear(h, 120, 84, rng, name: "fc2"));
        h = b.Linear(h, 84, 10, rng, name: "logits");
        b.Output(h, OnnxElementType.Float, "N", 10);
        return b.Build();
    }

    /// <summary>
    /// A ResNet-style model on [N, channels, size, size]: stem conv3×3 + batch norm + ReLU, then
    /// <paramref name="blocks"/> basic residual blocks (conv-BN-ReLU-conv-BN, residual Add, ReLU), the
    /// second block onwards downsampling by stride 2 with a 1×1 conv + BN projection on the shortcut,
    /// global average pool, flatten, Gemm to the classes.
    /// </summary>
    public static ModelProto ResNetBlocks(int channels, int size, int classes, int seed, int width = 4, int blocks = 2)
    {
        var rng = new Random(seed);
        var b = new OnnxGraphBuilder("resnet_blocks");
        string x = b.Input("input", OnnxElementType.Float, "N", channels, size, size);
        string h = b.Relu(b.BatchNorm2d(b.Conv2d(x, channels, width, 3, rng, pad: 1, bias: false, name: "stem"), width, rng, name: "stem_bn"));
        int c = width;
        for (int k = 0; k < blocks; k++)
        {
            int stride = k == 0 ? 1 : 2;
            int cOut = k == 0 ? c : 2 * c;
            h = BasicBlock(b, h, c, cOut, stride, rng, $"block{k}");
            c = cOut;
        }
        h = b.Flatten(b.GlobalAveragePool(h));
        h = b.Linear(h, c, classes, rng, name: "logits");
        b.Output(h, OnnxElementType.Float, "N", classes);
        return b.Build();
    }

    /// <summary>
    /// A ResNet-18-shaped classifier (random weights): 7×7/2 stem + BN + ReLU + 3×3/2 max pool, four stages
    /// of two basic blocks with widths 64·[1, 2, 4, 8] (scaled by <paramref name="widthScale"/>), global
    /// average pool, Gemm. With the defaults: [N, 3, 224, 224] → [N, 1000], ≈ 11.7 M parameters.
    /// </summary>
    public static ModelProto ResNet18(int seed, int classes = 1000, int size = 224, double widthScale = 1.0)
    {
        var rng = new Random(seed);
        var b = new OnnxGraphBuilder("resnet18");
        int w0 = Math.Max(1, (int)Math.Round(64 * widthScale));
        string x = b.Input("input", OnnxElementType.Float, "N", 3, size, size);
        string h = b.Relu(b.BatchNorm2d(b.Conv2d(x, 3, w0, 7, rng, stride: 2, pad: 3, bias: false, name: "conv1"), w0, rng, name: "bn1"));
        h = b.MaxPool(h, [3, 3], [2, 2], [1, 1, 1, 1]);
        int c = w0;
        for (int stage = 0; stage < 4; stage++)
        {
            int cOut = w0 << stage;
            for (int k = 0; k < 2; k++)
            {
                int stride = stage > 0 && k == 0 ? 2 : 1;
                h = BasicBlock(b, h, c, cOut, stride, rng, $"layer{stage + 1}.{k}");
                c = cOut;
            }
        }
        h = b.Flatten(b.GlobalAveragePool(h));
        h = b.Linear(h, c, classes, rng, name: "logits");
        b.Output(h, OnnxElementType.Float, "N", classes);
        return b.Build();
    }

    /// <summary>A basic residual block; a 1×1 conv + BN projection on the shortcut when the shape changes.</summary>
    private static string BasicBlock(OnnxGraphBuilder b, string x, int cIn, int cOut, int stride, Random rng, string name)
    {
        string h = b.Relu(b.BatchNorm2d(b.Conv2d(x, cIn, cOut, 3, rng, stride: stride, pad: 1, bias: false, name: $"{name}.conv1"), cOut, rng, name: $"{name}.bn1"));
        h = b.BatchNorm2d(b.Conv2d(h, cOut, cOut, 3, rng, pad: 1, bias: false, name: $"{name}.conv2"), cOut, rng, name: $"{name}.bn2");
        string shortcut = x;
        if (stride != 1 || cIn != cOut)
            shortcut = b.BatchNorm2d(b.Conv2d(x, cIn, cOut, 1, rng, stride: stride, bias: false, name: $"{name}.downsample.0"), cOut, rng, name: $"{name}.downsample.1");
        return b.Relu(b.ResidualAdd(shortcut, h, $"{name}.add"));
    }

    private static string Activate(OnnxGraphBuilder b, string h, string activation) => activation switch
    {
        "Relu" => b.Relu(h),
        "LeakyRelu" => b.LeakyRelu(h, 0.1f),
        "Sigmoid" => b.Sigmoid(h),
        "Tanh" => b.Tanh(h),
        _ => throw new ArgumentException($"unknown activation '{activation}' (Relu, LeakyRelu, Sigmoid, Tanh).", nameof(activation)),
    };
}
