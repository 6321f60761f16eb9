"""The fused CPU path must really be built wherever a C++ compiler exists: the kernel tests skip
themselves only on machines without one, so a broken build cannot hide behind those skips."""
import os
import shutil

import pytest

from common.kernels import cpu as cpu_ext


@pytest.mark.skipif(shutil.which(os.environ.get("CXX", "c++")) is None, reason="no C++ compiler on this machine")
def test_cpu_extension_builds_where_a_compiler_exists():
    if os.environ.get("SNN_REPRO_DISABLE_CPU_EXT", "") not in ("", "0"):
        pytest.skip("the fused CPU path was disabled on purpose (SNN_REPRO_DISABLE_CPU_EXT=1)")
    assert cpu_ext.load(), f"the C++ neuron extension failed to build: {cpu_ext.build_error()}"
