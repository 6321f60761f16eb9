"""papers/lite_snn/report.py on hand-made result dicts: the IMDB table, BLEU by source length (table and plot) and
example translations."""
from papers.lite_snn.report import render


def _res(row, seed, metrics, extras=None, scale="mini"):
    return {"row": {"id": row}, "seed": seed, "scale": scale, "metrics": metrics, "extras": extras or {}}


def test_render_imdb_and_m30k(tmp_path):
    ex = [{"src": "ein hund .", "ref": "a dog .", "hyp": "a dog ."}, {"src": "zwei", "ref": "two", "hyp": "two"}]
    results = [
        _res("imdb_snn_t5_mini", 0, {"test/acc": 0.80, "test/params": 223493.0, "test/params_total": 2723493.0,
                                     "test/energy/energy_pj": 2.0e6, "test/energy/energy_nb_pj": 1.0e6,
                                     "test/lif/lif1/leak": 0.9, "test/lif/lif1/threshold": 1.1}),
        _res("imdb_snn_t5_mini", 1, {"test/acc": 0.82, "test/energy/energy_pj": 2.0e6}),
        _res("imdb_lstm_mini", 0, {"test/acc": 0.85, "test/params": 366849.0, "test/energy/energy_pj": 8.0e6}),
        _res("imdb_lstm_mini", 1, {"test/acc": 0.86, "test/energy/energy_pj": 4.0e6}),
        *[_res(f"m30k_{m}_mini", s, {"test/bleu": b + s, "test/bleu_len/short": b + 5, "test/bleu_len/mid": b,
                                     "test/bleu_len/long": b - d, "test/bleu_len/long_minus_short": -5 - d,
                                     "test/bleu_len/n_short": 500.0, "test/bleu_len/n_mid": 350.0,
                                     "test/bleu_len/n_long": 150.0, "test/params": 1000.0},
               {"examples": ex})
          for m, b, d in (("conv_snn", 20.0, 2.0), ("vanilla_snn", 8.0, 6.0)) for s in (0, 1)],
    ]
    md = render(results + [_res("imdb_gru_cpu", 0, {"test/acc": 0.9}, scale="full")], tmp_path / "plots", "plots")
    assert "#### IMDB, scale mini" in md and "#### Multi30k de→en, scale mini" in md
    assert "#### IMDB, scale full (full data, 3 epochs: the CPU budget)" in md and "| `imdb_gru_cpu` | 90.00 ± 0.00 % (n=1)" in md
    line = next(l for l in md.splitlines() if l.startswith("| `imdb_snn_t5_mini`"))
    assert "81.00 ± 1.41 % (n=2)" in line and "223,493 (2,723,493)" in line
    assert "0.375 ± 0.177 (n=2)" in line  # per-seed energy ratio to the LSTM: 2/8, 2/4
    assert "lif1: leak 0.9" in line
    assert "short 500, mid 350, long 150" in md
    van = next(l for l in md.splitlines() if l.startswith("| `m30k_vanilla_snn_mini`"))
    assert "8.5 ± 0.707 (n=2) | — |" in van and "| 2 ± 0 (n=2) | -11 ± 0 (n=2) |" in van  # BLEU over seeds, long bucket 8 - 6
    assert (tmp_path / "plots" / "lite_snn_bleu_vs_length_mini.png").is_file()
    assert "- source: _ein hund ._" in md and "  - `vanilla_snn`: a dog ." in md and "_zwei_" in md
    assert render([], tmp_path / "p2", "p2") == ""
