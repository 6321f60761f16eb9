"""SPSN (Yarga & Wood, IJCNN 2023) table rows: SHD accuracy + epoch time, and the FSDD-spike mini stand-in."""
from common.registry import Row, register_paper

from .claims import make_claims

SRC = ("official repo NECOTIS/Stochastic-Parallelizable-Spiking-Neuron-SPSN README + outputs/*.json "
       "(seed 0, final epoch of 200; train_duration = seconds per epoch, GPU not recorded)")
NOT_HERE = ("SHD (shd_train.h5 / shd_test.h5) is not on the CI machine and 200 epochs need a GPU: run with "
            "scale=full data.data_dir=<folder with the SHD h5 files> trainer=gpu")
ARCH = "FC 700-128-128-128-20"
LIF_EPOCH = {"basic": 252.2, "aug": 261.7}


def _full(id, neuron, setting, acc, epoch_s, group):
    reported = {"test/acc": acc, "train/epoch_seconds": epoch_s}
    lif = LIF_EPOCH["basic" if setting == "basic" else "aug"]
    if neuron != "lif":
        reported["lif_epoch_ratio"] = round(lif / epoch_s, 2)  # LIF epoch time / this row's epoch time
    return Row(id=id, dataset="SHD", architecture=f"{ARCH} ({neuron}, {setting})", time_steps=None,
               reported=reported, source=SRC, scales=("full", "smoke"), not_run_here=NOT_HERE, group=group)


MINI_SRC = ("stand-in: FSDD's real spoken digits as spike trains (700-channel gammatone + LIF encoder front end, "
            "common/data/auditory.py; T = each clip's length, up to 1,000 steps of 1 ms; no SHD here); its settings are in configs/spsn/fsdd.yaml and in each result "
            "file's config")


def _mini(id, neuron):
    return Row(id=id, dataset="FSDD spikes (stand-in for SHD)", architecture=f"FC 700-128-128-128-10 ({neuron})",
               time_steps=1000, reported={"test/acc": None}, source=MINI_SRC, scales=("mini", "smoke"),
               group="mini")


ROWS = [
    _full("lif_basic", "lif", "basic", 0.7138, 252.2, "basic"),
    _full("sb_basic", "sb", "basic", 0.7716, 5.5, "basic"),
    _full("gs_basic", "gs", "basic", 0.7566, 6.8, "basic"),
    _full("relu_basic", "relu", "basic", 0.7182, 1.5, "basic"),
    _full("lif_aug", "lif", "aug", 0.8304, 261.7, "aug"),
    _full("sb_aug", "sb", "aug", 0.8609, 10.7, "aug"),
    _full("gs_aug", "gs", "aug", 0.8609, 12.2, "aug"),
    _full("relu_aug", "relu", "aug", 0.6608, 6.7, "aug"),
    _full("sb_aug_reg", "sb", "aug+reg 0.4", 0.8971, 10.7, "aug_reg"),
    _full("gs_aug_reg", "gs", "aug+reg 0.1", 0.8940, 12.2, "aug_reg"),
    _mini("fsdd_sb", "sb"),
    _mini("fsdd_gs", "gs"),
    _mini("fsdd_lif", "lif"),
    _mini("fsdd_relu", "relu"),
]

register_paper(
    "spsn",
    "Accelerating SNN Training with Stochastic Parallelizable Spiking Neurons",
    "Yarga & Wood, IJCNN 2023 (arXiv 2306.12666)",
    ROWS,
    notes=("Speed claims: abstract ~10x faster training than LIF on SHD, ~4000x at 10,000 time steps; "
           "scripts/bench_spsn.py measures both (results/bench/spsn_speed.json)."),
    claims=make_claims(ROWS),
)
