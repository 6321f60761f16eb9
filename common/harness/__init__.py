"""The reproduction harness: row selection, scales, run context, staged pipelines, result files."""
from .context import RunContext
from .pipeline import config_hash, run_stage
from .run import compose_row, register_row_keys, run_row, seeds_to_run, select_rows

__all__ = ["RunContext", "config_hash", "run_stage", "compose_row", "register_row_keys", "run_row", "seeds_to_run", "select_rows"]
