using System.Security.Cryptography;
using System.Text.Json;

namespace Saliency.TestSupport;

/// <summary>
/// One model of the conformance zoo (<c>tests/Fixtures/zoo</c>, written by <c>tools/zoo/export_zoo.py</c>): a
/// torchvision architecture with seeded random weights exported by torch.onnx at one opset, its test input and the
/// logits torch computed on it.
/// </summary>
public sealed record ZooModel(string Arch, int Opset, string Path, string Sha256, long[] InputShape, string InputPath,
    string InputSha256, float[] TorchLogits, IReadOnlyList<string> Ops)
{
    /// <summary>The fixed test input (float32, NCHW, batch 1), checked against its recorded SHA-256.</summary>
    public float[] Input()
    {
        var bytes = ZooFixtures.ReadChecked(InputPath, InputSha256);
        var x = new float[bytes.Length / sizeof(float)];
        Buffer.BlockCopy(bytes, 0, x, 0, x.Length * sizeof(float)); // the file is little-endian, as is every runner here
        return x;
    }

    /// <summary>The ONNX bytes, checked against the manifest's SHA-256 (catches a stale export or a mangled checkout).</summary>
    public byte[] Bytes() => ZooFixtures.ReadChecked(Path, Sha256);

    /// <summary>Input elements (C·H·W).</summary>
    public int InputSize => (int)InputShape.Skip(1).Aggregate(1L, (a, b) => a * b);

    /// <inheritdoc />
    public override string ToString() => $"{Arch}_op{Opset}";
}

/// <summary>Reads <c>tests/Fixtures/zoo/manifest.json</c>.</summary>
public static class ZooFixtures
{
    private static readonly Lazy<IReadOnlyList<ZooModel>> All = new(Load);

    /// <summary>The zoo's folder.</summary>
    public static string Folder => RepoFiles.Path("tests/Fixtures/zoo");

    /// <summary>Every model at every opset, in manifest order (architecture, then opset).</summary>
    public static IReadOnlyList<ZooModel> Models => All.Value;

    /// <summary>The model of one architecture at one opset.</summary>
    public static ZooModel Get(string arch, int opset) => Models.Single(m => m.Arch == arch && m.Opset == opset);

    internal static byte[] ReadChecked(string path, string sha256)
    {
        var bytes = File.ReadAllBytes(path);
        var actual = Convert.ToHexStringLower(SHA256.HashData(bytes));
        if (actual != sha256)
            throw new InvalidDataException($"{path}: SHA-256 {actual} differs from the manifest's {sha256}; regenerate with tools/zoo/export_zoo.py.");
        return bytes;
    }

    private static IReadOnlyList<ZooModel> Load()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(System.IO.Path.Combine(Folder, "manifest.json")));
        var inputs = doc.RootElement.GetProperty("inputs").EnumerateArray()
            .ToDictionary(i => i.GetProperty("file").GetString()!, i => i.GetProperty("sha256").GetString()!);
        return doc.RootElement.GetProperty("models").EnumerateArray().Select(m =>
        {
            var input = m.GetProperty("input").GetString()!;
            return new ZooModel(
                m.GetProperty("arch").GetString()!,
                m.GetProperty("opset").GetInt32(),
                System.IO.Path.Combine(Folder, m.GetProperty("file").GetString()!),
                m.GetProperty("sha256").GetString()!,
                m.GetProperty("input_shape").EnumerateArray().Select(d => d.GetInt64()).ToArray(),
                System.IO.Path.Combine(Folder, input),
                inputs[input],
                m.GetProperty("torch_logits").EnumerateArray().Select(v => (float)v.GetDouble()).ToArray(),
                m.GetProperty("ops").EnumerateArray().Select(o => o.GetString()!).ToArray());
        }).ToArray();
    }
}
