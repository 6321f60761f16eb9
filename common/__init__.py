"""snn-repro shared library: neurons, surrogates, encoders, metrics, Lightning glue, harness."""
