"""Paper registry (in the spirit of timm's model registry): each paper registers its table rows as data.

A :class:`Row` names one reported table entry: the dataset, architecture, time steps, the metrics
the paper reports (value, or ``None`` when the number is unknown) and where the number comes from.
Rows that exist only to test a claim at reduced scale on the data available here have
``scales=("mini", "smoke")``. The paper's claims (``common.claims.Claim``) are registered with its
rows: each names the rows and metrics it is checked on (evaluated by ``scripts/make_results.py``).
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import asdict, dataclass, field
from typing import Optional

__all__ = ["Row", "Paper", "register_paper", "get_paper", "get_row", "list_papers", "SCALES"]

SCALES = ("full", "mini", "smoke")


@dataclass(frozen=True)
class Row:
    id: str
    dataset: str
    architecture: str
    time_steps: Optional[int]
    reported: dict = field(default_factory=dict)  # metric -> value in the paper's unit (None: unknown)
    source: str = ""  # where the reported value comes from
    scales: tuple = ("full", "smoke")  # scales at which this row can run
    not_run_here: Optional[str] = None  # why the full-scale row is not run on the project's CI machine
    group: str = ""  # rows shown together (e.g. an ablation)

    def __post_init__(self):
        bad = [s for s in self.scales if s not in SCALES]
        if bad:
            raise ValueError(f"row {self.id}: unknown scales {bad}; valid: {SCALES}")
        if {"mini", "full"} <= set(self.scales):  # results/<paper>/<row>/seed<k>.json holds one scale
            raise ValueError(f"row {self.id}: runs at both mini and full scale, so a full run would overwrite the "
                             f"mini result of the same seed; give the full row its own id")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["scales"] = list(self.scales)
        return d


@dataclass
class Paper:
    name: str
    title: str
    citation: str
    rows: dict = field(default_factory=dict)  # id -> Row, in registration order
    notes: str = ""
    claims: tuple = ()  # common.claims.Claim, ...

    def rows_for(self, scale: str) -> list[Row]:
        return [r for r in self.rows.values() if scale in r.scales]


_PAPERS: dict[str, Paper] = {}


def register_paper(name: str, title: str, citation: str, rows: list[Row], notes: str = "",
                   claims: tuple = ()) -> Paper:
    from .claims import check_claim_rows

    ids = [r.id for r in rows]
    if len(set(ids)) != len(ids):
        raise ValueError(f"paper {name}: duplicate row ids in {ids}")
    check_claim_rows(name, claims, ids)
    paper = Paper(name, title, citation, {r.id: r for r in rows}, notes, tuple(claims))
    _PAPERS[name] = paper
    return paper


PLUGINS_ENV = "SNN_REPRO_PLUGINS"


def _discover() -> None:
    """Import ``papers.<name>.rows`` for every paper package, plus the modules named in
    ``$SNN_REPRO_PLUGINS`` (comma-separated): papers registered outside this repository."""
    import os

    import papers

    for name in filter(None, (m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(","))):
        importlib.import_module(name)

    for mod in pkgutil.iter_modules(papers.__path__):
        if mod.ispkg:
            try:
                importlib.import_module(f"papers.{mod.name}.rows")
            except ModuleNotFoundError as e:
                if e.name != f"papers.{mod.name}.rows":
                    raise


def list_papers() -> list[str]:
    _discover()
    return sorted(_PAPERS)


def get_paper(name: str) -> Paper:
    _discover()
    if name not in _PAPERS:
        raise KeyError(f"unknown paper {name!r}; registered papers: {', '.join(sorted(_PAPERS)) or '(none)'}")
    return _PAPERS[name]


def get_row(paper: str, row: str) -> Row:
    p = get_paper(paper)
    if row not in p.rows:
        raise KeyError(f"paper {paper!r} has no row {row!r}; its rows: {', '.join(p.rows)}")
    return p.rows[row]
