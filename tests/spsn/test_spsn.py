"""SPSN: exact parallel filter, firing-rule gradients, seeded evaluation, regulariser, SHD binning, FSDD layout (time-first, padding), smoke runs."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from common.neurons.parallel import (first_order_filter, first_order_filter_sequential, lti_filter,
                                     two_exp_filter, two_exp_filter_sequential)
from common.metrics import OpsMonitor
from common.neurons import SpikingNeuron
from common.stochastic import seed_evaluation
from papers.spsn.model import SPSNNet, spike_regularizer
from papers.spsn.neurons import PaperLIF, gumbel_spike, lif_paper_loop, sigmoid_bernoulli_spike

A = math.exp(-1 / 20)


@pytest.mark.parametrize("T", [1, 5, 32, 33, 100, 257])
@pytest.mark.parametrize("method,chunk", [("chunked", 8), ("chunked", 32), ("chunked", 0), ("fft", None),
                                          ("doubling", None), ("auto", None)])
def test_two_exp_filter_matches_sequential(T, method, chunk):
    torch.manual_seed(T)
    x = torch.randn(T, 3, 4, dtype=torch.float64, requires_grad=True)
    g = torch.randn(T, 3, 4, dtype=torch.float64)
    ref = two_exp_filter_sequential(x, A, 0.9)
    (gr,) = torch.autograd.grad(ref, x, g)
    y = two_exp_filter(x, A, 0.9, method=method, chunk=chunk)
    (gy,) = torch.autograd.grad(y, x, g)
    torch.testing.assert_close(y, ref, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(gy, gr, atol=1e-10, rtol=1e-10)
    # first-order (LIF synaptic current)
    ref1 = first_order_filter_sequential(x, 0.8)
    (gr1,) = torch.autograd.grad(ref1, x, g)
    y1 = first_order_filter(x, 0.8, method=method, chunk=chunk)
    (gy1,) = torch.autograd.grad(y1, x, g)
    torch.testing.assert_close(y1, ref1, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(gy1, gr1, atol=1e-10, rtol=1e-10)


def test_filter_float32_tolerance():
    x = torch.randn(300, 2, 8)
    ref = two_exp_filter_sequential(x.double(), A, A)
    for m in ("chunked", "fft", "doubling"):
        torch.testing.assert_close(two_exp_filter(x, A, A, method=m).double(), ref, atol=1e-4, rtol=1e-4)


def test_filter_10000_steps_no_overflow():
    T = 10_000
    x = torch.rand(T, 2, 16, requires_grad=True)  # positive input: the membrane settles near its DC gain (20)
    g = torch.ones(T, 2, 16)
    ref = two_exp_filter_sequential(x.detach().double(), A, A)
    gref = two_exp_filter_sequential(g.double().flip(0), A, A).flip(0)  # H^T g
    for m in ("chunked", "auto"):
        y = two_exp_filter(x, A, A, method=m)
        (gy,) = torch.autograd.grad(y, x, g)
        assert torch.isfinite(y).all() and torch.isfinite(gy).all()
        torch.testing.assert_close(y.double(), ref, atol=1e-3, rtol=1e-4)
        torch.testing.assert_close(gy.double(), gref, atol=1e-3, rtol=1e-4)


def test_sigmoid_bernoulli_gradient_definition():
    u = torch.randn(2000, dtype=torch.float64, requires_grad=True)
    for fused in (True, False):
        s = sigmoid_bernoulli_spike(u, torch.Generator().manual_seed(0), fused=fused)
        assert set(s.unique().tolist()) <= {0.0, 1.0}
        (gu,) = torch.autograd.grad(s.sum(), u)
        p = torch.sigmoid(u.detach())
        torch.testing.assert_close(gu, p * p * (1 - p))  # dS/dp := p, times dp/du
    # firing probability is sigmoid(u)
    u0 = torch.full((200_000,), 0.7)
    assert abs(sigmoid_bernoulli_spike(u0, torch.Generator().manual_seed(1)).mean() - torch.sigmoid(u0[0])) < 0.01


def test_gumbel_gradient_definition():
    torch.manual_seed(0)
    u = torch.randn(1000, dtype=torch.float64, requires_grad=True)
    g1, g2 = torch.randn(1000, dtype=torch.float64), torch.randn(1000, dtype=torch.float64)
    for tau in (1.0, 0.5):
        s = gumbel_spike(u, tau=tau, noise=(g1, g2))
        logits = torch.stack([u + g1, -u + g2], -1) / tau
        y_soft = torch.softmax(logits, -1)[..., 0]
        torch.testing.assert_close(s.detach(), (y_soft > 0.5).double())
        (gu,) = torch.autograd.grad(s.sum(), u)
        (gref,) = torch.autograd.grad(y_soft.sum(), u)  # straight-through: gradient of the soft sample
        torch.testing.assert_close(gu, gref)
        torch.testing.assert_close(gu, (2 / tau) * y_soft.detach() * (1 - y_soft.detach()))


def test_gumbel_fused_law_matches_two_gumbel_reference():
    # the fused path draws g1 - g2 (Logistic) directly: the firing law must stay P(S=1) = P(2u + g1 - g2 > 0)
    # = sigmoid(2u) (the temperature only scales the soft sample, not the hard one)
    for tau in (1.0, 0.5):
        u = torch.full((200_000,), 0.3)
        fused = gumbel_spike(u, torch.Generator().manual_seed(0), tau=tau)
        ref = gumbel_spike(u, torch.Generator().manual_seed(1), tau=tau, fused=False)
        want = torch.sigmoid(torch.tensor(2 * 0.3)).item()
        assert set(fused.unique().tolist()) <= {0.0, 1.0}
        assert abs(fused.mean().item() - want) < 0.01 and abs(ref.mean().item() - want) < 0.01
    # fused and literal formulations agree sample by sample (same Gumbel draws) and in gradient
    u = torch.randn(500, dtype=torch.float64, requires_grad=True)
    g1, g2 = -torch.rand(500, dtype=torch.float64).log().neg().log(), -torch.rand(500, dtype=torch.float64).log().neg().log()
    a = gumbel_spike(u, noise=(g1, g2))
    y_soft = torch.sigmoid(2 * u + g1 - g2)
    b = (y_soft > 0.5).double() - y_soft.detach() + y_soft
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(torch.autograd.grad(a.sum(), u)[0], torch.autograd.grad(b.sum(), u)[0])


def test_rate_encoder_law_and_determinism():
    from common.data.spiking_mnist import encode_rate

    img = torch.full((2, 28, 28), 77, dtype=torch.uint8)
    a = encode_rate(img, torch.tensor([3, 4]), 100)
    b = encode_rate(img, torch.tensor([3, 5]), 100)
    assert a.shape == (2, 100, 784) and set(a.unique().tolist()) <= {0.0, 1.0}
    assert abs(a.mean().item() - 77 / 255) < 0.01
    assert torch.equal(a[0], b[0]) and not torch.equal(a[1], b[1])  # seeded by the sample's index


@pytest.mark.parametrize("neuron", ["sb", "gs"])
def test_spsn_learns_rate_coded_task(neuron):
    # Regression guard (from the former MNIST stand-in): SPSN must leave chance on a rate-coded many-channel task within
    # a few hundred Adamax 1e-3 steps, with gradient reaching the first layer (the old 28-channel row-scan
    # stand-in left SB at chance with a vanishing layer-1 gradient).
    torch.manual_seed(0)
    n_cls, C, T = 4, 100, 30
    protos = (torch.rand(n_cls, C) < 0.3).float() * 0.5  # each class: its own 30 % of channels firing at 0.5

    def batch(n):
        y = torch.randint(0, n_cls, (n,))
        return (torch.rand(n, T, C) < protos[y][:, None, :]).float(), y

    net = SPSNNet(C, n_cls, hidden=(64, 64, 64), neuron=neuron)
    opt = torch.optim.Adamax(net.parameters(), 1e-3)
    for _ in range(300):  # measured: SB 0.82, GS 0.99 test accuracy (chance 0.25)
        x, y = batch(32)
        loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        g1 = net.linears[0].weight.grad
        assert torch.isfinite(g1).all() and g1.norm() > 1e-3
        opt.step()
    net.eval()
    seed_evaluation(net, 0)
    x, y = batch(400)
    with torch.no_grad():
        acc = (net(x).argmax(1) == y).float().mean().item()
    assert acc > 0.6, acc


def test_paper_lif_loop_equals_suite_lif():
    torch.manual_seed(0)
    x = (torch.randn(60, 4, 8) * 3).requires_grad_(True)
    s_ref = lif_paper_loop(x, A, A)
    (g_ref,) = torch.autograd.grad(s_ref.sum(), x)
    for backend in ("torch", "auto"):
        lif = PaperLIF(backend=backend)
        s = lif(x)
        (g,) = torch.autograd.grad(s.sum(), x)
        assert s_ref.sum() > 0
        torch.testing.assert_close(s, s_ref)
        torch.testing.assert_close(g, g_ref, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("neuron", ["sb", "gs"])
def test_seeded_stochastic_evaluation_repeats(neuron):
    torch.manual_seed(0)
    net = SPSNNet(12, 5, hidden=(16, 16, 16), neuron=neuron).eval()
    x = (torch.rand(3, 40, 12) < 0.3).float()
    assert seed_evaluation(net, 7) == 3  # the three hidden layers
    a = [net(x) for _ in range(2)]
    seed_evaluation(net, 7)
    b = [net(x) for _ in range(2)]
    torch.testing.assert_close(a[0], b[0])
    torch.testing.assert_close(a[1], b[1])
    assert not torch.equal(a[0], a[1])  # still stochastic
    seed_evaluation(net, 8)
    assert not torch.equal(net(x), a[0])


def _reference_forward(net: SPSNNet, x: torch.Tensor, gen) -> torch.Tensor:
    """SPSNNet's forward as written before its neurons became SpikingNeurons: every layer's firing draws from
    one generator (``None``: the global RNG) in forward order."""
    x = x.transpose(0, 1).float()
    for lin, act in zip(net.linears, net.acts):
        u = two_exp_filter(lin(x), act.alpha, act.beta, act.filter_method, act.chunk)
        x = sigmoid_bernoulli_spike(u, gen) if act.firing == "sb" else gumbel_spike(u, gen, act.gs_tau)
    return two_exp_filter(net.readout(x), net.alpha, net.beta, net.readout_method).mean(0)


@pytest.mark.parametrize("neuron", ["sb", "gs"])
def test_spsn_numerics_unchanged_by_the_common_protocols(neuron):
    """Training forward/backward (global RNG) and seeded evaluation equal the reference wiring bit for bit."""
    torch.manual_seed(0)
    net = SPSNNet(20, 5, hidden=(16, 16), neuron=neuron)
    x = (torch.rand(3, 30, 20) < 0.3).float()
    torch.manual_seed(1)
    out = net(x)
    grads = torch.autograd.grad(out.sum(), list(net.parameters()))
    torch.manual_seed(1)
    ref = _reference_forward(net, x, None)
    ref_grads = torch.autograd.grad(ref.sum(), list(net.parameters()))
    assert torch.equal(out, ref) and all(torch.equal(g, r) for g, r in zip(grads, ref_grads))
    net.eval()
    seed_evaluation(net, 5)
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for _ in range(2):  # the second evaluation batch continues the stream
            assert torch.equal(net(x), _reference_forward(net, x, gen))


@pytest.mark.parametrize("neuron,backend", [("sb", "paper"), ("gs", "paper"), ("lif", "paper"), ("lif", "torch")])
def test_monitor_counts_spsn_spikes_per_neuron_step(neuron, backend):
    """SPSN's neurons are SpikingNeurons: the op/energy monitor sees each hidden layer once (PaperLIF's inner
    suite LIF is not counted again) and its spike rate is the mean spikes per neuron per step."""
    torch.manual_seed(0)
    net = SPSNNet(20, 5, hidden=(16, 8), neuron=neuron, lif_backend=backend).eval()
    assert all(isinstance(a, SpikingNeuron) for a in net.acts)
    seed_evaluation(net, 0)
    x = (torch.rand(4, 30, 20) < 0.5).float() * 3
    spikes = []
    hooks = [a.register_forward_hook(lambda m, i, o: spikes.append(o.detach())) for a in net.acts]
    mon = OpsMonitor(net, batch_dim=None)
    with mon, torch.no_grad():
        mon.update_samples(4)
        net(x)
    for h in hooks:
        h.remove()
    assert [n for n, _ in mon.neurons] == ["acts.0", "acts.1"]
    expected = sum(float(s.sum()) for s in spikes) / sum(s.numel() for s in spikes)
    assert 0 < expected < 1
    assert mon.compute()["spike_rate"] == pytest.approx(expected)
    assert [r["spike_rate"] for r in mon.activity()] == pytest.approx([float(s.mean()) for s in spikes])


def test_regularizer_known_rates():
    r = [torch.full((4,), 0.5), torch.full((4,), 0.25)]  # sum 3, N = 8
    assert spike_regularizer(r, 0.25).item() == pytest.approx((3 - 2) ** 2)
    assert spike_regularizer(r, 0.5).item() == 0.0
    net = SPSNNet(6, 3, hidden=(4, 4), neuron="sb", reg_thr=0.1)
    net(torch.rand(2, 10, 6))
    expected = torch.relu(sum(r.sum() for r in net.last_rates) - 0.1 * 8) ** 2
    torch.testing.assert_close(net.regularization_loss(), expected)


# ---------------------------------------------------------------------------------------------- data
from common.data.shd import write_fake_shd as fake_shd  # noqa: E402
from tests.harness_fixture.smoke import run_smoke_row, smoke_row_params  # noqa: E402
from common.data.shd import write_shd_h5  # noqa: E402


def test_shd_binning_and_start_padding(tmp_path):
    from common.data.shd import SHDDataModule

    times = [[0.0, 0.0004, 0.0009, 0.0012, 0.0012, 0.0049], [0.0015, 0.0021]]
    units = [[0, 1, 2, 3, 3, 699], [5, 6]]
    for name in ("shd_train.h5", "shd_test.h5"):
        write_shd_h5(tmp_path / "shd" / name, times, units, [3, 7])
    dm = SHDDataModule(data_dir=str(tmp_path), batch_size=2, eval_batch_size=2)
    dm.setup()
    ds = dm.split("test")
    x0, y0 = ds[0]
    # digitize(t / 1 ms, linspace(0, 5, 6), right=True): 0 -> 0, 0.4 -> 1, 0.9 -> 1, 1.2 -> 2, 4.9 -> 5
    assert x0.shape == (6, 700) and int(y0) == 3
    assert x0.sum() == 5  # two spikes of unit 3 in one bin count once
    for t, u in [(0, 0), (1, 1), (1, 2), (2, 3), (5, 699)]:
        assert x0[t, u] == 1
    x, y = next(iter(dm.test_dataloader()))
    assert x.shape == (2, 6, 700) and y.tolist() == [3, 7]
    # sample 1: spikes at bins 2 and 3 (length 4) padded by 2 steps at the start
    assert x[1, :2].sum() == 0 and x[1, 4, 5] == 1 and x[1, 5, 6] == 1
    torch.testing.assert_close(x[0], x0)


def test_shd_augmentation_shift_and_zoom():
    from common.data.shd import random_affine

    x = torch.zeros(11, 700)
    x[5, 100] = 1
    torch.testing.assert_close(random_affine(x, 0.0, 1.0), x)
    s = random_affine(x, 70.0, 1.0)
    assert s[5, 170] == 1 and s.sum() == 1
    z = random_affine(x, 0.0, 1.3)
    assert z.sum() >= 1 and z[5].nonzero().flatten().float().mean() < 100  # zoom pushes off-centre points out


def test_shd_missing_data_error(tmp_path):
    from common.data.base import MissingDatasetError
    from common.data.shd import SHDDataModule

    with pytest.raises(MissingDatasetError, match="shd_train.h5"):
        SHDDataModule(data_dir=str(tmp_path)).setup()


def test_spiking_mnist_encoder():
    from common.data.spiking_mnist import encode_row_scan

    img = torch.zeros(1, 28, 28, dtype=torch.uint8)
    img[0, 2, 5] = 255
    img[0, 3, 6] = 100  # 0.39: above levels 0.125, 0.375 only
    s = encode_row_scan(img, 4)
    assert s.shape == (1, 112, 28)
    assert s[0, 8:12, 5].tolist() == [1, 1, 1, 1] and s[0, 12:16, 6].tolist() == [1, 1, 0, 0]
    assert s.sum() == 6


# ---------------------------------------------------------------------------------------------- FSDD layout
@pytest.mark.parametrize("neuron", ["sb", "gs", "lif", "relu"])
def test_time_first_input_equals_batch_first(neuron):
    """The FSDD rows feed SeqBatch x [T, B, C]: SPSNNet(time_first=True) on it equals SPSNNet on [B, T, C]."""
    torch.manual_seed(0)
    net = SPSNNet(12, 5, hidden=(16, 16, 16), neuron=neuron).eval()
    x_btc = (torch.rand(3, 40, 12) < 0.3).float() * 2
    seed_evaluation(net, 3)
    ref = net(x_btc)
    net.time_first = True
    seed_evaluation(net, 3)
    out = net(x_btc.transpose(0, 1).contiguous())
    assert torch.equal(out, ref)
    net.time_first = False  # the layout flag matters: [T, B, C] read as batch-first gives T "samples"
    assert net(x_btc.transpose(0, 1)).shape == (40, 5)


@pytest.mark.parametrize("neuron", ["lif", "relu"])
def test_padded_batch_reads_out_like_each_clip_alone(neuron):
    """With lengths, zero padding after each clip changes neither the logits nor the real-step spike counts
    (deterministic neurons: exact); without lengths the padded steps do change the readout."""
    torch.manual_seed(0)
    net = SPSNNet(10, 4, hidden=(16, 16), neuron=neuron, time_first=True).eval()
    clips = [(torch.rand(T, 10) < 0.4).float() * 3 for T in (25, 40, 7)]
    x = torch.zeros(40, 3, 10)
    for b, c in enumerate(clips):
        x[: c.shape[0], b] = c
    lengths = torch.tensor([25, 40, 7])
    with torch.no_grad():
        out = net(x, lengths)
        spikes, steps = net.last_spike_stats
        alone, s_alone, n_alone = [], 0.0, 0.0
        for c in clips:
            alone.append(net(c[:, None]))
            s_alone += net.last_spike_stats[0]
            n_alone += net.last_spike_stats[1]
        unmasked = net(x)
    torch.testing.assert_close(out, torch.cat(alone), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(unmasked, out, atol=1e-3)  # padding matters without the mask
    if neuron == "lif":
        assert spikes > 0 and steps == n_alone == 72 * 32
        assert spikes == pytest.approx(s_alone)


def test_spsn_rates_count_real_steps_only():
    """SB fires on padded steps (its membrane holds the filtered bias there): last_spike_stats and the
    regulariser's rates count the spikes of real steps only."""
    torch.manual_seed(0)
    net = SPSNNet(8, 3, hidden=(32, 16), neuron="sb", time_first=True).eval()
    with torch.no_grad():
        net.linears[0].bias.fill_(2.0)
    seed_evaluation(net, 0)
    lengths = torch.tensor([30, 12, 5])
    x = torch.zeros(30, 3, 8)
    for b, n in enumerate(lengths.tolist()):
        x[:n, b] = (torch.rand(n, 8) < 0.5).float()
    outs = []
    hooks = [a.register_forward_hook(lambda m, i, o: outs.append(o.detach())) for a in net.acts]
    with torch.no_grad():
        net(x, lengths)
    for h in hooks:
        h.remove()
    mask = (torch.arange(30)[:, None] < lengths[None, :]).float()[..., None]  # [T, B, 1]
    s, n = net.last_spike_stats
    assert n == 47 * (32 + 16)
    assert s == pytest.approx(sum(float((o * mask).sum()) for o in outs))
    assert sum(float((o * (1 - mask)).sum()) for o in outs) > 0  # padded steps do fire: the mask matters
    torch.testing.assert_close(net.last_rates[0], (outs[0] * mask).sum((0, 1)) / 47)


# ---------------------------------------------------------------------------------------------- smoke
CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"
ROWS = sorted(p.stem for p in (CONFIG_DIR / "experiment" / "spsn").glob("*.yaml"))
FSDD_ROWS = ["fsdd_sb", "fsdd_gs", "fsdd_lif", "fsdd_relu"]


def test_every_config_is_registered():
    from common.registry import get_paper

    assert set(ROWS) == set(get_paper("spsn").rows)
    assert set(FSDD_ROWS) <= set(ROWS) and not [r for r in ROWS if r.startswith("mini")]


def test_fsdd_rows_compose_on_fsdd_spikes():
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf
    from common.harness.run import compose_row
    from papers.spsn.claims import EPOCHS

    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfgs = {r: OmegaConf.to_container(compose_row("spsn", r, "mini"), resolve=True) for r in FSDD_ROWS}
        smoke = OmegaConf.to_container(compose_row("spsn", "fsdd_sb", "smoke"), resolve=True)
    for row, c in cfgs.items():
        assert c["data"]["_target_"] == "common.data.fsdd_spikes.FSDDSpikesDataModule" and not c["data"]["fake"]
        assert c["module"]["_target_"] == "papers.spsn.module.SPSNSequenceModule"
        m = c["module"]["model"]
        assert (m["n_in"], m["hidden"], m["n_out"], m["time_first"]) == (700, [128, 128, 128], 10, True)
        assert m["neuron"] == row.split("_")[1] and m["lif_backend"] == "paper" and m["reg_thr"] is None
        assert c["threads"] == 1 and c["data"]["batch_size"] == 64 and c["data"]["pad"] == "end"
        assert c["module"]["optimizer"]["_target_"] == "torch.optim.Adamax" and c["module"]["optimizer"]["lr"] == 1e-3
        assert c["trainer"]["max_epochs"] == EPOCHS and c["seeds"] == [0, 1, 2]
    assert len({c["trainer"]["max_epochs"] for c in cfgs.values()}) == 1  # every neuron trains equally long
    assert smoke["data"]["fake"] and smoke["module"]["model"]["n_in"] == smoke["data"]["channels"]


# by default every neuron once on SHD-format files (basic, augmented, augmented + regularised pipelines) and
# the FSDD-spike path with an SPSN and the paper's LIF loop; the other rows (config variants) run nightly (`slow`)
SMOKE_DEFAULT = ("sb_aug_reg", "gs_basic", "lif_aug", "relu_basic", "fsdd_sb", "fsdd_lif")


@pytest.mark.parametrize("row", smoke_row_params(ROWS, SMOKE_DEFAULT))
def test_row_runs_at_smoke(row, tmp_path):
    fake_shd(tmp_path)
    res = run_smoke_row("spsn", row, tmp_path, f"paths.root_dir={tmp_path}", f"paths.data_dir={tmp_path}")
    assert 0.0 <= res["metrics"]["test/acc"] <= 1.0
    if "relu" not in row:
        assert 0.0 <= res["metrics"]["test/spikes_per_neuron_step"] <= 1.0
    if row.startswith("fsdd") and "relu" not in row:
        assert 0.0 < res["metrics"]["test/spikes_per_neuron_real_step"] <= 1.0
