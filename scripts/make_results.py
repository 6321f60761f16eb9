#!/usr/bin/env python
"""Regenerate RESULTS.md (and plots under results/plots/) from the committed result files alone.

    python scripts/make_results.py            # write RESULTS.md
    python scripts/make_results.py --check    # exit 1 if RESULTS.md is not what the files give
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.reporting.render import load_json, render_optional, render_results  # noqa: E402

# benchmark files rendered into their own sections: (json path, renderer)
BENCHMARKS = [
    ("results/bench/neurons_cpu.json", "common.kernels.report.render"),
    ("results/bench/neurons_cpu_repeat.json", "common.kernels.report.render"),
    ("results/bench/neurons_cuda.json", "common.kernels.report.render"),
    ("results/bench/neurons_cuda_h2h.json", "common.kernels.report.render"),
    ("results/bench/tune_triton_lif_NVIDIA_H100_80GB_HBM3.json", "common.kernels.report.render_tuning"),
]


def build(results_dir: Path, plot_dir: Path, rel: str) -> str:
    extra = []
    for path, renderer in BENCHMARKS:
        extra.append(render_optional(renderer, load_json(ROOT / path), plot_dir, rel))
    return render_results(results_dir, plot_dir, rel, extra)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", type=Path, default=ROOT / "results")
    ap.add_argument("--out", type=Path, default=ROOT / "RESULTS.md")
    ap.add_argument("--check", action="store_true", help="do not write; fail if the file would change")
    args = ap.parse_args()
    plot_dir = args.results / "plots"
    rel = Path("results/plots").as_posix() if args.results == ROOT / "results" else str(plot_dir)
    text = build(args.results, plot_dir, rel)
    if args.check:
        current = args.out.read_text() if args.out.is_file() else ""
        if current != text:
            print(f"{args.out} is out of date: run python scripts/make_results.py", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date")
        return 0
    args.out.write_text(text)
    print(f"wrote {args.out} ({len(text.splitlines())} lines) and plots under {plot_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
