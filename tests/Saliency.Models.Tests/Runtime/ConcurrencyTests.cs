using NUnit.Framework;
using Saliency.Models.Runtime;

namespace Saliency.Models.Tests.Runtime;

/// <summary>One session, many threads: concurrent results must be bit-identical to serial ones.</summary>
[TestFixture]
internal class ConcurrencyTests
{
    private const int Threads = 8;
    private const int CallsPerThread = 200;

    [Test]
    public void EightThreadsTimes200Runs_EqualSerialRuns()
    {
        using var session = InferenceSession.Create(RuntimeTestModels.Mlp(), new InferenceSessionOptions { IntraOpThreads = 1 });

        // Each call has its own input (and batch size, 1..8) so that mixed-up buffers would show.
        int total = Threads * CallsPerThread;
        var inputs = new float[total][];
        var batches = new int[total];
        for (int i = 0; i < total; i++)
        {
            batches[i] = 1 + i % 8;
            inputs[i] = RuntimeTestModels.RandomData(batches[i] * 4, seed: 1000 + i);
        }
        var serial = new float[total][];
        for (int i = 0; i < total; i++)
            serial[i] = session.Run([new FloatTensor("x", inputs[i], [batches[i], 4])])[0].Data;

        var concurrent = new float[total][];
        var intoBuffers = new float[total][];
        using var start = new Barrier(Threads);
        var workers = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            start.SignalAndWait();
            for (int k = 0; k < CallsPerThread; k++)
            {
                int i = t * CallsPerThread + k;
                var x = new FloatTensor("x", inputs[i], [batches[i], 4]);
                if (k % 2 == 0)
                {
                    concurrent[i] = session.Run([x])[0].Data;
                }
                else
                {
                    var y = new float[batches[i] * 3];
                    session.RunInto([x], [new FloatTensor("y", y, [batches[i], 3])]);
                    concurrent[i] = y;
                }
            }
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());

        for (int i = 0; i < total; i++)
            Assert.That(concurrent[i], Is.EqualTo(serial[i]), $"call {i}");
        // Serial results are themselves right (so the comparison is against a verified baseline).
        InferenceSessionTests.AssertClose(serial[total - 1], RuntimeTestModels.MlpReference(inputs[total - 1], batches[total - 1]));
    }

    [Test]
    public void DisposeWhileRunning_CompletedRunsAreCorrectAndLaterOnesDisposed()
    {
        // Runs hold a reference on the native session; Dispose releases it only after they return. Every run either
        // completes with the right numbers or sees ObjectDisposedException — never a freed session.
        int completed = 0, refused = 0;
        for (int round = 0; round < 20; round++)
        {
            var session = InferenceSession.Create(RuntimeTestModels.Mlp(), new InferenceSessionOptions { IntraOpThreads = 1 });
            float[] x = RuntimeTestModels.RandomData(64 * 4, seed: round);
            double[] reference = RuntimeTestModels.MlpReference(x, 64);
            var outputs = new List<float[]>();
            var runner = new Thread(() =>
            {
                for (int k = 0; k < 50; k++)
                {
                    try
                    {
                        outputs.Add(session.Run([new FloatTensor("x", x, [64, 4])])[0].Data);
                    }
                    catch (ObjectDisposedException)
                    {
                        Interlocked.Increment(ref refused);
                        return;
                    }
                }
            });
            runner.Start();
            Thread.Sleep(round % 3);
            session.Dispose();
            runner.Join();
            foreach (var y in outputs) InferenceSessionTests.AssertClose(y, reference);
            completed += outputs.Count;
        }
        TestContext.Out.WriteLine($"{completed} runs completed, {refused} refused after Dispose");
        Assert.That(completed + refused, Is.GreaterThan(0));
    }

    [Test]
    public void SessionsCreatedOnManyThreadsAtOnce_AllWork()
    {
        // Creation shares the process-wide environment, memory info and allocator; it must be safe to race.
        byte[] model = RuntimeTestModels.Mlp();
        float[] x = RuntimeTestModels.RandomData(3 * 4, seed: 77);
        double[] reference = RuntimeTestModels.MlpReference(x, 3);
        var results = new float[16][];
        Parallel.For(0, results.Length, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            using var session = InferenceSession.Create(model, new InferenceSessionOptions { IntraOpThreads = 1 });
            results[i] = session.Run([new FloatTensor("x", x, [3, 4])])[0].Data;
        });
        foreach (var y in results) InferenceSessionTests.AssertClose(y, reference);
    }
}
