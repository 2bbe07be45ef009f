using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using NUnit.Framework;

namespace Saliency.Tests.Cli;

/// <summary>
/// <c>saliency serve</c> as a user runs it: bad model folders and options are one-line errors (exit 1); without
/// arguments it serves the bundled LeNet and stops gracefully on Ctrl-C (SIGINT) with exit code 0. The endpoints
/// themselves are tested in Saliency.Server.Tests.
/// </summary>
[TestFixture]
public class ServeCommandTests : CliTestBase
{
    private static void AssertOneLineError(int exit, string error, string contains)
    {
        Assert.That(exit, Is.EqualTo(1), error);
        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(1), error);
        Assert.That(lines[0], Does.StartWith("error: ").And.Contain(contains));
    }

    [Test]
    public void AFolderWithoutModelsIsAOneLineError()
    {
        var (exit, _, error) = Invoke("serve", "--models", Temp);
        AssertOneLineError(exit, error, "holds no .onnx file");
    }

    [Test]
    public void AMissingFolderIsAOneLineError()
    {
        var (exit, _, error) = Invoke("serve", "--models", Path.Combine(Temp, "nope"));
        AssertOneLineError(exit, error, "not found");
    }

    [Test]
    public void AFileThatIsNotAModelIsAOneLineError()
    {
        File.WriteAllText(Path.Combine(Temp, "broken.onnx"), "not a model");
        var (exit, _, error) = Invoke("serve", "--models", Temp);
        AssertOneLineError(exit, error, "broken");
    }

    [Test]
    public void AnOutOfRangeOptionIsAOneLineError()
    {
        var (exit, _, error) = Invoke("serve", "--max-batch", "0");
        AssertOneLineError(exit, error, "MaxBatch");
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    [Test]
    public async Task WithoutArgumentsItServesTheBundledModelAndStopsOnCtrlC()
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("SIGINT is sent with kill(2).");
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "saliency.dll"), "serve", "--urls", "http://127.0.0.1:0" })
            info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        try
        {
            // Kestrel logs the address it bound (port 0: the OS chose it).
            string? address = null;
            var output = new System.Text.StringBuilder();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
            while (address is null && await process.StandardOutput.ReadLineAsync(timeout.Token) is string line)
            {
                output.AppendLine(line);
                if (Regex.Match(line, @"Now listening on: (http://127\.0\.0\.1:\d+)") is { Success: true } m) address = m.Groups[1].Value;
            }
            Assert.That(address, Is.Not.Null, output.ToString());
            using var client = new HttpClient { BaseAddress = new Uri(address!) };
            Assert.That(await client.GetStringAsync("/v1/models"), Is.EqualTo("{\"models\":[\"lenet\"]}"));

            Assert.That(kill(process.Id, 2), Is.Zero, "kill(SIGINT) failed");
            string rest = await process.StandardOutput.ReadToEndAsync(timeout.Token);
            await process.WaitForExitAsync(timeout.Token);
            Assert.That(process.ExitCode, Is.Zero, rest + await process.StandardError.ReadToEndAsync());
            Assert.That(rest, Does.Contain("stopped."));
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }
}
