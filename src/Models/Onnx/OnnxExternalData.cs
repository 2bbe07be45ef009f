using System.Globalization;
using Google.Protobuf;
using Saliency.Models.Onnx.Proto;

namespace Saliency.Models.Onnx;

/// <summary>
/// Resolves tensors whose data ONNX keeps in external files (<c>data_location = EXTERNAL</c>, keys <c>location</c>,
/// <c>offset</c>, <c>length</c>; https://onnx.ai/onnx/repo-docs/ExternalData.html) by reading the bytes into
/// <c>raw_data</c>, so that the model can be handed to ONNX Runtime and to the exporter as one byte array.
/// </summary>
/// <remarks>
/// A model file is untrusted input. Files are read only inside the model's own folder: an absolute location, one
/// that leaves the folder through <c>..</c>, or one that reaches outside it through a symbolic link (every link on
/// the path is resolved, as realpath(3) does) is refused. Offsets and lengths are checked against the dims and the
/// file's real size before anything is allocated or read, so a declared size never drives an allocation, and a
/// FIFO or device (size 0) is never opened.
/// </remarks>
public static class OnnxExternalData
{
    /// <summary>Whether any initializer or Constant-node tensor of the main graph keeps its data in an external file.</summary>
    public static bool HasExternalData(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return Tensors(model).Any(OnnxTensors.IsExternal);
    }

    /// <summary>
    /// Reads every external tensor of the main graph (initializers and Constant-node attributes) into its
    /// <c>raw_data</c>, resolving locations relative to <paramref name="modelDirectory"/>.
    /// </summary>
    /// <returns>The number of tensors read.</returns>
    /// <exception cref="OnnxFormatException">A location is absolute, escapes the folder, names a missing or non-regular
    /// file, or its offset/length do not match the tensor's dims or the file's size.</exception>
    public static int Inline(ModelProto model, string modelDirectory)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(modelDirectory);
        string folder = Path.GetFullPath(modelDirectory);
        string realFolder = RealPath(folder);
        int count = 0;
        foreach (var tensor in Tensors(model).Where(OnnxTensors.IsExternal).ToList())
        {
            Read(tensor, folder, realFolder);
            count++;
        }
        return count;
    }

    private static IEnumerable<TensorProto> Tensors(ModelProto model)
    {
        if (model.Graph is null) yield break;
        foreach (var t in model.Graph.Initializer) yield return t;
        foreach (var n in model.Graph.Node)
            foreach (var a in n.Attribute)
            {
                if (a.T is { } t) yield return t;
                foreach (var ts in a.Tensors) yield return ts;
            }
    }

    private static void Read(TensorProto tensor, string folder, string realFolder)
    {
        string what = $"external data of tensor '{tensor.Name}'";
        var entries = tensor.ExternalData.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);
        if (!entries.TryGetValue("location", out var location) || string.IsNullOrEmpty(location))
            throw new OnnxFormatException($"{what}: no location is given.");
        if (location.Contains('\0'))
            throw new OnnxFormatException($"{what}: the location contains a NUL character.");
        if (Path.IsPathRooted(location) || location.StartsWith('\\') || (location.Length >= 2 && location[1] == ':'))
            throw new OnnxFormatException($"{what}: the location '{location}' is an absolute path; external data must lie in the model's folder.");
        string full = Path.GetFullPath(Path.Combine(folder, location));
        if (!IsInside(full, folder) || !IsInside(RealPath(full), realFolder))
            throw new OnnxFormatException($"{what}: the location '{location}' leads outside the model's folder '{folder}'.");

        long offset = Number(entries, "offset", what) ?? 0;
        long? length = Number(entries, "length", what);
        var type = OnnxTensors.ElementType(tensor);
        int bits = OnnxElementTypes.BitsPerElement(type);
        if (bits == 0) throw new OnnxFormatException($"{what}: element type {type} cannot be stored externally.");
        long elements = OnnxTensors.ElementCount(tensor.Dims, $"tensor '{tensor.Name}'");
        long bytes = (elements * bits + 7) / 8;
        if (length is { } declared && declared != bytes)
            throw new OnnxFormatException($"{what}: length {declared} does not match dims [{string.Join(", ", tensor.Dims)}] ({bytes} bytes of {type}).");
        if (bytes > Array.MaxLength) throw new OnnxFormatException($"{what}: {bytes} bytes are more than one tensor may hold.");

        var info = new FileInfo(full);
        if (Directory.Exists(full)) throw new OnnxFormatException($"{what}: '{location}' is a directory.");
        if (!info.Exists) throw new OnnxFormatException($"{what}: the file '{location}' does not exist beside the model.");
        // FIFOs and devices report size 0, so they fail here (unless nothing is to be read) and are never opened.
        if (offset > info.Length || bytes > info.Length - offset)
            throw new OnnxFormatException($"{what}: bytes [{offset}, {offset + bytes}) lie beyond the end of '{location}' ({info.Length} bytes).");
        var data = new byte[bytes];
        if (bytes > 0)
        {
            using var stream = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.None);
            if (offset > stream.Length || bytes > stream.Length - offset)
                throw new OnnxFormatException($"{what}: '{location}' shrank while it was read.");
            stream.Seek(offset, SeekOrigin.Begin);
            stream.ReadExactly(data);
        }
        tensor.RawData = ByteString.CopyFrom(data);
        tensor.ExternalData.Clear();
        tensor.DataLocation = TensorProto.Types.DataLocation.Default;
    }

    private static long? Number(Dictionary<string, string> entries, string key, string what)
    {
        if (!entries.TryGetValue(key, out var text)) return null;
        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value))
            throw new OnnxFormatException($"{what}: {key} '{text}' is not a non-negative integer.");
        return value;
    }

    private static bool IsInside(string path, string folder)
    {
        var prefix = folder.EndsWith(Path.DirectorySeparatorChar) ? folder : folder + Path.DirectorySeparatorChar;
        return path.StartsWith(prefix, StringComparison.Ordinal);
    }

    /// <summary>The path with every symbolic link on it resolved (realpath(3)); parts that do not exist are kept as they are.</summary>
    private static string RealPath(string path, int depth = 0)
    {
        if (depth > 40) throw new OnnxFormatException($"too many levels of symbolic links resolving '{path}'.");
        string full = Path.GetFullPath(path);
        string root = Path.GetPathRoot(full) ?? "/";
        string current = root;
        var parts = full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
        for (int i = 0; i < parts.Length; i++)
        {
            string next = Path.Combine(current, parts[i]);
            string? target = new FileInfo(next).LinkTarget;
            if (target is null)
            {
                current = next;
                continue;
            }
            string resolved = Path.IsPathRooted(target) ? target : Path.Combine(current, target);
            string rest = string.Join(Path.DirectorySeparatorChar, parts[(i + 1)..]);
            return RealPath(rest.Length == 0 ? resolved : Path.Combine(resolved, rest), depth + 1);
        }
        return current;
    }
}
