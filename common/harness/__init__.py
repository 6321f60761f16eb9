"""The reproduction harness: row selection, scales, run context, staged pipelines, result files."""
from .context import RunContext
from .pipeline import config_hash, run_stage
from .run import apply_scale, run_row, select_rows

__all__ = ["RunContext", "config_hash", "run_stage", "apply_scale", "run_row", "select_rows"]
