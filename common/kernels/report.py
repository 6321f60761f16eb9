"""Markdown + plot for the neuron benchmark JSON written by ``scripts/bench_neurons.py``.

``render(data, plot_dir, rel)`` returns a Markdown section (deterministic: the same JSON gives the
same bytes) and saves ``neurons_<device>.png`` under ``plot_dir``, linked as ``rel/neurons_<device>.png``.
"""
from __future__ import annotations

import pathlib
from typing import Any, Optional

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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    name = f"neurons_{device}"
    results = data.get("results", [])
    shapes = [tuple(s) for s in data.get("shapes", [])]
    plot_dir = pathlib.Path(plot_dir)
    _plot(data, plot_dir / f"{name}.png")
    hw = data.get("hardware", {})
    ver = data.get("versions", {})
    cfg = data.get("config", {})
    lines = [f"## Fused neuron kernels: multi-step LIF forward+backward ({device})", ""]
    hw_desc = hw.get("gpu") or hw.get("cpu") or hw.get("machine", "?")
    lines.append(
        f"Hardware: {hw_desc}; torch threads: {hw.get('torch_threads', '?')}; "
        f"measured copy bandwidth {_fmt(data.get('copy_bandwidth_GBps'), '.1f', ' GB/s')}; "
        f"load average at start: {hw.get('loadavg_at_start', '?')}."
    )
    lines.append(
        "Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(ver.items()) if v) + ". "
        f"Layer: soft reset, leak {cfg.get('leak')}, threshold {cfg.get('threshold')}, "
        f"surrogate {cfg.get('surrogate')}, {cfg.get('dtype', 'float32')}; median of "
        f"{cfg.get('repeats')} runs after {cfg.get('warmup')} warm-up; date {data.get('date', '?')}."
    )
    lines += [
        "",
        "Lower bound = 24 bytes per neuron-step / copy bandwidth. Peak = extra memory at the peak of one "
        "forward+backward (x.grad included). ×peer > 1 means slower than the fastest peer library.",
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
                f"{_fmt(r.get('ratio_to_lower_bound'), '.1f', '×')} the lower bound, peak "
                f"{_fmt(r.get('peak_extra_over_input'), '.2f', '×')} the input."
            )
    skipped = data.get("skipped", {})
    if skipped:
        lines += ["", "Not measured: " + "; ".join(f"{k}: {v}" for k, v in sorted(skipped.items())) + "."]
    lines += ["", f"![{name}]({rel}/{name}.png)", ""]
    return "\n".join(lines)
