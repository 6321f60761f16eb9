"""RESULTS.md section of lite_snn: ``render(results, plot_dir, rel, benches) -> str`` (deterministic Markdown).

- IMDB, per scale: accuracy, parameters (embedding table excluded; with it), energy per review in both conventions
  and against the LSTM row, and the SNN's learned leaks and thresholds (mean ± std over seeds);
- Multi30k, per scale: BLEU by source length (test2016 split at ``short_max`` / ``mid_max`` source words,
  papers/lite_snn/module.py; mean ± std over seeds, with the sentences per bucket), the plot
  ``plot_dir/lite_snn_bleu_vs_length_<scale>.png`` (linked as ``rel/…``), parameters and energy per target token,
  and example translations (the first test pairs, the first seed's tested checkpoint, greedy decoding).
The rows and claims themselves are rendered by the common report.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from common.reporting.render import fmt_seeds, metric_values, pyplot, ratio_cell, runs_by_row, save_figure, seeds_cell

__all__ = ["render", "plot_bleu_vs_length"]

BUCKETS = ("short", "mid", "long")
IMDB_MODELS = ("snn_t5", "snn_t10", "rnn", "lstm", "gru")
M30K_MODELS = ("conv_snn", "conv_relu", "conv_snn_proj", "conv_relu_proj", "conv_snn_sa1", "conv_snn_akv", "lstm",
               "vanilla_snn")
ENERGY, ENERGY_NB = "test/energy/energy_pj", "test/energy/energy_nb_pj"
N_EXAMPLES = 3
IMDB_VARIANTS = {"full": ("", "_cpu"), "mini": ("_mini",)}  # row-id suffixes of the IMDB tables at each scale
UJ = 1e-6  # pJ -> µJ


def _first(rs: list[dict], key: str) -> Optional[float]:
    vs = metric_values(rs, key)
    return vs[0] if vs else None


def _suffix(scale: str) -> str:
    return "" if scale == "full" else f"_{scale}"


def _lif_cells(rs: list[dict]) -> str:
    names = sorted({k.split("/")[2] for r in rs for k in r.get("metrics", {}) if k.startswith("test/lif/")})
    if not names:
        return "–"
    return "; ".join(f"{n}: leak {fmt_seeds('leak', metric_values(rs, f'test/lif/{n}/leak'))}, "
                     f"θ {fmt_seeds('threshold', metric_values(rs, f'test/lif/{n}/threshold'))}" for n in names)


def _imdb(rows: dict, scale: str, sfx: str) -> list[str]:
    present = [m for m in IMDB_MODELS if rows.get(f"imdb_{m}{sfx}")]
    if not present:
        return []
    lstm = rows.get(f"imdb_lstm{sfx}", [])
    label = scale + (" (full data, 3 epochs: the CPU budget)" if sfx == "_cpu" else "")
    out = [f"#### IMDB, scale {label}: accuracy, parameters, energy per review", "",
           "Parameters without the shared embedding table (with it in brackets). Energy per review: the papers' "
           "convention (4.6 pJ/MAC, 0.9 pJ/AC) and NeuroBench's effective ops; the ratio to the LSTM row is per seed.",
           "", "| row | test acc | params | energy µJ (papers) | energy µJ (NeuroBench) | energy / LSTM | LIF leak, θ |",
           "|---|---|---|---|---|---|---|"]
    for m in present:
        rs = rows[f"imdb_{m}{sfx}"]
        params, total = _first(rs, "test/params"), _first(rs, "test/params_total")
        p = "–" if params is None else f"{params:,.0f}" + ("" if total is None else f" ({total:,.0f})")
        ratio = ratio_cell(rs, lstm, ENERGY) if lstm else "–"
        out.append(f"| `imdb_{m}{sfx}` | {seeds_cell(rs, 'test/acc')} | {p} | {seeds_cell(rs, ENERGY, UJ)} | "
                   f"{seeds_cell(rs, ENERGY_NB, UJ)} | {ratio} | {_lif_cells(rs)} |")
    return out + [""]


def plot_bleu_vs_length(series: dict[str, list[Optional[float]]], path: Path, title: str) -> bool:
    """Lines of BLEU (mean over seeds) per source-length bucket, one per row; False when there is nothing."""
    series = {k: v for k, v in series.items() if any(x is not None for x in v)}
    if not series:
        return False
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    for name, ys in series.items():
        pts = [(i, y) for i, y in enumerate(ys) if y is not None]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=name)
    ax.set_xticks(range(len(BUCKETS)))
    ax.set_xticklabels(BUCKETS)
    ax.set_xlabel("source sentence length bucket")
    ax.set_ylabel("BLEU (test2016)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    save_figure(fig, path)
    return True


def _m30k(rows: dict, scale: str, plot_dir: Path, rel: str) -> list[str]:
    sfx = _suffix(scale)
    present = [m for m in M30K_MODELS if rows.get(f"m30k_{m}{sfx}")]
    if not present:
        return []
    first = rows[f"m30k_{present[0]}{sfx}"][0]["metrics"]
    ns = ", ".join(f"{b} {int(first[f'test/bleu_len/n_{b}'])}" for b in BUCKETS if f"test/bleu_len/n_{b}" in first)
    out = [f"#### Multi30k de→en, scale {scale}: BLEU by source length, parameters, energy per token", "",
           f"Corpus BLEU (sacreBLEU 13a) on test2016, greedy and with beam search (beam 4) of the same checkpoint; by "
           f"source length (greedy) for the sentences in each bucket ({ns}; short ≤ 10 < mid ≤ 15 < long source "
           f"words).", "",
           "| row | BLEU greedy | BLEU beam | short | mid | long | long − short | params | energy µJ / token (papers) "
           "| energy µJ / token (NeuroBench) |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    series = {}
    for m in present:
        rs = rows[f"m30k_{m}{sfx}"]
        params = _first(rs, "test/params")
        out.append(f"| `m30k_{m}{sfx}` | {seeds_cell(rs, 'test/bleu')} | {seeds_cell(rs, 'test/bleu_beam')} | "
                   + " | ".join(seeds_cell(rs, f"test/bleu_len/{b}") for b in BUCKETS)
                   + f" | {seeds_cell(rs, 'test/bleu_len/long_minus_short')} | "
                   f"{'–' if params is None else f'{params:,.0f}'} | {seeds_cell(rs, ENERGY, UJ)} | "
                   f"{seeds_cell(rs, ENERGY_NB, UJ)} |")
        series[m] = [(sum(v) / len(v)) if (v := metric_values(rs, f"test/bleu_len/{b}")) else None for b in BUCKETS]
    out.append("")
    name = f"lite_snn_bleu_vs_length_{scale}.png"
    if plot_bleu_vs_length(series, Path(plot_dir) / name, f"Multi30k test2016 BLEU vs source length ({scale})"):
        out += [f"![BLEU vs source length, {scale}]({rel}/{name})", ""]
    examples = [(m, rows[f"m30k_{m}{sfx}"][0]) for m in present]
    examples = [(m, r) for m, r in examples if (r.get("extras") or {}).get("examples")]
    if examples:
        r0 = examples[0][1]
        out += [f"Example translations (the first {N_EXAMPLES} test2016 pairs, seed {r0['seed']}):", ""]
        for i, ex in enumerate(r0["extras"]["examples"][:N_EXAMPLES]):
            out += [f"- source: _{ex['src']}_", f"  - reference: {ex['ref']}"]
            for m, r in examples:
                exs = r["extras"]["examples"]
                if i < len(exs):
                    out.append(f"  - `{m}`: {exs[i]['hyp']}")
        out.append("")
    return out


def render(results: list[dict], plot_dir: Path, rel: str, benches: Optional[dict] = None) -> str:
    lines: list[str] = []
    for scale in ("full", "mini"):
        rows = runs_by_row(results, scale)
        if rows:
            for sfx in IMDB_VARIANTS[scale]:
                lines += _imdb(rows, scale, sfx)
            lines += _m30k(rows, scale, plot_dir, rel)
    return "\n".join(lines).rstrip() + "\n" if lines else ""
