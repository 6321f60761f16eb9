#!/usr/bin/env python
"""Forward+backward timing of a multi-step LIF layer: our backends vs torch.compile vs peer libraries.

Every implementation runs the same layer: soft reset, leak 0.9 (SpikingJelly tau = 10 with
decay_input=False, snnTorch beta = 0.9, Norse's LIFBox with dt*tau_mem_inv = 0.1), threshold 1,
an ATan surrogate (alpha 2; Norse: its default SuperSpike, it has no ATan), input x [T, B, N] with
requires_grad, and backward of a dense upstream gradient. Loops written here iterate ``unbind``;
snnTorch, Norse and SpikingJelly's single-step mode are driven through such a loop, SpikingJelly's
multi-step mode gets the whole sequence (its fused CPU loop / Triton kernel).

Reported per implementation and shape: median of ``--repeats`` (>= 5) timed runs after warm-up,
extra peak memory of one forward+backward (allocator-level, via the profiler on CPU and
``max_memory_allocated`` on CUDA; includes x.grad), the ratio to the fastest peer, and the ratio to
a lower bound = 24 bytes per neuron-step (read x, write spikes, save one float; read it, read the
upstream grad, write grad_x) over the machine's measured copy bandwidth.

    python scripts/bench_neurons.py                      # CPU -> results/bench/neurons_cpu.json
    python scripts/bench_neurons.py --device cuda        # -> results/bench/neurons_cuda.json
"""
from __future__ import annotations

import argparse
import datetime as _dt
import gc
import importlib
import json
import os
import pathlib
import platform
import statistics
import sys
import time
import traceback
import warnings

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore")

import torch  # noqa: E402

from common.timing import time_calls  # noqa: E402

SHAPES = [(100, 64, 1024), (1000, 16, 256), (10000, 4, 128)]
# on a GPU also two large layers (1M neurons) at T = 16 and 128: the bandwidth target is for large layers
CUDA_SHAPES = SHAPES + [(16, 256, 4096), (128, 256, 4096)]
LEAK, THR, ALPHA = 0.9, 1.0, 2.0
PEERS = ("snntorch", "spikingjelly", "norse")


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


# ------------------------------------------------------------------------------------ implementations
def make_ours(backend):
    from common.kernels import lif_multistep_cpu, lif_multistep_triton
    from common.neurons.functional import lif_multistep_torch
    from common.surrogate import ATan

    fn = {"torch": lif_multistep_torch, "cpu": lif_multistep_cpu, "triton": lif_multistep_triton}[backend]
    sur = ATan(ALPHA)

    def run(x):
        return fn(x, None, LEAK, THR, sur, "soft", False, False).spikes

    return run


def make_compiled_step():
    from common.neurons.functional import lif_step
    from common.surrogate import ATan

    sur = ATan(ALPHA)
    torch._dynamo.reset()  # fresh cache per shape: no recompiles left over from the previous shape

    @torch.compile(dynamic=False)
    def step(x, v):
        s, v, _ = lif_step(x, v, LEAK, THR, sur, "soft", False)
        return s, v

    def run(x):
        v = torch.zeros_like(x[0])
        out = []
        for xt in x.unbind(0):
            s, v = step(xt, v)
            out.append(s)
        return torch.stack(out)

    return run


def make_snntorch():
    import snntorch as snn
    from snntorch import surrogate

    lif = snn.Leaky(beta=LEAK, threshold=THR, spike_grad=surrogate.atan(alpha=ALPHA), reset_mechanism="subtract")

    def run(x):
        mem = torch.zeros_like(x[0])
        out = []
        for xt in x.unbind(0):
            spk, mem = lif(xt, mem)
            out.append(spk)
        return torch.stack(out)

    return run


def make_spikingjelly(step_mode):
    """``"m"``: SpikingJelly's multi-step path (its fused op: a C++-free loop on CPU, Triton on CUDA);
    ``"s"``: its single-step module driven by a loop over ``unbind``."""
    from spikingjelly.activation_based import neuron, surrogate

    lif = neuron.LIFNode(tau=1.0 / (1.0 - LEAK), decay_input=False, v_threshold=THR, v_reset=None,
                         surrogate_function=surrogate.ATan(alpha=ALPHA), step_mode=step_mode)

    def run(x):
        lif.reset()
        if step_mode == "m":
            return lif(x)
        return torch.stack([lif(xt) for xt in x.unbind(0)])

    return run


def spikingjelly_cuda_implementation():
    """Which implementation SpikingJelly's multi-step LIF selected on this GPU (``triton`` without its
    optional native build)."""
    try:
        from spikingjelly._ops import lif as sj_lif

        return sj_lif._selection.diagnostics(torch.device("cuda"))
    except Exception as exc:  # noqa: BLE001 - private API: record what went wrong instead
        return {"error": f"{type(exc).__name__}: {exc}"}


def make_norse():
    import norse.torch as nt

    p = nt.LIFBoxParameters(tau_mem_inv=torch.tensor(100.0), v_th=torch.tensor(THR), v_reset=torch.tensor(0.0))
    cell = nt.LIFBoxCell(p, dt=(1.0 - LEAK) / 100.0)

    def run(x):
        state = None
        out = []
        for xt in x.unbind(0):
            z, state = cell(xt, state)
            out.append(z)
        return torch.stack(out)

    return run


# ------------------------------------------------------------------------------------------- measuring
def fwd_bwd(run, x, g):
    x.grad = None
    run(x).backward(g)


def time_impl(run, x, g, device, repeats, warmup, budget_s):
    """Milliseconds of ``repeats`` forward+backward calls (fewer once ``budget_s`` is spent), synchronised."""
    return time_calls(lambda: fwd_bwd(run, x, g), repeats, warmup, budget_s=budget_s, sync=lambda: sync(device))


def peak_extra_bytes(run, x, g, device, pooled=False):
    """Extra bytes held at the peak of one forward+backward (x, g allocated before; x.grad counted).

    The CPU kernels' buffer pool is bypassed for this run so that every buffer goes through torch's
    allocator and is counted (the pool only recycles freed blocks; it does not change what is live).
    """
    if pooled:
        from common.kernels import cpu

        cpu.pool_configure(0)
        try:
            return peak_extra_bytes(run, x, g, device)
        finally:
            cpu.pool_configure(int(os.environ.get("SNN_REPRO_CPU_POOL_MB", "1024")) << 20)
    x.grad = None
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fwd_bwd(run, x, g)
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fwd_bwd(run, x, g)
    # each event's *self* net allocation, replayed in start order (op granularity: a temporary that an
    # op allocates and frees internally is not seen, everything that outlives an op is)
    events = sorted((e.time_range.start, e.self_cpu_memory_usage) for e in prof.events() if e.self_cpu_memory_usage)
    cur = peak = 0
    for _, delta in events:
        cur += delta
        peak = max(peak, cur)
    return peak


def copy_bandwidth(device, nbytes=256 << 20, repeats=15):
    """Best-of copy bandwidth (read + write bytes per second) on buffers reused across runs."""
    n = nbytes // 4
    src = torch.ones(n, device=device)
    dst = torch.empty_like(src)
    dst.copy_(src)
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        dst.copy_(src)
        sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n * 4 / best


def hardware(device):
    info = {"device": device.type, "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
            "machine": platform.machine(), "system": platform.system()}
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    try:
        info["loadavg_at_start"] = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        pass
    return info


def code_state():
    """Commit of the benchmarked code; ``SNN_REPRO_COMMIT`` overrides it for a copy of the tree whose
    .git is missing or stale (e.g. a tree sent to a GPU machine)."""
    from common.harness.provenance import git_state

    if os.environ.get("SNN_REPRO_COMMIT"):
        return {"commit": os.environ["SNN_REPRO_COMMIT"], "dirty": None, "source": "SNN_REPRO_COMMIT"}
    return git_state()


def versions():
    out = {"python": platform.python_version(), "torch": torch.__version__}
    for mod in ("triton",) + PEERS:
        try:
            import importlib.metadata as md

            importlib.import_module(mod)
            out[mod] = md.version(mod)
        except Exception:  # noqa: BLE001
            out[mod] = None
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--budget-s", type=float, default=20.0, help="stop after this long once 5 runs are done")
    ap.add_argument("--shapes", default="", help="T,B,N;T,B,N;... (default: the issue's three, plus two "
                    "large layers on CUDA)")
    ap.add_argument("--impls", default="", help="comma list to restrict (e.g. cpu,torch,snntorch)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    ap.add_argument("--out", default="")
    ap.add_argument("--label", default="", help="names a partial or repeated run in RESULTS.md (its own section)")
    args = ap.parse_args(argv)
    if args.repeats < 5:
        ap.error("--repeats must be >= 5")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        ap.error("CUDA is not available")
    shape_spec = args.shapes or ";".join(",".join(map(str, s)) for s in (CUDA_SHAPES if device.type == "cuda"
                                                                           else SHAPES))
    shapes = [tuple(int(v) for v in s.split(",")) for s in shape_spec.split(";") if s]
    out_path = pathlib.Path(args.out or ROOT / "results" / "bench" / f"neurons_{device.type}.json")

    from common.neurons.backends import available_backends

    avail = available_backends(device)
    impls = {}  # name -> (kind, factory)
    for b in ("cpu", "triton", "torch"):
        if b in avail:
            impls[f"ours:{b}"] = ("ours", lambda b=b: make_ours(b))
    impls["torch.compile(step)"] = ("compile", make_compiled_step)
    skipped = {}
    for b in ("cpu", "triton"):
        if b not in avail:
            skipped[f"ours:{b}"] = f"backend not available on {device.type}"
    peers = (("snntorch", "snntorch", make_snntorch),
             ("spikingjelly", "spikingjelly(multi-step)", lambda: make_spikingjelly("m")),
             ("spikingjelly", "spikingjelly(single-step)", lambda: make_spikingjelly("s")),
             ("norse", "norse", make_norse))
    for peer, name, factory in peers:
        try:
            importlib.import_module(peer)
            impls[name] = ("peer", factory)
        except Exception as exc:  # noqa: BLE001 - peer missing: say so in the JSON
            skipped[peer] = f"not installed ({type(exc).__name__}: {exc})"
    if args.impls:
        keep = set(args.impls.split(","))
        impls = {k: v for k, v in impls.items() if k in keep or k.split(":")[-1] in keep or k.split("(")[0] in keep}

    bw = copy_bandwidth(device)
    print(f"device={device} threads={torch.get_num_threads()} copy bandwidth={bw / 1e9:.1f} GB/s", flush=True)
    results = []
    for shape in shapes:
        T, B, N = shape
        gen = torch.Generator().manual_seed(0)
        x = (torch.randn(shape, generator=gen) * 0.6 + 0.25).to(device).requires_grad_()
        g = torch.randn(shape, generator=gen).to(device)
        lower_ms = 24.0 * T * B * N / bw * 1e3
        input_bytes = x.numel() * x.element_size()
        for name, (kind, factory) in impls.items():
            try:
                run = factory()
                warmup = max(args.warmup, 2) if kind == "compile" else args.warmup  # both graphs compiled
                times = time_impl(run, x, g, device, args.repeats, warmup, args.budget_s)
                peak = peak_extra_bytes(run, x, g, device, pooled=(name == "ours:cpu"))
                med = statistics.median(times)
                results.append({"impl": name, "kind": kind, "shape": list(shape), "median_ms": med,
                                "times_ms": [round(t, 3) for t in times], "peak_extra_MB": peak / 2**20,
                                "peak_extra_over_input": peak / input_bytes, "lower_bound_ms": lower_ms})
                print(f"{str(shape):>18} {name:<22} {med:9.2f} ms  peak +{peak / 2**20:7.1f} MB", flush=True)
            except Exception as exc:  # noqa: BLE001 - one failing implementation must not kill the run
                skipped[f"{name}@{shape}"] = f"failed: {type(exc).__name__}: {exc}"
                traceback.print_exc()
            finally:
                x.grad = None
                gc.collect()
    for shape in shapes:
        rows = [r for r in results if r["shape"] == list(shape)]
        peers = [r["median_ms"] for r in rows if r["kind"] == "peer"]
        best_peer = min(peers) if peers else None
        comp = [r["median_ms"] for r in rows if r["kind"] == "compile"]
        for r in rows:
            r["ratio_to_best_peer"] = r["median_ms"] / best_peer if best_peer else None
            r["speedup_vs_best_peer"] = best_peer / r["median_ms"] if best_peer else None
            r["speedup_vs_compile"] = comp[0] / r["median_ms"] if comp else None
            r["ratio_to_lower_bound"] = r["median_ms"] / r["lower_bound_ms"]
            r["fraction_of_copy_bandwidth"] = r["lower_bound_ms"] / r["median_ms"]  # 24 B/neuron-step moved
    data = {
        "benchmark": "multi-step LIF forward+backward",
        "label": args.label or None,
        "device": device.type,
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "code": code_state(),
        "hardware": hardware(device),
        "versions": versions(),
        "config": {"leak": LEAK, "threshold": THR, "surrogate": f"atan(alpha={ALPHA})", "reset": "soft",
                   "repeats": args.repeats, "warmup": args.warmup, "dtype": "float32",
                   "lower_bound": "24 bytes per neuron-step / measured copy bandwidth",
                   "peak_memory": "CUDA: max_memory_allocated; CPU: torch profiler allocation events at op granularity"},
        "copy_bandwidth_GBps": bw / 1e9,
        "shapes": [list(s) for s in shapes],
        "results": results,
        "skipped": skipped,
    }
    if device.type == "cuda" and any(k.startswith("spikingjelly") for k in impls):
        data["spikingjelly_cuda_implementation"] = spikingjelly_cuda_implementation()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {out_path}")
    return data


if __name__ == "__main__":
    main()
