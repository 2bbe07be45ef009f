// Counter-based Gaussian generator: Philox4x32-10 (Salmon et al., SC'11; Random123) + Box-Muller, identical to the
// CPU implementation in GaussianRng.cs. Element g of the stream of `seed` (g = offset + index) is lane g % 4 of
// block b = g / 4, where block b is Philox4x32-10(counter = {lo32(b), hi32(b), 0, 0}, key = {lo32(seed), hi32(seed)})
// = (r0, r1, r2, r3); with u_q = (r_q + 0.5) * 2^-32 in (0, 1):
//   z0 = sqrt(-2 ln u0) cos(2 pi u1), z1 = sqrt(-2 ln u0) sin(2 pi u1), z2, z3 likewise from (u2, u3).
// Computed in double, then scaled (mean + std * z) and rounded to the output type.
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

__device__ __forceinline__ uint4 philox4x32_10(uint4 c, uint2 k)
{
#pragma unroll
    for (int round = 0; round < 10; round++)
    {
        unsigned int hi0 = __umulhi(PHILOX_M0, c.x), lo0 = PHILOX_M0 * c.x;
        unsigned int hi1 = __umulhi(PHILOX_M1, c.z), lo1 = PHILOX_M1 * c.z;
        c = make_uint4(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
        k.x += PHILOX_W0;
        k.y += PHILOX_W1;
    }
    return c;
}

__device__ __forceinline__ double unit_open(unsigned int r) { return ((double)r + 0.5) * 2.3283064365386963e-10; }

template <typename T>
__device__ void gaussian_fill(T* out, long long n, unsigned long long seed, unsigned long long offset, double mean, double stddev)
{
    unsigned long long first_block = offset >> 2;
    unsigned long long last_block = (offset + (unsigned long long)n - 1) >> 2;
    uint2 key = make_uint2((unsigned int)seed, (unsigned int)(seed >> 32));
    for (unsigned long long b = first_block + blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; b <= last_block;
         b += (unsigned long long)gridDim.x * blockDim.x)
    {
        uint4 r = philox4x32_10(make_uint4((unsigned int)b, (unsigned int)(b >> 32), 0u, 0u), key);
        const double two_pi = 6.283185307179586;
        double rad0 = sqrt(-2.0 * log(unit_open(r.x))), th0 = two_pi * unit_open(r.y);
        double rad1 = sqrt(-2.0 * log(unit_open(r.z))), th1 = two_pi * unit_open(r.w);
        double z[4] = { rad0 * cos(th0), rad0 * sin(th0), rad1 * cos(th1), rad1 * sin(th1) };
#pragma unroll
        for (int lane = 0; lane < 4; lane++)
        {
            unsigned long long g = b * 4 + lane;
            if (g >= offset && g < offset + (unsigned long long)n) out[g - offset] = (T)(mean + stddev * z[lane]);
        }
    }
}

extern "C" __global__ void gaussian_fill_f32(float* out, long long n, unsigned long long seed, unsigned long long offset, double mean, double stddev)
{ gaussian_fill<float>(out, n, seed, offset, mean, stddev); }
extern "C" __global__ void gaussian_fill_f64(double* out, long long n, unsigned long long seed, unsigned long long offset, double mean, double stddev)
{ gaussian_fill<double>(out, n, seed, offset, mean, stddev); }
