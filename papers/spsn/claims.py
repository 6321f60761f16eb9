"""SPSN's claims as checks over result metrics (evaluated by ``scripts/make_results.py``)."""
from common.claims import Bench, Bound, Claim, Compare, M, Ratio, reported_within

ACC = "test/acc"
EPOCH = "train/epoch_seconds"
STAND_IN = ("The mini rows are a stand-in (rate-coded MNIST spike trains, trained for a few epochs on a CPU), "
            "not SHD: they test whether the method's advantage carries over to it, not the paper's SHD numbers.")


def make_claims(rows) -> tuple:
    """The claims, given the paper's rows (the full-scale checks use their reported values)."""
    return (
        Claim(id="spsn_beats_lif",
              statement="SPSN (SB and GS) is more accurate than an LIF network of the same architecture",
              source="abstract; official README table (SHD)", scale="mini",
              checks=(Compare(M("mini_sb", ACC), ">", M("mini_lif", ACC)),
                      Compare(M("mini_gs", ACC), ">", M("mini_lif", ACC))),
              explanation=STAND_IN),
        Claim(id="spsn_beats_relu",
              statement="SPSN (SB and GS) is more accurate than the non-spiking (ReLU) network of the same architecture",
              source="abstract; official README table (SHD)", scale="mini",
              checks=(Compare(M("mini_sb", ACC), ">", M("mini_relu", ACC)),
                      Compare(M("mini_gs", ACC), ">", M("mini_relu", ACC))),
              explanation=STAND_IN),
        Claim(id="epoch_10x_faster",
              statement="training is ~10x faster per epoch than LIF",
              source="abstract (official code: ≈21–46x on SHD, GPU)", scale="mini",
              checks=(Ratio(M("mini_lif", EPOCH), M("mini_sb", EPOCH), ">=", 10),
                      Ratio(M("mini_lif", EPOCH), M("mini_gs", EPOCH), ">=", 10)),
              explanation="The mini rows train on a CPU with few threads, where SPSN's parallel integration over "
                          "time has little parallel hardware to use; the paper's epoch times come from a GPU."),
        Claim(id="speedup_4000x_10k_steps",
              statement="~4000x faster training than LIF on inputs of 10,000 time steps",
              source="abstract (benchmark setup not published)", scale="bench",
              checks=(Bound(Bench("spsn_speed", "ratio_lif_paper_spsn_sb", (("case", "network"), ("T", 10000))),
                            ">=", 4000),),
              explanation="Measured by scripts/bench_spsn.py on a CPU at a small batch (see the benchmark section); "
                          "the paper's setup for this figure is not published."),
        Claim(id="full_accuracies",
              statement="the official README's SHD accuracies (200 epochs), each within 1 point",
              source="official README table + outputs/*.json", scale="full",
              checks=reported_within(rows, ACC, 0.01)),
    )
