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


def test_every_kernel_source_is_package_data():
    """A non-editable install must ship every file the build compiles or includes."""
    import fnmatch
    import pathlib
    import tomllib

    root = pathlib.Path(__file__).resolve().parents[2]
    globs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["common"]
    csrc = root / "common" / "kernels" / "csrc"
    files = sorted(p.relative_to(root / "common").as_posix() for p in csrc.iterdir() if p.is_file())
    assert files, "no kernel sources found"
    missing = [f for f in files if not any(fnmatch.fnmatch(f, g) for g in globs)]
    assert not missing, f"not in [tool.setuptools.package-data] common: {missing}"
