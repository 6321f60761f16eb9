"""End-to-end tests of scripts/reproduce.py on the tiny selftest paper (tests/harness_fixture)."""
import json

import pytest
import lightning as L
import torch
import yaml
from omegaconf import OmegaConf
from torch.utils.data import TensorDataset

from common.data.base import ArrayDataModule
from common.harness import RunContext

from common.registry import Row, get_paper, get_row, list_papers
from tests.harness_fixture.cli import reproduce, results


def _results_metrics(res):
    """Metrics that a seeded run must repeat exactly (wall-clock timings are measurements, not results)."""
    return {k: v for k, v in res["metrics"].items() if "seconds" not in k}


def _weights(tmp, stage_glob):
    (ckpt,) = sorted((tmp / "runs" / "selftest" / "_stages").glob(f"{stage_glob}/checkpoints/last.ckpt"))
    return torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]


def test_unknown_paper_and_row_list_the_valid_ones(tmp_path):
    p = reproduce(tmp_path, "paper=nope", check=False)
    assert p.returncode != 0 and "unknown paper 'nope'" in p.stderr + p.stdout and "selftest" in p.stderr + p.stdout
    p = reproduce(tmp_path, "paper=selftest", "row=nope", check=False)
    assert p.returncode != 0 and "snn" in p.stderr + p.stdout and "staged" in p.stderr + p.stdout
    p = reproduce(tmp_path, "paper=selftest", "scale=huge", check=False)  # scale is a Hydra config group
    out = p.stderr + p.stdout
    assert p.returncode != 0 and "scale/huge" in out and all(s in out for s in ("full", "mini", "smoke"))
    with pytest.raises(KeyError, match="registered papers"):
        get_paper("nope")


def test_registry_lists_papers():
    assert "selftest" not in list_papers()  # plugins are only loaded when asked for


def test_seeded_cpu_run_repeats_bit_exactly(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    reproduce(a, "paper=selftest", "row=snn", "scale=smoke", "trainer.limit_train_batches=4")
    reproduce(b, "paper=selftest", "row=snn", "scale=smoke", "trainer.limit_train_batches=4")
    ra, rb = results(a)["snn"], results(b)["snn"]
    assert _results_metrics(ra) == _results_metrics(rb)
    wa, wb = _weights(a, "train-*"), _weights(b, "train-*")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    # a different seed gives different weights (the test can fail)
    c = tmp_path / "c"
    reproduce(c, "paper=selftest", "row=snn", "scale=smoke", "trainer.limit_train_batches=4", "seed=1", "threads=1")
    wc = _weights(c, "train-*")
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)
    # provenance is recorded, with the settings the run applied (threads, determinism), not the ones before it
    prov, rc = ra["provenance"], results(c)["snn"]
    assert set(prov) >= {"git", "hardware", "versions", "determinism"} and ra["seed"] == 0 and ra["scale"] == "smoke"
    assert ra["data_seed"] == rc["data_seed"] == 0 and ra["schema"] == 2
    assert rc["provenance"]["hardware"]["torch_threads"] == 1 and prov["hardware"]["torch_threads"] == torch.get_num_threads()
    assert prov["determinism"]["deterministic_algorithms"] is True


def test_killed_staged_run_resumes_to_the_same_result(tmp_path):
    common = ["paper=selftest", "row=staged", "scale=smoke", "trainer.max_epochs=3", "trainer.limit_train_batches=3"]
    ref = tmp_path / "ref"
    reproduce(ref, *common)
    crashed = tmp_path / "crashed"
    crash = ["+callbacks.crash._target_=tests.harness_fixture.runner.CrashAfterEpoch",
             "+callbacks.crash.epoch=2", "+callbacks.crash.stage=fine"]
    p = reproduce(crashed, *common, *crash, check=False)
    assert p.returncode == 17, p.stderr[-2000:]
    # stage 'pre' finished, stage 'fine' has an epoch checkpoint but no done marker
    stages = crashed / "runs" / "selftest" / "_stages"
    assert len(list(stages.glob("pre-*/done.json"))) == 1
    assert not list(stages.glob("fine-*/done.json")) and list(stages.glob("fine-*/checkpoints/last.ckpt"))
    p = reproduce(crashed, *common)
    assert "finished earlier" in p.stdout and "resuming from" in p.stdout
    r_ref, r_res = results(ref)["staged"], results(crashed)["staged"]
    assert _results_metrics(r_ref) == _results_metrics(r_res)
    wa, wb = _weights(ref, "fine-*"), _weights(crashed, "fine-*")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_nan_loss_stops_with_clear_message_and_keeps_checkpoint(tmp_path):
    p = reproduce(tmp_path, "paper=selftest", "row=snn", "scale=smoke", "trainer.max_epochs=3",
                  "trainer.limit_train_batches=3", "+callbacks.poison._target_=tests.harness_fixture.runner.PoisonWeights",
                  "+callbacks.poison.epoch=1", check=False)
    assert p.returncode != 0
    assert "training loss became nan at epoch 1" in p.stderr and "last good checkpoint" in p.stderr
    state = _weights(tmp_path, "train-*")  # epoch 0's checkpoint survives, with finite weights
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def test_invalid_config_value_fails_at_construction_naming_the_field(tmp_path):
    p = reproduce(tmp_path, "paper=selftest", "row=snn", "scale=smoke", "module.model._args_.2.threshold=-1",
                  check=False)
    assert p.returncode != 0 and "threshold must be a positive" in p.stderr
    p = reproduce(tmp_path, "paper=selftest", "row=snn", "scale=smoke", "module.model._args_.0.time_steps=0", check=False)
    assert p.returncode != 0 and "time_steps (T) must be an integer >= 1" in p.stderr


def test_wandb_offline_writes_run_files(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    reproduce(tmp_path, "paper=selftest", "row=snn", "scale=smoke", "logger=wandb")
    runs = list((tmp_path / "runs" / "selftest").glob("snn/*/logs/wandb/offline-run-*"))
    assert runs, "no offline W&B run directory written"
    assert any(f.suffix == ".wandb" for r in runs for f in r.iterdir())
    tables = [p.name for r in runs for p in r.rglob("*.table.json")]
    assert any("energy_layers" in t for t in tables), tables  # the per-layer energy table was logged
    images = [p.name for r in runs for p in r.rglob("*.png")]
    assert any("spike_rates" in i for i in images), images  # and the per-layer spike-rate plot


def test_ddp_cpu_matches_single_process(tmp_path):
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    common = ["paper=selftest", "row=snn", "scale=smoke", "trainer.max_epochs=2", "trainer.limit_train_batches=null",
              "trainer.limit_val_batches=null", "trainer.limit_test_batches=null", "data.test_subset=1000"]
    reproduce(single, *common)
    # two processes with half the batch each: the same effective batch of 32
    reproduce(ddp, *common, "trainer=ddp_cpu", "data.batch_size=16", timeout=900)
    rs, rd = results(single)["snn"]["metrics"], results(ddp)["snn"]["metrics"]
    # same data order is not guaranteed (DistributedSampler), so training agrees within noise ...
    assert abs(rs["test/acc"] - rd["test/acc"]) < 0.06, (rs, rd)
    assert rd["test/acc"] > 0.5  # it learned, in both
    # ... while the DDP-reduced evaluation metrics cover the whole test set exactly once
    assert rs["test/energy/samples"] == rd["test/energy/samples"] == 1000
    assert abs(rs["test/energy/spike_rate"] - rd["test/energy/spike_rate"]) < 0.25 * rs["test/energy/spike_rate"]


def _job_cfgs(tmp, *overrides):
    """The configs ``--cfg job`` prints, one per row and seed (no training)."""
    p = reproduce(tmp, "paper=selftest", "row=snn", *overrides, "--cfg", "job")
    return list(yaml.safe_load_all(p.stdout))


def test_cfg_job_shows_the_row_with_its_scale_block_and_the_command_line_wins(tmp_path):
    (cfg,) = _job_cfgs(tmp_path, "scale=smoke")
    # what the row runs: its runner, model and data
    assert cfg["runner"] == "common.harness.runners.train_test" and cfg["module"]["model"]["_target_"] == "torch.nn.Sequential"
    assert cfg["data"]["_target_"] == "common.data.mnist.MNISTDataModule" and cfg["data"]["train_subset"] == 512
    # experiment (max_epochs 3, test_ckpt best) < generic smoke (max_epochs 1, limit_val 1) < row smoke block
    assert cfg["trainer"]["max_epochs"] == 1 and cfg["trainer"]["limit_val_batches"] == 2
    assert cfg["test_ckpt"] == "last" and cfg["data"]["eval_batch_size"] == 64 and "scales" not in cfg
    # < command line, for dotted and non-dotted keys alike
    (cli,) = _job_cfgs(tmp_path, "scale=smoke", "test_ckpt=best", "seed=4", "trainer.limit_val_batches=3",
                       "data.eval_batch_size=32", "trainer.max_epochs=2")
    assert cli["test_ckpt"] == "best" and cli["seed"] == 4 and cli["trainer"]["limit_val_batches"] == 3
    assert cli["data"]["eval_batch_size"] == 32 and cli["trainer"]["max_epochs"] == 2


def test_seeds_default_per_scale_and_an_explicit_seed_runs_alone(tmp_path):
    assert [c["seed"] for c in _job_cfgs(tmp_path, "scale=mini")] == [0, 1, 2]
    assert [c["seed"] for c in _job_cfgs(tmp_path, "scale=smoke")] == [0]
    assert [c["seed"] for c in _job_cfgs(tmp_path, "scale=mini", "seed=2")] == [2]
    assert [c["seed"] for c in _job_cfgs(tmp_path, "scale=mini", "seeds=[3,4]")] == [3, 4]


def test_fake_data_is_refused_at_mini(tmp_path):
    p = reproduce(tmp_path, "paper=selftest", "row=snn", "scale=mini", "+data.fake=true", check=False)
    assert p.returncode != 0 and "data.fake=true" in p.stderr + p.stdout and "scale=smoke" in p.stderr + p.stdout
    assert not (tmp_path / "results").exists()


def test_multirun_over_seeds_writes_one_result_file_per_seed(tmp_path):
    fast = ["trainer.max_epochs=1", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1",
            "trainer.limit_test_batches=1"]
    reproduce(tmp_path, "paper=selftest", "row=snn", "scale=mini", "seed=0,1", *fast, multirun=True)
    files = sorted((tmp_path / "results" / "selftest" / "snn").glob("*.json"))
    assert [f.name for f in files] == ["seed0.json", "seed1.json"]
    r0, r1 = (json.loads(f.read_text()) for f in files)
    assert (r0["seed"], r1["seed"]) == (0, 1) and r0["schema"] == r1["schema"] == 2 and r0["data_seed"] == r1["data_seed"] == 0
    assert r0["config"]["data"]["test_subset"] == r1["config"]["data"]["test_subset"]


class _Toy(ArrayDataModule):
    def build(self):
        x = torch.arange(100, dtype=torch.float32)[:, None]
        y = torch.zeros(100, dtype=torch.long)
        return TensorDataset(x, y), TensorDataset(x[:50], y[:50]), TensorDataset(x, y)


def test_data_seed_fixes_the_subsets_and_seed_the_training_order():
    a, b = (_Toy(batch_size=10, train_subset=30, test_subset=20, seed=s, data_seed=0) for s in (0, 1))
    assert a.split("test").indices == b.split("test").indices and a.split("train").indices == b.split("train").indices
    order = [torch.cat([x for x, _ in dm.train_dataloader()]).flatten().tolist() for dm in (a, b)]
    assert sorted(order[0]) == sorted(order[1]) and order[0] != order[1]
    c = _Toy(batch_size=10, train_subset=30, test_subset=20, seed=0, data_seed=1)
    assert c.split("test").indices != a.split("test").indices


def _stage_hash(tmp, **cfg):
    base = {"paper": "selftest", "scale": "smoke", "seed": 0, "paths": {"runs_dir": str(tmp)}, "callbacks": {}}
    ctx = RunContext(OmegaConf.create({**base, **cfg}), Row(id="snn", dataset="d", architecture="a", time_steps=1))
    ctx.stage("s", lambda d: {}, depends={"x": 1})
    return ctx.stage_log[-1]["hash"], ctx.run_dir


def test_stage_hash_covers_ckpt_path_callbacks_and_threads(tmp_path):
    ref = _stage_hash(tmp_path)
    assert _stage_hash(tmp_path) == ref  # the same settings reuse the stage
    poison = {"poison": {"_target_": "tests.harness_fixture.runner.PoisonWeights", "epoch": 1}}
    crash = {"crash": {"_target_": "tests.harness_fixture.runner.CrashAfterEpoch", "epoch": 1, "stage": "s"}}
    for changed in ({"ckpt_path": "/x/last.ckpt"}, {"callbacks": poison}, {"threads": 1}, {"data_seed": 1}):
        h, run_dir = _stage_hash(tmp_path, **changed)
        assert h != ref[0] and run_dir != ref[1], changed
    assert _stage_hash(tmp_path, callbacks=crash) == ref  # a result-neutral callback (it only kills the process)


def test_a_misspelt_row_key_is_an_error(tmp_path):
    # the driver's composition accepts any row key (the row is not chosen yet); the row's composition is strict
    p = reproduce(tmp_path, "paper=selftest", "row=snn", "scale=smoke", "module.optimizer.lrr=1", "--cfg", "job",
                  check=False)
    assert p.returncode != 0 and "module.optimizer.lrr" in p.stderr + p.stdout


def test_a_reused_stage_reports_the_code_that_made_it(tmp_path):
    """A stage records the code it ran with; a row that reuses it reports that code (not today's), so a
    stage trained by older code makes the row's result stale; a stage without a record can only be stale."""
    from common.harness.pipeline import run_stage
    from common.harness.provenance import merge_stage_code, source_files

    calls = []
    first, info = run_stage(tmp_path, "s", lambda d: calls.append(1) or {"x": 1}, {"a": 1}, log=lambda m: None)
    assert not info["reused"] and info["code"]["sources"] == source_files()
    again, info2 = run_stage(tmp_path, "s", lambda d: calls.append(1) or {"x": 2}, {"a": 1}, log=lambda m: None)
    assert again == first and info2["reused"] and len(calls) == 1 and info2["code"] == info["code"]
    today = {"common/a.py": "new", "common/b.py": "same"}
    old = {"sources": {"common/a.py": "old", "common/b.py": "same", "common/other.py": "x"}}
    assert merge_stage_code(today, [("ann", old)]) == {"common/a.py": "old", "common/b.py": "same"}
    assert merge_stage_code(today, [("ann", None)])["<stage ann: code not recorded>"] == "unknown"


class _Loaders(L.LightningDataModule):
    """One loader for every split."""

    def __init__(self, loader):
        super().__init__()
        self.loader = loader

    def train_dataloader(self):
        return self.loader

    def val_dataloader(self):
        return self.loader


def test_last_checkpoint_holds_the_final_epoch_when_validation_gets_worse(tmp_path):
    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))
            self.epochs_run = 0

        def on_train_epoch_start(self):
            self.epochs_run += 1

        def training_step(self, batch, batch_idx):
            return (self.w - 1.0).pow(2).sum()

        def validation_step(self, batch, batch_idx):
            self.log("val/acc", 1.0 / (1 + self.current_epoch))  # gets worse every epoch: best = epoch 0

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    base = {"paper": "selftest", "scale": "smoke", "seed": 0, "paths": {"runs_dir": str(tmp_path)}, "callbacks": {},
            "trainer": {"_target_": "lightning.pytorch.Trainer", "max_epochs": 3, "accelerator": "cpu",
                        "enable_progress_bar": False, "enable_model_summary": False}}
    ctx = RunContext(OmegaConf.create(base), Row(id="snn", dataset="d", architecture="a", time_steps=1))
    loader = torch.utils.data.DataLoader(TensorDataset(torch.zeros(4, 1)), batch_size=2)
    trainer = ctx.trainer(tmp_path / "stage", "t")
    trainer.fit(Module(), train_dataloaders=loader, val_dataloaders=loader)
    best = torch.load(tmp_path / "stage" / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=False)
    last = torch.load(tmp_path / "stage" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert best["epoch"] == 0
    assert last["epoch"] == 2
    # a resumed run continues after the last epoch, not after the best one, and the result records the resume
    stage = tmp_path / "stage"
    resumed = Module()
    trainer = ctx.trainer(stage, "t", max_epochs=4)
    ctx.fit(trainer, resumed, _Loaders(loader), stage)
    assert resumed.epochs_run == 1
    assert ctx.extras["resumed_from"] == {"stage": str(stage / "checkpoints" / "last.ckpt")}
