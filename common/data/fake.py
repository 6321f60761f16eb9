"""Tiny fake datasets for smoke runs, written once per machine into the temporary folder.

Every process of a DDP run (and every concurrent test) may ask for the same fake dataset at once, so it
is written into a private temporary folder and renamed into place when complete: a reader never sees a
half-written folder, and the first writer wins while the others discard their copy.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

__all__ = ["fake_data_root"]

_MARKER = ".complete"


def fake_data_root(name: str, write: Callable[[Path], "Path | str"]) -> Path:
    """The data root that ``write(folder)`` returns for a fresh ``folder``, kept as ``<tmp>/<name>``.

    ``write`` must be deterministic (a fixed seed): the folder is reused by later calls and processes.
    """
    final = Path(tempfile.gettempdir()) / name
    marker = final / _MARKER
    for _ in range(3):
        if marker.is_file():
            return final / marker.read_text()
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=final.parent))
        try:
            rel = Path(write(tmp)).resolve().relative_to(tmp.resolve())
            (tmp / _MARKER).write_text(str(rel))
            os.rename(tmp, final)  # atomic; fails when another process got there first
        except OSError:
            if final.exists() and not marker.is_file():  # a folder left by an older, unmarked writer
                shutil.rmtree(final, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if marker.is_file():
        return final / marker.read_text()
    raise RuntimeError(f"could not write the fake dataset {final}")
