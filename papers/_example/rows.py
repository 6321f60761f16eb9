from common.registry import Row, register_paper

register_paper("_example", "harness self-test", "n/a", [
    Row(id="mlp", dataset="MNIST", architecture="MLP", time_steps=None, reported={"test/acc": None},
        scales=("mini", "smoke")),
])
