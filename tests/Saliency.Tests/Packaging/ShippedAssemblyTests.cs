using System.Reflection;
using NUnit.Framework;

namespace Saliency.Tests.Packaging;

/// <summary>
/// What the shipped assemblies must not contain: the test oracles (graph builder, seeded models, float64 reference
/// evaluator — they live in tests/TestSupport) and a repository path of the build machine.
/// </summary>
[TestFixture]
internal sealed class ShippedAssemblyTests
{
    private static readonly Assembly[] Shipped =
    [
        typeof(Saliency.Kernels.Backends.IComputeBackend).Assembly,
        typeof(Saliency.Linalg.Grid.GridShape).Assembly,
        typeof(Saliency.Solvers.Caso.CasoProblem).Assembly,
        typeof(Saliency.Models.Onnx.OnnxModel).Assembly,
        typeof(Saliency.Explainers.IExplainer).Assembly,
        typeof(Saliency.Cli.Program).Assembly,
    ];

    [Test]
    public void NoTestOracleShips()
    {
        string[] oracles = ["OnnxGraphBuilder", "RandomModels", "ReferenceEvaluator", "ReferenceOps", "ReferenceTensor"];
        foreach (var assembly in Shipped)
            Assert.That(assembly.GetTypes().Select(t => t.Name).Intersect(oracles), Is.Empty, assembly.GetName().Name);
    }

    [Test]
    public void NoShippedAssemblyRecordsTheRepositoryPath()
    {
        foreach (var assembly in Shipped)
            Assert.That(assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Where(a => a.Key == "SaliencyRepoRoot"), Is.Empty,
                assembly.GetName().Name);
    }
}
