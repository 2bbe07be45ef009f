using NUnit.Framework;
using Saliency.Models.Runtime;
using Ort = Microsoft.ML.OnnxRuntime;

namespace Saliency.Models.Tests.Runtime;

/// <summary>The official binding's OnnxRuntimeException becomes our OrtException with ONNX Runtime's code and message.</summary>
[TestFixture]
internal class OrtExceptionTests
{
    [TestCase("[ErrorCode:InvalidProtobuf] Load model failed", OrtErrorCode.InvalidProtobuf, "Load model failed")]
    [TestCase("[ErrorCode:InvalidArgument] Got invalid dimensions", OrtErrorCode.InvalidArgument, "Got invalid dimensions")]
    [TestCase("[ErrorCode:NotImplemented] Could not find an implementation", OrtErrorCode.NotImplemented, "Could not find an implementation")]
    [TestCase("[ErrorCode:ShapeInferenceNotRegistered] ep", OrtErrorCode.EpFail, "ep")]
    [TestCase("[ErrorCode:RequirementNotRegistered] cancelled", OrtErrorCode.ModelLoadCanceled, "cancelled")]
    [TestCase("[ErrorCode:SomethingNew] text", OrtErrorCode.Fail, "text")]
    [TestCase("no prefix at all", OrtErrorCode.Fail, "no prefix at all")]
    public void Message_IsSplitIntoCodeAndText(string message, OrtErrorCode code, string text)
    {
        var (parsed, rest) = OrtException.ParseMessage(message);
        Assert.That(parsed, Is.EqualTo(code));
        Assert.That(rest, Is.EqualTo(text));
    }

    [Test]
    public void RealErrors_CarryCodeMessageAndTheBindingsException()
    {
        var bad = Assert.Throws<OrtException>(() => InferenceSession.Create(new byte[] { 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01 }));
        Assert.That(bad!.ErrorCode, Is.EqualTo(OrtErrorCode.InvalidProtobuf));
        Assert.That(bad.InnerException, Is.InstanceOf<Ort.OnnxRuntimeException>());
        Assert.That(bad.OrtMessage, Does.Not.StartWith("[ErrorCode"));
        Assert.That(bad.InnerException!.Message, Does.EndWith(bad.OrtMessage));

        // A run-time error: the output buffer's dynamic dimension disagrees with what the model produces.
        using var session = InferenceSession.Create(RuntimeTestModels.Mlp());
        var run = Assert.Throws<OrtException>(() => session.RunInto(
            [new FloatTensor("x", new float[8], [2, 4])], [new FloatTensor("y", new float[3], [1, 3])]));
        Assert.That(run!.ErrorCode, Is.Not.EqualTo(OrtErrorCode.Ok));
        Assert.That(run.InnerException, Is.InstanceOf<Ort.OnnxRuntimeException>());
    }
}
