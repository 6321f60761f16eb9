"""common.data.fake: fake datasets are written once, atomically, and shared by concurrent processes."""
from __future__ import annotations

import multiprocessing as mp
import tempfile
from pathlib import Path

import pytest

from common.data.fake import fake_data_root


@pytest.fixture
def tmpdir_as_tempdir(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def _write(root: Path) -> Path:
    (root / "data").mkdir()
    (root / "data" / "x.txt").write_text("42")
    return root / "data"


def test_written_once_and_reused(tmpdir_as_tempdir):
    calls = []

    def write(root):
        calls.append(root)
        return _write(root)

    a = fake_data_root("ds", write)
    b = fake_data_root("ds", write)
    assert a == b == tmpdir_as_tempdir / "ds" / "data"
    assert (a / "x.txt").read_text() == "42"
    assert len(calls) == 1
    assert [p.name for p in tmpdir_as_tempdir.iterdir()] == ["ds"]  # no private folder left behind


def test_unmarked_folder_is_replaced(tmpdir_as_tempdir):
    (tmpdir_as_tempdir / "ds").mkdir()
    (tmpdir_as_tempdir / "ds" / "half-written").write_text("")
    root = fake_data_root("ds", _write)
    assert (root / "x.txt").is_file()
    assert not (tmpdir_as_tempdir / "ds" / "half-written").exists()


def test_failed_writer_leaves_nothing(tmpdir_as_tempdir):
    def boom(root):
        (root / "partial").write_text("")
        raise ValueError("boom")

    with pytest.raises(ValueError):
        fake_data_root("ds", boom)
    assert list(tmpdir_as_tempdir.iterdir()) == []


def _race(tmp: str, q) -> None:
    tempfile.tempdir = tmp
    q.put(str(fake_data_root("ds", _write)))


def test_concurrent_processes_agree(tmp_path):
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_race, args=(str(tmp_path), q)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    roots = {q.get(timeout=5) for _ in procs}
    assert roots == {str(tmp_path / "ds" / "data")}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]
