"""Distributed runs (``trainer=ddp_cpu``: Lightning's DDP, 2 CPU processes over gloo) finish cleanly.

Lightning's launcher re-executes the whole command for rank 1 when the first ``fit`` starts, so rank 1 also
runs the stage checks, DIET's plain loops (evaluation, op counts, threshold search) and the result writing.
These tests check that every stage file is written once (by rank 0), that the plain loops give every rank
the single-process numbers, that a run finishes with exit 0 and no traceback, and that a failure on
rank 1 alone makes the command fail.
"""
from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import torch

from tests.harness_fixture.cli import reproduce, results

KW = dict(num_classes=3, in_channels=1, input_size=8, hidden=[5], dropout_ann_conv=0.0, dropout_ann_fc=0.0,
          dropout_snn=0.0, backend="torch")  # the fused kernels are tested elsewhere


# ------------------------------------------------------------------------- plain loops and stages, 2 ranks
def _loops_and_stage(stage_root: Path) -> dict:
    """DIET's plain loops and a stage, run the same way on every rank (and once without a process group)."""
    from torch.utils.data import DataLoader, TensorDataset

    from common.harness.distributed import world
    from common.harness.pipeline import run_stage
    from papers.diet_snn.models import build_model
    from papers.diet_snn.pipeline import count_test_ops, evaluate
    from papers.diet_snn.threshold import find_thresholds

    torch.manual_seed(0)  # the same network and data on every rank
    net = build_model("vgg_mini", mode="snn", time_steps=2, width_div=8, **KW)
    x, y = torch.randn(16, 1, 8, 8), torch.randint(0, 3, (16,))
    loader = DataLoader(TensorDataset(x, y), batch_size=3)  # 6 batches, the last one of 1 image
    logged: list[str] = []
    thr = find_thresholds(net, x[:8], time_steps=6, chunk=4, log=logged.append)
    calls: list[int] = []

    def stage(d: Path) -> dict:
        calls.append(1)
        return {"rank": world()[0]}

    first = run_stage(stage_root, "s", stage, {"k": 1}, log=lambda m: None)
    again = run_stage(stage_root, "s", stage, {"k": 1}, log=lambda m: None)
    return {
        "thresholds": thr, "model_thresholds": {n: float(m.threshold.detach()) for n, m in net.neurons()},
        "threshold_log_lines": len(logged),
        "acc": evaluate(net, loader, torch.device("cpu"), max_batches=5),
        "ops": count_test_ops(net, loader, torch.device("cpu"), max_batches=5)["totals"],
        "stage": first[0], "stage_reused": [first[1]["reused"], again[1]["reused"]], "stage_calls": len(calls),
    }


def _worker(rank: int, port: int, stage_root: str, q) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        q.put((rank, _loops_and_stage(Path(stage_root))))
    finally:
        dist.destroy_process_group()


def test_plain_loops_and_stages_under_two_processes(tmp_path):
    import queue

    import torch.distributed as dist
    import torch.multiprocessing as mp

    if not dist.is_gloo_available():
        pytest.skip("gloo backend not available")
    single = _loops_and_stage(tmp_path / "single")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(r, port, str(tmp_path / "ddp"), q), daemon=True) for r in (0, 1)]
    for p in procs:
        p.start()
    try:
        out = dict(q.get(timeout=300) for _ in procs)
    except queue.Empty:  # pragma: no cover
        pytest.fail("a DDP worker produced no result")
    finally:
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():  # pragma: no cover
                p.kill()
    assert [p.exitcode for p in procs] == [0, 0]
    r0, r1 = out[0], out[1]
    # threshold search: once, on rank 0 (only it logs), and every rank's model carries its thresholds
    assert r0["threshold_log_lines"] == len(single["thresholds"]) and r1["threshold_log_lines"] == 0
    assert r0["thresholds"] == r1["thresholds"] == r1["model_thresholds"] == single["thresholds"]
    # evaluation and op counts: each rank takes its share of the 5 batches, the sums give every rank
    # exactly the single-process numbers (direct encoding: deterministic)
    assert r0["acc"] == r1["acc"] == single["acc"]
    assert r0["ops"]["samples"] == r1["ops"]["samples"] == single["ops"]["samples"] == 15
    for k in ("macs", "acs", "spike_rate", "energy_nb_pj"):
        assert r0["ops"][k] == r1["ops"][k] == pytest.approx(single["ops"][k], rel=1e-9), k
    # stage: every rank runs it, rank 0's result reaches every rank; reused by both the second time
    assert r0["stage"] == r1["stage"] == {"rank": 0}
    assert r0["stage_reused"] == r1["stage_reused"] == [False, True] and r0["stage_calls"] == r1["stage_calls"] == 1
    done = list((tmp_path / "ddp").glob("s-*/done.json"))
    assert len(done) == 1 and json.loads(done[0].read_text())["result"] == {"rank": 0}
    assert not list((tmp_path / "ddp").glob("s-*/*.tmp"))


# ------------------------------------------------------------------------- whole commands
def _stage_names(tmp: Path, paper: str) -> list[str]:
    """The stage of every finished stage directory (``<stage>-<hash>``); one ``done.json`` each."""
    root = tmp / "runs" / paper / "_stages"
    dirs = sorted(d for d in root.iterdir() if d.is_dir())
    assert all(len(list(d.glob("done.json"))) == 1 and not list(d.glob("*.tmp")) for d in dirs), dirs
    return sorted(d.name.rsplit("-", 1)[0] for d in dirs)


def _run_both(tmp: Path, common: list[str], ddp_extra: list[str], paper: str) -> tuple[dict, dict]:
    single, ddp = tmp / "single", tmp / "ddp"
    reproduce(single, *common, plugins=False)
    p = reproduce(ddp, *common, "trainer=ddp_cpu", *ddp_extra, plugins=False, timeout=900)
    assert "Traceback" not in p.stderr, p.stderr[-5000:]
    assert _stage_names(ddp, paper) == _stage_names(single, paper)
    assert len(list((ddp / "runs" / paper).glob("*/smoke-seed*/result.json"))) == 1
    (rs,), (rd,) = results(single, paper).values(), results(ddp, paper).values()
    return rs["metrics"], rd["metrics"]


# DDP shards the training batches (Lightning's DistributedSampler, its own shuffling): with half the batch
# per rank both runs take the same number of optimizer steps of the same effective batch, but on other
# images, so the weights and every metric differ a little. At smoke the networks are barely trained (2 steps),
# so accuracies sit near chance on 16-32 test images (one image = 1/16): they must agree within 4 images;
# spike rates and energy ratios, which barely move in 2 steps, within 10 %.
ACC_TOL, REL_TOL = 0.25, 0.10


def test_diet_row_under_ddp_matches_single_process(tmp_path):
    # the CIFAR-10 array files are written once here and read by both ranks: the smoke block's data.fake writer
    # rewrites its temp folder in every process that builds the data module, which two ranks would race on
    from common.data.cifar10_arrays import write_fake_cifar10_arrays

    data = write_fake_cifar10_arrays(tmp_path / "data", n_train=100, n_test=20)
    ms, md = _run_both(tmp_path, ["paper=diet_snn", "row=cifar_vgg_t5", "scale=smoke", "data.fake=false",
                                  f"data.data_dir={data}", f"data.cache_dir={tmp_path / 'cache'}"],
                       ["data.batch_size=8"], "diet_snn")
    assert set(ms) == set(md)
    for k in ("ann/test/acc", "snn_converted/test/acc", "test/acc"):
        assert 0 <= md[k] <= 1 and abs(ms[k] - md[k]) <= ACC_TOL, (k, ms[k], md[k])
    for k in ("energy_ratio/papers", "energy_ratio/neurobench", "spike_rate/mean"):
        assert md[k] == pytest.approx(ms[k], rel=REL_TOL), (k, ms[k], md[k])


def test_spsn_row_under_ddp_matches_single_process(tmp_path):
    ms, md = _run_both(tmp_path, ["paper=spsn", "row=fsdd_relu", "scale=smoke"], ["data.batch_size=4"], "spsn")
    # the 8 test images are split 4 + 4 over the ranks; the reduced accuracy covers all 8
    assert 0 <= md["test/acc"] <= 1 and abs(ms["test/acc"] - md["test/acc"]) <= ACC_TOL, (ms, md)
    assert md["test/loss"] == pytest.approx(ms["test/loss"], rel=REL_TOL)


def test_a_failing_rank_fails_the_command(tmp_path):
    p = reproduce(tmp_path, "paper=selftest", "row=snn", "scale=smoke", "trainer=ddp_cpu",
                  "+callbacks.fail._target_=tests.harness_fixture.runner.FailOnRank", "+callbacks.fail.rank=1",
                  check=False, timeout=600)
    assert p.returncode != 0, p.stdout[-3000:]
    assert "FailOnRank: rank 1 fails on purpose" in p.stderr
