// Element-wise vector updates batched over equal slices with per-slice scalars (FISTA runs several lambda_1 at once,
// each with its own step size and momentum). Outputs may alias inputs at the same index (each thread reads its
// element of every input before writing).
#define MAX_SLICES 64
template <typename T> struct Scalars { T v[MAX_SLICES]; };

#define GRID_STRIDE(i, n) for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < (n); i += (long long)gridDim.x * blockDim.x)

template <typename T> __device__ __forceinline__ T soft(T v, T t) { return max(v - t, T(0)) + min(v + t, T(0)); }

// y = alpha_s * x + beta_s * y
template <typename T>
__device__ void axpby(const T* x, T* y, long long slice_length, int slices, Scalars<T> alpha, Scalars<T> beta)
{
    GRID_STRIDE(i, slice_length * slices)
    {
        int s = (int)(i / slice_length);
        y[i] = alpha.v[s] * x[i] + beta.v[s] * y[i];
    }
}

// x_new = S_{t*lambda}(y - t*g)
template <typename T>
__device__ void prox_gradient(const T* y, const T* g, T* x_new, long long slice_length, int slices, Scalars<T> step, Scalars<T> lambda)
{
    GRID_STRIDE(i, slice_length * slices)
    {
        int s = (int)(i / slice_length);
        T t = step.v[s];
        x_new[i] = soft(y[i] - t * g[i], t * lambda.v[s]);
    }
}

// y_new = x_new + beta_s (x_new - x_old)
template <typename T>
__device__ void extrapolate(const T* x_new, const T* x_old, T* y_new, long long slice_length, int slices, Scalars<T> beta)
{
    GRID_STRIDE(i, slice_length * slices)
    {
        int s = (int)(i / slice_length);
        T xn = x_new[i];
        y_new[i] = xn + beta.v[s] * (xn - x_old[i]);
    }
}

// Fused FISTA step: x_new = S_{t*lambda}(y - t*g), y_new = x_new + beta (x_new - x_old).
template <typename T>
__device__ void fista_update(const T* y, const T* g, const T* x_old, T* x_new, T* y_new, long long slice_length, int slices,
                             Scalars<T> step, Scalars<T> lambda, Scalars<T> beta)
{
    GRID_STRIDE(i, slice_length * slices)
    {
        int s = (int)(i / slice_length);
        T t = step.v[s];
        T xo = x_old[i];
        T xn = soft(y[i] - t * g[i], t * lambda.v[s]);
        x_new[i] = xn;
        y_new[i] = xn + beta.v[s] * (xn - xo);
    }
}

#define INSTANTIATE(T, S) \
extern "C" __global__ void axpby_##S(const T* x, T* y, long long n, int slices, Scalars<T> a, Scalars<T> b) { axpby<T>(x, y, n, slices, a, b); } \
extern "C" __global__ void prox_gradient_##S(const T* y, const T* g, T* xn, long long n, int slices, Scalars<T> t, Scalars<T> l) { prox_gradient<T>(y, g, xn, n, slices, t, l); } \
extern "C" __global__ void extrapolate_##S(const T* xn, const T* xo, T* yn, long long n, int slices, Scalars<T> b) { extrapolate<T>(xn, xo, yn, n, slices, b); } \
extern "C" __global__ void fista_update_##S(const T* y, const T* g, const T* xo, T* xn, T* yn, long long n, int slices, Scalars<T> t, Scalars<T> l, Scalars<T> b) \
{ fista_update<T>(y, g, xo, xn, yn, n, slices, t, l, b); }

INSTANTIATE(float, f32)
INSTANTIATE(double, f64)
