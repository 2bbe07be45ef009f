using NUnit.Framework;
using Saliency.Models.Onnx.Proto;
using Saliency.TestSupport;
using static Saliency.Models.Tests.Autodiff.JacobianHarness;

namespace Saliency.Models.Tests.Autodiff;

[TestFixture, Explicit("dev sweep")]
public sealed class ZooSweepDev
{
    public static IEnumerable<string> Files() => Directory.GetFiles(RepoFiles.Path("tests/Fixtures/zoo"), "*.onnx").Order()
        .Where(f => (Environment.GetEnvironmentVariable("ZOO") ?? "").Split(",").Any(z => f.Contains(z))).Select(Path.GetFileName)!;

    [TestCaseSource(nameof(Files))]
    public void One(string file)
    {
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(RepoFiles.Path("tests/Fixtures/zoo/" + file)));
        double h = double.Parse(Environment.GetEnvironmentVariable("ZOO_H") ?? "1e-3");
        var worst = AssertMatchesFiniteDifferences(model, seed: 3, k: 2, directions: 3, h: h, tolerance: 2e-2, referenceTolerance: 1e-3);
        TestContext.Out.WriteLine($"OK   {file} worst {worst:G3}");
    }
}

[TestFixture, Explicit("dev probe")]
public sealed class ZooProbeDev
{
    [TestCaseSource(typeof(ZooSweepDev), nameof(ZooSweepDev.Files))]
    public void Probe(string file)
    {
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(RepoFiles.Path("tests/Fixtures/zoo/" + file)));
        var exported = Saliency.Models.Autodiff.JacobianExporter.Export(model);
        var shape = ImageShape(exported);
        int d = (int)shape.Aggregate(1L, (a, b) => a * b);
        var rng = new Random(5);
        var x = RandomVector(rng, d);
        int c = 10;
        var u = new float[c]; u[0] = 1;
        using var session = Saliency.Models.Runtime.InferenceSession.Create(Google.Protobuf.MessageExtensions.ToByteArray(exported), Options);
        var (_, vjp) = RunVjp(session, exported, x, u, 1);
        var v = RandomVector(rng, d);
        double an = 0; for (int i = 0; i < d; i++) an += vjp[i] * v[i];
        foreach (var h in new[] { 1e-1, 1e-2, 1e-3, 1e-4 })
        {
            var p = x.Zip(v, (a, b) => (float)(a + h * b)).ToArray();
            var m = x.Zip(v, (a, b) => (float)(a - h * b)).ToArray();
            var f = ForwardLogits(model, exported, [p, m]);
            TestContext.Out.WriteLine($"{file} h={h}: fd={(f[0] - f[c]) / (2 * h):G6} analytic={an:G6}");
        }
    }
}
