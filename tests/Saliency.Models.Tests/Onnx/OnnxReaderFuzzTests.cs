using Google.Protobuf;
using NUnit.Framework;
using Saliency.Models.Onnx;
using Saliency.Models.Onnx.Proto;
using Saliency.TestSupport;

namespace Saliency.Models.Tests.Onnx;

/// <summary>
/// Seeded fuzzing of our ONNX reader: truncated, bit-flipped, overwritten, spliced model bytes. Each case must
/// either parse to a model that passes validation (and whose inspection helpers work), or throw
/// <see cref="OnnxFormatException"/> — never another exception type, never a crash or a hang.
/// </summary>
[TestFixture]
internal sealed class OnnxReaderFuzzTests
{
    private const int CasesPerSeedModel = 400;

    private static IEnumerable<TestCaseData> SeedModels()
    {
        yield return new TestCaseData("Mlp", TestModels.Mlp().ToByteArray(), 101);
        yield return new TestCaseData("SmallCnn", TestModels.SmallCnn().ToByteArray(), 202);
        yield return new TestCaseData("ResNetBlock", TestModels.ResNetBlock().ToByteArray(), 303);
        yield return new TestCaseData("MaxPoolIndicesAndReshape", PoolModel().ToByteArray(), 404);
    }

    private static ModelProto PoolModel()
    {
        var b = new OnnxGraphBuilder("pool");
        string x = b.Input("x", OnnxElementType.Float, "N", 2, 6, 6);
        var (y, idx) = b.MaxPoolWithIndices(x, [3, 3], [2, 2], [1, 1, 1, 1]);
        string f = b.Reshape(b.Clip(y, 0f, 1f), [0, -1]);
        b.Output(f, OnnxElementType.Float, "N", 18);
        b.Output(idx, OnnxElementType.Int64, "N", 2, 3, 3);
        return b.Build();
    }

    [TestCaseSource(nameof(SeedModels))]
    public void MutatedBytes_ParseOrThrowOnnxFormatException(string name, byte[] original, int seed)
    {
        var rng = new Random(seed);
        int parsed = 0, rejected = 0;
        for (int c = 0; c < CasesPerSeedModel; c++)
        {
            byte[] mutated = Mutate(original, rng, c % 6);
            try
            {
                var model = OnnxModel.Parse(mutated);
                Exercise(model);
                parsed++;
            }
            catch (OnnxFormatException e)
            {
                Assert.That(e.Message, Is.Not.Empty);
                rejected++;
            }
            catch (Exception e)
            {
                Assert.Fail($"{name} case {c} (mutation {c % 6}): {e.GetType().Name} escaped the reader: {e.Message}\n" +
                            $"bytes: {Convert.ToBase64String(mutated)}");
            }
        }
        TestContext.Out.WriteLine($"{name}: {parsed} parsed, {rejected} rejected of {CasesPerSeedModel}");
        // Both outcomes occur, so the fuzz reaches past the first byte and also exercises accepted models.
        Assert.That(rejected, Is.GreaterThan(CasesPerSeedModel / 10));
        Assert.That(parsed + rejected, Is.EqualTo(CasesPerSeedModel));
    }

    /// <summary>
    /// Mutated models that the reader accepts, run through the reference evaluator: only typed errors
    /// (format, unsupported op, shape errors naming the node, bad feeds) may come out.
    /// </summary>
    [TestCaseSource(nameof(SeedModels))]
    public void MutatedModels_ThroughTheReferenceEvaluator_FailOnlyWithTypedErrors(string name, byte[] original, int seed)
    {
        var rng = new Random(seed + 1);
        int evaluated = 0, refused = 0;
        for (int c = 0; c < 150; c++)
        {
            byte[] mutated = Mutate(original, rng, 1 + c % 3);
            OnnxModel model;
            try { model = OnnxModel.Parse(mutated); }
            catch (OnnxFormatException) { continue; }
            try
            {
                var feeds = new Dictionary<string, ReferenceTensor>();
                foreach (var input in model.Inputs)
                {
                    long[] shape = (input.Shape ?? []).Select(d => d < 0 ? 2 : d).ToArray();
                    if (shape.Any(d => d > 64) || shape.Aggregate(1L, (a, d) => a * d) > 100_000) throw new ArgumentException("input too large for the fuzz");
                    feeds[input.Name] = TestModels.RandomTensor(c, shape);
                }
                new ReferenceEvaluator(model.Proto).Run(feeds);
                evaluated++;
            }
            catch (Exception e) when (e is OnnxFormatException or NotSupportedException or InvalidOperationException or ArgumentException)
            {
                refused++;
            }
            catch (Exception e)
            {
                Assert.Fail($"{name} case {c}: {e.GetType().Name} escaped the evaluator: {e.Message}\nbytes: {Convert.ToBase64String(mutated)}");
            }
        }
        TestContext.Out.WriteLine($"{name}: {evaluated} evaluated, {refused} refused with a typed error");
        Assert.That(evaluated, Is.GreaterThan(0), "some mutated models still evaluate (e.g. flipped weight bits)");
    }

    [Test]
    public void RandomGarbage_IsRejected()
    {
        var rng = new Random(7);
        for (int c = 0; c < 300; c++)
        {
            var bytes = new byte[rng.Next(1, 512)];
            rng.NextBytes(bytes);
            try { OnnxModel.Parse(bytes); }
            catch (OnnxFormatException) { }
            catch (Exception e) { Assert.Fail($"garbage case {c}: {e.GetType().Name}: {e.Message}"); }
        }
    }

    [Test]
    public void DeeplyNestedMessages_AreRejected_NotAStackOverflow()
    {
        // ModelProto → graph → node → attribute g → graph → … 400 levels, far beyond protobuf's recursion limit (100).
        byte[] nested = NestGraphs(400);
        var e = Assert.Throws<OnnxFormatException>(() => OnnxModel.Parse(nested))!;
        Assert.That(e.InnerException, Is.InstanceOf<InvalidProtocolBufferException>());
        // The same construction 20 levels deep is a valid protobuf message (the control for the test above);
        // our validator does not descend into subgraphs, and the top graph has no outputs.
        var shallow = Assert.Throws<OnnxFormatException>(() => OnnxModel.Parse(NestGraphs(20)))!;
        Assert.That(shallow.InnerException, Is.Null, "20 levels parse; only validation rejects the model");
    }

    /// <summary>ModelProto{graph: GraphProto{node: NodeProto{attribute: AttributeProto{g: GraphProto{…}}}}} nested n deep.</summary>
    private static byte[] NestGraphs(int depth)
    {
        byte[] graph = [];
        for (int i = 0; i < depth; i++)
        {
            byte[] attr = [.. Field(6, graph)];              // AttributeProto.g = 6
            byte[] node = [.. Field(5, attr)];               // NodeProto.attribute = 5
            graph = [.. Field(1, node)];                      // GraphProto.node = 1
        }
        return [.. Field(7, graph)];                          // ModelProto.graph = 7
    }

    private static byte[] Field(int number, byte[] payload)
    {
        var ms = new MemoryStream();
        var cos = new CodedOutputStream(ms);
        cos.WriteTag(number, WireFormat.WireType.LengthDelimited);
        cos.WriteBytes(ByteString.CopyFrom(payload));
        cos.Flush();
        return ms.ToArray();
    }

    /// <summary>Reads everything a caller might read from an accepted model; only OnnxFormatException may come out.</summary>
    private static void Exercise(OnnxModel model)
    {
        _ = model.ToString();
        _ = model.OpHistogram;
        _ = model.OpsetImports;
        foreach (var v in model.Inputs.Concat(model.Outputs)) _ = v.Shape;
        foreach (var t in model.Graph.Initializer)
        {
            try
            {
                var type = OnnxTensors.ElementType(t);
                if (type is OnnxElementType.Float or OnnxElementType.Double) _ = model.GetFloatInitializer(t.Name);
                else if (type is OnnxElementType.Int64 or OnnxElementType.Int32) _ = model.GetInt64Initializer(t.Name);
                else _ = OnnxTensors.ToDoubleArray(t);
            }
            catch (OnnxFormatException) { }
        }
        // Accepted bytes must round-trip to an equal message.
        Assert.That(OnnxModel.Parse(model.ToBytes()).Proto, Is.EqualTo(model.Proto));
    }

    private static byte[] Mutate(byte[] original, Random rng, int kind)
    {
        byte[] b = (byte[])original.Clone();
        switch (kind)
        {
            case 0: // truncation
                return b[..rng.Next(0, b.Length)];
            case 1: // a few bit flips anywhere
                for (int k = rng.Next(1, 4); k > 0; k--) b[rng.Next(b.Length)] ^= (byte)(1 << rng.Next(8));
                return b;
            case 2: // bit flips concentrated in the structural head and tail (tags, lengths, names), not in weight data
            {
                for (int k = rng.Next(1, 3); k > 0; k--)
                {
                    int span = Math.Min(b.Length, 160);
                    int at = rng.Next(2) == 0 ? rng.Next(span) : b.Length - 1 - rng.Next(span);
                    b[at] ^= (byte)(1 << rng.Next(8));
                }
                return b;
            }
            case 3: // overwrite a byte with a random value (often a varint length or tag)
            {
                int span = Math.Min(b.Length, 400);
                b[rng.Next(2) == 0 ? rng.Next(span) : b.Length - 1 - rng.Next(span)] = (byte)rng.Next(256);
                return b;
            }
            case 4: // delete a run of bytes
            {
                int at = rng.Next(b.Length), len = rng.Next(1, 16);
                len = Math.Min(len, b.Length - at);
                return [.. b[..at], .. b[(at + len)..]];
            }
            default: // duplicate a run of bytes (shifts everything after it)
            {
                int at = rng.Next(b.Length), len = Math.Min(rng.Next(1, 32), b.Length - at);
                return [.. b[..(at + len)], .. b[at..]];
            }
        }
    }
}
