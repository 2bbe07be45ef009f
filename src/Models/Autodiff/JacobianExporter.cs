using Saliency.Models.Onnx;
using Saliency.Models.Onnx.Proto;

namespace Saliency.Models.Autodiff;

/// <summary>
/// Reverse-mode differentiation of an ONNX image classifier (source opset 7–21), exported as an ONNX graph that a
/// stock inference build of ONNX Runtime runs (CPU or GPU): standard operators of the default domain only, opset
/// max(source, 13) or 16 when a MaxPool is differentiated, no training operators.
/// </summary>
/// <remarks>
/// <para>The augmented model keeps the original inputs and outputs and adds</para>
/// <list type="bullet">
/// <item><c>logits</c> [1, c] — the classifier's logits (the input of a final Softmax when the model ends in one);</item>
/// <item><c>probabilities</c> [1, c] — their softmax;</item>
/// <item>input <c>cotangents</c> [k, c] and output <c>vjp</c> [k, image dims without batch]: row r of <c>vjp</c>
/// is <c>J(x)ᵀ cotangents[r]</c>, with <c>J</c> the Jacobian of the logits with respect to the image.</item>
/// </list>
/// <para>The image batch is fixed to 1 and k is chosen at run time, so one Run gives the logits and k
/// vector-Jacobian products: identity rows give rows of the Jacobian (columns of <c>W</c>), <c>p − y</c> gives
/// the cross-entropy gradient <c>W(p − y)</c>. The backward pass carries k in place of the batch axis, so the
/// batch-1 forward activations it reuses (ReLU masks, MaxPool indices, sigmoid outputs) broadcast against it.</para>
/// <para>Only the path from the image to the logits is differentiated; integer shape computations off that path
/// (PyTorch's <c>Shape → Gather → Concat → Reshape</c>) are folded to constants. For piecewise-linear networks
/// (ReLU, max pooling, affine layers) the exported Jacobian is exact within the input's activation region;
/// <see cref="MetadataPiecewiseLinear"/> records whether the network is one.</para>
/// </remarks>
internal static partial class JacobianExporter
{
    /// <summary>The operators that have a backward rule.</summary>
    public static IReadOnlyCollection<string> SupportedOperators { get; } = new SortedSet<string>(StringComparer.Ordinal)
    {
        "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Softmax", "Conv",
        "MaxPool", "AveragePool", "GlobalAveragePool", "BatchNormalization", "Flatten", "Reshape", "Transpose",
        "Concat", "Identity", "Dropout", "Clip",
        "HardSigmoid", "HardSwish", "PRelu", "Elu", "Softplus", "Exp", "Log", "Sqrt", "Pow", "Erf", "Neg", "Cast",
        "Squeeze", "Unsqueeze", "LogSoftmax", "Sum", "ReduceSum", "ReduceMean", "ReduceMax", "GlobalMaxPool", "Split",
        "Gather", "Slice", "Pad", "Resize", "LRN", "LayerNormalization",
    };

    /// <summary>
    /// Operators that are piecewise linear in their differentiated input (Mul and Div only with one operand on the
    /// image path, see <see cref="IsPiecewiseLinear"/>). A network made of these alone has a zero input Hessian of
    /// the logits almost everywhere, so <c>W A Wᵀ</c> is its exact loss Hessian (Singla et al., ICML 2019, §3).
    /// </summary>
    private static readonly HashSet<string> PiecewiseLinearOperators =
    [
        "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Relu", "LeakyRelu", "PRelu", "Clip", "HardSigmoid", "Conv",
        "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "BatchNormalization", "Flatten", "Reshape",
        "Transpose", "Concat", "Identity", "Dropout", "Neg", "Cast", "Squeeze", "Unsqueeze", "Sum", "ReduceSum",
        "ReduceMean", "ReduceMax", "Split", "Gather", "Slice", "Pad", "Resize",
    ];

    /// <summary>Metadata key of the exported model: "true" when every differentiated operator is piecewise linear in the image.</summary>
    public const string MetadataPiecewiseLinear = "saliency.jacobian.piecewise_linear";

    /// <summary>The lowest source opset the exporter accepts (older graphs predate the operator forms it upgrades from).</summary>
    public const long MinimumSupportedOpset = 7;

    /// <summary>The highest source opset whose operator semantics the exporter's rules follow.</summary>
    public const long MaximumSupportedOpset = 21;

    /// <summary>
    /// Whether an exported model's Jacobian comes from a piecewise-linear network (<see cref="MetadataPiecewiseLinear"/>);
    /// null for a model without the key (not made by this exporter, or by an older version).
    /// </summary>
    public static bool? IsPiecewiseLinear(ModelProto exported)
    {
        ArgumentNullException.ThrowIfNull(exported);
        return exported.MetadataProps.FirstOrDefault(e => e.Key == MetadataPiecewiseLinear)?.Value switch
        {
            "true" => true,
            "false" => false,
            _ => null,
        };
    }

    /// <summary>Operators whose outputs never carry a derivative (they read shapes, not values).</summary>
    private static readonly HashSet<string> NonDifferentiable = ["Shape", "Size", "Constant", "ConstantOfShape"];

    /// <summary>Metadata key of the exported model: the name of the image input that <c>vjp</c> differentiates.</summary>
    public const string MetadataInput = "saliency.jacobian.input";

    /// <summary>Metadata key of the exported model: the name of the forward tensor holding the logits.</summary>
    public const string MetadataLogits = "saliency.jacobian.logits";

    /// <summary>Metadata key of the exported model: "true" when the classifier's output is a final Softmax of the logits.</summary>
    public const string MetadataEndsInSoftmax = "saliency.jacobian.ends_in_softmax";

    /// <summary>
    /// Version of the exported graph's form. Bump it whenever a change to the exporter changes its output for some
    /// model: it is part of the <see cref="Caching.JacobianModelCache"/> key, so stale cached exports are not reused.
    /// </summary>
    /// <remarks>2: node order for ONNX Runtime (<see cref="NodeSchedule"/>); ReLU mask as Sign of the output; MaxPool shapes from the gradient. 3: opsets 7–21
    /// (forward graph upgraded to opset 13 forms), export opset 13 unless a MaxPool needs 16, piecewise-linear metadata.
    /// 4: stride-1 Conv differentiated by a Conv with flipped weights instead of ConvTranspose.</remarks>
    public const int FormatVersion = 4;

    /// <summary>The opset of the exported model is raised to at least this when a MaxPool is differentiated (ScatterElements with reduction="add"); to 13 otherwise.</summary>
    public const long MinimumExportOpset = 16;

    /// <summary>
    /// Builds the augmented model. The input model is not modified.
    /// </summary>
    /// <param name="classifier">An image classifier: one float image input [N or 1, dims...], output logits or softmax probabilities [N, c].</param>
    /// <param name="options">Names and shape overrides; <c>null</c> for the defaults.</param>
    /// <returns>A new model with the outputs described on <see cref="JacobianExporter"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="classifier"/> is null.</exception>
    /// <exception cref="JacobianExportException">The model cannot be differentiated; the message names the reason and, for
    /// an unsupported operator, the operator and node.</exception>
    public static ModelProto Export(ModelProto classifier, JacobianExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        options ??= new JacobianExportOptions();
        if (classifier.Graph is null) throw new JacobianExportException("The model has no graph.");
        if (options.CotangentBatch is int k && k < 1)
            throw new ArgumentOutOfRangeException(nameof(options), k, "CotangentBatch must be ≥ 1 (or null for a symbolic k).");
        var model = classifier.Clone();
        new Exporter(model, options).Run();
        return model;
    }

    /// <summary>Parses ONNX bytes, exports the augmented model and serialises it.</summary>
    /// <exception cref="JacobianExportException">The bytes are not an ONNX model, or the model cannot be differentiated.</exception>
    public static byte[] Export(byte[] classifierOnnx, JacobianExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(classifierOnnx);
        ModelProto parsed;
        try
        {
            parsed = ModelProto.Parser.ParseFrom(classifierOnnx);
        }
        catch (Google.Protobuf.InvalidProtocolBufferException e)
        {
            throw new JacobianExportException($"The bytes are not a valid ONNX model: {e.Message}");
        }
        return Google.Protobuf.MessageExtensions.ToByteArray(Export(parsed, options));
    }

    /// <summary>One export: analysis of the forward graph, then emission of the backward graph.</summary>
    private sealed partial class Exporter(ModelProto model, JacobianExportOptions options)
    {
        private readonly GraphProto _graph = model.Graph;
        private List<NodeProto> _forward = [];
        private StaticShapes _shapes = null!;
        private readonly HashSet<string> _active = new(StringComparer.Ordinal);
        private readonly HashSet<string> _needed = new(StringComparer.Ordinal);
        private readonly Dictionary<string, (NodeProto Node, int Index)> _producer = new(StringComparer.Ordinal);
        private BackwardGraph _emit = null!;
        private long _sourceOpset;

        public void Run()
        {
            long opset = CheckOpset();
            _sourceOpset = opset;
            var (input, imageShape) = FindImageInput();
            var outputName = FindClassifierOutput();
            _forward = TopologicalOrder();
            _shapes = StaticShapes.Infer(_graph, _forward, input.Name, imageShape);
            if (opset < OpsetUpgrade.TargetOpset)
            {
                // Older graphs are rewritten into opset-13 operator forms first (see OpsetUpgrade): the backward rules
                // read one form per operator, and the augmented graph is valid at the opset it is raised to.
                var names = new HashSet<string>(StringComparer.Ordinal);
                foreach (var n in _graph.Node) { names.UnionWith(n.Input); names.UnionWith(n.Output); names.Add(n.Name); }
                foreach (var v in _graph.Input.Concat(_graph.Output).Concat(_graph.ValueInfo)) names.Add(v.Name);
                foreach (var t in _graph.Initializer) names.Add(t.Name);
                var (nodes, constants) = OpsetUpgrade.Apply(_forward, opset, _shapes, names);
                _graph.Node.Clear();
                _graph.Node.AddRange(nodes);
                _graph.Initializer.AddRange(constants);
                _forward = nodes;
                _shapes = StaticShapes.Infer(_graph, _forward, input.Name, imageShape);
            }
            for (int i = 0; i < _forward.Count; i++)
                foreach (var o in _forward[i].Output)
                    if (o.Length > 0) _producer[o] = (_forward[i], i);

            // A final Softmax is detected and differentiated from its input: W is the Jacobian of the logits.
            string logits = outputName;
            bool endsInSoftmax = false;
            if (_producer.TryGetValue(outputName, out var last) && last.Node.OpType == "Softmax" && IsDefaultDomain(last.Node)
                && _shapes.TryGetShape(outputName, out var outShape)
                && StaticShapes.NormalizeAxis(OnnxAttributes.GetInt(last.Node, "axis", -1), outShape.Length) == outShape.Length - 1)
            {
                logits = last.Node.Input[0];
                endsInSoftmax = true;
            }
            MarkActive(input.Name);
            MarkNeeded(logits);
            if (!_needed.Contains(input.Name))
                throw new JacobianExportException($"The output '{logits}' does not depend on the input '{input.Name}'.");
            var relevant = _forward.Select((n, i) => (n, i)).Where(p => IsRelevant(p.n)).ToList();
            // Unsupported operators first: an op the exporter does not know also leaves the shapes after it unknown,
            // and the op is the cause worth naming.
            CheckSupported(relevant, opset);
            ResolveTaps(relevant);
            if (!_shapes.TryGetShape(logits, out var logitShape) || logitShape.Length != 2 || logitShape[0] != 1)
                throw new JacobianExportException(
                    $"The classifier output '{logits}' must have shape [batch, classes]; inferred {Describe(logits)}.");
            long classes = logitShape[1];
            ResolveTaps(relevant);
            // The added nodes need opset 13 (ReduceSum/Pad/Split with tensor arguments, float Equal) and 16 when a
            // MaxPool is differentiated (ScatterElements with reduction="add"); the forward graph is valid there too.
            long exportOpset = Math.Max(opset, relevant.Any(p => p.n.OpType == "MaxPool") ? MinimumExportOpset : OpsetUpgrade.TargetOpset);
            if (opset < 14 && exportOpset >= 14) DropTrainingOutputs();
            bool piecewiseLinear = relevant.All(p => IsPiecewiseLinearNode(p.n));

            // Tensor names for the clash checks; node names join them for the emitter's fresh names.
            var existing = new HashSet<string>(StringComparer.Ordinal);
            foreach (var n in _graph.Node) { existing.UnionWith(n.Input); existing.UnionWith(n.Output); }
            foreach (var v in _graph.Input.Concat(_graph.Output).Concat(_graph.ValueInfo)) existing.Add(v.Name);
            foreach (var t in _graph.Initializer) existing.Add(t.Name);
            CheckName(options.CotangentsName, existing, "cotangents input");
            CheckName(options.VjpName, existing, "vjp output");
            if (logits != options.LogitsName) CheckName(options.LogitsName, existing, "logits output");
            if (!(endsInSoftmax && outputName == options.ProbabilitiesName)) CheckName(options.ProbabilitiesName, existing, "probabilities output");
            foreach (var tapName in TapNames()) CheckName(tapName, existing, "activation tap output");
            string[] added = [options.CotangentsName, options.VjpName, options.LogitsName, options.ProbabilitiesName, .. TapNames()];
            if (added.Distinct(StringComparer.Ordinal).Count() != added.Length)
                throw new JacobianExportException($"The names of the added inputs and outputs must differ: {string.Join(", ", added)}.");

            var taken = new HashSet<string>(existing, StringComparer.Ordinal) { options.CotangentsName, options.VjpName, options.LogitsName, options.ProbabilitiesName };
            taken.UnionWith(_graph.Node.Select(n => n.Name));
            taken.UnionWith(TapNames());
            _emit = new BackwardGraph(taken);
            _emit.AddGradient(logits, options.CotangentsName);
            for (int r = relevant.Count - 1; r >= 0; r--)
            {
                var (node, index) = relevant[r];
                try
                {
                    if (node.OpType == "Split")
                    {
                        // The one multi-output rule: it takes the gradients of all its outputs itself.
                        BackwardSplit(node, index);
                        continue;
                    }
                    var gy = _emit.TakeGradient(node.Output[0]);
                    if (gy is null) continue;
                    CaptureTap(node.Output[0], gy);
                    Backward(node, index, gy);
                }
                catch (Exception e) when (e is IndexOutOfRangeException or ArgumentException or KeyNotFoundException
                                              or InvalidOperationException or OverflowException or DivideByZeroException)
                {
                    // A malformed node (missing inputs, inconsistent attributes) is the model's fault: report it as such.
                    var name = NodeAttributes.DisplayName(node, index);
                    throw new JacobianExportException($"Cannot differentiate node '{name}' (op '{node.OpType}'): the node is malformed ({e.Message}).", node.OpType, name);
                }
            }
            var gx = _emit.TakeGradient(input.Name)
                ?? throw new JacobianExportException($"No derivative reaches the input '{input.Name}'.");
            _emit.Node("Identity", [gx], options.VjpName, []);
            CheckTaps();

            // Everything below only appends to the clone; all checks that can fail have run.
            FixImageInput(input, imageShape);
            if (exportOpset != opset) SetOpset(exportOpset);
            if (model.IrVersion < 8) model.IrVersion = 8;
            _graph.Node.AddRange(_emit.Nodes);
            _graph.Initializer.AddRange(_emit.Initializers);
            object k = options.CotangentBatch is int fixedK ? (long)fixedK : "k";
            _graph.Input.Add(FloatValue(options.CotangentsName, [k, classes]));
            AddNamedOutput(logits, options.LogitsName, classes);
            string probabilities = endsInSoftmax ? outputName : AppendSoftmax(logits);
            AddNamedOutput(probabilities, options.ProbabilitiesName, classes);
            _graph.Output.Add(FloatValue(options.VjpName, [k, .. imageShape[1..].Select(d => (object)d)]));
            SetMetadata(MetadataInput, input.Name);
            SetMetadata(MetadataLogits, logits);
            SetMetadata(MetadataEndsInSoftmax, endsInSoftmax ? "true" : "false");
            SetMetadata(MetadataPiecewiseLinear, piecewiseLinear ? "true" : "false");
            AddTapOutputs();

            // List every node where ONNX Runtime's topological sort wants it (NodeSchedule: linear, not quadratic,
            // session creation in the depth).
            var appended = _graph.Node.Skip(_forward.Count).ToList();
            var ordered = NodeSchedule.Order(_forward, appended, options.CotangentsName);
            _graph.Node.Clear();
            _graph.Node.AddRange(ordered);
        }

        private void SetMetadata(string key, string value)
        {
            var entry = model.MetadataProps.FirstOrDefault(e => e.Key == key);
            if (entry is null) model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
            else entry.Value = value;
        }

        private static bool IsDefaultDomain(NodeProto n) => n.Domain is "" or "ai.onnx";

        private long CheckOpset()
        {
            var entry = model.OpsetImport.FirstOrDefault(o => o.Domain is "" or "ai.onnx")
                ?? throw new JacobianExportException("The model imports no default-domain opset.");
            if (entry.Version < MinimumSupportedOpset || entry.Version > MaximumSupportedOpset)
                throw new JacobianExportException(
                    $"The model uses opset {entry.Version}; the Jacobian exporter supports opsets {MinimumSupportedOpset}–{MaximumSupportedOpset}.");
            return entry.Version;
        }

        /// <summary>
        /// BatchNormalization before opset 14 may list training outputs (mean, variance, saved statistics); from 14 an
        /// inference node has one output. Unread ones are dropped; a read one cannot be kept.
        /// </summary>
        private void DropTrainingOutputs()
        {
            var read = new HashSet<string>(_graph.Node.SelectMany(n => n.Input).Concat(_graph.Output.Select(o => o.Name)), StringComparer.Ordinal);
            for (int i = 0; i < _forward.Count; i++)
            {
                var n = _forward[i];
                if (n.OpType != "BatchNormalization" || n.Output.Count < 2) continue;
                if (n.Output.Skip(1).Any(o => o.Length > 0 && read.Contains(o)))
                    throw new JacobianExportException(
                        $"Node '{NodeAttributes.DisplayName(n, i)}' (BatchNormalization, opset {_sourceOpset}) has training outputs that other nodes read; the augmented model (opset ≥ 14) cannot keep them.",
                        n.OpType, NodeAttributes.DisplayName(n, i));
                while (n.Output.Count > 1) n.Output.RemoveAt(n.Output.Count - 1);
            }
        }

        /// <summary>Whether a differentiated node is piecewise linear in its inputs on the image path.</summary>
        private bool IsPiecewiseLinearNode(NodeProto n)
        {
            if (!PiecewiseLinearOperators.Contains(n.OpType)) return false;
            return n.OpType switch
            {
                // A product of two image-dependent tensors (squeeze-excitation gates, x²) is not linear; neither is c / x.
                "Mul" => n.Input.Count(Wants) < 2,
                "Div" => !Wants(n.Input[1]),
                _ => true,
            };
        }

        private void SetOpset(long version)
        {
            foreach (var o in model.OpsetImport.Where(o => o.Domain is "" or "ai.onnx")) o.Version = version;
        }

        private (ValueInfoProto Input, long[] Shape) FindImageInput()
        {
            var initializers = _graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
            var candidates = _graph.Input.Where(i => !initializers.Contains(i.Name)).ToList();
            ValueInfoProto input;
            if (options.InputName is { } wanted)
            {
                input = candidates.FirstOrDefault(i => i.Name == wanted)
                    ?? throw new JacobianExportException($"The model has no input named '{wanted}'.");
            }
            else
            {
                var floats = candidates.Where(i => i.Type?.TensorType?.ElemType == (int)TensorProto.Types.DataType.Float).ToList();
                if (floats.Count == 0) throw new JacobianExportException("The model has no float input to differentiate with respect to.");
                if (floats.Count > 1)
                    throw new JacobianExportException(
                        $"The model has {floats.Count} float inputs ({string.Join(", ", floats.Select(f => f.Name))}); name the image with JacobianExportOptions.InputName.");
                if (candidates.Count > 1)
                    throw new JacobianExportException(
                        $"The model has {candidates.Count} inputs; the exported Jacobian model supports a single image input.");
                input = floats[0];
            }
            var tensor = input.Type?.TensorType;
            if (tensor is null || tensor.ElemType != (int)TensorProto.Types.DataType.Float)
                throw new JacobianExportException($"The input '{input.Name}' is not a float tensor.");
            int rank = tensor.Shape?.Dim.Count ?? 0;
            if (rank < 2) throw new JacobianExportException($"The input '{input.Name}' must have a batch axis and at least one more axis; it has rank {rank}.");
            var shape = new long[rank];
            shape[0] = 1;
            var batch = tensor.Shape!.Dim[0];
            if (batch.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue && batch.DimValue != 1)
                throw new JacobianExportException($"The input '{input.Name}' has a fixed batch of {batch.DimValue}; the Jacobian model needs batch 1 or a symbolic batch.");
            if (options.InputShape is { } overrideShape)
            {
                if (overrideShape.Count != rank - 1 || overrideShape.Any(d => d <= 0))
                    throw new JacobianExportException($"JacobianExportOptions.InputShape must list {rank - 1} positive dimensions (the input without batch).");
                for (int i = 1; i < rank; i++) shape[i] = overrideShape[i - 1];
            }
            else
            {
                for (int i = 1; i < rank; i++)
                {
                    var d = tensor.Shape.Dim[i];
                    if (d.ValueCase != TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue || d.DimValue <= 0)
                        throw new JacobianExportException(
                            $"Dimension {i} of the input '{input.Name}' is not a fixed size; give the image shape in JacobianExportOptions.InputShape.");
                    shape[i] = d.DimValue;
                }
            }
            return (input, shape);
        }

        private string FindClassifierOutput()
        {
            if (_graph.Output.Count == 0) throw new JacobianExportException("The model has no outputs.");
            if (options.OutputName is { } wanted)
                return _graph.Output.FirstOrDefault(o => o.Name == wanted)?.Name
                    ?? throw new JacobianExportException($"The model has no output named '{wanted}'.");
            return _graph.Output[0].Name;
        }

        /// <summary>Kahn's algorithm; ONNX requires sorted graphs, but sorting here costs nothing and guards against writers that don't.</summary>
        private List<NodeProto> TopologicalOrder()
        {
            var available = new HashSet<string>(StringComparer.Ordinal) { "" };
            foreach (var i in _graph.Input) available.Add(i.Name);
            foreach (var t in _graph.Initializer) available.Add(t.Name);
            var pending = _graph.Node.ToList();
            var sorted = new List<NodeProto>(pending.Count);
            bool progress = true;
            while (pending.Count > 0 && progress)
            {
                progress = false;
                for (int i = 0; i < pending.Count; i++)
                {
                    var n = pending[i];
                    if (!n.Input.All(available.Contains)) continue;
                    sorted.Add(n);
                    available.UnionWith(n.Output);
                    pending.RemoveAt(i--);
                    progress = true;
                }
            }
            if (pending.Count > 0)
            {
                var n = pending[0];
                var missing = n.Input.First(i => !available.Contains(i));
                throw new JacobianExportException(
                    $"Node '{n.Name}' ({n.OpType}) reads '{missing}', which no input, initializer or node produces (or the graph has a cycle).", n.OpType, n.Name);
            }
            return sorted;
        }

        /// <summary>Forward pass: which tensors depend on the image. Only float outputs carry a derivative.</summary>
        private void MarkActive(string input)
        {
            _active.Add(input);
            foreach (var n in _forward)
            {
                if (NonDifferentiable.Contains(n.OpType) || !n.Input.Any(_active.Contains)) continue;
                if (n.OpType is "MaxPool" or "Dropout" or "BatchNormalization") _active.Add(n.Output[0]);
                else _active.UnionWith(n.Output.Where(o => o.Length > 0));
            }
        }

        /// <summary>Backward pass: which active tensors the logits depend on.</summary>
        private void MarkNeeded(string logits)
        {
            _needed.Add(logits);
            for (int i = _forward.Count - 1; i >= 0; i--)
            {
                var n = _forward[i];
                if (!IsRelevant(n)) continue;
                foreach (var input in n.Input)
                    if (_active.Contains(input)) _needed.Add(input);
            }
        }

        private bool IsRelevant(NodeProto n) => n.Output.Any(o => _active.Contains(o) && _needed.Contains(o));

        private static void CheckSupported(List<(NodeProto Node, int Index)> relevant, long opset)
        {
            var bad = relevant.Where(p => !IsDefaultDomain(p.Node) || !SupportedOperators.Contains(p.Node.OpType)).ToList();
            if (bad.Count == 0) return;
            var (node, index) = bad[0];
            string name = NodeAttributes.DisplayName(node, index);
            string domain = IsDefaultDomain(node) ? "" : $" in domain '{node.Domain}'";
            string others = bad.Count > 1
                ? $" ({bad.Count - 1} more: {string.Join(", ", bad.Skip(1).Take(5).Select(p => $"{p.Node.OpType} '{NodeAttributes.DisplayName(p.Node, p.Index)}'"))})"
                : "";
            throw new JacobianExportException(
                $"Unsupported operator '{node.OpType}'{domain} at node '{name}' (opset {opset}) on the path from the input to the logits{others}. Supported: {string.Join(", ", SupportedOperators)}.",
                node.OpType, name);
        }

        private static void CheckName(string name, HashSet<string> existing, string role)
        {
            if (string.IsNullOrEmpty(name)) throw new JacobianExportException($"The name of the {role} is empty.");
            if (existing.Contains(name))
                throw new JacobianExportException($"The model already has a tensor named '{name}'; choose another name for the {role} in JacobianExportOptions.");
        }

        /// <summary>Exposes a forward tensor as a graph output under <paramref name="name"/> (checked free beforehand).</summary>
        private void AddNamedOutput(string tensor, string name, long classes)
        {
            if (tensor == name)
            {
                if (!_graph.Output.Any(o => o.Name == name)) _graph.Output.Add(FloatValue(name, [1L, classes]));
                return;
            }
            _graph.Node.Add(new NodeProto { OpType = "Identity", Name = _emit.Fresh(name), Input = { tensor }, Output = { name } });
            _graph.Output.Add(FloatValue(name, [1L, classes]));
        }

        private string AppendSoftmax(string logits)
        {
            var softmax = _emit.Fresh("probabilities");
            _graph.Node.Add(new NodeProto
            {
                OpType = "Softmax", Name = softmax, Input = { logits }, Output = { softmax },
                Attribute = { OnnxAttributes.Int("axis", -1) },
            });
            return softmax;
        }

        private void FixImageInput(ValueInfoProto input, long[] shape)
        {
            var dims = input.Type.TensorType.Shape.Dim;
            for (int i = 0; i < shape.Length; i++) dims[i] = new TensorShapeProto.Types.Dimension { DimValue = shape[i] };
        }

        private static ValueInfoProto FloatValue(string name, IEnumerable<object> dims)
        {
            var shape = new TensorShapeProto();
            foreach (var d in dims)
                shape.Dim.Add(d is string s ? new TensorShapeProto.Types.Dimension { DimParam = s } : new TensorShapeProto.Types.Dimension { DimValue = Convert.ToInt64(d) });
            return new ValueInfoProto
            {
                Name = name,
                Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
            };
        }

        private string Describe(string tensor) => _shapes.TryGetShape(tensor, out var s) ? $"[{string.Join(", ", s)}]" : "an unknown shape";
    }
}
