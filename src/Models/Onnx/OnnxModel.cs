using Google.Protobuf;
using Saliency.Models.IO;
using Saliency.Models.Onnx.Proto;

namespace Saliency.Models.Onnx;

/// <summary>
/// A validated ONNX model: reading from a file or bytes, writing, and inspection (inputs, outputs,
/// opsets, op histogram, initializers). Every reading path either gives a model that passed
/// <see cref="Validate"/> or throws <see cref="OnnxFormatException"/> naming the problem — garbage bytes
/// never escape as another exception type.
/// </summary>
/// <remarks>
/// The wrapped <see cref="Proto"/> is mutable protobuf; the inspection helpers read it live, so code that
/// edits <see cref="Proto"/> should call <see cref="Validate"/> again (or build a new <see cref="OnnxModel"/>).
/// </remarks>
public sealed class OnnxModel
{
    /// <summary>The underlying protobuf message.</summary>
    public ModelProto Proto { get; }

    /// <summary>The main graph (never null for a validated model).</summary>
    public GraphProto Graph => Proto.Graph;

    private OnnxModel(ModelProto proto) => Proto = proto;

    /// <summary>Wraps and validates a <see cref="ModelProto"/> (not copied).</summary>
    /// <exception cref="OnnxFormatException">The model is not valid; the message says why.</exception>
    public static OnnxModel FromProto(ModelProto proto)
    {
        ArgumentNullException.ThrowIfNull(proto);
        Validate(proto);
        return new OnnxModel(proto);
    }

    /// <summary>Reads and validates a model file.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist (the message and <c>FileName</c> carry the path).</exception>
    /// <exception cref="OnnxFormatException">The file is not a valid ONNX model.</exception>
    public static OnnxModel Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Directory.Exists(path))
            throw new FileNotFoundException($"'{path}' is a directory, not an ONNX model file.", path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"ONNX model file not found: '{path}'.", path);
        byte[] bytes = File.ReadAllBytes(path);
        try
        {
            var proto = ParseUnvalidated(bytes);
            // External weights are read from the model's own folder only (see OnnxExternalData).
            if (OnnxExternalData.HasExternalData(proto))
                OnnxExternalData.Inline(proto, Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".");
            return FromProto(proto);
        }
        catch (OnnxFormatException e) { throw new OnnxFormatException($"'{path}': {e.Message}", e); }
    }

    /// <summary>Parses and validates model bytes.</summary>
    /// <exception cref="OnnxFormatException">The bytes are not a valid ONNX model.</exception>
    public static OnnxModel Parse(byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        return Parse(bytes.AsSpan());
    }

    /// <summary>Parses and validates model bytes.</summary>
    /// <exception cref="OnnxFormatException">The bytes are not a valid ONNX model.</exception>
    public static OnnxModel Parse(ReadOnlySpan<byte> bytes) => FromProto(ParseUnvalidated(bytes));

    private static ModelProto ParseUnvalidated(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty)
            throw new OnnxFormatException("the model bytes are empty.");
        ModelProto proto;
        try
        {
            proto = ModelProto.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new OnnxFormatException($"malformed ONNX protobuf: {e.Message}", e);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or OverflowException
                                       or IndexOutOfRangeException or FormatException)
        {
            // Google.Protobuf reports nearly everything as InvalidProtocolBufferException; this is a safety net
            // for the rest so that garbage never surfaces as an untyped failure.
            throw new OnnxFormatException($"malformed ONNX protobuf: {e.Message}", e);
        }
        return proto;
    }

    /// <summary>The model as protobuf bytes (deterministic for a given <see cref="Proto"/>).</summary>
    public byte[] ToBytes() => Proto.ToByteArray();

    /// <summary>Writes the model to a file (created or replaced atomically, see <see cref="AtomicFile"/>).</summary>
    public void Save(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        AtomicFile.WriteAllBytes(path, ToBytes());
    }

    /// <summary>ONNX IR version of the file.</summary>
    public long IrVersion => Proto.IrVersion;

    /// <summary>Opset imports: domain ("" is the default ai.onnx domain) → version.</summary>
    public IReadOnlyDictionary<string, long> OpsetImports
    {
        get
        {
            var d = new Dictionary<string, long>();
            foreach (var o in Proto.OpsetImport) d[o.Domain == "ai.onnx" ? "" : o.Domain] = o.Version;
            return d;
        }
    }

    /// <summary>Version of the default (ai.onnx) opset, or 0 when the model imports none.</summary>
    public long DefaultOpset => OpsetImports.TryGetValue("", out var v) ? v : 0;

    /// <summary>
    /// The graph inputs a caller must feed: the declared inputs that are not initializers (older exporters
    /// list every initializer as an input as well).
    /// </summary>
    public IReadOnlyList<OnnxValueInfo> Inputs
    {
        get
        {
            var inits = new HashSet<string>(Graph.Initializer.Select(t => t.Name));
            return Graph.Input.Where(v => !inits.Contains(v.Name)).Select(Describe).ToArray();
        }
    }

    /// <summary>The graph outputs.</summary>
    public IReadOnlyList<OnnxValueInfo> Outputs => Graph.Output.Select(Describe).ToArray();

    /// <summary>How many nodes of each op type the main graph has ("domain:Op" for non-default domains), sorted by op name.</summary>
    public IReadOnlyDictionary<string, int> OpHistogram
    {
        get
        {
            var h = new SortedDictionary<string, int>(StringComparer.Ordinal);
            foreach (var n in Graph.Node)
            {
                string key = string.IsNullOrEmpty(n.Domain) || n.Domain == "ai.onnx" ? n.OpType : $"{n.Domain}:{n.OpType}";
                h[key] = h.TryGetValue(key, out int c) ? c + 1 : 1;
            }
            return h;
        }
    }

    /// <summary>
    /// The number of stored parameter values: elements of every initializer and of every <c>Constant</c> node's value
    /// (exporters keep weights in either).
    /// </summary>
    public long ParameterCount
    {
        get
        {
            long count = Graph.Initializer.Sum(t => t.Dims.Aggregate(1L, (a, d) => a * d));
            foreach (var n in Graph.Node.Where(n => n.OpType == "Constant" && n.Domain is "" or "ai.onnx"))
                foreach (var a in n.Attribute)
                    count += a.Name switch
                    {
                        "value" when a.T is { } t => t.Dims.Aggregate(1L, (x, d) => x * d),
                        "value_floats" => a.Floats.Count,
                        "value_ints" => a.Ints.Count,
                        "value_float" or "value_int" => 1,
                        _ => 0,
                    };
            return count;
        }
    }

    /// <summary>Names of all initializers, in file order.</summary>
    public IReadOnlyList<string> InitializerNames => Graph.Initializer.Select(t => t.Name).ToArray();

    /// <summary>The initializer with this name, or null.</summary>
    public TensorProto? FindInitializer(string name) => Graph.Initializer.FirstOrDefault(t => t.Name == name);

    /// <summary>A float initializer's data and dims.</summary>
    /// <exception cref="KeyNotFoundException">No initializer has this name.</exception>
    /// <exception cref="OnnxFormatException">The initializer is not a float tensor or its data is inconsistent.</exception>
    public (float[] Data, long[] Dims) GetFloatInitializer(string name)
    {
        var t = FindInitializer(name) ?? throw new KeyNotFoundException($"the model has no initializer named '{name}'.");
        return (OnnxTensors.ToFloatArray(t), t.Dims.ToArray());
    }

    /// <summary>An integer initializer's data (as int64) and dims.</summary>
    /// <exception cref="KeyNotFoundException">No initializer has this name.</exception>
    /// <exception cref="OnnxFormatException">The initializer is not an integer tensor or its data is inconsistent.</exception>
    public (long[] Data, long[] Dims) GetInt64Initializer(string name)
    {
        var t = FindInitializer(name) ?? throw new KeyNotFoundException($"the model has no initializer named '{name}'.");
        return (OnnxTensors.ToInt64Array(t), t.Dims.ToArray());
    }

    /// <summary>Describes a value info (element type and dims as declared).</summary>
    public static OnnxValueInfo Describe(ValueInfoProto v)
    {
        if (v.Type is null || v.Type.ValueCase != TypeProto.ValueOneofCase.TensorType)
            return new OnnxValueInfo(v.Name, OnnxElementType.Undefined, null);
        var tt = v.Type.TensorType;
        var elem = OnnxElementTypes.IsDefined(tt.ElemType) ? (OnnxElementType)tt.ElemType : OnnxElementType.Undefined;
        if (tt.Shape is null) return new OnnxValueInfo(v.Name, elem, null);
        var dims = tt.Shape.Dim.Select(d => d.ValueCase switch
        {
            TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue when d.DimValue >= 0 => OnnxDim.Fixed(d.DimValue),
            TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam when d.DimParam.Length > 0 => OnnxDim.Symbolic(d.DimParam),
            _ => OnnxDim.Unknown,
        }).ToArray();
        return new OnnxValueInfo(v.Name, elem, dims);
    }

    /// <summary>
    /// Checks the structural rules Saliency.Gpu relies on: a graph is present, an IR version and opset are
    /// given, graph inputs have tensor types, initializer names are unique and their stored data matches
    /// their dims and type, every node input names a graph input, an initializer or an earlier node's output
    /// (nodes are topologically sorted, as ONNX requires), no tensor is produced twice, and every graph output
    /// is produced, and every node's operator domain is imported. Subgraphs (If/Loop bodies) are not descended into.
    /// </summary>
    /// <exception cref="OnnxFormatException">A rule is broken; the message names the tensor or node.</exception>
    public static void Validate(ModelProto proto)
    {
        ArgumentNullException.ThrowIfNull(proto);
        var g = proto.Graph ?? throw new OnnxFormatException("the model has no graph.");
        if (proto.IrVersion <= 0)
            throw new OnnxFormatException($"the model has no valid ir_version ({proto.IrVersion}).");
        if (proto.OpsetImport.Count == 0)
            throw new OnnxFormatException("the model imports no opset (opset_import is empty).");
        foreach (var o in proto.OpsetImport)
            if (o.Version <= 0)
                throw new OnnxFormatException($"opset import for domain '{o.Domain}' has invalid version {o.Version}.");

        var domains = new HashSet<string>(proto.OpsetImport.Select(o => o.Domain == "ai.onnx" ? "" : o.Domain), StringComparer.Ordinal);

        var available = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in g.Initializer)
        {
            if (string.IsNullOrEmpty(t.Name))
                throw new OnnxFormatException("an initializer has no name.");
            if (!available.Add(t.Name))
                throw new OnnxFormatException($"initializer '{t.Name}' is defined twice.");
            OnnxTensors.ValidateSize(t, $"initializer '{t.Name}'");
        }

        var inputNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var v in g.Input)
        {
            if (string.IsNullOrEmpty(v.Name))
                throw new OnnxFormatException("a graph input has no name.");
            if (!inputNames.Add(v.Name))
                throw new OnnxFormatException($"graph input '{v.Name}' is declared twice.");
            if (available.Contains(v.Name)) continue; // an initializer also listed as input (older IR)
            if (v.Type is null || v.Type.ValueCase != TypeProto.ValueOneofCase.TensorType)
                throw new OnnxFormatException($"graph input '{v.Name}' has no tensor type.");
            int et = v.Type.TensorType.ElemType;
            if (!OnnxElementTypes.IsDefined(et))
                throw new OnnxFormatException($"graph input '{v.Name}' has an unsupported element type {et}.");
            if (v.Type.TensorType.Shape is { } shape)
                foreach (var d in shape.Dim)
                    if (d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue && d.DimValue < 0)
                        throw new OnnxFormatException($"graph input '{v.Name}' has a negative dimension {d.DimValue}.");
            available.Add(v.Name);
        }

        for (int i = 0; i < g.Node.Count; i++)
        {
            var n = g.Node[i];
            string label = NodeLabel(n, i);
            if (string.IsNullOrEmpty(n.OpType))
                throw new OnnxFormatException($"{label} has no op_type.");
            string domain = n.Domain == "ai.onnx" ? "" : n.Domain;
            if (!domains.Contains(domain))
                throw new OnnxFormatException(
                    $"{label} uses operator domain '{(domain.Length == 0 ? "ai.onnx" : domain)}', which the model does not import (opset_import).");
            foreach (var input in n.Input)
            {
                if (input.Length == 0) continue; // an omitted optional input
                if (!available.Contains(input))
                    throw new OnnxFormatException(
                        $"{label} reads tensor '{input}', which is not a graph input, an initializer or the output of an earlier node.");
            }
            foreach (var output in n.Output)
            {
                if (output.Length == 0) continue; // an omitted optional output
                if (!available.Add(output))
                    throw new OnnxFormatException($"{label} writes tensor '{output}', which already exists (ONNX graphs are single-assignment).");
            }
            foreach (var a in n.Attribute)
                if (a.T is { } t)
                    OnnxTensors.ValidateSize(t, $"attribute '{a.Name}' of {label}");
        }

        var outputNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var v in g.Output)
        {
            if (string.IsNullOrEmpty(v.Name))
                throw new OnnxFormatException("a graph output has no name.");
            if (!outputNames.Add(v.Name))
                throw new OnnxFormatException($"graph output '{v.Name}' is declared twice.");
            if (!available.Contains(v.Name))
                throw new OnnxFormatException($"graph output '{v.Name}' is not produced by any node, input or initializer.");
        }
        if (g.Output.Count == 0)
            throw new OnnxFormatException("the graph has no outputs.");
    }

    /// <summary>"node 'name' (Op)" or "node #i (Op)" for messages.</summary>
    public static string NodeLabel(NodeProto n, int index) =>
        string.IsNullOrEmpty(n.Name) ? $"node #{index} ({n.OpType})" : $"node '{n.Name}' ({n.OpType})";

    /// <inheritdoc />
    public override string ToString() =>
        $"ONNX model '{Graph.Name}' (IR {IrVersion}, opset {DefaultOpset}): {Graph.Node.Count} nodes, " +
        $"inputs [{string.Join("; ", Inputs)}], outputs [{string.Join("; ", Outputs)}]";
}
