"""Every package and module imports alone in a fresh interpreter: no import cycles, no hidden order
dependencies (e.g. ``common.kernels`` before ``common.neurons``)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ["common", "common.neurons", "common.kernels", "common.metrics", "common.harness", "common.reporting",
            "common.data", "common.lightning", "papers.diet_snn", "papers.spsn"]
# third-party libraries preloaded before the per-module forks (never a package of this repository)
THIRD_PARTY = ["torch", "numpy", "lightning", "torchmetrics", "hydra", "omegaconf"]
# optional dependencies a module may lack on some machines
OPTIONAL = {"common.kernels.triton_lif": "triton"}


def _modules() -> list[str]:
    mods = []
    for top in ("common", "papers"):
        for p in sorted((REPO / top).rglob("*.py")):
            rel = p.relative_to(REPO).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            mods.append(".".join(parts))
    return mods


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=600)


def test_every_top_level_package_imports_alone():
    bad = {}
    for pkg in PACKAGES:
        r = _python(f"import {pkg}")
        if r.returncode != 0:
            bad[pkg] = r.stderr.strip().splitlines()[-1:]
    assert not bad, f"packages that fail to import in a fresh interpreter: {bad}"


# One interpreter with the third-party libraries loaded forks a child per module; each child starts with none
# of this repository's modules imported, so a cycle shows up exactly as in a fresh interpreter.
_FORKER = """
import importlib, json, os, sys, traceback
for lib in {third_party!r}:
    importlib.import_module(lib)
assert not [m for m in sys.modules if m.split('.')[0] in ('common', 'papers')]
failures = {{}}
for mod in {modules!r}:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        msg = ''
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if {optional!r}.get(mod) != e.name:
                msg = traceback.format_exc()
        except BaseException:
            msg = traceback.format_exc()
        os.write(w, msg.encode())
        os._exit(0)
    os.close(w)
    out = b''
    while chunk := os.read(r, 65536):
        out += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    if out or status:
        failures[mod] = out.decode()[-2000:] or f'exit status {{status}}'
print(json.dumps(failures))
"""


def test_every_module_imports_alone():
    mods = _modules()
    assert "common.kernels.cpu" in mods and "papers.spsn.model" in mods
    r = _python(_FORKER.format(third_party=THIRD_PARTY, modules=mods, optional=OPTIONAL))
    assert r.returncode == 0, r.stderr[-3000:]
    failures = json.loads(r.stdout.strip().splitlines()[-1])
    assert not failures, "modules that fail to import alone:\n" + "\n".join(
        f"--- {m}\n{t}" for m, t in failures.items())


def test_an_import_cycle_would_be_detected(tmp_path):
    """The fork check sees a cycle: two modules importing a name from each other fail when imported alone."""
    pkg = tmp_path / "cyc"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import B\nA = 1\n")
    (pkg / "b.py").write_text("from .a import A\nB = 1\n")
    code = _FORKER.format(third_party=[], modules=["cyc.a"], optional={})
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert "ImportError" in r.stdout and "cyc.a" in r.stdout, r.stdout + r.stderr
