"""lmu_quantized rows: psMNIST (NRU protocol) — 2019 LMU, hybrid-spiking LMU, LSTM, GRU, fully parallel LMU; full
scale (10 epochs) and mini (reduced budget, three seeds). Everything known about the paper: notes
``../shared/papers/lmu_quantized.md``."""
from common.registry import Row, register_paper

from .claims import make_claims

DATASET = "psMNIST (NRU: seed 50, 50k/10k/10k)"
SRC_2019 = ("nengo/keras-lmu branch `paper`, experiments/psMNIST-standard.ipynb output cells (same lab as the paper; "
            "not the paper's own code): test 97.15 %, 10 epochs, best val_loss checkpoint")
SRC_HYBRID = ("abstract only: more accurate than LSTM, GRU and NRU; <= 3.74 bits of activity, 1.26 significant bits "
              "per weight multiply; its accuracy is not available")
SRC_PAR = ("Chilkuri & Eliasmith 2021 via paperswithcode (secondary): 98.49 % (their 165k-parameter model); this row "
           "uses hrshtv/pytorch-lmu's LMUFFT sizes (346 hidden, order 468: 166,092 parameters)")
SRC_RNN = "not in an available source (the paper's baseline numbers are unknown); trained here as baselines"
MINI_SRC = "reduced budget on the same psMNIST (configs/lmu_quantized/mini.yaml); no reported value"


def _row(id, arch, reported, source, scales, group):
    return Row(id=id, dataset=DATASET, architecture=arch, time_steps=784, reported=reported, source=source,
               scales=scales, group=group)


FULL = ("full", "smoke")
MINI = ("mini", "smoke")
ARCH = {
    "lmu": "LMU 212 hidden, order 256, theta 784 (2019; 102,027 trainable) + Dense 10",
    "hybrid": "LMU 212/256/784 with the dt-quantizer on h (dt annealed) + Dense 10",
    "lstm": "LSTM 157 hidden (102,060 params) + Linear 10",
    "gru": "GRU 181 hidden (101,732 params) + Linear 10",
    "parallel": "fully parallel LMU 346 hidden, order 468, theta 784 (166,092 params) + Linear 10",
}

ROWS = [
    _row("lmu", ARCH["lmu"], {"test/acc": 0.9715}, SRC_2019, FULL, "full"),
    _row("hybrid", ARCH["hybrid"], {"test/acc": None, "test/bits/bits_per_neuron_step": 3.74,
                                    "test/bits/significant_bits_per_multiply": 1.26}, SRC_HYBRID, FULL, "full"),
    _row("lstm", ARCH["lstm"], {"test/acc": None}, SRC_RNN, FULL, "full"),
    _row("gru", ARCH["gru"], {"test/acc": None}, SRC_RNN, FULL, "full"),
    _row("parallel", ARCH["parallel"], {"test/acc": 0.9849}, SRC_PAR, FULL, "full"),
    *[_row(f"{k}_mini", ARCH[k], {"test/acc": None}, MINI_SRC, MINI, "mini") for k in ARCH],
    _row("hybrid_u_mini", ARCH["hybrid"] + ", the memory input u quantized too (quantize_u)", {"test/acc": None},
         MINI_SRC, MINI, "mini_ablation"),
    _row("hybrid_dt1_mini", ARCH["hybrid"] + ", annealed to dt = 1 instead of 4", {"test/acc": None}, MINI_SRC, MINI,
         "mini_ablation"),
    _row("parallel_u_identity", ARCH["parallel"] + ", memory input u = w x + b (no ReLU)", {"test/acc": None},
         "ablation of the port's u = ReLU(w x + b) (dead for 3/8 of seeds); no reported value", FULL, "full_ablation"),
    _row("lmu_adam_eps7", ARCH["lmu"] + ", Adam epsilon 1e-7 (Keras' default) instead of torch's 1e-8",
         {"test/acc": None}, "ablation of a framework default (the 2019 notebook ran Keras' Adam); no reported value",
         FULL, "full_ablation"),
]

register_paper(
    "lmu_quantized",
    "A Spike in Performance: Training Hybrid-Spiking Neural Networks with Quantized Activation Functions",
    "Voelker, Rasmussen & Eliasmith 2020 (arXiv 2002.03553)",
    ROWS,
    notes=("Only the abstract is available: the quantizers' placement, the dt schedule and the bit definitions are "
           "ours (papers/lmu_quantized/lmu.py, configs/lmu_quantized/, common/metrics/bits.py). Speed: "
           "scripts/bench_lmu.py (results/bench/lmu_speed.json)."),
    claims=make_claims(ROWS),
)
