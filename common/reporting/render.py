"""RESULTS.md from the committed result files alone (deterministic: same files and HEAD, same bytes).

It opens with one table of every claim of every paper and its verdict (``common.claims``). Per
paper: its verdicts with a sentence for each that is not reproduced, reported vs reproduced per row
(mean ± std over seeds, n), rows not run here with the reason, the paper's own sections
(``papers.<paper>.report.render``), a per-layer spike-rate plot, and provenance (one line per
result file). Rows whose code changed since their commit are marked stale (``stale.py``), and so
are the claims computed from them.
"""
from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from ..claims import INCONCLUSIVE, NOT_REPRODUCED, NOT_TESTABLE, REPRODUCED, Verdict, evaluate, fmt_value, seed_stats
from ..registry import Paper, get_paper, list_papers
from .stale import ACCEPTED_CHANGES, accepted_for, stale_reason

PCT_METRICS = ("acc",)  # metric names whose values are fractions shown as %
VERDICT_MARK = {REPRODUCED: "✅ reproduced", NOT_REPRODUCED: "❌ not reproduced", INCONCLUSIVE: "❔ inconclusive",
                NOT_TESTABLE: "⏸ not testable here"}
VERDICT_RULE = (
    "Verdicts (`common/claims.py`): each check compares a quantity q (a metric, a difference or a ratio of "
    "the seed means of rows) with a threshold t. Its spread s is propagated from the sample standard "
    "deviations over seeds (difference: √(s_a² + s_b²); ratio: |q|·√((s_a/a)² + (s_b/b)²)). "
    "**inconclusive** when s > 0 and |q − t| ≤ s (the difference is within the seed spread; with one seed s = 0, "
    "so n = 1 never gives inconclusive, but n is shown); otherwise **reproduced** when the check holds, else "
    "**not reproduced**. A claim with several checks is not reproduced if any check is, else inconclusive if any "
    "is. A guard that fails (the rows do not exercise the method) makes a claim inconclusive. **not testable "
    "here**: its rows have no result here (the reason is given). Numbers are mean ± std over seeds (n). "
    "⚠ stale: files that affect the row's results changed since the commit that produced it.")


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


def fmt_seeds(name: str, values: list, digits: int = 3) -> str:
    """``95.90 ± 0.12 % (n=3)`` over the per-seed values (``—`` when there are none)."""
    vs = [float(v) for v in values if v is not None]
    if not vs:
        return "—"
    st = seed_stats(vs)
    return fmt_value(name, st.mean, st.std, st.n, digits)


def metric_values(results: list[dict], key: str) -> list[float]:
    """The per-seed values of metric ``key`` over ``results`` (those that have it)."""
    return [r["metrics"][key] for r in results if r.get("metrics", {}).get(key) is not None]


def seeds_cell(results: list[dict], key: str, factor: float = 1.0) -> str:
    """Mean ± std over seeds of metric ``key`` times ``factor`` (e.g. 1e-6: pJ -> µJ)."""
    return fmt_seeds(key, [v * factor for v in metric_values(results, key)])


def ratio_cell(results: list[dict], base: list[dict], key: str) -> str:
    """Per-seed ratio ``results / base`` of metric ``key`` (seeds matched), mean ± std (``—`` without a match)."""
    b = {r["seed"]: r["metrics"].get(key) for r in base}
    vals = [r["metrics"][key] / b[r["seed"]] for r in results
            if r["metrics"].get(key) is not None and b.get(r["seed"])]
    return fmt_seeds("ratio", vals)


def config_value(result: dict, *keys: str, default=None):
    """``result["config"][k0][k1]...``: a setting a result ran with (``default`` when any key is missing)."""
    d = result.get("config") or {}
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return default
        d = d[k]
    return d


def pyplot():
    """``matplotlib.pyplot`` on the headless Agg backend (matplotlib is a dependency: every report plots)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
    pyplot().close(fig)


def plot_spike_rates(results: list[dict], path: Path, title: str) -> bool:
    """Grouped bars: spikes per neuron per step of every spiking layer, one group per row
    (the first seed's run of each row)."""
    series, seen = [], set()
    for r in results:
        act = ((r.get("extras") or {}).get("energy") or {}).get("activity") or []
        if act and r["row"]["id"] not in seen:
            seen.add(r["row"]["id"])
            series.append((r["row"]["id"], [a["name"] for a in act], [a["spike_rate"] for a in act]))
    if not series:
        return False
    fig, ax = pyplot().subplots(figsize=(7, 3.2))
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


# ------------------------------------------------------------------------------------ loading
def load_json(path: Path) -> Optional[dict]:
    return json.loads(path.read_text()) if path.is_file() else None


def load_benches(bench_dir: Path) -> dict[str, dict]:
    """Benchmark files ``<bench_dir>/*.json`` by file stem."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(Path(bench_dir).glob("*.json"))}


def load_grouped(results_dir: Path) -> dict[str, list[dict]]:
    """Result files (not ``smoke``) by paper, each list sorted by (row, scale, seed)."""
    from ..harness.results import load_results

    grouped: dict[str, list[dict]] = {}
    for r in load_results(results_dir):
        if r["scale"] != "smoke":
            grouped.setdefault(r["paper"], []).append(r)
    for rs in grouped.values():
        rs.sort(key=lambda r: (r["row"]["id"], r["scale"], r["seed"]))
    return grouped


def runs_by_row(results: list[dict], scale: Optional[str] = None) -> dict[str, list[dict]]:
    """Row id -> its result dicts (one per seed), at ``scale`` (any scale when None)."""
    out: dict[str, list[dict]] = {}
    for r in results:
        if scale is None or r["scale"] == scale:
            out.setdefault(r["row"]["id"], []).append(r)
    return out


@dataclass
class PaperReport:
    paper: Paper
    results: list[dict]
    verdicts: list[Verdict]
    stale: dict = field(default_factory=dict)  # result _path -> reason ("" = fresh)
    accepted: dict = field(default_factory=dict)  # result _path -> accepted changes that keep it fresh

    def stale_rows(self) -> dict[str, str]:
        """Row id -> the reason of its first stale result file."""
        out: dict[str, str] = {}
        for r in self.results:
            why = self.stale.get(r.get("_path"), "")
            if why and r["row"]["id"] not in out:
                out[r["row"]["id"]] = why
        return out

    def verdict_stale(self, v: Verdict) -> bool:
        rows = self.stale_rows()
        return v.verdict != NOT_TESTABLE and any(r in rows for r in v.rows)


def paper_verdicts(paper: Paper, results: list[dict], benches: dict) -> list[Verdict]:
    out = []
    for claim in paper.claims:
        values = {row: [r["metrics"] for r in rs] for row, rs in runs_by_row(results, claim.scale).items()}
        reasons = {row.id: row.not_run_here or (f"not run yet: no result of row {row.id} at scale {claim.scale} (it "
                                                f"runs here: `python scripts/reproduce.py paper={paper.name} "
                                                f"scale={claim.scale} row={row.id}`)")
                   for row in paper.rows.values() if claim.scale in row.scales}
        out.append(evaluate(claim, values, benches, reasons))
    return out


def build_reports(results_dir: Path, bench_dir: Path, repo: Optional[Path]) -> list[PaperReport]:
    """Loaded results, claim verdicts and (when ``repo`` is given) staleness of every paper."""
    grouped, benches = load_grouped(results_dir), load_benches(bench_dir)
    names = list_papers()
    unknown = sorted(set(grouped) - set(names))
    if unknown:
        raise ValueError(f"result files of unregistered papers {unknown} under {results_dir}")
    reports = []
    for name in names:
        paper, results = get_paper(name), grouped.get(name, [])
        stale = {r["_path"]: stale_reason(r, names, repo) for r in results} if repo is not None else {}
        accepted = {r["_path"]: accepted_for(r, repo) for r in results if not stale[r["_path"]]} if repo else {}
        reports.append(PaperReport(paper, results, paper_verdicts(paper, results, benches), stale, accepted))
    return reports


# ------------------------------------------------------------------------------------ rendering
def _numbers(v: Verdict) -> str:
    if v.verdict == NOT_TESTABLE:
        return v.reason
    text = "; ".join(c.numbers for c in v.checks)
    if v.reason:
        text = f"{v.reason}. " + text
    return text


def _verdict_cell(rep: PaperReport, v: Verdict) -> str:
    return f"**{VERDICT_MARK[v.verdict]}**" + (" ⚠ stale" if rep.verdict_stale(v) else "")


def _claims_rows(rep: PaperReport, with_paper: bool) -> list[str]:
    out = []
    for v in rep.verdicts:
        c = v.claim
        lead = f"| [{rep.paper.name}](#{rep.paper.name}) " if with_paper else ""
        out.append(f"{lead}| `{c.id}`: {c.statement} ({c.source}) | {c.scale} | {_verdict_cell(rep, v)} | "
                   f"{_numbers(v)} |")
    return out


def _verdict_sentences(rep: PaperReport) -> list[str]:
    out = []
    for v in rep.verdicts:
        if v.verdict == NOT_REPRODUCED:
            out.append(f"- `{v.claim.id}` is **not reproduced**. {v.sentence}")
        elif v.verdict == INCONCLUSIVE:
            out.append(f"- `{v.claim.id}` is **inconclusive**: " + (f"{v.reason}." if v.reason else v.sentence))
    return out


def _row_metrics(paper: Paper, row_id: str) -> list[str]:
    """Metrics shown for a row: the ones the paper reports, then the ones its claims use."""
    names = list(paper.rows[row_id].reported) or ["test/acc"]
    for c in paper.claims:
        for o in c.operands():
            if getattr(o, "row", None) == row_id and o.metric not in names:
                names.append(o.metric)
    return names


def _renderer(paper: str) -> Optional[Callable[..., str]]:
    try:
        mod = importlib.import_module(f"papers.{paper}.report")
    except ModuleNotFoundError as e:
        if e.name in (f"papers.{paper}", f"papers.{paper}.report"):  # a paper without its own section
            return None
        raise
    return getattr(mod, "render", None)


def _prov_line(r: dict, stale: str) -> str:
    p = r.get("provenance", {})
    git, hw, ver = p.get("git", {}), p.get("hardware", {}), p.get("versions", {})
    commit = (git.get("commit") or "unknown")[:10]
    hard = f"{hw.get('cpu', '?')} ({hw.get('torch_threads', '?')} threads)" + (f", {hw['gpu']}" if hw.get("gpu") else "")
    compute = r.get("compute_time_s", r.get("wall_time_s")) or 0
    return (f"| `{r['row']['id']}` | {r['scale']} | {r['seed']} | {r.get('data_seed', '—')} | `{commit}` | "
            f"{'yes' if git.get('dirty') else 'no'} | {'⚠ stale' if stale else 'fresh'} | {hard} | "
            f"torch {ver.get('torch')}, lightning {ver.get('lightning')}, python {ver.get('python')} | {compute:.0f} s |")


def render_paper(rep: PaperReport, plot_dir: Path, rel: str, benches: dict) -> str:
    paper, results = rep.paper, rep.results
    out = [f'<a id="{paper.name}"></a>', "", f"## {paper.title} (`paper={paper.name}`)", "", f"*{paper.citation}*", ""]
    if rep.verdicts:
        out += ["### Claims", "", "| claim | scale | verdict | deciding numbers (mean ± std (n)) / reason |",
                "|---|---|---|---|"] + _claims_rows(rep, with_paper=False)
        sentences = _verdict_sentences(rep)
        if sentences:
            out += [""] + sentences
        out.append("")
    stale_rows = rep.stale_rows()
    runs = {}
    for r in results:
        runs.setdefault((r["row"]["id"], r["scale"]), []).append(r)
    out += ["### Reported vs reproduced", ""]
    if runs:
        out += ["| row | dataset | architecture | T | scale | metric | paper | reproduced (mean ± std (n)) | Δ mean |",
                "|---|---|---|---|---|---|---|---|---|"]
        for row in paper.rows.values():
            for scale in sorted({s for (rid, s) in runs if rid == row.id}):
                rs = runs[(row.id, scale)]
                mark = " ⚠ stale" if row.id in stale_rows else ""
                for name in _row_metrics(paper, row.id):
                    vals = [r["metrics"].get(name) for r in rs]
                    got = [float(v) for v in vals if v is not None]
                    rep_v = row.reported.get(name)
                    delta = "—"
                    if rep_v is not None and got:
                        d = seed_stats(got).mean - rep_v
                        delta = f"{100 * d:+.2f} pt" if is_pct(name) else f"{d:+.3g}"
                    out.append(f"| `{row.id}`{mark} | {row.dataset} | {row.architecture} | {row.time_steps or '—'} | "
                               f"{scale} | {name} | {fmt_metric(name, rep_v)} | {fmt_seeds(name, vals)} | {delta} |")
        if stale_rows:
            out += ["", "Stale rows (rerun them at HEAD):", ""]
            out += [f"- `{rid}`: {why}" for rid, why in sorted(stale_rows.items())]
    else:
        out += ["No row of this paper has a committed result yet."]
    measured = {rid for (rid, _) in runs}
    not_run = [r for r in paper.rows.values() if r.id not in measured and "full" in r.scales]
    if not_run:
        out += ["", "### Rows not run here", "", "| row | dataset | architecture | T | paper | why not run here |",
                "|---|---|---|---|---|---|"]
        for r in not_run:
            reported = ", ".join(f"{k} {fmt_metric(k, v)}" for k, v in r.reported.items()) or "—"
            out.append(f"| `{r.id}` | {r.dataset} | {r.architecture} | {r.time_steps or '—'} | {reported} | "
                       f"{r.not_run_here or 'no result committed yet'} |")
        sources = sorted({r.source for r in paper.rows.values() if r.source})
        if sources:
            out += ["", "Sources of the reported numbers: " + "; ".join(sources) + "."]
    render = _renderer(paper.name)
    if render is not None and (results or benches):
        section = render(results, plot_dir, rel, benches)
        if section:
            out += ["", "### Details", "", section.strip()]
    if plot_spike_rates(results, plot_dir / f"{paper.name}_layer_spike_rates.png", f"{paper.name}: per-layer spike rates"):
        out += ["", "### Per-layer spike rates", "", f"![per-layer spike rates]({rel}/{paper.name}_layer_spike_rates.png)"]
    if paper.notes:
        out += ["", "### Choices where the paper is silent", "", paper.notes.strip()]
    if results:
        out += ["", "### Provenance", "",
                "| row | scale | seed | data seed | commit | dirty | fresh at HEAD | hardware | versions | compute time |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        out += [_prov_line(r, rep.stale.get(r.get("_path"), "")) for r in results]
    return "\n".join(out) + "\n"


def render_results(reports: list[PaperReport], plot_dir: Path, rel: str, benches: dict,
                   extra_sections: list[str] = ()) -> str:
    out = ["# Results", "",
           "<!-- Generated by `python scripts/make_results.py` from the result files under `results/`; "
           "do not edit by hand. -->", "",
           "Every number below comes from a committed machine-readable result file "
           "(`results/<paper>/<row>/seed<seed>.json`, written by `scripts/reproduce.py`), with its provenance, "
           "or from a benchmark file under `results/bench/`. "
           "`mini` = a reduced-scale run on real data that fits the CI machine (2 CPU cores); "
           "`full` = the paper's settings.", "",
           "## Claims", "", VERDICT_RULE, "",
           "| paper | claim | scale | verdict | deciding numbers (mean ± std (n)) / reason |", "|---|---|---|---|---|"]
    for rep in reports:
        out += _claims_rows(rep, with_paper=True)
    out += ["", "| paper | rows | result files here | scales run |", "|---|---|---|---|"]
    for rep in reports:
        rs = rep.results
        out.append(f"| [{rep.paper.name}](#{rep.paper.name}) | {len(rep.paper.rows)} | {len(rs)} | "
                   f"{', '.join(sorted({r['scale'] for r in rs})) or '—'} |")
    out.append("")
    out += _accepted_section(reports)
    for rep in reports:
        out.append(render_paper(rep, plot_dir, rel, benches))
    out += [s.strip() + "\n" for s in extra_sections if s]
    return "\n".join(out)


def _accepted_section(reports: list[PaperReport]) -> list[str]:
    """The source changes accepted without a rerun (``results/accepted_changes.yaml``), each with its reason
    and the result files it keeps fresh."""
    kept: dict[tuple, tuple[dict, list[str]]] = {}
    for rep in reports:
        for r in rep.results:
            for e in rep.accepted.get(r.get("_path"), []):
                key = (e["path"], e["old"], e["new"])
                kept.setdefault(key, (e, []))[1].append(f"{rep.paper.name}/{r['row']['id']}")
    if not kept:
        return []
    out = ["## Source changes accepted without a rerun", "",
           f"A change shown not to alter some results keeps them fresh (`{ACCEPTED_CHANGES}`); the results it does "
           "not cover were rerun or are marked stale.", "",
           "| file | commit | not for | result files kept fresh | why they cannot differ |", "|---|---|---|---|---|"]
    for (path, _, _), (e, rows) in kept.items():
        not_for = ", ".join(f"{k}={v}" for k, v in e["not_for"].items()) or "—"
        papers = sorted({r.split("/")[0] for r in rows})
        reason = " ".join(str(e["reason"]).split())
        out.append(f"| `{path}` | `{str(e['commit'])[:10]}` | {not_for} | {len(rows)} ({', '.join(papers)}) | "
                   f"{reason} |")
    return out + [""]


def render_bench(renderer_path: str, data: Optional[dict], *args) -> str:
    """A benchmark section: ``""`` when the file is absent; a renderer that fails raises."""
    if data is None:
        return ""
    mod, _, fn = renderer_path.rpartition(".")
    return getattr(importlib.import_module(mod), fn)(data, *args)
