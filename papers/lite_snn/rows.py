"""lite_snn rows: IMDB sentiment (SNN at T = 5 and 10 steps per word, vanilla RNN, LSTM, GRU) and Multi30k de->en
(conv SNN with attention, the same conv network with ReLU, LSTM seq2seq, the official attention-free spiking
seq2seq), each at full scale (not run on this CPU) and mini (reduced budget, three seeds). Everything known about the
paper: notes ``../shared/papers/lite_snn.md``; design choices: ``papers/lite_snn/README.md``."""
from common.registry import Row, register_paper

from .claims import make_claims

IMDB = "IMDB (aclImdb 25k/25k; 2,500 train reviews held out for validation)"
SRC = ("not available: the paper's tables are not found (notes §2); the official code "
       "(nitin-rathi/LITE-SNN @1c7d3ae imdb_sentiment_analysis.py) prints no committed result")
NOT_HERE = ("50 epochs over whole reviews: ~7 h (SNN T=5) to ~13 h (SNN T=10, LSTM) per seed on this 2-core CPU "
            "(configs/lite_snn/imdb_full.yaml); run with trainer=gpu where a GPU is present")
CPU_SRC = ("full data at a CPU budget: 3 of the official 50 epochs, whole reviews, one seed at least "
           "(configs/lite_snn/imdb_cpu.yaml); no reported value")
MINI_SRC = "reduced budget on the same IMDB pipeline (configs/lite_snn/imdb_mini.yaml); no reported value"
ARCH = {
    "snn_t5": "Emb 100 -> [Linear 100-256, LIF, Linear 256-256, LIF, Linear 256-256, integrator] x 5 steps/word "
              "-> /words -> Linear 256-256, ReLU, Linear 256-1 (223,493 params w/o embedding)",
    "snn_t10": "as snn_t5 with 10 steps/word (223,493 params w/o embedding)",
    "rnn": "Emb 100 -> RNN 256 (tanh, 1 layer) -> Linear 256-1 (91,905)",
    "lstm": "Emb 100 -> LSTM 256 (1 layer) -> Linear 256-1 (366,849)",
    "gru": "Emb 100 -> GRU 256 (1 layer) -> Linear 256-1 (275,201)",
}
STEPS = {"snn_t5": 5, "snn_t10": 10}

ROWS = [
    *[Row(id=f"imdb_{k}", dataset=IMDB, architecture=a, time_steps=STEPS.get(k), reported={"test/acc": None},
          source=SRC, scales=("full", "smoke"), not_run_here=NOT_HERE, group="imdb") for k, a in ARCH.items()],
    *[Row(id=f"imdb_{k}_mini", dataset=IMDB + ", mini budget", architecture=a, time_steps=STEPS.get(k),
          reported={"test/acc": None}, source=MINI_SRC, scales=("mini", "smoke"), group="imdb_mini")
      for k, a in ARCH.items()],
    *[Row(id=f"imdb_{k}_cpu", dataset=IMDB + ", 3 epochs", architecture=a, time_steps=STEPS.get(k),
          reported={"test/acc": None}, source=CPU_SRC, scales=("full", "smoke"), group="imdb_cpu")
      for k, a in ARCH.items()],
]

M30K = "Multi30k de->en (official train 29k / val 1,014 / test2016 1,000)"
M30K_SRC = ("not available: the paper's BLEU is not found (notes §2); the official translation script trains only "
            "the LSTM baseline and prints no committed result")
M30K_NOT_HERE = ("25 epochs of the full-size models (up to ~14 M parameters, T = 10 inner steps per token for the "
                 "spiking encoder-decoder) need a GPU; run with trainer=gpu")
M30K_ARCH = {
    "conv_snn": ("conv encoder-decoder with dot-product attention, LIF neurons, T = 4 per token, {l} + {l} blocks of "
                 "kernel 3, emb {e}, hidden {h} (papers/lite_snn/seq2seq.py; our design)"),
    "conv_relu": "the same conv encoder-decoder with ReLU (T = 1), {l} + {l} blocks, emb {e}, hidden {h}",
    "lstm": "official LSTM seq2seq, 2 + 2 layers, emb {e}, hidden {h2}",
    "vanilla_snn": "official spiking encoder-decoder without attention (Linear-LIF-Linear-integrator), emb {e}, hidden {h2}",
}
M30K_SIZES = {"full": dict(l=4, e=256, h=512, h2=1024), "mini": dict(l=2, e=128, h=128, h2=256)}
M30K_STEPS = {"conv_snn": 4, "conv_relu": 1, "lstm": None, "vanilla_snn": None}

M30K_MINI = M30K + ", mini budget"
M30K_MINI_SRC = "reduced budget and sizes (configs/lite_snn/multi30k_mini.yaml); no reported value"


def _m30k_mini(row_id: str, model: str, time_steps, note: str = "", group: str = "m30k_mini") -> Row:
    """A Multi30k mini row of ``model`` (a key of M30K_ARCH), ``note`` appended to its architecture."""
    arch = M30K_ARCH[model].format(**M30K_SIZES["mini"]) + (f"; {note}" if note else "")
    return Row(id=row_id, dataset=M30K_MINI, architecture=arch, time_steps=time_steps, reported={"test/bleu": None},
               source=M30K_MINI_SRC, scales=("mini", "smoke"), group=group)


ROWS += [
    *[Row(id=f"m30k_{k}", dataset=M30K, architecture=a.format(**M30K_SIZES["full"]),
          time_steps=M30K_STEPS[k] if k != "vanilla_snn" else 10, reported={"test/bleu": None}, source=M30K_SRC,
          scales=("full", "smoke"), not_run_here=M30K_NOT_HERE, group="m30k") for k, a in M30K_ARCH.items()],
    *[_m30k_mini(f"m30k_{k}_mini", k, M30K_STEPS[k] if k != "vanilla_snn" else 4) for k in M30K_ARCH],
]
PROJ = ("ablation (papers/lite_snn/seq2seq_proj.py): the attention with learned query/key projections "
        "W_q, W_k (Linear 128-128 on spikes: ACs)")
ROWS += [_m30k_mini(f"m30k_conv_{n}_proj_mini", f"conv_{n}", 4 if n == "snn" else 1, PROJ, "m30k_mini_ablation")
         for n in ("snn", "relu")]
ROWS.append(_m30k_mini("m30k_conv_snn_sa1_mini", "conv_snn", 4, "ablation: surrogate amplitude 1 (official 0.3)",
                       "m30k_mini_ablation"))
ROWS.append(_m30k_mini("m30k_conv_snn_akv_mini", "conv_snn", 4,
                       "ablation (papers/lite_snn/seq2seq_analog_kv.py): analog attention keys/values (the encoder's "
                       "residual stream, not its spikes)", "m30k_mini_ablation"))
DVS_NOT_HERE = ("DVS128 Gesture is not on this machine (notes §3h) and 64 epochs of a 5-block conv SNN at 128 x 128, "
                "T = 16, need a GPU: run with data.data_dir=<folder with DVSGesture/> (or data.download=true) "
                "trainer=gpu")
ROWS.append(Row(id="dvs_conv_snn", dataset="DVS128 Gesture (tonic; official user split, 130 train recordings held out)",
                architecture="5 x [Conv 3x3 128, BN, LIF, MaxPool 2] -> FC 2048-512 LIF -> FC 512-11, T = 16 frames "
                             "(papers/lite_snn/dvs.py; our design after SpikingJelly's DVSGestureNet)",
                time_steps=16, reported={"test/acc": None},
                source="not available: no DVS code or number in the sources (notes §2, §3f); anchor: SpikingJelly "
                       "DVSGestureNet (PLIF) 93.75 % at T = 16",
                scales=("full", "smoke"), not_run_here=DVS_NOT_HERE, group="dvs"))

register_paper(
    "lite_snn",
    "LITE-SNN: Leveraging Inherent Dynamics to Train Energy-Efficient Spiking Neural Networks for Sequential Learning",
    "Rathi & Roy, IEEE Trans. Cognitive and Developmental Systems 2024 (doi 10.1109/TCDS.2024.3396431)",
    ROWS,
    notes=("Only a truncated abstract and the official IMDB / translation scripts are available; every reported "
           "number is unknown. Design choices and the fixed hazards of the official script: papers/lite_snn/README.md."),
    claims=make_claims(ROWS),
)
