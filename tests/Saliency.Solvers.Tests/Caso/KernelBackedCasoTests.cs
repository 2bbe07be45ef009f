using MathNet.Numerics.LinearAlgebra;
using NUnit.Framework;
using Saliency.Kernels.Backends;
using Saliency.Linalg.Hessian;
using Saliency.Solvers.Caso;

namespace Saliency.Solvers.Tests.Caso;

/// <summary>The float32 class-major entry point with HVPs on the backends' kernels, against the float64 dense path.</summary>
[TestFixture]
internal class KernelBackedCasoTests
{
    /// <summary>W as float32 class-major (column j contiguous) and the same values as a float64 matrix.</summary>
    private static (float[] Flat, Matrix<double> Rounded) FloatJacobian(int d, int c, int seed)
    {
        var w = CasoTestData.RandomJacobian(d, c, seed);
        var flat = new float[d * c];
        for (int j = 0; j < c; j++) for (int i = 0; i < d; i++) flat[j * d + i] = (float)w[i, j];
        return (flat, Matrix<double>.Build.Dense(d, c, (i, j) => flat[j * d + i]));
    }


    private static void Check(IComputeBackend backend)
    {
        int d = 300, c = 12;
        var (flat, w) = FloatJacobian(d, c, 31);
        var p = CasoTestData.RandomProbabilities(c, 32);
        using var problem = CasoProblem.FromClassMajor(backend, flat, d, c, p);
        var reference = CasoProblem.FromJacobian(w, p);

        // g and L: float64 arithmetic on the same (float-rounded) W.
        for (int i = 0; i < d; i++) Assert.That(problem.Gradient[i], Is.EqualTo(reference.Gradient[i]).Within(1e-12));
        Assert.That(problem.LambdaMax, Is.EqualTo(reference.LambdaMax).Within(1e-10 * reference.LambdaMax));

        // Batched HVP (k = 5) against the dense H, float32 round-off.
        var h = CasoTestData.DenseHessian(w, p);
        var rng = new Random(33);
        int k = 5;
        var v = Enumerable.Range(0, k * d).Select(_ => CasoTestData.Gaussian(rng)).ToArray();
        var hv = new double[k * d];
        problem.Hessian.Multiply(v, hv, k);
        for (int s = 0; s < k; s++)
        {
            var expected = h * Vector<double>.Build.Dense(v.AsSpan(s * d, d).ToArray());
            Assert.That(CasoTestData.RelativeError(hv.AsSpan(s * d, d).ToArray(), expected), Is.LessThan(1e-5), $"slice {s}");
        }

        // CASO at λ1 = 0 reaches the closed form to float32-HVP accuracy (κ = (L + 4)/4 here).
        var r = CasoSolver.Solve(problem, new[] { 0.0 }, new CasoOptions { Tolerance = 1e-7, MaxIterations = 5000 })[0];
        Assert.That(r.Converged, Is.True);
        var closed = (2 * r.Lambda2 * Matrix<double>.Build.DenseIdentity(d) - h).Solve(CasoTestData.Gradient(w, p, problem.Target));
        Assert.That(CasoTestData.RelativeError(r.Solution, closed), Is.LessThan(1e-4));
    }

    /// <summary>Every backend that runs here (CUDA and the ILGPU accelerators where available; the others are ignored with the reason).</summary>
    [TestCaseSource(typeof(Fista.DeviceBackendCases), nameof(Fista.DeviceBackendCases.Kinds))]
    public void KernelMatchesFloat64DensePath(BackendKind kind)
    {
        using var backend = Fista.DeviceBackendCases.Create(kind);
        Check(backend);
    }

    [Test]
    public void StreamedJacobianEqualsTheClassMajorBuilder()
    {
        // Oracle: FromClassMajor on the same floats (same g, L and products), and the float64 dense path for L.
        int d = 300, c = 12;
        var (flat, w) = FloatJacobian(d, c, 61);
        var p = CasoTestData.RandomProbabilities(c, 62);
        int fills = 0;
        using var streamed = CasoProblem.FromStreamedJacobian(ComputeBackends.Cpu, d, c, into =>
        {
            fills++;
            Assert.That(into.Length, Is.EqualTo(d * c));
            flat.CopyTo(into);
            return p;
        }, new CasoProblemOptions { Target = 4 });
        using var classMajor = CasoProblem.FromClassMajor(ComputeBackends.Cpu, flat, d, c, p, new CasoProblemOptions { Target = 4 });
        Assert.That(fills, Is.EqualTo(1));
        Assert.That(streamed.Gradient.ToArray(), Is.EqualTo(classMajor.Gradient.ToArray()));
        Assert.That(streamed.LambdaMax, Is.EqualTo(classMajor.LambdaMax));
        Assert.That(streamed.LambdaMax, Is.EqualTo(CasoProblem.FromJacobian(w, p).LambdaMax).Within(1e-10 * streamed.LambdaMax));
        Assert.That((streamed.Target, streamed.ClassCount, streamed.TotalClasses), Is.EqualTo((4, c, c)));
        var options = new CasoOptions { Tolerance = 1e-9 };
        Assert.That(CasoSolver.Solve(streamed, [0.01], options)[0].Solution, Is.EqualTo(CasoSolver.Solve(classMajor, [0.01], options)[0].Solution));
    }

    [Test]
    public void StreamedJacobianRefusesBadInput()
    {
        int calls = 0;
        double[] Fill(Memory<float> w) { calls++; return CasoTestData.RandomProbabilities(3, 1); }
        var cpu = ComputeBackends.Cpu;
        Assert.Throws<CasoInputException>(() => CasoProblem.FromStreamedJacobian(cpu, 0, 3, Fill));
        Assert.Throws<CasoInputException>(() => CasoProblem.FromStreamedJacobian(cpu, 150_528, 100_000, Fill), "beyond one buffer");
        Assert.Throws<CasoInputException>(() => CasoProblem.FromStreamedJacobian(cpu, 10, 3, Fill, new CasoProblemOptions { TopClasses = 1 }));
        Assert.That(calls, Is.Zero, "refused before the Jacobian is computed");
        Assert.Throws<HessianInputException>(() => CasoProblem.FromStreamedJacobian(cpu, 10, 3, w => { w.Span[4] = float.NaN; return Fill(w); }));
        Assert.Throws<HessianInputException>(() => CasoProblem.FromStreamedJacobian(cpu, 10, 4, Fill), "p of the wrong length");
        Assert.Throws<CasoInputException>(() => CasoProblem.FromStreamedJacobian(cpu, 10, 3, Fill, new CasoProblemOptions { Target = 3 }));
    }

    [Test]
    public void TopClassesOnTheKernelMatchTheDenseSubset()
    {
        int d = 200, c = 30, k = 6;
        var (flat, w) = FloatJacobian(d, c, 34);
        var p = CasoTestData.RandomProbabilities(c, 35, temperature: 0.5);
        var options = new CasoProblemOptions { TopClasses = k };
        using var problem = CasoProblem.FromClassMajor(ComputeBackends.Cpu, flat, d, c, p, options);
        var reference = CasoProblem.FromJacobian(w, p, options);
        Assert.That(problem.DroppedProbabilityMass, Is.EqualTo(reference.DroppedProbabilityMass).Within(1e-15));
        Assert.That(problem.ClassCount, Is.EqualTo(k));
        Assert.That(problem.LambdaMax, Is.EqualTo(reference.LambdaMax).Within(1e-10 * reference.LambdaMax));
        var a = CasoSolver.Solve(problem, new[] { 0.0, 0.05 }, new CasoOptions { Tolerance = 1e-7 });
        var b = CasoSolver.Solve(reference, new[] { 0.0, 0.05 }, new CasoOptions { Tolerance = 1e-7 });
        for (int s = 0; s < 2; s++)
            Assert.That(CasoTestData.RelativeError(a[s].Solution, Vector<double>.Build.Dense(b[s].Solution)), Is.LessThan(1e-4));
    }

    [Test]
    public void KeptRowsMatchTheDenseSubsetAndCountProducts()
    {
        // Oracle: the float64 dense path on the full W with the same top-k selection; FromKeptRows sees only the k+1 rows.
        int d = 200, c = 30, k = 5, target = 17;
        var (flat, w) = FloatJacobian(d, c, 36);
        var p = CasoTestData.RandomProbabilities(c, 37, temperature: 0.5);
        var options = new CasoProblemOptions { TopClasses = k, Target = target };
        var kept = ClassSelection.TopClasses(p, k, target, out _);
        var rows = kept.SelectMany(j => flat.AsSpan(j * d, d).ToArray()).ToArray();
        using var problem = CasoProblem.FromKeptRows(ComputeBackends.Cpu, rows, d, kept, p, new CasoProblemOptions { Target = target });
        var reference = CasoProblem.FromJacobian(w, p, options);
        Assert.That(problem.ClassCount, Is.EqualTo(reference.ClassCount));
        Assert.That(problem.DroppedProbabilityMass, Is.EqualTo(reference.DroppedProbabilityMass).Within(1e-15));
        for (int i = 0; i < d; i++) Assert.That(problem.Gradient[i], Is.EqualTo(reference.Gradient[i]).Within(1e-12));
        Assert.That(problem.LambdaMax, Is.EqualTo(reference.LambdaMax).Within(1e-10 * reference.LambdaMax));
        Assert.That(problem.SpectrumTime, Is.GreaterThan(TimeSpan.Zero));

        var hvp = (KernelHessianOperator)problem.Hessian;
        Assert.That(hvp.Products, Is.Zero, "products of L's computation are not counted as the solve's");
        var v = new double[3 * d];
        v[0] = 1;
        hvp.Multiply(v, new double[3 * d], 3);
        Assert.That(hvp.Products, Is.EqualTo(3));
        Assert.That(hvp.MultiplyTime, Is.GreaterThan(TimeSpan.Zero));
        hvp.ResetCounters();
        Assert.That((hvp.Products, hvp.MultiplyTime), Is.EqualTo((0L, TimeSpan.Zero)));

        var a = CasoSolver.Solve(problem, new[] { 0.05 }, new CasoOptions { Tolerance = 1e-7 })[0];
        var b = CasoSolver.Solve(reference, new[] { 0.05 }, new CasoOptions { Tolerance = 1e-7 })[0];
        Assert.That(CasoTestData.RelativeError(a.Solution, Vector<double>.Build.Dense(b.Solution)), Is.LessThan(1e-4));
    }

    [Test]
    public void KeptRowsRejectBadSelections()
    {
        int d = 10, c = 6;
        var p = CasoTestData.RandomProbabilities(c, 38);
        int top = Array.IndexOf(p, p.Max());
        int other = (top + 1) % c;
        var two = new float[2 * d];
        Assert.Throws<CasoInputException>(() => CasoProblem.FromKeptRows(ComputeBackends.Cpu, new float[d], d, [other], p,
            new CasoProblemOptions { Target = top }), "target not kept");
        Assert.Throws<CasoInputException>(() => CasoProblem.FromKeptRows(ComputeBackends.Cpu, two, d, [top, top], p), "duplicate");
        Assert.Throws<CasoInputException>(() => CasoProblem.FromKeptRows(ComputeBackends.Cpu, two, d, [top, c], p), "out of range");
        Assert.Throws<HessianInputException>(() => CasoProblem.FromKeptRows(ComputeBackends.Cpu, new float[d], d, [top, other], p), "rows ≠ d·k");
        Assert.Throws<ProbabilityVectorException>(() => CasoProblem.FromKeptRows(ComputeBackends.Cpu, new float[d], d, [0], new double[c]));
    }

    private sealed class Provider(ClassMajorJacobianSample[] samples) : IClassMajorJacobianProvider
    {
        public int Count => samples.Length;
        public ClassMajorJacobianSample Evaluate(int index) => samples[index];
    }

    [TestCase(null)]
    [TestCase(4)]
    public void SmoothCasoOnTheKernelMatchesTheFloat64Average(int? topClasses)
    {
        int d = 120, c = 9, n = 4;
        var floats = new ClassMajorJacobianSample[n];
        var doubles = new JacobianSample[n];
        for (int j = 0; j < n; j++)
        {
            var (flat, w) = FloatJacobian(d, c, 40 + j);
            var p = CasoTestData.RandomProbabilities(c, 50 + j, 0.5);
            floats[j] = new ClassMajorJacobianSample(flat, d, c, p);
            doubles[j] = new JacobianSample(w, p);
        }
        var options = new CasoProblemOptions { Target = 3, TopClasses = topClasses };
        using var problem = CasoProblem.FromNoisyCopies(ComputeBackends.Cpu, new Provider(floats), options);
        var reference = CasoProblem.FromNoisyCopies(new PrecomputedJacobianProvider(doubles), options);
        Assert.That(problem.Copies, Is.EqualTo(n));
        Assert.That(problem.DroppedProbabilityMass, Is.EqualTo(reference.DroppedProbabilityMass).Within(1e-15));
        for (int i = 0; i < d; i++) Assert.That(problem.Gradient[i], Is.EqualTo(reference.Gradient[i]).Within(1e-12));
        Assert.That(problem.LambdaMaxKind, Is.EqualTo(LambdaMaxKind.Exact));
        Assert.That(problem.LambdaMax, Is.EqualTo(reference.LambdaMax).Within(1e-10 * reference.LambdaMax));
        var a = CasoSolver.Solve(problem, new[] { 0.0, 0.02 }, new CasoOptions { Tolerance = 1e-7 });
        var b = CasoSolver.Solve(reference, new[] { 0.0, 0.02 }, new CasoOptions { Tolerance = 1e-9 });
        for (int s = 0; s < 2; s++)
            Assert.That(CasoTestData.RelativeError(a[s].Solution, Vector<double>.Build.Dense(b[s].Solution)), Is.LessThan(1e-4));

        var bounded = CasoProblem.FromNoisyCopies(ComputeBackends.Cpu, new Provider(floats), options with { ExactSpectrumMaxColumns = 1 });
        Assert.That(bounded.LambdaMaxKind, Is.EqualTo(LambdaMaxKind.UpperBound));
        Assert.That(bounded.LambdaMax, Is.GreaterThanOrEqualTo(problem.LambdaMax * (1 - 1e-12)));
        bounded.Dispose();
        Assert.Throws<CasoInputException>(() => CasoProblem.FromNoisyCopies(ComputeBackends.Cpu, new Provider([])));
        Assert.Throws<CasoInputException>(() => CasoProblem.FromNoisyCopies(ComputeBackends.Cpu,
            new Provider([floats[0], new ClassMajorJacobianSample(new float[(d + 1) * c], d + 1, c, floats[0].Probabilities)])));
        Assert.Throws<HessianInputException>(() => CasoProblem.FromNoisyCopies(ComputeBackends.Cpu,
            new Provider([new ClassMajorJacobianSample(new float[5], d, c, floats[0].Probabilities)])));
    }

    [Test]
    public void PowerIterationEstimateRunsOnTheKernel()
    {
        int d = 100, c = 10;
        var (flat, w) = FloatJacobian(d, c, 36);
        var p = CasoTestData.RandomProbabilities(c, 37);
        using var problem = CasoProblem.FromClassMajor(ComputeBackends.Cpu, flat, d, c, p,
            new CasoProblemOptions { LambdaMaxMethod = LambdaMaxKind.PowerIterationEstimate, PowerIterations = 200 });
        double exact = CasoTestData.LambdaMax(CasoTestData.DenseHessian(w, p));
        Assert.That(problem.LambdaMaxKind, Is.EqualTo(LambdaMaxKind.PowerIterationEstimate));
        Assert.That(problem.LambdaMax, Is.EqualTo(exact).Within(1e-4 * exact));
    }

    [Test]
    public void BadInputGivesTypedExceptionsBeforeAnyKernel()
    {
        var (flat, _) = FloatJacobian(10, 3, 38);
        var p = new[] { 0.2, 0.3, 0.5 };
        Assert.Throws<HessianInputException>(() => CasoProblem.FromClassMajor(ComputeBackends.Cpu, flat.AsSpan(1), 10, 3, p));
        Assert.Throws<HessianInputException>(() => CasoProblem.FromClassMajor(ComputeBackends.Cpu, flat, 10, 3, new[] { 0.5, 0.5 }));
        Assert.Throws<ProbabilityVectorException>(() => CasoProblem.FromClassMajor(ComputeBackends.Cpu, flat, 10, 3, new[] { 0.5, 0.5, 0.5 }));
        var bad = (float[])flat.Clone();
        bad[7] = float.NaN;
        Assert.Throws<HessianInputException>(() => CasoProblem.FromClassMajor(ComputeBackends.Cpu, bad, 10, 3, p));
        Assert.Throws<CasoInputException>(() => CasoProblem.FromClassMajor(ComputeBackends.Cpu, flat, 10, 3, p, new CasoProblemOptions { Target = -1 }));
    }
}
