// Soft-thresholding (prox of tau*||.||_1), batched over equal slices, one threshold per slice.
// S_tau(x) = max(x - tau, 0) + min(x + tau, 0): exactly 0 for |x| <= tau, the same formula as the CPU path.
#define MAX_SLICES 64
template <typename T> struct Scalars { T v[MAX_SLICES]; };

template <typename T>
__device__ void soft_threshold(const T* x, T* y, long long slice_length, int slices, Scalars<T> tau)
{
    long long n = slice_length * slices;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
    {
        T t = tau.v[i / slice_length];
        T v = x[i];
        y[i] = max(v - t, T(0)) + min(v + t, T(0));
    }
}

extern "C" __global__ void soft_threshold_f32(const float* x, float* y, long long slice_length, int slices, Scalars<float> tau)
{ soft_threshold<float>(x, y, slice_length, slices, tau); }
extern "C" __global__ void soft_threshold_f64(const double* x, double* y, long long slice_length, int slices, Scalars<double> tau)
{ soft_threshold<double>(x, y, slice_length, slices, tau); }
