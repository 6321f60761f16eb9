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

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#ifndef SNN_REPRO_KERNEL_BODY

namespace {

constexpr int64_t BLK = 8192;  // max neurons per block

// Each time step of a block reads and writes rows of nb contiguous elements; rows are N elements apart.
// Long rows (>= STREAM_BYTES) are streamed by the hardware prefetcher: one block per thread (at most
// BLK neurons), no software prefetch. Short rows at such a stride are not followed by the hardware
// (and, N being a power of two, all rows of a block share a few cache sets): rows of at most
// PF_MAX_BYTES, >= 4 blocks per thread for load balance, prefetched PD steps ahead by software.
// Measured (2 threads, forward + backward): (T, N) = (100, 65536) 256-neuron prefetched blocks
// 4.3 + 6.7 ms, 8192-neuron blocks 3.0 + 2.9 ms; (10000, 512): 64-neuron prefetched blocks 3.0 + 2.5 ms,
// 256-neuron blocks 3.5 + 3.0 ms.
constexpr int64_t STREAM_BYTES = 2048;
constexpr int64_t PF_MAX_BYTES = 1024;
constexpr int64_t PD = 8;

template <typename T>
inline int64_t block_size(int64_t N) {
  const int64_t nt = std::max<int64_t>(1, at::get_num_threads());
  const auto round16 = [](int64_t b) { return (b + 15) / 16 * 16; };
  const int64_t per_thread = (N + nt - 1) / nt;
  if (per_thread * int64_t(sizeof(T)) >= STREAM_BYTES) return std::min<int64_t>(BLK, round16(per_thread));
  const int64_t b = round16((N + 4 * nt - 1) / (4 * nt));
  return std::min<int64_t>(PF_MAX_BYTES / int64_t(sizeof(T)), std::max<int64_t>(64, b));
}
template <typename T>
inline bool use_prefetch(int64_t nb) {
  return nb * int64_t(sizeof(T)) <= PF_MAX_BYTES;
}
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

// Per-block state: k arrays of nb elements, each 64-byte aligned, on the heap (up to 7 x 64 KB for
// double would be a lot for an OpenMP worker's stack). One allocation per block and call.
template <typename T>
struct Scratch {
  int64_t stride;
  T* p;
  Scratch(int k, int64_t nb)
      : stride((nb * int64_t(sizeof(T)) + 63) / 64 * 64 / int64_t(sizeof(T))),
        p(static_cast<T*>(std::aligned_alloc(64, size_t(k * stride) * sizeof(T)))) {
    if (!p) throw std::bad_alloc();
  }
  ~Scratch() { std::free(p); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  T* operator[](int i) const { return p + i * stride; }
};

// Run body(n0, nb) over neuron blocks, dynamically scheduled on torch's OpenMP threads.
template <typename T, typename F>
inline void for_blocks(int64_t N, F&& body) {
  const int64_t blk = block_size<T>(N);
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
#define SNN_REPRO_AVX2 1
namespace k_avx2 {
#include "lif_cpu.cpp"  // this file, second pass
}  // namespace k_avx2
#undef SNN_REPRO_AVX2
#pragma GCC pop_options
#endif
#define SNN_REPRO_AVX2 0
namespace k_base {
#include "lif_cpu.cpp"  // this file, second pass
}  // namespace k_base
#undef SNN_REPRO_AVX2
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

#if SNN_REPRO_AVX2
// The forward's row for float with non-temporal stores of spikes and h (32-byte aligned rows): the
// stores skip reading the destination lines first, which is a third of the forward's memory traffic.
// Same operations and rounding as the generic loop. Returns the number of neurons done (multiple of 8).
template <bool SOFT, bool STORE_H>
inline int64_t lif_fwd_row_avx2(const float* __restrict__ xp, const float* __restrict__ lam,
                                const float* __restrict__ th, int64_t nb, float* __restrict__ sp,
                                float* __restrict__ hp, float* __restrict__ v) {
  const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= nb; i += 8) {
    const __m256 thv = _mm256_loadu_ps(th + i);
    const __m256 h = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(lam + i), _mm256_loadu_ps(v + i)),
                                   _mm256_loadu_ps(xp + i));
    const __m256 z = _mm256_sub_ps(_mm256_div_ps(h, thv), one);
    const __m256 s = _mm256_and_ps(_mm256_cmp_ps(z, zero, _CMP_GE_OQ), one);
    _mm256_stream_ps(sp + i, s);
    if constexpr (STORE_H) _mm256_stream_ps(hp + i, h);
    const __m256 vn = SOFT ? _mm256_sub_ps(h, _mm256_mul_ps(thv, s)) : _mm256_mul_ps(h, _mm256_sub_ps(one, s));
    _mm256_storeu_ps(v + i, vn);
  }
  return i;
}
#endif

// One block of nb <= BLK neurons through all T steps (kept out of the parallel lambda so that GCC
// vectorizes the inner loop; restrict-qualified row pointers, state v in scratch).
template <typename T, bool SOFT, bool STORE_H>
__attribute__((noinline)) void lif_fwd_block(const T* __restrict__ x, const T* __restrict__ v0,
                                             const T* __restrict__ lam, const T* __restrict__ th, int64_t T_,
                                             int64_t N, int64_t n0, int64_t nb, T* __restrict__ spikes,
                                             T* __restrict__ hbuf, T* __restrict__ v, T* __restrict__ vlast) {
  const bool pf = use_prefetch<T>(nb);
  // rows 32-byte aligned throughout (N and n0 multiples of 8): non-temporal stores for spikes and h
  const bool stream = !pf && N % 8 == 0 && n0 % 8 == 0 && reinterpret_cast<uintptr_t>(spikes) % 32 == 0 &&
                      (!STORE_H || reinterpret_cast<uintptr_t>(hbuf) % 32 == 0);
  for (int64_t i = 0; i < nb; ++i) v[i] = v0 ? v0[n0 + i] : T(0);
  for (int64_t t = 0; t < T_; ++t) {
    const T* __restrict__ xp = x + t * N + n0;
    T* __restrict__ sp = spikes + t * N + n0;
    T* __restrict__ hp = STORE_H ? hbuf + t * N + n0 : nullptr;
    if (pf && t + PD < T_) {
      prefetch_row(xp + PD * N, nb, false);
      prefetch_row(sp + PD * N, nb, true);
      if constexpr (STORE_H) prefetch_row(hp + PD * N, nb, true);
    }
    int64_t i0 = 0;
#if SNN_REPRO_AVX2
    if constexpr (std::is_same_v<T, float>) {
      if (stream) i0 = lif_fwd_row_avx2<SOFT, STORE_H>(xp, lam, th, nb, sp, hp, v);
    }
#endif
#pragma GCC ivdep
    for (int64_t i = i0; i < nb; ++i) {
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
#if SNN_REPRO_AVX2
  if (stream) _mm_sfence();  // order the non-temporal stores before the block's results are used
#endif
}

template <typename T, bool SOFT, bool STORE_H>
void lif_fwd_impl(const T* x, const T* v0, const T* leak, const T* thr, int64_t T_, int64_t N, int64_t C,
                  int64_t S, T* spikes, T* hbuf, T* vlast) {
  for_blocks<T>(N, [&](int64_t n0, int64_t nb) {
    Scratch<T> st(3, nb);
    load_params(leak, thr, C, S, n0, nb, st[0], st[1]);
    lif_fwd_block<T, SOFT, STORE_H>(x, v0, st[0], st[1], T_, N, n0, nb, spikes, hbuf, st[2], vlast);
  });
}

// One reverse-time step for a block. FIRST: t == 0 (previous state is v0). gx may alias h (no restrict
// between them: h[t] is read before grad_x[t] is written at the same address). q[i] holds h[t]/thr,
// computed by the previous (later-in-time) step, so each step divides once for the spike decisions
// (bit-identical to the forward's h / thr - 1 >= 0). PARAM_GRADS: accumulate the per-neuron leak and
// threshold gradients (skipped when neither is needed: a fifth of the backward's time).
template <typename T, int KIND, bool SOFT, bool DETACH, bool FIRST, bool PARAM_GRADS>
inline void lif_bwd_step(const T* gsp, const T* __restrict__ ghp, const T* hp, const T* hm,
                         const T* __restrict__ v0p, const T* __restrict__ lam, const T* __restrict__ th,
                         const T* __restrict__ inv, int64_t nb, T a, T atan_c, T* __restrict__ q,
                         T* __restrict__ gv, T* __restrict__ gl, T* __restrict__ gt, T* gxp) {
#pragma GCC ivdep
  for (int64_t i = 0; i < nb; ++i) {
    T vprev = T(0), qm = T(0);
    if constexpr (FIRST) {
      if constexpr (PARAM_GRADS) vprev = v0p ? v0p[i] : T(0);
    } else {
      const T hmv = hm[i];
      qm = hmv / th[i];
      if constexpr (PARAM_GRADS) {
        const T sm = (qm - T(1)) >= T(0) ? T(1) : T(0);
        vprev = SOFT ? hmv - th[i] * sm : hmv * (T(1) - sm);
      }
    }
    const T hv = hp[i];
    const T z = q[i] - T(1);
    const T s = z >= T(0) ? T(1) : T(0);
    const T sg = surrogate<KIND, T>(z, a, atan_c);
    T gsum = gsp[i];
    if constexpr (!DETACH) gsum += gv[i] * (SOFT ? -th[i] : -hv);
    const T gsg = gsum * sg * inv[i];
    const T g = ghp[i] + ((SOFT ? gv[i] : gv[i] * (T(1) - s)) + gsg);
    if constexpr (PARAM_GRADS) {
      T dth = gsg * (-hv * inv[i]);
      if constexpr (SOFT) dth -= gv[i] * s;
      gt[i] += dth;
      gl[i] += g * vprev;
    }
    gxp[i] = g;
    gv[i] = g * lam[i];
    if constexpr (!FIRST) q[i] = qm;
  }
}

// Reverse-time recurrence of one block. A missing upstream gradient reads a constant row instead of
// a [T, N] stream: grad_spikes given as one scalar (e.g. the grad of spikes.sum()), grad_membrane
// absent (zeros). st holds lam, th, then this function's state and the constant rows.
template <typename T, int KIND, bool SOFT, bool DETACH, bool PARAM_GRADS>
__attribute__((noinline)) void lif_bwd_block(const T* gs, T gs_scalar, const T* gh_in, const T* gv_in, const T* h,
                                             const T* v0, int64_t T_, int64_t N, int64_t n0, int64_t nb, T a,
                                             T atan_c, T* gx, T* gv0, T* gleak, T* gthr, const Scratch<T>& st) {
  const T* lam = st[0];
  const T* th = st[1];
  T* gv = st[2];
  T* gl = st[3];
  T* gt = st[4];
  T* q = st[5];
  T* inv = st[6];
  T* gs_row = st[7];
  T* gh_row = st[8];
  const bool pf = use_prefetch<T>(nb);
  const T* hlast = h + (T_ - 1) * N + n0;
  for (int64_t i = 0; i < nb; ++i) {
    gv[i] = gv_in ? gv_in[n0 + i] : T(0);
    gl[i] = T(0);
    gt[i] = T(0);
    inv[i] = T(1) / th[i];
    q[i] = hlast[i] / th[i];
    gs_row[i] = gs_scalar;
    gh_row[i] = T(0);
  }
  for (int64_t t = T_ - 1; t >= 0; --t) {
    const int64_t o = t * N + n0;
    const T* gsp = gs ? gs + o : gs_row;
    const T* ghp = gh_in ? gh_in + o : gh_row;
    if (pf && t - PD - 1 >= 0) {
      const int64_t op = o - (PD + 1) * N;
      prefetch_row(h + op, nb, true);
      if (gs) prefetch_row(gs + op, nb, false);
      if (gh_in) prefetch_row(gh_in + op, nb, false);
      if (gx != h) prefetch_row(gx + op, nb, true);
    }
    if (t > 0)
      lif_bwd_step<T, KIND, SOFT, DETACH, false, PARAM_GRADS>(gsp, ghp, h + o, h + o - N, nullptr, lam, th, inv,
                                                               nb, a, atan_c, q, gv, gl, gt, gx + o);
    else
      lif_bwd_step<T, KIND, SOFT, DETACH, true, PARAM_GRADS>(gsp, ghp, h + o, nullptr, v0 ? v0 + n0 : nullptr,
                                                              lam, th, inv, nb, a, atan_c, q, gv, gl, gt, gx + o);
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
  for_blocks<T>(N, [&](int64_t n0, int64_t nb) {
    Scratch<T> st(9, nb);
    load_params(leak, thr, C, S, n0, nb, st[0], st[1]);
    if (gleak || gthr)
      lif_bwd_block<T, KIND, SOFT, DETACH, true>(gs, gs_scalar, gh_in, gv_in, h, v0, T_, N, n0, nb, a, atan_c, gx,
                                                 gv0, gleak, gthr, st);
    else
      lif_bwd_block<T, KIND, SOFT, DETACH, false>(gs, gs_scalar, gh_in, gv_in, h, v0, T_, N, n0, nb, a, atan_c,
                                                  gx, gv0, nullptr, nullptr, st);
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
  for_blocks<T>(N, [&](int64_t n0, int64_t nb) {
    Scratch<T> st(2, nb);
    T* __restrict__ I = st[0];
    T* __restrict__ U = st[1];
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
