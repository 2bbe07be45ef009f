using Saliency.Models.Onnx.Proto;
using static Saliency.Models.Onnx.OnnxAttributes;

namespace Saliency.TestSupport;

/// <summary>
/// Forward ops of the common classifier families beyond <see cref="OnnxGraphBuilder"/>'s (MobileNet v3, DenseNet,
/// ShuffleNet, EfficientNet, transformer heads): HardSigmoid, HardSwish, PRelu, Elu, Erf, Split, Pad, LRN,
/// LayerNormalization, in every opset form 7–21 (attributes that later became inputs too), transcribed from the
/// ONNX operator definitions.
/// </summary>
internal static partial class ReferenceOps
{
    /// <summary>Op types implemented in this file.</summary>
    internal static readonly string[] FamilyOps =
        ["HardSigmoid", "HardSwish", "PRelu", "Elu", "Erf", "Split", "Pad", "LRN", "LayerNormalization"];

    private static ReferenceTensor[]? ApplyFamilyOp(NodeProto node, ReferenceTensor?[] inputs, long opset)
    {
        ReferenceTensor In(int i) =>
            i < inputs.Length && inputs[i] is { } t ? t : throw new ArgumentException($"input #{i} is required.");
        ReferenceTensor? Opt(int i) => i < inputs.Length ? inputs[i] : null;

        switch (node.OpType)
        {
            case "HardSigmoid":
                {
                    double alpha = GetFloat(node, "alpha", 0.2f), beta = GetFloat(node, "beta", 0.5f);
                    return [Map(In(0), v => Math.Max(0, Math.Min(1, alpha * v + beta)))];
                }
            case "HardSwish": return [Map(In(0), static v => v * Math.Max(0, Math.Min(1, v / 6 + 0.5)))];
            case "PRelu": return [Broadcast(In(0), In(1), static (v, slope) => v >= 0 ? v : slope * v)];
            case "Elu":
                {
                    double alpha = GetFloat(node, "alpha", 1f);
                    return [Map(In(0), v => v > 0 ? v : alpha * (Math.Exp(v) - 1))];
                }
            case "Erf": return [Map(In(0), MathNet.Numerics.SpecialFunctions.Erf)];
            case "Split": return Split(node, In(0), Opt(1), opset);
            case "Pad": return [Pad(node, In(0), Opt(1), Opt(2), Opt(3), opset)];
            case "LRN": return [Lrn(node, In(0))];
            case "LayerNormalization": return [LayerNormalization(node, In(0), In(1), Opt(2))];
            default: return null;
        }
    }

    private static ReferenceTensor[] Split(NodeProto node, ReferenceTensor x, ReferenceTensor? splitInput, long opset)
    {
        int axis = NormalizeAxis(GetInt(node, "axis", 0), x.Rank, "Split");
        int parts = node.Output.Count;
        long[]? split = opset >= 13 ? (splitInput is null ? null : Longs(splitInput, "split")) : GetInts(node, "split");
        if (split is null || split.Length == 0)
        {
            long n = GetInt(node, "num_outputs", parts);
            long chunk = (x.Shape[axis] + n - 1) / n;
            split = Enumerable.Range(0, (int)n).Select(i => Math.Min(chunk, Math.Max(0, x.Shape[axis] - i * chunk))).ToArray();
        }
        if (split.Sum() != x.Shape[axis]) throw new ArgumentException("Split sizes do not add up to the axis.");
        var outputs = new ReferenceTensor[split.Length];
        long offset = 0;
        for (int i = 0; i < split.Length; i++)
        {
            outputs[i] = Slice(x, [offset], [offset + split[i]], [axis], null);
            offset += split[i];
        }
        return outputs;
    }

    private static ReferenceTensor Pad(NodeProto node, ReferenceTensor x, ReferenceTensor? padsInput, ReferenceTensor? valueInput, ReferenceTensor? axesInput, long opset)
    {
        int r = x.Rank;
        long[] pads;
        double value;
        if (opset >= 11)
        {
            pads = Longs(padsInput ?? throw new ArgumentException("Pad needs pads."), "pads");
            value = valueInput is { Length: > 0 } v ? v.Data[0] : 0;
            if (axesInput is not null)
            {
                var axes = Longs(axesInput, "axes");
                var full = new long[2 * r];
                for (int i = 0; i < axes.Length; i++)
                {
                    int a = NormalizeAxis(axes[i], r, "Pad");
                    full[a] = pads[i];
                    full[r + a] = pads[axes.Length + i];
                }
                pads = full;
            }
        }
        else
        {
            pads = GetInts(node, "pads") ?? throw new ArgumentException("Pad needs pads.");
            value = GetFloat(node, "value", 0f);
        }
        if (pads.Length != 2 * r) throw new ArgumentException("pads must have 2·rank entries.");
        string mode = GetString(node, "mode", "constant");
        var shape = x.Shape.Select((d, i) => d + pads[i] + pads[r + i]).ToArray();
        var y = NewData(ReferenceTensor.ElementCount(shape));
        var inStrides = ReferenceTensor.Strides(x.Shape);
        var index = new long[r];
        for (long flat = 0; flat < y.Length; flat++)
        {
            long offset = 0;
            bool outside = false;
            for (int i = 0; i < r; i++)
            {
                long s = index[i] - pads[i], n = x.Shape[i];
                if (s < 0 || s >= n)
                {
                    switch (mode)
                    {
                        case "edge": s = Math.Clamp(s, 0, n - 1); break;
                        case "wrap": s = ((s % n) + n) % n; break;
                        case "reflect":
                            // Mirror without repeating the edge element: …, 2, 1, [0, 1, …, n−1], n−2, ….
                            while (s < 0 || s >= n) s = s < 0 ? -s : 2 * (n - 1) - s;
                            break;
                        default: outside = true; break;
                    }
                }
                offset += s * inStrides[i];
            }
            y[flat] = outside ? value : x.Data[offset];
            Increment(index, shape);
        }
        return new ReferenceTensor(y, shape);
    }

    private static ReferenceTensor Lrn(NodeProto node, ReferenceTensor x)
    {
        double alpha = GetFloat(node, "alpha", 1e-4f), beta = GetFloat(node, "beta", 0.75f), bias = GetFloat(node, "bias", 1f);
        long size = GetInt(node, "size", 0);
        if (size < 1 || x.Rank < 3) throw new ArgumentException("LRN needs size ≥ 1 and rank ≥ 3.");
        long c = x.Shape[1], inner = ReferenceTensor.ElementCount(x.Shape[2..]), n = x.Shape[0];
        long lo = (size - 1) / 2, hi = size - 1 - lo;
        var y = NewData(x.Length);
        for (long b = 0; b < n; b++)
            for (long ch = 0; ch < c; ch++)
                for (long p = 0; p < inner; p++)
                {
                    double sum = 0;
                    for (long j = Math.Max(0, ch - lo); j <= Math.Min(c - 1, ch + hi); j++)
                    {
                        double v = x.Data[(b * c + j) * inner + p];
                        sum += v * v;
                    }
                    long at = (b * c + ch) * inner + p;
                    y[at] = x.Data[at] / Math.Pow(bias + alpha / size * sum, beta);
                }
        return new ReferenceTensor(y, x.Shape);
    }

    private static ReferenceTensor LayerNormalization(NodeProto node, ReferenceTensor x, ReferenceTensor scale, ReferenceTensor? bias)
    {
        int axis = NormalizeAxis(GetInt(node, "axis", -1), x.Rank, "LayerNormalization");
        double eps = GetFloat(node, "epsilon", 1e-5f);
        long inner = ReferenceTensor.ElementCount(x.Shape[axis..]);
        long outer = x.Length / Math.Max(1, inner);
        var normalized = NewData(x.Length);
        for (long o = 0; o < outer; o++)
        {
            double mean = 0, variance = 0;
            for (long i = 0; i < inner; i++) mean += x.Data[o * inner + i];
            mean /= inner;
            for (long i = 0; i < inner; i++) variance += Math.Pow(x.Data[o * inner + i] - mean, 2);
            variance /= inner;
            for (long i = 0; i < inner; i++) normalized[o * inner + i] = (x.Data[o * inner + i] - mean) / Math.Sqrt(variance + eps);
        }
        var y = Broadcast(new ReferenceTensor(normalized, x.Shape), scale, static (a, s) => a * s);
        return bias is null ? y : Broadcast(y, bias, static (a, b) => a + b);
    }
}
