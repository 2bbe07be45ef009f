#!/usr/bin/env python3
"""Markdown tables from out/e2e/results.jsonl (tools/peers/run_e2e.sh) for bench/Saliency.Bench/EndToEnd/RESULTS.md."""
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1] if len(sys.argv) > 1 else "out/e2e/results.jsonl") if l.startswith("{")]
model = "?"
for r in rows:  # a peer's row follows ours on the same model (run_e2e.sh)
    model = r.get("model", model)
    r.setdefault("model", model)
s = lambda ms: f"{ms / 1000:.2f}"


def table(first, columns, keep, cells):
    """One table (after a blank line unless first): the header, then cells(r, r["phases_ms"]) for each row r that keep(r)."""
    if not first:
        print()
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for r in rows:
        if keep(r):
            print("| " + " | ".join(cells(r, r["phases_ms"])) + " |")


table(True, ["model", "method", "settings", "total s", "forward", "Jacobian", "setup", "spectrum L", "HVPs (count)", "FISTA own",
             "solve (sweep?)", "peak RSS MB (after load)", "load"],
      lambda r: r.get("method") in ("caso", "cafo"),
      lambda r, p: [r["model"], r["method"], " ".join(a for a in r["args"].split() if not a.startswith("map=")), s(p["total"]),
                    s(p["forward"]), s(p["jacobian"]), s(p["setup"]), s(p["spectrum"]), f"{s(p['hvp'])} ({r['hvp_products']})",
                    s(p["fista"]), f"{s(p['solve'])} ({'sweep' if r['sweep'] else str(r['fista_iterations']) + ' it'})",
                    f"{r['peak_rss_mb']:.0f} ({r['rss_after_load_mb']:.0f})", str(r["load_avg"])])
table(False, ["model", "peer", "settings", "total s", "forward", "Jacobian", "setup", "spectrum L", "HVPs", "solve", "peak RSS MB",
              "cosine vs ours", "load"],
      lambda r: r.get("peer", "").startswith("torch-ca"),
      lambda r, p: [r["model"], r["peer"], f"k={r['k']} λ1={r['lambda1']:.3g} λ2={r['lambda2']:.4g} {r['iters']} it", s(p["total"]),
                    s(p["forward"]), s(p["jacobian"]), s(p["setup"]), s(p["spectrum"]), s(p["hvp"]), s(p["solve"]),
                    f"{r['peak_rss_mb']:.0f}", f"{r.get('cosine_vs_ours', float('nan')):.6f}", str(r["load_avg"])])
table(False, ["model", "method", "n", "total s", "predict", "sampling", "forward", "moments", "estimate (Σ⁻¹y / LP)", "overhead %",
              "LP iterations", "peak RSS MB", "load"],
      lambda r: r.get("method") in ("leg", "legtv"),
      lambda r, p: [r["model"], r["method"], str(r["n"]), s(p["total"]), s(p["predict"]), s(p["sampling"]), s(p["forward"]),
                    s(p["moments"]), s(p["estimate"]), f"{r['overhead_pct']:.1f}", str(r.get("lp_iterations", "")),
                    f"{r['peak_rss_mb']:.0f}", str(r["load_avg"])])
table(False, ["model", "peer", "n", "total s", "predict", "Σ, chol, inv, D⁺", "sampling", "forward", "moments", "Σ⁻¹y", "3 LPs (HiGHS)",
              "overhead %", "LPs on our y s", "LEG-TV cos", "LEG cos", "peak RSS MB", "load"],
      lambda r: r.get("peer", "").endswith("leg"),
      lambda r, p: [r["model"], r["peer"], str(r["n"]), s(p["total"]), s(p["predict"]), s(p["covariance"]), s(p["sampling"]),
                    s(p["forward"]), s(p["moments"]), s(p["leg_inverse"]), s(p["lp"]), f"{r['overhead_pct']:.1f}",
                    s(r.get("lp_on_our_moments_ms", float("nan"))), f"{r.get('legtv_cosine_same_moments', float('nan')):.4f}",
                    f"{r.get('leg_cosine_same_moments', float('nan')):.6f}", f"{r['peak_rss_mb']:.0f}", str(r["load_avg"])])
