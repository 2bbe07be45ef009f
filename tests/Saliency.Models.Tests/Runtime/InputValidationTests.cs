using NUnit.Framework;
using Saliency.Models.Runtime;

namespace Saliency.Models.Tests.Runtime;

/// <summary>Bad inputs are refused before any native call with typed exceptions naming the tensor, expected and actual.</summary>
[TestFixture]
internal class InputValidationTests
{
    private InferenceSession _mlp = null!;
    private InferenceSession _two = null!;

    [OneTimeSetUp]
    public void Load()
    {
        _mlp = InferenceSession.Create(RuntimeTestModels.Mlp());
        _two = InferenceSession.Create(RuntimeTestModels.TwoInputsTwoOutputs());
    }

    [OneTimeTearDown]
    public void Release()
    {
        _mlp.Dispose();
        _two.Dispose();
    }

    [Test]
    public void UnknownInputName_NamesItAndListsTheModelsInputs()
    {
        var ex = Assert.Throws<TensorNameException>(() => _mlp.Run([new FloatTensor("pixels", new float[4], [1, 4])]));
        Assert.That(ex!.TensorName, Is.EqualTo("pixels"));
        Assert.That(ex.Message, Does.Contain("'pixels'").And.Contain("x: Float[?,4]"));
    }

    [Test]
    public void MissingInput_IsNamed()
    {
        var ex = Assert.Throws<TensorNameException>(() => _two.Run([new FloatTensor("a", new float[6], [2, 3])]));
        Assert.That(ex!.TensorName, Is.EqualTo("b"));
        Assert.That(ex.Message, Does.Contain("missing"));
    }

    [Test]
    public void DuplicateInput_IsRefused()
    {
        var ex = Assert.Throws<TensorNameException>(() => _mlp.Run([new FloatTensor("x", new float[4], [1, 4]), new FloatTensor("x", new float[4], [1, 4])]));
        Assert.That(ex!.Message, Does.Contain("more than once"));
    }

    [Test]
    public void UnknownOrDuplicateOutputName_IsRefused()
    {
        var input = new[] { new FloatTensor("x", new float[4], [1, 4]) };
        Assert.That(Assert.Throws<TensorNameException>(() => _mlp.Run(input, ["logits"]))!.TensorName, Is.EqualTo("logits"));
        Assert.Throws<TensorNameException>(() => _mlp.Run(input, ["y", "y"]));
        Assert.Throws<ArgumentException>(() => _mlp.Run(input, []));
    }

    [Test]
    public void WrongRank_ReportsExpectedAndActualShapes()
    {
        var ex = Assert.Throws<TensorShapeException>(() => _mlp.Run([new FloatTensor("x", new float[4], [4])]));
        Assert.That(ex, Is.InstanceOf<ArgumentException>());
        Assert.That(ex!.TensorName, Is.EqualTo("x"));
        Assert.That(ex.Expected, Is.EqualTo(new long[] { -1, 4 }));
        Assert.That(ex.Actual, Is.EqualTo(new long[] { 4 }));
        Assert.That(ex.Message, Does.Contain("rank 2").And.Contain("rank 1"));
    }

    [Test]
    public void FixedDimensionMismatch_NamesTheAxis()
    {
        var ex = Assert.Throws<TensorShapeException>(() => _mlp.Run([new FloatTensor("x", new float[10], [2, 5])]));
        Assert.That(ex!.Message, Does.Contain("axis 1 must be 4, not 5"));

        var fixedEx = Assert.Throws<TensorShapeException>(() =>
            _two.Run([new FloatTensor("a", new float[9], [3, 3]), new FloatTensor("b", new float[6], [2, 3])]));
        Assert.That(fixedEx!.TensorName, Is.EqualTo("a"));
        Assert.That(fixedEx.Message, Does.Contain("axis 0 must be 2, not 3"));
    }

    [Test]
    public void DataLengthNotShapeProduct_IsRefused()
    {
        var ex = Assert.Throws<TensorShapeException>(() => _mlp.Run([new FloatTensor("x", new float[7], [2, 4])]));
        Assert.That(ex!.Message, Does.Contain("8 elements").And.Contain("holds 7"));
    }

    [Test]
    public void NegativeOrOverflowingDimension_IsRefused()
    {
        Assert.Throws<TensorShapeException>(() => _mlp.Run([new FloatTensor("x", new float[4], [-1, 4])]));
        Assert.Throws<TensorShapeException>(() => _mlp.Run([new FloatTensor("x", new float[4], [long.MaxValue / 2, 4])]));
    }

    [Test]
    public void NonFloatModelInput_IsTensorElementTypeException()
    {
        using var session = InferenceSession.Create(RuntimeTestModels.Int64Input());
        var ex = Assert.Throws<TensorElementTypeException>(() => session.Run([new FloatTensor("ids", new float[3], [3])]));
        Assert.That(ex!.Expected, Is.EqualTo(TensorElementType.Int64));
        Assert.That(ex.Actual, Is.EqualTo(TensorElementType.Float));
        Assert.That(ex.Message, Does.Contain("'ids'").And.Contain("Int64"));
    }

    [Test]
    public void NonFloatModelOutput_MustBeLeftOutByName()
    {
        using var session = InferenceSession.Create(RuntimeTestModels.Int64Output());
        var input = new[] { new FloatTensor("x", [-1, 2, -3, 4], [1, 4]) };
        var ex = Assert.Throws<TensorElementTypeException>(() => session.Run(input));
        Assert.That(ex!.TensorName, Is.EqualTo("shape"));
        Assert.Throws<TensorElementTypeException>(() => session.Run(input, ["shape"]));
        // Asking for the float output only works.
        Assert.That(session.Run(input, ["y"])[0].Data, Is.EqualTo(new float[] { 0, 2, 0, 4 }));
    }

    [Test]
    public void RunInto_BadOutputBuffers_AreRefused()
    {
        var input = new[] { new FloatTensor("x", new float[8], [2, 4]) };
        Assert.Throws<TensorShapeException>(() => _mlp.RunInto(input, [new FloatTensor("y", new float[5], [2, 3])]));
        Assert.Throws<TensorShapeException>(() => _mlp.RunInto(input, [new FloatTensor("y", new float[6], [6])]));
        Assert.Throws<TensorNameException>(() => _mlp.RunInto(input, [new FloatTensor("z", new float[6], [2, 3])]));
    }

    [Test]
    public void NullArguments_AreArgumentNullException()
    {
        Assert.Throws<ArgumentNullException>(() => _mlp.Run(null!));
        Assert.Throws<ArgumentNullException>(() => _mlp.Run([null!]));
        Assert.Throws<ArgumentNullException>(() => _mlp.Run([new FloatTensor("x", null!, [1, 4])]));
        Assert.Throws<ArgumentNullException>(() => _mlp.Run([new FloatTensor("x", new float[4], null!)]));
    }

    [Test]
    public void NaNAndInfinityInputs_AreAllowedAndCounted()
    {
        // Row 0 finite, row 1 holds NaN, +∞ and −∞, row 2 finite.
        float[] x = RuntimeTestModels.RandomData(12, seed: 21);
        x[4] = float.NaN;
        x[5] = float.PositiveInfinity;
        x[6] = float.NegativeInfinity;
        var result = _mlp.Run([new FloatTensor("x", x, [3, 4])]);

        Assert.That(result.Diagnostics.NonFiniteInputCount, Is.EqualTo(3));
        Assert.That(result.Diagnostics.NonFiniteInputs["x"], Is.EqualTo(3));
        Assert.That(result.Diagnostics.HasNonFiniteInputs, Is.True);
        // Finite rows are unaffected by the bad row.
        double[] reference = RuntimeTestModels.MlpReference(x, 3);
        foreach (int i in new[] { 0, 1, 2, 6, 7, 8 })
            Assert.That(result[0].Data[i], Is.EqualTo(reference[i]).Within(1e-5 * Math.Max(1, Math.Abs(reference[i]))));
        Assert.That(result.Diagnostics.NonFiniteOutputCount, Is.EqualTo(result[0].CountNonFinite()));
    }

    [Test]
    public void CountNonFinite_ExactOnLargeFiniteSumsToo()
    {
        // The vectorised fast path must not be fooled by sums that overflow to ∞ with finite terms.
        var data = Enumerable.Repeat(3e38f, 10).ToArray();
        Assert.That(FloatTensor.CountNonFinite(data), Is.EqualTo(0));
        data[3] = float.NaN;
        data[9] = float.NegativeInfinity;
        Assert.That(FloatTensor.CountNonFinite(data), Is.EqualTo(2));
        Assert.That(FloatTensor.CountNonFinite([float.PositiveInfinity, float.NegativeInfinity]), Is.EqualTo(2));
    }
}
