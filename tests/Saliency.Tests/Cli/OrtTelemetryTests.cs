using System.Diagnostics;
using System.Runtime.InteropServices;
using NUnit.Framework;
using Saliency.Models.Runtime;
using Saliency.TestSupport;

namespace Saliency.Tests.Cli;

/// <summary>
/// ONNX Runtime's telemetry stays off (<see cref="OrtTelemetry"/>). Oracles: the native environment after the runtime
/// loaded, and a fresh <c>HOME</c> in which a default ONNX Runtime 1.31 process creates its device id and event store
/// (<c>~/.cache/Microsoft/DeveloperTools/.onnxruntime/</c>) while ours must create nothing.
/// </summary>
[TestFixture]
internal sealed partial class OrtTelemetryTests
{
    [Test]
    public void TheOptOutIsInTheNativeEnvironmentOnceTheRuntimeIsLoaded()
    {
        if (OperatingSystem.IsWindows()) Assert.Ignore("Windows builds use ETW, switched off through the environment object.");
        _ = InferenceSession.RuntimeVersion;
        // Ours ("1") unless whoever started the tests chose a value; either way ONNX Runtime saw it at creation.
        string? expected = Environment.GetEnvironmentVariable(OrtTelemetry.Variable);
        Assert.That(Marshal.PtrToStringUTF8(GetEnv(OrtTelemetry.Variable)), Is.EqualTo(expected).And.Not.Null);
    }

    [Test]
    public void ACliRunLeavesNoTelemetryStoreInHome()
    {
        if (!OperatingSystem.IsLinux()) Assert.Ignore("The store's path is the Linux one.");
        string home = Directory.CreateTempSubdirectory("saliency-home-").FullName;
        try
        {
            var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "saliency.dll"), "predict", "--image", Path.Combine(RepoFiles.Samples, "digit-3-0.png") }) info.ArgumentList.Add(a);
            info.Environment["HOME"] = home;
            info.Environment.Remove(OrtTelemetry.Variable);
            info.Environment.Remove("XDG_CACHE_HOME");
            using var process = Process.Start(info)!;
            string stderr = process.StandardError.ReadToEnd();
            process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            Assert.That(process.ExitCode, Is.Zero, stderr);
            var left = Directory.EnumerateFileSystemEntries(home, "*", SearchOption.AllDirectories)
                .Where(p => p.Contains("onnxruntime", StringComparison.OrdinalIgnoreCase) || p.Contains("DeveloperTools", StringComparison.Ordinal)).ToArray();
            Assert.That(left, Is.Empty);
        }
        finally
        {
            Directory.Delete(home, recursive: true);
        }
    }

    [LibraryImport("libc", EntryPoint = "getenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr GetEnv(string name);
}
