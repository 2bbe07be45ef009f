using NUnit.Framework;
using Saliency.Models.IO;

namespace Saliency.Models.Tests.IO;

/// <summary>
/// <see cref="AtomicFile"/>: a write that fails at any step leaves the earlier file byte-identical and no temporary
/// file beside it; a write that succeeds replaces the content exactly (no tail of a longer earlier file).
/// </summary>
[TestFixture]
internal sealed class AtomicFileTests
{
    private string _folder = "";

    [SetUp]
    public void MakeFolder() => Directory.CreateDirectory(_folder = Path.Combine(Path.GetTempPath(), $"saliency-atomic-{Guid.NewGuid():N}"));

    [TearDown]
    public void RemoveFolder() => Directory.Delete(_folder, recursive: true);

    private static byte[] Pattern(int length, int seed) => Enumerable.Range(0, length).Select(i => (byte)(i * 31 + seed)).ToArray();

    private string[] Entries() => Directory.GetFileSystemEntries(_folder).Select(Path.GetFileName).Order().ToArray()!;

    [TestCase(0)]
    [TestCase(1000)]
    [TestCase(100_000)] // past FileStream's 4 KiB buffer, so bytes really reached the temporary file before the throw
    public void AWriteThatThrowsMidwayLeavesTheEarlierFileAndNoTemporaryFile(int bytesBeforeFailure)
    {
        string target = Path.Combine(_folder, "keep.png");
        var earlier = Pattern(5000, 7);
        File.WriteAllBytes(target, earlier);

        var failure = Assert.Throws<IOException>(() => AtomicFile.Write(target, stream =>
        {
            stream.Write(Pattern(bytesBeforeFailure, 3));
            throw new IOException("simulated: No space left on device");
        }))!;

        Assert.That(failure.Message, Does.Contain("simulated"), "the writer's own exception reaches the caller");
        Assert.That(File.ReadAllBytes(target), Is.EqualTo(earlier));
        Assert.That(Entries(), Is.EqualTo(new[] { "keep.png" }));
    }

    [Test]
    public void ARefusedRenameLeavesTheTargetAndNoTemporaryFile()
    {
        // A folder at the target path: the bytes are written, and rename(2) over a directory fails (EISDIR).
        string target = Path.Combine(_folder, "out.onnx");
        Directory.CreateDirectory(target);
        File.WriteAllBytes(Path.Combine(target, "inside"), [1, 2, 3]);

        Assert.Throws<IOException>(() => AtomicFile.WriteAllBytes(target, Pattern(100, 1)));

        Assert.That(Directory.Exists(target) && File.ReadAllBytes(Path.Combine(target, "inside")).SequenceEqual(new byte[] { 1, 2, 3 }));
        Assert.That(Entries(), Is.EqualTo(new[] { "out.onnx" }));
    }

    [Test]
    public void ASuccessfulWriteReplacesALongerFileExactly()
    {
        string target = Path.Combine(_folder, "keep.png");
        File.WriteAllBytes(target, Pattern(9000, 7));
        var replacement = Pattern(1234, 99);

        AtomicFile.WriteAllBytes(target, replacement);

        Assert.That(File.ReadAllBytes(target), Is.EqualTo(replacement));
        Assert.That(Entries(), Is.EqualTo(new[] { "keep.png" }));
    }

    [Test]
    public void ASuccessfulWriteCreatesANewFileThroughARelativePath()
    {
        string previous = Environment.CurrentDirectory;
        try
        {
            Environment.CurrentDirectory = _folder;
            var bytes = Pattern(10, 5);
            AtomicFile.Write("new.bin", stream => stream.Write(bytes));
            Assert.That(File.ReadAllBytes(Path.Combine(_folder, "new.bin")), Is.EqualTo(bytes));
            Assert.That(Entries(), Is.EqualTo(new[] { "new.bin" }));
        }
        finally
        {
            Environment.CurrentDirectory = previous;
        }
    }

    [Test]
    public void AMissingFolderIsATypedError()
    {
        string target = Path.Combine(_folder, "absent", "keep.png");
        Assert.Throws<DirectoryNotFoundException>(() => AtomicFile.WriteAllBytes(target, [1]));
        Assert.That(Entries(), Is.Empty);
    }
}
