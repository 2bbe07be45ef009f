using Saliency.Models.Onnx.Proto;
using static Saliency.Models.Onnx.OnnxAttributes;

namespace Saliency.TestSupport;

/// <summary>
/// Forward ops the torchvision families add (MobileNet v3's gates, DenseNet's transition Pad, ShuffleNet's channel
/// split), so that the conformance zoo's finite differences run in float64 (tests/Saliency.Models.Tests/Zoo).
/// Transcribed from the ONNX operator definitions, with the attribute forms of the older opsets.
/// </summary>
internal static partial class ReferenceOps
{
    internal static readonly string[] FamilyOps = ["HardSigmoid", "HardSwish", "Pad", "Split"];

    private static ReferenceTensor[] ApplyFamilyOp(NodeProto node, ReferenceTensor?[] inputs, long opset)
    {
        ReferenceTensor In(int i) =>
            i < inputs.Length && inputs[i] is { } t ? t : throw new ArgumentException($"input #{i} is required.");
        ReferenceTensor? Opt(int i) => i < inputs.Length ? inputs[i] : null;

        switch (node.OpType)
        {
            case "HardSigmoid":
            {
                // max(0, min(1, αx + β)), α = 0.2 and β = 0.5 by default (PyTorch exports α = 1/6).
                double alpha = GetFloat(node, "alpha", 0.2f), beta = GetFloat(node, "beta", 0.5f);
                return [Map(In(0), v => Math.Clamp(alpha * v + beta, 0, 1))];
            }
            // opset 14: x · max(0, min(1, x/6 + 1/2)).
            case "HardSwish": return [Map(In(0), static v => v * Math.Clamp(v / 6 + 0.5, 0, 1))];
            case "Pad":
            {
                // Pads and the value are attributes before opset 11, inputs from 11 (axes from 18 is not needed here).
                string mode = Find(node, "mode") is { } m ? m.S.ToStringUtf8() : "constant";
                if (mode != "constant") throw new NotSupportedException($"Pad mode '{mode}' is not implemented by the reference evaluator.");
                if (opset >= 18 && Opt(3) is not null) throw new NotSupportedException("Pad with axes is not implemented by the reference evaluator.");
                long[] pads = opset >= 11 ? Longs(In(1), "pads") : GetInts(node, "pads") ?? throw new ArgumentException("Pad needs pads.");
                double value = opset >= 11 ? (Opt(2) is { Length: > 0 } c ? c.Data[0] : 0) : GetFloat(node, "value", 0f);
                return [Pad(In(0), pads, value)];
            }
            case "Split":
            {
                // Sizes: attribute 'split' before opset 13, optional input from 13; absent = equal parts.
                var x = In(0);
                int axis = NormalizeAxis(GetInt(node, "axis", 0), x.Rank, "Split");
                long[]? sizes = opset >= 13 ? (Opt(1) is { Length: > 0 } s ? Longs(s, "split") : null) : GetInts(node, "split");
                int parts = node.Output.Count;
                sizes ??= Enumerable.Repeat(x.Shape[axis] / parts, parts).ToArray();
                if (sizes.Length != parts || sizes.Sum() != x.Shape[axis])
                    throw new ArgumentException($"Split sizes [{string.Join(", ", sizes)}] do not fill axis {axis} of {ReferenceTensor.Format(x.Shape)} in {parts} parts.");
                var outputs = new ReferenceTensor[parts];
                long start = 0;
                for (int p = 0; p < parts; p++)
                {
                    outputs[p] = Slice(x, [start], [start + sizes[p]], [axis], null);
                    start += sizes[p];
                }
                return outputs;
            }
            default: throw new NotSupportedException($"op '{node.OpType}' is not implemented by the reference evaluator.");
        }
    }

    /// <summary>Constant padding: pads = [b₀, b₁, …, e₀, e₁, …] (negative values crop).</summary>
    private static ReferenceTensor Pad(ReferenceTensor x, long[] pads, double value)
    {
        int r = x.Rank;
        if (pads.Length != 2 * r) throw new ArgumentException($"Pad has {pads.Length} pads for rank {r}.");
        var shape = new long[r];
        for (int i = 0; i < r; i++) shape[i] = x.Shape[i] + pads[i] + pads[r + i];
        var y = NewData(ReferenceTensor.ElementCount(shape));
        long[] inStrides = ReferenceTensor.Strides(x.Shape);
        var index = new long[r];
        for (long k = 0; k < y.Length; k++)
        {
            long at = 0;
            bool inside = true;
            for (int i = 0; i < r && inside; i++)
            {
                long src = index[i] - pads[i];
                inside = src >= 0 && src < x.Shape[i];
                at += src * inStrides[i];
            }
            y[k] = inside ? x.Data[at] : value;
            Increment(index, shape);
        }
        return new ReferenceTensor(y, shape);
    }
}
