// Batched Hessian-vector products H V = W (A (W^T V)), A = diag(p) - p p^T, with W class-major (class j's d values
// contiguous at j*d), V and HV row-major k x d (right-hand side r at r*d). Three kernels per block of KB right-hand
// sides:
//   hvp_project : partial[(jj*parts + b)*k + r] = sum over pixel segment b of W[class_jj, i] * V[r, i]   (pass 1)
//   hvp_middle  : U[jj, r] = sum_b partial; s_r = sum_jj p_jj U[jj, r]; Z[jj*k + r] = p_jj (U[jj, r] - s_r)
//   hvp_expand  : HV[r, i] = sum_jj W[class_jj, i] * Z[jj*k + r]                                             (pass 2)
// W is read once per pass for every block of up to 16 right-hand sides.
#define CB 4   // classes per block in pass 1: V is read from L2/shared once per CB classes

template <int KB>
__device__ void project(const float* __restrict__ W, const int* __restrict__ classes, int c_active, long long d,
                        const float* __restrict__ V, int k, int r0, int parts, double* __restrict__ partial)
{
    __shared__ float red[CB * KB][8];        // one value per warp (blockDim.x == 256)
    int jj0 = blockIdx.y * CB;
    long long chunk = (d + parts - 1) / parts;
    long long begin = chunk * blockIdx.x;
    long long end = min(begin + chunk, d);
    float acc[CB][KB];
#pragma unroll
    for (int c = 0; c < CB; c++)
#pragma unroll
        for (int r = 0; r < KB; r++) acc[c][r] = 0.f;
    const float* w[CB];
#pragma unroll
    for (int c = 0; c < CB; c++) w[c] = jj0 + c < c_active ? W + (long long)classes[jj0 + c] * d : nullptr;
    for (long long i = begin + threadIdx.x; i < end; i += blockDim.x)
    {
        float v[KB];
#pragma unroll
        for (int r = 0; r < KB; r++) v[r] = V[(long long)(r0 + r) * d + i];
#pragma unroll
        for (int c = 0; c < CB; c++)
        {
            if (w[c] == nullptr) continue;
            float wv = w[c][i];
#pragma unroll
            for (int r = 0; r < KB; r++) acc[c][r] = fmaf(wv, v[r], acc[c][r]);
        }
    }
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
    for (int c = 0; c < CB; c++)
#pragma unroll
        for (int r = 0; r < KB; r++)
        {
            float x = acc[c][r];
            for (int off = 16; off > 0; off >>= 1) x += __shfl_down_sync(0xffffffffu, x, off);
            if (lane == 0) red[c * KB + r][warp] = x;
        }
    __syncthreads();
    for (int q = threadIdx.x; q < CB * KB; q += blockDim.x)
    {
        int c = q / KB, r = q - c * KB;
        if (jj0 + c >= c_active) continue;
        double s = 0.0;
        for (int wi = 0; wi < (int)(blockDim.x >> 5); wi++) s += (double)red[q][wi];
        partial[((long long)(jj0 + c) * parts + blockIdx.x) * k + r0 + r] = s;
    }
}

// One block per right-hand side r; c_active <= any size (loops).
extern "C" __global__ void hvp_middle(const double* __restrict__ partial, const float* __restrict__ p, int c_active, int parts, int k,
                                      double* __restrict__ u_scratch, float* __restrict__ Z)
{
    __shared__ double red[256];
    int r = blockIdx.x;
    double local = 0.0;
    for (int jj = threadIdx.x; jj < c_active; jj += blockDim.x)
    {
        double u = 0.0;
        for (int b = 0; b < parts; b++) u += partial[((long long)jj * parts + b) * k + r];
        u_scratch[(long long)jj * k + r] = u;
        local += (double)p[jj] * u;
    }
    red[threadIdx.x] = local;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1)
    {
        if ((int)threadIdx.x < s) red[threadIdx.x] += red[threadIdx.x + s];
        __syncthreads();
    }
    double pu = red[0];
    for (int jj = threadIdx.x; jj < c_active; jj += blockDim.x)
        Z[(long long)jj * k + r] = (float)((double)p[jj] * (u_scratch[(long long)jj * k + r] - pu));
}

// cuBLAS path (all classes): U = W^T V comes from SGEMM column-major c x k (U[j + r*c]); Z in the same layout.
extern "C" __global__ void hvp_middle_colmajor(const float* __restrict__ U, const float* __restrict__ p, int c, float* __restrict__ Z)
{
    __shared__ double red[256];
    int r = blockIdx.x;
    const float* u = U + (long long)r * c;
    double local = 0.0;
    for (int j = threadIdx.x; j < c; j += blockDim.x) local += (double)p[j] * (double)u[j];
    red[threadIdx.x] = local;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1)
    {
        if ((int)threadIdx.x < s) red[threadIdx.x] += red[threadIdx.x + s];
        __syncthreads();
    }
    double pu = red[0];
    for (int j = threadIdx.x; j < c; j += blockDim.x) Z[(long long)r * c + j] = (float)((double)p[j] * ((double)u[j] - pu));
}

#define ZCHUNK 256
template <int KB>
__device__ void expand(const float* __restrict__ W, const int* __restrict__ classes, int c_active, long long d,
                       const float* __restrict__ Z, int k, int r0, float* __restrict__ HV)
{
    __shared__ float zs[ZCHUNK * KB];
    __shared__ int cls[ZCHUNK];
    long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    float acc[KB];
#pragma unroll
    for (int r = 0; r < KB; r++) acc[r] = 0.f;
    for (int j0 = 0; j0 < c_active; j0 += ZCHUNK)
    {
        int n = min(ZCHUNK, c_active - j0);
        __syncthreads();
        for (int q = threadIdx.x; q < n * KB; q += blockDim.x)
        {
            int jj = q / KB, r = q - jj * KB;
            zs[q] = Z[(long long)(j0 + jj) * k + r0 + r];
        }
        for (int q = threadIdx.x; q < n; q += blockDim.x) cls[q] = classes[j0 + q];
        __syncthreads();
        if (i < d)
        {
#pragma unroll 4
            for (int jj = 0; jj < n; jj++)
            {
                float wv = W[(long long)cls[jj] * d + i];
#pragma unroll
                for (int r = 0; r < KB; r++) acc[r] = fmaf(wv, zs[jj * KB + r], acc[r]);
            }
        }
    }
    if (i < d)
    {
#pragma unroll
        for (int r = 0; r < KB; r++) HV[(long long)(r0 + r) * d + i] = acc[r];
    }
}

#define INSTANTIATE(KB) \
extern "C" __global__ void hvp_project_##KB(const float* W, const int* classes, int c_active, long long d, const float* V, int k, int r0, int parts, double* partial) \
{ project<KB>(W, classes, c_active, d, V, k, r0, parts, partial); } \
extern "C" __global__ void hvp_expand_##KB(const float* W, const int* classes, int c_active, long long d, const float* Z, int k, int r0, float* HV) \
{ expand<KB>(W, classes, c_active, d, Z, k, r0, HV); }

INSTANTIATE(1)
INSTANTIATE(2)
INSTANTIATE(4)
INSTANTIATE(8)
INSTANTIATE(16)
