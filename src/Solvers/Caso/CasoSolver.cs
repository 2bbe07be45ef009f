using System.Numerics.Tensors;
using Saliency.Solvers.Fista;

namespace Saliency.Solvers.Caso;

/// <summary>
/// Solves the CAFO/CASO saliency problems of Singla et al. (ICML 2019):
/// <c>maximise gᵀΔ + ½ΔᵀHΔ − λ2‖Δ‖² − λ1‖Δ‖₁</c> (CAFO without the H term), for a batch of λ1 values at once.
/// </summary>
public static class CasoSolver
{
    /// <summary>
    /// λ2 from the rule <c>λ2 = L/2 + margin</c>, or the explicit value in the options, checked for strong concavity.
    /// </summary>
    /// <exception cref="NotStronglyConcaveException">CASO with λ2 ≤ L/2, or CAFO with λ2 ≤ 0.</exception>
    public static double Lambda2(CasoProblem problem, CasoOptions options)
    {
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        double lambda2 = options.Lambda2 ?? problem.LambdaMax / 2 + options.Lambda2Margin;
        if (options.Kind == CasoObjectiveKind.Caso && !(lambda2 > problem.LambdaMax / 2))
            throw new NotStronglyConcaveException(lambda2, problem.LambdaMax / 2,
                $"CASO needs 2λ2 I − H ≻ 0; λ_max(H) = {problem.LambdaMax} ({problem.LambdaMaxKind}).");
        if (options.Kind == CasoObjectiveKind.Cafo && !(lambda2 > 0))
            throw new NotStronglyConcaveException(lambda2, 0, "CAFO needs λ2 > 0.");
        return lambda2;
    }

    /// <summary>
    /// Solves for every λ1 given, in batches of at most <see cref="CasoOptions.MaxBatch"/>; each FISTA iteration of
    /// a batch makes one batched Hessian-vector-product pass for all of its λ1 values (CASO) or none (CAFO).
    /// </summary>
    /// <param name="problem">g, H and L.</param>
    /// <param name="lambda1">L1 weights (≥ 0).</param>
    /// <param name="options">Objective kind, λ2 rule, tolerances.</param>
    /// <returns>One result per λ1, in order. Non-convergence is in each result's <see cref="CasoResult.Status"/>.</returns>
    /// <exception cref="NotStronglyConcaveException">λ2 too small.</exception>
    /// <exception cref="CasoInputException">Negative or non-finite λ1, empty list, bad options.</exception>
    public static CasoResult[] Solve(CasoProblem problem, IReadOnlyList<double> lambda1, CasoOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(lambda1);
        options ??= new CasoOptions();
        double lambda2 = Lambda2(problem, options);
        if (lambda1.Count == 0) throw new CasoInputException("No λ1 values to solve for.", nameof(lambda1));
        for (int i = 0; i < lambda1.Count; i++)
            if (!(lambda1[i] >= 0) || !double.IsFinite(lambda1[i]))
                throw new CasoInputException($"λ1[{i}] = {lambda1[i]} must be finite and non-negative.", nameof(lambda1));

        var device = DeviceBackend(problem, options);
        var quadratic = new CasoQuadratic(problem, lambda2, options.Kind);
        var deviceQuadratic = device is null ? null : new DeviceCasoQuadratic(problem, device, lambda2, options.Kind);
        var fista = new FistaOptions
        {
            Tolerance = options.Tolerance,
            MaxIterations = options.MaxIterations,
            RestartOnIncrease = options.RestartOnIncrease,
            RecordHistory = options.RecordHistory,
            CheckInterval = options.CheckInterval,
            CancellationToken = options.CancellationToken,
        };
        var results = new CasoResult[lambda1.Count];
        for (int start = 0; start < lambda1.Count; start += options.MaxBatch)
        {
            int count = Math.Min(options.MaxBatch, lambda1.Count - start);
            var batch = new double[count];
            for (int j = 0; j < count; j++) batch[j] = lambda1[start + j];
            var solved = deviceQuadratic is null ? FistaSolver.Solve(quadratic, batch, fista) : DeviceFistaSolver.Solve(deviceQuadratic, batch, fista);
            for (int j = 0; j < count; j++) results[start + j] = ToResult(problem, options.Kind, lambda2, solved[j]);
        }
        return results;
    }

    /// <summary>
    /// The backend of the device-resident path, or null for the host path: <see cref="CasoSolverPath.Auto"/> picks the
    /// device when the problem's Hessian runs on an accelerator (so the backend the user chose runs the whole solve).
    /// </summary>
    /// <exception cref="CasoInputException">The device path was requested for a problem whose Hessian is host-only.</exception>
    public static Saliency.Kernels.Backends.IComputeBackend? DeviceBackend(CasoProblem problem, CasoOptions options)
    {
        var backend = problem.Backend;
        return options.Path switch
        {
            CasoSolverPath.Host => null,
            CasoSolverPath.Device => backend ?? throw new CasoInputException(
                "The device-resident solver needs a problem built on a compute backend (CasoProblem.FromClassMajor / FromNoisyCopies with a backend).", nameof(options)),
            _ => backend is not null && backend.Kind != Saliency.Kernels.Backends.BackendKind.Cpu ? backend : null,
        };
    }

    /// <summary>Translates a FISTA minimisation result back to the maximisation's terms.</summary>
    private static CasoResult ToResult(CasoProblem problem, CasoObjectiveKind kind, double lambda2, FistaResult r)
    {
        var x = r.Solution;
        double gx = TensorPrimitives.Dot<double>(problem.Gradient, x);
        double xx = TensorPrimitives.Dot<double>(x, x);
        // ΔᵀHΔ = 2λ2‖Δ‖² − ΔᵀQΔ, with QΔ tracked by FISTA (no extra HVP).
        double xhx = kind == CasoObjectiveKind.Caso ? 2 * lambda2 * xx - TensorPrimitives.Dot<double>(x, r.CurvatureTimesSolution) : 0.0;
        double loss = gx + 0.5 * xhx;
        int zeros = 0;
        foreach (double v in x) if (v == 0.0) zeros++;
        var history = r.ObjectiveHistory?.Select(v => -v).ToArray();
        return new CasoResult(kind, x, -r.Objective, loss, r.Iterations, r.FinalStep, (double)zeros / x.Length,
            r.Lambda1, lambda2, problem.LambdaMax, problem.LambdaMaxKind, r.Status, r.Residual, r.Restarts,
            r.BacktrackingSteps, problem.DroppedProbabilityMass, history);
    }
}
