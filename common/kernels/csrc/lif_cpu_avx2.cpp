// The kernels (lif_kernels.h) compiled for x86 with AVX2; lif_cpu.cpp calls them when the CPU has it.
#include <cmath>
#include <cstring>
#include <type_traits>

#include "lif_common.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#pragma GCC target("avx2")
#define SNN_REPRO_AVX2 1
namespace snn_repro_cpu::k_avx2 {
#include "lif_kernels.h"
}  // namespace snn_repro_cpu::k_avx2
#endif
