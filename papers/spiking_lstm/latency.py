"""Latency of the spiking LSTM in layer-step units: the plain schedule against the pipelined one.

**Units.** A *layer-step* is one inner time step of one neuron group of one layer for one element; it takes one
time unit. The spiking layer of :mod:`.cell` has two groups per element ``k`` of layer ``l``:

- ``G(l, k, t)``: the gate neurons (i, f, g, o) at inner step ``t``. Inputs: their own membrane (``G(l, k, t-1)``),
  the input spikes of step ``t`` (``H(l-1, k, t)``; layer 0 is direct-encoded: always ready) and the recurrent
  spikes of step ``t`` of the previous element (``H(l, k-1, t)``). The element's cell update
  ``c_k = r_f c_{k-1} + r_i r_g`` needs the complete rates, so it closes ``G(l, k, T-1)``.
- ``H(l, k, t)``: the ternary h neuron at inner step ``t``. Inputs: its membrane (``H(l, k, t-1)``) and
  ``a_k = r_o clip(c_k)``, i.e. ``G(l, k, T-1)``.

**Plain schedule** (what a step-by-step simulator does: layer by layer, element by element, step by step, one unit
at a time): ``2 N L T`` units.

**Pipelined schedule**: every unit starts as soon as its inputs are ready (one processing element per neuron group
and layer: a group never runs two of its units at once, which the membrane dependency already enforces). Solving
the recursion (:func:`pipelined_latency`; checked against :func:`simulate` in the tests):
``H(l, k, t)`` finishes at ``(k + l)(T + 1) + T + t + 1``, so the last spike of the top layer is out after

    ``(N + L)(T + 1) - 2``     units (vs ``2 N L T`` plain).

So the layers and the h/gate groups overlap (the ``L`` and the factor 2 are hidden), but ``T`` still multiplies the
sequence length: an element's cell update needs the *complete* gate rates of that element, so element ``k+1``
cannot start its gates before element ``k``'s rates are in (``T + 1`` units per element).

**Step-aligned ("lane") recurrence** — the schedule that hides ``T``: if element ``k``'s step ``t`` needed only
element ``k-1``'s step ``t`` (a cell whose state is passed on per inner step, no per-element rate), the units form a
3-D wavefront ``(l, k, t) <- (l-1, k, t), (l, k-1, t), (l, k, t-1)`` that finishes after ``N + L + T - 2`` units
(:func:`lane_latency`), vs ``N L T`` plain. This is how we read the paper's "pipelined parallel processing hides
the time steps"; our cell (exact rate conversion) does not have that dependency structure — see README.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional

__all__ = ["plain_latency", "pipelined_latency", "lane_latency", "lane_plain_latency", "model_units",
           "lane_units", "simulate", "latency_table", "plot_latency"]

Unit = tuple


def plain_latency(N: int, L: int, T: int) -> int:
    """Units of the plain (sequential) schedule of the model: ``2 N L T``."""
    return 2 * N * L * T


def pipelined_latency(N: int, L: int, T: int) -> int:
    """Units of the pipelined (as-soon-as-ready) schedule of the model: ``(N + L)(T + 1) - 2``."""
    return (N + L) * (T + 1) - 2


def lane_latency(N: int, L: int, T: int) -> int:
    """The step-aligned recurrence's wavefront: ``N + L + T - 2``."""
    return N + L + T - 2


def lane_plain_latency(N: int, L: int, T: int) -> int:
    return N * L * T


def model_units(N: int, L: int, T: int) -> dict[Unit, list[Unit]]:
    """The dependency graph of the model's units (see module docstring): ``unit -> units it waits for``."""
    deps: dict[Unit, list[Unit]] = {}
    for l in range(L):
        for k in range(N):
            for t in range(T):
                g = [("G", l, k, t - 1)] if t else []
                if l:
                    g.append(("H", l - 1, k, t))
                if k:
                    g.append(("H", l, k - 1, t))
                deps[("G", l, k, t)] = g
                deps[("H", l, k, t)] = ([("H", l, k, t - 1)] if t else []) + [("G", l, k, T - 1)]
    return deps


def lane_units(N: int, L: int, T: int) -> dict[Unit, list[Unit]]:
    """The step-aligned recurrence's graph: ``(l, k, t) <- (l-1, k, t), (l, k-1, t), (l, k, t-1)``."""
    deps: dict[Unit, list[Unit]] = {}
    for l in range(L):
        for k in range(N):
            for t in range(T):
                deps[("U", l, k, t)] = [u for u, ok in ((("U", l - 1, k, t), l), (("U", l, k - 1, t), k),
                                                        (("U", l, k, t - 1), t)) if ok]
    return deps


def simulate(deps: dict[Unit, list[Unit]], pipelined: bool = True) -> int:
    """Run a schedule of unit-time tasks. ``pipelined``: every unit starts as soon as all its inputs have finished
    (unbounded parallelism across units; a neuron group's units are chained by their membrane dependency anyway);
    otherwise one unit at a time (the plain schedule). Returns the makespan in units."""
    if not pipelined:
        return len(deps)
    finish: dict[Unit, int] = {}
    order = _topological(deps)
    for u in order:
        finish[u] = 1 + max((finish[d] for d in deps[u]), default=0)
    return max(finish.values(), default=0)


def _topological(deps: dict[Unit, list[Unit]]) -> list[Unit]:
    seen: set = set()
    out: list[Unit] = []
    for root in deps:
        if root in seen:
            continue
        stack = [(root, iter(deps[root]))]
        seen.add(root)
        while stack:
            node, it = stack[-1]
            nxt = next((d for d in it if d not in seen), None)
            if nxt is None:
                stack.pop()
                out.append(node)
            else:
                if nxt not in deps:
                    raise KeyError(f"unit {node} depends on unknown unit {nxt}")
                seen.add(nxt)
                stack.append((nxt, iter(deps[nxt])))
    return out


def latency_table(N: int, L: int, T: int) -> dict:
    """Closed forms and simulated makespans for one ``(N, L, T)``."""
    m, lane = model_units(N, L, T), lane_units(N, L, T)
    return {"N": N, "L": L, "T": T,
            "plain": plain_latency(N, L, T), "plain_sim": simulate(m, pipelined=False),
            "pipelined": pipelined_latency(N, L, T), "pipelined_sim": simulate(m),
            "lane_plain": lane_plain_latency(N, L, T), "lane": lane_latency(N, L, T), "lane_sim": simulate(lane)}


def plot_latency(path: Path, L: int = 1, Ts: Iterable[int] = (1, 2, 4), N_max: int = 128,
                 title: Optional[str] = None) -> Optional[Path]:
    """Latency (layer-steps) vs sequence length N: plain, pipelined (this model) and the step-aligned wavefront,
    for each T. Returns the PNG path (None without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    Ns = list(range(1, N_max + 1))
    fig, ax = plt.subplots(figsize=(6, 4))
    for T in Ts:
        line, = ax.plot(Ns, [plain_latency(n, L, T) for n in Ns], "--", label=f"plain, T={T}")
        ax.plot(Ns, [pipelined_latency(n, L, T) for n in Ns], "-", color=line.get_color(), label=f"pipelined, T={T}")
        ax.plot(Ns, [lane_latency(n, L, T) for n in Ns], ":", color=line.get_color(),
                label=f"step-aligned wavefront, T={T}")
    ax.set_xlabel("sequence length N (elements)")
    ax.set_ylabel("latency (layer-steps)")
    ax.set_title(title or f"spiking LSTM latency, L={L}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
