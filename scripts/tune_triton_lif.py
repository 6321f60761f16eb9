#!/usr/bin/env python
"""Sweep the launch configurations of the Triton LIF kernels on this GPU (forward and backward apart).

For each shape and each ``KernelConfig(block, warps, prefetch)`` it times the raw forward kernel
(reads x, writes spikes and h: 12 bytes per neuron-step) and backward kernel (reads h and the spike
gradient, writes grad_x: 12 bytes) with ``triton.testing.do_bench`` and prints the achieved bandwidth
beside the device's measured copy bandwidth. ``common.kernels.triton_config.launch_config``
encodes the winners; rerun this on a new GPU generation and compare.

    python scripts/tune_triton_lif.py                 # -> results/bench/tune_triton_lif_<gpu>.json
"""
from __future__ import annotations

import argparse
import itertools
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

SHAPES = [(100, 64, 1024), (1000, 16, 256), (10000, 4, 128), (16, 256, 4096), (128, 256, 4096)]


def copy_bandwidth(nbytes: int = 1 << 30) -> float:
    from triton.testing import do_bench

    src = torch.ones(nbytes // 4, device="cuda")
    dst = torch.empty_like(src)
    ms = do_bench(lambda: dst.copy_(src), warmup=25, rep=200, return_mode="min")
    return 2 * nbytes / (ms * 1e-3)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shapes", default=";".join(",".join(map(str, s)) for s in SHAPES))
    ap.add_argument("--out", default="")
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        ap.error("needs a CUDA GPU")
    from triton.testing import do_bench

    from common.kernels import triton_lif as tk

    bw = copy_bandwidth()
    gpu = torch.cuda.get_device_name()
    print(f"{gpu}: copy bandwidth {bw / 1e9:.0f} GB/s (read + write)")
    configs = [tk.KernelConfig(b, w, p) for b, w, p in itertools.product((32, 64, 128, 256), (1, 2, 4),
                                                                         (False, True)) if 32 * w <= b]
    rows = []
    for shape in [tuple(int(v) for v in s.split(",")) for s in args.shapes.split(";") if s]:
        T = shape[0]
        N = shape[1] * shape[2]
        x = torch.randn(T, N, device="cuda") * 0.6 + 0.25
        g = torch.randn(T, N, device="cuda")
        leak = torch.tensor([0.9], device="cuda")
        thr = torch.tensor([1.0], device="cuda")
        gx = torch.empty_like(x)
        nbytes = 12 * T * N
        default = tk.config(T, N)
        best = {}
        for cfg in configs:
            _, h, _ = tk.lif_fwd(x, None, leak, thr, 1, True, True, cfg=cfg)
            fwd = do_bench(lambda: tk.lif_fwd(x, None, leak, thr, 1, True, True, cfg=cfg), warmup=10, rep=100)
            bwd = do_bench(lambda: tk.lif_bwd(g, None, None, h, None, leak, thr, 1, 3, 2.0, True, False, gx, False,
                                              False, cfg=cfg), warmup=10, rep=100)
            r = {"shape": list(shape), "block": cfg.block, "warps": cfg.warps, "prefetch": cfg.prefetch,
                 "fwd_ms": fwd, "bwd_ms": bwd, "fwd_GBps": nbytes / fwd / 1e6, "bwd_GBps": nbytes / bwd / 1e6,
                 "fwd_frac_copy_bw": nbytes / (fwd * 1e-3) / bw, "bwd_frac_copy_bw": nbytes / (bwd * 1e-3) / bw,
                 "is_default": cfg == default}
            rows.append(r)
            for k in ("fwd", "bwd"):
                if k not in best or r[f"{k}_ms"] < best[k][f"{k}_ms"]:
                    best[k] = r
            mark = " <- default" if cfg == default else ""
            print(f"{str(shape):>17} block {cfg.block:4d} warps {cfg.warps} prefetch {cfg.prefetch:d}: "
                  f"fwd {fwd * 1e3:9.1f} us ({r['fwd_frac_copy_bw']:5.0%})  "
                  f"bwd {bwd * 1e3:9.1f} us ({r['bwd_frac_copy_bw']:5.0%}){mark}", flush=True)
        for k in ("fwd", "bwd"):
            b = best[k]
            print(f"  best {k}: block {b['block']} warps {b['warps']} prefetch {b['prefetch']:d} "
                  f"{b[f'{k}_ms'] * 1e3:.1f} us ({b[f'{k}_frac_copy_bw']:.0%} of copy bandwidth)")
    out = pathlib.Path(args.out or ROOT / "results" / "bench" / f"tune_triton_lif_{gpu.replace(' ', '_')}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"gpu": gpu, "torch": torch.__version__, "copy_bandwidth_GBps": bw / 1e9,
                               "bytes_per_neuron_step_each_pass": 12, "rows": rows}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
