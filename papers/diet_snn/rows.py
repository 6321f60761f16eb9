"""DIET-SNN (Rathi & Roy): the reported table rows (full scale) and the mini rows run here on real CIFAR-10."""
from common.registry import Row, register_paper

from .claims import make_claims

_GPU = ("needs a GPU (BPTT through {T} steps of a {arch}, {ep} epochs) and the {data} dataset, "
        "neither available on the project's CPU machine; run with trainer=gpu or trainer=ddp")
_MINI = "VGG-mini-CIFAR (32,A,64,A,128,A,FC256)"
_MINI_SRC = ("reduced-scale rows of this project (20k training images, 10 ANN epochs, one short DIET pass; "
             "configs/diet_snn/cifar_mini.yaml): they test the paper's claims, not its numbers")
_SRC = "secondary quotations of the paper's tables (collected in the project brief on DIET-SNN, §2); paper tables not read"

ROWS = [
    Row(id="cifar10_vgg16_t5", dataset="CIFAR-10", architecture="VGG16", time_steps=5,
        reported={"test/acc": 0.9270}, source=_SRC,
        not_run_here=_GPU.format(T=5, arch="VGG16", ep="300+300", data="CIFAR-10")),
    Row(id="cifar100_vgg16_t5", dataset="CIFAR-100", architecture="VGG16", time_steps=5,
        reported={"test/acc": 0.6967}, source=_SRC,
        not_run_here=_GPU.format(T=5, arch="VGG16", ep="300+300", data="CIFAR-100")),
    Row(id="cifar10_resnet20_t10", dataset="CIFAR-10", architecture="ResNet20 (official code's, 11.25 M weights)",
        time_steps=10, reported={"test/acc": 0.9254}, source=_SRC + "; Spikformer Table 3 lists 0.27 M params, "
        "which is He et al.'s ResNet-20, not the official code's network",
        not_run_here=_GPU.format(T=10, arch="ResNet20", ep="300+300", data="CIFAR-10")),
    Row(id="cifar100_resnet20_t5", dataset="CIFAR-100", architecture="ResNet20 (official code's, 11.30 M weights)",
        time_steps=5, reported={"test/acc": 0.6407}, source=_SRC,
        not_run_here=_GPU.format(T=5, arch="ResNet20", ep="300+300", data="CIFAR-100")),
    Row(id="imagenet_vgg16_t5", dataset="ImageNet", architecture="VGG16", time_steps=5,
        reported={"test/acc": 0.6900, "energy_ratio/papers": 1 / 12},
        source="abstract (69 % top-1 at T=5, 12x less compute energy than the ANN)",
        not_run_here=_GPU.format(T=5, arch="VGG16 (138 M weights)", ep="90+30", data="ImageNet")),
    # ---------------------------------------------- mini rows: real CIFAR-10 (verified array copy), small VGG
    Row(id="cifar_vgg_t5", dataset="CIFAR-10", architecture=_MINI, time_steps=5,
        reported={"test/acc": None}, source=_MINI_SRC, scales=("mini", "smoke"), group="main"),
    Row(id="cifar_fixed_leak_t5", dataset="CIFAR-10", architecture=_MINI, time_steps=5,
        reported={"test/acc": None}, source=_MINI_SRC, scales=("mini", "smoke"), group="ablation_leak"),
    Row(id="cifar_direct_sweep", dataset="CIFAR-10", architecture=_MINI, time_steps=None,
        reported={"test/acc": None}, source=_MINI_SRC, scales=("mini", "smoke"), group="ablation_encoding"),
    Row(id="cifar_poisson_sweep", dataset="CIFAR-10", architecture=_MINI, time_steps=None,
        reported={"test/acc": None}, source=_MINI_SRC, scales=("mini", "smoke"), group="ablation_encoding"),
]

register_paper(
    "diet_snn",
    "DIET-SNN: A Low-Latency Spiking Neural Network With Direct Input Encoding and Leakage and Threshold Optimization",
    "N. Rathi, K. Roy, IEEE TNNLS 34(6), 2023 (arXiv 2008.03658)",
    ROWS,
    notes="Full rows: three-stage hybrid pipeline of the official code (nitin-rathi/DIET-SNN). Weight counts "
          "(bias-free, CIFAR): VGG16 39.92 M, official ResNet20 11.25 M (CIFAR-10), ImageNet VGG16 138.3 M.",
    claims=make_claims(ROWS),
)
