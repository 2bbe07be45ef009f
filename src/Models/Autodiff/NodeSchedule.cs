using Saliency.Models.Onnx.Proto;

namespace Saliency.Models.Autodiff;

/// <summary>
/// The order in which the exported model lists its nodes, chosen so that ONNX Runtime's topological sort stays
/// linear in the graph's size.
/// </summary>
/// <remarks>
/// <para><b>Why.</b> ONNX Runtime sorts the graph with Kahn's algorithm every time it builds a <c>GraphViewer</c>
/// (once per graph transformer, for partitioning and for the session state: dozens of times per session). Ready
/// nodes wait in a priority queue ordered by node index (the position in the model's node list), and that queue is
/// a <c>std::list</c> into which each push inserts with <c>std::upper_bound</c>: O(queue length) per push
/// (<c>VisitorPriorityQueue</c> in onnxruntime/core/graph/graph.cc, 1.29–1.31). The nodes the exporter appends
/// for the backward pass have indices above every forward node. Those that read forward tensors only — a ReLU's
/// <c>Greater</c>/<c>Cast</c> mask, a sigmoid's <c>s(1 − s)</c>, MaxPool's index reshape — become ready during the
/// forward pass but wait in the queue until the whole forward chain has been visited. For a depth-n network the
/// queue grows to Θ(n), each push costs Θ(n), and each sort Θ(n²): session creation went 0.5, 2, 8.5, 35 s for 500,
/// 1,000, 2,000, 4,000 ReLUs (issue 13), with or without graph optimisations.</para>
/// <para><b>What.</b> Forward nodes keep their (topological) order. Each appended node that does not depend on the
/// cotangents input is listed right after the latest forward node it reads from (before every forward node when it
/// reads only initializers and graph inputs); appended nodes that depend on the cotangents follow the forward pass
/// in emission order (already topological: a rule emits the producers of a tensor before its consumers). The list
/// is then a topological order in which a node's index comes right after it becomes ready, so ONNX Runtime's
/// lowest-index-first sort reproduces it with an O(1) queue, and runs the masks as soon as their inputs exist.
/// Peak memory does not grow: a mask replaces the forward tensor it was computed from, which would otherwise have
/// been kept alive until the backward pass.</para>
/// </remarks>
internal static class NodeSchedule
{
    /// <summary>
    /// Orders <paramref name="forward"/> (topologically sorted) followed by the <paramref name="appended"/> nodes
    /// (in emission order) as described on <see cref="NodeSchedule"/>.
    /// </summary>
    /// <param name="forward">The original nodes, topologically sorted.</param>
    /// <param name="appended">The nodes added by the exporter, each after the nodes it reads from.</param>
    /// <param name="cotangents">The name of the added cotangents input: what the backward pass depends on.</param>
    public static List<NodeProto> Order(IReadOnlyList<NodeProto> forward, IReadOnlyList<NodeProto> appended, string cotangents)
    {
        // The slot of a tensor: the index of the forward node after which it exists (−1: initializer or graph
        // input, int.MaxValue: depends on the cotangents, so only after the forward pass).
        var slot = new Dictionary<string, int>(StringComparer.Ordinal) { [cotangents] = int.MaxValue };
        for (int i = 0; i < forward.Count; i++)
            foreach (var o in forward[i].Output)
                if (o.Length > 0) slot[o] = i;

        var keyed = new List<(int Slot, int Kind, int Order, NodeProto Node)>(forward.Count + appended.Count);
        for (int i = 0; i < forward.Count; i++) keyed.Add((i, 0, i, forward[i]));
        for (int j = 0; j < appended.Count; j++)
        {
            var node = appended[j];
            int s = -1;
            foreach (var input in node.Input)
                if (input.Length > 0 && slot.TryGetValue(input, out var t) && t > s) s = t;
            foreach (var o in node.Output)
                if (o.Length > 0) slot[o] = s;
            // Kind 1 puts an appended node after the forward node of the same slot; ties keep emission order,
            // which is topological among appended nodes (a producer's slot never exceeds its consumer's).
            keyed.Add((s, 1, j, node));
        }
        keyed.Sort((a, b) => a.Slot != b.Slot ? a.Slot.CompareTo(b.Slot) : a.Kind != b.Kind ? a.Kind.CompareTo(b.Kind) : a.Order.CompareTo(b.Order));
        return keyed.ConvertAll(k => k.Node);
    }
}
