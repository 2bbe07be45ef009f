using Saliency.Models.Onnx.Proto;

namespace Saliency.Models.Autodiff;

public static partial class JacobianExporter
{
    /// <summary>Metadata key prefix of the exported model: <c>saliency.jacobian.tap.{i}</c> names the forward tensor of tap i.</summary>
    public const string MetadataTapPrefix = "saliency.jacobian.tap.";

    /// <summary>The operators whose output the default Grad-CAM layer may be: convolutions and elementwise activations.</summary>
    public static IReadOnlyCollection<string> DefaultLayerOperators { get; } = new SortedSet<string>(StringComparer.Ordinal)
    {
        "Conv", "Relu", "LeakyRelu", "PRelu", "Elu", "Selu", "Celu", "Sigmoid", "Tanh", "Clip", "HardSigmoid", "HardSwish",
        "Gelu", "Softplus", "Mish",
    };

    /// <summary>How <see cref="JacobianExportOptions.DefaultLayer"/> is resolved (for messages and docs).</summary>
    public const string DefaultActivationLayerRule =
        "the last node in topological order on the path from the image to the logits whose op is Conv or an elementwise " +
        "activation and whose first output has the static shape [1, K, h, w] with h ≥ 2 and w ≥ 2";

    private sealed partial class Exporter
    {
        /// <summary>One activation tap: the forward tensor, its static shape [1, dims…], and its place in the options.</summary>
        private sealed record Tap(int Index, string Tensor, long[] Shape)
        {
            public string? Gradient { get; set; }
        }

        private List<Tap> _taps = [];

        /// <summary>
        /// Resolves <see cref="JacobianExportOptions.ActivationTaps"/> against the relevant nodes (those on the path from
        /// the image to the logits), before anything is emitted. Reverse mode already carries a cotangent through every
        /// relevant tensor; a tap only names one and exposes it (Selvaraju et al. 2017, eq. 1 needs ∂y^c/∂A).
        /// </summary>
        private void ResolveTaps(List<(NodeProto Node, int Index)> relevant)
        {
            _taps = [];
            if (options.ActivationTaps is not { Count: > 0 } requested) return;
            for (int i = 0; i < requested.Count; i++)
            {
                string layer = requested[i] ?? JacobianExportOptions.DefaultLayer;
                string tensor = layer.Length == 0 ? DefaultLayer(relevant) : TapTensor(layer, relevant);
                if (!_shapes.TryGetShape(tensor, out var shape))
                    throw new JacobianExportException($"The shape of layer '{tensor}' cannot be determined statically; it cannot be tapped.");
                _taps.Add(new Tap(i, tensor, shape));
            }
        }

        private string DefaultLayer(List<(NodeProto Node, int Index)> relevant)
        {
            for (int r = relevant.Count - 1; r >= 0; r--)
            {
                var node = relevant[r].Node;
                if (!IsDefaultDomain(node) || !DefaultLayerOperators.Contains(node.OpType)) continue;
                var output = node.Output[0];
                if (_active.Contains(output) && _needed.Contains(output)
                    && _shapes.TryGetShape(output, out var s) && s.Length == 4 && s[0] == 1 && s[2] >= 2 && s[3] >= 2)
                    return output;
            }
            throw new JacobianExportException(
                $"The model has no spatial layer to tap: no node qualifies as the default Grad-CAM layer ({DefaultActivationLayerRule}).");
        }

        /// <summary>A node name (its first output) or a tensor name, which must be the first output of a relevant node.</summary>
        private string TapTensor(string layer, List<(NodeProto Node, int Index)> relevant)
        {
            string tensor = _producer.ContainsKey(layer)
                ? layer
                : _forward.FirstOrDefault(n => n.Name == layer)?.Output.FirstOrDefault()
                    ?? throw new JacobianExportException($"The model has no node or node output named '{layer}' to tap.");
            var (producer, _) = _producer[tensor];
            if (!(_active.Contains(tensor) && _needed.Contains(tensor)) || relevant.All(p => !ReferenceEquals(p.Node, producer)))
                throw new JacobianExportException($"The layer '{layer}' is not on the differentiated path from the image to the logits.");
            if (producer.Output[0] != tensor)
                throw new JacobianExportException(
                    $"The tensor '{tensor}' is output {producer.Output.IndexOf(tensor)} of node '{producer.Name}' ({producer.OpType}); only a node's first output carries a derivative.");
            return tensor;
        }

        /// <summary>The names the taps add, checked free like the other added names.</summary>
        private IEnumerable<string> TapNames() =>
            _taps.SelectMany(t => new[] { JacobianExportOptions.ActivationName(t.Index), JacobianExportOptions.ActivationVjpName(t.Index) });

        /// <summary>
        /// Called with a forward tensor's total gradient when the backward walk reaches its producer: all consumers have
        /// been differentiated by then (reverse topological order), so the sum is complete.
        /// </summary>
        private void CaptureTap(string tensor, string gradient)
        {
            foreach (var tap in _taps)
                if (tap.Tensor == tensor && tap.Gradient is null)
                {
                    tap.Gradient = gradient;
                    _emit.Node("Identity", [tensor], JacobianExportOptions.ActivationName(tap.Index), []);
                    _emit.Node("Identity", [gradient], JacobianExportOptions.ActivationVjpName(tap.Index), []);
                }
        }

        /// <summary>Fails when a tap got no gradient (nothing flowed into it), before the model is modified.</summary>
        private void CheckTaps()
        {
            foreach (var tap in _taps)
                if (tap.Gradient is null)
                    throw new JacobianExportException($"No derivative reaches the tapped layer '{tap.Tensor}'.");
        }

        /// <summary>Declares the tap outputs and records which tensor each tap is.</summary>
        private void AddTapOutputs()
        {
            foreach (var tap in _taps)
            {
                _graph.Output.Add(FloatValue(JacobianExportOptions.ActivationName(tap.Index), tap.Shape.Select(d => (object)d)));
                _graph.Output.Add(FloatValue(JacobianExportOptions.ActivationVjpName(tap.Index), ["k", .. tap.Shape[1..].Select(d => (object)d)]));
                SetMetadata(MetadataTapPrefix + tap.Index.ToString(System.Globalization.CultureInfo.InvariantCulture), tap.Tensor);
            }
        }
    }
}
