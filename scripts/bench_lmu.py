#!/usr/bin/env python
"""LMU training speed: forward + backward of one LMU layer (+ a Linear(hidden, 10) readout at the last step,
cross-entropy), at theta = 784 and batch 100, in one run:

- ``step``:              the 2019 LMU cell, step loop (hidden and memory encoders: the memory recurs).
- ``step_nofb``:         the same cell without memory feedback, still a step loop (the baseline of the next two).
- ``parmem_fft``:        memory by FFT convolution, hidden recurrence sequential (``LMU(mode="parallel")``).
- ``parmem_chunked``:    the same with the chunked convolution (``--chunk`` steps per chunk).
- ``parallel_fft``:      the fully parallel LMU (Chilkuri & Eliasmith 2021): no hidden recurrence, FFT memory.
- ``parallel_chunked``:  the same, chunked memory.
- ``parallel_last``:     the fully parallel LMU computing only the last memory state (one matrix product; the
                         psMNIST fast path; non-spiking only: the quantizer needs every step).

Each runs without and with the dt-quantizer on the hidden nonlinearity (``spiking``: a stepped quantizer in the
recurrent forms, the prefix-sum quantizer in the fully parallel ones). All forms use the same sizes (``--hidden``,
``--order``; default the 2019 cell: 212, 256), so the times compare the computation, not the models. Medians of
``--reps`` after one warm-up; ratio = ``step`` time / the form's time (same spiking setting).

``--sweep`` adds time vs sequence length (``--sweep-steps``, default 100 ... 10,000; theta stays 784) for
``step``, ``parmem_fft``, ``parallel_fft`` and ``parallel_last`` (non-spiking), fewer repetitions at long lengths.

The default run (3 reps, 7 forms x 2) takes several minutes on a 2-core CPU, mostly the step loops (seconds
per step at batch 100); ``--sweep`` adds more (the step loop at T = 10,000 is ~13x the T = 784 step, and the FFT
forms hold ``batch x order x T`` complex values: lower ``--sweep-batch`` if memory is short).

Writes ``results/bench/lmu_speed.json`` (``--out`` elsewhere). ``--quick`` is a seconds-long smoke run on tiny
sizes that writes nothing unless ``--out`` is given (never the default results file).
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

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from common.timing import median_ms  # noqa: E402

from papers.lmu_quantized.lmu import LMU, ParallelLMU  # noqa: E402

DEFAULT_OUT = ROOT / "results" / "bench" / "lmu_speed.json"
IMPLS = ("step", "step_nofb", "parmem_fft", "parmem_chunked", "parallel_fft", "parallel_chunked", "parallel_last")
SWEEP_IMPLS = ("step", "parmem_fft", "parallel_fft", "parallel_last")

FIELDS = {
    "config": "theta, batch, hidden, order, chunk, dt (quantizer), threads, reps",
    "cases[]": "impl (see the script's docstring), spiking (dt-quantizer on h), T, batch, ms (median wall milliseconds of "
               "one forward + backward of one batch), ratio_vs_step (step ms / this ms, same spiking)",
    "sweep[]": "impl, T, batch, reps, ms: time vs sequence length (non-spiking)",
}


def build(impl: str, spiking: bool, a) -> nn.Module:
    kw = dict(spiking=spiking, dt=a.dt)
    if impl == "step":
        return LMU(1, a.hidden, a.order, a.theta, memory_feedback=True, mode="step", **kw)
    if impl == "step_nofb":
        return LMU(1, a.hidden, a.order, a.theta, memory_feedback=False, mode="step", **kw)
    if impl.startswith("parmem_"):
        return LMU(1, a.hidden, a.order, a.theta, memory_feedback=False, mode="parallel",
                   memory_mode=impl.split("_")[1], chunk=a.chunk, **kw)
    mm = "fft" if impl == "parallel_last" else impl.split("_")[1]
    return ParallelLMU(1, a.hidden, a.order, a.theta, memory_mode=mm, chunk=a.chunk, activation="tanh", **kw)


def make_step(impl: str, spiking: bool, T: int, B: int, a):
    torch.manual_seed(0)
    dev = torch.device(a.device)
    layer = build(impl, spiking, a).to(dev)
    readout = nn.Linear(a.hidden, 10).to(dev)
    params = [p for p in list(layer.parameters()) + list(readout.parameters()) if p.requires_grad]
    x = torch.rand(T, B, 1, device=dev)
    y = torch.randint(0, 10, (B,), device=dev)

    def step():
        for p in params:
            p.grad = None
        if isinstance(layer, LMU):
            h_last = layer(x)[0][-1]
        elif impl == "parallel_last":
            h_last = layer(x, last_only=True)
        else:  # every step's memory and hidden state, as a sequence-to-sequence layer would
            h_last = layer(x)[-1]
        F.cross_entropy(readout(h_last), y).backward()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
    return step


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--theta", type=float, default=784.0)
    ap.add_argument("--T", type=int, default=784, help="sequence length of the main comparison (psMNIST: 784)")
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--hidden", type=int, default=212)
    ap.add_argument("--order", type=int, default=256)
    ap.add_argument("--chunk", type=int, default=64)
    ap.add_argument("--dt", type=float, default=0.05, help="quantizer dt (a spiking regime: a few spikes/step)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (timed with a synchronize after each step)")
    ap.add_argument("--impls", nargs="+", default=list(IMPLS), choices=IMPLS)
    ap.add_argument("--sweep", action="store_true", help="also time vs sequence length")
    ap.add_argument("--sweep-steps", type=int, nargs="+", default=[100, 300, 1000, 3000, 10000])
    ap.add_argument("--sweep-batch", type=int, default=100)
    ap.add_argument("--quick", action="store_true", help="tiny sizes, 1 rep; writes only with --out")
    ap.add_argument("--out", default=None, help="JSON path (default results/bench/lmu_speed.json; none with --quick)")
    a = ap.parse_args(argv)
    if a.quick:
        a.T, a.batch, a.hidden, a.order, a.chunk, a.reps = 50, 8, 16, 16, 16, 1
        a.sweep_steps, a.sweep_batch = [20, 60], 4
    out_path = Path(a.out) if a.out else (None if a.quick else DEFAULT_OUT)
    torch.set_num_threads(a.threads)
    t_start = time.perf_counter()

    cases = []
    print(f"LMU layer forward+backward: T={a.T} theta={a.theta:g} batch={a.batch} hidden={a.hidden} order={a.order} "
          f"chunk={a.chunk} threads={a.threads} reps={a.reps} (median ms; ratio = step / this)", flush=True)
    print(f"{'impl':18s} | {'non-spiking ms':>14s} {'ratio':>7s} | {'spiking ms':>11s} {'ratio':>7s}", flush=True)
    base = {}
    for impl in a.impls:
        row_txt = f"{impl:18s} |"
        for spiking in (False, True):
            if impl == "parallel_last" and spiking:
                row_txt += f" {'–':>11s} {'':>7s}"
                continue
            ms = median_ms(make_step(impl, spiking, a.T, a.batch, a), a.reps)
            if impl == "step":
                base[spiking] = ms
            ratio = base[spiking] / ms if spiking in base else None
            cases.append({"impl": impl, "spiking": spiking, "T": a.T, "batch": a.batch, "ms": round(ms, 2),
                          "ratio_vs_step": None if ratio is None else round(ratio, 2)})
            row_txt += (f" {ms:14.1f} {('x%.1f' % ratio) if ratio else '–':>7s}" if not spiking else
                        f" | {ms:11.1f} {('x%.1f' % ratio) if ratio else '–':>7s}")
        print(row_txt, flush=True)

    sweep = []
    if a.sweep:
        print(f"sweep (non-spiking, batch {a.sweep_batch}): ms per forward+backward", flush=True)
        for T in a.sweep_steps:
            reps = 1 if a.quick else (5 if T <= 300 else 3 if T <= 1000 else 1)
            line = f"T={T:6d} |"
            for impl in SWEEP_IMPLS:
                ms = median_ms(make_step(impl, False, T, a.sweep_batch, a), reps)
                sweep.append({"impl": impl, "T": T, "batch": a.sweep_batch, "reps": reps, "ms": round(ms, 2)})
                line += f" {impl} {ms:10.1f}"
            print(line, flush=True)

    out = {
        "meta": {"date": datetime.datetime.now().isoformat(timespec="seconds"), "torch": torch.__version__,
                 "machine": platform.processor() or platform.machine(), "load_average": list(os.getloadavg()),
                 "quick": bool(a.quick), "total_seconds": round(time.perf_counter() - t_start, 1),
                 "notes": "forward + backward of one LMU layer and a Linear(hidden, 10) readout at the last step "
                          "(cross-entropy), float32; median of reps after one warm-up (the warm-up also builds the "
                          "cached LDN impulse response / powers of Abar, fixed for a given length: built once per "
                          "training run). Absolute times depend on the machine's load (load_average).",
                 "fields": FIELDS},
        "config": {"theta": a.theta, "T": a.T, "batch": a.batch, "hidden": a.hidden, "order": a.order,
                   "chunk": a.chunk, "dt": a.dt, "threads": a.threads, "reps": a.reps, "device": a.device},
        "cases": cases,
        "sweep": sweep,
    }
    if out_path is not None:
        if not a.quick:
            from common.harness.provenance import git_state

            out["meta"]["code"] = git_state()
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(out, indent=1) + "\n")
        print(f"wrote {out_path} in {out['meta']['total_seconds']} s")
    else:
        print(f"quick run: nothing written (pass --out to keep it); {out['meta']['total_seconds']} s")
    return out


if __name__ == "__main__":
    main()
