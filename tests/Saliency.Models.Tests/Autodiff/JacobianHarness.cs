using Google.Protobuf;
using NUnit.Framework;
using Saliency.Models.Autodiff;
using Saliency.Models.Onnx;
using Saliency.Models.Onnx.Proto;
using Saliency.Models.Runtime;
using Saliency.TestSupport;

namespace Saliency.Models.Tests.Autodiff;

/// <summary>
/// Runs exported Jacobian models in ONNX Runtime and checks them against central finite differences of the
/// original model's forward pass (also run in ONNX Runtime, differences accumulated in float64).
/// </summary>
internal static class JacobianHarness
{
    /// <summary>Single-threaded sessions keep the shared test machine calm and the runs deterministic.</summary>
    public static InferenceSessionOptions Options => new() { IntraOpThreads = 1 };

    public static float[] RandomVector(Random rng, int n, double scale = 1.0)
    {
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float)(scale * Gaussian(rng));
        return v;
    }

    public static double Gaussian(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    /// <summary>The image shape with batch 1, read from the exported model's input declaration.</summary>
    public static long[] ImageShape(ModelProto exported)
    {
        var input = exported.MetadataProps.First(e => e.Key == JacobianExporter.MetadataInput).Value;
        return exported.Graph.Input.First(i => i.Name == input).Type.TensorType.Shape.Dim.Select(d => d.DimValue).ToArray();
    }

    /// <summary>Logits and the k×d vector-Jacobian products from one run of the exported model.</summary>
    public static (float[] Logits, float[] Vjp) RunVjp(InferenceSession session, ModelProto exported, float[] x, float[] cotangents, int k)
    {
        var shape = ImageShape(exported);
        var input = exported.MetadataProps.First(e => e.Key == JacobianExporter.MetadataInput).Value;
        int c = cotangents.Length / k;
        var outputs = session.Run([new FloatTensor(input, x, shape), new FloatTensor("cotangents", cotangents, [k, c])], ["logits", "vjp"]);
        return (outputs[0].Data, outputs[1].Data);
    }

    /// <summary>
    /// Logits of the original model for each row of <paramref name="images"/> (one run when the batch is dynamic).
    /// When the model ends in Softmax the logits are read from the tensor the exporter recorded.
    /// </summary>
    public static float[] ForwardLogits(ModelProto original, ModelProto exported, float[][] images)
    {
        var inputName = exported.MetadataProps.First(e => e.Key == JacobianExporter.MetadataInput).Value;
        var logitsName = exported.MetadataProps.First(e => e.Key == JacobianExporter.MetadataLogits).Value;
        var model = original.Clone();
        if (model.Graph.Output.All(o => o.Name != logitsName))
            model.Graph.Output.Add(new ValueInfoProto
            {
                Name = logitsName,
                Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } },
            });
        var shape = ImageShape(exported);
        int d = images[0].Length;
        using var session = InferenceSession.Create(model.ToByteArray(), Options);
        var batchDim = model.Graph.Input.First(i => i.Name == inputName).Type.TensorType.Shape.Dim[0];
        if (batchDim.ValueCase != TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue)
        {
            var all = new float[images.Length * d];
            for (int i = 0; i < images.Length; i++) images[i].CopyTo(all, i * d);
            return session.Run([new FloatTensor(inputName, all, [images.Length, .. shape[1..]])], [logitsName])[0].Data;
        }
        return images.SelectMany(img => session.Run([new FloatTensor(inputName, img, shape)], [logitsName])[0].Data).ToArray();
    }

    /// <summary>Whether the float64 reference evaluator implements every op and attribute of the model (it refuses, e.g., ceil_mode).</summary>
    public static bool ReferenceSupports(ModelProto model)
    {
        if (!model.Graph.Node.All(n => n.Domain is "" or "ai.onnx" && ReferenceEvaluator.SupportedOps.Contains(n.OpType))) return false;
        return !model.Graph.Node.Any(n => n.OpType == "AveragePool" && n.Attribute.Any(a => a.Name == "ceil_mode" && a.I != 0));
    }

    /// <summary>The logits of each image in float64 by the independent reference evaluator (one batched evaluation when the batch is dynamic).</summary>
    public static double[] ReferenceLogits(ModelProto original, ModelProto exported, double[][] images)
    {
        var inputName = exported.MetadataProps.First(e => e.Key == JacobianExporter.MetadataInput).Value;
        var logitsName = exported.MetadataProps.First(e => e.Key == JacobianExporter.MetadataLogits).Value;
        var evaluator = new ReferenceEvaluator(original);
        var shape = ImageShape(exported);
        var batchDim = original.Graph.Input.First(i => i.Name == inputName).Type.TensorType.Shape.Dim[0];
        if (batchDim.ValueCase != TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue)
        {
            int d = images[0].Length;
            var all = new double[images.Length * d];
            for (int i = 0; i < images.Length; i++) images[i].CopyTo(all, i * d);
            var feeds = new Dictionary<string, ReferenceTensor> { [inputName] = new(all, [images.Length, .. shape[1..]]) };
            return evaluator.Evaluate(logitsName, feeds).Data;
        }
        return images.SelectMany(img => evaluator.Evaluate(logitsName, new Dictionary<string, ReferenceTensor> { [inputName] = new(img, shape) }).Data).ToArray();
    }

    /// <summary>
    /// Checks ⟨vjp_r, v⟩ = u_rᵀ J v for k random cotangents u_r and several random unit directions v, with J v
    /// from central differences (f(x + hv) − f(x − hv)) / 2h of the original model: in float64 by the reference evaluator when it implements
    /// every op (step 1e-6, tolerance 1e-4 relative to the largest directional derivative), else by ONNX Runtime in
    /// float32 (step <paramref name="h"/>, <paramref name="tolerance"/>). Returns the worst relative error.
    /// </summary>
    public static double AssertMatchesFiniteDifferences(ModelProto original, int seed, int k = 3, int directions = 6,
        double h = 1e-2, double tolerance = 2e-3, float[]? x = null, double referenceTolerance = 1e-4)
    {
        bool reference = ReferenceSupports(original);
        if (reference)
        {
            // Float64 allows a step small enough that it rarely straddles a ReLU or max-pool kink of a deep network.
            h = 1e-6;
            tolerance = referenceTolerance;
        }
        var exported = JacobianExporter.Export(original);
        AssertDefaultDomainOnly(exported);
        var rng = new Random(seed);
        var shape = ImageShape(exported);
        int d = (int)shape.Aggregate(1L, (a, b) => a * b);
        x ??= RandomVector(rng, d);
        int c = (int)exported.Graph.Input.First(i => i.Name == "cotangents").Type.TensorType.Shape.Dim[1].DimValue;
        var u = RandomVector(rng, k * c);
        using var session = InferenceSession.Create(exported.ToByteArray(), Options);
        var (logits, vjp) = RunVjp(session, exported, x, u, k);
        Assert.That(vjp, Has.Length.EqualTo(k * d));

        var dirs = new double[directions][];
        var probes = new double[2 * directions][];
        for (int j = 0; j < directions; j++)
        {
            var v = RandomVector(rng, d);
            double norm = Math.Sqrt(v.Sum(t => (double)t * t));
            dirs[j] = v.Select(t => t / norm).ToArray();
            probes[2 * j] = x.Zip(dirs[j], (a, b) => a + h * b).ToArray();
            probes[2 * j + 1] = x.Zip(dirs[j], (a, b) => a - h * b).ToArray();
        }
        double[] forward = reference
            ? ReferenceLogits(original, exported, [x.Select(v => (double)v).ToArray(), .. probes])
            : ForwardLogits(original, exported, [x, .. probes.Select(p => p.Select(v => (float)v).ToArray())]).Select(v => (double)v).ToArray();
        if (!reference)
        {
            // float32 probes: use the steps actually representable.
            for (int j = 0; j < directions; j++)
                for (int i = 0; i < d; i++)
                {
                    probes[2 * j][i] = (float)probes[2 * j][i];
                    probes[2 * j + 1][i] = (float)probes[2 * j + 1][i];
                }
        }
        for (int i = 0; i < c; i++)
            Assert.That(logits[i], Is.EqualTo(forward[i]).Within(1e-4 * (1 + Math.Abs(forward[i]))), "exported logits = forward logits");

        // Errors are measured against the scale of the directional derivatives of this model.
        var analytic = new double[k, directions];
        var numeric = new double[k, directions];
        double scale = 0;
        for (int r = 0; r < k; r++)
            for (int j = 0; j < directions; j++)
            {
                double an = 0, fd = 0;
                for (int i = 0; i < d; i++) an += vjp[r * d + i] * (probes[2 * j][i] - probes[2 * j + 1][i]) / (2 * h);
                for (int i = 0; i < c; i++)
                    fd += u[r * c + i] * (forward[(1 + 2 * j) * c + i] - forward[(2 + 2 * j) * c + i]) / (2 * h);
                analytic[r, j] = an;
                numeric[r, j] = fd;
                scale = Math.Max(scale, Math.Abs(fd));
            }
        Assert.That(scale, Is.GreaterThan(1e-6), "the directional derivatives must not all vanish (the test would prove nothing)");
        double worst = 0;
        for (int r = 0; r < k; r++)
            for (int j = 0; j < directions; j++)
            {
                double err = Math.Abs(analytic[r, j] - numeric[r, j]) / scale;
                worst = Math.Max(worst, err);
                Assert.That(err, Is.LessThan(tolerance),
                    $"cotangent {r}, direction {j}: vjp·v = {analytic[r, j]:G6}, finite difference = {numeric[r, j]:G6}");
            }

        if (reference && ReferenceSupports(exported))
        {
            // The exported graph itself, evaluated in float64 by the independent evaluator: free of ONNX Runtime's
            // float32 rounding, its VJP must agree with the float64 differences to the differences' own accuracy.
            var input = exported.MetadataProps.First(e => e.Key == JacobianExporter.MetadataInput).Value;
            var feeds = new Dictionary<string, ReferenceTensor>
            {
                [input] = new(x.Select(v => (double)v).ToArray(), shape),
                ["cotangents"] = new(u.Select(v => (double)v).ToArray(), [k, c]),
            };
            var vjp64 = new ReferenceEvaluator(exported).Evaluate("vjp", feeds).Data;
            for (int r = 0; r < k; r++)
                for (int j = 0; j < directions; j++)
                {
                    double an = 0;
                    for (int i = 0; i < d; i++) an += vjp64[r * d + i] * dirs[j][i];
                    Assert.That(Math.Abs(an - numeric[r, j]) / scale, Is.LessThan(1e-6),
                        $"float64 evaluation of the exported graph, cotangent {r}, direction {j}: {an:G10} vs {numeric[r, j]:G10}");
                }
        }
        return worst;
    }

    /// <summary>Every node of the exported model is in the default ONNX domain (no custom or training ops).</summary>
    public static void AssertDefaultDomainOnly(ModelProto exported)
    {
        foreach (var node in exported.Graph.Node)
            Assert.That(node.Domain, Is.EqualTo(""), $"node '{node.Name}' ({node.OpType}) uses domain '{node.Domain}'");
        Assert.That(exported.OpsetImport.Where(o => o.Domain is not ("" or "ai.onnx")), Is.Empty);
        Assert.That(exported.OpsetImport.Single(o => o.Domain is "" or "ai.onnx").Version, Is.GreaterThanOrEqualTo(13));
    }

    /// <summary>A classifier around a body: input [N, shape...] → body → Flatten → Gemm (random) → logits [N, classes].</summary>
    public static ModelProto Classifier(long[] inputShape, Func<OnnxGraphBuilder, string, Random, string> body, int classes = 4, int seed = 7, long opset = 17, bool fixedBatch = false)
    {
        var rng = new Random(seed);
        var b = new OnnxGraphBuilder("op_test", opset);
        OnnxDim batch = fixedBatch ? 1 : "N";
        string x = b.Input("input", OnnxElementType.Float, [batch, .. inputShape.Select(s => (OnnxDim)s)]);
        string h = b.Flatten(body(b, x, rng));
        // The feature count comes from a float64-free shape walk: build once to learn it.
        var features = FeatureCount(b, h, inputShape);
        var w = b.Initializer(b.FreshName("head_w"), RandomVector(rng, classes * features, 1.0 / Math.Sqrt(features)), classes, features);
        var bias = b.Initializer(b.FreshName("head_b"), RandomVector(rng, classes, 0.1), classes);
        string logits = b.Gemm(h, w, bias, transB: true);
        b.Output(logits, OnnxElementType.Float, batch, classes);
        return b.Build();
    }

    private static int FeatureCount(OnnxGraphBuilder b, string flattened, long[] inputShape)
    {
        var probe = new ModelProto { IrVersion = 8, Graph = b.Graph.Clone() };
        probe.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = b.Opset });
        probe.Graph.Output.Add(new ValueInfoProto
        {
            Name = flattened,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } },
        });
        using var session = InferenceSession.Create(probe.ToByteArray(), Options);
        var x = new float[inputShape.Aggregate(1L, (a, c) => a * c)];
        return session.Run([new FloatTensor(probe.Graph.Input[0].Name, x, [1, .. inputShape])], [flattened])[0].Data.Length;
    }
}
