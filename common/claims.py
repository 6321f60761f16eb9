"""A paper's claims as data, and their verdicts over loaded result files.

A :class:`Claim` quotes (or paraphrases) the paper with its source, names the scale where it can
be tested here, and holds one or more checks over result metrics. Each operand of a check is a
:class:`M` (one metric of one row, mean over the seeds of its result files) or a :class:`Bench`
(one number of a benchmark file). Checks:

- :class:`Compare`: ``a - b  op  margin``      (a comparison between rows)
- :class:`Ratio`:   ``a / b  op  value``       (a ratio against a reported figure)
- :class:`Bound`:   ``a  op  value``           (a bound on one metric)
- :class:`Near`:    ``|a - value| <= tol``     (a reported value with a tolerance)

Verdict rule (:func:`evaluate`), for each check with quantity ``q`` (computed from the seed
means) and threshold ``t``:

- the spread ``s`` of ``q`` is propagated from the sample standard deviations (ddof 1) of its
  operands over seeds: ``s = sqrt(s_a**2 + s_b**2)`` for a difference, ``|q| * sqrt((s_a/a)**2 +
  (s_b/b)**2)`` for a ratio, ``s_a`` for one metric; an operand with one seed has std 0, so with
  n = 1 a check is never inconclusive by spread;
- **inconclusive** when ``s > 0`` and ``|q - t| <= s`` (the difference is within the seed spread);
- otherwise **reproduced** when ``q op t`` holds, else **not reproduced**.

A claim with several checks is not reproduced if any check is, else inconclusive if any is, else
reproduced. Its optional ``guard`` checks say whether the rows exercise the method at all; a guard
that does not hold makes the claim inconclusive, with the guard's reason. A claim whose operands
have no result here is **not testable here**, with the reason (the rows' ``not_run_here``, the
claim's ``not_testable``, or the missing row / metric / benchmark file).
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence, Union

__all__ = ["M", "Bench", "Compare", "Ratio", "Bound", "Near", "Guard", "Claim", "Stat", "CheckResult", "Verdict",
           "REPRODUCED", "NOT_REPRODUCED", "INCONCLUSIVE", "NOT_TESTABLE", "VERDICTS", "evaluate", "seed_stats",
           "fmt_value", "check_claim_rows", "reported_within"]

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_TESTABLE = "reproduced", "not reproduced", "inconclusive", "not testable here"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_TESTABLE)
OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


@dataclass(frozen=True)
class M:
    """One metric of one row: the mean (± std, n) over the seeds of the row's result files."""
    row: str
    metric: str


@dataclass(frozen=True)
class Bench:
    """One number of a benchmark file ``<bench_dir>/<file>.json``: ``key`` of the entry of its
    ``cases`` list whose fields equal ``where`` (one measurement: n = 1)."""
    file: str
    key: str
    where: tuple = ()  # ((field, value), ...)


Operand = Union[M, Bench]


def _check_op(op: str) -> None:
    if op not in OPS:
        raise ValueError(f"unknown comparison {op!r}; valid: {', '.join(OPS)}")


@dataclass(frozen=True)
class Compare:
    """``a - b  op  margin`` (e.g. SPSN-SB ``test/acc`` > LIF ``test/acc``)."""
    a: Operand
    op: str
    b: Operand
    margin: float = 0.0

    def __post_init__(self):
        _check_op(self.op)


@dataclass(frozen=True)
class Ratio:
    """``a / b  op  value`` (e.g. LIF epoch time / SPSN epoch time >= 10)."""
    a: Operand
    b: Operand
    op: str
    value: float

    def __post_init__(self):
        _check_op(self.op)


@dataclass(frozen=True)
class Bound:
    """``a  op  value`` (e.g. ANN − SNN gap <= 0.015)."""
    a: Operand
    op: str
    value: float

    def __post_init__(self):
        _check_op(self.op)


@dataclass(frozen=True)
class Near:
    """``|a - value| <= tol``: a reported value reproduced within a tolerance."""
    a: Operand
    value: float
    tol: float


Check = Union[Compare, Ratio, Bound, Near]


@dataclass(frozen=True)
class Guard:
    """A precondition: when ``check`` does not hold, the rows do not exercise the method and the
    claim is inconclusive, saying ``reason`` (e.g. "learned leaks did not move")."""
    check: Check
    reason: str


@dataclass(frozen=True)
class Claim:
    id: str
    statement: str  # the paper's claim, quoted or paraphrased
    source: str  # where the paper says it ("abstract", "official README table", ...)
    scale: str  # the scale of the rows it is tested on ("mini" or "full"; "bench" for benchmark-only claims)
    checks: tuple  # Check, ... (all must hold)
    guards: tuple = ()  # Guard, ...
    not_testable: str = ""  # why it cannot be tested here at all (overrides the rows' reasons)
    explanation: str = ""  # hand-written best explanation shown when it is not reproduced

    def __post_init__(self):
        if not self.checks:
            raise ValueError(f"claim {self.id}: no checks")

    def operands(self) -> list:
        out = []
        for c in list(self.checks) + [g.check for g in self.guards]:
            out += [c.a] + ([c.b] if isinstance(c, (Compare, Ratio)) else [])
        return out

    def rows(self) -> list[str]:
        return list(dict.fromkeys(o.row for o in self.operands() if isinstance(o, M)))


@dataclass(frozen=True)
class Stat:
    mean: float
    std: float  # sample std over seeds (ddof 1); 0 for n = 1
    n: int


def seed_stats(values: Sequence[float]) -> Stat:
    """Mean, sample standard deviation (ddof 1, 0 when n = 1) and n of per-seed values."""
    n = len(values)
    if n == 0:
        raise ValueError("no values")
    mean = math.fsum(values) / n
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return Stat(mean, std, n)


@dataclass(frozen=True)
class CheckResult:
    text: str  # "fsdd_sb test/acc − fsdd_lif test/acc > 0"
    verdict: str
    q: float  # the quantity
    spread: float
    threshold: float
    operands: tuple  # ((label, Stat), ...)
    numbers: str  # the deciding numbers, formatted


@dataclass(frozen=True)
class Verdict:
    claim: Claim
    verdict: str
    checks: tuple = ()  # CheckResult, ...
    guards: tuple = ()  # CheckResult, ...
    reason: str = ""  # why not testable / why inconclusive by a guard
    sentence: str = ""  # plain sentence for a "not reproduced" verdict
    rows: tuple = ()  # the rows it was computed from


class _Missing(Exception):
    pass


def _is_pct(metric: str) -> bool:
    return metric.endswith("acc") or "/acc" in metric or metric.endswith("ann_minus_snn")


def fmt_value(metric: str, v: float, std: Optional[float] = None, n: Optional[int] = None, digits: int = 3) -> str:
    """``88.60 ± 0.30 % (n=3)`` for accuracies (fractions shown as %), ``0.291 ± 0.004 (n=3)`` else
    (``digits`` significant digits)."""
    if _is_pct(metric):  # a difference of accuracies is in points, an accuracy in %
        unit = " pt" if metric.endswith("_minus_snn") else " %"
        body = f"{100 * v:.2f}" + (f" ± {100 * std:.2f}" if std is not None else "") + unit
    else:
        f = (lambda x: f"{x:.{digits}g}") if abs(v) >= 1e-3 or v == 0 else (lambda x: f"{x:.2e}")
        body = f(v) + (f" ± {f(std)}" if std is not None else "")
    return body + (f" (n={n})" if n is not None else "")


def _label(o: Operand) -> str:
    if isinstance(o, M):
        return f"{o.row} {o.metric}"
    where = ", ".join(f"{k}={v}" for k, v in o.where)
    return f"{o.file} {o.key}" + (f" [{where}]" if where else "")


def _metric(o: Operand) -> str:
    return o.metric if isinstance(o, M) else o.key


def _operand(o: Operand, values: Mapping, benches: Mapping) -> Stat:
    if isinstance(o, M):
        vs = values.get(o.row)
        if not vs:
            raise _Missing(f"no result of row {o.row}")
        got = [r.get(o.metric) for r in vs]
        if any(v is None for v in got):
            raise _Missing(f"metric {o.metric} missing from the results of row {o.row} (rerun the row)")
        return seed_stats([float(v) for v in got])
    data = benches.get(o.file)
    if data is None:
        raise _Missing(f"no benchmark file {o.file}.json")
    cases = [c for c in data.get("cases", []) if all(c.get(k) == v for k, v in o.where)]
    if len(cases) != 1 or cases[0].get(o.key) is None:
        raise _Missing(f"benchmark {o.file}.json has no single case {dict(o.where)} with {o.key}")
    return Stat(float(cases[0][o.key]), 0.0, 1)


def _run_check(c: Check, values: Mapping, benches: Mapping) -> CheckResult:
    a = _operand(c.a, values, benches)
    ops = [(_label(c.a), a)]
    if isinstance(c, (Compare, Ratio)):
        b = _operand(c.b, values, benches)
        ops.append((_label(c.b), b))
    if isinstance(c, Compare):
        q, s, t, op = a.mean - b.mean, math.hypot(a.std, b.std), c.margin, c.op
        text = f"{_label(c.a)} − {_label(c.b)} {op} {c.margin:g}"
        unit = _metric(c.a)
        if _is_pct(unit):
            qtxt = f"difference {100 * q:+.2f}" + (f" ± {100 * s:.2f}" if s else "") + " pt"
        else:
            qtxt = f"difference {q:+.3g}" + (f" ± {s:.2g}" if s else "")
    elif isinstance(c, Ratio):
        if b.mean == 0:
            raise _Missing(f"{_label(c.b)} is 0: the ratio is undefined")
        q, t, op = a.mean / b.mean, c.value, c.op
        s = abs(q) * math.hypot(a.std / a.mean if a.mean else 0.0, b.std / b.mean)
        text = f"{_label(c.a)} / {_label(c.b)} {op} {c.value:g}"
        qtxt = f"ratio {q:.2f}×" + (f" ± {s:.2f}" if s else "")
    elif isinstance(c, Bound):
        q, s, t, op = a.mean, a.std, c.value, c.op
        text = f"{_label(c.a)} {op} {fmt_value(_metric(c.a), c.value)}"
        qtxt = ""
    else:
        q, s, t, op = abs(a.mean - c.value), a.std, c.tol, "<="
        text = f"|{_label(c.a)} − {fmt_value(_metric(c.a), c.value)}| <= {fmt_value(_metric(c.a), c.tol)}"
        qtxt = "off by " + (f"{100 * q:.2f} pt" if _is_pct(_metric(c.a)) else f"{q:.3g}")
    if s > 0 and abs(q - t) <= s:
        verdict = INCONCLUSIVE
    else:
        verdict = REPRODUCED if OPS[op](q, t) else NOT_REPRODUCED
    nums = " vs ".join(f"{lab}: {fmt_value(_metric(o), st.mean, st.std, st.n)}"
                       for (lab, st), o in zip(ops, [c.a] + ([c.b] if len(ops) > 1 else [])))
    return CheckResult(text, verdict, q, s, t, tuple(ops), nums + (f" ({qtxt})" if qtxt else ""))


def _combine(verdicts: Sequence[str]) -> str:
    for v in (NOT_REPRODUCED, INCONCLUSIVE):
        if v in verdicts:
            return v
    return REPRODUCED


def evaluate(claim: Claim, values: Mapping[str, Sequence[Mapping]], benches: Mapping[str, dict] = None,
             not_run_here: Mapping[str, Optional[str]] = None) -> Verdict:
    """The verdict of ``claim``: a pure function of its inputs.

    ``values``: row id -> the per-seed ``metrics`` dicts of that row at ``claim.scale``;
    ``benches``: benchmark file stem -> its loaded JSON; ``not_run_here``: row id -> the row's
    reason for not running here (used when a row has no result).
    """
    benches, not_run_here = benches or {}, not_run_here or {}
    rows = tuple(claim.rows())
    if claim.not_testable:
        return Verdict(claim, NOT_TESTABLE, reason=claim.not_testable, rows=rows)
    try:
        checks = tuple(_run_check(c, values, benches) for c in claim.checks)
        guards = tuple(_run_check(g.check, values, benches) for g in claim.guards)
    except _Missing as e:
        missing = [r for r in rows if not values.get(r)]
        reasons = [not_run_here[r] for r in missing if not_run_here.get(r)]
        return Verdict(claim, NOT_TESTABLE, reason=reasons[0] if reasons else str(e), rows=rows)
    failed = [g for g, res in zip(claim.guards, guards) if res.verdict != REPRODUCED]
    if failed:
        return Verdict(claim, INCONCLUSIVE, checks, guards, rows=rows,
                       reason="the rows do not exercise the method (" + "; ".join(g.reason for g in failed) + ")")
    verdict = _combine([c.verdict for c in checks])
    sentence = ""
    if verdict == NOT_REPRODUCED:
        bad = [c for c in checks if c.verdict == NOT_REPRODUCED]
        sentence = " ".join(f"Expected {c.text}; measured {c.numbers}." for c in bad)
        if claim.explanation:
            sentence += " " + claim.explanation.strip()
    elif verdict == INCONCLUSIVE:
        close = [c for c in checks if c.verdict == INCONCLUSIVE]
        sentence = " ".join(f"{c.text}: the difference from the threshold is within the seed spread "
                            f"({c.numbers})." for c in close)
    return Verdict(claim, verdict, checks, guards, sentence=sentence, rows=rows)


def reported_within(rows: Sequence, metric: str, tol: float) -> tuple:
    """``Near`` checks: each full-scale row's ``metric`` within ``tol`` of the value the paper reports
    (``Row.reported``)."""
    return tuple(Near(M(r.id, metric), r.reported[metric], tol) for r in rows
                 if "full" in r.scales and r.reported.get(metric) is not None)


def claim_ids_unique(claims: Sequence[Claim]) -> None:
    ids = [c.id for c in claims]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ValueError(f"duplicate claim ids {dup}")


def check_claim_rows(paper: str, claims: Sequence[Claim], row_ids: Sequence[str]) -> None:
    """Fail early (at registration) when a claim names a row the paper does not have."""
    claim_ids_unique(claims)
    for c in claims:
        bad = [r for r in c.rows() if r not in row_ids]
        if bad:
            raise ValueError(f"paper {paper}: claim {c.id} names unknown rows {bad}; rows: {', '.join(row_ids)}")

