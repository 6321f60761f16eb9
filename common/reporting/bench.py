"""Markdown + plot for the neuron benchmark JSON written by ``scripts/bench_neurons.py``.

``render(data, plot_dir, rel)`` returns a Markdown section (deterministic: the same JSON gives the
same bytes) and saves ``neurons_<device>.png`` under ``plot_dir``, linked as ``rel/neurons_<device>.png``.
"""
from __future__ import annotations

import pathlib
import re
from typing import Any, Optional

from .render import pyplot

_ORDER = {"ours": 0, "compile": 1, "peer": 2}


def _fmt(v: Optional[float], spec: str, suffix: str = "") -> str:
    if v is None:
        return "–"
    return format(v, spec) + suffix


def _shape_str(shape) -> str:
    return "(" + ", ".join(str(int(s)) for s in shape) + ")"


def _impls(results: list[dict]) -> list[str]:
    seen: dict[str, tuple] = {}
    for r in results:
        seen.setdefault(r["impl"], (_ORDER.get(r.get("kind", "peer"), 3), r["impl"]))
    return [k for k, _ in sorted(seen.items(), key=lambda kv: kv[1])]


def _plot(data: dict, path: pathlib.Path) -> None:
    plt = pyplot()

    results = data.get("results", [])
    shapes = [tuple(s) for s in data.get("shapes", [])]
    impls = _impls(results)
    fig, ax = plt.subplots(figsize=(1.6 + 1.9 * max(1, len(shapes)), 4.2), dpi=110)
    width = 0.8 / max(1, len(impls))
    for j, name in enumerate(impls):
        xs, ys = [], []
        for i, shape in enumerate(shapes):
            row = next((r for r in results if r["impl"] == name and tuple(r["shape"]) == shape), None)
            if row is not None:
                xs.append(i - 0.4 + width * (j + 0.5))
                ys.append(row["median_ms"])
        ax.bar(xs, ys, width=width, label=name)
    for i, shape in enumerate(shapes):
        lb = next((r["lower_bound_ms"] for r in results if tuple(r["shape"]) == shape), None)
        if lb:
            ax.hlines(lb, i - 0.42, i + 0.42, colors="k", linestyles="--", linewidth=1,
                      label="bandwidth lower bound" if i == 0 else None)
    ax.set_xticks(range(len(shapes)))
    ax.set_xticklabels(["T,B,N=" + _shape_str(s) for s in shapes])
    ax.set_yscale("log")
    ax.set_ylabel("forward+backward, median ms (log)")
    ax.set_title(f"Multi-step LIF layer on {data.get('device', '?')}")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def render(data: dict[str, Any], plot_dir: pathlib.Path, rel: str) -> str:
    device = data.get("device", "cpu")
    label = data.get("label")
    name = f"neurons_{device}" + ("_" + re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_") if label else "")
    results = data.get("results", [])
    shapes = [tuple(s) for s in data.get("shapes", [])]
    plot_dir = pathlib.Path(plot_dir)
    _plot(data, plot_dir / f"{name}.png")
    hw = data.get("hardware", {})
    ver = data.get("versions", {})
    cfg = data.get("config", {})
    lines = [f"## Fused neuron kernels: multi-step LIF forward+backward ({device})"
             + (f": {label}" if label else ""), ""]
    hw_desc = hw.get("gpu") or hw.get("cpu") or hw.get("machine", "?")
    lines.append(
        f"Hardware: {hw_desc}; torch threads: {hw.get('torch_threads', '?')}; "
        f"measured copy bandwidth {_fmt(data.get('copy_bandwidth_GBps'), '.1f', ' GB/s')}; "
        f"load average at start: {hw.get('loadavg_at_start', '?')}."
    )
    if data.get("note"):
        lines.append(data["note"])
    code = data.get("code") or {}
    if code.get("commit"):
        lines.append(f"Code: commit {code['commit'][:12]}" + (" (uncommitted changes)" if code.get("dirty") else "")
                     + ".")
    lines.append(
        "Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(ver.items()) if v) + ". "
        f"Layer: soft reset, leak {cfg.get('leak')}, threshold {cfg.get('threshold')}, "
        f"surrogate {cfg.get('surrogate')}, {cfg.get('dtype', 'float32')}; median of "
        f"{cfg.get('repeats')} runs after {cfg.get('warmup')} warm-up; date {data.get('date', '?')}."
    )
    lines += [
        "",
        "Lower bound = 24 bytes per neuron-step / copy bandwidth. Peak = extra memory at the peak of one "
        "forward+backward, x.grad and the outputs included: the spikes and x.grad alone are 2× the input, "
        "and the final membrane state adds 1/T (our fused backends write x.grad over their one saved "
        "buffer). ×peer > 1 means slower than the fastest peer library.",
        "",
        "| implementation | " + " | ".join(f"{_shape_str(s)} ms" for s in shapes)
        + " | " + " | ".join(f"{_shape_str(s)} peak MB / ×peer / ×bound" for s in shapes) + " |",
        "|---|" + "---:|" * (2 * len(shapes)),
    ]
    for impl in _impls(results):
        cells_ms, cells_more = [], []
        for s in shapes:
            r = next((r for r in results if r["impl"] == impl and tuple(r["shape"]) == s), None)
            if r is None:
                cells_ms.append("–")
                cells_more.append("–")
                continue
            cells_ms.append(_fmt(r["median_ms"], ".1f"))
            cells_more.append(
                f"{_fmt(r.get('peak_extra_MB'), '.0f')} / {_fmt(r.get('ratio_to_best_peer'), '.3f')} / "
                f"{_fmt(r.get('ratio_to_lower_bound'), '.1f')}"
            )
        lines.append(f"| {impl} | " + " | ".join(cells_ms) + " | " + " | ".join(cells_more) + " |")
    lb = []
    for s in shapes:
        v = next((r["lower_bound_ms"] for r in results if tuple(r["shape"]) == s), None)
        lb.append(_fmt(v, ".2f"))
    lines.append("| *lower bound* | " + " | ".join(lb) + " |" + " |" * len(shapes))
    fused = [r for r in results if r.get("kind") == "ours" and not r["impl"].endswith(":torch")]
    if fused:
        lines += ["", "Speed-ups of the fused backends:"]
        for r in sorted(fused, key=lambda r: (r["impl"], r["shape"])):
            lines.append(
                f"- {r['impl']} {_shape_str(r['shape'])}: {_fmt(r.get('speedup_vs_best_peer'), '.1f', '×')} vs the "
                f"fastest peer, {_fmt(r.get('speedup_vs_compile'), '.1f', '×')} vs torch.compile, "
                f"{_fmt(r.get('ratio_to_lower_bound'), '.1f', '×')} the lower bound "
                f"({_fmt(100 * r['lower_bound_ms'] / r['median_ms'], '.0f', ' %')} of copy bandwidth), peak "
                f"{_fmt(r.get('peak_extra_over_input'), '.2f', '×')} the input."
            )
    sj = data.get("spikingjelly_cuda_implementation")
    if sj:
        lines += ["", f"SpikingJelly's multi-step LIF ran its `{sj.get('implementation', '?')}` implementation "
                  "(its native CUDA build is optional and was not installed)."]
    skipped = data.get("skipped", {})
    if skipped:
        lines += ["", "Not measured: " + "; ".join(f"{k}: {v}" for k, v in sorted(skipped.items())) + "."]
    lines += ["", f"![{name}]({rel}/{name}.png)", ""]
    return "\n".join(lines)


def render_tuning(data: dict[str, Any], plot_dir: pathlib.Path, rel: str) -> str:
    """Per-kernel bandwidth of the Triton LIF kernels: the shipped launch config vs the sweep's best."""
    from common.kernels.triton_config import KernelConfig, launch_config

    rows = data.get("rows", [])
    shapes = []
    for r in rows:
        if tuple(r["shape"]) not in shapes:
            shapes.append(tuple(r["shape"]))
    code = data.get("code") or {}
    lines = [
        f"### Triton kernels alone ({data.get('gpu', '?')}, `scripts/tune_triton_lif.py`)", "",
        f"Raw forward / backward kernels (12 bytes per neuron-step each), median of `triton.testing.do_bench`; "
        f"copy bandwidth {_fmt(data.get('copy_bandwidth_GBps'), '.0f', ' GB/s')}; torch {data.get('torch', '?')}"
        + (f"; kernels of commit {code['commit'][:12]}" if code.get("commit") else "") + ". "
        "The shipped config is what `common.kernels.triton_config.launch_config` picks for the shape.", "",
        "| shape (T, B, N) | shipped config | fwd µs (% copy bw) | bwd µs (% copy bw) | best swept config | best fwd+bwd µs |",
        "|---|---|---:|---:|---|---:|",
    ]

    def desc(r):
        return f"block {r['block']}, {r['warps']} warp(s), prefetch {'on' if r['prefetch'] else 'off'}"

    for shape in shapes:
        rs = [r for r in rows if tuple(r["shape"]) == shape]
        T, n = shape[0], shape[1] * shape[2]
        cfg = launch_config(T, n)
        shipped = next((r for r in rs if KernelConfig(r["block"], r["warps"], r["prefetch"]) == cfg), None)
        best = min(rs, key=lambda r: r["fwd_ms"] + r["bwd_ms"])
        if shipped is None:
            cells = [f"block {cfg.block}, {cfg.warps} warp(s) (not swept)", "–", "–"]
        else:
            cells = [desc(shipped),
                     f"{shipped['fwd_ms'] * 1e3:.1f} ({100 * shipped['fwd_frac_copy_bw']:.0f} %)",
                     f"{shipped['bwd_ms'] * 1e3:.1f} ({100 * shipped['bwd_frac_copy_bw']:.0f} %)"]
        lines.append(f"| {_shape_str(shape)} | " + " | ".join(cells)
                     + f" | {desc(best)} | {(best['fwd_ms'] + best['bwd_ms']) * 1e3:.1f} |")
    lines.append("")
    return "\n".join(lines)
