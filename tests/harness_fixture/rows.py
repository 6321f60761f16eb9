from common.registry import Row, register_paper

register_paper("selftest", "harness self-test (tests only)", "n/a", [
    Row(id="snn", dataset="MNIST", architecture="784-32 LIF-10", time_steps=4, reported={"test/acc": None},
        scales=("mini", "smoke")),
    Row(id="staged", dataset="MNIST", architecture="784-32 LIF-10", time_steps=4, reported={"test/acc": None},
        scales=("mini", "smoke")),
])
