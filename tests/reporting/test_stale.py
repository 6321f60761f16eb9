"""A result is stale when files that affect its paper changed since its commit (temporary git repo)."""
import subprocess

from common.reporting.stale import changed_since, stale_reason


def _git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


def _commit(repo, files: dict, msg: str) -> str:
    for name, text in files.items():
        p = repo / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", msg)
    return _git(repo, "rev-parse", "HEAD")


def test_stale_when_common_or_the_papers_package_changed(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    c0 = _commit(repo, {"common/x.py": "1", "papers/p/model.py": "1", "papers/p/report.py": "1",
                        "papers/q/model.py": "1", "common/reporting/r.py": "1", "configs/experiment/q/a.yaml": "1"},
                 "start")
    result = {"paper": "p", "provenance": {"git": {"commit": c0}}}
    papers = ["p", "q"]
    # changes that do not affect paper p's results: reporting, its report, another paper, another paper's configs
    _commit(repo, {"common/reporting/r.py": "2", "papers/p/report.py": "2", "papers/q/model.py": "2",
                   "configs/experiment/q/a.yaml": "2", "RESULTS.md": "x"}, "reporting only")
    assert stale_reason(result, papers, repo) == ""
    _commit(repo, {"papers/p/model.py": "2"}, "model change")
    why = stale_reason(result, papers, repo)
    assert why.startswith("1 file(s)") and "`papers/p/model.py`" in why
    c2 = _commit(repo, {"common/x.py": "3"}, "common change")
    assert "`common/x.py`" in stale_reason({"paper": "q", "provenance": {"git": {"commit": c0}}}, papers, repo)
    assert stale_reason({"paper": "p", "provenance": {"git": {"commit": c2}}}, papers, repo) == ""


def test_unknown_commit_is_stale(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    _commit(repo, {"common/x.py": "1"}, "start")
    assert changed_since(repo, "0" * 40, ("common/",)) is None
    assert "not in this repository's history" in stale_reason({"paper": "p", "provenance": {"git": {"commit": "0" * 40}}},
                                                               ["p"], repo)
    assert "unknown" in stale_reason({"paper": "p", "provenance": {}}, ["p"], repo)


def test_recorded_sources_decide_exactly_which_changes_make_a_result_stale(tmp_path):
    """A result that records the blob ids of the files it ran (provenance.sources) is stale exactly when
    one of them differs at HEAD: a new module or another paper's files leave it fresh."""
    from common.harness.provenance import blob_sha, source_files

    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    c0 = _commit(repo, {"common/neurons.py": "a = 1\n", "papers/p/model.py": "b = 1\n", "papers/q/model.py": "1"},
                 "start")
    sources = {f: blob_sha(repo / f) for f in ("common/neurons.py", "papers/p/model.py")}
    assert sources["common/neurons.py"] == _git(repo, "hash-object", "common/neurons.py")  # git's own blob id
    result = {"paper": "p", "provenance": {"git": {"commit": c0}, "sources": sources}}
    _commit(repo, {"common/new_cells.py": "c = 1\n", "papers/q/model.py": "2", "papers/r/rows.py": "x"}, "unrelated")
    assert stale_reason(result, ["p", "q", "r"], repo) == ""  # the path rule would call this stale (common/ changed)
    _commit(repo, {"common/neurons.py": "a = 2\n"}, "a file it ran")
    assert "`common/neurons.py`" in stale_reason(result, ["p", "q", "r"], repo)
    # a file it ran that is gone is a change too
    _git(repo, "rm", "-q", "papers/p/model.py")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "rm")
    assert "`papers/p/model.py`" in stale_reason(result, ["p", "q", "r"], repo)
    # the recorder: the modules a run imported (this test's own imports among them), never the neutral ones
    rec = source_files("diet_snn")
    assert "common/harness/provenance.py" in rec and "scripts/reproduce.py" in rec
    assert not any(p.startswith(("common/reporting/", "tests/")) or p.endswith(("/claims.py", "/report.py"))
                   for p in rec)
    assert not any(p.startswith("configs/experiment/") and not p.startswith("configs/experiment/diet_snn/") for p in rec)


def test_a_paper_config_outside_the_rows_defaults_chain_leaves_it_fresh(tmp_path):
    """The recorder keeps every config of the paper; only the row's own chain (its experiment file and what its
    defaults name, recursively) can change its composed config."""
    from common.harness.provenance import blob_sha
    from common.reporting.stale import row_config_files

    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    files = {
        "configs/experiment/p/a_mini.yaml": "# @package _global_\ndefaults:\n  - /p/a_mini\n  - _self_\nx: 1\n",
        "configs/experiment/p/b.yaml": "defaults:\n  - /p/b\n  - _self_\n",
        "configs/p/a_mini.yaml": "defaults:\n  - a\n  - _self_\n",
        "configs/p/a.yaml": "defaults:\n  - base\n  - override /data: d1\n  - _self_\n",
        "configs/p/base.yaml": "y: 1\n",
        "configs/p/b.yaml": "defaults:\n  - base\n",
        "configs/data/d1.yaml": "z: 1\n", "configs/data/d2.yaml": "z: 2\n",
    }
    c0 = _commit(repo, files, "start")
    assert row_config_files(repo, "p", "a_mini") == {"configs/experiment/p/a_mini.yaml", "configs/p/a_mini.yaml",
                                                      "configs/p/a.yaml", "configs/p/base.yaml", "configs/data/d1.yaml"}
    result = {"paper": "p", "row": {"id": "a_mini"},
              "provenance": {"git": {"commit": c0}, "sources": {f: blob_sha(repo / f) for f in files}}}
    _commit(repo, {"configs/experiment/p/b.yaml": "defaults:\n  - /p/b\n", "configs/p/b.yaml": "q: 2\n"}, "row b")
    assert stale_reason(result, ["p"], repo) == ""
    _commit(repo, {"configs/data/d2.yaml": "z: 3\n"}, "a shared group: always counts")
    assert "`configs/data/d2.yaml`" in stale_reason(result, ["p"], repo)
    _commit(repo, {"configs/data/d2.yaml": "z: 2\n", "configs/p/base.yaml": "y: 2\n"}, "in the chain")
    assert "`configs/p/base.yaml`" in stale_reason(result, ["p"], repo)


def test_comment_and_docstring_changes_leave_a_result_fresh(tmp_path):
    """A change a run cannot see (comments, docstrings, YAML comments and layout) is no change; code, data and a
    YAML file's ``# @package`` line are."""
    from common.harness.provenance import blob_sha

    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    py = '"""Module doc."""\n\n\ndef f(x):\n    """Doc."""\n    return x + 1  # one\n'
    yml = "# @package _global_\n# a comment\nmodel: {hidden: 8}\n"
    c0 = _commit(repo, {"common/m.py": py, "configs/data/d.yaml": yml, "common/k.cpp": "int a;\n"}, "start")
    result = {"paper": "p", "provenance": {"git": {"commit": c0},
                                           "sources": {f: blob_sha(repo / f) for f in
                                                       ("common/m.py", "configs/data/d.yaml", "common/k.cpp")}}}
    _commit(repo, {"common/m.py": '"""Module doc, reworded."""\n\n\ndef f(x):\n    # why\n    return x + 1\n',
                   "configs/data/d.yaml": "# @package _global_\nmodel:\n  hidden: 8   # wider later\n"}, "docs")
    assert stale_reason(result, ["p"], repo) == ""
    _commit(repo, {"common/k.cpp": "int a; // c\n"}, "other files: byte for byte")
    assert "`common/k.cpp`" in stale_reason(result, ["p"], repo)
    _commit(repo, {"common/k.cpp": "int a;\n", "common/m.py": "def f(x):\n    return x + 2\n"}, "code")
    why = stale_reason(result, ["p"], repo)
    assert why.startswith("1 file(s)") and "`common/m.py`" in why
    _commit(repo, {"common/m.py": py, "configs/data/d.yaml": "model: {hidden: 8}\n"}, "package line dropped")
    assert "`configs/data/d.yaml`" in stale_reason(result, ["p"], repo)
    _commit(repo, {"configs/data/d.yaml": "# @package _global_\nmodel: {hidden: 9}\n"}, "data")
    assert "`configs/data/d.yaml`" in stale_reason(result, ["p"], repo)


def test_an_accepted_change_keeps_only_the_results_it_covers_fresh(tmp_path):
    """An entry of results/accepted_changes.yaml bridges its file's old blob to its new one for the results its
    ``not_for`` does not name; chains of entries compose; any other change still makes the result stale."""
    import pytest
    import yaml

    from common.harness.provenance import blob_sha
    from common.reporting.stale import ACCEPTED_CHANGES, accepted_for, load_accepted

    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    c0 = _commit(repo, {"common/h.py": "a = 1\n"}, "start")
    old = blob_sha(repo / "common/h.py")
    best, last = ({"paper": "p", "config": {"test_ckpt": ckpt},
                   "provenance": {"git": {"commit": c0}, "sources": {"common/h.py": old}}} for ckpt in ("best", "last"))
    _commit(repo, {"common/h.py": "a = 2\n"}, "change")
    new = blob_sha(repo / "common/h.py")
    assert stale_reason(best, ["p"], repo) and stale_reason(last, ["p"], repo)

    entry = {"path": "common/h.py", "old": old, "new": new, "commit": "c1", "not_for": {"test_ckpt": "last"},
             "reason": "only last differs"}
    _commit(repo, {ACCEPTED_CHANGES: yaml.safe_dump([entry])}, "accept")
    assert stale_reason(best, ["p"], repo) == ""
    assert "`common/h.py`" in stale_reason(last, ["p"], repo)
    assert accepted_for(best, repo) == [entry] and accepted_for(last, repo) == []
    assert stale_reason({**best, "config": {}}, ["p"], repo) == ""  # no test_ckpt in the config: not excluded

    # a later change: stale again, until a second entry continues the chain (a docstring-only step is no change)
    _commit(repo, {"common/h.py": "a = 3\n"}, "again")
    assert "`common/h.py`" in stale_reason(best, ["p"], repo)
    second = {**entry, "old": new, "new": blob_sha(repo / "common/h.py"), "commit": "c2", "not_for": {}}
    _commit(repo, {ACCEPTED_CHANGES: yaml.safe_dump([entry, second]), "common/h.py": '"""Doc."""\na = 3\n'}, "chain")
    assert stale_reason(best, ["p"], repo) == ""
    assert "`common/h.py`" in stale_reason(last, ["p"], repo)  # the first step never covered it
    assert accepted_for(best, repo) == [entry, second]

    (repo / ACCEPTED_CHANGES).write_text(yaml.safe_dump([{"path": "common/h.py", "old": old}]))
    with pytest.raises(ValueError, match="entry 0"):
        load_accepted(repo)


def test_the_committed_ledger_names_real_blobs_and_commits():
    """Every entry of results/accepted_changes.yaml: its ``new`` blob is its file at its commit, and its ``old``
    blob is the file at the commit's parent (a typo would silently keep results fresh or stale)."""
    from pathlib import Path

    from common.reporting.stale import load_accepted

    repo = Path(__file__).resolve().parents[2]
    for e in load_accepted(repo):
        assert _git(repo, "rev-parse", f"{e['commit']}:{e['path']}") == e["new"], e
        assert _git(repo, "rev-parse", f"{e['commit']}^:{e['path']}") == e["old"], e
        assert len(" ".join(str(e["reason"]).split())) > 40  # a reason, not a placeholder
