// Anisotropic forward differences D on p1 x p2 grids (row-major, pixel (r, c) at r*p2 + c) and the adjoint D^T,
// batched over `batch` grids stored one after another. Row order of D (m = 2*p1*p2 - p1 - p2 rows per grid):
//   first V = (p1-1)*p2 vertical differences   (Dx)[r*p2 + c]           = x[r+1, c] - x[r, c]
//   then  H = p1*(p2-1) horizontal differences (Dx)[V + r*(p2-1) + c]   = x[r, c+1] - x[r, c]
// No boundary padding. D^T is evaluated in gather form (one thread per pixel, no atomics).
template <typename T>
__device__ void tv_forward(const T* x, T* dx, int p1, int p2, long long batch)
{
    long long p = (long long)p1 * p2;
    long long nv = (long long)(p1 - 1) * p2;
    long long nh = (long long)p1 * (p2 - 1);
    long long m = nv + nh;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < m * batch; i += (long long)gridDim.x * blockDim.x)
    {
        long long b = i / m;
        long long k = i - b * m;
        const T* g = x + b * p;
        if (k < nv)
        {
            dx[i] = g[k + p2] - g[k];
        }
        else
        {
            long long h = k - nv;
            long long r = h / (p2 - 1);
            long long c = h - r * (p2 - 1);
            long long at = r * p2 + c;
            dx[i] = g[at + 1] - g[at];
        }
    }
}

template <typename T>
__device__ void tv_adjoint(const T* u, T* x, int p1, int p2, long long batch)
{
    long long p = (long long)p1 * p2;
    long long nv = (long long)(p1 - 1) * p2;
    long long m = nv + (long long)p1 * (p2 - 1);
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < p * batch; i += (long long)gridDim.x * blockDim.x)
    {
        long long b = i / p;
        long long k = i - b * p;
        int r = (int)(k / p2);
        int c = (int)(k - (long long)r * p2);
        const T* uv = u + b * m;
        const T* uh = uv + nv;
        T acc = T(0);
        if (r > 0) acc += uv[(long long)(r - 1) * p2 + c];
        if (r < p1 - 1) acc -= uv[(long long)r * p2 + c];
        if (c > 0) acc += uh[(long long)r * (p2 - 1) + c - 1];
        if (c < p2 - 1) acc -= uh[(long long)r * (p2 - 1) + c];
        x[i] = acc;
    }
}

extern "C" __global__ void tv_forward_f32(const float* x, float* dx, int p1, int p2, long long batch) { tv_forward<float>(x, dx, p1, p2, batch); }
extern "C" __global__ void tv_forward_f64(const double* x, double* dx, int p1, int p2, long long batch) { tv_forward<double>(x, dx, p1, p2, batch); }
extern "C" __global__ void tv_adjoint_f32(const float* u, float* x, int p1, int p2, long long batch) { tv_adjoint<float>(u, x, p1, p2, batch); }
extern "C" __global__ void tv_adjoint_f64(const double* u, double* x, int p1, int p2, long long batch) { tv_adjoint<double>(u, x, p1, p2, batch); }
