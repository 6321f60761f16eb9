#!/usr/bin/env python
"""Regenerate RESULTS.md (and plots under results/plots/) from the committed result files alone.

    python scripts/make_results.py            # write RESULTS.md
    python scripts/make_results.py --check    # exit 1 if RESULTS.md is not what the files give
    python scripts/make_results.py --results nightly/results --out nightly/RESULTS.md --compare results
        # also exit 1 when a claim's verdict differs from the committed results' or a metric leaves
        # its regression band (set from the committed runs' seed spread)

A result file of an unknown schema, or a renderer that fails, is an error (exit status non-zero).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.reporting.bands import compare_metrics, compare_verdicts  # noqa: E402
from common.reporting.render import build_reports, load_benches, render_bench, render_results  # noqa: E402

# benchmark files rendered into their own sections: (file under the bench dir, renderer)
BENCHMARKS = [
    ("neurons_cpu.json", "common.reporting.bench.render"),
    ("neurons_cpu_repeat.json", "common.reporting.bench.render"),
    ("neurons_cuda.json", "common.reporting.bench.render"),
    ("neurons_cuda_h2h.json", "common.reporting.bench.render"),
    ("tune_triton_lif_NVIDIA_H100_80GB_HBM3.json", "common.reporting.bench.render_tuning"),
]


def build(results_dir: Path, bench_dir: Path, plot_dir: Path, rel: str, repo: Path = ROOT) -> str:
    reports = build_reports(results_dir, bench_dir, repo)
    benches = load_benches(bench_dir)
    extra = [render_bench(renderer, benches.get(Path(name).stem), plot_dir, rel) for name, renderer in BENCHMARKS]
    return render_results(reports, plot_dir, rel, benches, extra)


def compare(results_dir: Path, reference_dir: Path, bench_dir: Path, papers: Optional[list[str]] = None) -> list[str]:
    """Problems of ``results_dir`` against ``reference_dir`` (only ``papers`` when given): changed
    verdicts, metrics out of their regression band, rows of the reference missing."""
    if papers:
        from common.registry import list_papers

        unknown = sorted(set(papers) - set(list_papers()))
        if unknown:
            raise SystemExit(f"unknown papers {unknown}; registered: {', '.join(list_papers())}")
    cur, ref = ([r for r in build_reports(d, bench_dir, None) if papers is None or r.paper.name in papers]
                for d in (results_dir, reference_dir))

    def verdicts(reports):
        return {f"{r.paper.name}/{v.claim.id}": v.verdict for r in reports for v in r.verdicts}

    def runs(reports):
        out: dict[tuple, list] = {}
        for rep in reports:
            for r in rep.results:
                out.setdefault((r["paper"], r["row"]["id"], r["scale"]), []).append(r["metrics"])
        return out

    return compare_verdicts(verdicts(cur), verdicts(ref)) + compare_metrics(runs(cur), runs(ref))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", type=Path, default=ROOT / "results")
    ap.add_argument("--bench", type=Path, default=ROOT / "results" / "bench",
                    help="benchmark files (default: the committed ones, also for --results elsewhere)")
    ap.add_argument("--out", type=Path, default=ROOT / "RESULTS.md")
    ap.add_argument("--check", action="store_true", help="do not write; fail if the file would change")
    ap.add_argument("--compare", type=Path, metavar="REFERENCE_RESULTS",
                    help="fail when a verdict differs from REFERENCE_RESULTS' or a metric leaves its regression band")
    ap.add_argument("--papers", nargs="+", help="with --compare: compare only these papers (default: all)")
    args = ap.parse_args(argv)
    if args.papers and not args.compare:
        ap.error("--papers only applies to --compare")
    results = args.results.resolve()
    plot_dir = results / "plots"
    rel = "results/plots" if results == ROOT / "results" else str(plot_dir)
    text = build(results, args.bench, plot_dir, rel)
    status = 0
    if args.check:
        current = args.out.read_text() if args.out.is_file() else ""
        if current != text:
            print(f"{args.out} is out of date: run python scripts/make_results.py", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date")
    else:
        args.out.write_text(text)
        print(f"wrote {args.out} ({len(text.splitlines())} lines) and plots under {plot_dir}")
    if args.compare:
        problems = compare(results, args.compare, args.bench, args.papers)
        for p in problems:
            print(f"REGRESSION: {p}", file=sys.stderr)
        print(f"compared {results} with {args.compare}: {len(problems)} problem(s)")
        status = 1 if problems else 0
    return status


if __name__ == "__main__":
    raise SystemExit(main())
