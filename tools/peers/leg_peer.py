#!/usr/bin/env python3
"""PyTorch + SciPy peer for LEG / LEG-TV as the authors compute it (Luo, Barut, Jin 2019): a dense covariance
Sigma = s2 (D^T D + 11^T/p) on the 28x28 grid per channel (the paper's TV covariance, as ours), its Cholesky factor
and dense inverse, n perturbations per run drawn on the grid for all 3 channels, upsampled x8 (nearest), forward
passes in batches of 50, y = (1/n) sum (f(x0 + z) - f(x0)) z, LEG = Sigma^{-1} y, and LEG-TV per channel as the LP
    min sum t  s.t. -t <= D g <= t,  b - L <= s2 D g <= b + L,  b = D^+T y,  L = 0.1 max|b|
solved by scipy.optimize.linprog(method="highs") in place of MOSEK; g's free constant is set to the mean of the
channel's LEG, as ours. Antithetic pairs (x0 +- z) when n is even, as ours.

Usage: /usr/bin/python3 tools/peers/leg_peer.py MODEL.pt IMAGE.f32 n [ours_moments.f64 ours_legtv_map.f32 ours_leg_map.f32]
With our moments y (written by the e2e harness), the LP and Sigma^{-1} are also run on them and compared (map cosine).
       /usr/bin/python3 tools/peers/leg_peer.py compare ours_moments.f64 ours_legtv_map.f32 ours_leg_map.f32 does only that.
"""
import json, sys, time
import numpy as np, scipy.sparse as sp, torch
from scipy.optimize import linprog
from common import load_model, load_image, peak_rss_mb, load_avg, cosine

R = C = 28; P = R * C; S2 = 0.1; UP = 8

def difference_operator():
    idx = np.arange(P).reshape(R, C)
    frm = np.concatenate([idx[:-1, :].ravel(), idx[:, :-1].ravel()])
    to = np.concatenate([idx[1:, :].ravel(), idx[:, 1:].ravel()])
    m = frm.size
    return sp.csr_matrix((np.r_[np.ones(m), -np.ones(m)], (np.r_[np.arange(m), np.arange(m)], np.r_[to, frm])), shape=(m, P))

def legtv(D, Dpinv, y, gamma_mean):
    m = D.shape[0]
    # The LP is scale-equivariant; solve it for b/‖b‖∞, since HiGHS's absolute tolerances (1e-7) exceed L itself when
    # the moments are tiny (ResNet-50 here: unscaled, its answer broke the constraints by 5-8 L).
    b = Dpinv.T @ y
    scale = np.abs(b).max()
    b = b / scale
    L = 0.1
    eye = sp.identity(m, format="csr"); zero = sp.csr_matrix((m, m))
    A = sp.vstack([sp.hstack([D, -eye]), sp.hstack([-D, -eye]), sp.hstack([S2 * D, zero]), sp.hstack([-S2 * D, zero])]).tocsr()
    res = linprog(np.r_[np.zeros(P), np.ones(m)], A_ub=A, b_ub=np.r_[np.zeros(2 * m), b + L, -(b - L)],
                  bounds=[(None, None)] * P + [(0, None)] * m, method="highs")
    g = res.x[:P] * scale
    return g - g.mean() + gamma_mean, res.status

def compare(a):
    """compare OURS_MOMENTS.f64 OURS_LEGTV.f32 OURS_LEG.f32: the LPs and Σ⁻¹ on our moments only (no model)."""
    D = difference_operator()
    sigma_inv = np.linalg.inv(S2 * (D.T @ D).toarray() + S2 * np.ones((P, P)) / P)
    Dpinv = np.linalg.pinv(D.toarray())
    yo = np.fromfile(a[2], dtype=np.float64).reshape(3, P)
    go = yo @ sigma_inv.T
    s = time.perf_counter()
    tvo, status = zip(*[legtv(D, Dpinv, yo[c], go[c].mean()) for c in range(3)])
    ours = np.fromfile(a[3], dtype=np.float32).reshape(3, P)
    print(json.dumps({"peer": "highs-legtv-compare", "moments": a[2], "lp_ms": 1000 * (time.perf_counter() - s), "lp_status": list(status),
                      "tv_ours": [float(np.abs(D @ ours[c]).sum()) for c in range(3)], "tv_highs": [float(np.abs(D @ tvo[c]).sum()) for c in range(3)],
                      "legtv_cosine_same_moments": cosine(ours, np.array(tvo)),
                      "leg_cosine_same_moments": cosine(np.fromfile(a[4], dtype=np.float32), go)}))

def main(a):
    if a[1] == "compare":
        return compare(a)
    model_pt, image_path, n = a[1], a[2], int(a[3])
    torch.set_num_threads(2)
    model = load_model(model_pt)
    x0 = load_image(image_path)
    t = {k: 0.0 for k in ("predict", "covariance", "sampling", "forward", "moments", "leg_inverse", "lp")}
    s0 = time.perf_counter()
    with torch.no_grad():
        pr = torch.softmax(model(x0)[0].double(), 0)
    target = int(torch.argmax(pr)); f0 = float(pr[target])
    t["predict"] = time.perf_counter() - s0
    s = time.perf_counter()
    D = difference_operator()
    sigma = S2 * (D.T @ D).toarray() + S2 * np.ones((P, P)) / P
    chol = np.linalg.cholesky(sigma)
    sigma_inv = np.linalg.inv(sigma)
    Dpinv = np.linalg.pinv(D.toarray())
    t["covariance"] = time.perf_counter() - s
    rng = np.random.default_rng(7)
    anti = n % 2 == 0
    draws = n // 2 if anti else n
    y = np.zeros((3, P))
    batch = 50 // (2 if anti else 1)
    with torch.no_grad():
        for first in range(0, draws, batch):
            cnt = min(batch, draws - first)
            s = time.perf_counter()
            z = (chol @ rng.standard_normal((P, cnt * 3))).T.reshape(cnt, 3, R, C)
            up = torch.from_numpy(np.repeat(np.repeat(z, UP, 2), UP, 3).astype(np.float32))
            xs = torch.cat([x0 + up, x0 - up]) if anti else x0 + up
            t["sampling"] += time.perf_counter() - s
            s = time.perf_counter()
            f = torch.softmax(model(xs).double(), 1)[:, target].numpy()
            t["forward"] += time.perf_counter() - s
            s = time.perf_counter()
            w = (f[:cnt] - f0) - ((f[cnt:] - f0) if anti else 0)
            y += np.einsum("i,icp->cp", w, z.reshape(cnt, 3, P))
            t["moments"] += time.perf_counter() - s
    y /= n
    s = time.perf_counter()
    gamma = y @ sigma_inv.T
    t["leg_inverse"] = time.perf_counter() - s
    s = time.perf_counter()
    tv = [legtv(D, Dpinv, y[c], gamma[c].mean())[0] for c in range(3)]
    t["lp"] = time.perf_counter() - s
    t["total"] = time.perf_counter() - s0
    out = {"peer": "torch+highs-leg", "n": n, "phases_ms": {k: 1000 * v for k, v in t.items()},
           "overhead_pct": 100 * (t["total"] - t["forward"] - t["predict"] - t["lp"] - t["leg_inverse"]) / (t["forward"] + t["predict"]),
           "peak_rss_mb": peak_rss_mb(), "load_avg": load_avg(), "torch": torch.__version__}
    if len(a) > 6:
        yo = np.fromfile(a[4], dtype=np.float64).reshape(3, P)
        s = time.perf_counter()
        go = yo @ sigma_inv.T
        tvo, status = zip(*[legtv(D, Dpinv, yo[c], go[c].mean()) for c in range(3)])
        out["lp_on_our_moments_ms"] = 1000 * (time.perf_counter() - s)
        out["lp_status"] = list(status)
        out["legtv_cosine_same_moments"] = cosine(np.fromfile(a[5], dtype=np.float32), np.array(tvo))
        out["leg_cosine_same_moments"] = cosine(np.fromfile(a[6], dtype=np.float32), go)
    print(json.dumps(out))

if __name__ == "__main__":
    main(sys.argv)
