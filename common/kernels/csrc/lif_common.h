// Fused multi-step IF/LIF neuron and two-exponential (SPSN) filter for CPU: what the op wrappers
// (lif_cpu.cpp) and the kernels (lif_kernels.h, compiled once per ISA) share.
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
#pragma once

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>

namespace snn_repro_cpu {

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

// Raw arguments of the kernels (pointers to contiguous buffers of the dtype; nullptr = absent).
struct FwdArgs {
  bool is_double; const void* x; const void* v0; const void* leak; const void* thr; int64_t T_, N, C, S;
  bool soft; void* spikes; void* h; void* vlast;
};
struct BwdArgs {
  bool is_double; const void* gs; double gs_scalar; const void* gh; const void* gv; const void* h; const void* v0;
  const void* leak; const void* thr; int64_t T_, N, C, S; int64_t kind; double alpha; bool soft; bool detach;
  void* gx; void* gv0; void* gl; void* gt;
};
struct FilterArgs {
  bool is_double; const void* in; int64_t T_, N; double a, b, thr; bool reverse; void* out; void* spikes;
};

// One set of kernels per instruction set: lif_cpu_avx2.cpp (x86 with AVX2, chosen at run time) and
// lif_cpu_base.cpp (the baseline ISA), each compiling lif_kernels.h.
#define SNN_REPRO_DECLARE_KERNELS(ns)    \
  namespace ns {                          \
  void lif_fwd(const FwdArgs& a);         \
  void lif_bwd(const BwdArgs& a);         \
  void two_exp_filter(const FilterArgs& a); \
  }
SNN_REPRO_DECLARE_KERNELS(k_avx2)
SNN_REPRO_DECLARE_KERNELS(k_base)
#undef SNN_REPRO_DECLARE_KERNELS

}  // namespace snn_repro_cpu
