using NUnit.Framework;
using Saliency.Models.Runtime;

namespace Saliency.Models.Tests.Runtime;

/// <summary>Bad model files reach ONNX Runtime and come back as typed exceptions, never as a crash.</summary>
[TestFixture]
internal class CorruptModelTests
{
    [Test]
    public void MissingFile_IsFileNotFound()
    {
        var ex = Assert.Throws<FileNotFoundException>(() => InferenceSession.Create("/nonexistent/model.onnx"));
        Assert.That(ex!.Message, Does.Contain("/nonexistent/model.onnx"));
    }

    [Test]
    public void EmptyBytes_AreRefused()
    {
        Assert.Throws<ArgumentException>(() => InferenceSession.Create(Array.Empty<byte>()));
        Assert.Throws<ArgumentNullException>(() => InferenceSession.Create((byte[])null!));
    }

    [Test]
    public void GarbageBytes_AreInvalidProtobuf()
    {
        var ex = Assert.Throws<OrtException>(() => InferenceSession.Create(new byte[] { 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01 }));
        Assert.That(ex!.ErrorCode, Is.EqualTo(OrtErrorCode.InvalidProtobuf));
        Assert.That(ex.Message, Does.Contain("InvalidProtobuf"));
    }

    [Test]
    public void TruncatedFile_IsOrtException()
    {
        byte[] model = RuntimeTestModels.Mlp();
        string path = Path.Combine(Path.GetTempPath(), $"saliency-truncated-{Guid.NewGuid():N}.onnx");
        File.WriteAllBytes(path, model[..(model.Length / 2)]);
        try
        {
            var ex = Assert.Throws<OrtException>(() => InferenceSession.Create(path));
            Assert.That(ex!.OrtMessage, Is.Not.Empty);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void UnknownOperator_IsOrtExceptionNamingIt()
    {
        byte[] model = RuntimeTestModels.Mlp();
        var proto = Saliency.Models.Onnx.Proto.ModelProto.Parser.ParseFrom(model);
        proto.Graph.Node[2].OpType = "NoSuchOp";
        var ex = Assert.Throws<OrtException>(() => InferenceSession.Create(Google.Protobuf.MessageExtensions.ToByteArray(proto)));
        Assert.That(ex!.OrtMessage, Does.Contain("NoSuchOp"));
    }

    /// <summary>
    /// Seeded fuzz: 1,200 corrupted models (truncations, bit flips, byte overwrites) from two valid ones. Each
    /// either loads — then it is run once with inputs made from its metadata — or fails with a typed exception.
    /// </summary>
    [Test]
    public void FuzzedModelBytes_LoadOrThrowTypedExceptions()
    {
        var rng = new Random(20260522);
        byte[][] seeds = [RuntimeTestModels.Mlp(), RuntimeTestModels.TwoInputsTwoOutputs()];
        int loaded = 0, rejected = 0, ran = 0;
        var rejectedCodes = new HashSet<OrtErrorCode>();
        for (int c = 0; c < 1_200; c++)
        {
            byte[] bytes = (byte[])seeds[c % 2].Clone();
            switch (rng.Next(3))
            {
                case 0:
                    bytes = bytes[..rng.Next(1, bytes.Length)];
                    break;
                case 1:
                    for (int k = rng.Next(1, 9); k > 0; k--) bytes[rng.Next(bytes.Length)] ^= (byte)(1 << rng.Next(8));
                    break;
                default:
                    for (int k = rng.Next(1, 4); k > 0; k--) bytes[rng.Next(bytes.Length)] = (byte)rng.Next(256);
                    break;
            }

            InferenceSession session;
            try
            {
                session = InferenceSession.Create(bytes, new InferenceSessionOptions { IntraOpThreads = 1 });
            }
            catch (OrtException e)
            {
                rejected++;
                rejectedCodes.Add(e.ErrorCode);
                Assert.That(e.OrtMessage, Is.Not.Empty, $"case {c}");
                continue;
            }
            using (session)
            {
                loaded++;
                if (TryRunOnce(session)) ran++;
            }
        }
        TestContext.Out.WriteLine($"fuzz: {loaded} loaded ({ran} ran), {rejected} rejected with codes {string.Join(",", rejectedCodes)}");
        Assert.That(loaded + rejected, Is.EqualTo(1_200));
        Assert.That(rejected, Is.GreaterThan(100), "corruption must actually be exercised");
        Assert.That(rejectedCodes, Does.Contain(OrtErrorCode.InvalidProtobuf));
    }

    /// <summary>Runs a loaded (possibly corrupted) model once; only typed exceptions may come out.</summary>
    private static bool TryRunOnce(InferenceSession session)
    {
        var inputs = new List<FloatTensor>();
        foreach (var input in session.Inputs)
        {
            long[] shape = input.Shape.Select(d => d < 0 ? 2 : Math.Min(d, 64)).ToArray();
            long count = shape.Aggregate(1L, (p, d) => p * d);
            if (input.ElementType != TensorElementType.Float || count > 1 << 16) return false;
            inputs.Add(new FloatTensor(input.Name, new float[count], shape));
        }
        try
        {
            session.Run(inputs, session.Outputs.Where(o => o.ElementType == TensorElementType.Float).Select(o => o.Name).DefaultIfEmpty("(none)").ToList());
            return true;
        }
        catch (Exception e) when (e is OrtException or ArgumentException)
        {
            return false;
        }
    }
}
