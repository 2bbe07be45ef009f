using Google.Protobuf;
using NUnit.Framework;
using Saliency.Models.Autodiff;
using Saliency.Models.Onnx;
using Saliency.Models.Onnx.Proto;
using Saliency.Models.Runtime;
using Saliency.TestSupport;
using static Saliency.Models.Tests.Autodiff.JacobianHarness;

namespace Saliency.Models.Tests.Autodiff;

/// <summary>
/// Deep networks, where the node order of the exported model decides whether ONNX Runtime's session creation is
/// linear or quadratic in the depth (<see cref="NodeSchedule"/>): the Jacobian of a 300-layer Gemm/ReLU chain
/// against its closed form, and the exported order checked with a model of ONNX Runtime's topological sort.
/// </summary>
[TestFixture]
internal sealed class DeepChainTests
{
    private const int Width = 8;
    private const int Classes = 4;

    /// <summary>
    /// A chain <c>h_l = ReLU(W_l h_{l−1})</c>, l = 1..depth, then <c>logits = W_o h</c>, that neither vanishes nor
    /// explodes at any depth: the 8 units hold a 4-vector v as (ReLU(v), ReLU(−v)), and
    /// <c>W_l = [[A_l, −A_l], [−A_l, A_l]]</c> with A_l a seeded random rotation, so v_l = A_l v_{l−1} keeps its
    /// length and exactly one unit of each pair is off. A_l is redrawn until no pre-activation is within 5 % of |v|
    /// of the kink, so float32 and float64 agree on every mask. Returns the model, the input and, per layer, W_l
    /// and the ReLU mask at that input.
    /// </summary>
    private static (ModelProto Model, float[] X, List<float[]> Weights, List<bool[]> Masks, float[] Output) Chain(int depth, int seed)
    {
        const int half = Width / 2;
        var rng = new Random(seed);
        var x = RandomVector(rng, Width);
        var b = new OnnxGraphBuilder("deep_chain");
        string t = b.Input("input", OnnxElementType.Float, "N", Width);
        var h = x.Select(v => (double)v).ToArray();
        var weights = new List<float[]>();
        var masks = new List<bool[]>();
        for (int l = 0; l < depth; l++)
        {
            float[] w;
            double[] z;
            do
            {
                var a = RandomRotation(rng, half);
                w = new float[Width * Width];
                for (int i = 0; i < half; i++)
                    for (int j = 0; j < half; j++)
                    {
                        w[i * Width + j] = w[(i + half) * Width + j + half] = a[i, j];
                        w[i * Width + j + half] = w[(i + half) * Width + j] = -a[i, j];
                    }
                z = Affine(w, new float[Width], h);
            }
            while (z.Any(v => Math.Abs(v) < 0.05 * Math.Sqrt(z.Sum(u => u * u) / 2)));
            weights.Add(w);
            masks.Add(z.Select(v => v > 0).ToArray());
            h = z.Select(v => Math.Max(v, 0)).ToArray();
            t = b.Relu(b.Gemm(t, b.Initializer($"w{l}", w, Width, Width), transB: true));
        }
        var wo = RandomVector(rng, Classes * Width);
        var logits = b.Gemm(t, b.Initializer("wo", wo, Classes, Width), transB: true);
        b.Output(logits, OnnxElementType.Float, "N", Classes);
        return (b.Build(), x, weights, masks, wo);
    }

    /// <summary>A random n×n rotation (Gram–Schmidt on a Gaussian matrix), rounded to float32.</summary>
    private static float[,] RandomRotation(Random rng, int n)
    {
        var q = new double[n, n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++) q[i, j] = Gaussian(rng);
            for (int k = 0; k < i; k++)
            {
                double dot = 0;
                for (int j = 0; j < n; j++) dot += q[i, j] * q[k, j];
                for (int j = 0; j < n; j++) q[i, j] -= dot * q[k, j];
            }
            double norm = Math.Sqrt(Enumerable.Range(0, n).Sum(j => q[i, j] * q[i, j]));
            for (int j = 0; j < n; j++) q[i, j] /= norm;
        }
        var f = new float[n, n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) f[i, j] = (float)q[i, j];
        return f;
    }

    /// <summary>W h + b for a row-major float32 W (Gemm with transB = 1), in float64.</summary>
    private static double[] Affine(float[] w, float[] bias, double[] h)
    {
        var z = new double[Width];
        for (int i = 0; i < Width; i++)
        {
            double s = bias[i];
            for (int j = 0; j < Width; j++) s += w[i * Width + j] * h[j];
            z[i] = s;
        }
        return z;
    }

    [Test]
    public void Jacobian_of_a_300_layer_relu_chain_is_the_product_of_masks_and_weights()
    {
        var (model, x, weights, masks, wo) = Chain(depth: 300, seed: 11);
        int inactive = masks.Sum(m => m.Count(on => !on));
        Assert.That(inactive, Is.EqualTo(300 * Width / 2), "half of the units are off at every layer");

        // Closed form, float64: J = W_o · D_L W_L ⋯ D_1 W_1 (D_l = diag(mask_l)), built from the left.
        var j = new double[Classes, Width];
        for (int r = 0; r < Classes; r++)
            for (int c = 0; c < Width; c++) j[r, c] = wo[r * Width + c];
        for (int l = weights.Count - 1; l >= 0; l--)
        {
            var next = new double[Classes, Width];
            for (int r = 0; r < Classes; r++)
                for (int c = 0; c < Width; c++)
                {
                    double s = 0;
                    for (int m = 0; m < Width; m++)
                        if (masks[l][m]) s += j[r, m] * weights[l][m * Width + c];
                    next[r, c] = s;
                }
            j = next;
        }
        double scale = 0;
        foreach (var v in j) scale = Math.Max(scale, Math.Abs(v));
        Assert.That(scale, Is.GreaterThan(0.1), "a vanishing Jacobian would prove nothing");

        var exported = JacobianExporter.Export(model);
        var identity = new float[Classes * Classes];
        for (int r = 0; r < Classes; r++) identity[r * Classes + r] = 1f;
        using var session = InferenceSession.Create(exported.ToByteArray(), Options);
        var (_, vjp) = RunVjp(session, exported, x, identity, Classes);
        for (int r = 0; r < Classes; r++)
            for (int c = 0; c < Width; c++)
                Assert.That(vjp[r * Width + c], Is.EqualTo(j[r, c]).Within(1e-4 * scale), $"∂logit_{r}/∂x_{c}");
    }

    [Test]
    public void Relu_chain_matches_finite_differences()
    {
        // Independent of the closed form above: central differences (float64 reference evaluator) on a shallower chain.
        var (model, x, _, _, _) = Chain(depth: 40, seed: 3);
        AssertMatchesFiniteDifferences(model, seed: 5, x: x);
    }

    /// <summary>
    /// ONNX Runtime's Kahn sort (graph.cc, <c>KahnsTopologicalSort</c> with <c>PriorityNodeCompare</c>): nodes whose
    /// producers have all been visited wait in a queue, and the lowest node index is visited first. Returns the
    /// visiting order and the largest queue length, which is what each push pays for in ONNX Runtime (its queue is a
    /// sorted <c>std::list</c>). Shape/Size's raised priority is left out: the exporter's graphs only use them in the
    /// backward pass, where they are ready when visited.
    /// </summary>
    internal static (List<int> Order, int MaxQueue) SimulateOrtSort(IReadOnlyList<NodeProto> nodes)
    {
        var producer = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < nodes.Count; i++)
            foreach (var o in nodes[i].Output)
                if (o.Length > 0) producer[o] = i;
        var pending = new int[nodes.Count];
        var consumers = new List<int>[nodes.Count];
        for (int i = 0; i < nodes.Count; i++) consumers[i] = [];
        for (int i = 0; i < nodes.Count; i++)
            foreach (var input in nodes[i].Input)
                if (producer.TryGetValue(input, out var p))
                {
                    pending[i]++;
                    consumers[p].Add(i);
                }
        var ready = new SortedSet<int>(Enumerable.Range(0, nodes.Count).Where(i => pending[i] == 0));
        var order = new List<int>(nodes.Count);
        int maxQueue = ready.Count;
        while (ready.Count > 0)
        {
            int n = ready.Min;
            ready.Remove(n);
            order.Add(n);
            foreach (var c in consumers[n])
                if (--pending[c] == 0) ready.Add(c);
            maxQueue = Math.Max(maxQueue, ready.Count);
        }
        return (order, maxQueue);
    }

    [Test]
    public void Exported_order_is_topological_and_keeps_the_sort_queue_short()
    {
        var (model, _, _, _, _) = Chain(depth: 300, seed: 11);
        var exported = JacobianExporter.Export(model);
        var nodes = exported.Graph.Node;

        // Every input is a graph input, an initializer or the output of an earlier node.
        var known = new HashSet<string>(exported.Graph.Input.Select(i => i.Name).Concat(exported.Graph.Initializer.Select(t => t.Name))) { "" };
        foreach (var n in nodes)
        {
            foreach (var input in n.Input) Assert.That(known, Does.Contain(input), $"node '{n.Name}' reads '{input}' before it is produced");
            known.UnionWith(n.Output);
        }

        var (order, maxQueue) = SimulateOrtSort(nodes);
        Assert.That(order, Is.EqualTo(Enumerable.Range(0, nodes.Count)), "ONNX Runtime's sort must reproduce the listed order");
        Assert.That(maxQueue, Is.LessThanOrEqualTo(4), "ready nodes waiting in ONNX Runtime's sort queue");

        // The oracle can fail: the same nodes with the backward pass listed after the forward pass (the exporter's
        // order before NodeSchedule) keep a ReLU mask per layer waiting through the whole forward pass.
        var forward = new HashSet<string>(model.Graph.Node.Select(n => n.Name));
        var naive = nodes.Where(n => forward.Contains(n.Name)).Concat(nodes.Where(n => !forward.Contains(n.Name))).ToList();
        Assert.That(SimulateOrtSort(naive).MaxQueue, Is.GreaterThanOrEqualTo(300));
    }

    [Test]
    public void Schedule_places_gradient_free_nodes_after_their_latest_forward_producer()
    {
        // forward: a = Relu(x); b = Relu(a). appended: m = Greater(a, 0) (forward only), c = Neg(w) (initializer only),
        // g = Mul(cot, m) (gradient), e = Cast(m) (forward only, reads an appended node).
        static NodeProto N(string op, string output, params string[] inputs) => new() { OpType = op, Name = output, Input = { inputs }, Output = { output } };
        NodeProto[] forward = [N("Relu", "a", "x"), N("Relu", "b", "a")];
        NodeProto[] appended = [N("Greater", "m", "a", "zero"), N("Neg", "c", "w"), N("Mul", "g", "cot", "m"), N("Cast", "e", "m")];
        var order = NodeSchedule.Order(forward, appended, "cot").Select(n => n.Name).ToArray();
        Assert.That(order, Is.EqualTo(new[] { "c", "a", "m", "e", "b", "g" }));
    }
}
