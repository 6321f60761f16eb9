"""RESULTS.md section of the SPSN paper: ``render(results, plot_dir, rel, benches) -> str`` (deterministic Markdown).

``results``: the SPSN result dicts (one per row and seed); ``benches``: the benchmark files by stem; the
speed benchmark is ``spsn_speed`` (``results/bench/spsn_speed.json``, written by ``scripts/bench_spsn.py``).
Numbers are mean ± std over seeds (n); the settings named are read from the results' configs. The
ratio-vs-T plot is written to ``plot_dir/spsn_speed_ratio.png`` and linked as ``rel/spsn_speed_ratio.png``; the
FSDD spike raster ``plot_dir/spsn_fsdd_spike_raster.png`` (``scripts/plot_spike_raster.py``) is linked if present.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from common.claims import seed_stats
from common.reporting.render import config_value, fmt_seeds, pyplot, runs_by_row, save_figure

__all__ = ["render", "BENCH"]

BENCH = "spsn_speed"  # results/bench/spsn_speed.json
RASTER = "spsn_fsdd_spike_raster.png"  # results/plots/, written by scripts/plot_spike_raster.py (committed)
NAMES = {"sb": "SPSN-SB", "gs": "SPSN-GS", "lif": "LIF (plain loop)", "relu": "Non-spiking (ReLU)"}
ORDER = ["sb", "gs", "lif", "relu"]


def _pct(v) -> str:
    return "–" if v is None else f"{100 * float(v):.2f} %"


def _neuron(res: dict) -> str:
    n = (res.get("extras") or {}).get("neuron")
    if n:
        return n
    rid = res["row"]["id"]
    return next((k for k in ORDER if k in rid.split("_")), "?")


def _rate(m: dict):
    """Spikes per neuron per real step (``SPSNSequenceModule``); older results: the monitor's rate."""
    v = m.get("test/spikes_per_neuron_real_step")
    return m.get("test/spikes_per_neuron_step") if v is None else v


def _raster(plot_dir: Path, rel: str) -> list[str]:
    if not (Path(plot_dir) / RASTER).is_file():
        return [f"_No raster plot yet: run `python scripts/plot_spike_raster.py --out results/plots/{RASTER}`._", ""]
    return ["Front end on one FSDD digit and on one real Heidelberg Digits recording (SHD's source audio, resampled "
            "to 8 kHz, same filters and encoder), made by `scripts/plot_spike_raster.py`:", "",
            f"![FSDD spike raster]({rel}/{RASTER})", ""]


def _mini_table(res: list[dict], mini_rows: list) -> list[str]:
    """Every registered mini row; one without results reads "no result committed yet"."""
    runs = runs_by_row([r for r in res if r["row"].get("group") == "mini"], "mini")
    neuron_of = {row.id: next((k for k in ORDER if k in row.id.split("_")), "?") for row in mini_rows}
    for rid, rs in runs.items():
        neuron_of.setdefault(rid, _neuron(rs[0]))
    ids = sorted(neuron_of, key=lambda rid: (ORDER.index(neuron_of[rid]) if neuron_of[rid] in ORDER else 9, rid))
    if not runs:
        return ["_No mini results yet: run `python scripts/reproduce.py paper=spsn scale=mini` "
                f"(rows {', '.join(f'`{i}`' for i in ids)}: no result committed yet)._", ""]
    r0 = runs[next(rid for rid in ids if rid in runs)][0]
    data, opt = config_value(r0, "data") or {}, config_value(r0, "module", "optimizer") or {}
    lif = next((runs[rid] for rid in ids if rid in runs and neuron_of[rid] == "lif"), None)
    lif_s = seed_stats([r["metrics"]["train/epoch_seconds"] for r in lif]).mean if lif else None
    fe = " ".join(f"{k}={data.get(k)}" for k in ("channels", "fmin", "fmax", "dt_ms", "threshold", "tau_ms", "max_ms")
                  if data.get(k) is not None)
    out = [f"Stand-in data (not SHD): FSDD's real spoken digits as spike trains (`common/data/fsdd_spikes.py`: "
           f"gammatone filterbank → log hair-cell drive → one LIF encoder per channel; {fe}; T = each clip's length, "
           f"zero padding `{data.get('pad')}` with a length-masked readout), official split: 2,700 training clips "
           f"({data.get('val_size')} held out for val), 300 test clips, 10 digits; optimizer "
           f"`{str(opt.get('_target_', '?')).split('.')[-1]}` lr {opt.get('lr')}, batch {data.get('batch_size')}, "
           f"{config_value(r0, 'trainer', 'max_epochs')} epochs for every neuron, `test_ckpt={config_value(r0, 'test_ckpt')}`, "
           f"{((r0.get('provenance') or {}).get('hardware') or {}).get('torch_threads', '?')} torch thread(s) "
           "(from the first result's config; every row's config is in its result file).", "",
           "| Row | Neuron | Test acc | Spikes / neuron / step (real steps) | Epoch time (s) | LIF epoch time / this | Seeds |",
           "|---|---|---|---|---|---|---|"]
    for rid in ids:
        rs = runs.get(rid)
        if not rs:
            out.append(f"| `{rid}` | {NAMES.get(neuron_of[rid], neuron_of[rid])} | no result committed yet | – | – | – | – |")
            continue
        ms = [r["metrics"] for r in rs]
        secs = [m.get("train/epoch_seconds") for m in ms]
        s_mean = seed_stats([float(v) for v in secs if v is not None]).mean if any(v is not None for v in secs) else None
        ratio = f"{lif_s / s_mean:.2f}×" if (lif_s and s_mean) else "–"
        out.append(f"| `{rid}` | {NAMES.get(_neuron(rs[0]), _neuron(rs[0]))} | "
                   f"{fmt_seeds('test/acc', [m.get('test/acc') for m in ms])} | "
                   f"{fmt_seeds('rate', [_rate(m) for m in ms])} | {fmt_seeds('seconds', secs)} | "
                   f"{ratio} | {', '.join(str(r['seed']) for r in rs)} |")
    return out + ["", "The LIF/this ratio is the ratio of the seed means of the epoch times (training epoch, median "
                  "over epochs; LIF = the paper's plain per-step loop, `lif_backend: paper`; the suite's fused LIF is "
                  "in the speed benchmark below). Spikes per neuron per step: all three hidden layers, real (unpadded) "
                  "steps of the test clips.", ""]


def _full_table(res: list[dict], rows: list) -> list[str]:
    full = runs_by_row(res, "full")
    out = ["| Row | Neuron, setting | Reported acc | Measured acc | Reported LIF/this epoch time | Measured epoch s |",
           "|---|---|---|---|---|---|"]
    for row in rows:
        rs = full.get(row.id, [])
        meas = fmt_seeds("test/acc", [r["metrics"].get("test/acc") for r in rs]) if rs else "not run here"
        secs = fmt_seeds("seconds", [r["metrics"].get("train/epoch_seconds") for r in rs]) if rs else "–"
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
    points = bench.get("neuron_reference_points") or []
    if points:
        filt = next((c.get("filter") for c in bench.get("cases", []) if c.get("filter")), "parallel")
        out += ["", f"Neuron alone (SPSN = exact parallel filter, `method=auto` → `{filt}`, + Bernoulli spikes):", "",
                "| T | Batch | N | SPSN ms | LIF loop ms | LIF loop / SPSN |", "|---|---|---|---|---|---|"]
        for r in points:
            out.append(f"| {r['T']} | {r['batch']} | {r['N']} | {r['spsn_ms']:.1f} | {r['lif_paper_ms']:.1f} | "
                       f"{r['ratio']:.1f}× |")
    out.append("")
    plt = pyplot()

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
    save_figure(fig, Path(plot_dir) / "spsn_speed_ratio.png")
    out += [f"![SPSN speed-up vs T]({rel}/spsn_speed_ratio.png)", ""]
    return out


def render(results: list[dict], plot_dir: Path, rel: str, benches: Optional[dict] = None) -> str:
    from common.registry import get_paper

    res = [r for r in results if r.get("paper") == "spsn"]
    paper = get_paper("spsn")
    full_rows = [r for r in paper.rows.values() if "full" in r.scales]
    bench = (benches or {}).get(BENCH)
    lines = ["#### SHD (full scale; reported = official repo, seed 0, final epoch of 200)", ""]
    lines += _full_table(res, full_rows)
    lines += ["#### Mini stand-in: FSDD spike trains (measured here)", ""] + _raster(plot_dir, rel) + _mini_table(
        res, [r for r in paper.rows.values() if "mini" in r.scales])
    lines += ["#### Speed: SPSN vs LIF, forward + backward (measured here, CPU)", ""] + _bench(bench, plot_dir, rel)
    return "\n".join(lines).rstrip() + "\n"
