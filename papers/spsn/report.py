"""RESULTS.md section of the SPSN paper: ``render(results, plot_dir, rel) -> str`` (deterministic Markdown).

``results``: the suite's result dicts (``common.harness.results.load_results``); only ``paper == "spsn"``
ones are used. The speed benchmark is read by this module itself from
``<repo>/results/spsn/bench_speed.json`` (written by ``scripts/bench_spsn.py``; pass ``bench_path=`` to
override). The ratio-vs-T plot is written to ``plot_dir/spsn_speed_ratio.png`` and linked as
``rel/spsn_speed_ratio.png``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from common.data.root import REPO_ROOT

__all__ = ["render", "BENCH_PATH"]

BENCH_PATH = REPO_ROOT / "results" / "spsn" / "bench_speed.json"
NAMES = {"sb": "SPSN-SB", "gs": "SPSN-GS", "lif": "LIF (plain loop)", "relu": "Non-spiking (ReLU)"}


def _pct(v) -> str:
    return "–" if v is None else f"{100 * float(v):.2f} %"


def _num(v, fmt="{:.3g}") -> str:
    return "–" if v is None else fmt.format(float(v))


def _neuron(res: dict) -> str:
    n = (res.get("extras") or {}).get("neuron")
    if n:
        return n
    rid = res["row"]["id"]
    return next((k for k in ("sb", "gs", "lif", "relu") if k in rid.split("_")), "?")


def _mini_table(res: list[dict]) -> list[str]:
    mini = sorted((r for r in res if r.get("scale") == "mini" and r["row"].get("group") == "mini"),
                  key=lambda r: ["sb", "gs", "lif", "relu"].index(_neuron(r)) if _neuron(r) in NAMES else 9)
    if not mini:
        return ["_No mini results yet: run `python scripts/reproduce.py paper=spsn scale=mini`._", ""]
    lif = next((r for r in mini if _neuron(r) == "lif"), None)
    lif_s = (lif or {}).get("metrics", {}).get("train/epoch_seconds")
    out = ["Stand-in data (not SHD): real MNIST as Bernoulli rate-coded spike trains (784 channels, T = 100 steps, "
           "about 13 % of the channels active per step; `common/data/spiking_mnist.py`, encoder `rate`), the paper's "
           "network sized to it (784-128-128-128-10), Adamax 1e-3, batch 64, 12 800 training images, 2 epochs, final "
           "epoch tested, seed 0, CPU (shared, 2 cores, 1 torch thread). The earlier row-scan thermometer code (28 "
           "channels, T = 112) left SPSN-SB/GS at chance: with so few dense channels sigmoid(U) saturates and the "
           "layer-1 gradient vanishes; it is kept in the data module (`encoder: row_scan`) but no longer used.", "",
           "| Row | Neuron | Test acc | Spikes / neuron / step | Epoch time (s, median) | LIF epoch time / this | Epochs | Train subset |",
           "|---|---|---|---|---|---|---|---|"]
    for r in mini:
        m = r.get("metrics", {})
        s = m.get("train/epoch_seconds")
        ratio = f"{lif_s / s:.1f}×" if (lif_s and s) else "–"
        sub = (r.get("config", {}).get("data") or {}).get("train_subset")
        out.append(f"| `{r['row']['id']}` | {NAMES.get(_neuron(r), _neuron(r))} | {_pct(m.get('test/acc'))} | "
                   f"{_num(m.get('test/spikes_per_neuron_step'))} | {_num(s, '{:.1f}')} | {ratio} | "
                   f"{_num(m.get('epochs'), '{:.0f}')} | {sub if sub is not None else '–'} |")
    return out + [""]


def _full_table(res: list[dict], rows: list) -> list[str]:
    full = {r["row"]["id"]: r for r in res if r.get("scale") == "full"}
    out = ["| Row | Neuron, setting | Reported acc | Measured acc | Reported LIF/this epoch time | Measured epoch s |",
           "|---|---|---|---|---|---|"]
    for row in rows:
        got = full.get(row.id)
        meas = _pct(got["metrics"].get("test/acc")) if got else "not run here"
        secs = _num(got["metrics"].get("train/epoch_seconds"), "{:.1f}") if got else "–"
        ratio = row.reported.get("lif_epoch_ratio")
        out.append(f"| `{row.id}` | {row.architecture.split('(')[-1].rstrip(')')} | {_pct(row.reported.get('test/acc'))} | "
                   f"{meas} | {('%.1f×' % ratio) if ratio else '–'} | {secs} |")
    return out + ["", f"Full-scale rows not run here: {rows[0].not_run_here}." if rows else "", ""]


def _bench(bench: Optional[dict], plot_dir: Path, rel: str) -> list[str]:
    if not bench:
        return ["_No speed benchmark yet: run `python scripts/bench_spsn.py`._", ""]
    meta = bench.get("meta", {})
    code = meta.get("code") or {}
    commit = (code.get("commit") or "?")[:12] + (" (dirty)" if code.get("dirty") else "")
    out = [f"`scripts/bench_spsn.py` ({meta.get('date', '?')}, commit {commit}, torch {meta.get('torch', '?')}, "
           f"{meta.get('threads', '?')} threads, LIF fast backend: `{meta.get('lif_fast_backend', '?')}`). "
           f"{meta.get('notes', '')}", "",
           "| Case | T | Batch | SPSN-SB ms | SPSN-GS ms | LIF loop ms | LIF fast ms | LIF loop / SPSN-SB | LIF fast / SPSN-SB |",
           "|---|---|---|---|---|---|---|---|---|"]
    for c in bench.get("cases", []):
        out.append(f"| {c['case']} | {c['T']} | {c['batch']} | {c['spsn_sb_ms']:.1f} | {c['spsn_gs_ms']:.1f} | "
                   f"{c['lif_paper_ms']:.1f} | {c['lif_fast_ms']:.1f} | {c['ratio_lif_paper_spsn_sb']:.1f}× | "
                   f"{c['ratio_lif_fast_spsn_sb']:.1f}× |")
    filt = next((c.get("filter") for c in bench.get("cases", []) if c.get("filter")), "parallel")
    out += ["", f"Neuron alone at the issue's CPU reference points (SPSN = exact parallel filter, `method=auto` → "
                f"`{filt}`, + Bernoulli spikes; references: a chunked-scan filter measured earlier on this CPU):", "",
            "| T | Batch | N | SPSN ms (reference) | LIF loop ms (reference) | ratio |", "|---|---|---|---|---|---|"]
    for r in bench.get("neuron_reference_points", []):
        out.append(f"| {r['T']} | {r['batch']} | {r['N']} | {r['spsn_ms']:.1f} ({r['reference_chunked_scan_ms']:.0f}) | "
                   f"{r['lif_paper_ms']:.1f} ({r['reference_lif_loop_ms']:.0f}) | {r['ratio']:.1f}× |")
    out += ["", "Reported: ≈10× faster training than LIF on SHD (abstract; official code ≈46× basic, ≈21–24× augmented, GPU), "
            "≈4000× at 10,000 steps (abstract, setup not published).", ""]
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3.5))
        for case, mk in (("layer", "o"), ("network", "s")):
            cs = [c for c in bench.get("cases", []) if c["case"] == case]
            if not cs:
                continue
            T = [c["T"] for c in cs]
            ax.plot(T, [c["ratio_lif_paper_spsn_sb"] for c in cs], marker=mk, label=f"{case}: LIF loop / SPSN-SB")
            ax.plot(T, [c["ratio_lif_fast_spsn_sb"] for c in cs], marker=mk, ls="--", label=f"{case}: LIF fast / SPSN-SB")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("time steps T")
        ax.set_ylabel("speed-up (LIF time / SPSN time)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        plot_dir = Path(plot_dir)
        plot_dir.mkdir(parents=True, exist_ok=True)
        fig.savefig(plot_dir / "spsn_speed_ratio.png", dpi=120, metadata={"Software": None})
        plt.close(fig)
        out += [f"![SPSN speed-up vs T]({rel}/spsn_speed_ratio.png)", ""]
    except ImportError:
        out += ["_(matplotlib missing: no plot)_", ""]
    return out


def render(results: list[dict], plot_dir: Path, rel: str, bench_path: Optional[Path] = None) -> str:
    from common.registry import get_paper

    res = [r for r in results if r.get("paper") == "spsn"]
    paper = get_paper("spsn")
    full_rows = [r for r in paper.rows.values() if "full" in r.scales]
    bp = Path(bench_path) if bench_path else BENCH_PATH
    bench = json.loads(bp.read_text()) if bp.is_file() else None
    lines = [
             "#### SHD (full scale; reported = official repo, seed 0, final epoch of 200)", ""]
    lines += _full_table(res, full_rows)
    lines += ["#### Mini stand-in (measured here)", ""] + _mini_table(res)
    lines += ["#### Speed: SPSN vs LIF, forward + backward (measured here, CPU)", ""] + _bench(bench, plot_dir, rel)
    return "\n".join(lines).rstrip() + "\n"
