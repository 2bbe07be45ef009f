using System.CommandLine;
using NUnit.Framework;
using Saliency.Cli;

namespace Saliency.Tests.Cli;

/// <summary>
/// Shared harness of the CLI fixtures: runs the real command tree in-process with captured output, and gives each
/// test a fresh temporary folder.
/// </summary>
internal abstract class CliTestBase
{
    /// <summary>This test's temporary folder (created before, deleted after each test).</summary>
    protected string Temp { get; private set; } = "";

    [SetUp]
    public void MakeTempDir() => Directory.CreateDirectory(Temp = Path.Combine(Path.GetTempPath(), $"saliency-cli-{Guid.NewGuid():N}"));

    [TearDown]
    public void RemoveTempDir() => Directory.Delete(Temp, recursive: true);

    /// <summary>Runs <c>saliency args…</c> and returns its exit code and what it wrote to standard output and error.</summary>
    protected static (int Exit, string Out, string Err) Invoke(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = Program.BuildRootCommand().Parse(args).Invoke(new InvocationConfiguration { Output = output, Error = error });
        return (exit, output.ToString(), error.ToString());
    }
}
