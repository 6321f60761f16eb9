// The kernels (lif_kernels.h) compiled for x86 with AVX2; lif_cpu.cpp calls them when the CPU has it.
#include "lif_common.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#pragma GCC target("avx2")
#if defined(__clang__)
#define SNN_REPRO_AVX2 0  // clang ignores the pragma above: no AVX2 intrinsics, only the generic loops
#else
#define SNN_REPRO_AVX2 1
#endif
namespace snn_repro_cpu::k_avx2 {
#include "lif_kernels.h"
}  // namespace snn_repro_cpu::k_avx2
#endif
