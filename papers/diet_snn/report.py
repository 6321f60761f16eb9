"""DIET-SNN section of RESULTS.md: ablation tables and plots from the measured result dicts.

``render(results, plot_dir, rel, benches)`` is called by ``scripts/make_results.py`` with the loaded
DIET-SNN result files (one per row and seed); it returns deterministic Markdown and writes PNGs
(matplotlib Agg) under ``plot_dir``, linked as ``rel/<file>.png``. Every number is the mean ± std
over seeds (n) of the result files; every setting named is read from the results' configs.
"""
from __future__ import annotations

import pathlib
import re
from typing import Optional

from common.claims import seed_stats
from common.reporting.render import config_value, fmt_seeds, pyplot, runs_by_row, save_figure

__all__ = ["render"]


def _pct(vals) -> str:
    return fmt_seeds("acc", vals)


def _num(vals, digits: int = 3) -> str:
    return fmt_seeds("x", vals, digits)


def _mean(vals) -> Optional[float]:
    vs = [float(v) for v in vals if v is not None]
    return seed_stats(vs).mean if vs else None


def _layer_order(names) -> list[str]:
    """Forward order of LIF layer names (JSON files store them sorted alphabetically)."""
    def key(n: str):
        head = 1 if n.startswith(("classifier", "fc")) else 0
        return (head, [int(s) if s.isdigit() else s for s in re.split(r"[._]", n)])
    return sorted(names, key=key)


def _snn(r: dict, T: Optional[int] = None) -> dict:
    snn = (r.get("extras") or {}).get("snn") or {}
    if not snn:
        return {}
    return snn[sorted(snn, key=int)[0]] if T is None else snn.get(str(T), {})


def _sweep(runs: list[dict]) -> dict[int, list[dict]]:
    """T -> the per-seed SNN stage results of a sweep row."""
    out: dict[int, list[dict]] = {}
    for r in runs:
        for k, v in ((r.get("extras") or {}).get("snn") or {}).items():
            out.setdefault(int(k), []).append(v)
    return out


def _images(r: dict, batches) -> str:
    """Which test images a stage was tested on: the first ``batches`` eval batches, else the whole test split
    (a fixed random ``data.test_subset`` of it, lossless images only with ``data.lossless_only_test``)."""
    bs = config_value(r, "data", "eval_batch_size")
    if isinstance(batches, int) and not isinstance(batches, bool) and bs:
        return f"the first {batches * int(bs)} test images"
    n, lossless = config_value(r, "data", "test_subset"), config_value(r, "data", "lossless_only_test")
    pool = "lossless test images" if lossless else "test images"
    return f"a fixed {n} of the {pool}" if n else f"all {pool}"


def _plots(ids: dict, plot_dir: pathlib.Path, rel: str) -> list[str]:
    plt = pyplot()

    lines = []
    direct, poisson = _sweep(ids.get("cifar_direct_sweep", [])), _sweep(ids.get("cifar_poisson_sweep", []))
    if direct or poisson:
        fig, ax = plt.subplots(figsize=(4.5, 3.2), dpi=100)
        for name, sw, mk in (("direct", direct, "o-"), ("Poisson", poisson, "s--")):
            if sw:
                Ts = sorted(sw)
                st = [seed_stats([s["test_acc"] for s in sw[T]]) for T in Ts]
                ax.errorbar(Ts, [100 * s.mean for s in st], yerr=[100 * s.std for s in st], fmt=mk, capsize=3,
                            label=f"{name} (DIET-trained)")
        runs = ids.get("cifar_direct_sweep") or ids.get("cifar_poisson_sweep")
        ann = _mean([r["metrics"].get("ann/test/acc") for r in runs])
        if ann is not None:
            ax.axhline(100 * ann, color="gray", lw=0.8, ls=":", label="ANN")
        ax.set_xlabel("time steps T")
        ax.set_ylabel("test accuracy [%] (mean ± std over seeds)")
        ax.set_title("CIFAR-10 VGG-mini: direct vs Poisson input")
        ax.legend(fontsize=8)
        fig.tight_layout()
        save_figure(fig, plot_dir / "diet_snn_acc_vs_T.png")
        lines.append(f"![accuracy vs T]({rel}/diet_snn_acc_vs_T.png)")
    main, fixed = ids.get("cifar_vgg_t5"), ids.get("cifar_fixed_leak_t5")
    if main or fixed:
        fig, ax = plt.subplots(figsize=(5, 3.2), dpi=100)
        width = 0.38
        for k, (name, runs) in enumerate((("trainable leak", main), ("fixed leak = 1", fixed))):
            if not runs:
                continue
            names = _layer_order(_snn(runs[0]).get("spike_rates", {}))
            rates = [_mean([_snn(r).get("spike_rates", {}).get(n) for r in runs]) for n in names]
            ax.bar([i + (k - 0.5) * width for i in range(len(names))], rates, width, label=name)
            ax.set_xticks(range(len(names)))
            ax.set_xticklabels([n.replace("_neurons", "") for n in names], rotation=20, fontsize=7)
        ax.set_ylabel("spikes / neuron / step (seed mean)")
        ax.set_title("per-layer spike rate, T=5")
        ax.legend(fontsize=8)
        fig.tight_layout()
        save_figure(fig, plot_dir / "diet_snn_spike_rates.png")
        lines.append(f"![per-layer spike rates]({rel}/diet_snn_spike_rates.png)")
    return lines


def _main_table(runs: list[dict]) -> list[str]:
    r0 = runs[0]
    T = _snn(r0).get("T")
    ms = [r["metrics"] for r in runs]

    def col(k):
        return [m.get(k) for m in ms]

    snn_limit = config_value(r0, "snn", "trainer", "limit_test_batches")
    out = [f"#### DIET-SNN mini: hybrid pipeline on real CIFAR-10 ({r0['row']['architecture']}, T={T}, "
           f"seeds {', '.join(str(r['seed']) for r in runs)})", "",
           "| stage | test images | test acc | SNN/ANN energy (DIET formula) | SNN/ANN energy (NeuroBench) | "
           "mean spike rate |", "|---|---|---|---|---|---|",
           f"| 1. ANN (ReLU), {config_value(r0, 'ann', 'max_epochs')} epochs | {_images(r0, None)} | {_pct(col('ann/test/acc'))} "
           "| 1 | 1 | – |"]
    if any(v is not None for v in col("ann/test/acc_snn_test_images")):
        out.append(f"| 1. ANN (ReLU) | {_images(r0, snn_limit)} | {_pct(col('ann/test/acc_snn_test_images'))} "
                   "| 1 | 1 | – |")
    for k in sorted(ms[0]):
        if k.startswith("snn_converted_T") and k.endswith("_unscaled/test/acc"):
            T_long = k[len("snn_converted_T"):].split("_")[0]
            out.append(f"| 2. converted SNN, leak 1, unscaled thresholds, T={T_long} | "
                       f"{_images(r0, config_value(r0, 'threshold', 'eval_batches'))} | {_pct(col(k))} | – | – | – |")
    scales = sorted({_snn(r).get("scaling_factor") for r in runs} - {None})
    scale = f"{scales[0]:g}" if len(scales) == 1 else _num(scales)
    out += [f"| 2. converted SNN, T={T} (thresholds × {scale}), before DIET | "
            f"{_images(r0, config_value(r0, 'snn', 'converted_eval_batches'))} | {_pct(col('snn_converted/test/acc'))} "
            "| – | – | – |",
            f"| 3. DIET-trained SNN, T={T} | {_images(r0, snn_limit)} | {_pct(col('test/acc'))} | "
            f"{_num(col('energy_ratio/papers'))} | {_num(col('energy_ratio/neurobench'))} | "
            f"{_num(col('spike_rate/mean'))} |", "",
            f"ANN − DIET SNN on the same test images: {fmt_seeds('ann_minus_snn', col('ann_minus_snn'))}. "
            "Energy ratios below 1 mean the SNN is cheaper (DIET formula: analog first layer T×MACs at 4.6 pJ, "
            "other layers spike-rate×T×FLOPs ACs at 0.9 pJ; NeuroBench: effective ops of common/metrics, where "
            "average-pooled spikes count as MACs).", ""]
    learned = _snn(r0).get("learned")
    if learned:
        out += ["| layer | spike rate | initial threshold | learned threshold | learned leak |", "|---|---|---|---|---|"]
        for n in _layer_order(learned):
            s = [_snn(r) for r in runs]
            out.append(f"| {n} | {_num([x.get('spike_rates', {}).get(n) for x in s])} | "
                       f"{_num([x.get('initial_thresholds', {}).get(n) for x in s], 5)} | "
                       f"{_num([(x.get('learned') or {}).get(n, {}).get('threshold') for x in s], 5)} | "
                       f"{_num([(x.get('learned') or {}).get(n, {}).get('leak') for x in s], 5)} |")
        out.append("")
    return out


def _leak_gradient_table(runs: list[dict]) -> list[str]:
    """Where the leak gradient points at the start of DIET training (``snn.leak_gradient`` probe), per threshold
    scaling factor and layer: the gradient's mean over batches and seeds and the share of batches where it is
    negative (the optimizer then raises the leak and the <= 1 clamp holds it at 1)."""
    probes = [_snn(r).get("leak_gradient_at_init") or {} for r in runs]
    probes = [p for p in probes if p]
    if not probes:
        return []
    r0 = runs[0]
    used = _snn(r0).get("scaling_factor")
    batches = config_value(r0, "snn", "leak_gradient", "batches")
    layers = _layer_order(next(iter(probes[0].values())))
    out = [f"#### Why a leak moves or stays at 1: dL/d(leak) at the start of DIET training (T={_snn(r0).get('T')})", "",
           f"Each layer's leak gradient at leak = 1 over the first {batches} training batches of each seed, at the "
           f"row's threshold scaling ({used}) and at others (a diagnostic: no training step is taken), "
           f"{len(probes)} seed(s). Cell: the mean gradient over batches and seeds, and the share of those batches "
           "where it is negative. A negative gradient makes Adam *raise* the leak, and the clamp at 1 holds it "
           "there; a positive one lowers it.", "",
           "| threshold scaling | " + " | ".join(layers) + " |", "|---|" + "---|" * len(layers)]
    for sc in sorted({k for p in probes for k in p}, key=float):
        cells = []
        for n in layers:
            g = [p[sc][n] for p in probes if sc in p and n in p[sc]]
            neg = sum(x["frac_negative"] * x["batches"] for x in g) / max(sum(x["batches"] for x in g), 1)
            mean = sum(x["mean"] for x in g) / max(len(g), 1)
            cells.append(f"{mean:+.1e} ({neg:.0%} < 0)")
        mark = " (the row's)" if used is not None and float(sc) == float(used) else ""
        out.append(f"| {sc}{mark} | " + " | ".join(cells) + " |")
    return out + [""]


def render(results: list[dict], plot_dir: pathlib.Path, rel: str, benches: Optional[dict] = None) -> str:
    ids = runs_by_row(results, "mini")
    out: list[str] = []
    if ids.get("cifar_vgg_t5"):
        out += _main_table(ids["cifar_vgg_t5"])
    leak_rows = [(rid, ids[rid]) for rid in ("cifar_vgg_t5", "cifar_fixed_leak_t5") if ids.get(rid)]
    if leak_rows:
        out += ["#### Ablation: trainable vs fixed leak", "",
                "| row | leak (from its config) | test acc | mean spike rate | spikes / sample | SNN/ANN energy (DIET) "
                "| learned leaks (min – max) |",
                "|---|---|---|---|---|---|---|"]
        for rid, runs in leak_rows:
            s = [_snn(r) for r in runs]
            leaks = [p["leak"] for x in s for p in (x.get("learned") or {}).values() if p.get("leak") is not None]
            learn = bool((runs[0].get("extras") or {}).get("learn_leak"))
            init = config_value(runs[0], "snn", "leak")
            name = f"trainable, init {init}" if learn else f"fixed = {init}"
            leak_txt = f"{min(leaks):.4f} – {max(leaks):.4f}" if (leaks and learn) else "–"
            out.append(f"| `{rid}` | {name} | {_pct([r['metrics'].get('test/acc') for r in runs])} | "
                       f"{_num([x.get('mean_spike_rate') for x in s])} | {_num([x.get('spikes_per_sample') for x in s])} | "
                       f"{_num([x.get('energy_ratio_papers') for x in s])} | {leak_txt} |")
        out.append("")
    if ids.get("cifar_vgg_t5"):
        out += _leak_gradient_table(ids["cifar_vgg_t5"])
    direct, poisson = _sweep(ids.get("cifar_direct_sweep", [])), _sweep(ids.get("cifar_poisson_sweep", []))
    if direct or poisson:
        out += ["#### Ablation: direct vs Poisson rate encoding (each DIET-trained at its T)", "",
                "| T | direct: converted → DIET | Poisson: converted → DIET | direct spike rate | Poisson spike rate |",
                "|---|---|---|---|---|"]
        for T in sorted(set(direct) | set(poisson)):
            d, p = direct.get(T, []), poisson.get(T, [])
            out.append(f"| {T} | {_pct([x.get('converted_acc') for x in d])} → {_pct([x.get('test_acc') for x in d])} | "
                       f"{_pct([x.get('converted_acc') for x in p])} → {_pct([x.get('test_acc') for x in p])} | "
                       f"{_num([x.get('mean_spike_rate') for x in d])} | {_num([x.get('mean_spike_rate') for x in p])} |")
        out.append("")
    if not out:
        return ""
    out += _plots(ids, pathlib.Path(plot_dir), rel)
    return "\n".join(out).rstrip() + "\n"
