using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using NUnit.Framework;
using Saliency.Explainers;
using Google.Protobuf;
using Saliency.Models.Classifiers;
using Saliency.Models.Onnx;
using Saliency.Models.Onnx.Proto;
using Saliency.Solvers.Caso;
using Saliency.Solvers.Leg;
using Saliency.TestSupport;

namespace Saliency.Tests.Engine;

/// <summary>
/// <see cref="SaliencyEngine"/> on the bundled LeNet. Oracles: the existing explainers' results on the same image
/// (bit-identical maps), call counts of a wrapping classifier for cancellation and budgets (work stopped / never
/// started), the softmax probabilities for the dropped mass of top-k, and a MeterListener for the metrics.
/// </summary>
[TestFixture]
internal sealed class SaliencyEngineTests
{
    private OnnxClassifier _lenet = null!;
    private float[] _digit = [];

    [OneTimeSetUp]
    public void Open()
    {
        _lenet = OnnxClassifier.Create(RepoFiles.LeNetModel);
        _digit = BundledLeNet.Digits().ImageFloats(0);
    }

    [OneTimeTearDown]
    public void Close() => _lenet.Dispose();

    private static SaliencyEngine Engine(string name = "lenet", Func<IClassifier, IClassifier>? decorator = null, ResourceBudget? budget = null)
    {
        var options = new SaliencyEngineOptions { MaxConcurrency = 2, ClassifierDecorator = decorator }.AddModel(name, RepoFiles.LeNetModel);
        if (budget is not null) options.Budget = budget;
        return new SaliencyEngine(options);
    }

    private ExplainRequest Request(string method) => new() { Model = "lenet", Image = _digit, Method = method };

    private static IEnumerable<TestCaseData> Methods()
    {
        yield return new TestCaseData(SaliencyMethods.Gradient, null, null, new GradientExplainer() as IExplainer);
        yield return new TestCaseData(SaliencyMethods.GradientTimesInput, null, 3, new GradientTimesInputExplainer());
        yield return new TestCaseData(SaliencyMethods.SmoothGrad, 6, null, new SmoothGradExplainer(new SmoothGradOptions { SampleCount = 6 }));
        yield return new TestCaseData(SaliencyMethods.IntegratedGradients, 8, null, new IntegratedGradientsExplainer(new IntegratedGradientsOptions { Steps = 8 }));
        yield return new TestCaseData(SaliencyMethods.Cafo, null, null, new CasoExplainer(new CasoExplainerOptions { Solver = new CasoOptions { Kind = CasoObjectiveKind.Cafo } }));
        yield return new TestCaseData(SaliencyMethods.Caso, null, 7, new CasoExplainer());
        yield return new TestCaseData(SaliencyMethods.Leg, 200, null, new LegExplainer(new LegExplainerOptions { SampleCount = 200 }));
        yield return new TestCaseData(SaliencyMethods.LegTv, 200, null,
            new LegExplainer(new LegExplainerOptions { TotalVariation = true, SampleCount = 200, TvOptions = new LegTvOptions { BoundFactor = 0.1 } }));
        yield return new TestCaseData(SaliencyMethods.GradCam, null, null, new GradCamExplainer(new GradCamOptions()));
        yield return new TestCaseData(SaliencyMethods.Occlusion, null, 2, new OcclusionExplainer(new OcclusionOptions { Window = 4, Stride = 2 }));
        yield return new TestCaseData(SaliencyMethods.Lime, 60, null, new LimeExplainer(new LimeOptions { Cell = 4, SampleCount = 60 }));
        yield return new TestCaseData(SaliencyMethods.KernelShap, 64, null, new KernelShapExplainer(new KernelShapOptions { Cell = 7, SampleCount = 64 }));
        yield return new TestCaseData(SaliencyMethods.SmoothCaso, 2, null, new SmoothCasoExplainer(new SmoothCasoExplainerOptions
            { Smoothing = new SmoothingOptions { Copies = 2 }, Solver = new CasoOptions { Kind = CasoObjectiveKind.Caso } }));
        yield return new TestCaseData(SaliencyMethods.SmoothCafo, 2, null, new SmoothCasoExplainer(new SmoothCasoExplainerOptions
            { Smoothing = new SmoothingOptions { Copies = 2 }, Solver = new CasoOptions { Kind = CasoObjectiveKind.Cafo } }));
    }

    [TestCaseSource(nameof(Methods))]
    public async Task ExplainAsyncEqualsTheExplainer(string method, int? samples, int? target, IExplainer explainer)
    {
        await using var engine = Engine();
        var result = await engine.ExplainAsync(Request(method) with { Samples = samples, Target = target });
        var expected = explainer.Explain(_lenet, _digit, target);

        Assert.That(result.Method, Is.EqualTo(expected.Method));
        Assert.That(result.Target, Is.EqualTo(expected.Target));
        Assert.That(result.PredictedClass, Is.EqualTo(expected.PredictedClass));
        Assert.That(result.Map.Values.ToArray(), Is.EqualTo(expected.Map.Values), "signed map");
        Assert.That(result.Map.Normalized.ToArray(), Is.EqualTo(expected.Map.Normalized), "visualisation");
        Assert.That((result.Map.Channels, result.Map.Height, result.Map.Width), Is.EqualTo((expected.Map.Channels, expected.Map.Height, expected.Map.Width)));
        Assert.That(result.Logits.ToArray(), Is.EqualTo(expected.Scores.Logits));
        switch (expected)
        {
            case CasoExplanation caso:
                var report = (CasoReport)result.Report!;
                Assert.That(report.Lambda1, Is.EqualTo(caso.Result.Lambda1));
                Assert.That(report.Iterations, Is.EqualTo(caso.Result.Iterations));
                Assert.That(report.Lambda1FromSweep, Is.True);
                Assert.That(report.Lambda1Tried, Is.EqualTo(caso.Sweep!.Tried.Count));
                Assert.That(report.ClassesKept, Is.EqualTo(10));
                Assert.That(report.DroppedProbabilityMass, Is.Zero);
                break;
            case LegExplanation leg:
                var legReport = (LegReport)result.Report!;
                Assert.That(legReport.ConstantRegions, Is.EqualTo(leg.ConstantRegions));
                Assert.That(legReport.LinearPrograms.Select(l => l.Iterations), Is.EqualTo(leg.Result.Solutions?.Select(s => s.Iterations) ?? []));
                Assert.That(legReport.LinearPrograms.All(l => l.Status == SolverStatus.Converged));
                break;
            case BaselineExplanation<Saliency.Explainers.GradCamReport> gradCam:
                Assert.That(result.Report, Is.EqualTo(BaselineReports.From(gradCam.Report)));
                Assert.That(((GradCamReport)result.Report!).PositiveWeights, Is.EqualTo(gradCam.Report.Weights.Count(a => a > 0)));
                break;
            case BaselineExplanation<Saliency.Explainers.OcclusionReport> occlusion:
                Assert.That(result.Report, Is.EqualTo(BaselineReports.From(occlusion.Report)));
                Assert.That(((OcclusionReport)result.Report!).Evaluations, Is.EqualTo(13 * 13 + 1), "4×4 windows every 2 pixels on 28×28");
                break;
            case BaselineExplanation<Saliency.Explainers.LimeReport> lime:
                Assert.That(result.Report, Is.EqualTo(BaselineReports.From(lime.Report)));
                Assert.That(((LimeReport)result.Report!).WeightedR2, Is.EqualTo(lime.Report.WeightedR2));
                break;
            case BaselineExplanation<Saliency.Explainers.KernelShapReport> shap:
                Assert.That(result.Report, Is.EqualTo(BaselineReports.From(shap.Report)));
                Assert.That(((KernelShapReport)result.Report!).Coalitions, Is.EqualTo(64 + 2), "16 cells of 7×7 (> 14): 64 sampled coalitions, ∅ and the full set");
                break;
            default:
                Assert.That(result.Report is null, Is.EqualTo(method is SaliencyMethods.Gradient or SaliencyMethods.GradientTimesInput), "only the plain gradient methods have no report");
                break;
        }
    }

    [Test]
    public async Task BatchAndPredictAgreeWithSingleCalls()
    {
        await using var engine = Engine();
        var digits = BundledLeNet.Digits();
        var images = Enumerable.Range(0, 4).Select(digits.ImageFloats).ToArray();
        var batch = await engine.ExplainBatchAsync(images.Select(i => new ExplainRequest { Model = "lenet", Image = i, Method = SaliencyMethods.Caso, Lambda1 = 0.01 }).ToArray());
        for (int i = 0; i < images.Length; i++)
        {
            var single = new CasoExplainer(new CasoExplainerOptions { Lambda1 = 0.01 }).Explain(_lenet, images[i]);
            Assert.That(batch[i].Map.Values.ToArray(), Is.EqualTo(single.Map.Values), $"request {i}");
            Assert.That(((CasoReport)batch[i].Report!).Lambda1FromSweep, Is.False);
        }

        var flat = images.SelectMany(i => i).ToArray();
        var prediction = await engine.PredictAsync("lenet", flat);
        var expected = _lenet.Predict(flat);
        Assert.That(prediction.Logits.ToArray(), Is.EqualTo(expected.Logits));
        Assert.That(prediction.PredictedClasses, Is.EqualTo(Enumerable.Range(0, 4).Select(i => expected.PredictedClass(i))));
        var info = engine.GetModel("lenet");
        Assert.That((info.Name, info.InputSize, info.ClassCount), Is.EqualTo(("lenet", 784, 10)));
        Assert.That(info.InputShape, Is.EqualTo(new long[] { 1, 28, 28 }));
    }

    [Test]
    public async Task CancellationStopsTheModelRunsOfLeg()
    {
        using var cts = new CancellationTokenSource();
        CountingClassifier? counting = null;
        int predictCalls = 0;
        await using var engine = Engine(decorator: c => counting = new CountingClassifier(new Hook(c, () => { if (++predictCalls == 3) cts.Cancel(); })));
        // n = 1000 in batches of 50 evaluations: 1 + 20 forward runs when uncancelled.
        await Assert.CatchAsync<OperationCanceledException>(async () => await engine.ExplainAsync(Request(SaliencyMethods.Leg), cts.Token));
        Assert.That(counting!.Count("Predict"), Is.EqualTo(4), "the run after the cancelling one throws before running; no more follow");
    }

    [TestCase(SaliencyMethods.Caso, 1)]
    [TestCase(SaliencyMethods.LegTv, 5)]
    public async Task CancellationAfterTheLastModelRunStopsTheSolver(string method, int modelRuns)
    {
        // CASO makes one Jacobian run, LEG-TV (n = 200) 1 + 4 forward runs; cancelling in the last one leaves only
        // solver work (FISTA / PDHG), which must notice the token.
        using var cts = new CancellationTokenSource();
        int runs = 0;
        await using var engine = Engine(decorator: c => new Hook(c, () => { if (++runs == modelRuns) cts.Cancel(); }));
        var request = Request(method) with { Samples = 200 };
        var ex = await Assert.CatchAsync<OperationCanceledException>(async () => await engine.ExplainAsync(request, cts.Token));
        Assert.That(ex!.CancellationToken.IsCancellationRequested, Is.True);
        Assert.That(runs, Is.EqualTo(modelRuns));
        // The same request uncancelled completes with those runs (so the cancellation hit the solver).
        runs = int.MinValue;
        var done = await engine.ExplainAsync(request);
        Assert.That(done.Report, Is.Not.Null);
    }

    [Test]
    public async Task DisposeAsyncDrainsAndDisposeCancels()
    {
        // LEG with n = 1000 makes 21 forward runs; the hook blocks the first one until the engine is being disposed.
        using var running = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        int runs = 0;
        IClassifier Blocking(IClassifier c) => new Hook(c, () =>
        {
            if (Interlocked.Increment(ref runs) == 1)
            {
                running.Set();
                release.Wait(TimeSpan.FromMinutes(2));
            }
        });

        var draining = Engine(decorator: Blocking);
        var explained = draining.ExplainAsync(Request(SaliencyMethods.Leg));
        Assert.That(running.Wait(TimeSpan.FromMinutes(2)), "the explanation started");
        var disposal = draining.DisposeAsync().AsTask();
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await draining.ExplainAsync(Request(SaliencyMethods.Gradient)));
        Assert.That(disposal.IsCompleted, Is.False, "DisposeAsync waits for the request in flight");
        release.Set();
        var result = await explained;
        await disposal;
        Assert.That(runs, Is.EqualTo(21), "the drained request ran to the end");
        Assert.That(result.Report, Is.InstanceOf<LegReport>());

        running.Reset();
        release.Reset();
        runs = 0;
        var cancelling = Engine(decorator: Blocking);
        var cancelled = cancelling.ExplainAsync(Request(SaliencyMethods.Leg));
        Assert.That(running.Wait(TimeSpan.FromMinutes(2)), "the explanation started");
        cancelling.Dispose();
        release.Set();
        await Assert.CatchAsync<OperationCanceledException>(async () => await cancelled);
        Assert.That(runs, Is.EqualTo(1), "Dispose cancels: no model run after the one in progress");
    }

    [TestCase(SaliencyMethods.Gradient)]
    [TestCase(SaliencyMethods.Caso)]
    [TestCase(SaliencyMethods.GradCam)]
    public async Task AChannelIsExplainedAloneAsTheCliDoes(string method)
    {
        // Oracle: the explainer on the two-class view [z₃(x), z₃] (SingleScoreClassifier, the CLI's --channel) with target 1.
        await using var engine = Engine();
        var result = await engine.ExplainAsync(Request(method) with { Channel = 3 });
        var full = _lenet.Predict(_digit);
        using var view = new SingleScoreClassifier(_lenet, 3, offset: full.LogitsOf(0)[3]);
        var expected = (method switch
        {
            SaliencyMethods.Gradient => new GradientExplainer() as IExplainer,
            SaliencyMethods.Caso => new CasoExplainer(),
            _ => new GradCamExplainer(new GradCamOptions()),
        }).Explain(view, _digit, 1);
        Assert.That(result.Map.Values.ToArray(), Is.EqualTo(expected.Map.Values));
        Assert.That(result.Target, Is.EqualTo(3), "the score's index, not the view's class 1");
        Assert.That(result.Logits.ToArray(), Is.EqualTo(full.Logits), "the full model's scores");
        Assert.That(result.PredictedClass, Is.EqualTo(System.Numerics.Tensors.TensorPrimitives.IndexOfMax(full.LogitsOf(0))));

        await Assert.ThatAsync(async () => await engine.ExplainAsync(Request(method) with { Channel = 3, Target = 2 }), Throws.InstanceOf<SaliencyRequestException>());
        await Assert.ThatAsync(async () => await engine.ExplainAsync(Request(method) with { Channel = 10 }), Throws.InstanceOf<SaliencyRequestException>());
    }

    [Test]
    public async Task AMultiLabelModelExplainsItsLabelAlone()
    {
        // LeNet with a Sigmoid on its logits: label t is "σ(z_t) vs. rest" (offset 0), never a softmax over the labels.
        var proto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(RepoFiles.LeNetModel));
        string logits = proto.Graph.Output[0].Name;
        proto.Graph.Node.Add(new NodeProto { OpType = "Sigmoid", Name = "labels", Input = { logits }, Output = { "sigmoid" } });
        proto.Graph.Output.Clear();
        proto.Graph.Output.Add(new ValueInfoProto { Name = "sigmoid", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1 } } });
        string path = Path.Combine(Path.GetTempPath(), $"lenet-sigmoid-{Guid.NewGuid():N}.onnx");
        File.WriteAllBytes(path, proto.ToByteArray());
        try
        {
            await using var engine = new SaliencyEngine(new SaliencyEngineOptions().AddModel("multi", path));
            var result = await engine.ExplainAsync(new ExplainRequest { Model = "multi", Image = _digit, Method = SaliencyMethods.Caso, Target = 4 });
            using var sigmoid = OnnxClassifier.Create(path);
            Assert.That(sigmoid.OutputKind, Is.EqualTo(OutputKind.Sigmoid));
            using var view = new SingleScoreClassifier(sigmoid, 4);
            var expected = new CasoExplainer().Explain(view, _digit, 1);
            Assert.That(result.Map.Values.ToArray(), Is.EqualTo(expected.Map.Values));
            Assert.That(result.Target, Is.EqualTo(4));
            float z4 = _lenet.Predict(_digit).LogitsOf(0)[4];
            Assert.That(result.Probabilities.Span[4], Is.EqualTo(1 / (1 + Math.Exp(-z4))).Within(1e-6), "the model's own σ(z₄)");
            var predicted = await engine.PredictAsync("multi", _digit);
            Assert.That(predicted.Probabilities.Span[4], Is.EqualTo(1 / (1 + Math.Exp(-z4))).Within(1e-6), "predictions too");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void TheCancellableViewExposesLayersForGradCamAndStopsThem()
    {
        // The engine runs Grad-CAM through the view, so a cancelled request stops its one tapped run too.
        var e0 = new float[_lenet.ClassCount];
        e0[3] = 1;
        using var cts = new CancellationTokenSource();
        var view = _lenet.WithCancellation(cts.Token) as ILayerGradientSource;
        Assert.That(view, Is.Not.Null);
        var direct = _lenet.LayerGradient(_digit, e0);
        var viewed = view!.LayerGradient(_digit, e0);
        Assert.That(viewed.Activation, Is.EqualTo(direct.Activation));
        Assert.That(viewed.Gradients, Is.EqualTo(direct.Gradients));
        cts.Cancel();
        Assert.Catch<OperationCanceledException>(() => view.LayerGradient(_digit, e0));
    }

    [Test]
    public async Task RequestsRunOnTheEnginesOwnThreadsNotThePool()
    {
        // Blocking work on pool threads starves a host's request parsing and the timers behind deadlines
        // (CancelAfter) on small machines; the engine keeps it on at most MaxConcurrency threads of its own.
        var threads = new System.Collections.Concurrent.ConcurrentBag<(bool Pool, string? Name, int Id)>();
        await using var engine = Engine(decorator: c => new Hook(c, () =>
            threads.Add((Thread.CurrentThread.IsThreadPoolThread, Thread.CurrentThread.Name, Environment.CurrentManagedThreadId))));
        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => engine.ExplainAsync(Request(SaliencyMethods.Gradient))));
        await engine.PredictAsync("lenet", _digit);
        Assert.That(threads, Has.Count.GreaterThanOrEqualTo(9), "every request made model runs");
        Assert.That(threads.Select(t => t.Pool), Has.All.False, "a model run on a thread-pool thread");
        Assert.That(threads.Select(t => t.Name), Has.All.StartsWith("saliency compute"));
        Assert.That(threads.Select(t => t.Id).Distinct().Count(), Is.LessThanOrEqualTo(2), "no more threads than MaxConcurrency");
    }

    [Test]
    public async Task ACancelledTokenRunsNothing()
    {
        int runs = 0;
        using var engine = Engine(decorator: c => new Hook(c, () => runs++));
        await Assert.CatchAsync<OperationCanceledException>(async () =>
            await engine.ExplainAsync(Request(SaliencyMethods.Gradient), new CancellationToken(canceled: true)));
        Assert.That(runs, Is.Zero);
    }

    [Test]
    public async Task BudgetsRejectBeforeAnyModelRun()
    {
        int runs = 0;
        using var engine = Engine(decorator: c => new Hook(c, () => runs++));
        async Task<BudgetExceededException> Rejected(ExplainRequest r) => (await Assert.ThrowsAsync<BudgetExceededException>(async () => await engine.ExplainAsync(r)))!;

        var samples = await Rejected(Request(SaliencyMethods.Leg) with { Samples = int.MaxValue });
        Assert.That((samples.Limit, samples.Requested, samples.Allowed), Is.EqualTo(("MaxSamples", (long)int.MaxValue, 100_000L)));
        Assert.That((await Rejected(Request(SaliencyMethods.Caso) with { Budget = new ResourceBudget { MaxPixels = 27 * 28 } })).Limit, Is.EqualTo("MaxPixels"));
        Assert.That((await Rejected(Request(SaliencyMethods.Caso) with { Budget = new ResourceBudget { MaxClasses = 5 } })).Limit, Is.EqualTo("MaxClasses"));
        Assert.That((await Rejected(Request(SaliencyMethods.Caso) with { MaxIterations = 600_000 })).Limit, Is.EqualTo("MaxIterations"));
        // CASO on LeNet, all classes streamed: W once and one chunk's cotangents, 4dc + 4mc + 72c² + 1024c + 768d with
        // m = min(32, c) = 10: 31360 + 400 + 7200 + 10240 + 602112 bytes.
        Assert.That(engine.EstimateMemory(Request(SaliencyMethods.Caso)), Is.EqualTo(31360 + 400 + 7200 + 10240 + 602112));
        // Top-2 keeps 3 rows (plus the target): 8dk + 4kc + 72k² + 1024k + 768d with k = 3.
        Assert.That(engine.EstimateMemory(Request(SaliencyMethods.Caso) with { TopClasses = 2 }), Is.EqualTo(18816 + 120 + 648 + 3072 + 602112));
        var memory = await Rejected(Request(SaliencyMethods.Caso) with { Budget = new ResourceBudget { MaxMemoryBytes = 650_000 } });
        Assert.That((memory.Limit, memory.Requested), Is.EqualTo(("MaxMemoryBytes", 651312L)));
        Assert.That(runs, Is.Zero, "no model run for a rejected request");

        using var small = Engine(decorator: c => new Hook(c, () => runs++), budget: new ResourceBudget { MaxBatch = 2 });
        var batch = await Assert.ThrowsAsync<BudgetExceededException>(async () => await small.PredictAsync("lenet", new float[784 * 3]));
        Assert.That((batch!.Limit, batch.Requested), Is.EqualTo(("MaxBatch", 3L)));
        Assert.That(runs, Is.Zero);
    }

    [Test]
    public async Task AModelClaimingHugeImagesIsRejectedBeforeAnyAllocation()
    {
        // One 3×16384×16384 image would be 3 GiB of floats (and CASO's Jacobian 9 GiB more); the model file is tiny.
        var b = new OnnxGraphBuilder("huge");
        var x = b.Input("input", OnnxElementType.Float, 1, 3, 16384, 16384);
        var logits = b.Node("Flatten", [b.Node("GlobalAveragePool", [x])]);
        b.Output(logits, OnnxElementType.Float, 1, 3);
        string path = Path.Combine(Path.GetTempPath(), $"saliency-huge-{Guid.NewGuid():N}.onnx");
        File.WriteAllBytes(path, b.Build().ToByteArray());
        try
        {
            using var engine = new SaliencyEngine(new SaliencyEngineOptions().AddModel("huge", path));
            Assert.That(engine.GetModel("huge").InputSize, Is.EqualTo(3L * 16384 * 16384));
            var explain = await Assert.ThrowsAsync<BudgetExceededException>(async () =>
                await engine.ExplainAsync(new ExplainRequest { Model = "huge", Image = new float[3], Method = SaliencyMethods.Caso }));
            Assert.That((explain!.Limit, explain.Requested, explain.Allowed), Is.EqualTo(("MaxPixels", 16384L * 16384, 1024L * 1024)));
            var predict = await Assert.ThrowsAsync<BudgetExceededException>(async () => await engine.PredictAsync("huge", new float[3]));
            Assert.That(predict!.Limit, Is.EqualTo("MaxPixels"));
            // With the pixel limit lifted, the memory estimate (the all-class Jacobian alone is 8dc = 19 GiB) refuses it.
            var memory = await Assert.ThrowsAsync<BudgetExceededException>(async () => await engine.ExplainAsync(
                new ExplainRequest { Model = "huge", Image = new float[3], Method = SaliencyMethods.Caso, Budget = new ResourceBudget { MaxPixels = long.MaxValue } }));
            Assert.That(memory!.Limit, Is.EqualTo("MaxMemoryBytes"));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public async Task TopKAboveTheThresholdReportsTheDroppedMass()
    {
        await using var engine = Engine(budget: new ResourceBudget { TopClassesThreshold = 5, DefaultTopClasses = 2 });
        var result = await engine.ExplainAsync(Request(SaliencyMethods.Caso) with { Target = 9, Lambda1 = 0 });
        var report = (CasoReport)result.Report!;
        // Oracle: p in float64 from the logits; kept = the two most probable classes plus the target 9.
        var p = Softmax.Probabilities(_lenet.Predict(_digit).Logits);
        var top2 = Enumerable.Range(0, 10).OrderByDescending(i => p[i]).Take(2).ToHashSet();
        Assert.That(top2, Does.Not.Contain(9), "the test needs a target outside the top 2");
        double dropped = Enumerable.Range(0, 10).Where(i => !top2.Contains(i) && i != 9).Sum(i => p[i]);
        Assert.That(report.ClassesKept, Is.EqualTo(3));
        Assert.That(report.DroppedProbabilityMass, Is.EqualTo(dropped).Within(1e-12));
        Assert.That(report.DroppedProbabilityMass, Is.GreaterThan(0));
    }

    [Test]
    public async Task BadRequestsAreTyped()
    {
        using var engine = Engine();
        var nan = (float[])_digit.Clone();
        nan[100] = float.NaN;
        await Assert.ThrowsAsync<SaliencyRequestException>(async () => await engine.ExplainAsync(Request(SaliencyMethods.Caso) with { Image = nan }));
        await Assert.ThrowsAsync<SaliencyRequestException>(async () => await engine.ExplainAsync(Request(SaliencyMethods.Caso) with { Image = _digit.AsMemory(1) }));
        await Assert.ThrowsAsync<SaliencyRequestException>(async () => await engine.ExplainAsync(Request("nope")));
        await Assert.ThrowsAsync<SaliencyRequestException>(async () => await engine.ExplainAsync(Request(SaliencyMethods.Caso) with { Target = 10 }));
        await Assert.ThrowsAsync<ModelNotFoundException>(async () => await engine.ExplainAsync(Request(SaliencyMethods.Caso) with { Model = "resnet" }));
        await Assert.ThrowsAsync<SaliencyRequestException>(async () => await engine.PredictAsync("lenet", nan));
        Assert.Throws<FileNotFoundException>(() => new SaliencyEngine(new SaliencyEngineOptions().AddModel("x", "/nonexistent/model.onnx")));
        Assert.Throws<ArgumentException>(() => new SaliencyEngine(new SaliencyEngineOptions().AddModel("x", RepoFiles.LeNetModel).AddModel("x", RepoFiles.LeNetModel)));
    }

    [Test]
    public async Task DependencyInjectionOwnsTheEngine()
    {
        var services = new ServiceCollection().AddSaliency(o => o.AddModel("lenet", RepoFiles.LeNetModel));
        SaliencyEngine engine;
        await using (var provider = services.BuildServiceProvider())
        {
            engine = provider.GetRequiredService<SaliencyEngine>();
            Assert.That(provider.GetRequiredService<SaliencyEngine>(), Is.SameAs(engine));
            var result = await engine.ExplainAsync(Request(SaliencyMethods.Gradient));
            Assert.That(result.Map.Values.ToArray(), Is.EqualTo(new GradientExplainer().Explain(_lenet, _digit).Map.Values));
        }
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await engine.ExplainAsync(Request(SaliencyMethods.Gradient)));
    }

    [Test]
    public async Task MetricsCountOutcomes()
    {
        string model = "metrics-" + Guid.NewGuid().ToString("N");
        var counts = new Dictionary<string, long>();
        long inFlight = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) => { if (instrument.Meter.Name == SaliencyTelemetry.Name) l.EnableMeasurementEvents(instrument); };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            var dict = new Dictionary<string, object?>();
            foreach (var t in tags) dict[t.Key] = t.Value;
            lock (counts)
            {
                if (instrument.Name == "saliency.explanations" && Equals(dict.GetValueOrDefault("saliency.model"), model))
                    counts[(string)dict["outcome"]!] = counts.GetValueOrDefault((string)dict["outcome"]!) + value;
                if (instrument.Name == "saliency.in_flight" && Equals(dict.GetValueOrDefault("saliency.model"), model)) inFlight += value;
            }
        });
        var durations = new List<double>();
        listener.SetMeasurementEventCallback<double>((instrument, value, _, _) => { if (instrument.Name == "saliency.explanation.duration") lock (durations) durations.Add(value); });
        listener.Start();

        await using (var engine = Engine(model))
        {
            var request = new ExplainRequest { Model = model, Image = _digit, Method = SaliencyMethods.Gradient };
            await engine.ExplainAsync(request);
            await engine.ExplainAsync(request);
            await Assert.ThrowsAsync<BudgetExceededException>(async () => await engine.ExplainAsync(request with { Method = SaliencyMethods.Leg, Samples = int.MaxValue }));
            await Assert.CatchAsync<OperationCanceledException>(async () => await engine.ExplainAsync(request, new CancellationToken(true)));
        }
        Assert.That(counts, Is.EquivalentTo(new Dictionary<string, long> { ["ok"] = 2, ["rejected"] = 1, ["cancelled"] = 1 }));
        Assert.That(inFlight, Is.Zero);
        Assert.That(durations, Has.Count.GreaterThanOrEqualTo(2));
    }

    /// <summary>Calls <paramref name="onRun"/> after every model run of the wrapped classifier.</summary>
    private sealed class Hook(IClassifier inner, Action onRun) : IClassifier
    {
        public IReadOnlyList<long> InputShape => inner.InputShape;
        public int InputSize => inner.InputSize;
        public int ClassCount => inner.ClassCount;
        public ClassScores Predict(ReadOnlySpan<float> images) { var r = inner.Predict(images); onRun(); return r; }
        public JacobianMatrix Jacobian(ReadOnlySpan<float> image, IReadOnlyList<int>? classes = null) { var r = inner.Jacobian(image, classes); onRun(); return r; }
        public JacobianMatrix TopKJacobian(ReadOnlySpan<float> image, int k) { var r = inner.TopKJacobian(image, k); onRun(); return r; }
        public LossGradient LossGradient(ReadOnlySpan<float> image, int? target = null) { var r = inner.LossGradient(image, target); onRun(); return r; }
        public ClassScores VectorJacobianProduct(ReadOnlySpan<float> image, ReadOnlySpan<float> cotangents, Span<float> destination)
        { var r = inner.VectorJacobianProduct(image, cotangents, destination); onRun(); return r; }
        public void Dispose() => inner.Dispose();
    }
}
