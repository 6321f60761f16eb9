#!/usr/bin/env bash
# Nightly reproduction: all mini rows of every registered paper + the slow tests + benchmarks.
# Fails (non-zero) when any metric leaves its tolerance band (configs: scales.mini.tolerance).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${NIGHTLY_DIR:-nightly}
mkdir -p "$out"
status=0
for paper in $(python -c "from common.registry import list_papers; print(' '.join(list_papers()))"); do
  echo "=== $paper (scale=mini)"
  python scripts/reproduce.py paper="$paper" scale=mini fail_on_tolerance=true \
      paths.results_dir="$out/results" paths.runs_dir="$out/runs" || status=1
done
pytest -m slow || status=1
python scripts/bench_neurons.py --out "$out/bench_neurons.json" || status=1
python scripts/make_results.py --results "$out/results" --out "$out/RESULTS.md" || status=1
exit $status
