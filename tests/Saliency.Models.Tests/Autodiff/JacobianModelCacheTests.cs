using Google.Protobuf;
using NUnit.Framework;
using Saliency.Models.Autodiff;
using Saliency.Models.Caching;
using Saliency.Models.Classifiers;
using Saliency.Models.Onnx.Proto;
using Saliency.TestSupport;
using static Saliency.Models.Tests.Autodiff.JacobianHarness;

namespace Saliency.Models.Tests.Autodiff;

/// <summary>
/// The on-disk cache of exported Jacobian models: hits and misses through its counters (never through timing), the
/// entry always equal to a fresh export (the oracle), corrupt or mismatched entries detected and rebuilt, and keys
/// that change with the model and the options.
/// </summary>
[TestFixture]
internal sealed class JacobianModelCacheTests
{
    private string _folder = null!;

    [SetUp]
    public void CreateFolder() => _folder = Directory.CreateTempSubdirectory("saliency-cache-test-").FullName;

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    private static ModelProto Model(int seed) => RandomModels.SmallCnn(channels: 1, size: 8, classes: 3, seed: seed);

    private static byte[] FreshExport(ModelProto model, JacobianExportOptions? options = null) =>
        JacobianExporter.Export(model, options ?? new JacobianExportOptions()).ToByteArray();

    [Test]
    public void Second_load_is_a_hit_and_equals_a_fresh_export()
    {
        var model = Model(1);
        var bytes = model.ToByteArray();
        var cache = new JacobianModelCache(_folder);
        var options = new JacobianExportOptions();

        var first = cache.GetOrExport(bytes, model, options);
        Assert.That((cache.Hits, cache.Misses, cache.Invalid), Is.EqualTo((0L, 1L, 0L)));
        Assert.That(File.Exists(cache.PathOf(JacobianModelCache.Key(bytes, options))));

        var second = new JacobianModelCache(_folder).GetOrExport(bytes, model, options);
        var again = new JacobianModelCache(_folder);
        var third = again.GetOrExport(bytes, model, options);
        Assert.That((again.Hits, again.Misses), Is.EqualTo((1L, 0L)));

        var expected = FreshExport(model);
        Assert.That(first.Bytes, Is.EqualTo(expected));
        Assert.That(second.Bytes, Is.EqualTo(expected));
        Assert.That(third.Model.ToByteArray(), Is.EqualTo(expected), "the parsed entry is the exported model");
        Assert.That(Directory.GetFiles(_folder), Has.Length.EqualTo(1), "no temporary file is left behind");
    }

    [TestCase("payload")]
    [TestCase("digest")]
    [TestCase("magic")]
    [TestCase("truncated")]
    [TestCase("empty")]
    public void Corrupt_entry_is_detected_and_rebuilt(string damage)
    {
        var model = Model(2);
        var bytes = model.ToByteArray();
        var options = new JacobianExportOptions();
        var cache = new JacobianModelCache(_folder);
        cache.GetOrExport(bytes, model, options);
        string path = cache.PathOf(JacobianModelCache.Key(bytes, options));
        var file = File.ReadAllBytes(path);
        file = damage switch
        {
            "payload" => Flip(file, file.Length - 5),
            "digest" => Flip(file, 8 + 32 + 3),
            "magic" => Flip(file, 0),
            "truncated" => file[..(file.Length / 2)],
            _ => [],
        };
        File.WriteAllBytes(path, file);

        var reader = new JacobianModelCache(_folder);
        var rebuilt = reader.GetOrExport(bytes, model, options);
        Assert.That((reader.Hits, reader.Misses, reader.Invalid), Is.EqualTo((0L, 1L, 1L)));
        Assert.That(rebuilt.Bytes, Is.EqualTo(FreshExport(model)));

        var next = new JacobianModelCache(_folder);
        next.GetOrExport(bytes, model, options);
        Assert.That((next.Hits, next.Invalid), Is.EqualTo((1L, 0L)), "the rebuilt entry is valid");
    }

    [Test]
    public void Entry_of_another_model_under_this_key_is_rejected()
    {
        // A valid entry copied to the wrong name: the key in its header does not match the file name.
        var a = Model(3);
        var b = Model(4);
        var options = new JacobianExportOptions();
        var cache = new JacobianModelCache(_folder);
        cache.GetOrExport(a.ToByteArray(), a, options);
        File.Copy(cache.PathOf(JacobianModelCache.Key(a.ToByteArray(), options)), cache.PathOf(JacobianModelCache.Key(b.ToByteArray(), options)));

        var result = cache.GetOrExport(b.ToByteArray(), b, options);
        Assert.That((cache.Hits, cache.Invalid), Is.EqualTo((0L, 1L)));
        Assert.That(result.Bytes, Is.EqualTo(FreshExport(b)));
    }

    [Test]
    public void Key_changes_with_the_model_and_the_options_and_only_with_them()
    {
        var a = Model(5).ToByteArray();
        var b = Model(6).ToByteArray();
        var options = new JacobianExportOptions();
        Assert.That(JacobianModelCache.Key(a, options), Is.EqualTo(JacobianModelCache.Key(a.ToArray(), new JacobianExportOptions())));
        Assert.That(JacobianModelCache.Key(a, options), Does.Match("^[0-9a-f]{64}$"));

        string[] keys =
        [
            JacobianModelCache.Key(a, options),
            JacobianModelCache.Key(b, options),
            JacobianModelCache.Key(Flip(a, a.Length - 1), options),
            JacobianModelCache.Key(a, options with { VjpName = "g" }),
            JacobianModelCache.Key(a, options with { InputShape = [1, 8, 8] }),
            JacobianModelCache.Key(a, options with { InputShape = [1, 88] }),
            // Length prefixes: moving a character between two fields changes the key.
            JacobianModelCache.Key(a, options with { LogitsName = "logitsp", ProbabilitiesName = "robabilities" }),
        ];
        Assert.That(keys.Distinct().Count(), Is.EqualTo(keys.Length));
    }

    [Test]
    public void Unwritable_folder_still_exports()
    {
        // A regular file where the folder should be: creating it fails, the export is returned anyway.
        string blocker = Path.Combine(_folder, "not-a-folder");
        File.WriteAllText(blocker, "x");
        var model = Model(7);
        var cache = new JacobianModelCache(blocker);
        var result = cache.GetOrExport(model.ToByteArray(), model, new JacobianExportOptions());
        Assert.That((cache.Misses, cache.WriteFailures), Is.EqualTo((1L, 1L)));
        Assert.That(result.Bytes, Is.EqualTo(FreshExport(model)));
    }

    [Test]
    public void Classifier_from_the_cache_gives_the_same_jacobian()
    {
        var model = Model(8);
        string path = Path.Combine(_folder, "model.onnx");
        File.WriteAllBytes(path, model.ToByteArray());
        var cache = new JacobianModelCache(Path.Combine(_folder, "cache"));
        var x = RandomVector(new Random(9), 64);

        using var uncached = OnnxClassifier.Create(path, Options);
        using var first = OnnxClassifier.Create(path, Options, cache: cache);
        using var second = OnnxClassifier.Create(path, Options, cache: cache);
        Assert.That((cache.Hits, cache.Misses), Is.EqualTo((1L, 1L)));
        var expected = uncached.Jacobian(x);
        Assert.That(second.Jacobian(x).Data, Is.EqualTo(expected.Data));
        Assert.That(first.Jacobian(x).Data, Is.EqualTo(expected.Data));
    }

    [Test]
    [NonParallelizable]
    public void Default_folder_follows_the_environment()
    {
        string? saved = Environment.GetEnvironmentVariable(JacobianModelCache.DirectoryVariable);
        string? savedXdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        try
        {
            Environment.SetEnvironmentVariable(JacobianModelCache.DirectoryVariable, _folder);
            Assert.That(JacobianModelCache.DefaultDirectory(), Is.EqualTo(_folder));
            Environment.SetEnvironmentVariable(JacobianModelCache.DirectoryVariable, null);
            Environment.SetEnvironmentVariable("XDG_CACHE_HOME", "/xdg");
            Assert.That(JacobianModelCache.DefaultDirectory(), Is.EqualTo("/xdg/saliency/jacobian"));
            Environment.SetEnvironmentVariable("XDG_CACHE_HOME", "relative");
            Assert.That(JacobianModelCache.DefaultDirectory(), Does.EndWith("/.cache/saliency/jacobian").Or.Contain("saliency-cache-"),
                "a relative XDG_CACHE_HOME is ignored, as the XDG specification says");
        }
        finally
        {
            Environment.SetEnvironmentVariable(JacobianModelCache.DirectoryVariable, saved);
            Environment.SetEnvironmentVariable("XDG_CACHE_HOME", savedXdg);
        }
    }

    private static byte[] Flip(byte[] data, int index)
    {
        var copy = data.ToArray();
        copy[index] ^= 0x5A;
        return copy;
    }
}
