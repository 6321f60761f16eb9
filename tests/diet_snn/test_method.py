"""DIET-SNN method pieces: threshold init, leak clamp, dropout over time, conversion, energy, weights sharing."""
import pytest
import torch
from torch import nn

from common.layers import SequenceDropout
from common.neurons import LIF, constrain_parameters
from common.stochastic import seed_evaluation
from papers.diet_snn.models import build_model, to_snn, weight_parameter_count
from papers.diet_snn.pipeline import diet_energy
from papers.diet_snn.threshold import chunked_forward, find_thresholds, percentile, set_thresholds

KW = dict(num_classes=3, in_channels=1, input_size=4, hidden=[5], dropout_ann_conv=0.0, dropout_ann_fc=0.0,
          dropout_snn=0.0)


def test_percentile_matches_official_definition():
    t = torch.arange(1, 1001, dtype=torch.float32)  # 1..1000
    assert percentile(t, 99.7) == 997.0  # kthvalue(1 + round(0.997 * 999)) = 997th smallest
    assert percentile(t, 100) == 1000.0


def test_threshold_init_picks_997th_percentile_of_known_currents():
    # one 1x1 conv with weight 1 on a 1-channel input: layer-1 current == the input pixels at every step
    net = build_model([1], mode="snn", num_classes=2, in_channels=1, input_size=10, hidden=[], time_steps=3,
                      dropout_snn=0.0)
    with torch.no_grad():
        net.features[0] = nn.Conv2d(1, 1, 1, bias=False)
        net.features[0].weight.fill_(1.0)
    x = torch.arange(1, 1001, dtype=torch.float32).reshape(10, 1, 10, 10)
    thr = find_thresholds(net, x, time_steps=7, q=99.7, chunk=3)
    assert thr == {"feature_neurons.0": pytest.approx(997.0)}
    assert float(net.feature_neurons["0"].threshold) == pytest.approx(997.0)
    assert net.time_steps == 3 and not net.feature_neurons["0"].stateful  # restored
    set_thresholds(net, thr, scale=0.2, leak=0.9)
    assert float(net.feature_neurons["0"].threshold) == pytest.approx(199.4)
    assert float(net.feature_neurons["0"].leak) == pytest.approx(0.9)


def test_threshold_init_layerwise_uses_earlier_thresholds_and_leak_one():
    torch.manual_seed(0)
    net = build_model("vgg_mini", mode="snn", time_steps=2, width_div=8, **{**KW, "input_size": 8})
    with torch.no_grad():
        for _, m in net.neurons():
            m.leak.fill_(0.5)
    thr = find_thresholds(net, torch.randn(16, 1, 8, 8), time_steps=6, chunk=4)
    assert list(thr) == [n for n, _ in net.neurons()] and all(v > 0 for v in thr.values())
    assert all(float(m.leak) == 0.5 for _, m in net.neurons())  # leaks restored after the leak-1 search


def test_leak_clamped_after_optimizer_step():
    net = build_model("vgg_mini", mode="snn", time_steps=2, width_div=8, **{**KW, "input_size": 8})
    with torch.no_grad():
        for _, m in net.neurons():
            m.leak.fill_(1.3)
            m.threshold.fill_(0.5)
    constrain_parameters(net)
    assert all(float(m.leak) == 1.0 for _, m in net.neurons())
    with torch.no_grad():
        net.feature_neurons["0"].leak.fill_(-0.2)
    constrain_parameters(net)
    assert float(net.feature_neurons["0"].leak) == pytest.approx(-0.2)  # no lower clamp (official code)
    lif = net.feature_neurons["0"]
    assert isinstance(lif.leak, nn.Parameter) and isinstance(lif.threshold, nn.Parameter)
    assert lif.surrogate.alpha == pytest.approx(0.3) and lif.reset == "soft"


def test_lightning_module_clamps_leak_during_training():
    from common.lightning import ClassificationModule

    net = build_model("vgg_mini", mode="snn", time_steps=2, width_div=8, **{**KW, "input_size": 8})
    mod = ClassificationModule(net, 3, optimizer=lambda p: torch.optim.SGD(p, lr=100.0))
    x, y = torch.randn(4, 1, 8, 8), torch.tensor([0, 1, 2, 0])
    with torch.no_grad():
        for _, m in net.neurons():
            m.leak.fill_(1.0)
    opt = mod.configure_optimizers()
    loss = mod._loss(mod(x), y)
    # push leaks upwards
    loss = loss - 100 * sum(m.leak for _, m in net.neurons())
    loss.backward()
    opt.step()
    mod.on_train_batch_end(None, None, 0)
    assert all(float(m.leak) <= 1.0 for _, m in net.neurons())


def test_dropout_mask_constant_over_time():
    torch.manual_seed(0)
    d = SequenceDropout(0.5).train()
    x = torch.ones(6, 3, 4, 5)
    y = d(x)
    assert torch.equal(y, y[:1].expand_as(y)) and (y == 0).any() and (y == 2).any()
    net = build_model("vgg_mini", mode="snn", time_steps=4, **{**KW, "dropout_snn": 0.5, "input_size": 8})
    assert any(isinstance(m, SequenceDropout) for m in net.modules())


def test_snn_with_leak_one_long_T_approaches_ann():
    torch.manual_seed(0)
    ann = build_model([8, "A"], mode="ann", num_classes=4, in_channels=1, input_size=6, hidden=[16],
                      dropout_ann_conv=0.0, dropout_ann_fc=0.0).eval()
    x = torch.rand(32, 1, 6, 6)
    snn = to_snn(ann.state_dict(), [8, "A"], num_classes=4, in_channels=1, input_size=6, hidden=[16],
                 time_steps=10, dropout_snn=0.0, leak=1.0)
    find_thresholds(snn, x, time_steps=50, q=100.0, chunk=25)  # max activation: rate coding without saturation
    T = 2000
    out = chunked_forward(snn, x, T, chunk=250) / T
    ref = ann(x).detach()
    # spikes carry rate = activation / threshold: for a bias-free ReLU network (positively homogeneous)
    # the SNN's logits per step equal the ANN's up to one positive scale (the product of thresholds)
    c = float((out * ref).sum() / (out * out).sum())
    assert c > 0
    err = (c * out - ref).abs().max() / ref.abs().max()
    assert err < 0.05, float(err)
    assert (out.argmax(1) == ref.argmax(1)).float().mean() > 0.9


def test_ann_and_snn_share_weights_and_counts():
    for arch in ("vgg16", "resnet20"):
        ann = build_model(arch, mode="ann", num_classes=10, width_div=16)
        snn = to_snn(ann.state_dict(), arch, num_classes=10, width_div=16, time_steps=2)
        a, s = ann.state_dict(), snn.state_dict()
        assert all(torch.equal(a[k], s[k]) for k in a)
        assert weight_parameter_count(ann) == weight_parameter_count(snn)
        assert all(m.bias is None for m in snn.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
        assert not any(isinstance(m, (nn.BatchNorm2d, nn.MaxPool2d)) for m in snn.modules())
        assert snn(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    # full-size parameter counts (the official ResNet20 is not He et al.'s 0.27 M ResNet-20)
    assert weight_parameter_count(build_model("resnet20", num_classes=10)) == 11_253_440
    assert weight_parameter_count(build_model("vgg16", num_classes=10)) == 39_917_248


def test_direct_encoding_feeds_analog_image_every_step_and_poisson_is_binary():
    net = build_model("vgg_mini", mode="snn", time_steps=3, width_div=8, **{**KW, "input_size": 8})
    seen = []
    h = net.features[0].register_forward_hook(lambda m, a, o: seen.append(a[0]))
    x = torch.randn(2, 1, 8, 8)
    net(x)
    h.remove()
    assert seen[0].shape == (6, 1, 8, 8) and torch.equal(seen[0][:2], x) and torch.equal(seen[0][4:], x)
    p = build_model("vgg_mini", mode="snn", time_steps=3, width_div=8, encoding="poisson",
                    **{**KW, "input_size": 8}).eval()
    seed_evaluation(p, 1)
    s = p.encoder(torch.rand(2, 1, 8, 8))
    assert s.shape == (3, 2, 1, 8, 8) and set(s.unique().tolist()) <= {0.0, 1.0}
    seed_evaluation(p, 1)
    a = p.encoder(torch.full((4, 1, 8, 8), 0.5))
    seed_evaluation(p, 1)
    assert torch.equal(a, p.encoder(torch.full((4, 1, 8, 8), 0.5)))  # seeded evaluation repeats


def test_diet_energy_formula():
    ann_ops = {"layers": [{"name": "a", "macs": 100.0}, {"name": "b", "macs": 50.0}]}
    snn_ops = {"activity": [{"name": "n0", "spike_rate": 0.1}], "layers": [{"name": "a", "in_rate": 1.0},
                                                                          {"name": "b", "in_rate": 0.1}]}
    e = diet_energy(ann_ops, snn_ops, {"a": None, "b": "n0"}, T=5)
    assert e["snn_energy_pj"] == pytest.approx(4.6 * 500 + 0.9 * 0.1 * 5 * 50)
    assert e["ratio"] == pytest.approx(e["snn_energy_pj"] / (4.6 * 150))
    # the prices are common.metrics' EnergyModel's, not constants of the paper package
    from common.metrics import EnergyModel

    e2 = diet_energy(ann_ops, snn_ops, {"a": None, "b": "n0"}, T=5, energy=EnergyModel(e_mac_pj=2.0, e_ac_pj=1.0))
    assert e2["snn_energy_pj"] == pytest.approx(2.0 * 500 + 1.0 * 0.1 * 5 * 50)
    assert e2["ann_energy_pj"] == pytest.approx(2.0 * 150)
