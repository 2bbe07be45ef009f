// Batched primal-dual (PDHG) kernels for the LEG-TV LP with the paper's covariance,
//   min ||D g||_1  s.t.  |s2 (D g)_e - b_e| <= L,
// written min_g F(D g); see PrimalDualTvStep.cs (the CPU version of the same arithmetic) for the derivation.
// A batch holds B independent LPs on one p1 x p2 grid, stored one after another: x (B*p), y (B*m), b (B*m).
// Per-LP scalars live in a device array `par` of PDTV_PARAMS doubles per LP:
//   [0] tau  [1] sigma  [2] L  [3] 1/s2  [4] averaging weight  [5] active (0 or 1)
// Layout of D (as Saliency.Linalg.Grid.GridShape): first V = (p1-1)*p2 vertical differences
// (Dg)[r*p2 + c] = g[r+1,c] - g[r,c], then p1*(p2-1) horizontal ones (Dg)[V + r*(p2-1) + c] = g[r,c+1] - g[r,c].
#define PDTV_PARAMS 6

__device__ __forceinline__ double pdtv_dty(const double* yv, const double* yh, int r, int c, int p1, int p2)
{
    // (D^T y)[r,c] = yv[r-1,c] - yv[r,c] + yh[r,c-1] - yh[r,c]
    double acc = 0.0;
    if (r > 0) acc += yv[(long long)(r - 1) * p2 + c];
    if (r < p1 - 1) acc -= yv[(long long)r * p2 + c];
    if (c > 0) acc += yh[(long long)r * (p2 - 1) + c - 1];
    if (c < p2 - 1) acc -= yh[(long long)r * (p2 - 1) + c];
    return acc;
}

__device__ __forceinline__ double pdtv_prox(double w, double lo, double hi)
{
    // y+ = w - clip(shrink_1(w), lo, hi), shrink_1(w) = w - clamp(w, -1, 1)
    double s = w - fmin(fmax(w, -1.0), 1.0);
    s = fmin(fmax(s, lo), hi);
    return w - s;
}

// One PDHG step for every LP of the batch in a single launch: one thread per pixel. The thread computes x+ at its
// pixel and, to update the vertical edge below it and the horizontal edge to its right without a grid-wide barrier,
// recomputes x+ at those two neighbours from the old y (outputs go to separate buffers, so nothing races).
// xs/ys (running sums for the average iterate) may be null.
extern "C" __global__ void pdtv_step_f64(
    const double* x, const double* y, const double* b, double* xo, double* yo, double* xs, double* ys,
    const double* pscale, const double* par, int p1, int p2, long long batch)
{
    long long p = (long long)p1 * p2;
    long long nv = (long long)(p1 - 1) * p2;
    long long m = nv + (long long)p1 * (p2 - 1);
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < p * batch; i += (long long)gridDim.x * blockDim.x)
    {
        long long k = i / p;
        const double* pk = par + k * PDTV_PARAMS;
        if (pk[5] == 0.0) continue;
        double tau = pk[0], sigma = pk[1], L = pk[2], q = sigma * pk[3], aw = pk[4];
        long long j = i - k * p;
        int r = (int)(j / p2);
        int c = (int)(j - (long long)r * p2);
        const double* xk = x + k * p;
        const double* yv = y + k * m;
        const double* yh = yv + nv;
        const double* bk = b + k * m;

        double t = pscale ? tau * pscale[j] : tau;
        double xOld = xk[j];
        double xNew = xOld - t * pdtv_dty(yv, yh, r, c, p1, p2);
        double xb = 2.0 * xNew - xOld;
        xo[i] = xNew;
        if (xs) xs[i] += aw * xNew;

        if (r < p1 - 1)
        {
            long long jd = j + p2;
            double td = pscale ? tau * pscale[jd] : tau;
            double xdOld = xk[jd];
            double xdb = 2.0 * (xdOld - td * pdtv_dty(yv, yh, r + 1, c, p1, p2)) - xdOld;
            long long e = (long long)r * p2 + c;
            double w = yv[e] + sigma * (xdb - xb);
            double yn = pdtv_prox(w, q * (bk[e] - L), q * (bk[e] + L));
            yo[k * m + e] = yn;
            if (ys) ys[k * m + e] += aw * yn;
        }
        if (c < p2 - 1)
        {
            long long jr = j + 1;
            double tr = pscale ? tau * pscale[jr] : tau;
            double xrOld = xk[jr];
            double xrb = 2.0 * (xrOld - tr * pdtv_dty(yv, yh, r, c + 1, p1, p2)) - xrOld;
            long long e = nv + (long long)r * (p2 - 1) + c;
            double w = yv[e] + sigma * (xrb - xb);
            double yn = pdtv_prox(w, q * (bk[e] - L), q * (bk[e] + L));
            yo[k * m + e] = yn;
            if (ys) ys[k * m + e] += aw * yn;
        }
    }
}

// The split of y into the certificate's (u, v): v minimises v*b + L|v| on [(y-1)/s2, (y+1)/s2] (see the C# side).
__device__ __forceinline__ double pdtv_split(double y, double b, double L, double s2)
{
    double lo = (y - 1.0) / s2, hi = (y + 1.0) / s2;
    double best = lo, bestValue = lo * b + L * fabs(lo);
    double hiValue = hi * b + L * fabs(hi);
    if (hiValue < bestValue) { best = hi; bestValue = hiValue; }
    if (lo <= 0.0 && hi >= 0.0 && bestValue > 0.0) best = 0.0;
    return best;
}

// KKT terms of (scale_k * x_k, scale_k * y_k) per LP, accumulated with atomics into out[4k .. 4k+3]:
//   [0] ||D x||_1   [1] ||(|s2 D x - b| - L)+||_2^2   [2] dual objective -sum(v b + L|v|)   [3] ||D^T y||_2^2
// `scale` (per LP, e.g. 1/sum of weights for the running average) lets the average be evaluated without a copy.
// One thread per pixel: the pixel's D^T y term and its two owned edges (below, right). `out` must be zeroed first.
extern "C" __global__ void pdtv_evaluate_f64(
    const double* x, const double* y, const double* b, const double* scale, const double* par, double* out,
    int p1, int p2, long long batch)
{
    long long p = (long long)p1 * p2;
    long long nv = (long long)(p1 - 1) * p2;
    long long m = nv + (long long)p1 * (p2 - 1);
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < p * batch; i += (long long)gridDim.x * blockDim.x)
    {
        long long k = i / p;
        const double* pk = par + k * PDTV_PARAMS;
        if (pk[5] == 0.0) continue;
        double L = pk[2], s2 = 1.0 / pk[3], sc = scale[k];
        long long j = i - k * p;
        int r = (int)(j / p2);
        int c = (int)(j - (long long)r * p2);
        const double* xk = x + k * p;
        const double* yv = y + k * m;
        const double* yh = yv + nv;
        const double* bk = b + k * m;
        double dty = sc * pdtv_dty(yv, yh, r, c, p1, p2);
        double tv = 0.0, viol = 0.0, dual = 0.0;
        if (r < p1 - 1)
        {
            long long e = (long long)r * p2 + c;
            double z = sc * (xk[j + p2] - xk[j]);
            tv += fabs(z);
            double over = fabs(s2 * z - bk[e]) - L;
            if (over > 0.0) viol += over * over;
            double v = pdtv_split(sc * yv[e], bk[e], L, s2);
            dual -= v * bk[e] + L * fabs(v);
        }
        if (c < p2 - 1)
        {
            long long e = nv + (long long)r * (p2 - 1) + c;
            double z = sc * (xk[j + 1] - xk[j]);
            tv += fabs(z);
            double over = fabs(s2 * z - bk[e]) - L;
            if (over > 0.0) viol += over * over;
            double v = pdtv_split(sc * yv[e], bk[e], L, s2);
            dual -= v * bk[e] + L * fabs(v);
        }
        atomicAdd(out + 4 * k + 0, tv);
        atomicAdd(out + 4 * k + 1, viol);
        atomicAdd(out + 4 * k + 2, dual);
        atomicAdd(out + 4 * k + 3, dty * dty);
    }
}

// Restart of the LPs with mode[k] != 0 (1: to the current iterate, 2: to the running average sum * avgScale[k]):
// writes the restart point into x/y, accumulates ||x - xLast||^2 and ||y - yLast||^2 into dist[2k], dist[2k+1]
// (for the primal weight update), copies the point into xLast/yLast and clears the sums. `dist` must be zeroed.
// One thread per element of the longer (dual) vector; n = p or m.
extern "C" __global__ void pdtv_restart_f64(
    double* x, double* y, double* xs, double* ys, double* xLast, double* yLast, const int* mode, const double* avgScale,
    double* dist, int p1, int p2, long long batch)
{
    long long p = (long long)p1 * p2;
    long long m = 2 * p - p1 - p2;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < m * batch; i += (long long)gridDim.x * blockDim.x)
    {
        long long k = i / m;
        int md = mode[k];
        if (md == 0) continue;
        long long e = i - k * m;
        long long iy = k * m + e;
        double yNew = md == 2 ? ys[iy] * avgScale[k] : y[iy];
        double dy = yNew - yLast[iy];
        y[iy] = yNew;
        yLast[iy] = yNew;
        if (ys) ys[iy] = 0.0;
        double acc = dy * dy, accx = 0.0;
        if (e < p)
        {
            long long ix = k * p + e;
            double xNew = md == 2 ? xs[ix] * avgScale[k] : x[ix];
            double dx = xNew - xLast[ix];
            x[ix] = xNew;
            xLast[ix] = xNew;
            if (xs) xs[ix] = 0.0;
            accx = dx * dx;
        }
        atomicAdd(dist + 2 * k + 1, acc);
        if (accx != 0.0) atomicAdd(dist + 2 * k, accx);
    }
}
