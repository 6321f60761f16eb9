"""Rendering of result files into RESULTS.md (deterministic: same files, same bytes), staleness of
results, regression bands, and the benchmark renderers (``bench.py``)."""
from .render import (
    fmt_metric,
    fmt_seeds,
    plot_spike_rates,
    pyplot,
    render_results,
    save_figure,
)

__all__ = ["fmt_metric", "fmt_seeds", "plot_spike_rates", "pyplot", "render_results", "save_figure"]
