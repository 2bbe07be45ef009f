// SmoothGrad's non-diverging visualisation, batched over maps (map b: `channels` planes of `pixels` floats at
// b*channels*pixels; output plane at b*pixels):
//   s = sum_c |x_c| (in channel order, float, same as the CPU),
//   cap = q-th percentile of s with linear interpolation between order statistics (numpy's default):
//         rank = q/100 * (P - 1), cap = s_(lo) + (rank - lo) * (s_(lo+1) - s_(lo)),
//   out = clip(s / cap, 0, 1)  (cap = 0: out = 1 where s > 0, else 0).
// The order statistics come from an exact radix select on the float bits (s >= 0, so the bit patterns order like
// the values), one block per map: four 8-bit digit passes with a shared histogram.
extern "C" __global__ void norm_abs_sum(const float* __restrict__ x, float* __restrict__ s, int channels, long long pixels, long long batch)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < pixels * batch; i += (long long)gridDim.x * blockDim.x)
    {
        long long b = i / pixels, k = i - b * pixels;
        const float* xb = x + b * channels * pixels + k;
        float acc = 0.f;
        for (int c = 0; c < channels; c++) acc += fabsf(xb[(long long)c * pixels]);
        s[i] = acc;
    }
}

__device__ unsigned int radix_select(const float* s, long long n, long long k, unsigned int* hist, unsigned int* shared_state)
{
    unsigned int prefix = 0, mask = 0;
    for (int shift = 24; shift >= 0; shift -= 8)
    {
        for (int q = threadIdx.x; q < 256; q += blockDim.x) hist[q] = 0;
        __syncthreads();
        for (long long i = threadIdx.x; i < n; i += blockDim.x)
        {
            unsigned int key = __float_as_uint(s[i]);
            if ((key & mask) == prefix) atomicAdd(&hist[(key >> shift) & 255u], 1u);
        }
        __syncthreads();
        if (threadIdx.x == 0)
        {
            unsigned long long below = 0;
            unsigned int digit = 0;
            for (; digit < 255; digit++)
            {
                if (below + hist[digit] > (unsigned long long)k) break;
                below += hist[digit];
            }
            shared_state[0] = digit;
            shared_state[1] = (unsigned int)below;
        }
        __syncthreads();
        unsigned int digit = shared_state[0];
        k -= shared_state[1];
        prefix |= digit << shift;
        mask |= 255u << shift;
        __syncthreads();
    }
    return prefix;
}

extern "C" __global__ void norm_percentile(const float* __restrict__ s, long long pixels, double percentile, double* __restrict__ caps)
{
    __shared__ unsigned int hist[256];
    __shared__ unsigned int state[2];
    const float* sb = s + (long long)blockIdx.x * pixels;
    double rank = percentile / 100.0 * (double)(pixels - 1);
    long long lo = (long long)floor(rank);
    double frac = rank - (double)lo;
    float vlo = __uint_as_float(radix_select(sb, pixels, lo, hist, state));
    float vhi = vlo;
    if (frac > 0.0 && lo + 1 < pixels) vhi = __uint_as_float(radix_select(sb, pixels, lo + 1, hist, state));
    if (threadIdx.x == 0) caps[blockIdx.x] = (double)vlo + frac * ((double)vhi - (double)vlo);
}

extern "C" __global__ void norm_divide_clip(const float* __restrict__ s, const double* __restrict__ caps, float* __restrict__ out, long long pixels, long long batch)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < pixels * batch; i += (long long)gridDim.x * blockDim.x)
    {
        double cap = caps[i / pixels];
        double v = (double)s[i];
        double r = cap > 0.0 ? v / cap : (v > 0.0 ? 1.0 : 0.0);
        out[i] = (float)fmin(fmax(r, 0.0), 1.0);
    }
}
