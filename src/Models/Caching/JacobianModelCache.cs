using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using Saliency.Models.Autodiff;
using Saliency.Models.IO;
using Saliency.Models.Onnx.Proto;

namespace Saliency.Models.Caching;

/// <summary>
/// An on-disk cache of exported Jacobian models (<see cref="JacobianExporter"/>), so that a one-shot CLI call does
/// not differentiate the same classifier again.
/// </summary>
/// <remarks>
/// <para><b>Key.</b> SHA-256 of the exporter's <see cref="JacobianExporter.FormatVersion"/>, the export options
/// (every field, length-prefixed) and the classifier's ONNX bytes. A changed model, option or exporter gives another
/// key, hence another file: entries are never updated in place.</para>
/// <para><b>Entry.</b> <c>&lt;key&gt;.jacobian</c>: the 8-byte magic <c>SALJAC01</c>, the 32-byte key, the 32-byte
/// SHA-256 of the payload, then the payload: the exported model's ONNX bytes without the classifier's own
/// initializers (the exporter only appends to the graph, and the key pins the classifier's bytes), so an entry holds
/// the backward graph and its constants, not a second copy of the weights; on load the classifier's initializers
/// are put back in front, giving exactly the exported model. On load the magic, the key (against the file name's)
/// and the payload digest are checked and the payload is parsed; an entry failing any check is counted in
/// <see cref="Invalid"/>, deleted and rebuilt — never trusted.</para>
/// <para><b>Writes</b> go to a unique temporary file in the same folder that is then renamed over the entry
/// (atomic on POSIX file systems), so a reader sees the old entry, the new one or none, and concurrent processes
/// writing the same key both write valid entries. A cache folder that cannot be written only costs the export: the
/// error is counted in <see cref="WriteFailures"/> and the model is returned.</para>
/// <para>Thread-safe; the counters are for tests and diagnostics.</para>
/// </remarks>
internal sealed class JacobianModelCache
{
    /// <summary>Environment variable that overrides the cache folder.</summary>
    public const string DirectoryVariable = "SALIENCY_CACHE_DIR";

    private static ReadOnlySpan<byte> Magic => "SALJAC01"u8;
    private const int DigestLength = 32;
    private const int HeaderLength = 8 + 2 * DigestLength;

    private long _hits, _misses, _invalid, _writeFailures;

    /// <summary>A cache in <paramref name="directory"/> (created on the first write).</summary>
    /// <exception cref="ArgumentException">The path is empty.</exception>
    public JacobianModelCache(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        Directory = Path.GetFullPath(directory);
    }

    /// <summary>The folder holding the entries.</summary>
    public string Directory { get; }

    /// <summary>Loads served from a valid entry.</summary>
    public long Hits => Interlocked.Read(ref _hits);

    /// <summary>Loads that exported the model (no entry, or an invalid one).</summary>
    public long Misses => Interlocked.Read(ref _misses);

    /// <summary>Entries found corrupt or mismatched (then deleted and rebuilt).</summary>
    public long Invalid => Interlocked.Read(ref _invalid);

    /// <summary>Entries that could not be written (the model was still returned).</summary>
    public long WriteFailures => Interlocked.Read(ref _writeFailures);

    /// <summary>
    /// The per-user default: <c>$SALIENCY_CACHE_DIR</c>, else <c>$XDG_CACHE_HOME/saliency/jacobian</c>, else
    /// <c>~/.cache/saliency/jacobian</c> (the XDG base directory specification's default).
    /// </summary>
    public static string DefaultDirectory()
    {
        if (Environment.GetEnvironmentVariable(DirectoryVariable) is { Length: > 0 } overridden) return Path.GetFullPath(overridden);
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        // The specification says relative values are invalid and must be ignored.
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        string root = xdg is { Length: > 0 } && Path.IsPathRooted(xdg) ? xdg
            : home.Length > 0 ? Path.Combine(home, ".cache")
            : Path.Combine(Path.GetTempPath(), $"saliency-cache-{Environment.UserName}");
        return Path.Combine(root, "saliency", "jacobian");
    }

    /// <summary>A cache in <see cref="DefaultDirectory"/>.</summary>
    public static JacobianModelCache CreateDefault() => new(DefaultDirectory());

    /// <summary>The cache key (lower-case hex SHA-256) of a classifier's bytes under the given export options.</summary>
    public static string Key(ReadOnlySpan<byte> classifierOnnx, JacobianExportOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        AppendField(hash, $"saliency.jacobian/{JacobianExporter.FormatVersion}");
        AppendField(hash, options.InputName);
        AppendField(hash, options.OutputName);
        AppendField(hash, options.InputShape is null ? null : string.Join(",", options.InputShape));
        AppendField(hash, options.LogitsName);
        AppendField(hash, options.ProbabilitiesName);
        AppendField(hash, options.CotangentsName);
        AppendField(hash, options.VjpName);
        // Only when set, so that keys of untapped exports stay as they were.
        if (options.ActivationTaps is { Count: > 0 } taps) AppendField(hash, "taps:" + string.Join("\u0000", taps));
        if (options.CotangentBatch is int k) AppendField(hash, "cotangent batch:" + k.ToString(System.Globalization.CultureInfo.InvariantCulture));
        hash.AppendData(classifierOnnx);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>The file of an entry.</summary>
    public string PathOf(string key) => Path.Combine(Directory, key + ".jacobian");

    /// <summary>
    /// The exported Jacobian model of <paramref name="classifierOnnx"/>: from a valid entry, or exported (by
    /// <see cref="JacobianExporter.Export(ModelProto, JacobianExportOptions?)"/> on <paramref name="parsed"/>) and stored.
    /// </summary>
    /// <param name="classifierOnnx">The classifier's ONNX bytes, as read from its file (the key is their hash).</param>
    /// <param name="parsed">The same bytes parsed.</param>
    /// <param name="options">The export options (part of the key).</param>
    /// <returns>The exported model and its serialised bytes (for the session).</returns>
    /// <exception cref="JacobianExportException">The model cannot be differentiated.</exception>
    public (ModelProto Model, byte[] Bytes) GetOrExport(byte[] classifierOnnx, ModelProto parsed, JacobianExportOptions options)
    {
        ArgumentNullException.ThrowIfNull(classifierOnnx);
        ArgumentNullException.ThrowIfNull(parsed);
        ArgumentNullException.ThrowIfNull(options);
        string key = Key(classifierOnnx, options);
        string path = PathOf(key);
        if (TryLoad(path, key, parsed) is { } cached)
        {
            Interlocked.Increment(ref _hits);
            return (cached, cached.ToByteArray());
        }
        Interlocked.Increment(ref _misses);
        var model = JacobianExporter.Export(parsed, options);
        Store(path, key, WithoutClassifierInitializers(model, parsed).ToByteArray());
        return (model, model.ToByteArray());
    }

    /// <summary>A shallow copy of the exported model without the initializers it shares with the classifier.</summary>
    private static ModelProto WithoutClassifierInitializers(ModelProto exported, ModelProto classifier)
    {
        var own = classifier.Graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var stripped = exported.Clone(); // tensor bytes are immutable ByteStrings: shared, not copied
        var added = stripped.Graph.Initializer.Where(t => !own.Contains(t.Name)).ToList();
        stripped.Graph.Initializer.Clear();
        stripped.Graph.Initializer.AddRange(added);
        return stripped;
    }

    /// <summary>Reads and checks an entry; null when there is none or it is invalid (then it is deleted).</summary>
    private ModelProto? TryLoad(string path, string key, ModelProto classifier)
    {
        byte[] file;
        try
        {
            file = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Unreadable: treat as absent; the export still works and the write below reports its own failure.
            return null;
        }
        if (Validate(file, key) is { } payload)
        {
            try
            {
                var model = ModelProto.Parser.ParseFrom(payload);
                if (model.Graph is not null)
                {
                    // The classifier's initializers first, then the exporter's, as JacobianExporter.Export lists them.
                    var added = model.Graph.Initializer.ToList();
                    model.Graph.Initializer.Clear();
                    model.Graph.Initializer.AddRange(classifier.Graph.Initializer.Select(t => t.Clone()));
                    model.Graph.Initializer.AddRange(added);
                    return model;
                }
            }
            catch (InvalidProtocolBufferException)
            {
                // The digest matched, so the writer stored bytes that do not parse: invalid all the same.
            }
        }
        Interlocked.Increment(ref _invalid);
        TryDelete(path);
        return null;
    }

    /// <summary>The payload when the header's magic, key and digest all check out; otherwise null.</summary>
    private static byte[]? Validate(byte[] file, string key)
    {
        if (file.Length <= HeaderLength || !file.AsSpan(0, 8).SequenceEqual(Magic)) return null;
        if (!Convert.ToHexStringLower(file.AsSpan(8, DigestLength)).Equals(key, StringComparison.Ordinal)) return null;
        var payload = file.AsSpan(HeaderLength);
        Span<byte> digest = stackalloc byte[DigestLength];
        SHA256.HashData(payload, digest);
        return digest.SequenceEqual(file.AsSpan(8 + DigestLength, DigestLength)) ? payload.ToArray() : null;
    }

    private void Store(string path, string key, byte[] payload)
    {
        try
        {
            System.IO.Directory.CreateDirectory(Directory);
            // Temporary file + rename: a reader racing this writer sees the old entry or the new one, never half of one.
            AtomicFile.Write(path, stream =>
            {
                stream.Write(Magic);
                stream.Write(Convert.FromHexString(key));
                stream.Write(SHA256.HashData(payload));
                stream.Write(payload);
            });
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Interlocked.Increment(ref _writeFailures);
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left for the next writer's rename to replace.
        }
    }

    /// <summary>A length-prefixed UTF-8 field (−1 for null), so that no two option sets hash the same bytes.</summary>
    private static void AppendField(IncrementalHash hash, string? value)
    {
        Span<byte> length = stackalloc byte[4];
        if (value is null)
        {
            BinaryPrimitives.WriteInt32LittleEndian(length, -1);
            hash.AppendData(length);
            return;
        }
        var bytes = Encoding.UTF8.GetBytes(value);
        BinaryPrimitives.WriteInt32LittleEndian(length, bytes.Length);
        hash.AppendData(length);
        hash.AppendData(bytes);
    }
}
