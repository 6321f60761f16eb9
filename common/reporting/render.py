"""RESULTS.md from the committed result files alone.

Per paper: reported vs reproduced (with the difference and the tolerance band), rows not run
here with the reason, the paper's own sections (``papers.<paper>.report.render``), a per-layer
spike-rate plot, and provenance (commit, hardware, versions, seed, scale, wall time).
"""
from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any, Callable, Optional

from ..registry import Paper, get_paper, list_papers

PCT_METRICS = ("acc",)  # metric names whose values are fractions shown as %


def is_pct(name: str) -> bool:
    return any(name.endswith(k) or f"/{k}" in name for k in PCT_METRICS)


def fmt_metric(name: str, v: Optional[float]) -> str:
    if v is None:
        return "—"
    if is_pct(name):
        return f"{100 * v:.2f} %"
    if "ratio" in name:
        return f"{v:.2f}×"
    if abs(v) >= 1e5 or (0 < abs(v) < 1e-3):
        return f"{v:.3e}"
    return f"{v:.4g}"


def fmt_band(name: str, lo: Optional[float], hi: Optional[float]) -> str:
    """A tolerance band in the metric's unit: ``≥ 95.00 %``, ``≤ 1.00×``, ``95.00 % – 97.00 %``."""
    if lo is None and hi is None:
        return "any"
    if hi is None:
        return f"≥ {fmt_metric(name, lo)}"
    if lo is None:
        return f"≤ {fmt_metric(name, hi)}"
    return f"{fmt_metric(name, lo)} – {fmt_metric(name, hi)}"


def fmt_delta(name: str, rep: Optional[float], got: Optional[float]) -> str:
    if rep is None or got is None:
        return "—"
    d = got - rep
    return f"{100 * d:+.2f} pt" if is_pct(name) else f"{d:+.3g}"


def save_figure(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
    import matplotlib.pyplot as plt

    plt.close(fig)


def plot_spike_rates(results: list[dict], path: Path, title: str) -> bool:
    """Grouped bars: spikes per neuron per step of every spiking layer, one group per row."""
    series = []
    for r in results:
        act = ((r.get("extras") or {}).get("energy") or {}).get("activity") or []
        if act:
            series.append((r["row"]["id"], [a["name"] for a in act], [a["spike_rate"] for a in act]))
    if not series:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2))
    width = 0.8 / len(series)
    for i, (row, names, rates) in enumerate(series):
        ax.bar([j + i * width for j in range(len(rates))], rates, width, label=row)
    longest = max(series, key=lambda s: len(s[1]))[1]
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(longest))])
    ax.set_xticklabels([n.replace("model.", "") for n in longest], rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("spikes / neuron / step")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    save_figure(fig, path)
    return True


def _prov_line(r: dict) -> str:
    p = r.get("provenance", {})
    git, hw, ver = p.get("git", {}), p.get("hardware", {}), p.get("versions", {})
    commit = (git.get("commit") or "unknown")[:10] + ("+dirty" if git.get("dirty") else "")
    hard = f"{hw.get('cpu', '?')} ({hw.get('torch_threads', '?')} threads)" + (f", {hw['gpu']}" if hw.get("gpu") else "")
    return (f"| `{r['row']['id']}` | {r['scale']} | {r['seed']} | `{commit}` | {hard} | torch {ver.get('torch')}, "
            f"lightning {ver.get('lightning')}, python {ver.get('python')} | {r.get('compute_time_s', r.get('wall_time_s', 0)):.0f} s |")


def _renderer(paper: str) -> Optional[Callable[..., str]]:
    try:
        mod = importlib.import_module(f"papers.{paper}.report")
    except ModuleNotFoundError as e:
        if e.name == f"papers.{paper}.report":
            return None
        raise
    return getattr(mod, "render", None)


def render_paper(paper: Paper, results: list[dict], plot_dir: Path, rel: str) -> str:
    by_row = {r["row"]["id"]: r for r in results}
    out = [f'<a id="{paper.name}"></a>', "", f"## {paper.title} (`paper={paper.name}`)", "", f"*{paper.citation}*", ""]
    measured = [r for r in paper.rows.values() if r.id in by_row]
    out += ["### Reported vs reproduced", ""]
    if measured:
        out += ["| row | dataset | architecture | T | scale | metric | paper | reproduced | Δ | band |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        for row in measured:
            res = by_row[row.id]
            names = list(row.reported) or ["test/acc"]
            names += [k for k in (res.get("tolerance") or {}) if k not in names]
            for name in names:
                rep, got = row.reported.get(name), res["metrics"].get(name)
                tol = (res.get("tolerance") or {}).get(name)
                band = "—" if not tol else (("✅ " if tol["ok"] else "❌ ") + fmt_band(name, *tol["band"]))
                out.append(f"| `{row.id}` | {row.dataset} | {row.architecture} | {row.time_steps or '—'} | "
                           f"{res['scale']} | {name} | {fmt_metric(name, rep)} | {fmt_metric(name, got)} | "
                           f"{fmt_delta(name, rep, got)} | {band} |")
        scaled = [r for r in measured if by_row[r.id]["scale"] != "full"]
        if scaled:
            out += ["", "Rows at `mini` scale are **reduced-scale runs** on the data available on the CI "
                        "machine; they test the claim named below, not the paper's number:", ""]
            claims: dict[str, list[str]] = {}
            for r in scaled:
                claims.setdefault(r.claim or "—", []).append(f"`{r.id}`")
            out += [f"- {', '.join(ids)}: {claim}" for claim, ids in claims.items()]
    else:
        out += ["No row of this paper has a committed result yet."]
    not_run = [r for r in paper.rows.values() if r.id not in by_row and "full" in r.scales]
    if not_run:
        out += ["", "### Rows not run here", "", "| row | dataset | architecture | T | paper | why not run here |",
                "|---|---|---|---|---|---|"]
        for r in not_run:
            rep = ", ".join(f"{k} {fmt_metric(k, v)}" for k, v in r.reported.items()) or "—"
            out.append(f"| `{r.id}` | {r.dataset} | {r.architecture} | {r.time_steps or '—'} | {rep} | "
                       f"{r.not_run_here or 'no result committed yet'} |")
        sources = sorted({r.source for r in paper.rows.values() if r.source})
        if sources:
            out += ["", "Sources of the reported numbers: " + "; ".join(sources) + "."]
    render = _renderer(paper.name)
    if render is not None and results:
        section = render(results, plot_dir, rel)
        if section:
            out += ["", "### Details", "", section.strip()]
    if plot_spike_rates(results, plot_dir / f"{paper.name}_layer_spike_rates.png", f"{paper.name}: per-layer spike rates"):
        out += ["", "### Per-layer spike rates", "", f"![per-layer spike rates]({rel}/{paper.name}_layer_spike_rates.png)"]
    if paper.notes:
        out += ["", "### Choices where the paper is silent", "", paper.notes.strip()]
    if results:
        out += ["", "### Provenance", "", "| row | scale | seed | commit | hardware | versions | compute time |",
                "|---|---|---|---|---|---|---|"]
        out += [_prov_line(by_row[r.id]) for r in paper.rows.values() if r.id in by_row]
    return "\n".join(out) + "\n"


def _load(results_dir: Path) -> dict[str, list[dict]]:
    from ..harness.results import load_results

    grouped: dict[str, list[dict]] = {}
    for r in load_results(results_dir):
        if r["scale"] != "smoke":
            grouped.setdefault(r["paper"], []).append(r)
    for rs in grouped.values():
        rs.sort(key=lambda r: r["row"]["id"])
    return grouped


def render_results(results_dir: Path, plot_dir: Path, rel: str, extra_sections: list[str] = ()) -> str:
    grouped = _load(results_dir)
    papers = [get_paper(n) for n in list_papers()]
    out = ["# Results", "",
           "<!-- Generated by `python scripts/make_results.py` from the result files under `results/`; "
           "do not edit by hand. -->", "",
           "Every number below comes from a committed machine-readable result file "
           "(`results/<paper>/<row>.json`, written by `scripts/reproduce.py`), with its provenance. "
           "Accuracies are top-1 test accuracy unless the metric says otherwise. "
           "`mini` = a reduced-scale run on real data that fits the CI machine (2 CPU cores); "
           "`full` = the paper's settings.", "",
           "| paper | rows | with a result here | scales run |", "|---|---|---|---|"]
    for p in papers:
        rs = grouped.get(p.name, [])
        out.append(f"| [{p.name}](#{p.name}) | {len(p.rows)} | {len(rs)} | "
                   f"{', '.join(sorted({r['scale'] for r in rs})) or '—'} |")
    out.append("")
    for p in papers:
        out.append(render_paper(p, grouped.get(p.name, []), plot_dir, rel))
    out += [s.strip() + "\n" for s in extra_sections if s]
    return "\n".join(out)


def load_json(path: Path) -> Optional[dict]:
    return json.loads(path.read_text()) if path.is_file() else None


def render_optional(renderer_path: str, data: Optional[dict], *args: Any) -> str:
    if data is None:
        return ""
    mod, _, fn = renderer_path.rpartition(".")
    try:
        render = getattr(importlib.import_module(mod), fn)
    except (ImportError, AttributeError):
        return ""
    return render(data, *args)
