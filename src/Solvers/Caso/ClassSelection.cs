namespace Saliency.Solvers.Caso;

/// <summary>
/// Keeping only the top-k classes of W by probability: the Hessian and gradient then see the sub-block of
/// <c>A = diag(p) − ppᵀ</c> on those classes. The mass of the dropped classes is reported, so a user sees the
/// approximation chosen (it bounds the dropped part: every dropped entry of A is at most that mass in size).
/// </summary>
internal static class ClassSelection
{
    /// <summary>
    /// Indices of the <paramref name="k"/> most probable classes (descending probability), plus the target class
    /// when it is not among them (it carries the loss, so it is never dropped).
    /// </summary>
    /// <param name="probabilities">p over all classes.</param>
    /// <param name="k">How many classes to keep (≥ 1). k ≥ c keeps all.</param>
    /// <param name="target">Class that must be kept.</param>
    /// <param name="droppedMass">Σ p over the classes left out.</param>
    public static int[] TopClasses(ReadOnlySpan<double> probabilities, int k, int target, out double droppedMass)
    {
        int c = probabilities.Length;
        if (k < 1) throw new CasoInputException($"Keep at least one class (k = {k}).", nameof(k));
        var order = new int[c];
        for (int i = 0; i < c; i++) order[i] = i;
        var keys = probabilities.ToArray();
        // Stable descending order: ties keep the lower class index first.
        Array.Sort(order, (a, b) => keys[b] != keys[a] ? keys[b].CompareTo(keys[a]) : a.CompareTo(b));
        var kept = order.Take(Math.Min(k, c)).ToList();
        if (!kept.Contains(target)) kept.Add(target);
        var keptSet = new HashSet<int>(kept);
        droppedMass = 0;
        for (int i = 0; i < c; i++) if (!keptSet.Contains(i)) droppedMass += probabilities[i];
        return kept.ToArray();
    }
}
