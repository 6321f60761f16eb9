"""RESULTS.md section of lmu_quantized: ``render(results, plot_dir, rel, benches) -> str`` (deterministic Markdown).

The speed benchmark is ``lmu_speed`` (``results/bench/lmu_speed.json``, written by ``scripts/bench_lmu.py``): a
table of every form with and without the quantizer (median ms, ratio to the step loop) and, when the JSON holds a
sweep, the plot ``plot_dir/lmu_speed_vs_T.png`` of time vs sequence length, linked as ``rel/lmu_speed_vs_T.png``.
The hybrid rows' dt sweeps (``extras["dt_sweep"]``, papers/lmu_quantized/pipeline.py) give a table per row of
accuracy and bits against dt (mean ± std over seeds) and the plot ``plot_dir/lmu_dt_<row>.png``. The rows and claims
are rendered by the common report. The energy table (per scale) gives every row's ops and energy per sample in both
conventions (``test/energy/*``: the tested model counted on the first test batch, papers/lmu_quantized/pipeline.py)
and its ratio to the LSTM row of the same scale, seed for seed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from common.reporting.render import (config_value, fmt_seeds, pyplot, ratio_cell, runs_by_row, save_figure,
                                     seeds_cell)

__all__ = ["render", "BENCH", "PLOT", "LABELS"]

BENCH = "lmu_speed"
PLOT = "lmu_speed_vs_T.png"
LABELS = {
    "step": "step loop (2019 cell, memory feedback)",
    "step_nofb": "step loop, no memory feedback",
    "parmem_fft": "parallel memory (FFT) + sequential hidden",
    "parmem_chunked": "parallel memory (chunked) + sequential hidden",
    "parallel_fft": "fully parallel (FFT), every step",
    "parallel_chunked": "fully parallel (chunked), every step",
    "parallel_last": "fully parallel, last state only",
}


def _ratio(v) -> str:
    return "–" if v is None else f"{v:.1f}×"


def _bench(bench: Optional[dict], plot_dir: Path, rel: str) -> list[str]:
    if not bench:
        return ["_No speed benchmark yet: run `python scripts/bench_lmu.py` (add `--sweep` for time vs length)._", ""]
    meta, cfg = bench.get("meta", {}), bench.get("config", {})
    code = meta.get("code") or {}
    commit = (code.get("commit") or "?")[:12] + (" (dirty)" if code.get("dirty") else "")
    out = [f"`scripts/bench_lmu.py` ({meta.get('date', '?')}, commit {commit}, torch {meta.get('torch', '?')}, "
           f"{cfg.get('device', 'cpu')}, {cfg.get('threads', '?')} threads): T = {cfg.get('T')}, theta = "
           f"{cfg.get('theta')}, batch {cfg.get('batch')}, hidden {cfg.get('hidden')}, order {cfg.get('order')}, "
           f"quantizer dt {cfg.get('dt')}. {meta.get('notes', '')}", "",
           "| Form | ms | vs step loop | ms, quantized h | vs step loop, quantized |", "|---|---|---|---|---|"]
    cases = bench.get("cases", [])
    for impl in dict.fromkeys(c["impl"] for c in cases):
        by = {c["spiking"]: c for c in cases if c["impl"] == impl}
        cells = []
        for s in (False, True):
            c = by.get(s)
            cells += ["–", "–"] if c is None else [f"{c['ms']:.1f}", _ratio(c.get("ratio_vs_step"))]
        out.append(f"| {LABELS.get(impl, impl)} | " + " | ".join(cells) + " |")
    out.append("")
    sweep = bench.get("sweep") or []
    if sweep:
        plt = pyplot()

        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        for impl in dict.fromkeys(r["impl"] for r in sweep):
            rs = sorted((r for r in sweep if r["impl"] == impl), key=lambda r: r["T"])
            ax.plot([r["T"] for r in rs], [r["ms"] for r in rs], marker="o", label=LABELS.get(impl, impl))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("sequence length T")
        ax.set_ylabel("forward + backward, median ms")
        ax.set_title(f"One LMU layer (theta {cfg.get('theta')}, batch {sweep[0].get('batch')})")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        save_figure(fig, Path(plot_dir) / PLOT)
        out += [f"![LMU time vs sequence length]({rel}/{PLOT})", ""]
    return out


DT_COLUMNS = (("acc", "test/acc", "accuracy"), ("bits_per_neuron_step", "bits", "bits of activity"),
              ("significant_bits_per_multiply", "bits", "significant bits per multiply"),
              ("spikes_per_neuron_step", "count", "spikes per neuron-step"))


def _off_schedule(runs: list[dict]) -> list[str]:
    """A warning per seed tested at another dt than its schedule's end (a checkpoint from before the end of the
    anneal, as the last.ckpt harness bug fixed at b87f5bd gave: tests/common/test_harness.py)."""
    out = []
    for r in runs:
        end, tested = config_value(r, "callbacks", "dt", "dt_end"), r["metrics"].get("test/dt")
        if end is not None and tested is not None and abs(float(tested) - float(end)) > 1e-6 * float(end):
            out.append(f"⚠ seed {r['seed']} was tested at dt = {float(tested):g}, not at its schedule's final "
                       f"dt = {float(end):g}: an earlier checkpoint was tested.")
    return out + [""] if out else []


def _dt_sweep(results: list[dict], plot_dir: Path, rel: str) -> list[str]:
    out = []
    for row, runs in sorted(runs_by_row([r for r in results if r.get("paper") == "lmu_quantized"]).items()):
        runs = [r for r in runs if (r.get("extras") or {}).get("dt_sweep")]
        if not runs:
            continue
        dts = [p["dt"] for p in runs[0]["extras"]["dt_sweep"]]
        at = {dt: [next(p for p in r["extras"]["dt_sweep"] if p["dt"] == dt) for r in runs] for dt in dts}
        n = int(at[dts[0]][0]["n"])
        trained = runs[0]["metrics"].get("test/dt")
        out += [f"**`{row}`: the tested model at other dt** (same weights, first {n:,} test sequences, "
                f"{len(runs)} seed(s); tested at dt = {trained:g})", ""]
        out += _off_schedule(runs)
        out += ["| dt | " + " | ".join(c[2] for c in DT_COLUMNS) + " |", "|---" * (len(DT_COLUMNS) + 1) + "|"]
        for dt in dts:
            out.append(f"| {dt:g} | " + " | ".join(fmt_seeds(name, [p[k] for p in at[dt]])
                                                  for k, name, _ in DT_COLUMNS) + " |")
        out.append("")
        plt = pyplot()

        fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
        for ax, (k, _, label) in zip(axes, DT_COLUMNS[:2]):
            for r in runs:
                pts = sorted(r["extras"]["dt_sweep"], key=lambda p: p["dt"])
                ax.plot([p["dt"] for p in pts], [p[k] for p in pts], marker="o", alpha=0.8,
                        label=f"seed {r['seed']}")
            if trained:
                ax.axvline(trained, color="grey", ls="--", lw=1)
            ax.set_xscale("log")
            ax.set_xlabel("dt (spikes per step grow with dt)")
            ax.set_ylabel(label)
            ax.grid(True, which="both", alpha=0.3)
        axes[0].legend(fontsize=7)
        fig.suptitle(f"{row}: accuracy and bits against dt (dashed: trained dt)", fontsize=9)
        name = f"lmu_dt_{row}.png"
        save_figure(fig, Path(plot_dir) / name)
        out += [f"![{row} accuracy and bits vs dt]({rel}/{name})", ""]
    return out


DEAD_U = ("A seed whose test loss stays at ln 10 ≈ 2.30 never trained: the port's memory input u = ReLU(w x + b) "
          "comes from a 1 → 1 Linear with PyTorch's default init w, b ~ U(-1, 1), so for pixels x in [0, 1] it is 0 "
          "everywhere when b < 0 and w + b < 0 (probability 3/8 over seeds); the memory then gets no input and no "
          "gradient reaches the encoder. This is hrshtv/pytorch-lmu's design as ported, kept as it is "
          "(papers/lmu_quantized/README.md); the ablation row `parallel_u_identity` (u = w x + b, no ReLU) tests "
          "this explanation on the same seeds.")


def _parallel_seeds(results: list[dict]) -> list[str]:
    rows = sorted({r["row"]["id"] for r in results if r["row"]["id"].startswith("parallel")})
    if not rows:
        return []
    out = ["| row | scale | seed | test acc | test loss |", "|---|---|---|---|---|"]
    for rid in rows:
        for r in sorted((r for r in results if r["row"]["id"] == rid), key=lambda r: (r["scale"], r["seed"])):
            m = r.get("metrics", {})
            acc, loss = m.get("test/acc"), m.get("test/loss")
            out.append(f"| `{rid}` | {r['scale']} | {r['seed']} | {'–' if acc is None else f'{100 * acc:.2f} %'} | "
                       f"{'–' if loss is None else f'{loss:.3f}'} |")
    return out + ["", DEAD_U, ""]


ENERGY_MODELS = ("lmu", "hybrid", "hybrid_u", "hybrid_dt1", "lstm", "gru", "parallel", "parallel_u_identity")
E = "test/energy/"
UJ = 1e-6  # pJ -> µJ
ENERGY_NOTE = ("Per psMNIST sample (784 steps), counted on the tested model over the first 500 test sequences "
               "(`energy_batches`). Papers' convention: a product with an analog input is a MAC (4.6 pJ), one with "
               "spikes an AC (0.9 pJ) per spike and output, a graded input of n spikes |n| ACs; NeuroBench: effective "
               "ops from the non-zero inputs and weights. Every weight product of the LMU is counted, the frozen "
               "memory update m (Abar − I)ᵀ (order² MACs per step) included; the hybrid's quantized h makes its "
               "products (h e_h, h W_h, the readout) ACs, while the memory and m W_m stay dense MACs. Ratios to the "
               "LSTM of the same scale, seed for seed.")


def _energy(results: list[dict]) -> list[str]:
    out = []
    for scale in ("full", "mini"):
        sfx = "" if scale == "full" else f"_{scale}"
        rows = runs_by_row([r for r in results if r.get("paper") == "lmu_quantized"], scale)
        present = [m for m in ENERGY_MODELS if any(E + "energy_pj" in r.get("metrics", {})
                                                   for r in rows.get(f"{m}{sfx}", []))]
        if not present:
            continue
        lstm = rows.get(f"lstm{sfx}", [])
        out += [f"**Scale {scale}**", "",
                "| row | test acc | MACs | ACs | energy µJ (papers) | / LSTM | energy µJ (NeuroBench) | / LSTM |",
                "|---|---|---|---|---|---|---|---|"]
        for m in present:
            rs = rows[f"{m}{sfx}"]
            out.append(f"| `{m}{sfx}` | {seeds_cell(rs, 'test/acc')} | {seeds_cell(rs, E + 'macs')} | "
                       f"{seeds_cell(rs, E + 'acs')} | {seeds_cell(rs, E + 'energy_pj', UJ)} | "
                       f"{ratio_cell(rs, lstm, E + 'energy_pj')} | {seeds_cell(rs, E + 'energy_nb_pj', UJ)} | "
                       f"{ratio_cell(rs, lstm, E + 'energy_nb_pj')} |")
        out.append("")
    return out + [ENERGY_NOTE, ""] if out else []


def render(results: list[dict], plot_dir: Path, rel: str, benches: Optional[dict] = None) -> str:
    lines = []
    par = _parallel_seeds(results)
    if par:
        lines += ["#### Fully parallel LMU: every seed", ""] + par
    energy = _energy(results)
    if energy:
        lines += ["#### Ops and energy per sample (measured here)", ""] + energy
    sweep = _dt_sweep(results, Path(plot_dir), rel)
    if sweep:
        lines += ["#### Accuracy and bits against dt (hybrid rows, measured here)", ""] + sweep
    lines += ["#### Speed: one LMU layer, forward + backward (measured here)", ""]
    lines += _bench((benches or {}).get(BENCH), Path(plot_dir), rel)
    return "\n".join(lines).rstrip() + "\n"
