// Per-slice reductions, stage 1: block b of slice s reduces its part of the slice in double precision and writes
// partials[s * parts + b]; the host adds (or takes the max of) the few partials per slice, deterministically.
// op: 0 dot(x,y), 1 sum|x|, 2 sum x^2, 3 max|x|, 4 count(x == 0), 5 count(!isfinite(x)).
template <typename T, int OP>
__device__ __forceinline__ double element(const T* x, const T* y, long long i)
{
    double v = (double)x[i];
    if (OP == 0) return v * (double)y[i];
    if (OP == 1) return fabs(v);
    if (OP == 2) return v * v;
    if (OP == 3) return fabs(v);
    if (OP == 4) return v == 0.0 ? 1.0 : 0.0;
    return isfinite(v) ? 0.0 : 1.0;
}

template <typename T, int OP>
__device__ void reduce_partial(const T* x, const T* y, long long slice_length, int parts, double* partials)
{
    __shared__ double shared[256];
    int s = blockIdx.y;
    const T* xs = x + (long long)s * slice_length;
    const T* ys = y ? y + (long long)s * slice_length : nullptr;
    long long chunk = (slice_length + parts - 1) / parts;
    long long begin = chunk * blockIdx.x;
    long long end = min(begin + chunk, slice_length);
    double acc = 0.0;
    for (long long i = begin + threadIdx.x; i < end; i += blockDim.x)
    {
        double e = element<T, OP>(xs, ys, i);
        acc = OP == 3 ? fmax(acc, e) : acc + e;
    }
    shared[threadIdx.x] = acc;
    __syncthreads();
    for (int stride = blockDim.x / 2; stride > 0; stride >>= 1)
    {
        if (threadIdx.x < stride)
            shared[threadIdx.x] = OP == 3 ? fmax(shared[threadIdx.x], shared[threadIdx.x + stride]) : shared[threadIdx.x] + shared[threadIdx.x + stride];
        __syncthreads();
    }
    if (threadIdx.x == 0) partials[s * parts + blockIdx.x] = shared[0];
}

#define INSTANTIATE(T, S) \
extern "C" __global__ void reduce_dot_##S(const T* x, const T* y, long long n, int parts, double* p) { reduce_partial<T, 0>(x, y, n, parts, p); } \
extern "C" __global__ void reduce_sumabs_##S(const T* x, long long n, int parts, double* p) { reduce_partial<T, 1>(x, nullptr, n, parts, p); } \
extern "C" __global__ void reduce_sumsq_##S(const T* x, long long n, int parts, double* p) { reduce_partial<T, 2>(x, nullptr, n, parts, p); } \
extern "C" __global__ void reduce_maxabs_##S(const T* x, long long n, int parts, double* p) { reduce_partial<T, 3>(x, nullptr, n, parts, p); } \
extern "C" __global__ void reduce_zeros_##S(const T* x, long long n, int parts, double* p) { reduce_partial<T, 4>(x, nullptr, n, parts, p); } \
extern "C" __global__ void reduce_nonfinite_##S(const T* x, long long n, int parts, double* p) { reduce_partial<T, 5>(x, nullptr, n, parts, p); }

INSTANTIATE(float, f32)
INSTANTIATE(double, f64)
