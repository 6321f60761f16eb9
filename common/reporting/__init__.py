"""Rendering of result files into RESULTS.md (deterministic: same files, same bytes)."""
from .render import fmt_metric, plot_spike_rates, render_results, save_figure

__all__ = ["fmt_metric", "plot_spike_rates", "render_results", "save_figure"]
