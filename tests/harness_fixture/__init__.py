"""A tiny test-only paper ("selftest") registered through the SNN_REPRO_PLUGINS extension point."""
