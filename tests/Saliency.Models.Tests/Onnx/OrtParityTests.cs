using NUnit.Framework;
using Saliency.Models.Onnx;
using Saliency.Models.Onnx.Proto;
using Saliency.Models.Runtime;
using Saliency.TestSupport;

namespace Saliency.Models.Tests.Onnx;

/// <summary>
/// ONNX Runtime (float32) forward passes of C#-built models against the independent float64
/// <see cref="ReferenceEvaluator"/>, within 1e-4 relative (max-norm over each output tensor).
/// </summary>
[TestFixture]
internal sealed class OrtParityTests
{
    private const double RelTol = 1e-4;

    private static IEnumerable<TestCaseData> Models()
    {
        yield return new TestCaseData(TestModels.Mlp(), new long[] { 5, 6 }).SetArgDisplayNames("Mlp-Relu");
        yield return new TestCaseData(TestModels.Mlp(21, "Tanh"), new long[] { 3, 6 }).SetArgDisplayNames("Mlp-Tanh");
        yield return new TestCaseData(TestModels.Mlp(22, "Sigmoid"), new long[] { 3, 6 }).SetArgDisplayNames("Mlp-Sigmoid");
        yield return new TestCaseData(TestModels.Mlp(23, "LeakyRelu"), new long[] { 3, 6 }).SetArgDisplayNames("Mlp-LeakyRelu");
        yield return new TestCaseData(TestModels.SmallCnn(), new long[] { 4, 3, 16, 16 }).SetArgDisplayNames("SmallCnn");
        yield return new TestCaseData(TestModels.LeNet(), new long[] { 3, 1, 28, 28 }).SetArgDisplayNames("LeNet");
        yield return new TestCaseData(TestModels.ResNetBlock(), new long[] { 3, 3, 8, 8 }).SetArgDisplayNames("ResNetBlock");
        yield return new TestCaseData(RandomModels.ResNet18(5, classes: 10, size: 32, widthScale: 0.125), new long[] { 2, 3, 32, 32 })
            .SetArgDisplayNames("ResNet18-shaped-small");
        yield return new TestCaseData(OpCoverageModel(), new long[] { 2, 4, 11, 11 }).SetArgDisplayNames("OpCoverage");
        yield return new TestCaseData(CeilModePoolModel(), new long[] { 2, 3, 7, 9 }).SetArgDisplayNames("CeilModePools");
        yield return new TestCaseData(OnnxModel.Load(RepoFiles.LeNetModel).Proto, new long[] { 3, 1, 28, 28 })
            .SetArgDisplayNames("BundledLeNet");
    }

    /// <summary>
    /// Every op of the builder with non-default attributes: grouped, strided, dilated Conv with asymmetric pads;
    /// overlapping padded MaxPool; AveragePool with and without counting pads; BatchNorm; MatMul; broadcast
    /// Sub/Mul/Div; Transpose; Concat; Reshape; Clip; Dropout; Identity; Softmax; Flatten; Gemm with alpha/beta.
    /// </summary>
    private static ModelProto OpCoverageModel()
    {
        var rng = new Random(77);
        var b = new OnnxGraphBuilder("op_coverage");
        string x = b.Input("input", OnnxElementType.Float, "N", 4, 11, 11);
        string c1 = b.Conv2d(x, 4, 6, 3, rng, group: 2, name: "gconv");                                   // [N,6,9,9]
        string w2 = b.Initializer("w2", RandomFloats(rng, 6 * 6 * 3 * 3), 6, 6, 3, 3);
        string c2 = b.Conv(c1, w2, null, strides: [2, 2], pads: [1, 0, 2, 1], dilations: [2, 2], name: "sdconv");   // [N,6,4,3]
        string bn = b.BatchNorm2d(c2, 6, rng, name: "bn");
        string act = b.LeakyRelu(bn, 0.2f);
        string mp = b.MaxPool(act, [3, 3], [1, 1], [1, 1, 1, 1]);                                             // [N,6,4,3]
        string ap = b.AveragePool(mp, [2, 2], [1, 1], [1, 1, 0, 0]);                                          // [N,6,4,3]
        string api = b.AveragePool(mp, [3, 3], [1, 1], [1, 1, 1, 1], countIncludePad: true);                // [N,6,4,3]
        string cat = b.Concat([ap, api], axis: 1);                                                            // [N,12,4,3]
        string shift = b.Initializer("shift", RandomFloats(rng, 12), 12, 1, 1);
        string scale = b.Initializer("scale", RandomFloats(rng, 3, 0.5f, 1.5f), 3);
        string z = b.Div(b.Mul(b.Sub(cat, shift), scale), b.Initializer("two", [2f]));
        string t = b.Transpose(z, [0, 2, 3, 1]);                                                              // [N,4,3,12]
        string r = b.Reshape(t, [0, 12, -1]);                                                                 // [N,12,12]
        string mm = b.MatMul(r, b.Initializer("m", RandomFloats(rng, 12 * 5), 12, 5));                      // [N,12,5]
        string cl = b.Clip(b.Tanh(b.Identity(b.Dropout(mm))), -0.5f, 0.6f);
        string f = b.Flatten(cl);                                                                             // [N,60]
        string g = b.Gemm(f, b.Initializer("gw", RandomFloats(rng, 60 * 7), 60, 7), b.Initializer("gb", RandomFloats(rng, 7), 7),
                          alpha: 0.7f, beta: 1.3f, name: "logits_raw");
        string sg = b.Add(b.Sigmoid(g), b.Relu(g), name: "logits");
        b.Output(sg, OnnxElementType.Float, "N", 7);
        b.Output(b.Softmax(sg, axis: 1, name: "probs"), OnnxElementType.Float, "N", 7);
        return b.Build();
    }

    /// <summary>MaxPool and AveragePool (count_include_pad = 0) in ceil mode, with and without pads, overlapping or not.</summary>
    private static ModelProto CeilModePoolModel()
    {
        var b = new OnnxGraphBuilder("ceil_pools");
        string x = b.Input("input", OnnxElementType.Float, "N", 3, 7, 9);
        var ceil = OnnxAttributes.Int("ceil_mode", 1);
        string m1 = b.Node("MaxPool", [x], [OnnxAttributes.Ints("kernel_shape", 2, 2), OnnxAttributes.Ints("strides", 2, 2), ceil]);       // [N,3,4,5]
        string m2 = b.Node("MaxPool", [x], [OnnxAttributes.Ints("kernel_shape", 3, 3), OnnxAttributes.Ints("strides", 2, 3),
                                            OnnxAttributes.Ints("pads", 1, 0, 1, 1), ceil]);                                               // [N,3,4,3]: the 4th column window would start in the end padding
        string a1 = b.Node("AveragePool", [x], [OnnxAttributes.Ints("kernel_shape", 2, 2), OnnxAttributes.Ints("strides", 2, 2), ceil]);   // [N,3,4,5]
        string a2 = b.Node("AveragePool", [x], [OnnxAttributes.Ints("kernel_shape", 3, 2), OnnxAttributes.Ints("strides", 2, 2),
                                                OnnxAttributes.Ints("pads", 1, 1, 0, 0), ceil]);                                           // [N,3,4,5]
        string cat = b.Concat([b.Flatten(m1), b.Flatten(m2), b.Flatten(a1), b.Flatten(a2)], axis: 1, name: "logits");
        b.Output(cat, OnnxElementType.Float, "N", 3 * (20 + 12 + 20 + 20));
        return b.Build();
    }

    private static float[] RandomFloats(Random rng, int n, float lo = -1f, float hi = 1f) =>
        Enumerable.Range(0, n).Select(_ => lo + (hi - lo) * (float)rng.NextDouble()).ToArray();

    [TestCaseSource(nameof(Models))]
    public void OrtForward_EqualsFloat64Reference(ModelProto model, long[] inputShape)
    {
        var onnx = OnnxModel.FromProto(model);
        string inputName = onnx.Inputs.Single().Name;
        var x = TestModels.RandomFloatTensor(31, inputShape); // values exactly representable in float
        var reference = new ReferenceEvaluator(model).Run(new Dictionary<string, ReferenceTensor> { [inputName] = x });

        using var session = InferenceSession.Create(onnx.ToBytes());
        var result = session.Run([new FloatTensor(inputName, x.ToFloats(), inputShape)]);

        Assert.That(result.Count, Is.EqualTo(onnx.Outputs.Count));
        foreach (var output in result)
        {
            var expected = reference[output.Name];
            Assert.That(output.Shape, Is.EqualTo(expected.Shape), $"{output.Name} shape");
            var declared = onnx.Outputs.Single(o => o.Name == output.Name).Shape!;
            for (int a = 0; a < declared.Length; a++)
                if (declared[a] >= 0) Assert.That(expected.Shape[a], Is.EqualTo(declared[a]), $"{output.Name}: declared dim {a}");
            double scale = expected.Data.Max(Math.Abs);
            double spread = expected.Data.Max() - expected.Data.Min();
            Assert.That(spread, Is.GreaterThan(1e-3), $"{output.Name}: the reference output is not degenerate");
            double maxErr = 0;
            for (int i = 0; i < expected.Length; i++) maxErr = Math.Max(maxErr, Math.Abs(output.Data[i] - expected.Data[i]));
            TestContext.Out.WriteLine($"{output.Name}: max |ORT − ref| = {maxErr:E2}, ‖ref‖∞ = {scale:G4}");
            Assert.That(maxErr, Is.LessThanOrEqualTo(RelTol * scale), $"{output.Name}: ‖ORT − ref‖∞ / ‖ref‖∞ = {maxErr / scale:E2}");
        }
    }

    /// <summary>
    /// Random Conv / MaxPool / AveragePool attribute settings (kernel, strides, asymmetric pads, dilations, groups,
    /// ceil_mode, count_include_pad, auto_pad), each checked against ONNX Runtime: the evaluator's window geometry
    /// is what the Jacobian exporter's finite-difference tests lean on.
    /// </summary>
    [Test]
    public void RandomWindowGeometries_MatchOnnxRuntime()
    {
        var rng = new Random(2024);
        int checkedCount = 0;
        for (int t = 0; t < 40; t++)
        {
            long h = rng.Next(4, 10), w = rng.Next(4, 10), c = 2 * rng.Next(1, 3);
            long[] kernel = [rng.Next(1, 4), rng.Next(1, 4)];
            long[] strides = [rng.Next(1, 4), rng.Next(1, 4)];
            long[] dil = [rng.Next(1, 3), rng.Next(1, 3)];
            long[] pads = [.. Enumerable.Range(0, 4).Select(i => (long)rng.Next(0, (int)kernel[i % 2]))]; // pads < kernel, as ORT requires for pools
            string autoPad = rng.Next(6) switch { 0 => "SAME_UPPER", 1 => "SAME_LOWER", 2 => "VALID", _ => "NOTSET" };
            bool ceil = rng.Next(2) == 0, includePad = !ceil && rng.Next(2) == 0;
            long group = rng.Next(2) == 0 ? 1 : 2;

            var b = new OnnxGraphBuilder("geometry");
            string x = b.Input("input", OnnxElementType.Float, "N", c, h, w);
            string wt = b.Initializer("w", RandomFloats(rng, (int)(3 * c * kernel[0] * kernel[1])), 3 * group, c / group, kernel[0], kernel[1]);
            // ONNX Runtime implements SAME auto-padding only without dilation.
            long[] convDil = autoPad.StartsWith("SAME") ? [1, 1] : dil;
            var convAttrs = new List<AttributeProto> { OnnxAttributes.Ints("strides", strides), OnnxAttributes.Ints("dilations", convDil), OnnxAttributes.Int("group", group) };
            convAttrs.Add(autoPad == "NOTSET" ? OnnxAttributes.Ints("pads", pads) : OnnxAttributes.String("auto_pad", autoPad));
            var poolAttrs = new List<AttributeProto> { OnnxAttributes.Ints("kernel_shape", kernel), OnnxAttributes.Ints("strides", strides), OnnxAttributes.Ints("pads", pads) };
            if (ceil) poolAttrs.Add(OnnxAttributes.Int("ceil_mode", 1));
            var maxAttrs = poolAttrs.Append(OnnxAttributes.Ints("dilations", dil)).ToList();
            var avgAttrs = includePad ? poolAttrs.Append(OnnxAttributes.Int("count_include_pad", 1)).ToList() : poolAttrs;
            b.OutputWithUnknownShape(b.Node("Conv", [x, wt], convAttrs, name: "conv"), OnnxElementType.Float);
            b.OutputWithUnknownShape(b.Node("MaxPool", [x], maxAttrs, name: "max"), OnnxElementType.Float);
            b.OutputWithUnknownShape(b.Node("AveragePool", [x], avgAttrs, name: "avg"), OnnxElementType.Float);
            var model = b.Build();
            string config = $"case {t}: x [2,{c},{h},{w}] k [{string.Join(",", kernel)}] s [{string.Join(",", strides)}] d [{string.Join(",", dil)}] conv d [{string.Join(",", convDil)}] " +
                            $"pads [{string.Join(",", pads)}] {autoPad} group {group} ceil {ceil} include_pad {includePad}";

            var input = TestModels.RandomFloatTensor(t, 2, c, h, w);
            Dictionary<string, ReferenceTensor> reference;
            try { reference = new ReferenceEvaluator(model).Run(new Dictionary<string, ReferenceTensor> { ["input"] = input }); }
            catch (InvalidOperationException e) when (e.Message.Contains("larger than the padded input"))
            {
                continue; // window bigger than the input: no output to compare (ORT rejects it too)
            }
            using var session = InferenceSession.Create(OnnxModel.FromProto(model).ToBytes());
            var ort = session.Run([new FloatTensor("input", input.ToFloats(), input.Shape)]);
            foreach (var o in ort)
            {
                var expected = reference[o.Name];
                Assert.That(o.Shape, Is.EqualTo(expected.Shape), $"{o.Name} shape, {config}");
                double scale = Math.Max(1e-3, expected.Data.Max(Math.Abs));
                double err = expected.Data.Select((v, i) => Math.Abs(v - o.Data[i])).DefaultIfEmpty(0).Max();
                Assert.That(err, Is.LessThanOrEqualTo(RelTol * scale), $"{o.Name}, {config}");
            }
            checkedCount++;
        }
        TestContext.Out.WriteLine($"{checkedCount} of 40 random geometries compared");
        Assert.That(checkedCount, Is.GreaterThan(25));
    }

    [Test]
    public void OrtSessionMetadata_AgreesWithOurInspection()
    {
        var onnx = OnnxModel.FromProto(TestModels.SmallCnn());
        using var session = InferenceSession.Create(onnx.ToBytes());
        Assert.That(session.Inputs.Select(i => i.Name), Is.EqualTo(onnx.Inputs.Select(i => i.Name)));
        Assert.That(session.Inputs[0].Shape, Is.EqualTo(onnx.Inputs[0].Shape));
        Assert.That(session.Outputs.Select(o => o.Name), Is.EqualTo(onnx.Outputs.Select(o => o.Name)));
        Assert.That(session.Outputs[0].Shape, Is.EqualTo(onnx.Outputs[0].Shape));
    }

    [Test]
    public void OrtMaxPoolIndices_MatchTheReference()
    {
        // Indices are int64, which our float binding does not read; so the model turns them into floats with Cast.
        var b = new OnnxGraphBuilder("indices");
        string x = b.Input("input", OnnxElementType.Float, "N", 2, 7, 6);
        var (y, idx) = b.MaxPoolWithIndices(x, [3, 2], [2, 1], [1, 0, 1, 1]);
        b.Output(y, OnnxElementType.Float, "N", 2, 4, 6);
        string asFloat = b.Node("Cast", [idx], [OnnxAttributes.Int("to", (long)OnnxElementType.Float)], name: "indices_f");
        b.Output(asFloat, OnnxElementType.Float, "N", 2, 4, 6);
        var model = b.Build();

        var xs = TestModels.RandomFloatTensor(41, 3, 2, 7, 6);
        using var session = InferenceSession.Create(OnnxModel.FromProto(model).ToBytes());
        var ort = session.Run([new FloatTensor("input", xs.ToFloats(), xs.Shape)]);

        // The reference evaluator has no Cast; read its MaxPool outputs directly.
        var refModel = model.Clone();
        refModel.Graph.Node.RemoveAt(1);
        refModel.Graph.Output.RemoveAt(1);
        var ev = new ReferenceEvaluator(refModel);
        var all = ev.RunAll(new Dictionary<string, ReferenceTensor> { ["input"] = xs });
        Assert.That(ort["indices_f"].Data.Select(v => (double)v), Is.EqualTo(all[idx].Data));
        Assert.That(ort[y].Data.Select(v => (double)v), Is.EqualTo(all[y].Data));
    }
}
