"""Data modules. One data-root setting (``paths.data_dir`` / env ``SNN_REPRO_DATA``) serves them all."""
from .base import ArrayDataModule, EpochSeededSampler, MissingDatasetError, CorruptDatasetError
from .root import resolve_data_dir

__all__ = ["ArrayDataModule", "EpochSeededSampler", "MissingDatasetError", "CorruptDatasetError", "resolve_data_dir"]
