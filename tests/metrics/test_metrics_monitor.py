"""OpsMonitor end to end: hooks, per-sample normalisation, energy, activity, table, DDP-style merging."""
import pytest
import torch
from torch import nn

from common.layers import TimeDistributed
from common.metrics import (
    EnergyModel,
    LayerOps,
    OpsMonitor,
    SpikeActivity,
    energy_ratio,
    memory_footprint,
    parameter_count,
)
from common.neurons.modules import Integrator, SpikingNeuron

from .test_metrics_ops import make_conv, make_linear


class StepNeuron(SpikingNeuron):
    """Deterministic test neuron: spike iff input > 0 (any layout)."""

    def forward(self, x):
        return (x > 0).to(x.dtype)


def ann():
    # conv 1->2 (k3, s2, p1) on 4x4 -> 2x2x2 = 8 features -> Linear(8, 3)
    return nn.Sequential(make_conv(), nn.Flatten(), make_linear())


def test_ann_macs_energy_and_outputs_unchanged():
    torch.manual_seed(0)
    model = ann().eval()
    x = torch.rand(5, 1, 4, 4) + 0.1
    with torch.no_grad():
        ref = model(x)
        mon = OpsMonitor(model)
        with mon:
            y = model(x)
        assert not mon.attached
        y2 = model(x)  # hooks removed: nothing more counted
    assert torch.equal(ref, y) and torch.equal(ref, y2)
    t = mon.compute()
    assert t["samples"] == 5
    # per sample: conv 9*1*2*2*2 = 72 MACs + linear 8*3 = 24 MACs (analog conv output) = 96 MACs
    assert t["macs"] == 96 and t["acs"] == 0
    # E = 96 * 4.6 pJ = 441.6 pJ
    assert t["energy_pj"] == pytest.approx(441.6)
    # NeuroBench: conv 29 + linear (conv output all non-zero thanks to the bias): 2 + 6*3 = 20 -> 49
    assert t["nb_eff_macs"] == 49 and t["nb_dense"] == 50 + 24
    # parameters: conv 2*9 + 2 = 20, linear 24 + 3 = 27 -> 47, float32 -> 188 bytes
    assert t["params_total"] == 47 and t["params_trainable"] == 47 and t["memory_bytes"] == 188
    # custom constants
    mon.energy = EnergyModel(e_mac_pj=3.1, e_ac_pj=0.1)
    assert mon.compute()["energy_pj"] == pytest.approx(96 * 3.1)


def test_snn_time_distributed_and_activity():
    T, B = 3, 2
    model = nn.Sequential(
        TimeDistributed(make_conv()),
        TimeDistributed(nn.Flatten(), make_linear()),
        Integrator(),
    )
    # binary input spikes [T, B, 1, 4, 4]: sample 0 has a spike at (1,1) in every step, sample 1 none
    x = torch.zeros(T, B, 1, 4, 4)
    x[:, 0, 0, 1, 1] = 1
    mon = OpsMonitor(model, batch_dim=1)
    with mon, torch.no_grad():
        model(x)
    rows = mon.table()
    assert [r["name"] for r in rows] == ["0.0", "1.1"] and [r["type"] for r in rows] == ["Conv2d", "Linear"]
    conv, lin = rows
    # conv: spike at (1,1) reaches 2x2 output positions x 2 channels = 8 ACs per step;
    # 3 steps x 8 / 2 samples = 12 ACs per sample, no MACs
    assert conv["acs"] == 12 and conv["macs"] == 0 and conv["input"] == "spike"
    # input spike rate: 3 spikes among T*B*16 = 96 inputs
    assert conv["in_rate"] == pytest.approx(3 / 96)
    # linear input is analog (conv output + bias): T * 8*3 = 72 MACs per sample
    assert lin["macs"] == 72 and lin["acs"] == 0 and lin["input"] == "analog"
    t = mon.compute()
    assert t["energy_pj"] == pytest.approx(12 * 0.9 + 72 * 4.6)
    assert mon.neurons == []  # Integrator does not emit spikes


def test_loop_over_time_manual_samples_and_spike_rate():
    T, B = 4, 2
    fc, neuron = nn.Linear(3, 2, bias=False), StepNeuron(step_mode="single")
    with torch.no_grad():
        fc.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    model = nn.Sequential(fc, neuron)
    # 4 steps of [B=2, 3] spike inputs; neuron output = first two features of the input
    xs = torch.zeros(T, B, 3)
    xs[0, 0] = torch.tensor([1.0, 1.0, 0.0])
    xs[2, 1] = torch.tensor([0.0, 1.0, 1.0])
    mon = OpsMonitor(model, batch_dim=None)
    with mon, torch.no_grad():
        for t in range(T):
            model(xs[t])
        mon.update_samples(B)
    with pytest.raises(RuntimeError):
        OpsMonitor(model).update_samples(1)
    t = mon.compute()
    # input spikes 4, fan-out 2 -> 8 ACs over 2 samples = 4 ACs per sample
    assert t["acs"] == 4 and t["macs"] == 0
    # NeuroBench: spikes in cols 0,1,1,2 with weight nnz per column 1,1,0 -> 3 ACs / 2 samples
    assert t["nb_eff_acs"] == 1.5
    # output spikes: 2 (step 0, sample 0) + 1 (step 2, sample 1) = 3
    # spike rate = 3 / (2 neurons * 4 steps * 2 samples) = 0.1875 spikes per neuron per step
    (act,) = mon.activity()
    assert act["neurons"] == 2
    assert act["spike_rate"] == pytest.approx(3 / 16)
    assert act["spikes_per_neuron"] == pytest.approx(3 / 4)
    assert act["spikes_per_sample"] == pytest.approx(1.5)
    assert t["spike_rate"] == pytest.approx(3 / 16) and t["spike_sparsity"] == pytest.approx(13 / 16)


def test_multi_step_spike_rate():
    neuron = StepNeuron()  # multi-step [T, B, N]
    x = -torch.ones(2, 2, 3)
    x[0, 0, 0] = x[1, 1, 2] = x[1, 0, 1] = 1
    mon = OpsMonitor(nn.Sequential(neuron), batch_dim=1)
    with mon:
        neuron_out = mon.model(x)
    assert neuron_out.sum() == 3
    (act,) = mon.activity()
    # 3 spikes / (3 neurons * 2 steps * 2 samples) = 0.25; per neuron per sample: 3 / (3 * 2) = 0.5
    assert act["spike_rate"] == pytest.approx(0.25) and act["spikes_per_neuron"] == pytest.approx(0.5)
    mon.reset()
    assert mon.activity()[0]["spike_rate"] == 0 and mon.compute()["samples"] == 0


def test_recurrent_models_through_monitor():
    lstm = nn.LSTM(3, 2)
    mon = OpsMonitor(lstm, batch_dim=1)  # input [T=4, B=2, I=3]
    with mon, torch.no_grad():
        lstm(torch.rand(4, 2, 3) + 0.1)
    # per sample: 4 steps x 4H(I+H) = 4 * 40 = 160
    assert mon.compute()["macs"] == 160

    cell = nn.GRUCell(3, 2)
    mon = OpsMonitor(cell, batch_dim=None)
    with mon, torch.no_grad():
        h = None
        for _ in range(4):
            h = cell(torch.rand(2, 3) + 0.1, h)
        mon.update_samples(2)
    # 3H(I+H) = 30 per step per sample x 4 steps = 120 (the first step's hx=None counted densely)
    assert mon.compute()["macs"] == 120


def test_snn_ann_energy_ratio():
    lin_a, lin_s = make_linear(), make_linear()
    ma, ms = OpsMonitor(lin_a), OpsMonitor(lin_s)
    with ma, ms, torch.no_grad():
        lin_a(torch.full((1, 8), 0.5))  # ANN: 24 MACs -> 110.4 pJ
        s = torch.zeros(1, 8)
        s[0, 3] = s[0, 5] = 1
        lin_s(s)  # SNN: 2 spikes x 3 = 6 ACs -> 5.4 pJ
    ann_t, snn_t = ma.compute(), ms.compute()
    assert ann_t["energy_pj"] == pytest.approx(110.4) and snn_t["energy_pj"] == pytest.approx(5.4)
    assert energy_ratio(snn_t, ann_t) == pytest.approx(5.4 / 110.4)
    assert energy_ratio(1.0, 4.0) == 0.25
    # NeuroBench ratio: 2 spikes on columns with 3 weights each -> 6 ACs; ANN NB MACs = 0 + 2 + 6*3 = 20
    assert energy_ratio(snn_t, ann_t, key="energy_nb_pj") == pytest.approx(6 * 0.9 / (20 * 4.6))


def test_table_shape_and_format():
    model = nn.Sequential(TimeDistributed(make_conv()), StepNeuron(), TimeDistributed(nn.Flatten(), make_linear()))
    mon = OpsMonitor(model, batch_dim=1)
    with mon, torch.no_grad():
        model(torch.rand(2, 3, 1, 4, 4))
    rows = mon.table()
    assert len(rows) == 2
    keys = {"name", "type", "params", "input", "in_rate", "out_sparsity", "macs", "acs", "energy_pj",
            "nb_eff_macs", "nb_eff_acs", "nb_dense", "energy_nb_pj", "elementwise", "lookups", "calls"}
    assert all(set(r) == keys for r in rows)
    assert rows[0]["params"] == 20 and rows[1]["params"] == 27 and rows[1]["input"] == "spike"
    # totals are the sums of the rows
    t = mon.compute()
    assert t["energy_pj"] == pytest.approx(sum(r["energy_pj"] for r in rows))
    assert t["macs"] == pytest.approx(sum(r["macs"] for r in rows))
    s = mon.format_table()
    assert "Conv2d" in s and "total" in s and len(mon.activity()) == 1


def test_metric_states_sum_across_processes():
    """Two 'ranks' accumulate separately; merging their states equals one process seeing all."""
    model = ann()
    xa, xb = torch.rand(3, 1, 4, 4), torch.rand(2, 1, 4, 4) - 0.5
    monitors = []
    for x in (xa, xb):
        m = OpsMonitor(model)
        with m, torch.no_grad():
            model(x)
        monitors.append(m)
    single = OpsMonitor(model)
    with single, torch.no_grad():
        model(xa)
        model(xb)
    r0, r1 = monitors
    # what DDP's sync does with dist_reduce_fx="sum": add the states of all ranks
    assert torch.equal(r0.ops.counts + r1.ops.counts, single.ops.counts)
    r0.ops.merge_state(r1.ops)
    r0.spikes.merge_state(r1.spikes)
    assert torch.equal(r0.ops.counts, single.ops.counts) and r0.ops.samples == 5
    assert r0.compute() == single.compute()
    for metric in (LayerOps(2), SpikeActivity(1)):
        assert all(fx is not None for fx in metric._reductions.values())


def test_footprint_helpers():
    m = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    m[0].weight.requires_grad_(False)
    pc = parameter_count(m)
    # linear 12 + 3, batchnorm 3 + 3 -> 21 total, 9 trainable
    assert pc == {"total": 21, "trainable": 9}
    # buffers: running_mean 3 + running_var 3 (float32) + num_batches_tracked (int64, 8 bytes)
    assert memory_footprint(m) == 21 * 4 + 6 * 4 + 8
    assert memory_footprint(m, buffers=False) == 84


def test_inference_mode_and_training_with_grad():
    model = ann()
    mon = OpsMonitor(model)
    x = torch.rand(2, 1, 4, 4) + 0.1
    with torch.inference_mode():  # Lightning's validate/test
        mon.reset()
        with mon:
            model(x)
    with mon:  # later, outside inference mode, with grad and training mode
        model.train()
        y = model(x)
        y.sum().backward()
    assert model[0].weight.grad is not None
    assert mon.compute()["samples"] == 4 and mon.compute()["macs"] == 96


def _ddp_worker(rank, world, port, q):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        torch.manual_seed(rank)
        model = ann()
        mon = OpsMonitor(model)
        x = torch.rand(1 + rank, 1, 4, 4) + 0.1  # rank 0: 1 sample, rank 1: 2 samples
        if rank:
            x[0, 0, 0, 0] = 0.0
        with mon, torch.no_grad():
            model(x)
        t = mon.compute()  # syncs the "sum" states across both ranks
        q.put((rank, t["samples"], t["macs"], t["nb_eff_macs"]))
    finally:
        dist.destroy_process_group()


def test_ddp_sync_two_processes():
    """Real 2-rank gloo run: rank 0 is this process, rank 1 a spawned child (one torch import)."""
    import queue
    import socket

    import torch.distributed as dist
    import torch.multiprocessing as mp

    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("gloo backend not available")
    if dist.is_initialized():
        pytest.skip("a process group already exists in this process")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")  # (fork can deadlock with torch's thread pools)
    q = ctx.Queue()
    child = ctx.Process(target=_ddp_worker, args=(1, 2, port, q), daemon=True)
    child.start()
    try:
        _ddp_worker(0, 2, port, q)
        res = sorted(q.get(timeout=120) for _ in range(2))
    except queue.Empty:  # pragma: no cover
        pytest.fail("DDP worker produced no result")
    finally:
        child.join(timeout=60)
        if child.is_alive():  # pragma: no cover
            child.kill()
    assert child.exitcode == 0
    # both ranks see the global totals: 3 samples, 96 MACs per sample
    for rank, samples, macs, nb in res:
        assert samples == 3 and macs == 96
    # NeuroBench effective MACs: one zero input pixel on rank 1; pixel (0,0) is read by output (0,0)
    # of channel 0 and by the centre tap of output (0,0) of channel 1 -> 2 ops less: (3 * 49 - 2) / 3
    assert res[0][3] == pytest.approx((3 * 49 - 2) / 3) and res[0][3] == res[1][3]


def test_classification_module_reports_spikes_per_neuron_step_and_seeds_stochastic_evaluation():
    """With energy=True the module logs the monitor's spike rate as ``test/spikes_per_neuron_step``; its
    stochastic modules are seeded from ``eval_seed`` before each evaluation, so a test repeats exactly."""
    import lightning as L
    from torch.utils.data import DataLoader, TensorDataset

    from common.encoders import RateEncoder
    from common.lightning import ClassificationModule
    from common.neurons import LIF

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc, self.fc1, self.lif = RateEncoder(8), nn.Linear(6, 16), LIF(0.9, 0.5, backend="torch")
            self.fc2, self.out = nn.Linear(16, 3), Integrator(output="mean")

        def forward(self, x):
            return self.out(self.fc2(self.lif(self.fc1(self.enc(x)))))

    torch.manual_seed(0)
    data = TensorDataset(torch.rand(24, 6), torch.randint(0, 3, (24,)))
    module = ClassificationModule(Net(), 3, energy=True, eval_seed=3)
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False)
    runs = [trainer.test(module, DataLoader(data, batch_size=8), verbose=False)[0] for _ in range(2)]
    assert runs[0] == runs[1]
    rate = runs[0]["test/spikes_per_neuron_step"]
    assert 0 < rate < 1 and rate == pytest.approx(module.energy_report["test"]["activity"][0]["spike_rate"])
    module.eval_seed = 4
    assert trainer.test(module, DataLoader(data, batch_size=8), verbose=False)[0] != runs[0]
