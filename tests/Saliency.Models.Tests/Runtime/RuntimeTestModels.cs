using Google.Protobuf;
using Saliency.Models.Onnx.Proto;

namespace Saliency.Models.Tests.Runtime;

/// <summary>
/// Tiny ONNX models for the binding's tests, written directly with the generated protobuf classes (so these tests
/// do not depend on the graph builder), plus straightforward double-precision references for them.
/// </summary>
internal static class RuntimeTestModels
{
    public const int InFeatures = 4;
    public const int OutFeatures = 3;

    /// <summary>Fixed weights of <see cref="Mlp"/>, row-major [4,3].</summary>
    public static readonly float[] Weights = [0.5f, -1.0f, 0.25f, 1.5f, 0.75f, -0.5f, -2.0f, 0.125f, 1.0f, 0.3f, -0.6f, 0.9f];

    /// <summary>Fixed bias of <see cref="Mlp"/>.</summary>
    public static readonly float[] Bias = [0.1f, -0.2f, 0.05f];

    /// <summary>
    /// y = Relu(x·W + b): input "x" float [N,4] with a dynamic batch dimension N, output "y" float [N,3].
    /// Uses MatMul, Add and Relu.
    /// </summary>
    public static byte[] Mlp()
    {
        var graph = new GraphProto { Name = "mlp" };
        graph.Input.Add(FloatInfo("x", ["N", InFeatures]));
        graph.Output.Add(FloatInfo("y", ["N", OutFeatures]));
        graph.Initializer.Add(FloatInitializer("W", Weights, InFeatures, OutFeatures));
        graph.Initializer.Add(FloatInitializer("b", Bias, OutFeatures));
        graph.Node.Add(Node("MatMul", ["x", "W"], ["xw"]));
        graph.Node.Add(Node("Add", ["xw", "b"], ["z"]));
        graph.Node.Add(Node("Relu", ["z"], ["y"]));
        return Serialize(graph);
    }

    /// <summary>Two fixed-shape inputs "a", "b" float [2,3]; outputs "sum" = a + b and "product" = a ⊙ b.</summary>
    public static byte[] TwoInputsTwoOutputs()
    {
        var graph = new GraphProto { Name = "two" };
        graph.Input.Add(FloatInfo("a", [2, 3]));
        graph.Input.Add(FloatInfo("b", [2, 3]));
        graph.Output.Add(FloatInfo("sum", [2, 3]));
        graph.Output.Add(FloatInfo("product", [2, 3]));
        graph.Node.Add(Node("Add", ["a", "b"], ["sum"]));
        graph.Node.Add(Node("Mul", ["a", "b"], ["product"]));
        return Serialize(graph);
    }

    /// <summary>Input "ids" int64 [3] cast to float output "f": a model whose input is not float.</summary>
    public static byte[] Int64Input()
    {
        var graph = new GraphProto { Name = "cast" };
        graph.Input.Add(Info("ids", TensorProto.Types.DataType.Int64, [3]));
        graph.Output.Add(FloatInfo("f", [3]));
        var cast = Node("Cast", ["ids"], ["f"]);
        cast.Attribute.Add(new AttributeProto { Name = "to", Type = AttributeProto.Types.AttributeType.Int, I = (long)TensorProto.Types.DataType.Float });
        graph.Node.Add(cast);
        return Serialize(graph);
    }

    /// <summary>Input "x" float [N,4]; outputs "shape" = Shape(x) (int64 [2]) and "y" = Relu(x) (float).</summary>
    public static byte[] Int64Output()
    {
        var graph = new GraphProto { Name = "shape" };
        graph.Input.Add(FloatInfo("x", ["N", InFeatures]));
        graph.Output.Add(Info("shape", TensorProto.Types.DataType.Int64, [2]));
        graph.Output.Add(FloatInfo("y", ["N", InFeatures]));
        graph.Node.Add(Node("Shape", ["x"], ["shape"]));
        graph.Node.Add(Node("Relu", ["x"], ["y"]));
        return Serialize(graph);
    }

    /// <summary>
    /// A model that runs long: input "x" float [M,n] (M dynamic), <paramref name="depth"/> MatMul nodes in a chain, each by
    /// the same initializer W = I (so the values stay those of x and the output "y" = x is checkable), output "y" float [M,n].
    /// Nothing can be folded away (x is an input), and ONNX Runtime checks RunOptions.Terminate between the nodes.
    /// </summary>
    public static byte[] MatMulChain(int n, int depth)
    {
        var graph = new GraphProto { Name = "chain" };
        graph.Input.Add(FloatInfo("x", ["M", n]));
        graph.Output.Add(FloatInfo("y", ["M", n]));
        var identity = new float[n * n];
        for (int i = 0; i < n; i++) identity[i * n + i] = 1f;
        graph.Initializer.Add(FloatInitializer("W", identity, n, n));
        string previous = "x";
        for (int k = 0; k < depth; k++)
        {
            string next = k == depth - 1 ? "y" : $"h{k}";
            graph.Node.Add(Node("MatMul", [previous, "W"], [next]));
            previous = next;
        }
        return Serialize(graph);
    }

    /// <summary>Double-precision reference of <see cref="Mlp"/> for a [n,4] batch.</summary>
    public static double[] MlpReference(float[] x, int n)
    {
        var y = new double[n * OutFeatures];
        for (int r = 0; r < n; r++)
        for (int j = 0; j < OutFeatures; j++)
        {
            double z = Bias[j];
            for (int k = 0; k < InFeatures; k++) z += (double)x[r * InFeatures + k] * Weights[k * OutFeatures + j];
            y[r * OutFeatures + j] = Math.Max(0.0, z);
        }
        return y;
    }

    /// <summary>Uniform random floats in [-2, 2).</summary>
    public static float[] RandomData(int count, int seed)
    {
        var rng = new Random(seed);
        var data = new float[count];
        for (int i = 0; i < data.Length; i++) data[i] = (float)(rng.NextDouble() * 4 - 2);
        return data;
    }

    private static byte[] Serialize(GraphProto graph)
    {
        var model = new ModelProto { IrVersion = 8, ProducerName = "Saliency.Models.Tests", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        return model.ToByteArray();
    }

    private static NodeProto Node(string op, string[] inputs, string[] outputs)
    {
        var node = new NodeProto { OpType = op, Name = op + "_" + outputs[0] };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        return node;
    }

    private static ValueInfoProto FloatInfo(string name, object[] dims) => Info(name, TensorProto.Types.DataType.Float, dims);

    /// <param name="dims">long/int for a fixed dimension, string for a symbolic one.</param>
    private static ValueInfoProto Info(string name, TensorProto.Types.DataType type, object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (object d in dims)
            shape.Dim.Add(d is string s ? new TensorShapeProto.Types.Dimension { DimParam = s } : new TensorShapeProto.Types.Dimension { DimValue = Convert.ToInt64(d) });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }

    private static TensorProto FloatInitializer(string name, float[] values, params long[] dims)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        tensor.Dims.AddRange(dims);
        tensor.FloatData.AddRange(values);
        return tensor;
    }
}
