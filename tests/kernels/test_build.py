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


def _run(code: str, **env) -> "subprocess.CompletedProcess":
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return subprocess.run([sys.executable, "-c", code], env=dict(os.environ, **env), cwd=root,
                          capture_output=True, text=True, timeout=300)


def test_an_import_error_inside_the_kernels_is_raised_not_a_fallback():
    """A broken module of common.kernels must surface on the first fused request (auto included), while the
    PyTorch reference, which needs no kernels, keeps working."""
    code = (
        "import sys, torch\n"
        "sys.modules['common.kernels.lif'] = None  # any module of the package failing to import\n"
        "from common.neurons import LIF\n"
        "from common.neurons.backends import resolve_backend\n"
        "from common.neurons.parallel import two_exp_filter\n"
        "LIF(backend='torch')(torch.randn(3, 2, 4))\n"
        "for call in (lambda: resolve_backend('auto', torch.device('cpu')),\n"
        "             lambda: LIF(backend='auto')(torch.randn(3, 2, 4)),\n"
        "             lambda: two_exp_filter(torch.randn(5, 3), 0.9, 0.8)):\n"
        "    try:\n"
        "        call()\n"
        "    except ImportError as e:\n"
        "        assert 'common.kernels.lif' in str(e), e\n"
        "    else:\n"
        "        raise SystemExit('no ImportError')\n"
        "print('ok')\n"
    )
    r = _run(code)
    assert r.returncode == 0 and "ok" in r.stdout, r.stdout + r.stderr


def test_a_missing_compiler_falls_back_to_the_reference_with_one_warning(tmp_path):
    code = (
        "import warnings, torch\n"
        "from common.neurons.backends import resolve_backend, resolve_filter\n"
        "from common.neurons.functional import lif_multistep_torch\n"
        "from common.neurons.parallel import two_exp_filter, two_exp_filter_sequential\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    fns = [resolve_backend('auto', torch.device('cpu')) for _ in range(3)]\n"
        "    assert resolve_filter('auto', torch.device('cpu')) is None\n"
        "    x = torch.randn(20, 3, dtype=torch.float64)\n"
        "    torch.testing.assert_close(two_exp_filter(x, 0.9, 0.8), two_exp_filter_sequential(x, 0.9, 0.8))\n"
        "assert all(f is lif_multistep_torch for f in fns), fns\n"
        "msgs = [str(x.message) for x in w if 'fused CPU neuron kernels could not be built' in str(x.message)]\n"
        "assert len(msgs) == 1, [str(x.message) for x in w]\n"
        "print('ok')\n"
    )
    r = _run(code, CXX="/nonexistent/c++", TORCH_EXTENSIONS_DIR=str(tmp_path))
    assert r.returncode == 0 and "ok" in r.stdout, r.stdout + r.stderr


def test_triton_not_installed_makes_its_backend_unavailable_with_one_warning():
    code = (
        "import sys, warnings, torch\n"
        "sys.modules['triton'] = None  # as if triton were not installed\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    from common.kernels import triton_available\n"
        "    assert not triton_available('cpu') and not triton_available('cpu')\n"
        "msgs = [str(x.message) for x in w if 'triton is not installed' in str(x.message)]\n"
        "assert len(msgs) == 1, [str(x.message) for x in w]\n"
        "print('ok')\n"
    )
    r = _run(code, TRITON_INTERPRET="1")
    assert r.returncode == 0 and "ok" in r.stdout, r.stdout + r.stderr
