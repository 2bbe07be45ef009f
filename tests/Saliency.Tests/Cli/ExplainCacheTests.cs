using NUnit.Framework;
using Saliency.Models.Caching;

namespace Saliency.Tests.Cli;

/// <summary>
/// <c>saliency explain</c> and the Jacobian model cache: the cache folder comes from <c>SALIENCY_CACHE_DIR</c>, a run
/// stores one entry per model, a second run reuses it, without <c>--cache</c> none is written, and the map is the same bytes
/// either way.
/// </summary>
[TestFixture]
[NonParallelizable]
internal class ExplainCacheTests : CliTestBase
{
    private string? _saved;

    [SetUp]
    public void PointTheCacheAtTemp()
    {
        _saved = Environment.GetEnvironmentVariable(JacobianModelCache.DirectoryVariable);
        Environment.SetEnvironmentVariable(JacobianModelCache.DirectoryVariable, Path.Combine(Temp, "cache"));
    }

    [TearDown]
    public void RestoreTheCacheVariable() => Environment.SetEnvironmentVariable(JacobianModelCache.DirectoryVariable, _saved);

    private byte[] Explain(string name, params string[] extra)
    {
        string outPath = Path.Combine(Temp, name);
        var (exit, _, error) = Invoke(["explain", "--method", "gradient", "--digit", "1", "--out", outPath, .. extra]);
        Assert.That(exit, Is.EqualTo(0), error);
        return File.ReadAllBytes(outPath);
    }

    private string[] Entries() =>
        Directory.Exists(Path.Combine(Temp, "cache")) ? Directory.GetFiles(Path.Combine(Temp, "cache")) : [];

    [Test]
    public void WithoutTheCacheOptionNothingIsWritten()
    {
        Explain("a.png");
        Assert.That(Entries(), Is.Empty);
    }

    [Test]
    public void OneEntryIsStoredThenReusedAndTheMapIsTheSame()
    {
        var uncached = Explain("a.png");
        var first = Explain("b.png", "--cache");
        var entries = Entries();
        Assert.That(entries, Has.Length.EqualTo(1));
        Assert.That(Path.GetFileName(entries[0]), Does.Match("^[0-9a-f]{64}\\.jacobian$"));
        var written = File.GetLastWriteTimeUtc(entries[0]);
        var stored = File.ReadAllBytes(entries[0]);

        var second = Explain("c.png", "--cache");
        Assert.That(Entries(), Is.EqualTo(entries));
        Assert.That(File.ReadAllBytes(entries[0]), Is.EqualTo(stored), "a valid entry is read, not rewritten");
        Assert.That(File.GetLastWriteTimeUtc(entries[0]), Is.EqualTo(written));
        Assert.That(first, Is.EqualTo(uncached));
        Assert.That(second, Is.EqualTo(uncached));
    }
}

/// <summary>
/// Every CLI test runs with the Jacobian model cache in a temporary folder, not in the user's
/// <c>~/.cache/saliency</c>: the tests leave nothing behind, and an entry left there by another build cannot change
/// what they see.
/// </summary>
[SetUpFixture]
internal sealed class CliCacheFolder
{
    private string? _saved;
    private string _folder = "";

    [OneTimeSetUp]
    public void UseATemporaryCache()
    {
        _saved = Environment.GetEnvironmentVariable(JacobianModelCache.DirectoryVariable);
        _folder = Directory.CreateTempSubdirectory("saliency-cli-cache-").FullName;
        Environment.SetEnvironmentVariable(JacobianModelCache.DirectoryVariable, _folder);
    }

    [OneTimeTearDown]
    public void Restore()
    {
        Environment.SetEnvironmentVariable(JacobianModelCache.DirectoryVariable, _saved);
        Directory.Delete(_folder, recursive: true);
    }
}
