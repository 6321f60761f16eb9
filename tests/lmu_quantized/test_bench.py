"""scripts/bench_lmu.py --quick: runs every form, writes JSON only with --out (never the default results file)."""
import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_lmu.py"


def _load():
    spec = importlib.util.spec_from_file_location("bench_lmu", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_quick_run_writes_only_with_out(tmp_path, monkeypatch):
    bench = _load()
    default = tmp_path / "default" / "lmu_speed.json"
    monkeypatch.setattr(bench, "DEFAULT_OUT", default)
    out = bench.main(["--quick", "--threads", "1"])
    assert not default.exists()
    impls = {(c["impl"], c["spiking"]) for c in out["cases"]}
    assert len(impls) == 2 * len(bench.IMPLS) - 1  # parallel_last runs non-spiking only
    assert all(c["ms"] > 0 for c in out["cases"])
    assert [c["ratio_vs_step"] for c in out["cases"] if c["impl"] == "step"] == [1.0, 1.0]
    path = tmp_path / "q.json"
    bench.main(["--quick", "--threads", "1", "--sweep", "--impls", "step", "parallel_fft", "--out", str(path)])
    data = json.loads(path.read_text())
    assert data["meta"]["quick"] and data["config"]["T"] == 50 and "code" not in data["meta"]
    assert {(r["impl"], r["T"]) for r in data["sweep"]} == {(i, T) for i in bench.SWEEP_IMPLS for T in (20, 60)}


def test_report_renders_the_bench_and_its_sweep_plot(tmp_path):
    from papers.lmu_quantized.report import PLOT, render

    bench = _load()
    data = bench.main(["--quick", "--threads", "1", "--sweep", "--impls", "step", "parallel_last"])
    text = render([], tmp_path, "plots", {"lmu_speed": data})
    assert "| step loop (2019 cell, memory feedback) |" in text and "fully parallel, last state only" in text
    assert f"plots/{PLOT}" in text and (tmp_path / PLOT).is_file()
    assert "No speed benchmark yet" in render([], tmp_path, "plots", {})


def test_report_lists_every_seed_of_the_parallel_rows(tmp_path):
    from papers.lmu_quantized.report import render

    runs = [{"row": {"id": "parallel"}, "scale": "full", "seed": s, "metrics": {"test/acc": a, "test/loss": l}}
            for s, a, l in ((1, 0.97, 0.08), (0, 0.98, 0.07), (2, 0.11, 2.302))]
    text = render(runs, tmp_path, "plots", {})
    lines = [l for l in text.splitlines() if l.startswith("| `parallel`")]
    assert lines == ["| `parallel` | full | 0 | 98.00 % | 0.070 |", "| `parallel` | full | 1 | 97.00 % | 0.080 |",
                     "| `parallel` | full | 2 | 11.00 % | 2.302 |"]
    assert "3/8" in text and "Fully parallel LMU" not in render([], tmp_path, "plots", {})
