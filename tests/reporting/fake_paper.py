"""A paper for the reporting tests: registered in subprocesses through ``SNN_REPRO_PLUGINS``, or
in-process by the ``fake_paper`` fixture (which restores the registry afterwards)."""
from common.claims import Claim, Compare, M, reported_within
from common.registry import Row, register_paper

ROWS = [
    Row(id="full_x", dataset="D", architecture="net", time_steps=4, reported={"test/acc": 0.9},
        not_run_here="needs a GPU and dataset D"),
    Row(id="mini_a", dataset="D-mini", architecture="net", time_steps=4, reported={"test/acc": None},
        scales=("mini", "smoke")),
    Row(id="mini_b", dataset="D-mini", architecture="net", time_steps=4, reported={"test/acc": None},
        scales=("mini", "smoke")),
]



def register():
    register_paper("zz_fake", "A fake paper", "nobody, 2026", ROWS, claims=(
        Claim(id="a_beats_b", statement="A is more accurate than B", source="abstract", scale="mini",
              checks=(Compare(M("mini_a", "test/acc"), ">", M("mini_b", "test/acc")),)),
        Claim(id="full_within", statement="the table's accuracy within 1 point", source="table 1", scale="full",
              checks=reported_within(ROWS, "test/acc", 0.01)),
    ))


register()
