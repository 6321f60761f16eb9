"""RESULTS.md section of spiking_lstm: ``render(results, plot_dir, rel, benches) -> str`` (deterministic Markdown).

- accuracy vs T per dataset and scale: the converted SNN (conversion sweeps, with and without the bias shift) and
  the fine-tuned SNN (T = 1, 2, 4 rows), mean over seeds, with the conversion error;
- per-layer energy of the T = 2 rows (first seed) against the iso-architecture LSTM;
- the latency model (plain / pipelined / step-aligned wavefront) for each dataset's N, L and the plot
  ``plot_dir/spiking_lstm_latency.png`` (linked as ``rel/…``).
The rows and claims themselves are rendered by the common report.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from statistics import mean
from typing import Optional

from .claims import base_id
from .latency import lane_latency, pipelined_latency, plain_latency, plot_latency

__all__ = ["render", "PLOT"]

PLOT = "spiking_lstm_latency.png"
DATASETS = ("smnist", "har", "fsdd", "gsc")


def _pct(v: Optional[float]) -> str:
    return "–" if v is None else f"{100 * v:.2f} %"


def _num(v: Optional[float], fmt: str = ".3g") -> str:
    return "–" if v is None else format(v, fmt)


def _by_row(results: list[dict]) -> dict:
    out: dict = defaultdict(lambda: defaultdict(list))  # (scale, row id at mini: no _full) -> seed results
    for r in results:
        out[r["scale"]][base_id(r["row"]["id"])].append(r)
    return out


def _mean_metric(rs: list[dict], key: str) -> Optional[float]:
    vals = [r["metrics"][key] for r in rs if key in r.get("metrics", {})]
    return mean(vals) if vals else None


def _accuracy_vs_T(rows: dict, ds: str) -> list[str]:
    sweep, sweep0 = rows.get(f"{ds}_converted_sweep", []), rows.get(f"{ds}_converted_sweep_no_shift", [])
    Ts = sorted({int(t) for r in sweep + sweep0 for t in r.get("extras", {}).get("snn", {})} |
                {T for T in (1, 2, 4) if rows.get(f"{ds}_snn_t{T}")})
    if not Ts:
        return []
    lstm = _mean_metric(rows.get(f"{ds}_lstm", []) or sweep, "lstm/test/acc")
    out = [f"LSTM: {_pct(lstm)}", "",
           "| T | converted | conversion error | converted, no shift | conversion error, no shift | fine-tuned |",
           "|---|---|---|---|---|---|"]
    for T in Ts:
        def sw(rs, key):
            return _mean_metric(rs, f"T{T}/{key}") if rs and len(rs[0]["extras"]["snn"]) > 1 else _mean_metric(rs, key)
        ft = _mean_metric(rows.get(f"{ds}_snn_t{T}", []), "test/acc")
        conv = sw(sweep, "snn_converted/test/acc")
        if conv is None:
            conv = _mean_metric(rows.get(f"{ds}_snn_t{T}", []), "snn_converted/test/acc")
        out.append(f"| {T} | {_pct(conv)} | {_num(sw(sweep, 'conversion_error'))} | "
                   f"{_pct(sw(sweep0, 'snn_converted/test/acc'))} | {_num(sw(sweep0, 'conversion_error'))} | "
                   f"{_pct(ft)} |")
    return out + [""]


def _energy_table(rows: dict, ds: str) -> list[str]:
    rs = rows.get(f"{ds}_snn_t2", [])
    if not rs:
        return []
    snn = next(iter(rs[0]["extras"]["snn"].values()))
    e = snn.get("energy") or {}
    if not e:
        return []
    out = [f"Per-layer energy per sample, `{ds}_snn_t2` (seed {rs[0]['seed']}; element-wise products at 3.7 pJ): "
           f"SNN/LSTM = {_num(e.get('ratio'))} (gates only {_num(e.get('ratio_gates_only'))}, direct input current "
           f"once per element {_num(e.get('ratio_input_once'))})", "",
           "| layer | SNN MACs | SNN ACs | SNN element-wise | SNN µJ | LSTM MACs | LSTM element-wise | LSTM µJ "
           "| h spike rate |",
           "|---|---|---|---|---|---|---|---|---|"]
    for s, a in zip(e["snn"]["layers"], e["lstm"]["layers"]):
        rate = (s.get("spike_rates") or {}).get("h")
        out.append(f"| {s['name']} | {s['macs']:.3g} | {s['acs']:.3g} | {s['elementwise']:.3g} | "
                   f"{s['energy_pj'] / 1e6:.4g} | {a['macs']:.3g} | {a['elementwise']:.3g} | "
                   f"{a['energy_pj'] / 1e6:.4g} | "
                   f"{_num(rate, '.3f')} |")
    return out + [""]


def _moved(r: dict) -> Optional[tuple]:
    """(max |Δλ|, max |Δθ|/θ₀) over every layer and neuron group of a fine-tuned row (first T): how far fine-tuning
    moved the leaks (converted value 1) and thresholds (gates/θ_c: the LSTM's clips; θ_h: its statistics init)."""
    snn = next(iter(r.get("extras", {}).get("snn", {}).values()), None)
    clips = r.get("extras", {}).get("lstm", {}).get("clips")
    if not snn or not snn.get("epochs") or not clips or not snn.get("learned"):
        return None
    dl = dt = 0.0
    for layer, (new, old) in enumerate(zip(snn["learned"], clips)):
        theta0 = [*old["theta"][:4], snn["theta_h_init"][layer], old["theta_c"]]  # i, f, g, o, h, c
        theta1 = [*new["theta"], new["theta_c"]]
        dl = max(dl, *(abs(v - 1.0) for v in new["leak"]))
        dt = max(dt, *(abs(a - b) / max(abs(b), 1e-12) for a, b in zip(theta1, theta0)))
    return dl, dt


def _moved_table(rows: dict, ds: str) -> list[str]:
    found = []
    for sfx in ("snn_t1", "snn_t2", "snn_t4", "t2_no_shift", "t2_fixed"):
        vals = [m for r in rows.get(f"{ds}_{sfx}", []) if (m := _moved(r)) is not None]
        if vals:
            found.append((f"{ds}_{sfx}", len(vals), max(v[0] for v in vals), max(v[1] for v in vals)))
    if not found:
        return []
    out = ["What fine-tuning moved (largest over layers, neuron groups and seeds): leaks from their converted value "
           "1, thresholds relative to their converted values. A row whose leaks and thresholds barely move trains "
           "the weights only, like the `t2_fixed` ablation.", "",
           "| row | seeds | max abs(Δ leak) | max abs(Δθ)/θ₀ |", "|---|---|---|---|"]
    out += [f"| `{rid}` | {n} | {dl:.2g} | {dt:.2g} |" for rid, n, dl, dt in found]
    return out + [""]


def _latency(rows_all: dict, plot_dir: Path, rel: str) -> list[str]:
    shapes = {}
    for rows in rows_all.values():
        for rid, rs in rows.items():
            for r in rs:
                for v in r.get("extras", {}).get("snn", {}).values():
                    lat = v.get("latency")
                    if lat:
                        shapes[(rid.split("_")[0], lat["N"], lat["L"])] = True
    out = ["Latency in layer-steps (papers/spiking_lstm/latency.py): plain `2NLT`; pipelined (this cell) "
           "`(N + L)(T + 1) - 2`; step-aligned wavefront (a cell passing its state per inner step) `N + L + T - 2`. "
           "Every SNN row checks the closed form against the simulated schedule (`latency/pipelined_sim_minus_model`).",
           "", "| dataset | N | L | T | plain | pipelined | wavefront |", "|---|---|---|---|---|---|---|"]
    for ds, N, L in sorted(shapes):
        for T in (1, 2, 4):
            out.append(f"| {ds} | {N} | {L} | {T} | {plain_latency(N, L, T)} | {pipelined_latency(N, L, T)} | "
                       f"{lane_latency(N, L, T)} |")
    out.append("")
    if plot_latency(Path(plot_dir) / PLOT, L=1, Ts=(1, 2, 4), N_max=128) is not None:
        out += [f"![spiking LSTM latency vs sequence length]({rel}/{PLOT})", ""]
    return out


def render(results: list[dict], plot_dir: Path, rel: str, benches: Optional[dict] = None) -> str:
    by = _by_row(results)
    lines: list[str] = []
    for scale in ("full", "mini", "smoke"):
        rows = by.get(scale)
        if not rows:
            continue
        for ds in DATASETS:
            acc, en, mv = _accuracy_vs_T(rows, ds), _energy_table(rows, ds), _moved_table(rows, ds)
            if acc or en or mv:
                lines += [f"#### {ds}, scale {scale}: accuracy vs T and energy", ""] + acc + en + mv
    if by:
        lines += ["#### Latency: plain vs pipelined schedule", ""] + _latency(by, plot_dir, rel)
    return "\n".join(lines).rstrip() + "\n" if lines else ""
