#!/usr/bin/env python3
"""PyTorch peer for CASO/CAFO as the authors compute it (Singla et al. 2019): W from one backward pass per kept class
(retain_graph), g = W(p - y), H v = W (A (W^T v)) with A = diag(p) - p p^T on the kept classes, L by 10 power
iterations, lambda2 = L/2 + 2 (or the given one, to compare outputs with ours at the same lambdas), then FISTA with the
constant step 1/(2 lambda2) (the smooth part's Hessian 2 lambda2 I - H has norm <= 2 lambda2) for a fixed iteration count.

Usage: /usr/bin/python3 tools/peers/caso_peer.py MODEL.pt IMAGE.f32 caso|cafo k lambda1 ITERS[,ITERS..] [lambda2|-] [ours_map.f32,..]
Prints one JSON line per iteration count: per-phase seconds, peak RSS, and the cosine against our map when given.
"""
import json, sys, time
import numpy as np, torch
from common import load_model, load_image, peak_rss_mb, load_avg, cosine

def main(a):
    model_pt, image_path, kind, k, lam1 = a[1], a[2], a[3], int(a[4]), float(a[5])
    iters_list = [int(v) for v in a[6].split(",")]
    lam2_given = float(a[7]) if len(a) > 7 and a[7] != "-" else None
    ours = a[8].split(",") if len(a) > 8 else None
    torch.set_num_threads(2)
    model = load_model(model_pt)
    x = load_image(image_path)
    t = {}
    s0 = time.perf_counter()
    x.requires_grad_(True)
    logits = model(x)[0]
    p = torch.softmax(logits.double(), 0).detach()
    target = int(torch.argmax(p))
    kept = torch.argsort(p, descending=True)[: (k if k > 0 else p.numel())].tolist()
    if target not in kept: kept.append(target)
    t["forward"] = time.perf_counter() - s0
    s = time.perf_counter()
    rows = []
    for i, j in enumerate(kept):  # one backward pass per class, as the authors do
        g, = torch.autograd.grad(logits[j], x, retain_graph=i < len(kept) - 1)
        rows.append(g.reshape(-1))
    W = torch.stack(rows, 1).double()  # d x k
    t["jacobian"] = time.perf_counter() - s
    s = time.perf_counter()
    pk = p[kept]
    y = torch.zeros(len(kept), dtype=torch.float64); y[kept.index(target)] = 1
    grad = W @ (pk - y)
    A = torch.diag(pk) - torch.outer(pk, pk)
    hv = (lambda v: W @ (A @ (W.T @ v))) if kind == "caso" else (lambda v: torch.zeros_like(v))
    t["setup"] = time.perf_counter() - s
    s = time.perf_counter()
    v = torch.randn(W.shape[0], dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    L = 0.0
    if kind == "caso":
        for _ in range(10):
            w = hv(v); L = float(torch.linalg.norm(w)); v = w / L
    lam2 = lam2_given if lam2_given is not None else (L / 2 + 2 if kind == "caso" else 2.0)
    t["spectrum"] = time.perf_counter() - s
    setup_ms = {kk: 1000 * vv for kk, vv in t.items()}
    for n_i, iters in enumerate(iters_list):  # each count solved from scratch; the W, g and L above are shared
        s = time.perf_counter()
        step = 1.0 / (2 * lam2)
        delta = torch.zeros_like(grad); z = delta.clone(); tk = 1.0
        hvp_time = 0.0
        for _ in range(iters):  # minimise -g'D - D'HD/2 + lam2|D|^2 + lam1|D|_1
            h0 = time.perf_counter(); hz = hv(z); hvp_time += time.perf_counter() - h0
            u = z - step * (-grad - hz + 2 * lam2 * z)
            new = torch.sign(u) * torch.clamp(u.abs() - step * lam1, min=0)
            tn = (1 + (1 + 4 * tk * tk) ** 0.5) / 2
            z = new + ((tk - 1) / tn) * (new - delta)
            delta, tk = new, tn
        phases = dict(setup_ms)
        phases["solve"] = 1000 * (time.perf_counter() - s)
        phases["hvp"] = 1000 * hvp_time
        phases["total"] = sum(phases[kk] for kk in ("forward", "jacobian", "setup", "spectrum", "solve"))
        out = {"peer": "torch-" + kind, "k": k, "kept": len(kept), "lambda1": lam1, "lambda2": lam2, "L_power10": L, "iters": iters,
               "phases_ms": phases, "peak_rss_mb": peak_rss_mb(), "load_avg": load_avg(),
               "torch": torch.__version__, "threads": torch.get_num_threads()}
        if ours:
            out["cosine_vs_ours"] = cosine(np.fromfile(ours[n_i], dtype=np.float32), delta.numpy())
        print(json.dumps(out), flush=True)

if __name__ == "__main__":
    main(sys.argv)
