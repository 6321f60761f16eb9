"""Verdicts of claims over synthetic per-seed metrics (common.claims.evaluate is a pure function)."""
import math

import pytest

from common.claims import (INCONCLUSIVE, NOT_REPRODUCED, NOT_TESTABLE, REPRODUCED, Bench, Bound, Claim, Compare, Guard,
                           M, Near, Ratio, evaluate, seed_stats)


def _runs(**rows):
    """row -> per-seed metrics dicts, from row=[(metric, [v_seed0, v_seed1, ...])...]."""
    out = {}
    for row, metrics in rows.items():
        n = len(next(iter(metrics.values())))
        out[row] = [{k: vs[i] for k, vs in metrics.items()} for i in range(n)]
    return out


A_GT_B = Claim(id="a_gt_b", statement="A beats B", source="abstract", scale="mini",
               checks=(Compare(M("a", "test/acc"), ">", M("b", "test/acc")),),
               explanation="B is the easier case here.")


def test_seed_stats_mean_sample_std_and_n():
    st = seed_stats([1.0, 2.0, 3.0])
    assert (st.mean, st.std, st.n) == (2.0, 1.0, 3)
    assert seed_stats([5.0]).std == 0.0


def test_reproduced_when_the_difference_exceeds_the_spread():
    v = evaluate(A_GT_B, _runs(a={"test/acc": [0.90, 0.91, 0.92]}, b={"test/acc": [0.80, 0.81, 0.79]}))
    assert v.verdict == REPRODUCED
    assert v.checks[0].numbers.startswith("a test/acc: 91.00 ± 1.00 % (n=3) vs b test/acc: 80.00 ± 1.00 % (n=3)")
    assert math.isclose(v.checks[0].spread, math.sqrt(2) * 0.01)


def test_not_reproduced_gives_a_sentence_with_the_numbers_and_the_explanation():
    v = evaluate(A_GT_B, _runs(a={"test/acc": [0.80, 0.81, 0.79]}, b={"test/acc": [0.90, 0.91, 0.92]}))
    assert v.verdict == NOT_REPRODUCED
    assert "80.00 ± 1.00 % (n=3)" in v.sentence and "91.00 ± 1.00 % (n=3)" in v.sentence
    assert "-11.00" in v.sentence and v.sentence.endswith("B is the easier case here.")


def test_inconclusive_when_the_difference_is_inside_the_seed_spread():
    # difference of means 0.005 < combined std sqrt(0.02**2 + 0.005**2)
    v = evaluate(A_GT_B, _runs(a={"test/acc": [0.88, 0.90, 0.92]}, b={"test/acc": [0.89, 0.895, 0.90]}))
    assert v.verdict == INCONCLUSIVE
    assert "within the seed spread" in v.sentence


def test_one_seed_is_never_inconclusive_by_spread():
    v = evaluate(A_GT_B, _runs(a={"test/acc": [0.9001]}, b={"test/acc": [0.9]}))
    assert v.verdict == REPRODUCED and v.checks[0].spread == 0.0
    assert "(n=1)" in v.checks[0].numbers


def test_not_testable_takes_the_rows_reason():
    claim = Claim(id="full", statement="s", source="table", scale="full", checks=(Near(M("big", "test/acc"), 0.9, 0.01),))
    v = evaluate(claim, {}, not_run_here={"big": "needs a GPU and ImageNet"})
    assert (v.verdict, v.reason) == (NOT_TESTABLE, "needs a GPU and ImageNet")
    v = evaluate(A_GT_B, _runs(a={"test/acc": [0.9]}))  # b has no result and no reason
    assert v.verdict == NOT_TESTABLE and "no result of row b" in v.reason
    v = evaluate(A_GT_B, _runs(a={"loss": [0.9]}, b={"test/acc": [0.8]}))  # a lacks the metric
    assert v.verdict == NOT_TESTABLE and "metric test/acc missing" in v.reason
    fixed = Claim(id="x", statement="s", source="a", scale="mini", checks=A_GT_B.checks, not_testable="setup unpublished")
    assert evaluate(fixed, _runs(a={"test/acc": [1.0]}, b={"test/acc": [0.0]})).reason == "setup unpublished"


def test_a_failing_guard_makes_the_claim_inconclusive():
    claim = Claim(id="leak", statement="s", source="a", scale="mini",
                  checks=(Compare(M("a", "spikes"), "<", M("b", "spikes")),),
                  guards=(Guard(Bound(M("a", "leak/max_abs_change"), ">", 1e-3), "learned leaks did not move"),))
    still = _runs(a={"spikes": [0.1], "leak/max_abs_change": [0.0]}, b={"spikes": [0.2]})
    v = evaluate(claim, still)
    assert v.verdict == INCONCLUSIVE and "learned leaks did not move" in v.reason
    moved = _runs(a={"spikes": [0.1], "leak/max_abs_change": [0.05]}, b={"spikes": [0.2]})
    assert evaluate(claim, moved).verdict == REPRODUCED


@pytest.mark.parametrize("check, verdict", [
    (Ratio(M("lif", "sec"), M("sb", "sec"), ">=", 10), NOT_REPRODUCED),  # 30 / 20 = 1.5
    (Ratio(M("lif", "sec"), M("sb", "sec"), ">=", 1.2), REPRODUCED),
    (Bound(M("sb", "gap"), "<=", 0.015), REPRODUCED),
    (Near(M("sb", "test/acc"), 0.95, 0.01), NOT_REPRODUCED),  # off by 2 points
    (Near(M("sb", "test/acc"), 0.935, 0.01), REPRODUCED),
])
def test_ratio_bound_and_near_checks(check, verdict):
    runs = _runs(lif={"sec": [30.0]}, sb={"sec": [20.0], "gap": [0.01], "test/acc": [0.93]})
    claim = Claim(id="c", statement="s", source="a", scale="mini", checks=(check,))
    assert evaluate(claim, runs).verdict == verdict


def test_bench_operand_and_several_checks():
    bench = {"speed": {"cases": [{"case": "network", "T": 10000, "ratio": 30.0}, {"case": "layer", "T": 10000, "ratio": 15.0}]}}
    claim = Claim(id="b", statement="s", source="a", scale="mini",
                  checks=(Bound(Bench("speed", "ratio", (("case", "network"), ("T", 10000))), ">=", 20),
                          Bound(Bench("speed", "ratio", (("case", "layer"), ("T", 10000))), ">=", 20)))
    v = evaluate(claim, {}, bench)
    assert v.verdict == NOT_REPRODUCED and [c.verdict for c in v.checks] == [REPRODUCED, NOT_REPRODUCED]
    assert evaluate(claim, {}, {}).verdict == NOT_TESTABLE


def test_unknown_comparison_and_unknown_row_are_refused():
    with pytest.raises(ValueError, match="unknown comparison"):
        Compare(M("a", "x"), "=>", M("b", "x"))
    from common.registry import Row, register_paper

    with pytest.raises(ValueError, match="unknown rows"):
        register_paper("zz_never_registered", "t", "c", [Row("a", "D", "n", 1)], claims=(A_GT_B,))
