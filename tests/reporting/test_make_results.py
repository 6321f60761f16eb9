"""RESULTS.md generation: mean ± std over seeds, unknown schema and failing renderers are errors,
deterministic output, ``--check`` and ``--compare``."""
import importlib.util
import json

import pytest

from common.claims import Claim, Compare, M, evaluate
from common.harness.results import load_results
from common.registry import Paper, Row
from common.reporting.render import PaperReport, _accepted_section, render_bench, render_paper

from ._synth import REPO, write_fake_results, write_result


def _load_make_results():
    spec = importlib.util.spec_from_file_location("make_results_under_test", REPO / "scripts" / "make_results.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_unknown_schema_is_an_error(tmp_path):
    write_result(tmp_path, "zz_fake", "mini_a", 0, {"test/acc": 0.9}, schema=99)
    with pytest.raises(ValueError, match="unknown schema 99"):
        load_results(tmp_path)


def test_old_one_level_layout_is_an_error(tmp_path):
    (tmp_path / "zz_fake").mkdir()
    (tmp_path / "zz_fake" / "mini_a.json").write_text(json.dumps({"schema": 1, "row": {"id": "mini_a"}}))
    with pytest.raises(ValueError, match="old layout"):
        load_results(tmp_path)


def test_row_table_shows_mean_std_and_n_and_stale_rows(tmp_path):
    write_fake_results(tmp_path, acc_a=(0.89, 0.90, 0.91))
    results = sorted(load_results(tmp_path), key=lambda r: (r["row"]["id"], r["seed"]))
    rows = [Row("mini_a", "D", "net", 4, {"test/acc": None}, scales=("mini",)),
            Row("mini_b", "D", "net", 4, {"test/acc": None}, scales=("mini",))]
    claim = Claim(id="a_beats_b", statement="A beats B", source="abstract", scale="mini",
                  checks=(Compare(M("mini_a", "test/acc"), ">", M("mini_b", "test/acc")),))
    paper = Paper("zz_local", "Local", "nobody", {r.id: r for r in rows}, claims=(claim,))
    values = {rid: [r["metrics"] for r in results if r["row"]["id"] == rid] for rid in ("mini_a", "mini_b")}
    stale = {r["_path"]: ("1 file(s) changed" if r["row"]["id"] == "mini_b" else "") for r in results}
    rep = PaperReport(paper, results, [evaluate(claim, values)], stale)
    text = render_paper(rep, tmp_path / "plots", "plots", {})
    assert "| 90.00 ± 1.00 % (n=3) |" in text  # mini_a
    assert "| 80.00 ± 1.00 % (n=3) |" in text  # mini_b
    assert "`mini_b` ⚠ stale" in text and "`mini_a` ⚠ stale" not in text
    assert "**✅ reproduced** ⚠ stale" in text  # the claim uses the stale row
    prov = text.split("### Provenance")[1].splitlines()
    assert sum("| ⚠ stale |" in line for line in prov) == 3  # one line per result file: mini_b's three
    assert sum("| fresh |" in line for line in prov) == 3
    # a change accepted for mini_a's results (results/accepted_changes.yaml) is listed with its reason and count
    entry = {"path": "common/h.py", "old": "a", "new": "b", "commit": "c0ffee1234", "not_for": {"test_ckpt": "last"},
             "reason": "only\n  last.ckpt differs"}
    rep.accepted = {r["_path"]: [entry] for r in results if r["row"]["id"] == "mini_a"}
    section = "\n".join(_accepted_section([rep]))
    assert ("| `common/h.py` | `c0ffee1234` | test_ckpt=last | 3 (zz_local) | only last.ckpt differs |"
            in section)
    assert _accepted_section([PaperReport(paper, results, [], stale)]) == []


def test_a_failing_renderer_fails_make_results(tmp_path, monkeypatch):
    mod = _load_make_results()
    import common.reporting.render as render

    def broken(*args, **kwargs):
        raise RuntimeError("renderer broke")

    monkeypatch.setattr(render, "_renderer", lambda paper: broken)
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "x.json").write_text("{}")  # a benchmark: the papers' renderers are called
    with pytest.raises(RuntimeError, match="renderer broke"):
        mod.main(["--results", str(tmp_path / "results"), "--bench", str(tmp_path / "bench"),
                  "--out", str(tmp_path / "R.md")])
    with pytest.raises(ModuleNotFoundError):
        render_bench("common.reporting.no_such_module.render", {"cases": []}, tmp_path, "plots")


@pytest.fixture
def fake_paper(monkeypatch):
    """Registers the fake paper in this process for one test; the registry is restored afterwards."""
    from common import registry

    registry.list_papers()  # the real papers first, so that restoring the registry keeps them
    monkeypatch.setattr(registry, "_PAPERS", dict(registry._PAPERS))
    from . import fake_paper as fp

    fp.register()


def test_make_results_is_deterministic_and_check_detects_changes(tmp_path, fake_paper):
    main = _load_make_results().main
    results = write_fake_results(tmp_path / "results")
    out1, out2 = tmp_path / "R1.md", tmp_path / "R2.md"
    for out in (out1, out2):
        assert main(["--results", str(results), "--out", str(out), "--bench", str(tmp_path)]) == 0
    assert out1.read_bytes() == out2.read_bytes()
    text = out1.read_text()
    assert "| [zz_fake](#zz_fake) | `a_beats_b`: A is more accurate than B (abstract) | mini | **✅ reproduced** |" in text
    assert "**⏸ not testable here** | needs a GPU and dataset D |" in text
    assert main(["--results", str(results), "--out", str(out1), "--bench", str(tmp_path), "--check"]) == 0
    write_result(results, "zz_fake", "mini_b", 3, {"test/acc": 0.99})
    assert main(["--results", str(results), "--out", str(out1), "--bench", str(tmp_path), "--check"]) == 1


def test_compare_fails_on_a_changed_verdict_or_a_metric_out_of_band(tmp_path, fake_paper, capsys):
    main = _load_make_results().main
    ref = write_fake_results(tmp_path / "ref")
    same = write_fake_results(tmp_path / "same", acc_a=(0.905, 0.915, 0.9))  # inside mean ± max(3 std, 1 pt)
    worse = write_fake_results(tmp_path / "worse", acc_a=(0.70, 0.71, 0.72))  # a below b: verdict changes
    args = ["--out", str(tmp_path / "R.md"), "--compare", str(ref), "--papers", "zz_fake", "--bench", str(tmp_path)]
    assert main(["--results", str(same), *args]) == 0
    capsys.readouterr()
    assert main(["--results", str(worse), *args]) == 1
    err = capsys.readouterr().err
    assert "claim zz_fake/a_beats_b: verdict changed from 'reproduced' to 'not reproduced'" in err
    assert "zz_fake/mini_a/mini test/acc: 71.00 ± 1.00 % (n=3) left its regression band" in err
