// Fused multi-step IF/LIF neuron and two-exponential (SPSN) filter for CPU.
//
// The time loop runs inside the kernel; neurons are processed in blocks of BLK in parallel
// (OpenMP, dynamically scheduled on torch's threads). Every kernel writes into caller-provided buffers so Python decides
// which buffers are fresh, reused or aliased (the backward may write grad_x over the saved charge h).
//
// Conventions (common/neurons/functional.py):
//   h[t] = leak * v[t-1] + x[t];  z = h / thr - 1;  s = 1[z >= 0]
//   soft: v = h - thr * s;  hard: v = h * (1 - s)
// Surrogate kinds (common/surrogate.py): 0 triangle, 1 fast sigmoid, 2 sigmoid, 3 atan, 4 straight-through.
// Leak/threshold are [C]; the channel of flat neuron n is (n / S) % C (C == 1: one per layer).
// Built with -ffp-contract=off so h = leak*v + x rounds exactly like the PyTorch reference.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <unordered_map>

#ifndef SNN_REPRO_KERNEL_BODY

namespace {

constexpr int64_t BLK = 256;  // max neurons per block (state arrays live on the stack)

// Block size: enough blocks for dynamic load balancing (>= 4 per thread; other processes may preempt a
// thread), at least 64 neurons so each step still touches whole cache lines of every stream.
inline int64_t block_size(int64_t N) {
  const int64_t nt = std::max<int64_t>(1, at::get_num_threads());
  int64_t b = (N + 4 * nt - 1) / (4 * nt);
  b = (b + 15) / 16 * 16;
  return std::min<int64_t>(BLK, std::max<int64_t>(64, b));
}

// Software prefetch of one block row (rows of a block are N elements apart: hardware prefetchers lose
// track of such strides across pages). PD = steps ahead.
constexpr int64_t PD = 8;
template <typename T>
inline void prefetch_row(const T* p, int64_t nb, bool write) {
  const char* c = reinterpret_cast<const char*>(p);
  const int64_t bytes = nb * int64_t(sizeof(T));
  if (write) {
    for (int64_t o = 0; o < bytes; o += 64) __builtin_prefetch(c + o, 1, 3);
  } else {
    for (int64_t o = 0; o < bytes; o += 64) __builtin_prefetch(c + o, 0, 3);
  }
}

// Run body(n0, nb) over neuron blocks, dynamically scheduled on torch's OpenMP threads.
template <typename F>
inline void for_blocks(int64_t N, F&& body) {
  const int64_t blk = block_size(N);
  const int64_t nblocks = (N + blk - 1) / blk;
  const int nt = int(std::min<int64_t>(nblocks, at::get_num_threads()));
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (nt > 1)
  for (int64_t b = 0; b < nblocks; ++b) {
    const int64_t n0 = b * blk;
    body(n0, std::min(blk, N - n0));
  }
}

template <typename T>
const T* opt_ptr(const std::optional<at::Tensor>& t) {
  return (t.has_value() && t->defined()) ? t->data_ptr<T>() : nullptr;
}
template <typename T>
T* opt_mut_ptr(const std::optional<at::Tensor>& t) {
  return (t.has_value() && t->defined()) ? t->data_ptr<T>() : nullptr;
}

void check2d(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.device().is_cpu(), name, " must be a CPU tensor");
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
}

struct BwdArgs {
  const void* gs; double gs_scalar; const void* gh; const void* gv; const void* h; const void* v0;
  const void* leak; const void* thr; int64_t T_, N, C, S; double alpha; void* gx; void* gv0; void* gl; void* gt;
};

bool use_avx2() {
#if defined(__x86_64__) || defined(__i386__)
  // SNN_REPRO_CPU_NO_AVX2=1 forces the baseline kernels (tests use it to check both builds)
  static const bool ok = __builtin_cpu_supports("avx2") && std::getenv("SNN_REPRO_CPU_NO_AVX2") == nullptr;
  return ok;
#else
  return false;
#endif
}

}  // namespace

// The kernel templates below are compiled twice from this same file: for AVX2 (selected at run time
// when the CPU has it, so the cached build stays portable: no -march=native) and for the baseline ISA.
#define SNN_REPRO_KERNEL_BODY 1
#if defined(__x86_64__) || defined(__i386__)
#pragma GCC push_options
#pragma GCC target("avx2")
namespace k_avx2 {
#include "lif_cpu.cpp"  // this file, second pass
}  // namespace k_avx2
#pragma GCC pop_options
#endif
namespace k_base {
#include "lif_cpu.cpp"  // this file, second pass
}  // namespace k_base
#if !(defined(__x86_64__) || defined(__i386__))
namespace k_avx2 = k_base;
#endif

#define KCALL(...)                   \
  do {                               \
    if (use_avx2()) {                \
      k_avx2::__VA_ARGS__;           \
    } else {                         \
      k_base::__VA_ARGS__;           \
    }                                \
  } while (0)

namespace {
void lif_fwd(const at::Tensor& x, const std::optional<at::Tensor>& v0, const at::Tensor& leak,
             const at::Tensor& thr, int64_t S, bool soft, const at::Tensor& spikes,
             const std::optional<at::Tensor>& h, const at::Tensor& vlast) {
  check2d(x, "x");
  check2d(spikes, "spikes");
  TORCH_CHECK(x.dim() == 2, "x must be [T, N]");
  TORCH_CHECK(thr.numel() == leak.numel(), "leak and threshold must have the same number of channels");
  TORCH_CHECK(leak.is_contiguous() && thr.is_contiguous(), "leak/threshold must be contiguous");
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lif_fwd", [&] {
    using T = scalar_t;
    const T* v0p = opt_ptr<T>(v0);
    T* hp = opt_mut_ptr<T>(h);
    if (soft) KCALL(lif_fwd_typed2<T, true>(x, v0p, leak, thr, S, spikes, hp, vlast));
    else KCALL(lif_fwd_typed2<T, false>(x, v0p, leak, thr, S, spikes, hp, vlast));
  });
}

void lif_bwd(const std::optional<at::Tensor>& gs, double gs_scalar, const std::optional<at::Tensor>& gh,
             const std::optional<at::Tensor>& gv, const at::Tensor& h, const std::optional<at::Tensor>& v0,
             const at::Tensor& leak, const at::Tensor& thr, int64_t S, int64_t kind, double alpha, bool soft,
             bool detach, const at::Tensor& gx, const std::optional<at::Tensor>& gv0, const std::optional<at::Tensor>& gleak,
             const std::optional<at::Tensor>& gthr) {
  check2d(h, "h");
  check2d(gx, "gx");
  if (gs.has_value() && gs->defined()) check2d(*gs, "grad_spikes");
  if (gh.has_value() && gh->defined()) check2d(*gh, "grad_membrane");
  TORCH_CHECK(kind >= 0 && kind <= 4, "unknown surrogate kind ", kind);
  AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "lif_bwd", [&] {
    using T = scalar_t;
    BwdArgs a{opt_ptr<T>(gs), gs_scalar, opt_ptr<T>(gh), opt_ptr<T>(gv), h.data_ptr<T>(), opt_ptr<T>(v0),
              leak.data_ptr<T>(), thr.data_ptr<T>(), h.size(0), h.size(1), leak.numel(), S, alpha,
              gx.data_ptr<T>(), opt_mut_ptr<T>(gv0), opt_mut_ptr<T>(gleak), opt_mut_ptr<T>(gthr)};
    switch (kind) {
      case 0: KCALL(bwd_by_reset<T, 0>(a, soft, detach)); break;
      case 1: KCALL(bwd_by_reset<T, 1>(a, soft, detach)); break;
      case 2: KCALL(bwd_by_reset<T, 2>(a, soft, detach)); break;
      case 3: KCALL(bwd_by_reset<T, 3>(a, soft, detach)); break;
      default: KCALL(bwd_by_reset<T, 4>(a, soft, detach)); break;
    }
  });
}
void two_exp_filter(const at::Tensor& in, double a, double b, bool reverse, double thr, const at::Tensor& out,
                    const std::optional<at::Tensor>& spikes) {
  check2d(in, "input");
  check2d(out, "out");
  const int64_t T_ = in.size(0), N = in.size(1);
  const bool fire = spikes.has_value() && spikes->defined();
  AT_DISPATCH_FLOATING_TYPES(in.scalar_type(), "two_exp_filter", [&] {
    using T = scalar_t;
    T* sp = opt_mut_ptr<T>(spikes);
    if (reverse) {
      KCALL(filter_impl<T, true, false>(in.data_ptr<T>(), T_, N, T(a), T(b), T(thr), out.data_ptr<T>(), nullptr));
    } else if (fire) {
      KCALL(filter_impl<T, false, true>(in.data_ptr<T>(), T_, N, T(a), T(b), T(thr), out.data_ptr<T>(), sp));
    } else {
      KCALL(filter_impl<T, false, false>(in.data_ptr<T>(), T_, N, T(a), T(b), T(thr), out.data_ptr<T>(), nullptr));
    }
  });
}


// ---- buffer pool for the large [T, N] outputs -----------------------------------------------------
// Fresh multi-MB buffers cost page faults on every call (glibc returns them to the OS), which is as
// slow as the kernel itself. Outputs are plain tensors over pooled blocks (at::from_blob with a deleter
// that hands the block back), so a training loop reuses the same memory. Capped (default 1 GiB,
// SNN_REPRO_CPU_POOL_MB), exact-size reuse; the pool object is leaked on purpose (tensors may be freed
// after static destruction at exit).
struct Pool {
  std::mutex mu;
  std::unordered_multimap<size_t, void*> blocks;
  size_t cached = 0;
  size_t cap = 0;
  Pool() {
    const char* env = std::getenv("SNN_REPRO_CPU_POOL_MB");
    cap = (env ? size_t(std::strtoull(env, nullptr, 10)) : size_t(1024)) << 20;
  }
};
Pool& pool() {
  static Pool* p = new Pool();
  return *p;
}
void pool_release(void* ptr, size_t n) {
  Pool& P = pool();
  {
    std::lock_guard<std::mutex> g(P.mu);
    if (P.cached + n <= P.cap) {
      P.blocks.emplace(n, ptr);
      P.cached += n;
      return;
    }
  }
  std::free(ptr);
}
at::Tensor pool_empty(at::IntArrayRef sizes, at::ScalarType dtype) {
  int64_t numel = 1;
  for (auto v : sizes) numel *= v;
  const size_t n = size_t(numel) * at::elementSize(dtype);
  Pool& P = pool();
  if (n < (size_t(1) << 20) || P.cap == 0) return at::empty(sizes, at::TensorOptions().dtype(dtype));
  void* ptr = nullptr;
  {
    std::lock_guard<std::mutex> g(P.mu);
    auto it = P.blocks.find(n);
    if (it != P.blocks.end()) {
      ptr = it->second;
      P.blocks.erase(it);
      P.cached -= n;
    }
  }
  if (!ptr && posix_memalign(&ptr, 64, n) != 0) throw std::bad_alloc();
  return at::from_blob(ptr, sizes, [n](void* q) { pool_release(q, n); }, at::TensorOptions().dtype(dtype));
}
// set the cap in bytes (0 disables and frees the cached blocks); returns the bytes cached before
int64_t pool_configure(int64_t cap_bytes) {
  Pool& P = pool();
  std::lock_guard<std::mutex> g(P.mu);
  const int64_t before = int64_t(P.cached);
  if (cap_bytes >= 0) P.cap = size_t(cap_bytes);
  while (P.cached > P.cap && !P.blocks.empty()) {
    auto it = P.blocks.begin();
    P.cached -= it->first;
    std::free(it->second);
    P.blocks.erase(it);
  }
  return before;
}

}  // namespace

TORCH_LIBRARY(snn_repro_cpu, m) {
  m.def("pool_empty(int[] size, ScalarType dtype) -> Tensor", &pool_empty);
  m.def("pool_configure(int cap_bytes) -> int", &pool_configure);
  m.def(
      "lif_fwd(Tensor x, Tensor? v0, Tensor leak, Tensor thr, int S, bool soft, Tensor(a!) spikes, "
      "Tensor(b!)? h, Tensor(c!) vlast) -> ()");
  m.def(
      "lif_bwd(Tensor? gs, float gs_scalar, Tensor? gh, Tensor? gv, Tensor h, Tensor? v0, Tensor leak, "
      "Tensor thr, int S, int kind, float alpha, bool soft, bool detach, Tensor(a!) gx, Tensor(b!)? gv0, "
      "Tensor(c!)? gleak, Tensor(d!)? gthr) -> ()");
  m.def(
      "two_exp_filter(Tensor input, float a, float b, bool reverse, float thr, Tensor(a!) out, "
      "Tensor(b!)? spikes) -> ()");
}

TORCH_LIBRARY_IMPL(snn_repro_cpu, CPU, m) {
  m.impl("lif_fwd", &lif_fwd);
  m.impl("lif_bwd", &lif_bwd);
  m.impl("two_exp_filter", &two_exp_filter);
}

#else  // SNN_REPRO_KERNEL_BODY: the kernel templates (included twice above)
// exp for the sigmoid surrogate: std::exp keeps GCC from vectorizing the backward loop (6x slower), so
// float uses 2^k * 2^f with a degree-6 Taylor polynomial for 2^f, |f| <= 1/2 (relative error < 2e-7).
template <typename T>
inline T surrogate_exp(T x) {
  if constexpr (std::is_same_v<T, float>) {
    x = std::min(std::max(x, -87.0f), 88.0f);
    const float t = x * 1.44269504088896341f;
    const float k = std::floor(t + 0.5f);
    const float f = t - k;
    float p = 1.5403530e-4f;
    p = p * f + 1.3333558e-3f;
    p = p * f + 9.6181291e-3f;
    p = p * f + 5.5504109e-2f;
    p = p * f + 2.4022651e-1f;
    p = p * f + 6.9314718e-1f;
    p = p * f + 1.0f;
    int32_t bits;
    std::memcpy(&bits, &p, sizeof bits);
    bits += static_cast<int32_t>(k) * (1 << 23);
    std::memcpy(&p, &bits, sizeof p);
    return p;
  } else {
    return std::exp(x);
  }
}

template <int KIND, typename T>
inline T surrogate(T z, T a, T atan_c) {
  if constexpr (KIND == 0) {
    T q = T(1) - std::abs(z);
    return a * (q > T(0) ? q : T(0));
  } else if constexpr (KIND == 1) {
    T d = a * std::abs(z) + T(1);
    return T(1) / (d * d);
  } else if constexpr (KIND == 2) {
    T s = T(1) / (T(1) + surrogate_exp<T>(-(a * z)));
    return a * s * (T(1) - s);
  } else if constexpr (KIND == 3) {
    T q = atan_c * z;
    return (a / T(2)) / (T(1) + q * q);
  } else {
    (void)z;
    return a;
  }
}

template <typename T>
inline void load_params(const T* leak, const T* thr, int64_t C, int64_t S, int64_t n0, int64_t nb, T* lam, T* th) {
  for (int64_t i = 0; i < nb; ++i) {
    int64_t c = C == 1 ? 0 : ((n0 + i) / S) % C;
    lam[i] = leak[c];
    th[i] = thr[c];
  }
}

// One block of nb <= BLK neurons through all T steps (kept out of the parallel lambda so that GCC
// vectorizes the inner loop; restrict-qualified row pointers, state in local arrays).
template <typename T, bool SOFT, bool STORE_H>
__attribute__((noinline)) void lif_fwd_block(const T* __restrict__ x, const T* __restrict__ v0,
                                             const T* __restrict__ lam, const T* __restrict__ th, int64_t T_,
                                             int64_t N, int64_t n0, int64_t nb, T* __restrict__ spikes,
                                             T* __restrict__ hbuf, T* __restrict__ vlast) {
  alignas(64) T v[BLK];
  for (int64_t i = 0; i < nb; ++i) v[i] = v0 ? v0[n0 + i] : T(0);
  for (int64_t t = 0; t < T_; ++t) {
    const T* __restrict__ xp = x + t * N + n0;
    T* __restrict__ sp = spikes + t * N + n0;
    T* __restrict__ hp = STORE_H ? hbuf + t * N + n0 : nullptr;
    if (t + PD < T_) {
      prefetch_row(xp + PD * N, nb, false);
      prefetch_row(sp + PD * N, nb, true);
      if constexpr (STORE_H) prefetch_row(hp + PD * N, nb, true);
    }
#pragma GCC ivdep
    for (int64_t i = 0; i < nb; ++i) {
      T h = lam[i] * v[i] + xp[i];
      T s = (h / th[i] - T(1)) >= T(0) ? T(1) : T(0);
      sp[i] = s;
      if constexpr (STORE_H) hp[i] = h;
      if constexpr (SOFT) {
        v[i] = h - th[i] * s;
      } else {
        v[i] = h * (T(1) - s);
      }
    }
  }
  for (int64_t i = 0; i < nb; ++i) vlast[n0 + i] = v[i];
}

template <typename T, bool SOFT, bool STORE_H>
void lif_fwd_impl(const T* x, const T* v0, const T* leak, const T* thr, int64_t T_, int64_t N, int64_t C,
                  int64_t S, T* spikes, T* hbuf, T* vlast) {
  for_blocks(N, [&](int64_t n0, int64_t nb) {
    alignas(64) T lam[BLK], th[BLK];
    load_params(leak, thr, C, S, n0, nb, lam, th);
    lif_fwd_block<T, SOFT, STORE_H>(x, v0, lam, th, T_, N, n0, nb, spikes, hbuf, vlast);
  });
}

// One reverse-time step for a block. FIRST: t == 0 (previous state is v0). gx may alias h (no restrict
// between them: h[t] is read before grad_x[t] is written at the same address). q[i] holds h[t]/thr,
// computed by the previous (later-in-time) step, so each step divides once for the spike decisions
// (bit-identical to the forward's h / thr - 1 >= 0).
template <typename T, int KIND, bool SOFT, bool DETACH, bool FIRST, bool HAS_GS, bool HAS_GH>
inline void lif_bwd_step(const T* gsp, T gs_scalar, const T* __restrict__ ghp, const T* hp, const T* hm,
                         const T* __restrict__ v0p, const T* __restrict__ lam, const T* __restrict__ th,
                         const T* __restrict__ inv, int64_t nb, T a, T atan_c, T* __restrict__ q,
                         T* __restrict__ gv, T* __restrict__ gl, T* __restrict__ gt, T* gxp) {
#pragma GCC ivdep
  for (int64_t i = 0; i < nb; ++i) {
    T vprev, qm = T(0);
    if constexpr (FIRST) {
      vprev = v0p ? v0p[i] : T(0);
    } else {
      const T hmv = hm[i];
      qm = hmv / th[i];
      const T sm = (qm - T(1)) >= T(0) ? T(1) : T(0);
      vprev = SOFT ? hmv - th[i] * sm : hmv * (T(1) - sm);
    }
    const T hv = hp[i];
    const T z = q[i] - T(1);
    const T s = z >= T(0) ? T(1) : T(0);
    const T sg = surrogate<KIND, T>(z, a, atan_c);
    T gsum = HAS_GS ? gsp[i] : gs_scalar;
    if constexpr (!DETACH) gsum += gv[i] * (SOFT ? -th[i] : -hv);
    T g = HAS_GH ? ghp[i] : T(0);
    const T gsg = gsum * sg * inv[i];
    g += (SOFT ? gv[i] : gv[i] * (T(1) - s)) + gsg;
    T dth = gsg * (-hv * inv[i]);
    if constexpr (SOFT) dth -= gv[i] * s;
    gt[i] += dth;
    gl[i] += g * vprev;
    gxp[i] = g;
    gv[i] = g * lam[i];
    if constexpr (!FIRST) q[i] = qm;
  }
}

template <typename T, int KIND, bool SOFT, bool DETACH, bool HAS_GS, bool HAS_GH>
__attribute__((noinline)) void lif_bwd_block(const T* gs, T gs_scalar, const T* gh_in, const T* gv_in, const T* h,
                                             const T* v0, const T* lam, const T* th, int64_t T_, int64_t N,
                                             int64_t n0, int64_t nb, T a, T atan_c, T* gx, T* gv0, T* gleak,
                                             T* gthr) {
  alignas(64) T gv[BLK], gl[BLK], gt[BLK], q[BLK], inv[BLK];
  const T* hlast = h + (T_ - 1) * N + n0;
  for (int64_t i = 0; i < nb; ++i) {
    gv[i] = gv_in ? gv_in[n0 + i] : T(0);
    gl[i] = T(0);
    gt[i] = T(0);
    inv[i] = T(1) / th[i];
    q[i] = hlast[i] / th[i];
  }
  for (int64_t t = T_ - 1; t >= 0; --t) {
    const int64_t o = t * N + n0;
    const T* gsp = HAS_GS ? gs + o : nullptr;
    const T* ghp = HAS_GH ? gh_in + o : nullptr;
    if (t - PD - 1 >= 0) {
      const int64_t op = o - (PD + 1) * N;
      prefetch_row(h + op, nb, true);
      if (HAS_GS) prefetch_row(gs + op, nb, false);
      if (HAS_GH) prefetch_row(gh_in + op, nb, false);
      if (gx != h) prefetch_row(gx + op, nb, true);
    }
    if (t > 0)
      lif_bwd_step<T, KIND, SOFT, DETACH, false, HAS_GS, HAS_GH>(gsp, gs_scalar, ghp, h + o, h + o - N, nullptr,
                                                                  lam, th, inv, nb, a, atan_c, q, gv, gl, gt,
                                                                  gx + o);
    else
      lif_bwd_step<T, KIND, SOFT, DETACH, true, HAS_GS, HAS_GH>(gsp, gs_scalar, ghp, h + o, nullptr,
                                                                 v0 ? v0 + n0 : nullptr, lam, th, inv, nb, a,
                                                                 atan_c, q, gv, gl, gt, gx + o);
  }
  for (int64_t i = 0; i < nb; ++i) {
    if (gv0) gv0[n0 + i] = gv[i];
    if (gleak) gleak[n0 + i] = gl[i];
    if (gthr) gthr[n0 + i] = gt[i];
  }
}

// Reverse-time recurrence. gx may alias h (grad_x written over the saved charge, step by step).
template <typename T, int KIND, bool SOFT, bool DETACH>
void lif_bwd_impl(const T* gs, T gs_scalar, const T* gh_in, const T* gv_in, const T* h, const T* v0,
                  const T* leak, const T* thr, int64_t T_, int64_t N, int64_t C, int64_t S, double alpha, T* gx,
                  T* gv0, T* gleak, T* gthr) {
  const T a = T(alpha);
  const T atan_c = T(M_PI / 2.0 * alpha);
  for_blocks(N, [&](int64_t n0, int64_t nb) {
    alignas(64) T lam[BLK], th[BLK];
    {
      load_params(leak, thr, C, S, n0, nb, lam, th);
#define BWD_BLOCK(GS_, GH_)                                                                                    \
  lif_bwd_block<T, KIND, SOFT, DETACH, GS_, GH_>(gs, gs_scalar, gh_in, gv_in, h, v0, lam, th, T_, N, n0, nb, a, \
                                                 atan_c, gx, gv0, gleak, gthr)
      if (gs) {
        if (gh_in) BWD_BLOCK(true, true); else BWD_BLOCK(true, false);
      } else {
        if (gh_in) BWD_BLOCK(false, true); else BWD_BLOCK(false, false);
      }
#undef BWD_BLOCK
    }
  });
}

template <typename T, bool SOFT>
void lif_fwd_typed2(const at::Tensor& x, const T* v0p, const at::Tensor& leak, const at::Tensor& thr, int64_t S,
                    const at::Tensor& spikes, T* hp, const at::Tensor& vlast) {
  const int64_t T_ = x.size(0), N = x.size(1), C = leak.numel();
  if (hp)
    lif_fwd_impl<T, SOFT, true>(x.data_ptr<T>(), v0p, leak.data_ptr<T>(), thr.data_ptr<T>(), T_, N, C, S,
                                spikes.data_ptr<T>(), hp, vlast.data_ptr<T>());
  else
    lif_fwd_impl<T, SOFT, false>(x.data_ptr<T>(), v0p, leak.data_ptr<T>(), thr.data_ptr<T>(), T_, N, C, S,
                                 spikes.data_ptr<T>(), nullptr, vlast.data_ptr<T>());
}



template <typename T, int K, bool SOFT, bool DET>
void bwd_call(const BwdArgs& a) {
  lif_bwd_impl<T, K, SOFT, DET>((const T*)a.gs, T(a.gs_scalar), (const T*)a.gh, (const T*)a.gv, (const T*)a.h,
                                (const T*)a.v0, (const T*)a.leak, (const T*)a.thr, a.T_, a.N, a.C, a.S, a.alpha,
                                (T*)a.gx, (T*)a.gv0, (T*)a.gl, (T*)a.gt);
}

template <typename T, int K>
void bwd_by_reset(const BwdArgs& a, bool soft, bool detach) {
  if (soft) {
    if (detach) bwd_call<T, K, true, true>(a); else bwd_call<T, K, true, false>(a);
  } else {
    if (detach) bwd_call<T, K, false, true>(a); else bwd_call<T, K, false, false>(a);
  }
}


// ---- two-exponential filter (SPSN): I[t] = a I[t-1] + x[t];  U[t] = b U[t-1] + (1-b) I[t] ----
// forward: optionally fused threshold firing s = 1[U >= thr]; reverse=true runs the adjoint recurrence
// (gI[t] = a gI[t+1] + (1-b) gU'[t], gU'[t] = g[t] + b gU'[t+1]) on the grad, writing grad_x.
template <typename T, bool REVERSE, bool FIRE>
void filter_impl(const T* in, int64_t T_, int64_t N, T a, T b, T thr, T* out, T* spikes) {
  for_blocks(N, [&](int64_t n0, int64_t nb) {
    alignas(64) T I[BLK], U[BLK];
    {
      for (int64_t i = 0; i < nb; ++i) I[i] = U[i] = T(0);
      for (int64_t k = 0; k < T_; ++k) {
        const int64_t t = REVERSE ? T_ - 1 - k : k;
        const T* __restrict__ ip = in + t * N + n0;
        T* __restrict__ op = out + t * N + n0;
        if constexpr (!REVERSE) {
          for (int64_t i = 0; i < nb; ++i) {
            I[i] = a * I[i] + ip[i];
            U[i] = b * U[i] + (T(1) - b) * I[i];
            op[i] = U[i];
          }
          if constexpr (FIRE) {
            T* __restrict__ sp = spikes + t * N + n0;
            for (int64_t i = 0; i < nb; ++i) sp[i] = (U[i] / thr - T(1)) >= T(0) ? T(1) : T(0);
          }
        } else {
          for (int64_t i = 0; i < nb; ++i) {
            U[i] = b * U[i] + ip[i];           // adjoint of U
            I[i] = a * I[i] + (T(1) - b) * U[i];  // adjoint of I == grad x
            op[i] = I[i];
          }
        }
      }
    }
  });
}

#endif  // SNN_REPRO_KERNEL_BODY
