// Host check of PrimalDualTvStep.cu without a GPU: the CUDA kernels are compiled as plain C++ (one "thread", so the
// grid-stride loops cover every element) and compared with the textbook formulas.
// Run: g++ -std=c++17 -O1 -o /tmp/cu_host_check tools/lp/cu_host_check.cpp && /tmp/cu_host_check
#include <cmath>
#include <cstdio>
#include <vector>
#include <random>
struct D3 { unsigned x; };
static D3 blockIdx{0}, blockDim{1}, threadIdx{0}, gridDim{1};
static double atomicAdd(double* a, double v) { double o = *a; *a += v; return o; }
using std::fabs; using std::fmin; using std::fmax;
#define __global__
#define __device__
#define __forceinline__ inline
#include "../../src/Kernels/Ops/PrimalDual/PrimalDualTvStep.cu"
int main() {
  int R = 7, C = 5, B = 3; int p = R*C, V = (R-1)*C, m = 2*p - R - C;
  std::mt19937 rng(1); std::uniform_real_distribution<double> U(-1, 1);
  std::vector<double> x(B*p), y(B*m), b(B*m), xo(B*p), yo(B*m), xs(B*p, 0), ys(B*m, 0), par(B*6);
  for (auto& v : x) v = 3*U(rng); for (auto& v : y) v = 2*U(rng); for (auto& v : b) v = U(rng);
  for (int k = 0; k < B; k++) { par[6*k]=0.3+0.1*k; par[6*k+1]=0.25; par[6*k+2]=0.2; par[6*k+3]=10; par[6*k+4]=0.7; par[6*k+5]= k==1 ? 0 : 1; }
  pdtv_step_f64(x.data(), y.data(), b.data(), xo.data(), yo.data(), xs.data(), ys.data(), nullptr, par.data(), R, C, B);
  double maxErr = 0;
  auto edge = [&](int e, int& from, int& to) { if (e < V) { from = e; to = e + C; } else { int h = e - V; int r = h/(C-1), c = h%(C-1); from = r*C+c; to = from+1; } };
  for (int k = 0; k < B; k++) {
    if (par[6*k+5] == 0) { continue; }
    double tau = par[6*k], sigma = par[6*k+1], L = par[6*k+2], s2 = 1/par[6*k+3];
    std::vector<double> dty(p, 0), xn(p), xb(p);
    for (int e = 0; e < m; e++) { int f, t; edge(e, f, t); dty[t] += y[k*m+e]; dty[f] -= y[k*m+e]; }
    for (int j = 0; j < p; j++) { xn[j] = x[k*p+j] - tau*dty[j]; xb[j] = 2*xn[j] - x[k*p+j]; maxErr = fmax(maxErr, fabs(xn[j]-xo[k*p+j])); maxErr = fmax(maxErr, fabs(0.7*xn[j]-xs[k*p+j])); }
    for (int e = 0; e < m; e++) { int f, t; edge(e, f, t); double w = y[k*m+e] + sigma*(xb[t]-xb[f]);
      double sh = w > 1 ? w-1 : (w < -1 ? w+1 : 0); double lo = sigma*(b[k*m+e]-L)/s2, hi = sigma*(b[k*m+e]+L)/s2;
      double yn = w - fmin(fmax(sh, lo), hi); maxErr = fmax(maxErr, fabs(yn - yo[k*m+e])); maxErr = fmax(maxErr, fabs(0.7*yn - ys[k*m+e])); }
  }
  for (int j = 0; j < p; j++) if (xo[p+j] != 0) { printf("inactive LP written\n"); return 1; }
  printf("step max error %.3e\n", maxErr);
  // evaluate: compare with direct sums
  std::vector<double> out(4*B, 0), scale(B, 1.0);
  scale[2] = 0.5;
  pdtv_evaluate_f64(x.data(), y.data(), b.data(), scale.data(), par.data(), out.data(), R, C, B);
  for (int k : {0, 2}) {
    double sc = scale[k], L = par[6*k+2], s2 = 1/par[6*k+3], tv=0, viol=0, dual=0, rd=0;
    std::vector<double> dty(p, 0);
    for (int e = 0; e < m; e++) { int f, t; edge(e, f, t); double z = sc*(x[k*p+t]-x[k*p+f]); tv += fabs(z);
      double o = fabs(s2*z - b[k*m+e]) - L; if (o > 0) viol += o*o; double v = pdtv_split(sc*y[k*m+e], b[k*m+e], L, s2); dual -= v*b[k*m+e] + L*fabs(v);
      dty[t] += sc*y[k*m+e]; dty[f] -= sc*y[k*m+e]; }
    for (double d : dty) rd += d*d;
    printf("eval LP %d: tv %.3e viol %.3e dual %.3e rd %.3e (abs errors)\n", k, fabs(tv-out[4*k]), fabs(viol-out[4*k+1]), fabs(dual-out[4*k+2]), fabs(rd-out[4*k+3]));
  }
  // restart: LP0 to average, LP2 to current
  std::vector<double> xl(B*p, 0.5), yl(B*m, -0.5), dist(2*B, 0), as(B, 2.0); std::vector<int> mode = {2, 0, 1};
  std::vector<double> x0 = xo, y0 = yo, xs0 = xs, ys0 = ys;
  pdtv_restart_f64(xo.data(), yo.data(), xs.data(), ys.data(), xl.data(), yl.data(), mode.data(), as.data(), dist.data(), R, C, B);
  double e2 = 0, dx0 = 0, dy0 = 0, dx2 = 0, dy2 = 0;
  for (int j = 0; j < p; j++) { e2 = fmax(e2, fabs(xo[j] - 2*xs0[j])); e2 = fmax(e2, fabs(xl[j] - xo[j])); e2 = fmax(e2, fabs(xs[j])); dx0 += (2*xs0[j]-0.5)*(2*xs0[j]-0.5);
    e2 = fmax(e2, fabs(xo[2*p+j] - x0[2*p+j])); dx2 += (x0[2*p+j]-0.5)*(x0[2*p+j]-0.5); e2 = fmax(e2, fabs(xl[p+j]-0.5)); }
  for (int e = 0; e < m; e++) { e2 = fmax(e2, fabs(yo[e] - 2*ys0[e])); dy0 += (2*ys0[e]+0.5)*(2*ys0[e]+0.5); dy2 += (y0[2*m+e]+0.5)*(y0[2*m+e]+0.5); }
  printf("restart max error %.3e, dist errors %.3e %.3e %.3e %.3e, untouched LP1 dist %g %g\n", e2, fabs(dist[0]-dx0), fabs(dist[1]-dy0), fabs(dist[4]-dx2), fabs(dist[5]-dy2), dist[2], dist[3]);
  return 0;
}
