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
