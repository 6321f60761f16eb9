#!/usr/bin/env bash
# Nightly reproduction: every paper's mini rows (all seeds of `seeds`) into a separate results
# folder, the slow tests and the neuron benchmark, then a comparison with the committed results:
# fails (non-zero) when a claim's verdict changes or a metric leaves its regression band
# (bands are set from the committed runs' seed spread: common/reporting/bands.py).
#
# Environment (all optional):
#   NIGHTLY_DIR          output folder (default: nightly): results/, runs/, RESULTS.md, bench_neurons.json
#   NIGHTLY_PAPERS       space-separated papers to run and compare (default: every registered paper)
#   NIGHTLY_REFERENCE    the committed results to compare with (default: results)
#   NIGHTLY_SKIP_RUNS=1  do not run the rows: compare what is already in $NIGHTLY_DIR/results
#   NIGHTLY_SKIP_BENCH=1 do not run scripts/bench_neurons.py
#   NIGHTLY_SLOW_TESTS   what `pytest -m slow` collects (default: tests); no slow test selected
#                        (pytest exit status 5) counts as success
set -uo pipefail
cd "$(dirname "$0")/.."
out=${NIGHTLY_DIR:-nightly}
ref=${NIGHTLY_REFERENCE:-results}
papers=${NIGHTLY_PAPERS:-$(python -c "from common.registry import list_papers; print(' '.join(list_papers()))")}
mkdir -p "$out/results" && out=$(cd "$out" && pwd)
status=0

if [ "${NIGHTLY_SKIP_RUNS:-0}" != 1 ]; then
  for paper in $papers; do
    echo "=== $paper (scale=mini, every seed)"
    python scripts/reproduce.py paper="$paper" scale=mini \
        paths.results_dir="$out/results" paths.runs_dir="$out/runs" trainer.enable_progress_bar=false \
        '+callbacks.progress={_target_: common.lightning.progress.ProgressLog}' || status=1
  done
fi

echo "=== slow tests"
pytest -m slow ${NIGHTLY_SLOW_TESTS:-tests}
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "no slow tests selected (pytest exit status 5): nothing to run"
elif [ "$rc" -ne 0 ]; then
  status=1
fi

if [ "${NIGHTLY_SKIP_BENCH:-0}" != 1 ]; then
  python scripts/bench_neurons.py --out "$out/bench_neurons.json" || status=1
fi

echo "=== compare with $ref"
python scripts/make_results.py --results "$out/results" --out "$out/RESULTS.md" --compare "$ref" \
    --papers $papers || status=1
echo "nightly: exit status $status"
exit $status
