"""DIET-SNN networks (official code: nitin-rathi/DIET-SNN, ``self_models/``), as ANN and as SNN.

One class per family (:class:`DietVGG`, :class:`DietResNet`); ``mode="ann"`` builds the ReLU network,
``mode="snn"`` the spiking one with *the same module names*, so the ANN's ``state_dict`` loads into
the SNN (:func:`to_snn`). Both are bias-free, without BatchNorm, with average pooling.

SNN specifics (paper / official code):

- direct input encoding: the analog (normalised) image enters the first conv at every step
  (``encoding="direct"``); ``encoding="poisson"`` is the rate-coded ablation (:class:`common.encoders.RateEncoder`:
  Bernoulli spikes with ``P = pixel in [0, 1]`` per step; ``rate_mean``/``rate_std`` undo the input
  normalisation; evaluation is seeded by :func:`common.stochastic.seed_evaluation`);
- every hidden layer is a :class:`~common.neurons.LIF` with *one* trainable leak and threshold,
  soft reset, linear ("triangle") surrogate ``0.3 * max(0, 1 - |U/theta - 1|)``, leak clamped to
  ``<= 1`` (no lower clamp, as in the official code) after every optimizer step;
- dropout masks are drawn once per input and reused over time (:class:`~common.layers.SequenceDropout`);
- the output layer is a non-leaky integrator; its value at step ``T`` is the logit.

Layers are applied to the ``[T*B, ...]`` merge of the time axis, so op-counting hooks see each
conv/linear once per batch with ``T*B`` rows.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from common.encoders import DirectEncoder, RateEncoder, check_time_steps
from common.layers import SequenceDropout, merge_time, split_time
from common.neurons import LIF, Integrator, SpikingNeuron

__all__ = ["VGG_CFGS", "RESNET_BLOCKS", "DietVGG", "DietResNet", "build_model", "to_snn", "weight_parameter_count",
           "spiking_layers"]

# 'A' = 2x2 average pooling. VGG5/6 as in the official code ([64,A,128,128,A]); ImageNet variants end
# with an extra pool so that 224 -> 7 (classifier input 512*7*7, as in vgg_spiking_imagenet.py).
VGG_CFGS: dict[str, list] = {
    "vgg5": [64, "A", 128, 128, "A"],
    "vgg6": [64, "A", 128, 128, "A"],
    "vgg9": [64, "A", 128, 256, "A", 256, 512, "A", 512, "A", 512],
    "vgg11": [64, "A", 128, 256, "A", 512, 512, "A", 512, "A", 512, 512],
    "vgg16": [64, 64, "A", 128, 128, "A", 256, 256, 256, "A", 512, 512, 512, "A", 512, 512, 512],
    "vgg16_imagenet": [64, 64, "A", 128, 128, "A", 256, 256, 256, "A", 512, 512, 512, "A", 512, 512, 512, "A"],
    # the mini rows' small VGG (MNIST): conv16, pool, conv32, conv32, pool, FC128, FC10
    "vgg_mini": [16, "A", 32, 32, "A"],
    # the CIFAR-10 mini rows' small VGG: conv32, pool, conv64, pool, conv128, pool, FC256, FC10 (0.62 M weights)
    "vgg_mini_cifar": [32, "A", 64, "A", 128, "A"],
}
RESNET_BLOCKS: dict[str, list[int]] = {"resnet12": [1, 1, 1, 1], "resnet20": [2, 2, 2, 2], "resnet34": [3, 4, 6, 3]}


def _init_weights(m: nn.Module) -> None:
    # official: conv N(0, sqrt(2 / (k^2 * C_out))), linear N(0, 0.01), no biases
    if isinstance(m, nn.Conv2d):
        n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
        nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / n))
    elif isinstance(m, nn.Linear):
        nn.init.normal_(m.weight, 0.0, 0.01)


class _DietNet(nn.Module):
    """Shared machinery: mode, time steps, encoder, neuron factory, layer application in both modes."""

    def __init__(self, mode: str = "ann", time_steps: int = 5, encoding: str = "direct", leak: float = 1.0,
                 threshold: float = 1.0, learn_leak: bool = True, learn_threshold: bool = True,
                 surrogate_alpha: float = 0.3, backend: str = "auto", dropout_ann_conv: float = 0.2,
                 dropout_ann_fc: float = 0.5, dropout_snn: float = 0.2,
                 rate_mean: Sequence[float] = (0.0,), rate_std: Sequence[float] = (1.0,)):
        super().__init__()
        if mode not in ("ann", "snn"):
            raise ValueError(f"mode must be 'ann' or 'snn', got {mode!r}")
        if encoding not in ("direct", "poisson"):
            raise ValueError(f"encoding must be 'direct' or 'poisson', got {encoding!r}")
        self.mode, self.encoding = mode, encoding
        self._T = check_time_steps(time_steps)
        self.neuron_kwargs = dict(leak=float(leak), threshold=float(threshold), reset="soft", surrogate="triangle",
                                  surrogate_alpha=float(surrogate_alpha), learn_leak=bool(learn_leak),
                                  learn_threshold=bool(learn_threshold), leak_clamp=(None, 1.0),
                                  threshold_clamp=(1e-4, None), backend=backend)
        self.p_conv = dropout_snn if mode == "snn" else dropout_ann_conv
        self.p_fc = dropout_snn if mode == "snn" else dropout_ann_fc
        if mode == "snn":
            self.encoder = (DirectEncoder(self._T) if encoding == "direct"
                            else RateEncoder(self._T, list(rate_mean), list(rate_std)))
            self.readout = Integrator(leak=1.0, output="last")

    # -- time steps (the threshold search changes them to simulate in chunks) -----------------
    @property
    def time_steps(self) -> int:
        return self._T

    @time_steps.setter
    def time_steps(self, T: int) -> None:
        self._T = check_time_steps(T)
        if self.mode == "snn":
            self.encoder.time_steps = self._T

    # -- building blocks -------------------------------------------------------------------
    def _neuron(self) -> Optional[nn.Module]:
        return LIF(**self.neuron_kwargs) if self.mode == "snn" else None

    def _dropout(self, p: float) -> nn.Module:
        if p <= 0:
            return nn.Identity()
        return SequenceDropout(p) if self.mode == "snn" else nn.Dropout(p)

    def run_layer(self, layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "ann":
            return layer(x)
        T = x.shape[0]
        return split_time(layer(merge_time(x)), T)

    def act(self, neuron: Optional[nn.Module], x: torch.Tensor) -> torch.Tensor:
        return F.relu(x) if self.mode == "ann" else neuron(x)  # type: ignore[misc]

    def flatten(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) if self.mode == "ann" else x.flatten(2)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.mode == "ann" else self.encoder(x)

    def readout_(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.mode == "ann" else self.readout(x)

    # -- introspection -----------------------------------------------------------------------
    def neurons(self) -> list[tuple[str, LIF]]:
        """Hidden LIF layers in forward order (threshold init goes through them in this order)."""
        return [(n, m) for n, m in self.named_modules() if isinstance(m, LIF)]

    def neuron_parameters(self) -> dict[str, dict[str, float]]:
        return {n: {"leak": float(m.leak.detach()), "threshold": float(m.threshold.detach())} for n, m in self.neurons()}

    def feeders(self) -> dict[str, Optional[str]]:
        """``{weighted layer name: name of the LIF whose spikes it receives, None for analog input}``."""
        return dict(self._feeders)


def weight_parameter_count(model: nn.Module) -> int:
    """Conv + linear weights (the network's parameters; leaks/thresholds excluded)."""
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


class DietVGG(_DietNet):
    """VGG of the official code: 3x3 convs (pad 1), no bias/BN, ReLU|LIF, dropout (not before a pool),
    average pooling; classifier ``Linear -> act -> drop`` for each ``hidden`` width, then ``Linear``.

    ``width_div`` divides every channel/hidden width (smoke tests only).
    """

    def __init__(self, arch: "str | Sequence" = "vgg16", num_classes: int = 10, in_channels: int = 3,
                 input_size: int = 32, hidden: Sequence[int] = (4096, 4096), width_div: int = 1, **kwargs):
        super().__init__(**kwargs)
        cfg = list(VGG_CFGS[arch] if isinstance(arch, str) else arch)
        div = max(1, int(width_div))
        self.features = nn.ModuleList()
        self.feature_neurons = nn.ModuleDict()
        self.feature_drops = nn.ModuleDict()
        self._feeders: dict[str, Optional[str]] = {}
        c, size, src = in_channels, input_size, None
        for i, v in enumerate(cfg):
            if v == "A":
                self.features.append(nn.AvgPool2d(2))
                size //= 2
                continue
            out = max(1, int(v) // div)
            self.features.append(nn.Conv2d(c, out, 3, padding=1, bias=False))
            self._feeders[f"features.{i}"] = src
            n = self._neuron()
            if n is not None:
                self.feature_neurons[str(i)] = n
                src = f"feature_neurons.{i}"
            nxt = cfg[i + 1] if i + 1 < len(cfg) else None
            self.feature_drops[str(i)] = self._dropout(0.0 if nxt == "A" else self.p_conv)
            c = out
        flat = c * size * size
        self.classifier = nn.ModuleList()
        self.classifier_neurons = nn.ModuleDict()
        self.classifier_drops = nn.ModuleDict()
        widths = [max(1, int(h) // div) for h in hidden] + [num_classes]
        for j, w in enumerate(widths):
            self.classifier.append(nn.Linear(flat, w, bias=False))
            self._feeders[f"classifier.{j}"] = src
            if j < len(widths) - 1:
                n = self._neuron()
                if n is not None:
                    self.classifier_neurons[str(j)] = n
                    src = f"classifier_neurons.{j}"
                self.classifier_drops[str(j)] = self._dropout(self.p_fc)
            flat = w
        self.cfg, self.input_size = cfg, input_size
        self.apply_init()

    def apply_init(self) -> None:
        for m in self.modules():
            _init_weights(m)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.encode(x)
        for i, layer in enumerate(self.features):
            x = self.run_layer(layer, x)
            if isinstance(layer, nn.Conv2d):
                x = self.act(self.feature_neurons[str(i)] if self.mode == "snn" else None, x)
                x = self.feature_drops[str(i)](x)
        x = self.flatten(x)
        last = len(self.classifier) - 1
        for j, layer in enumerate(self.classifier):
            x = self.run_layer(layer, x)
            if j < last:
                x = self.act(self.classifier_neurons[str(j)] if self.mode == "snn" else None, x)
                x = self.classifier_drops[str(j)](x)
        return self.readout_(x)


class _Block(nn.Module):
    """Official BasicBlock without BN: ``act(conv2(drop(act(conv1 x))) + shortcut(x))``.

    In the SNN the residual is added to the *input current* of the second LIF.
    """

    def __init__(self, net: _DietNet, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=False)
        self.shortcut = (nn.Conv2d(cin, cout, 1, stride=stride, bias=False)
                         if stride != 1 or cin != cout else None)
        n1, n2 = net._neuron(), net._neuron()
        if n1 is not None:
            self.lif1, self.lif2 = n1, n2
        self.drop = net._dropout(net.p_conv)

    def forward(self, x: torch.Tensor, net: _DietNet) -> torch.Tensor:
        snn = net.mode == "snn"
        out = net.act(self.lif1 if snn else None, net.run_layer(self.conv1, x))
        out = self.drop(out)
        cur = net.run_layer(self.conv2, out)
        cur = cur + (net.run_layer(self.shortcut, x) if self.shortcut is not None else x)
        return net.act(self.lif2 if snn else None, cur)


class DietResNet(_DietNet):
    """The official code's "ResNet" (resnet_spiking.py), *not* He et al.'s CIFAR ResNet-20:
    pre-process 3x conv3x3 (in->64->64->64, act + dropout), AvgPool2, four stages of BasicBlocks
    (widths 64/128/256/512, strides 1/2/2/2, ``RESNET_BLOCKS`` counts), then ``Linear(512*s*s -> classes)``.
    """

    def __init__(self, arch: str = "resnet20", num_classes: int = 10, in_channels: int = 3, input_size: int = 32,
                 width_div: int = 1, **kwargs):
        super().__init__(**kwargs)
        div = max(1, int(width_div))
        w = [max(1, c // div) for c in (64, 128, 256, 512)]
        self.pre = nn.ModuleList([nn.Conv2d(in_channels, w[0], 3, padding=1, bias=False),
                                  nn.Conv2d(w[0], w[0], 3, padding=1, bias=False),
                                  nn.Conv2d(w[0], w[0], 3, padding=1, bias=False)])
        self.pre_neurons = nn.ModuleList([n for n in (self._neuron() for _ in range(3)) if n is not None])
        self.pre_drops = nn.ModuleList([self._dropout(self.p_conv), self._dropout(self.p_conv), nn.Identity()])
        self.pool = nn.AvgPool2d(2)
        self._feeders: dict[str, Optional[str]] = {"pre.0": None, "pre.1": "pre_neurons.0", "pre.2": "pre_neurons.1"}
        src = "pre_neurons.2"
        blocks, cin, size = [], w[0], input_size // 2
        for s, (n_blocks, cout, stride) in enumerate(zip(RESNET_BLOCKS[arch], w, (1, 2, 2, 2))):
            for b in range(n_blocks):
                st = stride if b == 0 else 1
                blk = _Block(self, cin, cout, st)
                k = len(blocks)
                self._feeders[f"blocks.{k}.conv1"] = src
                self._feeders[f"blocks.{k}.conv2"] = f"blocks.{k}.lif1"
                if blk.shortcut is not None:
                    self._feeders[f"blocks.{k}.shortcut"] = src
                src = f"blocks.{k}.lif2"
                blocks.append(blk)
                cin = cout
                size = (size + st - 1) // st
        self.blocks = nn.ModuleList(blocks)
        self.fc = nn.Linear(cin * size * size, num_classes, bias=False)
        self._feeders["fc"] = src
        for m in self.modules():
            _init_weights(m)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        snn = self.mode == "snn"
        x = self.encode(x)
        for i, conv in enumerate(self.pre):
            x = self.act(self.pre_neurons[i] if snn else None, self.run_layer(conv, x))
            x = self.pre_drops[i](x)
        x = self.run_layer(self.pool, x)
        for blk in self.blocks:
            x = blk(x, self)
        return self.readout_(self.run_layer(self.fc, self.flatten(x)))


def build_model(arch: "str | Sequence", mode: str = "ann", **kwargs) -> _DietNet:
    """``arch``: a key of :data:`VGG_CFGS` or :data:`RESNET_BLOCKS`."""
    if isinstance(arch, str) and arch in RESNET_BLOCKS:
        kwargs.pop("hidden", None)
        return DietResNet(arch=arch, mode=mode, **kwargs)
    if not isinstance(arch, str) or arch in VGG_CFGS:
        return DietVGG(arch=arch, mode=mode, **kwargs)
    raise ValueError(f"unknown DIET-SNN architecture {arch!r}; known: {sorted(VGG_CFGS) + sorted(RESNET_BLOCKS)}")


def _weights_only(state: dict) -> dict:
    return {k: v for k, v in state.items() if not k.endswith((".leak", ".threshold"))}


def to_snn(ann_state: dict, arch: "str | Sequence", **kwargs) -> _DietNet:
    """An SNN carrying the ANN's conv/linear weights (``ann_state``: the ANN's ``state_dict``)."""
    snn = build_model(arch, mode="snn", **kwargs)
    missing, unexpected = snn.load_state_dict(_weights_only(ann_state), strict=False)
    missing = [k for k in missing if not k.endswith((".leak", ".threshold"))]
    if missing or unexpected:
        raise RuntimeError(f"ANN weights do not fit the SNN: missing {missing}, unexpected {unexpected}")
    return snn


def spiking_layers(model: nn.Module) -> list[tuple[str, SpikingNeuron]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, SpikingNeuron)]
