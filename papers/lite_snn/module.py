"""Lightning modules of the lite_snn rows: the common sequence / seq2seq modules plus parameter counts.

At test end both log ``test/params`` (trainable parameters without embedding tables: the notes' convention,
§3d) and ``test/params_total``; a model with LIF neurons also logs each layer's learned leak and threshold
(``test/lif/<name>/leak|threshold``; per-layer scalars).
"""
from __future__ import annotations

from torch import nn

from common.lightning.seq2seq import Seq2SeqModule, strip_specials
from common.lightning.sequence import SequenceClassificationModule
from common.neurons import LIF

from .imdb import count_parameters

__all__ = ["LiteSequenceModule", "LiteSeq2SeqModule", "log_model_facts"]


def log_model_facts(module, model: nn.Module, split: str = "test") -> None:
    module.log(f"{split}/params", float(count_parameters(model, True)), on_step=False, on_epoch=True, sync_dist=False)
    module.log(f"{split}/params_total", float(count_parameters(model, False)), on_step=False, on_epoch=True,
               sync_dist=False)
    for name, m in model.named_modules():
        if isinstance(m, LIF) and m.leak.dim() == 0:
            module.log(f"{split}/lif/{name}/leak", float(m.leak), on_step=False, on_epoch=True, sync_dist=False)
            module.log(f"{split}/lif/{name}/threshold", float(m.threshold), on_step=False, on_epoch=True,
                       sync_dist=False)


class LiteSequenceModule(SequenceClassificationModule):
    """:class:`SequenceClassificationModule` + :func:`log_model_facts` at test end."""

    def on_test_epoch_end(self) -> None:
        super().on_test_epoch_end()
        log_model_facts(self, self.model)


class LiteSeq2SeqModule(Seq2SeqModule):
    """:class:`Seq2SeqModule` + :func:`log_model_facts` at test end + BLEU by source length at test.

    ``short_max`` / ``mid_max`` (default 10 / 15): edges on the number of source words (``<bos>``/``<eos>`` not
    counted): ``short`` <= 10, ``mid`` 11-15, ``long`` > 15. Logged: ``test/bleu_len/<bucket>`` (corpus BLEU of the
    test sentences in that bucket, torchmetrics' sacreBLEU with 13a tokenisation as ``test/bleu``, the same decoding as ``test/bleu``), ``test/bleu_len/n_<bucket>``
    and ``test/bleu_len/long_minus_short`` (points). One process: not synchronised under DDP.
    """

    BUCKETS = ("short", "mid", "long")

    def __init__(self, *args, short_max: int = 10, mid_max: int = 15, **kwargs):
        super().__init__(*args, **kwargs)
        if not 0 <= int(short_max) < int(mid_max):
            raise ValueError(f"need 0 <= short_max < mid_max, got {short_max}, {mid_max}")
        self.length_buckets = (int(short_max), int(mid_max))
        self._by_len: dict = {b: ([], []) for b in self.BUCKETS}
        self._last_hyps = None

    def bucket(self, n_words: int) -> str:
        lo, hi = self.length_buckets
        return "short" if n_words <= lo else ("mid" if n_words <= hi else "long")

    def translate(self, src, src_lengths, decoding=None):
        self._last_hyps = super().translate(src, src_lengths, decoding)
        return self._last_hyps

    def on_test_epoch_start(self) -> None:
        super().on_test_epoch_start()
        self._by_len = {b: ([], []) for b in self.BUCKETS}

    def _eval_step(self, batch, split: str):
        self._last_hyps = None
        super()._eval_step(batch, split)
        if split != "test" or self._last_hyps is None:
            return
        detok = self._detokenizer()
        specials = (self.pad_id, self.bos_id, self.eos_id)
        for b, (h, r) in enumerate(zip(self._last_hyps, batch.y.t().tolist())):
            n = len(strip_specials(batch.x[:, b].tolist(), *specials))
            hyps, refs = self._by_len[self.bucket(n)]
            hyps.append(detok(h))
            refs.append(detok(strip_specials(r, *specials)))

    def on_test_epoch_end(self) -> None:
        super().on_test_epoch_end()
        log_model_facts(self, self.model)
        if not self.use_bleu:
            return
        from torchmetrics.functional.text import sacre_bleu_score

        scores = {}
        for b, (hyps, refs) in self._by_len.items():
            self.log(f"test/bleu_len/n_{b}", float(len(hyps)), on_step=False, on_epoch=True, sync_dist=False)
            if hyps:
                scores[b] = 100.0 * float(sacre_bleu_score(hyps, [[r] for r in refs], tokenize="13a"))
                self.log(f"test/bleu_len/{b}", scores[b], on_step=False, on_epoch=True, sync_dist=False)
        if "short" in scores and "long" in scores:
            self.log("test/bleu_len/long_minus_short", scores["long"] - scores["short"], on_step=False,
                     on_epoch=True, sync_dist=False)
