"""spiking_lstm rows: converted + fine-tuned spiking LSTMs (Datta, Deng, Aviles, Beerel; ISLPED 2023 / arXiv
2210.12613). Everything known about the paper: ``../shared/papers/spiking_lstm.md`` (only the abstract). Row-wise
sequential MNIST and UCI HAR: LSTM baseline, fine-tuned SNN at T = 1, 2, 4 (each also reports the converted SNN
before fine-tuning), ablations of the bias shift and of trainable threshold/leak, conversion-only sweeps over T.
FSDD is the labelled stand-in for Google Speech Commands; the GSC rows need the full dataset (not here).

Every smnist/har/fsdd row exists twice: ``<id>`` at the mini scale and ``<id>_full`` (:func:`row_id`) at the full
scale, so a full run never overwrites the committed mini result of the same seed (results live at
``results/<paper>/<row>/seed<k>.json``)."""
from common.registry import Row, register_paper

from .claims import make_claims, row_id

SCALES = {"mini": ("mini", "smoke"), "full": ("full", "smoke")}  # a row id runs at one real scale (+ smoke)
SRC_NONE = "the paper reports no number for this dataset in an available source (abstract only); trained here"
SRC_GSC = "abstract: 94.75 % on GSC with T = 2 (direct encoding), ~4.1x lower energy than an iso-architecture LSTM"
DATA = {
    "smnist": "row-wise sequential MNIST (28 x 28)",
    "har": "UCI HAR (9 raw inertial channels x 128, official subject split)",
    "fsdd": "FSDD, stand-in for GSC (40 log-mel x 101 frames, official split)",
    "gsc": "Google Speech Commands 12 (v0.01 assumed; 40 log-mel x 101 frames)",
}
ARCH = {
    "smnist": "clipped LSTM 1x128 + Linear 10",
    "har": "clipped LSTM 2x64 + Linear 6",
    "fsdd": "clipped LSTM 1x128 + Linear 10",
    "gsc": "clipped LSTM 1x144 + Linear 12 (paper's architecture unknown)",
}
GSC_GPU = ("needs the full Google Speech Commands dataset (only a 300-clip v0.01 subset is on this machine) and a GPU "
           "for BPTT over 101 frames x T; run with trainer=gpu where both exist")


def _rows(ds: str, scale: str) -> list:
    a, d, sc = ARCH[ds], DATA[ds], SCALES[scale]
    out = [Row(id=row_id(f"{ds}_lstm", scale), dataset=d, architecture=a, time_steps=None,
               reported={"test/acc": None}, source=SRC_NONE, scales=sc, group=f"{ds}_main")]
    for T in (1, 2, 4):
        out.append(Row(id=row_id(f"{ds}_snn_t{T}", scale), dataset=d, architecture=a + f", spiking, T={T}",
                       time_steps=T, reported={"test/acc": None}, source=SRC_NONE, scales=sc, group=f"{ds}_main"))
    out += [
        Row(id=row_id(f"{ds}_t2_no_shift", scale), dataset=d, architecture=a + ", spiking, T=2, bias shift 0",
            time_steps=2, reported={"test/acc": None}, source=SRC_NONE, scales=sc, group=f"{ds}_ablation"),
        Row(id=row_id(f"{ds}_t2_fixed", scale), dataset=d,
            architecture=a + ", spiking, T=2, fixed thresholds and leaks", time_steps=2,
            reported={"test/acc": None}, source=SRC_NONE, scales=sc, group=f"{ds}_ablation"),
    ]
    return out


def _sweeps(ds: str, scale: str) -> list:
    sc = SCALES[scale]
    return [Row(id=row_id(f"{ds}_converted_sweep{sfx}", scale), dataset=DATA[ds],
                architecture=ARCH[ds] + f", converted{txt}", time_steps=None, reported={"test/acc": None},
                source=SRC_NONE, scales=sc, group=f"{ds}_conversion")
            for sfx, txt in (("", ""), ("_no_shift", ", bias shift 0"))]


def _fsdd(scale: str) -> list:
    sc = SCALES[scale]
    return [
        Row(id=row_id("fsdd_lstm", scale), dataset=DATA["fsdd"], architecture=ARCH["fsdd"], time_steps=None,
            reported={"test/acc": None}, source="stand-in for GSC: no reported value", scales=sc, group="fsdd_main"),
        Row(id=row_id("fsdd_snn_t2", scale), dataset=DATA["fsdd"], architecture=ARCH["fsdd"] + ", spiking, T=2",
            time_steps=2, reported={"test/acc": None},
            source="stand-in for GSC (the paper's headline setting T = 2): no reported value", scales=sc,
            group="fsdd_main"),
        *_sweeps("fsdd", scale),
    ]


ROWS = [
    *[r for scale in ("mini", "full")
      for r in (*_rows("smnist", scale), *_sweeps("smnist", scale), *_rows("har", scale), *_sweeps("har", scale),
                *_fsdd(scale))],
    Row(id="gsc_lstm", dataset=DATA["gsc"], architecture=ARCH["gsc"], time_steps=None, reported={"test/acc": None},
        source="the paper's LSTM accuracy is not in an available source", scales=("full", "smoke"),
        not_run_here=GSC_GPU, group="gsc"),
    Row(id="gsc_snn_t2", dataset=DATA["gsc"], architecture=ARCH["gsc"] + ", spiking, T=2", time_steps=2,
        reported={"test/acc": 0.9475, "energy_ratio": 1 / 4.1}, source=SRC_GSC, scales=("full", "smoke"),
        not_run_here=GSC_GPU, group="gsc"),
]

register_paper(
    "spiking_lstm",
    "Towards Energy-Efficient, Low-Latency and Accurate Spiking LSTMs (ISLPED 2023: Bridging the Gap Between "
    "Spiking Neural Networks & LSTMs for Latency & Energy Efficiency)",
    "G. Datta, H. Deng, R. Aviles, P. A. Beerel, ISLPED 2023 (arXiv 2210.12613)",
    ROWS,
    notes=("Only the abstract is available and no code exists: the activations, which neurons are IF/LIF/analog, "
           "the bias shift, the threshold init, the energy counting and the latency model are this project's "
           "design (papers/spiking_lstm/README.md). Latency: papers/spiking_lstm/latency.py (every SNN row also "
           "reports its own N, L, T latencies)."),
    claims=make_claims(ROWS),
)
