using System.Text;
using Google.Protobuf;
using Saliency.Models.Onnx.Proto;

namespace Saliency.Models.Onnx;

/// <summary>Factories for node attributes (<see cref="AttributeProto"/>) and readers with defaults.</summary>
internal static class OnnxAttributes
{
    /// <summary>An INT attribute.</summary>
    public static AttributeProto Int(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    /// <summary>A FLOAT attribute.</summary>
    public static AttributeProto Float(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    /// <summary>A STRING attribute (UTF-8).</summary>
    public static AttributeProto String(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    /// <summary>An INTS attribute.</summary>
    public static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    /// <summary>A FLOATS attribute.</summary>
    public static AttributeProto Floats(string name, params float[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Floats };
        a.Floats.AddRange(values);
        return a;
    }

    /// <summary>A TENSOR attribute (e.g. the value of a Constant node).</summary>
    public static AttributeProto Tensor(string name, TensorProto value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Tensor, T = value };

    /// <summary>The attribute with this name on the node, or null.</summary>
    public static AttributeProto? Find(NodeProto node, string name) => node.Attribute.FirstOrDefault(a => a.Name == name);

    /// <summary>An INT attribute's value, or <paramref name="defaultValue"/> when absent.</summary>
    public static long GetInt(NodeProto node, string name, long defaultValue) => Find(node, name)?.I ?? defaultValue;

    /// <summary>A FLOAT attribute's value, or <paramref name="defaultValue"/> when absent.</summary>
    public static float GetFloat(NodeProto node, string name, float defaultValue) => Find(node, name)?.F ?? defaultValue;

    /// <summary>A STRING attribute's value, or <paramref name="defaultValue"/> when absent.</summary>
    public static string GetString(NodeProto node, string name, string defaultValue) =>
        Find(node, name) is { } a ? Encoding.UTF8.GetString(a.S.Span) : defaultValue;

    /// <summary>An INTS attribute's values, or null when absent.</summary>
    public static long[]? GetInts(NodeProto node, string name) => Find(node, name)?.Ints.ToArray();
}
