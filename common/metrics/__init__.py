"""Energy and activity metrics: op counts (papers' and NeuroBench's conventions), energy,
spike rates, sparsity, parameter count and memory footprint. See :class:`OpsMonitor`."""
from .activity import SpikeActivity, spike_counts
from .bits import QuantizedActivity, QuantizedActivityMonitor, activity_bits, significant_bits
from .energy import EnergyModel, energy_ratio, energy_ratios
from .footprint import memory_footprint, parameter_count
from .monitor import LayerOps, OpsMonitor
from .ops import (
    COUNTED_TYPES,
    FIELDS,
    base_counts,
    count_conv,
    count_embedding,
    count_layer,
    count_linear,
    count_matmul,
    count_mul,
    count_rnn,
    count_rnn_cell,
    find_counter,
    graded_counts,
    is_spike_tensor,
    is_ternary_tensor,
    register_counter,
    stack_counts,
    unregister_counter,
)

__all__ = [
    "QuantizedActivity", "QuantizedActivityMonitor", "activity_bits", "significant_bits",
    "OpsMonitor", "LayerOps", "SpikeActivity", "spike_counts", "EnergyModel", "energy_ratio",
    "parameter_count", "memory_footprint", "COUNTED_TYPES", "FIELDS", "count_conv", "count_layer",
    "count_linear", "count_rnn", "count_rnn_cell", "is_spike_tensor", "is_ternary_tensor", "stack_counts",
    "energy_ratios", "register_counter", "unregister_counter", "find_counter", "base_counts", "graded_counts",
    "count_embedding", "count_matmul", "count_mul",
]
