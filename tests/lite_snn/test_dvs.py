"""lite_snn DVS Gesture: the conv SNN's shapes, spikes, gradients and memory across frames; the fake-file module."""
import pytest
import torch

from papers.lite_snn.dvs import GestureSNN


def test_gesture_snn_spikes_learns_and_remembers_frames():
    torch.manual_seed(0)
    m = GestureSNN(sensor=16, channels=6, fc_hidden=10)
    x = torch.poisson(torch.full((5, 3, 2, 16, 16), 0.6))
    out = m(x)
    assert out.shape == (3, 11)
    with torch.no_grad():
        s = m.lifs[0](m.bns[0](m.convs[0](x.flatten(0, 1))).view(5, 3, 6, 16, 16))
    assert 0 < s.mean() < 1
    out.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters())
    m.drop.p = 0.0  # train-mode BatchNorm (batch statistics; the running ones are untrained), no dropout
    with torch.no_grad():  # the membrane carries history: the same frames in another order give other logits
        assert not torch.allclose(m(x), m(x.flip(0)))


def test_gesture_snn_sensor_check():
    with pytest.raises(ValueError, match="sensor"):
        GestureSNN(sensor=48)
    assert len(GestureSNN(sensor=128, channels=4).convs) == 5  # 128 -> 4 in five poolings (DVSGestureNet)


def test_fake_dvs_gesture_module():
    from papers.lite_snn.data import LiteDVSGestureDataModule

    dm = LiteDVSGestureDataModule(fake=True, n_time_bins=3, sensor=(32, 32), val_size=2, batch_size=4)
    dm.setup()
    b = next(iter(dm.train_dataloader()))
    assert b.x.shape[0] == 3 and tuple(b.x.shape[2:]) == (2, 32, 32) and b.x.sum() > 0
    assert len(dm.split("test")) == 11 and len(dm.split("val")) == 2
