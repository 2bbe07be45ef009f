#!/usr/bin/python3
"""HiGHS peer for the LEG-TV LP benchmark (bench/Saliency.Bench/Lp).

Reads one instance written by the benchmark (text: "rows cols s2 L" on the first line, then the m = 2·rows·cols −
rows − cols entries of b, one per line; D's rows are the vertical differences then the horizontal ones, as
Saliency.Linalg.Grid.GridShape) and solves

    min Σ t   s.t.  −t ≤ D g ≤ t,   b − L ≤ s² D g ≤ b + L,   g free, t ≥ 0

with scipy.optimize.linprog(method="highs"). Prints one line "objective=<float> solve_seconds=<float> status=<int>"
where solve_seconds times linprog alone (not Python start-up, imports or building the matrices).
With --no-solve it only imports SciPy, reads the instance and builds the matrices (the start-up overhead the
benchmark subtracts). Run it with Debian's /usr/bin/python3 (python3-scipy, see tools/setup-bench.sh).
"""
import sys
import time

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog


def difference_operator(rows, cols):
    idx = np.arange(rows * cols).reshape(rows, cols)
    frm = np.concatenate([idx[:-1, :].ravel(), idx[:, :-1].ravel()])
    to = np.concatenate([idx[1:, :].ravel(), idx[:, 1:].ravel()])
    m = frm.size
    data = np.concatenate([np.ones(m), -np.ones(m)])
    r = np.concatenate([np.arange(m), np.arange(m)])
    c = np.concatenate([to, frm])
    return sp.csr_matrix((data, (r, c)), shape=(m, rows * cols))


def main(argv):
    path = argv[1]
    no_solve = "--no-solve" in argv
    with open(path) as f:
        head = f.readline().split()
        rows, cols, s2, bound = int(head[0]), int(head[1]), float(head[2]), float(head[3])
        b = np.array([float(line) for line in f if line.strip()])
    d = difference_operator(rows, cols)
    m, p = d.shape
    assert b.size == m, f"b has {b.size} entries, expected {m}"
    eye = sp.identity(m, format="csr")
    zero = sp.csr_matrix((m, m))
    a_ub = sp.vstack([sp.hstack([d, -eye]), sp.hstack([-d, -eye]), sp.hstack([s2 * d, zero]), sp.hstack([-s2 * d, zero])]).tocsr()
    b_ub = np.concatenate([np.zeros(m), np.zeros(m), b + bound, -(b - bound)])
    c = np.concatenate([np.zeros(p), np.ones(m)])
    bounds = [(None, None)] * p + [(0, None)] * m
    if no_solve:
        print("objective=nan solve_seconds=0 status=-1")
        return 0
    start = time.perf_counter()
    res = linprog(c, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
    elapsed = time.perf_counter() - start
    print(f"objective={res.fun!r} solve_seconds={elapsed!r} status={res.status}")
    return 0 if res.status == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
