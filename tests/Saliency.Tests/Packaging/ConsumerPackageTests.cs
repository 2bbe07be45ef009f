using System.Diagnostics;
using NUnit.Framework;
using Saliency.TestSupport;

namespace Saliency.Tests.Packaging;

/// <summary>
/// The NuGet package as a host sees it: <c>dotnet pack</c> of src/Package makes Saliency.Gpu.&lt;version&gt;.nupkg; a fresh
/// console project outside the repository restores it from a local folder feed (its dependencies from the normal NuGet
/// source), builds, and explains a bundled digit with CASO on the bundled LeNet. Oracle: the same request through the
/// engine in this process — the printed map must be bit-identical — and the native libraries arriving through the
/// package's dependencies. A unique prerelease version per run keeps the global package cache from serving an older
/// build; its cache folder is deleted afterwards.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class ConsumerPackageTests
{
    private const string Program = """
        using Saliency;

        var bytes = File.ReadAllBytes(args[1]);
        var image = new float[bytes.Length / sizeof(float)];
        Buffer.BlockCopy(bytes, 0, image, 0, bytes.Length);
        await using var engine = new SaliencyEngine(new SaliencyEngineOptions().AddModel("lenet", args[0]));
        var result = await engine.ExplainAsync(new ExplainRequest { Model = "lenet", Image = image, Method = SaliencyMethods.Caso, Lambda1 = 0.01 });
        Console.WriteLine($"predicted {result.PredictedClass}");
        Console.WriteLine($"status {((CasoReport)result.Report!).Status}");
        Console.WriteLine($"map {string.Join(",", result.Map.Values.ToArray().Select(BitConverter.SingleToInt32Bits))}");
        """;

    [Test]
    public async Task AConsoleAppRestoresThePackageAndExplains()
    {
        string version = $"0.1.0-consumer.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";
        string root = Directory.CreateTempSubdirectory("saliency-consumer-").FullName;
        string globalCache = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        try
        {
            string feed = Path.Combine(root, "feed");
            // The libraries were built with this test project (Release); only the package project itself is built here.
            Run(RepoFiles.Root, "pack", "src/Package/Saliency.Gpu.csproj", "-c", "Release", "-o", feed, $"-p:Version={version}", "-p:BuildProjectReferences=false");
            Assert.That(File.Exists(Path.Combine(feed, $"Saliency.Gpu.{version}.nupkg")), "dotnet pack names the package Saliency.Gpu.<version>.nupkg");

            string app = Path.Combine(root, "app");
            Directory.CreateDirectory(app);
            File.WriteAllText(Path.Combine(app, "app.csproj"), $"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <OutputType>Exe</OutputType>
                    <TargetFramework>net10.0</TargetFramework>
                    <ImplicitUsings>enable</ImplicitUsings>
                    <Nullable>enable</Nullable>
                  </PropertyGroup>
                  <ItemGroup>
                    <PackageReference Include="Saliency.Gpu" Version="{version}" />
                  </ItemGroup>
                </Project>
                """);
            File.WriteAllText(Path.Combine(app, "Program.cs"), Program);
            File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <packageSources>
                    <clear />
                    <add key="local" value="{feed}" />
                    <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
                  </packageSources>
                </configuration>
                """);
            var digit = BundledLeNet.Digits().ImageFloats(3);
            var bytes = new byte[digit.Length * sizeof(float)];
            Buffer.BlockCopy(digit, 0, bytes, 0, bytes.Length);
            string imagePath = Path.Combine(root, "digit.f32");
            File.WriteAllBytes(imagePath, bytes);

            Run(app, "build", "-c", "Release");
            Assert.That(File.Exists(Path.Combine(app, "bin/Release/net10.0/runtimes/linux-x64/native/libonnxruntime.so")),
                "ONNX Runtime's native library comes through the package's dependency");
            string output = Run(app, "bin/Release/net10.0/app.dll", RepoFiles.LeNetModel, imagePath);

            await using var engine = new SaliencyEngine(new SaliencyEngineOptions().AddModel("lenet", RepoFiles.LeNetModel));
            var expected = await engine.ExplainAsync(new ExplainRequest { Model = "lenet", Image = digit, Method = SaliencyMethods.Caso, Lambda1 = 0.01 });
            var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            Assert.That(lines, Does.Contain($"predicted {expected.PredictedClass}"));
            Assert.That(lines, Does.Contain($"status {((CasoReport)expected.Report!).Status}"));
            Assert.That(lines, Does.Contain($"map {string.Join(",", expected.Map.Values.ToArray().Select(BitConverter.SingleToInt32Bits))}"));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
            string cached = Path.Combine(globalCache, "saliency.gpu", version);
            if (Directory.Exists(cached)) Directory.Delete(cached, recursive: true);
        }
    }

    /// <summary>Runs <c>dotnet args…</c> in <paramref name="directory"/> without build servers (nothing left running); returns stdout.</summary>
    private static string Run(string directory, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) start.ArgumentList.Add(a);
        if (args[0] is "pack" or "build")
        {
            foreach (var a in new[] { "--nologo", "-v", "quiet", "--disable-build-servers", "-nodeReuse:false" }) start.ArgumentList.Add(a);
        }
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(8)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"dotnet {string.Join(' ', args)} did not finish in 8 minutes.");
        }
        string output = stdout.Result, errors = stderr.Result;
        Assert.That(process.ExitCode, Is.Zero, $"dotnet {string.Join(' ', args)} failed:\n{output}\n{errors}");
        return output;
    }
}
