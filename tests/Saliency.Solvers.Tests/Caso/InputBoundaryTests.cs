using MathNet.Numerics.LinearAlgebra;
using NUnit.Framework;
using Saliency.Kernels.Cpu;
using Saliency.Linalg.Hessian;
using Saliency.Solvers.Caso;

namespace Saliency.Solvers.Tests.Caso;

/// <summary>
/// The three CASO entry points (dense W, float32 class-major W, float32 noisy copies) reject the same bad W, p and
/// options with the same exception types, through the one boundary (<see cref="JacobianInput"/>,
/// <see cref="CasoProblemOptions"/>'s checks).
/// </summary>
[TestFixture]
internal sealed class InputBoundaryTests
{
    private const int D = 20, C = 4;

    private sealed class OneCopy(ClassMajorJacobianSample sample) : IClassMajorJacobianProvider
    {
        public int Count => 1;
        public ClassMajorJacobianSample Evaluate(int index) => sample;
    }

    private static void AllEntryPointsThrow<T>(float[] w, double[] p, CasoProblemOptions? options = null) where T : Exception
    {
        var dense = Matrix<double>.Build.Dense(D, C, (i, j) => w[j * D + i]);
        Assert.Throws<T>(() => CasoProblem.FromJacobian(dense, p, options), "dense");
        Assert.Throws<T>(() => CasoProblem.FromClassMajor(CpuBackend.Shared, w, D, C, p, options), "class-major");
        Assert.Throws<T>(() => CasoProblem.FromNoisyCopies(CpuBackend.Shared, new OneCopy(new ClassMajorJacobianSample(w, D, C, p)), options), "noisy copies");
    }

    private static float[] GoodW() => Enumerable.Range(0, D * C).Select(i => (float)Math.Sin(i)).ToArray();

    private static readonly double[] GoodP = [0.4, 0.3, 0.2, 0.1];

    [Test]
    public void TheGoodInputIsAccepted()
    {
        using var problem = CasoProblem.FromClassMajor(CpuBackend.Shared, GoodW(), D, C, GoodP);
        Assert.That(problem.Target, Is.EqualTo(0), "argmax p");
    }

    [Test]
    public void ANonFiniteWIsAHessianInputErrorNamingTheEntry()
    {
        var w = GoodW();
        w[2 * D + 5] = float.NaN;
        AllEntryPointsThrow<HessianInputException>(w, GoodP);
        var e = Assert.Throws<HessianInputException>(() => JacobianInput.Validate<float>(w, D, C, GoodP));
        Assert.That(e!.Message, Does.Contain("row 5 of class column 2"));
    }

    [Test]
    public void ABadPIsAProbabilityVectorError()
    {
        AllEntryPointsThrow<ProbabilityVectorException>(GoodW(), [0.5, 0.3, 0.3, 0.1]);
        AllEntryPointsThrow<ProbabilityVectorException>(GoodW(), [1.1, 0.0, 0.0, -0.1]);
        AllEntryPointsThrow<ProbabilityVectorException>(GoodW(), [double.NaN, 0.5, 0.25, 0.25]);
    }

    [Test]
    public void MismatchedSizesAreHessianInputErrors() =>
        Assert.Throws<HessianInputException>(() => CasoProblem.FromClassMajor(CpuBackend.Shared, GoodW(), D, C, [0.5, 0.5]));

    [TestCase(0, 10)]
    [TestCase(null, 0)]
    public void BadProblemOptionsAreRejectedByEveryEntryPoint(int? topClasses, int powerIterations) =>
        AllEntryPointsThrow<CasoInputException>(GoodW(), GoodP,
            new CasoProblemOptions { TopClasses = topClasses, PowerIterations = powerIterations, LambdaMaxMethod = LambdaMaxKind.PowerIterationEstimate });
}
