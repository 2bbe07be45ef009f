using System.Diagnostics;
using NUnit.Framework;
using Saliency.Imaging;
using Saliency.TestSupport;

namespace Saliency.Tests.Cli;

/// <summary>
/// Outputs are written atomically (issue 11 item 5): when writing <c>--out</c> fails, an earlier file there stays
/// byte-identical, no temporary file is left beside it, and the CLI prints one <c>error:</c> line with exit code 1.
/// </summary>
[TestFixture]
internal class AtomicOutputTests : CliTestBase
{
    private static string[] ExplainTo(string path) => ["explain", "--method", "gradient", "--digit", "2", "--out", path];

    private static string[] ExportTo(string path) => ["export-jacobian", "--model", RepoFiles.LeNetModel, "--out", path];

    private static void AssertOneLineError(int exit, string error)
    {
        Assert.That(exit, Is.EqualTo(1), error);
        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(1), error);
        Assert.That(lines[0], Does.StartWith("error: "));
    }

    [TestCase("explain")]
    [TestCase("export-jacobian")]
    public void ARefusedRenameKeepsTheTargetAndLeavesNoTemporaryFile(string command)
    {
        // A folder at --out: the bytes are written to the temporary file, then rename(2) over a directory fails.
        string target = Path.Combine(Temp, "keep.png");
        Directory.CreateDirectory(target);
        var (exit, _, error) = Invoke(command == "explain" ? ExplainTo(target) : ExportTo(target));

        AssertOneLineError(exit, error);
        Assert.That(Directory.Exists(target) && Directory.GetFileSystemEntries(target).Length == 0);
        Assert.That(Directory.GetFileSystemEntries(Temp).Select(Path.GetFileName), Is.EqualTo(new[] { "keep.png" }));
    }

    [TestCase("explain")]
    [TestCase("export-jacobian")]
    public void OnAFullDiskTheEarlierFileIsKeptByteIdentical(string command)
    {
        // A real full disk: a small tmpfs, filled up after the earlier keep.png was written.
        string disk = Path.Combine(Temp, "disk");
        Directory.CreateDirectory(disk);
        string? refusal = TryMountTmpfs(disk, "256k");
        if (refusal is not null) Assert.Ignore($"cannot mount a small tmpfs to fill up here ({refusal}); needs Linux and root.");
        try
        {
            string target = Path.Combine(disk, "keep.png");
            ImageCodec.WritePng(target, MapRenderer.RenderGray(Enumerable.Range(0, 16).Select(i => i / 15f).ToArray(), 4, 4, 0f, 1f, scale: 2));
            var earlier = File.ReadAllBytes(target);
            Fill(Path.Combine(disk, "filler"));

            var (exit, _, error) = Invoke(command == "explain" ? ExplainTo(target) : ExportTo(target));

            AssertOneLineError(exit, error);
            Assert.That(File.ReadAllBytes(target), Is.EqualTo(earlier));
            Assert.That(ImageCodec.Read(target).Width, Is.EqualTo(8), "still a readable PNG");
            Assert.That(Directory.GetFileSystemEntries(disk).Select(Path.GetFileName).Order(), Is.EqualTo(new[] { "filler", "keep.png" }));
        }
        finally
        {
            Run("umount", disk);
        }
    }

    /// <summary>Writes until the filesystem reports it is full.</summary>
    private static void Fill(string path)
    {
        var chunk = new byte[4096];
        using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1);
        try
        {
            for (int i = 0; i < 1 << 20; i++) stream.Write(chunk);
        }
        catch (IOException)
        {
            return; // ENOSPC: full.
        }
        Assert.Fail("the tmpfs never filled up");
    }

    /// <summary>Null when the tmpfs is mounted, otherwise why not.</summary>
    private static string? TryMountTmpfs(string folder, string size)
    {
        if (!OperatingSystem.IsLinux()) return "not Linux";
        try
        {
            var (code, stderr) = Run("mount", "-t", "tmpfs", "-o", $"size={size}", "tmpfs", folder);
            return code == 0 ? null : $"mount exited {code}: {stderr.Trim()}";
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return $"no mount command: {e.Message}";
        }
    }

    private static (int Code, string Err) Run(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        string err = process.StandardError.ReadToEnd();
        process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, err);
    }
}
