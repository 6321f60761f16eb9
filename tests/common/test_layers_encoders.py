import numpy as np
import pytest
import torch
from torch import nn

from common.encoders import DirectEncoder, RateEncoder, event_frames
from common.layers import SequenceDropout, TimeDistributed
from common.stochastic import seed_evaluation


def test_time_distributed_equals_per_step_application():
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, 3, padding=1)
    x = torch.randn(4, 5, 2, 6, 6)
    y = TimeDistributed(conv)(x)
    assert y.shape == (4, 5, 3, 6, 6)
    torch.testing.assert_close(y, torch.stack([conv(xt) for xt in x.unbind(0)]))


def test_sequence_dropout_mask_constant_over_time():
    torch.manual_seed(0)
    d = SequenceDropout(0.5).train()
    x = torch.ones(6, 4, 10)
    y = d(x)
    assert torch.equal(y, y[:1].expand_as(y))  # same mask at every step
    assert set(y.unique().tolist()) == {0.0, 2.0}  # inverted scaling
    assert not torch.equal(y[0, 0], y[0, 1])  # but different per sample
    assert torch.equal(d.eval()(x), x)
    with pytest.raises(ValueError, match="dropout p"):
        SequenceDropout(1.0)


def test_direct_encoder_repeats_input():
    x = torch.randn(2, 3)
    y = DirectEncoder(4)(x)
    assert y.shape == (4, 2, 3) and torch.equal(y[3], x)
    with pytest.raises(ValueError, match="time_steps"):
        DirectEncoder(0)


def test_rate_encoder_rates_and_seed():
    x = torch.tensor([0.0, 0.25, 1.0]).repeat(200, 1)
    a = RateEncoder(50, generator=torch.Generator().manual_seed(1))(x)
    b = RateEncoder(50, generator=torch.Generator().manual_seed(1))(x)
    assert torch.equal(a, b)
    rates = a.mean(dim=(0, 1))
    assert rates[0] == 0 and rates[2] == 1 and abs(rates[1].item() - 0.25) < 0.02


def _bernoulli_reference(p: torch.Tensor, T: int, gen: torch.Generator) -> torch.Tensor:
    """The rate code every encoder of the suite used before they were merged: spike iff U[0, 1) < p."""
    return (torch.rand((T,) + tuple(p.shape), generator=gen) < p).float()


def test_one_rate_code_for_data_and_models():
    """The spike-train data encoder and the model encoder (per-channel normalisation undone) are the one
    rate code of common.encoders: identical spikes for a fixed generator."""
    from common.data.spiking_mnist import encode_rate

    img = torch.randint(0, 256, (3, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    idx = torch.tensor([0, 7, 99])
    spikes = encode_rate(img, idx, 20, seed=3)
    p = img.float().reshape(3, -1) / 255.0
    for b in range(3):
        ref = _bernoulli_reference(p[b], 20, torch.Generator().manual_seed(3 * 1_000_003 + int(idx[b])))
        assert torch.equal(spikes[b], ref)
    mean, std = [0.1, 0.2], [0.3, 0.4]
    x = torch.randn(4, 2, 5, 5, generator=torch.Generator().manual_seed(1))
    enc = RateEncoder(6, mean, std, generator=torch.Generator().manual_seed(2))
    p = (x * torch.tensor(std).view(1, 2, 1, 1) + torch.tensor(mean).view(1, 2, 1, 1)).clamp(0, 1)
    assert torch.equal(enc(x), _bernoulli_reference(p, 6, torch.Generator().manual_seed(2)))
    assert not torch.equal(enc(x), enc(x))  # the fixed generator advances


def test_seed_evaluation_gives_all_stochastic_modules_one_generator():
    net = nn.Sequential(RateEncoder(3), nn.Flatten(0, 1), RateEncoder(2))
    x = torch.rand(4, 5)
    assert seed_evaluation(net, 11) == 2
    net.eval()
    a = net(x)
    gen = torch.Generator().manual_seed(11)  # the two encoders draw from one stream, in forward order
    first = _bernoulli_reference(x, 3, gen)
    assert torch.equal(a, _bernoulli_reference(first.flatten(0, 1), 2, gen))
    assert not torch.equal(net(x), a)  # the stream continues within an evaluation ...
    seed_evaluation(net, 11)
    assert torch.equal(net(x), a)  # ... and restarts with the next one
    net.train()  # training draws from the global RNG
    torch.manual_seed(5)
    t = net(x)
    torch.manual_seed(5)
    assert torch.equal(net(x), t) and not torch.equal(t, a)


def test_event_frames_bins_with_tonic():
    dtype = np.dtype([("x", int), ("p", int), ("t", int)])
    events = np.array([(0, 0, 0), (1, 0, 500), (1, 0, 1500), (2, 0, 2999)], dtype=dtype)
    frames = event_frames(sensor_size=(3, 1, 1), time_window=1000, include_incomplete=True)(events)
    assert frames.shape[0] == 3 and frames.dtype == torch.float32
    assert frames.reshape(3, -1).sum(1).tolist() == [2.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="exactly one"):
        event_frames((3, 1, 1))
