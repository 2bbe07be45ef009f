using NUnit.Framework;
using Saliency.Models.Onnx;
using Saliency.Models.Onnx.Proto;
using Saliency.Models.Runtime;
using Saliency.TestSupport;
using static Saliency.Models.Onnx.OnnxAttributes;

namespace Saliency.Models.Tests.Onnx;

/// <summary>
/// The ops derivative graphs are built from: hand-computed cases, the adjoint identity of ConvTranspose
/// against Conv, and ONNX Runtime parity of a graph that uses all of them.
/// </summary>
[TestFixture]
internal sealed class ReferenceEvaluatorBackwardOpsTests
{
    private const double Tol = 1e-12;

    /// <summary>One node on float inputs x0, x1, … plus int64 initializers (named i0, i1, … appended after the float inputs).</summary>
    private static ReferenceTensor Run(string op, ReferenceTensor[] inputs, long[][]? int64Inputs = null, IEnumerable<AttributeProto>? attrs = null)
    {
        var model = TestModels.SingleNode(op, inputs.Select(t => (long[]?)t.Shape).ToArray(), attrs, addInitializers: (b, names) =>
        {
            for (int i = 0; i < (int64Inputs?.Length ?? 0); i++)
                names.Add(int64Inputs![i].Length == 0 && i > 0 ? "" : b.Initializer($"i{i}", int64Inputs[i], int64Inputs[i].Length));
        });
        var feeds = inputs.Select((t, i) => (name: $"x{i}", t)).ToDictionary(p => p.name, p => p.t);
        return new ReferenceEvaluator(model).Run(feeds)["y"];
    }

    private static ReferenceTensor T(double[] data, params long[] shape) => new(data, shape);

    [Test]
    public void UnaryMath_MatchesClosedForms()
    {
        var x = T([-2, -0.5, 0.25, 4], 4);
        Assert.That(Run("Neg", [x]).Data, Is.EqualTo(new[] { 2, 0.5, -0.25, -4 }));
        Assert.That(Run("Abs", [x]).Data, Is.EqualTo(new[] { 2, 0.5, 0.25, 4 }));
        Assert.That(Run("Reciprocal", [x]).Data, Is.EqualTo(new[] { -0.5, -2, 4, 0.25 }));
        Assert.That(Run("Sqrt", [T([0.25, 4, 9], 3)]).Data, Is.EqualTo(new[] { 0.5, 2, 3 }));
        Assert.That(Run("Exp", [T([0, Math.Log(3)], 2)]).Data, Is.EqualTo(new[] { 1, 3.0 }).Within(Tol));
        Assert.That(Run("Log", [T([1, Math.E * Math.E], 2)]).Data, Is.EqualTo(new[] { 0, 2.0 }).Within(Tol));
        Assert.That(Run("Pow", [T([2, 3, 4], 3), T([2], [])]).Data, Is.EqualTo(new double[] { 4, 9, 16 }));
        Assert.That(Run("Softplus", [T([0, Math.Log(Math.E - 1), 1000], 3)]).Data, Is.EqualTo(new[] { Math.Log(2), 1, 1000 }).Within(Tol));
        var ls = Run("LogSoftmax", [T([0, Math.Log(3)], 1, 2)]).Data;
        Assert.That(ls, Is.EqualTo(new[] { Math.Log(0.25), Math.Log(0.75) }).Within(Tol));
    }

    [Test]
    public void ComparisonsLogicWhereCast_UseZeroOneBooleans()
    {
        var a = T([1, 2, 3], 3);
        var b = T([2], []);
        Assert.That(Run("Greater", [a, b]).Data, Is.EqualTo(new double[] { 0, 0, 1 }));
        Assert.That(Run("GreaterOrEqual", [a, b]).Data, Is.EqualTo(new double[] { 0, 1, 1 }));
        Assert.That(Run("Less", [a, b]).Data, Is.EqualTo(new double[] { 1, 0, 0 }));
        Assert.That(Run("LessOrEqual", [a, b]).Data, Is.EqualTo(new double[] { 1, 1, 0 }));
        Assert.That(Run("Equal", [a, b]).Data, Is.EqualTo(new double[] { 0, 1, 0 }));
        var p = T([0, 0, 1, 1], 4);
        var q = T([0, 1, 0, 1], 4);
        Assert.That(Run("And", [p, q]).Data, Is.EqualTo(new double[] { 0, 0, 0, 1 }));
        Assert.That(Run("Or", [p, q]).Data, Is.EqualTo(new double[] { 0, 1, 1, 1 }));
        Assert.That(Run("Xor", [p, q]).Data, Is.EqualTo(new double[] { 0, 1, 1, 0 }));
        Assert.That(Run("Not", [p]).Data, Is.EqualTo(new double[] { 1, 1, 0, 0 }));
        // Where broadcasts all three: a row condition against a column of choices.
        var w = Run("Where", [T([1, 0, 1], 1, 3), T([10, 20], 2, 1), T([-1], [])]);
        Assert.That(w.Shape, Is.EqualTo(new long[] { 2, 3 }));
        Assert.That(w.Data, Is.EqualTo(new double[] { 10, -1, 10, 20, -1, 20 }));
        Assert.That(Run("Cast", [T([-1.7, 0.2, 2.9], 3)], attrs: [Int("to", (long)OnnxElementType.Int64)]).Data, Is.EqualTo(new double[] { -1, 0, 2 }), "truncation toward zero");
        Assert.That(Run("Cast", [T([-1.7, 0, 2.9], 3)], attrs: [Int("to", (long)OnnxElementType.Bool)]).Data, Is.EqualTo(new double[] { 1, 0, 1 }));
        Assert.That(Run("Cast", [T([0.1], 1)], attrs: [Int("to", (long)OnnxElementType.Float)]).Data, Is.EqualTo(new[] { 0.1 }), "float casts keep float64 values");
    }

    [Test]
    public void ShapeOps_MoveValuesAsDefined()
    {
        var x = TestModels.RandomTensor(1, 2, 3, 4);
        Assert.That(Run("Shape", [x]).Data, Is.EqualTo(new double[] { 2, 3, 4 }));
        Assert.That(Run("Shape", [x], attrs: [Int("start", 1), Int("end", -1)]).Data, Is.EqualTo(new double[] { 3 }));
        Assert.That(Run("Size", [x]).Data, Is.EqualTo(new double[] { 24 }));

        var u = Run("Unsqueeze", [x], [[0, -1]]);
        Assert.That(u.Shape, Is.EqualTo(new long[] { 1, 2, 3, 4, 1 }));
        Assert.That(Run("Squeeze", [u], [[0]]).Shape, Is.EqualTo(new long[] { 2, 3, 4, 1 }));
        Assert.That(Run("Squeeze", [u]).Shape, Is.EqualTo(new long[] { 2, 3, 4 }), "no axes: all unit dims");

        var e = Run("Expand", [T([1, 2], 2, 1)], [[2, 3]]);
        Assert.That(e.Data, Is.EqualTo(new double[] { 1, 1, 1, 2, 2, 2 }));

        var m = T(Enumerable.Range(0, 12).Select(i => (double)i).ToArray(), 3, 4);
        var s = Run("Slice", [m], [[1, 0], [3, 4], [0, 1], [1, 2]]);
        Assert.That(s.Shape, Is.EqualTo(new long[] { 2, 2 }));
        Assert.That(s.Data, Is.EqualTo(new double[] { 4, 6, 8, 10 }), "rows 1..2, every other column");
        var rev = Run("Slice", [m], [[-1], [-1000], [1], [-1]]);
        Assert.That(rev.Data.Take(4), Is.EqualTo(new double[] { 3, 2, 1, 0 }), "negative step reverses, ends clamp");
        var big = Run("Slice", [m], [[1], [long.MaxValue], [0]]);
        Assert.That(big.Shape, Is.EqualTo(new long[] { 2, 4 }), "an INT64_MAX end means 'to the end'");

        var g = Run("Gather", [m], [[2, -3]], [Int("axis", 0)]);
        Assert.That(g.Data, Is.EqualTo(new double[] { 8, 9, 10, 11, 0, 1, 2, 3 }));
        var g1 = Run("Gather", [m], [[3]], [Int("axis", 1)]);
        Assert.That(g1.Shape, Is.EqualTo(new long[] { 3, 1 }));
        Assert.That(g1.Data, Is.EqualTo(new double[] { 3, 7, 11 }));

        var c = new OnnxGraphBuilder("cos");
        string shape = c.Initializer("s", [2L, 3L], 2);
        string y = c.Node("ConstantOfShape", [shape], [Tensor("value", OnnxTensors.FromFloats("v", [2.5f], [1]))], name: "y");
        c.OutputWithUnknownShape(y, OnnxElementType.Float);
        var cv = new ReferenceEvaluator(c.Build()).Run(new Dictionary<string, ReferenceTensor>())["y"];
        Assert.That(cv.Shape, Is.EqualTo(new long[] { 2, 3 }));
        Assert.That(cv.Data, Is.All.EqualTo(2.5));
    }

    [Test]
    public void Reductions_AndVariadicOps()
    {
        var m = T([1, 2, 3, 4, 5, 6], 2, 3);
        Assert.That(Run("ReduceSum", [m], [[1]]).Data, Is.EqualTo(new double[] { 6, 15 }));
        Assert.That(Run("ReduceSum", [m], [[1]]).Shape, Is.EqualTo(new long[] { 2, 1 }), "keepdims defaults to 1");
        Assert.That(Run("ReduceSum", [m], [[0]], [Int("keepdims", 0)]).Data, Is.EqualTo(new double[] { 5, 7, 9 }));
        Assert.That(Run("ReduceSum", [m]).Data, Is.EqualTo(new double[] { 21 }), "no axes: everything");
        Assert.That(Run("ReduceSum", [m], attrs: [Int("noop_with_empty_axes", 1)]).Data, Is.EqualTo(m.Data));
        Assert.That(Run("ReduceMean", [m], attrs: [Ints("axes", 1)]).Data, Is.EqualTo(new double[] { 2, 5 }));
        Assert.That(Run("ReduceMax", [m], attrs: [Ints("axes", 0)]).Data, Is.EqualTo(new double[] { 4, 5, 6 }));
        Assert.That(Run("Sum", [m, T([10, 20, 30], 3), T([100], [])]).Data, Is.EqualTo(new double[] { 111, 122, 133, 114, 125, 136 }));
        Assert.That(Run("Max", [m, T([3], [])]).Data, Is.EqualTo(new double[] { 3, 3, 3, 4, 5, 6 }));
        Assert.That(Run("Min", [m, T([3], [])]).Data, Is.EqualTo(new double[] { 1, 2, 3, 3, 3, 3 }));
        var gm = Run("GlobalMaxPool", [TestModels.RandomTensor(3, 2, 2, 3, 3)]);
        Assert.That(gm.Shape, Is.EqualTo(new long[] { 2, 2, 1, 1 }));
    }

    [Test]
    public void ScatterElements_AddsDuplicates_NoneOverwrites()
    {
        var data = T([0, 0, 0, 0, 1, 1, 1, 1], 2, 4);
        var updates = T([1, 2, 3, 10, 20, 30], 2, 3);
        var model = (string reduction) =>
        {
            var b = new OnnxGraphBuilder("scatter", 18);
            string d = b.Input("d", OnnxElementType.Float, 2, 4);
            string u = b.Input("u", OnnxElementType.Float, 2, 3);
            string i = b.Initializer("i", [3L, 3L, 0L, 1L, 1L, -1L], 2, 3);
            string y = b.Node("ScatterElements", [d, i, u], [Int("axis", 1), String("reduction", reduction)], name: "y");
            b.Output(y, OnnxElementType.Float, 2, 4);
            return new ReferenceEvaluator(b.Build()).Run(new Dictionary<string, ReferenceTensor> { ["d"] = data, ["u"] = updates })["y"].Data;
        };
        // Row 0: index 3 twice (1 + 2), index 0 once (3). Row 1: index 1 twice (10 + 20), index −1 = 3 (30).
        Assert.That(model("add"), Is.EqualTo(new double[] { 3, 0, 0, 3, 1, 31, 1, 31 }));
        Assert.That(model("none"), Is.EqualTo(new double[] { 3, 0, 0, 2, 1, 20, 1, 30 }), "later updates win");
    }

    [Test]
    public void ConvTranspose_IsTheAdjointOfConv([Values(1, 2)] int group)
    {
        // ⟨Conv(x; w), g⟩ = ⟨x, ConvTranspose(g; w)⟩ with the same strides, pads, dilations, group and
        // output_padding = (H + p_b + p_e − d(k − 1) − 1) mod s so that the transpose lands on x's shape.
        long n = 2, c = 4, h = 9, wd = 8, m = 6, k = 3, s = 2, d = 2;
        long[] pads = [1, 0, 2, 1];
        var x = TestModels.RandomTensor(21, n, c, h, wd);
        var w = TestModels.RandomTensor(22, m, c / group, k, k);
        long eff = d * (k - 1) + 1;
        long oh = (h + pads[0] + pads[2] - eff) / s + 1, ow = (wd + pads[1] + pads[3] - eff) / s + 1;
        long[] outputPadding = [(h + pads[0] + pads[2] - eff) % s, (wd + pads[1] + pads[3] - eff) % s];
        var g = TestModels.RandomTensor(23, n, m, oh, ow);
        AttributeProto[] common = [Ints("strides", s, s), Ints("pads", pads), Ints("dilations", d, d), Int("group", group)];

        var y = Run("Conv", [x, w], attrs: common);
        var z = Run("ConvTranspose", [g, w], attrs: [.. common, Ints("output_padding", outputPadding)]);
        Assert.That(y.Shape, Is.EqualTo(new long[] { n, m, oh, ow }));
        Assert.That(z.Shape, Is.EqualTo(x.Shape));
        double lhs = y.Data.Zip(g.Data, (a, b) => a * b).Sum();
        double rhs = x.Data.Zip(z.Data, (a, b) => a * b).Sum();
        Assert.That(rhs, Is.EqualTo(lhs).Within(1e-10 * Math.Abs(lhs)));
    }

    [Test]
    public void ConvTranspose_HandComputed_StrideTwoUpsampling()
    {
        // 1-D: x = [1, 2], kernel [1, 10, 100], stride 2 → positions 0..4: [1, 10, 100+2, 20, 200].
        var y = Run("ConvTranspose", [T([1, 2], 1, 1, 2), T([1, 10, 100], 1, 1, 3)], attrs: [Ints("strides", 2)]);
        Assert.That(y.Data, Is.EqualTo(new double[] { 1, 10, 102, 20, 200 }));
        // Same with pads [1, 1] trimming both ends and a bias of 0.5.
        var p = Run("ConvTranspose", [T([1, 2], 1, 1, 2), T([1, 10, 100], 1, 1, 3), T([0.5], 1)], attrs: [Ints("strides", 2), Ints("pads", 1, 1)]);
        Assert.That(p.Data, Is.EqualTo(new[] { 10.5, 102.5, 20.5 }));
    }

    /// <summary>A graph made of every derivative-graph op, run by ONNX Runtime and by the reference evaluator.</summary>
    [Test]
    public void BackwardGraphOps_MatchOnnxRuntime()
    {
        var rng = new Random(91);
        float[] R(int count, float lo = -1, float hi = 1) => Enumerable.Range(0, count).Select(_ => lo + (hi - lo) * (float)rng.NextDouble()).ToArray();
        var b = new OnnxGraphBuilder("backward_ops", opset: 18);
        string x = b.Input("input", OnnxElementType.Float, 2, 4, 5, 5);
        string w = b.Initializer("w", R(4 * 3 * 3 * 3), 4, 3, 3, 3);                               // ConvTranspose [C_in, C_out/g, k, k]
        string ct = b.Node("ConvTranspose", [x, w, b.Initializer("ctb", R(3), 3)],
            [Ints("strides", 2, 2), Ints("pads", 1, 0, 1, 1), Ints("dilations", 1, 2), Ints("output_padding", 1, 0)]); // [2,3,10,11]
        string ct2 = b.Node("ConvTranspose", [x, b.Initializer("w2", R(4 * 1 * 2 * 2), 4, 1, 2, 2)], [Int("group", 2), Ints("strides", 2, 2)]); // [2,2,10,10]
        string zero = b.Initializer("zero", [0f]);
        string mask = b.Node("Cast", [b.Node("And", [b.Node("Greater", [ct, zero]), b.Node("Not", [b.Node("Less", [ct, b.Initializer("minus", [-5f])])])])],
            [Int("to", (long)OnnxElementType.Float)]);
        string picked = b.Node("Where", [b.Node("GreaterOrEqual", [ct, zero]), ct, b.Node("Neg", [ct])]);             // |ct|
        string math = b.Node("Sum", [b.Node("Sqrt", [b.Node("Abs", [picked])]), b.Node("Softplus", [ct]),
                                    b.Node("Log", [b.Node("Exp", [mask])]), b.Node("Reciprocal", [b.Node("Add", [picked, b.Initializer("one", [1f])])]),
                                    b.Node("Pow", [picked, b.Initializer("two", [2f])]), b.Node("Mul", [b.Node("Sign", [ct]), picked])]);
        string sliced = b.Node("Slice", [math, b.Initializer("st", [1L, 0L], 2), b.Initializer("en", [10L, long.MaxValue], 2),
                                          b.Initializer("ax", [2L, 3L], 2), b.Initializer("sp", [3L, 2L], 2)]);             // [2,3,3,6]
        string rs = b.Node("ReduceSum", [sliced, b.Initializer("rax", [3L], 1)], [Int("keepdims", 1)]);                   // [2,3,3,1]
        string rm = b.Node("ReduceMean", [sliced, b.Initializer("rmax", [2L, 3L], 2)], [Int("keepdims", 0)]);            // [2,3]
        string sq = b.Node("Squeeze", [rs, b.Initializer("sqax", [3L], 1)]);                                            // [2,3,3]
        string gathered = b.Node("Gather", [sq, b.Initializer("gi", [2L, 0L], 2)], [Int("axis", 2)]);                   // [2,3,2]
        string shape = b.Node("Shape", [gathered]);
        string ones = b.Node("ConstantOfShape", [shape], [Tensor("value", OnnxTensors.FromFloats("v", [0.5f], [1]))]);
        string un = b.Node("Unsqueeze", [rm, b.Initializer("unax", [2L], 1)]);                                         // [2,3,1]
        string ex = b.Node("Expand", [un, b.Initializer("exs", [2L, 3L, 2L], 3)]);
        string mx = b.Node("Max", [b.Node("Min", [gathered, ex]), ones]);
        string idx = b.Initializer("si", [1L, 1L, 0L, 2L, 2L, 2L], 1, 6);
        string data = b.Node("Reshape", [ct2, b.Initializer("rsh", [2L, -1L], 2)]);                                     // [2,200]
        string upd = b.Node("Reshape", [mx, b.Initializer("rsh2", [2L, 6L], 2)]);
        string scat = b.Node("ScatterElements", [b.Node("Slice", [data, b.Initializer("s0", [0L], 1), b.Initializer("s1", [5L], 1), b.Initializer("s2", [1L], 1)]),
                                                 b.Node("Expand", [idx, b.Initializer("ie", [2L, 6L], 2)]), upd],
                                  [Int("axis", 1), String("reduction", "add")]);                                         // [2,5]
        string gmp = b.Node("Reshape", [b.Node("GlobalMaxPool", [ct2]), b.Initializer("rsh3", [2L, 2L], 2)]);
        string lsm = b.Node("LogSoftmax", [b.Node("Concat", [scat, gmp], [Int("axis", 1)])], [Int("axis", 1)], name: "out"); // [2,7]
        b.Output(lsm, OnnxElementType.Float, 2, 7);
        var model = b.Build();

        var input = TestModels.RandomFloatTensor(92, 2, 4, 5, 5);
        var reference = new ReferenceEvaluator(model).Run(new Dictionary<string, ReferenceTensor> { ["input"] = input })["out"];
        using var session = InferenceSession.Create(OnnxModel.FromProto(model).ToBytes());
        var ort = session.Run([new FloatTensor("input", input.ToFloats(), input.Shape)])["out"];
        Assert.That(ort.Shape, Is.EqualTo(reference.Shape));
        double scale = reference.Data.Max(Math.Abs);
        double err = reference.Data.Select((v, i) => Math.Abs(v - ort.Data[i])).Max();
        TestContext.Out.WriteLine($"max |ORT − ref| = {err:E2}, ‖ref‖∞ = {scale:G4}");
        Assert.That(reference.Data.Max() - reference.Data.Min(), Is.GreaterThan(1e-2), "non-degenerate output");
        Assert.That(err, Is.LessThanOrEqualTo(1e-4 * scale));
    }
}
