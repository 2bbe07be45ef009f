using NUnit.Framework;
using Saliency.Models.Onnx;
using Saliency.Models.Onnx.Proto;
using Saliency.TestSupport;
using static Saliency.Models.Onnx.OnnxAttributes;

namespace Saliency.Models.Tests.Onnx;

/// <summary>
/// The float64 reference evaluator on hand-computed cases: each op against a closed form (delta kernels,
/// identity weights, pools on an arithmetic grid whose maxima and means are known in advance).
/// </summary>
[TestFixture]
public sealed class ReferenceEvaluatorTests
{
    private const double Tol = 1e-12;

    /// <summary>Runs a one-node model on the given inputs and returns its outputs in order.</summary>
    private static ReferenceTensor[] RunNode(string op, ReferenceTensor[] inputs, IEnumerable<AttributeProto>? attrs = null,
                                             int outputs = 1, Action<OnnxGraphBuilder, List<string>>? extra = null)
    {
        var model = TestModels.SingleNode(op, inputs.Select(t => (long[]?)t.Shape).ToArray(), attrs, outputs, addInitializers: extra);
        var ev = new ReferenceEvaluator(model);
        var feeds = inputs.Select((t, i) => ($"x{i}", t)).ToDictionary(p => p.Item1, p => p.t);
        var all = ev.RunAll(feeds);
        return Enumerable.Range(0, outputs).Select(k => all[k == 0 ? "y" : $"y_{k}"]).ToArray();
    }

    private static ReferenceTensor T(double[] data, params long[] shape) => new(data, shape);

    /// <summary>x[n, c, i, j] = 100 n + 10 c + i·W + j on an H×W grid — strictly increasing along rows and columns.</summary>
    private static ReferenceTensor Grid(long n, long c, long h, long w)
    {
        var d = new double[n * c * h * w];
        for (long b = 0; b < n; b++)
            for (long ch = 0; ch < c; ch++)
                for (long i = 0; i < h; i++)
                    for (long j = 0; j < w; j++)
                        d[((b * c + ch) * h + i) * w + j] = 100 * b + 10 * ch + i * w + j;
        return new ReferenceTensor(d, [n, c, h, w]);
    }

    private static double At(ReferenceTensor t, params long[] index)
    {
        long off = 0;
        for (int i = 0; i < index.Length; i++) off = off * t.Shape[i] + index[i];
        return t.Data[off];
    }

    // ---- elementwise and broadcasting ----

    [Test]
    public void Add_BroadcastsRowAndColumnVectors()
    {
        var a = T([1, 2], 2, 1);
        var b = T([10, 20, 30], 1, 3);
        var y = RunNode("Add", [a, b])[0];
        Assert.That(y.Shape, Is.EqualTo(new long[] { 2, 3 }));
        Assert.That(y.Data, Is.EqualTo(new double[] { 11, 21, 31, 12, 22, 32 }));
    }

    [Test]
    public void SubMulDiv_BroadcastTrailingVectorAndScalar()
    {
        var x = T([1, 2, 3, 4, 5, 6], 2, 3);
        Assert.That(RunNode("Sub", [x, T([1, 2, 3], 3)])[0].Data, Is.EqualTo(new double[] { 0, 0, 0, 3, 3, 3 }));
        Assert.That(RunNode("Mul", [x, T([2], [])])[0].Data, Is.EqualTo(new double[] { 2, 4, 6, 8, 10, 12 }));
        Assert.That(RunNode("Div", [T([2], []), x])[0].Data, Is.EqualTo(new[] { 2.0, 1.0, 2.0 / 3, 0.5, 0.4, 2.0 / 6 }).Within(Tol));
        Assert.That(RunNode("Mul", [T([1, 2], 2, 1, 1), T([1, 10, 100], 1, 3)])[0].Shape, Is.EqualTo(new long[] { 2, 1, 3 }));
    }

    [Test]
    public void IncompatibleBroadcast_IsAnErrorNamingTheNode()
    {
        var e = Assert.Throws<InvalidOperationException>(() => RunNode("Add", [T(new double[6], 2, 3), T(new double[2], 2)]))!;
        Assert.That(e.Message, Does.Contain("'y'").And.Contain("broadcastable"));
    }

    [Test]
    public void Activations_MatchTheirClosedForms()
    {
        var x = T([-2, -0.5, 0, Math.Log(3), 3], 5);
        Assert.That(RunNode("Relu", [x])[0].Data, Is.EqualTo(new[] { 0, 0, 0, Math.Log(3), 3 }));
        Assert.That(RunNode("LeakyRelu", [x], [Float("alpha", 0.25f)])[0].Data, Is.EqualTo(new[] { -0.5, -0.125, 0, Math.Log(3), 3 }).Within(Tol));
        Assert.That(RunNode("LeakyRelu", [x])[0].Data[0], Is.EqualTo(-2 * (double)0.01f).Within(Tol), "default alpha 0.01");
        var s = RunNode("Sigmoid", [x])[0].Data;
        Assert.That(s[2], Is.EqualTo(0.5).Within(Tol));
        Assert.That(s[3], Is.EqualTo(0.75).Within(Tol), "σ(ln 3) = 3/4");
        Assert.That(s[0] + RunNode("Sigmoid", [T([2], 1)])[0].Data[0], Is.EqualTo(1).Within(Tol), "σ(−x) + σ(x) = 1");
        var th = RunNode("Tanh", [T([0, Math.Log(2)], 2)])[0].Data;
        Assert.That(th, Is.EqualTo(new[] { 0, 0.6 }).Within(Tol), "tanh(ln 2) = 3/5");
        Assert.That(RunNode("Sigmoid", [T([-1000, 1000], 2)])[0].Data, Is.EqualTo(new[] { 0.0, 1.0 }), "no overflow to NaN");
    }

    [Test]
    public void Softmax_OnLogsGivesTheNormalisedWeights_AlongTheChosenAxis()
    {
        // softmax([0, ln 2, ln 5]) = [1, 2, 5] / 8, plus a constant shift per row (invariance).
        var x = T([0, Math.Log(2), Math.Log(5), 7, 7 + Math.Log(2), 7 + Math.Log(5)], 2, 3);
        Assert.That(RunNode("Softmax", [x])[0].Data, Is.EqualTo(new[] { 0.125, 0.25, 0.625, 0.125, 0.25, 0.625 }).Within(Tol));
        // Along axis 0 of a [2, 1, 2] tensor: pairs (0, ln 3) → [1/4, 3/4] per column.
        var z = T([0, 1000, Math.Log(3), 1000], 2, 1, 2);
        Assert.That(RunNode("Softmax", [z], [Int("axis", 0)])[0].Data, Is.EqualTo(new[] { 0.25, 0.5, 0.75, 0.5 }).Within(Tol));
    }

    [Test]
    public void Clip_WithAndWithoutBounds()
    {
        var x = T([-3, -1, 0, 1, 3], 5);
        var b = new OnnxGraphBuilder("clip");
        string xi = b.Input("x", OnnxElementType.Float, 5);
        b.Output(b.Clip(xi, -1.5f, 2f, name: "both"), OnnxElementType.Float, 5);
        b.Output(b.Clip(xi, min: 0f, name: "lo"), OnnxElementType.Float, 5);
        b.Output(b.Clip(xi, max: 0.5f, name: "hi"), OnnxElementType.Float, 5);
        var y = new ReferenceEvaluator(b.Build()).Run(new Dictionary<string, ReferenceTensor> { ["x"] = x });
        Assert.That(y["both"].Data, Is.EqualTo(new[] { -1.5, -1, 0, 1, 2 }));
        Assert.That(y["lo"].Data, Is.EqualTo(new double[] { 0, 0, 0, 1, 3 }));
        Assert.That(y["hi"].Data, Is.EqualTo(new[] { -3, -1, 0, 0.5, 0.5 }));
    }

    [Test]
    public void IdentityAndDropout_PassValuesThrough()
    {
        var x = TestModels.RandomTensor(1, 2, 3);
        Assert.That(RunNode("Identity", [x])[0].Data, Is.EqualTo(x.Data));
        var d = RunNode("Dropout", [x], outputs: 2);
        Assert.That(d[0].Data, Is.EqualTo(x.Data));
        Assert.That(d[1].Data, Is.All.EqualTo(1.0), "inference mask keeps everything");
    }

    // ---- Gemm and MatMul ----

    [Test]
    public void Gemm_IdentityWeights_ReturnInputPlusBias()
    {
        var x = TestModels.RandomTensor(2, 3, 4);
        var eye = new double[16];
        for (int i = 0; i < 4; i++) eye[i * 5] = 1;
        var y = RunNode("Gemm", [x, T(eye, 4, 4), T([1, 2, 3, 4], 4)], [Int("transB", 1)])[0];
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 4; c++)
                Assert.That(y.Data[r * 4 + c], Is.EqualTo(x.Data[r * 4 + c] + c + 1).Within(Tol));
    }

    [Test]
    public void Gemm_HandComputed_WithTransposesAlphaBeta()
    {
        // A = [[1,2],[3,4]], B = [[5,6],[7,8]]: A·B = [[19,22],[43,50]], Aᵀ·Bᵀ = (B·A)ᵀ = [[23,31],[34,46]].
        var a = T([1, 2, 3, 4], 2, 2);
        var b = T([5, 6, 7, 8], 2, 2);
        Assert.That(RunNode("Gemm", [a, b])[0].Data, Is.EqualTo(new double[] { 19, 22, 43, 50 }));
        Assert.That(RunNode("Gemm", [a, b], [Int("transA", 1), Int("transB", 1)])[0].Data, Is.EqualTo(new double[] { 23, 31, 34, 46 }));
        // alpha·A·B + beta·c with c a column [2, 1] broadcast along rows' columns: c shape [2, 1].
        var y = RunNode("Gemm", [a, b, T([1, -1], 2, 1)], [Float("alpha", 2), Float("beta", 10)])[0];
        Assert.That(y.Data, Is.EqualTo(new double[] { 48, 54, 76, 90 }));
    }

    [Test]
    public void MatMul_VectorDot_MatrixVector_AndBatchedBroadcast()
    {
        Assert.That(RunNode("MatMul", [T([1, 2, 3], 3), T([4, 5, 6], 3)])[0], Has.Property("Shape").Empty);
        Assert.That(RunNode("MatMul", [T([1, 2, 3], 3), T([4, 5, 6], 3)])[0].Data, Is.EqualTo(new double[] { 32 }));
        Assert.That(RunNode("MatMul", [T([1, 2, 3, 4], 2, 2), T([1, 1], 2)])[0].Data, Is.EqualTo(new double[] { 3, 7 }));
        // [2, 2, 2] × [2, 2]: each batch times B; batch 0 = I, batch 1 = 2I.
        var a = T([1, 0, 0, 1, 2, 0, 0, 2], 2, 2, 2);
        var b = T([1, 2, 3, 4], 2, 2);
        var y = RunNode("MatMul", [a, b])[0];
        Assert.That(y.Shape, Is.EqualTo(new long[] { 2, 2, 2 }));
        Assert.That(y.Data, Is.EqualTo(new double[] { 1, 2, 3, 4, 2, 4, 6, 8 }));
    }

    // ---- Conv ----

    [Test]
    public void Conv_CentredDeltaKernel_IsTheIdentity()
    {
        var x = TestModels.RandomTensor(3, 2, 1, 5, 4);
        var w = new double[9];
        w[4] = 1;
        var y = RunNode("Conv", [x, T(w, 1, 1, 3, 3)], [Ints("pads", 1, 1, 1, 1)])[0];
        Assert.That(y.Shape, Is.EqualTo(x.Shape));
        Assert.That(y.Data, Is.EqualTo(x.Data));
    }

    [Test]
    public void Conv_CornerDelta_WithStrideDilationAsymmetricPads_SubsamplesTheShiftedInput()
    {
        // A delta at kernel position (u0, v0) picks x[s·i − pTop + d·u0, s·j − pLeft + d·v0] (0 outside).
        const long H = 9, W = 8, k = 3, s = 2, d = 2, pt = 1, pl = 2, pb = 0, pr = 1, u0 = 2, v0 = 1;
        var x = Grid(1, 1, H, W);
        var w = new double[k * k];
        w[u0 * k + v0] = 1;
        var y = RunNode("Conv", [x, T(w, 1, 1, k, k)],
            [Ints("strides", s, s), Ints("dilations", d, d), Ints("pads", pt, pl, pb, pr)])[0];
        long oh = (H + pt + pb - d * (k - 1) - 1) / s + 1, ow = (W + pl + pr - d * (k - 1) - 1) / s + 1;
        Assert.That(y.Shape, Is.EqualTo(new long[] { 1, 1, oh, ow }));
        for (long i = 0; i < oh; i++)
            for (long j = 0; j < ow; j++)
            {
                long r = s * i - pt + d * u0, c = s * j - pl + d * v0;
                double expected = r >= 0 && r < H && c >= 0 && c < W ? r * W + c : 0;
                Assert.That(At(y, 0, 0, i, j), Is.EqualTo(expected), $"({i}, {j})");
            }
    }

    [Test]
    public void Conv_OnesKernel_GivesBoxSumsOfTheGrid_PlusBias()
    {
        // 2×2 box sum of x = i·W + j at (i, j): 4(iW + j) + 2W + 2; two output channels with bias 0 and 1·(sum)·2.
        const long H = 4, W = 5;
        var x = Grid(1, 1, H, W);
        var w = new double[] { 1, 1, 1, 1, 2, 2, 2, 2 };
        var y = RunNode("Conv", [x, T(w, 2, 1, 2, 2), T([0.5, -1], 2)])[0];
        Assert.That(y.Shape, Is.EqualTo(new long[] { 1, 2, H - 1, W - 1 }));
        for (long i = 0; i < H - 1; i++)
            for (long j = 0; j < W - 1; j++)
            {
                double box = 4 * (i * W + j) + 2 * W + 2;
                Assert.That(At(y, 0, 0, i, j), Is.EqualTo(box + 0.5));
                Assert.That(At(y, 0, 1, i, j), Is.EqualTo(2 * box - 1));
            }
    }

    [Test]
    public void Conv_Groups_DepthwiseDeltasScaleEachChannel_AndChannelsSumWithoutGroups()
    {
        // group = C = 3, weight [3, 1, 1, 1] = [1, 2, 3]: y_c = (c + 1)·x_c.
        var x = TestModels.RandomTensor(4, 2, 3, 2, 2);
        var y = RunNode("Conv", [x, T([1, 2, 3], 3, 1, 1, 1)], [Int("group", 3)])[0];
        for (long b = 0; b < 2; b++)
            for (long c = 0; c < 3; c++)
                for (long p = 0; p < 4; p++)
                    Assert.That(y.Data[(b * 3 + c) * 4 + p], Is.EqualTo((c + 1) * x.Data[(b * 3 + c) * 4 + p]).Within(Tol));
        // group = 1 with weight [1, 3, 1, 1] = [1, 1, 1]: the channel sum.
        var s = RunNode("Conv", [x, T([1, 1, 1], 1, 3, 1, 1)])[0];
        Assert.That(s.Shape, Is.EqualTo(new long[] { 2, 1, 2, 2 }));
        Assert.That(s.Data[5], Is.EqualTo(x.Data[12 + 1] + x.Data[16 + 1] + x.Data[20 + 1]).Within(Tol));
        // group = 2 on 4 channels with [2, 2, 1, 1] ones: output g sums channels 2g, 2g+1.
        var x4 = TestModels.RandomTensor(5, 1, 4, 1, 1);
        var g2 = RunNode("Conv", [x4, T([1, 1, 1, 1], 2, 2, 1, 1)], [Int("group", 2)])[0];
        Assert.That(g2.Data, Is.EqualTo(new[] { x4.Data[0] + x4.Data[1], x4.Data[2] + x4.Data[3] }).Within(Tol));
    }

    [Test]
    public void Conv_AutoPadSameUpper_KeepsTheSize_AndOneDimensionalConvWorks()
    {
        var x = TestModels.RandomTensor(6, 1, 1, 5, 5);
        var w = new double[9];
        w[4] = 1;
        var y = RunNode("Conv", [x, T(w, 1, 1, 3, 3)], [String("auto_pad", "SAME_UPPER")])[0];
        Assert.That(y.Data, Is.EqualTo(x.Data));
        // 1-D: [1, 1, 5] with kernel [1, 2] → pairwise weighted sums x[j] + 2 x[j+1].
        var x1 = T([1, 2, 3, 4, 5], 1, 1, 5);
        Assert.That(RunNode("Conv", [x1, T([1, 2], 1, 1, 2)])[0].Data, Is.EqualTo(new double[] { 5, 8, 11, 14 }));
    }

    // ---- pooling ----

    [Test]
    public void MaxPool_OnIncreasingGrid_TakesTheBottomRightOfEachWindow_WithFlatIndices()
    {
        // Overlapping windows (kernel 3, stride 1) on x = 100n + 10c + iW + j: the max is the window's last in-image cell.
        const long N = 2, C = 2, H = 5, W = 6, K = 3;
        var x = Grid(N, C, H, W);
        var r = RunNode("MaxPool", [x], [Ints("kernel_shape", K, K), Ints("pads", 1, 1, 1, 1)], outputs: 2);
        var (y, idx) = (r[0], r[1]);
        Assert.That(y.Shape, Is.EqualTo(new long[] { N, C, H, W }));
        for (long b = 0; b < N; b++)
            for (long c = 0; c < C; c++)
                for (long i = 0; i < H; i++)
                    for (long j = 0; j < W; j++)
                    {
                        long bi = Math.Min(i + 1, H - 1), bj = Math.Min(j + 1, W - 1);
                        Assert.That(At(y, b, c, i, j), Is.EqualTo(100 * b + 10 * c + bi * W + bj));
                        Assert.That(At(idx, b, c, i, j), Is.EqualTo(((b * C + c) * H + bi) * W + bj), "flat index over the whole NCHW tensor");
                    }
    }

    [Test]
    public void MaxPool_TiesKeepTheFirstMaximum_AndStridesSubsample()
    {
        var x = new ReferenceTensor(Enumerable.Repeat(7.0, 16).ToArray(), [1, 1, 4, 4]);
        var r = RunNode("MaxPool", [x], [Ints("kernel_shape", 2, 2), Ints("strides", 2, 2)], outputs: 2);
        Assert.That(r[0].Data, Is.All.EqualTo(7.0));
        Assert.That(r[1].Data, Is.EqualTo(new double[] { 0, 2, 8, 10 }), "top-left of each window");
        // Negative values with padding: padding never wins.
        var neg = new ReferenceTensor(new double[] { -5, -4, -3, -2 }, [1, 1, 2, 2]);
        var p = RunNode("MaxPool", [neg], [Ints("kernel_shape", 2, 2), Ints("pads", 1, 1, 0, 0)])[0];
        Assert.That(p.Data, Is.EqualTo(new double[] { -5, -4, -3, -2 }));
    }

    [Test]
    public void CeilModePools_CoverTheRemainder_OnTheGrid()
    {
        // 5×5 grid, kernel 2, stride 2: floor mode gives 2×2, ceil mode 3×3 whose last row/column windows hold one
        // in-image row/column: max = x[min(2i + 1, 4), min(2j + 1, 4)], mean over the in-image cells only.
        var x = Grid(1, 1, 5, 5);
        AttributeProto[] attrs = [Ints("kernel_shape", 2, 2), Ints("strides", 2, 2), Int("ceil_mode", 1)];
        var mp = RunNode("MaxPool", [x], attrs);
        var ap = RunNode("AveragePool", [x], attrs)[0];
        Assert.That(mp[0].Shape, Is.EqualTo(new long[] { 1, 1, 3, 3 }));
        for (long i = 0; i < 3; i++)
            for (long j = 0; j < 3; j++)
            {
                Assert.That(At(mp[0], 0, 0, i, j), Is.EqualTo(Math.Min(2 * i + 1, 4) * 5 + Math.Min(2 * j + 1, 4)));
                double mean = 0; int count = 0;
                for (long r = 2 * i; r <= Math.Min(2 * i + 1, 4); r++)
                    for (long c = 2 * j; c <= Math.Min(2 * j + 1, 4); c++) { mean += r * 5 + c; count++; }
                Assert.That(At(ap, 0, 0, i, j), Is.EqualTo(mean / count).Within(Tol));
            }
        // A window that would start past the input and its leading padding is dropped: 4 wide, kernel 2, stride 2,
        // pad 1 at the end: ceil((4 + 1 − 2)/2) + 1 = 3 windows starting at 0, 2, 4 — the last starts in the end padding.
        var dropped = RunNode("MaxPool", [Grid(1, 1, 1, 4)], [Ints("kernel_shape", 1, 2), Ints("strides", 1, 2), Ints("pads", 0, 0, 0, 1), Int("ceil_mode", 1)])[0];
        Assert.That(dropped.Shape, Is.EqualTo(new long[] { 1, 1, 1, 2 }));
    }

    [Test]
    public void CeilModeAveragePoolCountingPads_IsRefusedClearly()
    {
        var e = Assert.Throws<NotSupportedException>(() =>
            RunNode("AveragePool", [Grid(1, 1, 5, 5)], [Ints("kernel_shape", 2, 2), Ints("strides", 2, 2), Int("ceil_mode", 1), Int("count_include_pad", 1)]))!;
        Assert.That(e.Message, Does.Contain("ceil_mode").And.Contain("'y'"));
    }

    [Test]
    public void AveragePool_OddWindowsOnTheGrid_GiveTheCentre_AndBordersCountPadsAsAsked()
    {
        const long H = 5, W = 6;
        var x = Grid(1, 1, H, W);
        var inner = RunNode("AveragePool", [x], [Ints("kernel_shape", 3, 3)])[0];
        for (long i = 0; i < H - 2; i++)
            for (long j = 0; j < W - 2; j++)
                Assert.That(At(inner, 0, 0, i, j), Is.EqualTo((double)((i + 1) * W + (j + 1))).Within(Tol), "the mean of a linear function over a symmetric window is its centre value");
        // Corner with pad 1: in-image cells {0, 1, W, W+1}; sum 2W + 2.
        var excl = RunNode("AveragePool", [x], [Ints("kernel_shape", 3, 3), Ints("pads", 1, 1, 1, 1)])[0];
        var incl = RunNode("AveragePool", [x], [Ints("kernel_shape", 3, 3), Ints("pads", 1, 1, 1, 1), Int("count_include_pad", 1)])[0];
        Assert.That(At(excl, 0, 0, 0, 0), Is.EqualTo((2.0 * W + 2) / 4).Within(Tol));
        Assert.That(At(incl, 0, 0, 0, 0), Is.EqualTo((2.0 * W + 2) / 9).Within(Tol));
        Assert.That(At(excl, 0, 0, 2, 2), Is.EqualTo(At(incl, 0, 0, 2, 2)).Within(Tol), "interior windows do not depend on count_include_pad");
        // Non-overlapping 2×2, stride 2: mean = top-left + (W + 1)/2.
        var s2 = RunNode("AveragePool", [Grid(1, 1, 4, 4)], [Ints("kernel_shape", 2, 2), Ints("strides", 2, 2)])[0];
        Assert.That(s2.Data, Is.EqualTo(new[] { 2.5, 4.5, 10.5, 12.5 }).Within(Tol));
    }

    [Test]
    public void GlobalAveragePool_GivesTheGridMeanPerChannel()
    {
        var x = Grid(2, 3, 4, 5);
        var y = RunNode("GlobalAveragePool", [x])[0];
        Assert.That(y.Shape, Is.EqualTo(new long[] { 2, 3, 1, 1 }));
        for (long b = 0; b < 2; b++)
            for (long c = 0; c < 3; c++)
                Assert.That(y.Data[b * 3 + c], Is.EqualTo(100 * b + 10 * c + (4 * 5 - 1) / 2.0).Within(Tol));
    }

    [Test]
    public void BatchNormalization_IsTheAffineMapPerChannel()
    {
        // scale 2, var 3, eps 1 → multiply by 2/√4 = 1; y = (x − mean) + bias.
        var x = TestModels.RandomTensor(8, 2, 2, 3, 3);
        var b = new OnnxGraphBuilder("bn");
        string xi = b.Input("x", OnnxElementType.Float, 2, 2, 3, 3);
        string y = b.BatchNormalization(xi, b.Initializer("s", [2f, 4f], 2), b.Initializer("b", [0.5f, -1f], 2),
                                        b.Initializer("m", [1f, -2f], 2), b.Initializer("v", [3f, 15f], 2), epsilon: 1f, name: "y");
        b.Output(y, OnnxElementType.Float, 2, 2, 3, 3);
        var r = new ReferenceEvaluator(b.Build()).Run(new Dictionary<string, ReferenceTensor> { ["x"] = x })["y"];
        for (long n = 0; n < 2; n++)
            for (long p = 0; p < 9; p++)
            {
                long i0 = (n * 2 + 0) * 9 + p, i1 = (n * 2 + 1) * 9 + p;
                Assert.That(r.Data[i0], Is.EqualTo(x.Data[i0] - 1 + 0.5).Within(Tol));
                Assert.That(r.Data[i1], Is.EqualTo((x.Data[i1] + 2) * 1 - 1).Within(Tol), "4/√16 = 1");
            }
    }

    // ---- shape ops ----

    [Test]
    public void FlattenReshapeTransposeConcat_MoveValuesAsDefined()
    {
        var x = Grid(1, 2, 2, 3); // values 0..5 then 10..15
        var f = RunNode("Flatten", [x])[0];
        Assert.That(f.Shape, Is.EqualTo(new long[] { 1, 12 }));
        Assert.That(f.Data, Is.EqualTo(x.Data));
        Assert.That(RunNode("Flatten", [x], [Int("axis", 0)])[0].Shape, Is.EqualTo(new long[] { 1, 12 }));
        Assert.That(RunNode("Flatten", [x], [Int("axis", -1)])[0].Shape, Is.EqualTo(new long[] { 4, 3 }));

        var b = new OnnxGraphBuilder("reshape");
        string xi = b.Input("x", OnnxElementType.Float, 1, 2, 2, 3);
        b.Output(b.Reshape(xi, [0, -1, 2], name: "r"), OnnxElementType.Float, 1, 6, 2);
        var r = new ReferenceEvaluator(b.Build()).Run(new Dictionary<string, ReferenceTensor> { ["x"] = x })["r"];
        Assert.That(r.Shape, Is.EqualTo(new long[] { 1, 6, 2 }), "0 copies the input dim, −1 is inferred");
        Assert.That(r.Data, Is.EqualTo(x.Data));

        var m = T([1, 2, 3, 4, 5, 6], 2, 3);
        var t = RunNode("Transpose", [m])[0];
        Assert.That(t.Shape, Is.EqualTo(new long[] { 3, 2 }));
        Assert.That(t.Data, Is.EqualTo(new double[] { 1, 4, 2, 5, 3, 6 }));
        var t3 = RunNode("Transpose", [x], [Ints("perm", 0, 2, 3, 1)])[0]; // NCHW → NHWC
        Assert.That(t3.Shape, Is.EqualTo(new long[] { 1, 2, 3, 2 }));
        Assert.That(At(t3, 0, 1, 2, 1), Is.EqualTo(At(x, 0, 1, 1, 2)));

        var c = RunNode("Concat", [T([1, 2], 1, 2), T([3, 4, 5, 6], 2, 2)], [Int("axis", 0)])[0];
        Assert.That(c.Shape, Is.EqualTo(new long[] { 3, 2 }));
        Assert.That(c.Data, Is.EqualTo(new double[] { 1, 2, 3, 4, 5, 6 }));
        var c1 = RunNode("Concat", [T([1, 2], 2, 1), T([3, 4, 5, 6], 2, 2)], [Int("axis", 1)])[0];
        Assert.That(c1.Data, Is.EqualTo(new double[] { 1, 3, 4, 2, 5, 6 }));
    }

    // ---- graphs ----

    [Test]
    public void Mlp_EqualsTheLayersComputedByHandFromItsInitializers()
    {
        var model = OnnxModel.FromProto(TestModels.Mlp());
        var x = TestModels.RandomTensor(9, 3, 6);
        var y = new ReferenceEvaluator(model.Proto).Run(new Dictionary<string, ReferenceTensor> { ["input"] = x })["logits"];
        // Layers in PyTorch layout: h = relu(x Wᵀ + b).
        double[] h = x.Data;
        long rows = 3, width = 6;
        var gemms = model.Graph.Node.Where(n => n.OpType == "Gemm").ToList();
        for (int l = 0; l < gemms.Count; l++)
        {
            var (w, wd) = model.GetFloatInitializer(gemms[l].Input[1]);
            var (bias, _) = model.GetFloatInitializer(gemms[l].Input[2]);
            long outW = wd[0];
            var next = new double[rows * outW];
            for (long r = 0; r < rows; r++)
                for (long o = 0; o < outW; o++)
                {
                    double s = bias[o];
                    for (long i = 0; i < width; i++) s += h[r * width + i] * w[o * width + i];
                    next[r * outW + o] = l < gemms.Count - 1 ? Math.Max(0, s) : s;
                }
            h = next;
            width = outW;
        }
        Assert.That(y.Shape, Is.EqualTo(new long[] { 3, 5 }));
        Assert.That(y.Data, Is.EqualTo(h).Within(1e-12));
    }

    [Test]
    public void IntermediateTensors_CanBeReadAndOverridden()
    {
        var model = TestModels.ResNetBlock();
        var ev = new ReferenceEvaluator(model);
        var x = TestModels.RandomTensor(10, 2, 3, 8, 8);
        var feeds = new Dictionary<string, ReferenceTensor> { ["input"] = x };
        var all = ev.RunAll(feeds);
        var pooled = ev.Evaluate("GlobalAveragePool_0", feeds);
        Assert.That(pooled.Shape, Is.EqualTo(new long[] { 2, 8, 1, 1 }));
        Assert.That(pooled.Data, Is.EqualTo(all["GlobalAveragePool_0"].Data));
        Assert.That(ev.Evaluate("stem.weight", feeds).Shape, Is.EqualTo(new long[] { 4, 3, 3, 3 }), "initializers are tensors too");

        // Feeding the pooled features directly: logits = flatten(pooled)·Wᵀ + b only depend on the override.
        var zero = ReferenceTensor.Zeros(2, 8, 1, 1);
        var logits = ev.Run(new Dictionary<string, ReferenceTensor> { ["input"] = x, ["GlobalAveragePool_0"] = zero })["logits"];
        var bias = OnnxModel.FromProto(model).GetFloatInitializer("logits.bias").Data;
        Assert.That(logits.Data, Is.EqualTo(bias.Concat(bias).Select(v => (double)v)).Within(1e-12));
        Assert.Throws<KeyNotFoundException>(() => ev.Evaluate("no-such-tensor", feeds));
    }

    [Test]
    public void ReturnedTensorsAreCopies_ModifyingThemChangesNothing()
    {
        var b = new OnnxGraphBuilder("alias");
        string x = b.Input("x", OnnxElementType.Float, 2);
        string w = b.Initializer("w", [1f, 2f], 2);
        string id = b.Identity(w, name: "wid");
        b.Output(b.Add(x, id, name: "y"), OnnxElementType.Float, 2);
        b.Output(id, OnnxElementType.Float, 2);
        var ev = new ReferenceEvaluator(b.Build());
        var feeds = new Dictionary<string, ReferenceTensor> { ["x"] = T([10, 20], 2) };
        var first = ev.Run(feeds);
        first["wid"].Data[0] = 1000;
        ev.RunAll(feeds)["w"].Data[1] = 1000;
        ev.Evaluate("wid", feeds).Data[0] = 1000;
        Assert.That(ev.Run(feeds)["y"].Data, Is.EqualTo(new double[] { 11, 22 }));
        Assert.That(feeds["x"].Data, Is.EqualTo(new double[] { 10, 20 }), "feeds are not modified");
    }

    [Test]
    public void OneEvaluator_ManyThreads_GiveTheSerialResults()
    {
        var ev = new ReferenceEvaluator(TestModels.ResNetBlock());
        var inputs = Enumerable.Range(0, 16).Select(i => TestModels.RandomTensor(100 + i, 1, 3, 8, 8)).ToArray();
        var serial = inputs.Select(x => ev.Run(new Dictionary<string, ReferenceTensor> { ["input"] = x })["logits"].Data).ToArray();
        var parallel = new double[inputs.Length][];
        Parallel.For(0, inputs.Length, new ParallelOptions { MaxDegreeOfParallelism = 4 },
            i => parallel[i] = ev.Run(new Dictionary<string, ReferenceTensor> { ["input"] = inputs[i] })["logits"].Data);
        for (int i = 0; i < inputs.Length; i++) Assert.That(parallel[i], Is.EqualTo(serial[i]), $"input {i}");
        Assert.That(serial[0], Is.Not.EqualTo(serial[1]), "different inputs give different logits");
    }

    [Test]
    public void HugeOutputs_AreRefusedNotAllocated()
    {
        // Pads of 2²⁰ on each side would make a 2⁴² element output.
        var e = Assert.Throws<InvalidOperationException>(() =>
            RunNode("MaxPool", [Grid(1, 1, 2, 2)], [Ints("kernel_shape", 1, 1), Ints("pads", 1 << 20, 1 << 20, 1 << 20, 1 << 20)]))!;
        Assert.That(e.Message, Does.Contain("limit").And.Contain("'y'"));
    }

    [Test]
    public void BadFeeds_AreArgumentErrorsNamingTheInput()
    {
        var ev = new ReferenceEvaluator(TestModels.SmallCnn());
        var e = Assert.Throws<ArgumentException>(() => ev.Run(new Dictionary<string, ReferenceTensor>()))!;
        Assert.That(e.Message, Does.Contain("'input'"));
        e = Assert.Throws<ArgumentException>(() => ev.Run(new Dictionary<string, ReferenceTensor> { ["input"] = ReferenceTensor.Zeros(1, 3, 15, 16) }))!;
        Assert.That(e.Message, Does.Contain("axis 2"));
        e = Assert.Throws<ArgumentException>(() => ev.Run(new Dictionary<string, ReferenceTensor> { ["input"] = ReferenceTensor.Zeros(3, 16, 16) }))!;
        Assert.That(e.Message, Does.Contain("rank"));
        Assert.Throws<ArgumentException>(() => _ = new ReferenceTensor(new double[5], [2, 3]));
    }

    [Test]
    public void UnsupportedOp_IsRefusedAtConstruction_NamingOpAndNode()
    {
        var b = new OnnxGraphBuilder("u");
        string x = b.Input("x", OnnxElementType.Float, 2);
        b.Output(b.Node("Sin", [x], name: "my_sin"), OnnxElementType.Float, 2);
        var e = Assert.Throws<NotSupportedException>(() => _ = new ReferenceEvaluator(b.Build()))!;
        Assert.That(e.Message, Does.Contain("'Sin'").And.Contain("'my_sin'"));
    }

    [Test]
    public void StaticEvaluate_ConvenienceForm_MatchesRun()
    {
        var model = TestModels.Mlp();
        var x = TestModels.RandomTensor(11, 4, 6);
        var viaRun = new ReferenceEvaluator(model).Run(new Dictionary<string, ReferenceTensor> { ["input"] = x })["logits"].Data;
        var viaStatic = ReferenceEvaluator.Evaluate(model, new Dictionary<string, (double[] data, long[] dims)> { ["input"] = (x.Data, x.Shape) });
        Assert.That(viaStatic["logits"], Is.EqualTo(viaRun));
    }
}
