"""Energy and activity metrics: op counts (papers' and NeuroBench's conventions), energy,
spike rates, sparsity, parameter count and memory footprint. See :class:`OpsMonitor`."""
from .activity import SpikeActivity, spike_counts
from .energy import EnergyModel, energy_ratio
from .footprint import memory_footprint, parameter_count
from .monitor import LayerOps, OpsMonitor
from .ops import (
    COUNTED_TYPES,
    FIELDS,
    count_conv,
    count_layer,
    count_linear,
    count_rnn,
    count_rnn_cell,
    is_spike_tensor,
    is_ternary_tensor,
    stack_counts,
)

__all__ = [
    "OpsMonitor", "LayerOps", "SpikeActivity", "spike_counts", "EnergyModel", "energy_ratio",
    "parameter_count", "memory_footprint", "COUNTED_TYPES", "FIELDS", "count_conv", "count_layer",
    "count_linear", "count_rnn", "count_rnn_cell", "is_spike_tensor", "is_ternary_tensor", "stack_counts",
]
