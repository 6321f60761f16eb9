"""DIET-SNN section of RESULTS.md: ablation tables and plots from the measured result dicts.

``render(results, plot_dir, rel)`` is called by ``scripts/make_results.py`` with the loaded
``results/diet_snn/*.json``; it returns deterministic Markdown and writes PNGs (matplotlib Agg)
under ``plot_dir``, linked as ``rel/<file>.png``.
"""
from __future__ import annotations

import pathlib
import re
from typing import Optional

__all__ = ["render"]


def _pct(v: Optional[float]) -> str:
    return "–" if v is None else f"{100 * float(v):.2f} %"


def _num(v: Optional[float], fmt: str = ".3f") -> str:
    return "–" if v is None else format(float(v), fmt)


def _layer_order(names) -> list[str]:
    """Forward order of LIF layer names (JSON files store them sorted alphabetically)."""
    def key(n: str):
        head = 1 if n.startswith(("classifier", "fc")) else 0
        return (head, [int(s) if s.isdigit() else s for s in re.split(r"[._]", n)])
    return sorted(names, key=key)


def _by_id(results: list[dict]) -> dict[str, dict]:
    return {r["row"]["id"]: r for r in results if r.get("row")}


def _snn(r: dict, T: Optional[int] = None) -> dict:
    snn = (r.get("extras") or {}).get("snn") or {}
    if not snn:
        return {}
    if T is None:
        return snn[sorted(snn, key=int)[0]]
    return snn.get(str(T), {})


def _sweep(r: Optional[dict]) -> dict[int, dict]:
    if not r:
        return {}
    return {int(k): v for k, v in ((r.get("extras") or {}).get("snn") or {}).items()}


def _plots(ids: dict, plot_dir: pathlib.Path, rel: str) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover
        return ["(matplotlib not installed: plots skipped)"]
    plot_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    direct, poisson = _sweep(ids.get("mini_direct_sweep")), _sweep(ids.get("mini_poisson_sweep"))
    if direct or poisson:
        fig, ax = plt.subplots(figsize=(4.5, 3.2), dpi=100)
        for name, sw, mk in (("direct", direct, "o-"), ("Poisson", poisson, "s--")):
            if sw:
                Ts = sorted(sw)
                ax.plot(Ts, [100 * sw[T]["test_acc"] for T in Ts], mk, label=f"{name} (DIET-trained)")
        ann = (ids.get("mini_direct_sweep") or ids.get("mini_poisson_sweep"))["metrics"].get("ann/test/acc")
        if ann is not None:
            ax.axhline(100 * ann, color="gray", lw=0.8, ls=":", label="ANN")
        ax.set_xlabel("time steps T")
        ax.set_ylabel("test accuracy [%]")
        ax.set_title("MNIST VGG-mini: direct vs Poisson input")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(plot_dir / "diet_snn_acc_vs_T.png", metadata={"Software": None})
        plt.close(fig)
        lines.append(f"![accuracy vs T]({rel}/diet_snn_acc_vs_T.png)")
    main, fixed = ids.get("mini_vgg_t5"), ids.get("mini_fixed_leak_t5")
    if main or fixed:
        fig, ax = plt.subplots(figsize=(5, 3.2), dpi=100)
        width = 0.38
        for k, (name, r) in enumerate((("trainable leak", main), ("fixed leak = 1", fixed))):
            if not r:
                continue
            rates = _snn(r).get("spike_rates", {})
            names = _layer_order(rates)
            ax.bar([i + (k - 0.5) * width for i in range(len(names))], [rates[n] for n in names], width, label=name)
            ax.set_xticks(range(len(names)))
            ax.set_xticklabels([n.replace("_neurons", "") for n in names], rotation=20, fontsize=7)
        ax.set_ylabel("spikes / neuron / step")
        ax.set_title("per-layer spike rate, T=5")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(plot_dir / "diet_snn_spike_rates.png", metadata={"Software": None})
        plt.close(fig)
        lines.append(f"![per-layer spike rates]({rel}/diet_snn_spike_rates.png)")
    return lines


def render(results: list[dict], plot_dir: pathlib.Path, rel: str) -> str:
    ids = _by_id(results)
    out: list[str] = []
    main = ids.get("mini_vgg_t5")
    if main:
        m, s = main["metrics"], _snn(main)
        out += ["#### DIET-SNN mini: hybrid pipeline on real MNIST (VGG-mini, T=5)", "",
                "| stage | test acc | SNN/ANN energy (DIET formula) | SNN/ANN energy (NeuroBench) | mean spike rate |",
                "|---|---|---|---|---|",
                f"| 1. ANN (ReLU), all 10k test images | {_pct(m.get('ann/test/acc'))} | 1 | 1 | – |"]
        if m.get("ann/test/acc_snn_test_images") is not None:
            out.append(f"| 1. ANN (ReLU), the SNN rows' test images | {_pct(m['ann/test/acc_snn_test_images'])} | 1 | 1 | – |")
        for k, v in m.items():
            if k.startswith("snn_converted_T") and k.endswith("_unscaled/test/acc"):
                T = k[len("snn_converted_T"):].split("_")[0]
                out.append(f"| 2. converted SNN, leak 1, unscaled thresholds, T={T} (first 500 test images only) | "
                           f"{_pct(v)} | – | – | – |")
        out += [f"| 2. converted SNN, T=5 (thresholds x {s.get('scaling_factor')}), before DIET | "
                f"{_pct(m.get('snn_converted/test/acc'))} | – | – | – |",
                f"| 3. DIET-trained SNN, T=5 | {_pct(m.get('test/acc'))} | {_num(m.get('energy_ratio/papers'))} | "
                f"{_num(m.get('energy_ratio/neurobench'))} | {_num(m.get('spike_rate/mean'), '.4f')} |", "",
                f"ANN − DIET SNN on the same test images: {100 * float(m.get('ann_minus_snn', float('nan'))):.2f} points "
                "(claim: ≤ 1.5). "
                "Energy ratios below 1 mean the SNN is cheaper (DIET formula: analog first layer T×MACs at 4.6 pJ, "
                "other layers spike-rate×T×FLOPs ACs at 0.9 pJ; NeuroBench: effective ops of common/metrics, where "
                "average-pooled spikes count as MACs).", ""]
        if s.get("learned"):
            out += ["| layer | spike rate | initial threshold | learned threshold | learned leak |", "|---|---|---|---|---|"]
            for n in _layer_order(s["learned"]):
                p = s["learned"][n]
                out.append(f"| {n} | {_num(s.get('spike_rates', {}).get(n), '.4f')} | "
                           f"{_num(s.get('initial_thresholds', {}).get(n), '.4f')} | {_num(p['threshold'], '.4f')} | "
                           f"{_num(p['leak'], '.4f')} |")
            out.append("")
    fixed, init09 = ids.get("mini_fixed_leak_t5"), ids.get("mini_leak_init09_t5")
    if main or fixed or init09:
        out += ["#### Ablation: trainable leak vs fixed leak = 1 (T=5)", "",
                "| leak | test acc | mean spike rate | spikes / sample | SNN/ANN energy (DIET) | learned leaks |",
                "|---|---|---|---|---|---|"]
        for name, r in (("trainable, init 1", main), ("fixed = 1 (IF)", fixed), ("trainable, init 0.9", init09)):
            if r:
                s = _snn(r)
                leaks = [p["leak"] for p in (s.get("learned") or {}).values() if p.get("leak") is not None]
                leak_txt = (f"{min(leaks):.3f} – {max(leaks):.3f}" if leaks else "1 (fixed)")
                out.append(f"| {name} | {_pct(r['metrics'].get('test/acc'))} | {_num(s.get('mean_spike_rate'), '.4f')} | "
                           f"{_num(s.get('spikes_per_sample'), '.0f')} | {_num(s.get('energy_ratio_papers'))} | {leak_txt} |")
        out.append("")
    direct, poisson = _sweep(ids.get("mini_direct_sweep")), _sweep(ids.get("mini_poisson_sweep"))
    if direct or poisson:
        out += ["#### Ablation: direct vs Poisson rate encoding (each DIET-trained at its T, same compute budget)", "",
                "| T | direct: converted → DIET | Poisson: converted → DIET | direct spike rate | Poisson spike rate |",
                "|---|---|---|---|---|"]
        for T in sorted(set(direct) | set(poisson)):
            d, p = direct.get(T, {}), poisson.get(T, {})
            out.append(f"| {T} | {_pct(d.get('converted_acc'))} → {_pct(d.get('test_acc'))} | "
                       f"{_pct(p.get('converted_acc'))} → {_pct(p.get('test_acc'))} | "
                       f"{_num(d.get('mean_spike_rate'), '.4f')} | {_num(p.get('mean_spike_rate'), '.4f')} |")
        out.append("")
    out += _plots(ids, pathlib.Path(plot_dir), rel)
    return "\n".join(out).rstrip() + "\n"
