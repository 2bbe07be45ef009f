// Upsampling of p1 x p2 grids to H x W images, batched (grid b at b*p1*p2, image b at b*H*W), row-major.
// Nearest: source (y*p1/H, x*p2/W) in integer arithmetic (floor), e.g. a block of 8x8 pixels per cell for 28 -> 224.
// Bilinear: half-pixel centres (PyTorch align_corners=False): s = (y + 0.5)*p1/H - 0.5, clamped below at 0,
// y0 = floor(s), y1 = min(y0 + 1, p1 - 1), weight s - y0; the same along x. Weights in double, like the CPU path.
template <typename T>
__device__ void upsample_nearest(const T* g, T* img, int p1, int p2, int h, int w, long long batch)
{
    long long hw = (long long)h * w, p = (long long)p1 * p2;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < hw * batch; i += (long long)gridDim.x * blockDim.x)
    {
        long long b = i / hw, k = i - b * hw;
        int y = (int)(k / w), x = (int)(k - (long long)y * w);
        int sy = (int)(((long long)y * p1) / h), sx = (int)(((long long)x * p2) / w);
        img[i] = g[b * p + (long long)sy * p2 + sx];
    }
}

__device__ __forceinline__ void source_coordinate(int y, int out, int in, int* i0, int* i1, double* frac)
{
    double s = ((double)y + 0.5) * (double)in / (double)out - 0.5;
    if (s < 0.0) s = 0.0;
    int f = (int)floor(s);
    if (f > in - 1) f = in - 1;
    *i0 = f;
    *i1 = f + 1 < in ? f + 1 : in - 1;
    *frac = s - (double)f;
}

template <typename T>
__device__ void upsample_bilinear(const T* g, T* img, int p1, int p2, int h, int w, long long batch)
{
    long long hw = (long long)h * w, p = (long long)p1 * p2;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < hw * batch; i += (long long)gridDim.x * blockDim.x)
    {
        long long b = i / hw, k = i - b * hw;
        int y = (int)(k / w), x = (int)(k - (long long)y * w);
        int y0, y1, x0, x1;
        double ly, lx;
        source_coordinate(y, h, p1, &y0, &y1, &ly);
        source_coordinate(x, w, p2, &x0, &x1, &lx);
        const T* gb = g + b * p;
        double top = (1.0 - lx) * (double)gb[(long long)y0 * p2 + x0] + lx * (double)gb[(long long)y0 * p2 + x1];
        double bottom = (1.0 - lx) * (double)gb[(long long)y1 * p2 + x0] + lx * (double)gb[(long long)y1 * p2 + x1];
        img[i] = (T)((1.0 - ly) * top + ly * bottom);
    }
}

extern "C" __global__ void upsample_nearest_f32(const float* g, float* img, int p1, int p2, int h, int w, long long batch) { upsample_nearest<float>(g, img, p1, p2, h, w, batch); }
extern "C" __global__ void upsample_nearest_f64(const double* g, double* img, int p1, int p2, int h, int w, long long batch) { upsample_nearest<double>(g, img, p1, p2, h, w, batch); }
extern "C" __global__ void upsample_bilinear_f32(const float* g, float* img, int p1, int p2, int h, int w, long long batch) { upsample_bilinear<float>(g, img, p1, p2, h, w, batch); }
extern "C" __global__ void upsample_bilinear_f64(const double* g, double* img, int p1, int p2, int h, int w, long long batch) { upsample_bilinear<double>(g, img, p1, p2, h, w, batch); }
