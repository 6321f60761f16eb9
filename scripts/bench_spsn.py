#!/usr/bin/env python
"""SPSN vs LIF speed benchmark: forward + backward wall time at T = 100, 1,000 and 10,000 in one run.

Cases (float32, CPU, ``--threads`` threads, default 2):
- ``layer``:   one ``nn.Linear(700, 128)`` + neuron, input random spikes (5 % density), loss = sum of spikes.
- ``network``: the paper's 700-128-128-128-20 network (``papers.spsn.model.SPSNNet``), cross-entropy loss.
- ``neuron``:  the neuron alone at two CPU reference shapes (T=1000, B=16, N=256) and
  (T=10000, B=4, N=128): SPSN = exact parallel filter + Bernoulli spikes; LIF = plain loop.
Neurons: ``spsn_sb``, ``spsn_gs`` (parallel filter, method "auto"), ``lif_paper`` (the paper's plain per-step
PyTorch loop) and ``lif_fast`` (parallel synaptic filter + the suite's LIF with ``backend="auto"``, i.e. the
fused kernel when ``common.kernels`` provides one; its resolved name is recorded).
Batch 64 at T = 100 and 1,000; at T = 10,000 the batch is reduced (``--batch-10k``, default 4) and the
repetitions too (see the JSON's ``cases[].batch`` / ``reps``). Medians are reported; ratio = LIF / SPSN time.
Writes ``results/bench/spsn_speed.json`` (its ``meta.fields`` explains every field; rendered by
``papers/spsn/report.py``, and SPSN's speed claims are checked against it by ``scripts/make_results.py``). The
paper's own figures are not in this script: the printed comparison takes them from the registry rows
(``papers/spsn/rows.py``).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.harness.provenance import git_state  # noqa: E402
from common.registry import get_paper  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from common.neurons.backends import resolve_backend  # noqa: E402
from common.neurons.parallel import AUTO_TABLE, decay, resolve_method, two_exp_filter  # noqa: E402
from common.timing import median_ms  # noqa: E402
from papers.spsn.model import SPSNNet  # noqa: E402
from papers.spsn.neurons import PaperLIF, SPSNNeuron, lif_paper_loop, sigmoid_bernoulli_spike  # noqa: E402

NEURONS = ("spsn_sb", "spsn_gs", "lif_paper", "lif_fast")


def _auto_filter_name(T: int) -> str:
    """What ``method="auto"`` runs at ``T`` on the CPU: the fused kernel, or the parallel method/chunk."""
    from common.neurons.parallel import _fused_filter

    return "fused" if _fused_filter(torch.device("cpu")) is not None else "%s/%d" % resolve_method("auto", T)



def _act(name: str) -> nn.Module:
    if name == "spsn_sb":
        return SPSNNeuron("sb")
    if name == "spsn_gs":
        return SPSNNeuron("gs")
    return PaperLIF(backend="paper" if name == "lif_paper" else "auto")


def bench_layer(name: str, T: int, B: int, reps: int) -> float:
    torch.manual_seed(0)
    lin, act = nn.Linear(700, 128), _act(name)
    x = (torch.rand(T, B, 700) < 0.05).float()

    def step():
        lin.zero_grad(set_to_none=True)
        act(lin(x) * 5.0).sum().backward()  # x5: the LIF fires (default init gives tiny currents)
    return median_ms(step, reps)


def bench_network(name: str, T: int, B: int, reps: int) -> float:
    torch.manual_seed(0)
    neuron = {"spsn_sb": "sb", "spsn_gs": "gs"}.get(name, "lif")
    net = SPSNNet(700, 20, neuron=neuron, lif_backend="paper" if name == "lif_paper" else "auto")
    x = (torch.rand(B, T, 700) < 0.05).float()
    y = torch.randint(0, 20, (B,))

    def step():
        net.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), y).backward()
    return median_ms(step, reps)


def bench_neuron(name: str, T: int, B: int, N: int, reps: int) -> float:
    torch.manual_seed(0)
    x = (torch.randn(T, B, N) * 2).requires_grad_(True)
    a = decay(20.0)
    if name == "spsn":
        fn = lambda: sigmoid_bernoulli_spike(two_exp_filter(x, a, a)).sum().backward()  # noqa: E731
    else:
        fn = lambda: lif_paper_loop(x, a, a).sum().backward()  # noqa: E731
    return median_ms(fn, reps)


FIELDS = {
    "cases[]": "case (layer | network), T (time steps), batch, reps, filter (what the SPSN filter ran as)",
    "cases[].<neuron>_ms": "median wall milliseconds of one training step (forward + backward of one batch) "
                           "with that neuron: spsn_sb, spsn_gs, lif_paper (the paper's per-step loop), lif_fast "
                           "(parallel synapse + the suite's fused LIF)",
    "cases[].ratio_<lif>_<spsn>": "<lif>_ms / <spsn>_ms: how many times faster SPSN trains than that LIF",
    "neuron_reference_points[]": "the neuron alone at (T, batch, N): spsn_ms, lif_paper_ms (median ms of a "
                                 "forward + backward), ratio = lif_paper_ms / spsn_ms",
}


def paper_epoch_ratios() -> dict:
    """The paper's LIF epoch time / each row's epoch time on SHD, as registered with its rows (``lif_epoch_ratio``)."""
    rows = get_paper("spsn").rows.values()
    return {r.id: r.reported["lif_epoch_ratio"] for r in rows if r.reported.get("lif_epoch_ratio") is not None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, nargs="+", default=[100, 1000, 10000])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--batch-10k", type=int, default=4)
    ap.add_argument("--out", default=str(ROOT / "results" / "bench" / "spsn_speed.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    lif_fast_backend = getattr(resolve_backend("auto", torch.device("cpu")), "__name__", "?")
    t_start = time.perf_counter()
    cases = []
    for T in args.steps:
        B = args.batch if T < 10000 else args.batch_10k
        reps = 5 if T <= 100 else (3 if T <= 1000 else 2)
        for case, fn in (("layer", bench_layer), ("network", bench_network)):
            row = {"case": case, "T": T, "batch": B, "reps": reps, "filter": _auto_filter_name(T)}
            for name in NEURONS:
                row[f"{name}_ms"] = round(fn(name, T, B, reps), 2)
            for lif in ("lif_paper", "lif_fast"):
                for s in ("spsn_sb", "spsn_gs"):
                    row[f"ratio_{lif}_{s}"] = round(row[f"{lif}_ms"] / row[f"{s}_ms"], 2)
            cases.append(row)
            print(f"{case:8s} T={T:6d} B={B:3d} | SPSN-SB {row['spsn_sb_ms']:9.1f} ms  SPSN-GS {row['spsn_gs_ms']:9.1f} ms"
                  f" | LIF loop {row['lif_paper_ms']:9.1f} ms  LIF fast {row['lif_fast_ms']:9.1f} ms"
                  f" | LIF/SPSN-SB x{row['ratio_lif_paper_spsn_sb']:.1f} (loop) x{row['ratio_lif_fast_spsn_sb']:.1f} (fast)",
                  flush=True)
    refs = []
    for T, B, N in ((1000, 16, 256), (10000, 4, 128)):
        reps = 3
        r = {"case": "neuron", "T": T, "batch": B, "N": N, "reps": reps,
             "spsn_ms": round(bench_neuron("spsn", T, B, N, reps), 2),
             "lif_paper_ms": round(bench_neuron("lif", T, B, N, reps), 2)}
        r["ratio"] = round(r["lif_paper_ms"] / r["spsn_ms"], 2)
        refs.append(r)
        print(f"neuron   T={T:6d} B={B:3d} N={N} | SPSN (filter+SB) {r['spsn_ms']:.1f} ms"
              f" | LIF loop {r['lif_paper_ms']:.1f} ms | x{r['ratio']:.1f}", flush=True)
    paper = paper_epoch_ratios()
    if paper:
        print("paper (SHD, official code, GPU): LIF epoch time / the row's epoch time: "
              + ", ".join(f"{k} x{v}" for k, v in paper.items()), flush=True)
    out = {
        "meta": {"date": datetime.datetime.now().isoformat(timespec="seconds"), "torch": torch.__version__,
                 "code": git_state(),
                 "threads": args.threads, "machine": platform.processor() or platform.machine(),
                 "lif_fast_backend": lif_fast_backend, "auto_table": [list(r) for r in AUTO_TABLE],
                 "total_seconds": round(time.perf_counter() - t_start, 1),
                 "notes": (f"forward+backward, float32, median of reps after 1 warm-up; batch {args.batch} "
                           f"(T<10000) and {args.batch_10k} at T=10000 with 2 reps to keep the run under ~8 min; "
                           "ratio = LIF time / SPSN time. Absolute times depend on the machine's load (load_average)."),
                 "load_average": list(os.getloadavg()),
                 "fields": FIELDS},
        "cases": cases,
        "neuron_reference_points": refs,
    }
    p = Path(args.out)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {p} in {out['meta']['total_seconds']} s")


if __name__ == "__main__":
    main()
