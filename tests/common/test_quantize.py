"""The LMU quantizing neuron (common.neurons.quantize), its bit metrics and the DtSchedule callback."""
import math

import lightning as L
import pytest
import torch
from torch import nn

from common.lightning.callbacks import DtSchedule
from common.metrics.bits import (
    QuantizedActivity,
    QuantizedActivityMonitor,
    activity_bits,
    magnitude_bits,
    significant_bits,
)
from common.neurons import QuantizerState, QuantizingCell, QuantizingNeuron, quantize_multistep, quantize_step
from common.stochastic import seed_evaluation

F64 = torch.float64


def reference_quantizer(x, f, dt, v0):
    """Nengo RegularSpiking / KerasSpiking SpikingActivationCell, element by element in plain Python floats."""
    T, n = x.shape[0], x[0].numel()
    xs, v = x.reshape(T, n).tolist(), v0.reshape(n).tolist()
    out = []
    for t in range(T):
        row = []
        for i in range(n):
            v[i] += dt * f(xs[t][i])
            k = math.floor(v[i])
            v[i] -= k
            row.append(k / dt)
        out.append(row)
    return torch.tensor(out, dtype=F64).reshape(x.shape), torch.tensor(v, dtype=F64).reshape(v0.shape)


# ---------------------------------------------------------------- dynamics, hand-computed
def test_hand_computed_signed_multi_spike_sequence():
    # dt=1, v0=0: v 0.4 -> 0.8 -> 1.2 (n=1, v=.2) -> -0.3 (n=-1, v=.7) -> 3.4 (n=3, v=.4)
    x = torch.tensor([0.4, 0.4, 0.4, -0.5, 2.7], dtype=F64).reshape(5, 1, 1)
    o = quantize_multistep(x, torch.zeros(1, 1, dtype=F64), 1.0)
    assert o.counts.flatten().tolist() == [0, 0, 1, -1, 3]
    assert o.out.flatten().tolist() == [0, 0, 1, -1, 3]
    torch.testing.assert_close(o.state.v, torch.tensor([[0.4]], dtype=F64))
    # dt=0.5: v 0.5 -> 1.0 (n=1 -> y=2, v=0) -> 0.5: the output is n / dt
    o = quantize_multistep(torch.ones(3, 1, 1, dtype=F64), torch.zeros(1, 1, dtype=F64), 0.5)
    assert o.out.flatten().tolist() == [0.0, 2.0, 0.0]


@pytest.mark.parametrize("act,f", [("tanh", math.tanh), ("relu", lambda z: max(z, 0.0)), ("identity", lambda z: z)])
def test_values_and_gradients_match_reference(act, f):
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(30, 2, 3, generator=g, dtype=F64) * 2).requires_grad_()
    v0 = torch.rand(2, 3, generator=g, dtype=F64)
    neuron = QuantizingNeuron(act, dt=0.7).double()
    out, state = neuron._run(x, QuantizerState(v0.clone()), None)
    ref_out, ref_v = reference_quantizer(x.detach(), f, 0.7, v0)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(state.v, ref_v)
    # straight-through: d out / d x = f'(x), under any upstream gradient
    w = torch.randn(x.shape, generator=g, dtype=F64)
    (gx,) = torch.autograd.grad((out * w).sum(), x)
    xr = x.detach().clone().requires_grad_()
    (gref,) = torch.autograd.grad((neuron.activation(xr) * w).sum(), xr)
    torch.testing.assert_close(gx, gref)
    assert gx.abs().sum() > 0


def test_time_average_converges_and_error_stays_in_unit_interval():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(64, generator=g, dtype=F64) * 4 - 2
    for dt in (0.01, 0.1, 1.0):
        cell = QuantizingCell("tanh", dt=dt, generator=torch.Generator().manual_seed(2)).double()
        state, total, T = None, torch.zeros_like(x), 2000
        for _ in range(T):
            y, state = cell(x, state)
            total += y
            assert bool(((state.v >= 0) & (state.v < 1)).all())
        err = (total / T - torch.tanh(x)).abs().max().item()
        assert err < 1.0 / (T * dt), (dt, err)
        assert err > 0  # it is a quantizer, not the identity
    # time-varying input: sum of outputs tracks sum of rates within 1/dt at every step
    xs = torch.randn(200, 8, generator=g, dtype=F64)
    o = quantize_multistep(torch.tanh(xs), torch.rand(8, generator=g, dtype=F64), 0.05)
    gap = (o.out.cumsum(0) - torch.tanh(xs).cumsum(0)).abs().max().item()
    assert gap < 1.0 / 0.05


def test_large_dt_is_the_non_spiking_limit_and_small_dt_at_most_one_spike():
    x = torch.linspace(-3, 3, 101, dtype=F64).reshape(1, 1, -1)
    big = QuantizingNeuron("tanh", dt=1e6).double()
    torch.testing.assert_close(big(x), torch.tanh(x), atol=1e-6, rtol=0)
    small = QuantizingNeuron("tanh", dt=0.5).double()
    small(x.expand(40, 1, 101))
    assert small.last_counts.abs().max() <= 1
    rate = QuantizingNeuron("tanh", dt=0.5, spiking=False).double()
    torch.testing.assert_close(rate(x), torch.tanh(x))


# ---------------------------------------------------------------- state, seeding, modes
def test_initial_state_seeded_and_repeatable():
    x = torch.full((5, 3, 100), 0.3)
    a = QuantizingNeuron(dt=1.0, generator=torch.Generator().manual_seed(7))
    b = QuantizingNeuron(dt=1.0, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a(x), b(x))
    v0 = a.init_state(x[0]).v
    assert bool(((v0 >= 0) & (v0 < 1)).all()) and v0.std() > 0.2  # uniform, not constant
    # the evaluation-seeding protocol: two seeded evaluations repeat, another seed differs
    n = QuantizingNeuron(dt=1.0).eval()
    seed_evaluation(n, 3)
    y1 = n(x)
    seed_evaluation(n, 3)
    assert torch.equal(n(x), y1)
    seed_evaluation(n, 4)
    assert not torch.equal(n(x), y1)
    z = QuantizingNeuron(dt=1.0, initial_state="zeros")
    assert z(torch.full((1, 1, 1), 0.9)).item() == 0.0


def test_single_step_cell_and_stateful_chunks_equal_multi_step():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(12, 2, 4, generator=g, dtype=F64)
    v0 = torch.rand(2, 4, generator=g, dtype=F64)
    full = quantize_multistep(torch.relu(x), v0, 0.3)
    cell, state, outs = QuantizingCell("relu", dt=0.3).double(), QuantizerState(v0), []
    for xt in x.unbind(0):
        y, state = cell(xt, state)
        outs.append(y)
    torch.testing.assert_close(torch.stack(outs), full.out)
    torch.testing.assert_close(state.v, full.state.v)
    # a stateful multi-step module carries the voltage across chunks
    m = QuantizingNeuron("relu", dt=0.3, stateful=True).double()
    m.v = v0.clone()
    torch.testing.assert_close(torch.cat([m(x[:5]), m(x[5:])]), full.out)
    torch.testing.assert_close(m.v, full.state.v)
    with pytest.raises(ValueError, match="reset_state"):
        m(x[:, :1])
    m.reset_state()
    assert m(x[:, :1]).shape == (12, 1, 4)
    with pytest.raises(ValueError, match="state has shape"):
        cell(x[0, :1], state)


def test_mask_holds_state_and_zeroes_padded_output():
    x = torch.full((4, 2, 3), 0.6, dtype=F64)
    v0 = torch.full((2, 3), 0.5, dtype=F64)
    mask = torch.tensor([[True, True], [True, False], [True, False], [False, False]])
    o = quantize_multistep(x, v0, 1.0, mask)
    short = quantize_multistep(x[:1, 1:], v0[1:], 1.0)
    assert (o.out[1:, 1] == 0).all() and (o.out[3] == 0).all()
    torch.testing.assert_close(o.state.v[1:], short.state.v)  # sequence 1 stopped after its 1 real step
    torch.testing.assert_close(o.state.v[:1], quantize_multistep(x[:3, :1], v0[:1], 1.0).state.v)
    with pytest.raises(TypeError, match="bool"):
        quantize_multistep(x, v0, 1.0, mask.float())


def test_dt_is_a_checked_buffer():
    n = QuantizingNeuron(dt=0.5)
    assert "dt" in n.state_dict()
    n.set_dt(0.25)
    assert n.dt.item() == 0.25
    with pytest.raises(ValueError, match="dt"):
        n.set_dt(0.0)
    with pytest.raises(ValueError, match="unknown activation"):
        QuantizingNeuron("softsign")


# ---------------------------------------------------------------- bit metrics, hand-made spike trains
# [T=4, B=1, N=3]; |n|: 0 1 1 / 3 0 4 / 5 6 0 / 12 0 2
TRAIN = torch.tensor([[0, 1, -1], [3, 0, 4], [-5, 6, 0], [12, 0, 2]], dtype=torch.float32).reshape(4, 1, 3)


def test_bit_definitions_per_count():
    n = torch.tensor([0, 1, -1, 2, 3, 4, -5, 6, 7, 12, 2**20, 2**20 - 1], dtype=F64)
    assert magnitude_bits(n).tolist() == [0, 1, 1, 2, 2, 3, 3, 3, 3, 4, 21, 20]
    assert activity_bits(n, signed=True).tolist() == [0, 2, 2, 3, 3, 4, 4, 4, 4, 5, 22, 21]
    assert significant_bits(n).tolist() == [0, 1, 1, 1, 2, 1, 3, 2, 3, 2, 1, 20]
    with pytest.raises(ValueError, match="integers"):
        significant_bits(torch.tensor([0.5]))


def test_quantized_activity_on_hand_made_train():
    m = QuantizedActivity(signed=True)
    m.update(TRAIN[:2])
    m.update(TRAIN[2:])  # two updates sum like one
    r = {k: v.item() for k, v in m.compute().items()}
    assert r["neuron_steps"] == 12
    assert r["spikes_per_neuron_step"] == pytest.approx(34 / 12)
    assert r["event_rate"] == pytest.approx(8 / 12)
    # b: 1->2, -1->2, 3->3, 4->4, -5->4, 6->4, 12->5, 2->3  (sum 27)
    assert r["bits_per_neuron_step"] == pytest.approx(27 / 12)
    assert r["bits_per_event"] == pytest.approx(27 / 8)
    # significant bits: 1,1,2(11),1(100),3(101),2(110),2(1100),1(10)  (sum 13)
    assert r["significant_bits_per_multiply"] == pytest.approx(13 / 8)
    assert r["range_bits"] == 5 and r["max_abs_count"] == 12
    u = QuantizedActivity(signed=False)
    u.update(TRAIN)
    assert u.compute()["bits_per_neuron_step"].item() == pytest.approx(19 / 12)
    # a mask drops padded steps (here the last step of the one sequence)
    k = QuantizedActivity()
    k.update(TRAIN, mask=torch.tensor([[True], [True], [True], [False]]))
    assert k.compute()["neuron_steps"].item() == 9
    assert k.compute()["spikes_per_neuron_step"].item() == pytest.approx(20 / 9)


def test_monitor_reads_counts_of_every_quantizer():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), QuantizingNeuron("tanh", dt=4.0), nn.Linear(5, 2),
                          QuantizingNeuron("tanh", dt=4.0))
    x = torch.randn(6, 2, 3)
    ref = QuantizedActivity()
    with QuantizedActivityMonitor(model) as mon:
        model(x)
        ref.update(model[1].last_counts)
        ref.update(model[3].last_counts)
    model(x)  # detached: not counted
    got = mon.compute()
    assert got["neuron_steps"] == 6 * 2 * 7
    for key, v in ref.compute().items():
        assert got[key] == pytest.approx(v.item())
    assert got["spikes_per_neuron_step"] > 0
    with pytest.raises(ValueError, match="no QuantizingNeuron"):
        QuantizedActivityMonitor(nn.Linear(2, 2))


# ---------------------------------------------------------------- DtSchedule in a tiny Trainer run
class _Tiny(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 8), QuantizingNeuron("relu", dt=123.0), nn.Linear(8, 2))
        self.seen: list[tuple[int, int, float]] = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        self.seen.append((self.current_epoch, self.global_step, self.net[1].dt.item()))
        out = self.net(x.unsqueeze(0).expand(3, -1, -1)).mean(0)
        return nn.functional.cross_entropy(out, y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def _fit(callback, epochs):
    torch.manual_seed(0)
    ds = torch.utils.data.TensorDataset(torch.randn(8, 4), torch.randint(0, 2, (8,)))
    module = _Tiny()
    trainer = L.Trainer(accelerator="cpu", max_epochs=epochs, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[callback])
    trainer.fit(module, torch.utils.data.DataLoader(ds, batch_size=4))
    return module, trainer


def test_dt_schedule_geometric_per_epoch_in_a_trainer_run():
    module, trainer = _fit(DtSchedule(1.0, 0.01), epochs=3)
    per_epoch = {e: dt for e, _, dt in module.seen}
    assert per_epoch == pytest.approx({0: 1.0, 1: 0.1, 2: 0.01}, rel=1e-6)
    assert module.net[1].dt.item() == pytest.approx(0.01)  # evaluation and checkpoints see the last dt
    assert trainer.callback_metrics["train/dt"].item() == pytest.approx(0.01, rel=1e-6)


def test_dt_schedule_linear_per_step_with_duration():
    module, _ = _fit(DtSchedule(1.0, 0.2, schedule="linear", interval="step", duration=4), epochs=3)
    dts = [dt for _, _, dt in module.seen]
    assert dts == pytest.approx([1.0, 0.8, 0.6, 0.4, 0.2, 0.2], rel=1e-6)
    assert DtSchedule(2.0, 0.5).value(10, 4) == 0.5
    with pytest.raises(ValueError, match="schedule"):
        DtSchedule(1.0, 0.1, schedule="cosine")


def test_dt_schedule_needs_a_quantizer():
    class NoQ(_Tiny):
        def __init__(self):
            super().__init__()
            self.net[1] = nn.ReLU()

        def training_step(self, batch, batch_idx):
            return nn.functional.cross_entropy(self.net(batch[0]), batch[1])

    trainer = L.Trainer(accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[DtSchedule(1.0, 0.1)])
    ds = torch.utils.data.TensorDataset(torch.randn(4, 4), torch.randint(0, 2, (4,)))
    with pytest.raises(ValueError, match="no QuantizingNeuron"):
        trainer.fit(NoQ(), torch.utils.data.DataLoader(ds, batch_size=4))
