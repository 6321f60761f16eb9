// The kernels (lif_kernels.h) compiled for the baseline instruction set (no -march: portable build).
#include "lif_common.h"

#define SNN_REPRO_AVX2 0
namespace snn_repro_cpu::k_base {
#include "lif_kernels.h"
}  // namespace snn_repro_cpu::k_base
