// Fused multi-step IF/LIF neuron and two-exponential (SPSN) filter for CPU: the torch.library ops.
//
// This file checks arguments, picks the kernels for the CPU's instruction set and owns the buffer pool.
// The kernels themselves are in lif_kernels.h, compiled twice (lif_cpu_avx2.cpp with AVX2, selected at
// run time when the CPU has it, so the cached build stays portable: no -march=native; lif_cpu_base.cpp
// for the baseline ISA) as separate translation units that build in parallel.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <cstdlib>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "lif_common.h"

namespace snn_repro_cpu {
namespace {

const void* opt_ptr(const std::optional<at::Tensor>& t) {
  return (t.has_value() && t->defined()) ? t->data_ptr() : nullptr;
}
void* opt_mut_ptr(const std::optional<at::Tensor>& t) {
  return (t.has_value() && t->defined()) ? t->data_ptr() : nullptr;
}

at::ScalarType kernel_dtype(const at::Tensor& t) {
  TORCH_CHECK(t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble,
              "the fused CPU kernels take float32 or float64, got ", t.scalar_type());
  return t.scalar_type();
}

// The kernels see raw pointers: every operand must be a contiguous CPU tensor of the kernel's dtype
// and of the size the kernel reads or writes.
void check_operand(const at::Tensor& t, at::ScalarType dtype, int64_t numel, const char* name) {
  TORCH_CHECK(t.device().is_cpu(), name, " must be a CPU tensor");
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
  TORCH_CHECK(t.scalar_type() == dtype, name, " must be ", dtype, ", got ", t.scalar_type());
  TORCH_CHECK(t.numel() == numel, name, " must have ", numel, " elements, got ", t.numel());
}
void check_operand(const std::optional<at::Tensor>& t, at::ScalarType dtype, int64_t numel, const char* name) {
  if (t.has_value() && t->defined()) check_operand(*t, dtype, numel, name);
}

bool use_avx2() {
#if defined(__x86_64__) || defined(__i386__)
  // SNN_REPRO_CPU_NO_AVX2=1 forces the baseline kernels (tests use it to check both builds)
  static const bool ok = __builtin_cpu_supports("avx2") && std::getenv("SNN_REPRO_CPU_NO_AVX2") == nullptr;
  return ok;
#else
  return false;
#endif
}

#if defined(__x86_64__) || defined(__i386__)
#define KCALL(fn, args) (use_avx2() ? k_avx2::fn(args) : k_base::fn(args))
#else
#define KCALL(fn, args) k_base::fn(args)
#endif

void lif_fwd(const at::Tensor& x, const std::optional<at::Tensor>& v0, const at::Tensor& leak,
             const at::Tensor& thr, int64_t S, bool soft, const at::Tensor& spikes,
             const std::optional<at::Tensor>& h, const at::Tensor& vlast) {
  TORCH_CHECK(x.dim() == 2, "x must be [T, N]");
  const auto dt = kernel_dtype(x);
  const int64_t T_ = x.size(0), N = x.size(1), C = leak.numel();
  check_operand(x, dt, T_ * N, "x");
  check_operand(v0, dt, N, "v0");
  check_operand(leak, dt, C, "leak");
  check_operand(thr, dt, C, "threshold");
  check_operand(spikes, dt, T_ * N, "spikes");
  check_operand(h, dt, T_ * N, "h");
  check_operand(vlast, dt, N, "v_last");
  TORCH_CHECK(C >= 1 && S >= 1, "leak/threshold need at least one channel and S >= 1");
  const FwdArgs a{dt == at::kDouble, x.data_ptr(), opt_ptr(v0), leak.data_ptr(), thr.data_ptr(), T_, N, C, S, soft,
                  spikes.data_ptr(), opt_mut_ptr(h), vlast.data_ptr()};
  KCALL(lif_fwd, a);
}

void lif_bwd(const std::optional<at::Tensor>& gs, double gs_scalar, const std::optional<at::Tensor>& gh,
             const std::optional<at::Tensor>& gv, const at::Tensor& h, const std::optional<at::Tensor>& v0,
             const at::Tensor& leak, const at::Tensor& thr, int64_t S, int64_t kind, double alpha, bool soft,
             bool detach, const at::Tensor& gx, const std::optional<at::Tensor>& gv0,
             const std::optional<at::Tensor>& gleak, const std::optional<at::Tensor>& gthr) {
  TORCH_CHECK(h.dim() == 2, "h must be [T, N]");
  TORCH_CHECK(kind >= 0 && kind <= 4, "unknown surrogate kind ", kind);
  const auto dt = kernel_dtype(h);
  const int64_t T_ = h.size(0), N = h.size(1), C = leak.numel();
  check_operand(h, dt, T_ * N, "h");
  check_operand(gs, dt, T_ * N, "grad_spikes");
  check_operand(gh, dt, T_ * N, "grad_membrane");
  check_operand(gv, dt, N, "grad_v");
  check_operand(v0, dt, N, "v0");
  check_operand(leak, dt, C, "leak");
  check_operand(thr, dt, C, "threshold");
  check_operand(gx, dt, T_ * N, "grad_x");
  check_operand(gv0, dt, N, "grad_v0");
  check_operand(gleak, dt, N, "grad_leak (per neuron)");
  check_operand(gthr, dt, N, "grad_threshold (per neuron)");
  TORCH_CHECK(C >= 1 && S >= 1, "leak/threshold need at least one channel and S >= 1");
  const BwdArgs a{dt == at::kDouble, opt_ptr(gs), gs_scalar, opt_ptr(gh), opt_ptr(gv), h.data_ptr(), opt_ptr(v0),
                  leak.data_ptr(), thr.data_ptr(), T_, N, C, S, kind, alpha, soft, detach, gx.data_ptr(),
                  opt_mut_ptr(gv0), opt_mut_ptr(gleak), opt_mut_ptr(gthr)};
  KCALL(lif_bwd, a);
}

void two_exp_filter(const at::Tensor& in, double a, double b, bool reverse, double thr, const at::Tensor& out,
                    const std::optional<at::Tensor>& spikes) {
  TORCH_CHECK(in.dim() == 2, "input must be [T, N]");
  const auto dt = kernel_dtype(in);
  check_operand(in, dt, in.numel(), "input");
  check_operand(out, dt, in.numel(), "out");
  if (!reverse) check_operand(spikes, dt, in.numel(), "spikes");
  const FilterArgs f{dt == at::kDouble, in.data_ptr(), in.size(0), in.size(1), a, b, thr, reverse, out.data_ptr(),
                     reverse ? nullptr : opt_mut_ptr(spikes)};
  KCALL(two_exp_filter, f);
}
#undef KCALL

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
}  // namespace snn_repro_cpu

TORCH_LIBRARY(snn_repro_cpu, m) {
  using namespace snn_repro_cpu;
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
  using namespace snn_repro_cpu;
  m.impl("lif_fwd", &lif_fwd);
  m.impl("lif_bwd", &lif_bwd);
  m.impl("two_exp_filter", &two_exp_filter);
}
