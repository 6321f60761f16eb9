"""Sequence-to-sequence (translation): pad-masked cross-entropy, teacher forcing, greedy and beam
decoding, corpus BLEU, per-token energy.

**Batches** are :class:`common.data.sequence.SeqBatch` ``(x=src [S, B], y=tgt [U, B], lengths [B],
y_lengths [B])`` of token ids (``collate_seq2seq``); every target is ``<bos> w_1 ... w_n <eos>`` padded
with ``pad_id``. The decoder reads ``tgt[:-1]`` and predicts ``tgt[1:]``.

**Model interface** (any ``nn.Module``; :class:`TinySeq2Seq` is the reference):

- ``encode(src [S, B], src_lengths [B]) -> memory`` (any tensor / tuple / dict of tensors);
- ``decode_step(tokens [B], state, memory) -> (logits [B, V], state)``: one target step; ``state`` is
  ``None`` on the first step (the model initialises it from ``memory``);
- optional ``decode(tgt_in [U, B], memory) -> logits [U, B, V]``: all steps at once under full
  teacher forcing; it must equal the ``decode_step`` loop (used when the teacher-forcing ratio is 1);
- optional ``select_batch(obj, index) -> obj``: pick batch rows ``index`` of a memory or state (beam
  search expands and reorders them). Without it every tensor in them is indexed along dim 1 (time- or
  layer-first, batch second, the repository's convention; 1-D tensors along dim 0); a tensor whose
  dim 1 is not the batch raises.

**Teacher forcing** (``teacher_forcing`` = ratio, training only): each decoder input token after
``<bos>`` is the gold token with probability ``ratio``, else the model's own argmax of the previous step
(scheduled sampling, drawn per token from the global seeded RNG). Evaluation losses use ratio 1.

**Decoding** never emits ``<pad>`` or ``<bos>``; a sentence ends at ``<eos>`` or after
``floor(max_len_a * src_len + max_len_b)`` tokens. Beam search keeps ``beam_size`` hypotheses, ranks
finished ones by ``log p / length ** length_penalty`` (length counts ``<eos>``; 0 = no normalisation) and,
as fairseq does, finalises a sentence once it holds ``beam_size`` finished hypotheses (only ``<eos>``
among the top ``beam_size`` candidates finishes one). Beam size 1 is greedy decoding.

**Metrics**: ``<split>/loss`` (mean over target tokens), ``<split>/acc`` (teacher-forced token accuracy),
``<split>/bleu`` (0-100, torchmetrics' ``SacreBLEUScore`` with sacrebleu's 13a tokenisation on detokenised
text; the references are the detokenised target ids, so out-of-vocabulary reference words count as the
``<unk>`` token), ``val/bleu_best``. ``detokenize(ids: list[int]) -> str`` gets ids without specials; it
is the constructor's argument or, if that is ``None``, the data module's ``detokenize`` attribute. With
``energy=True`` the op monitor counts the teacher-forced pass (padding included) and divides by the
number of target tokens (``<eos>`` included): ``<split>/energy/*`` (spikes per sample too) are **per target
token**; decoding is not counted.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Optional

import torch
from torch import Tensor, nn
from torchmetrics import MaxMetric
from torchmetrics.text import SacreBLEUScore

from ..attention import DotProductAttention
from ..data.sequence import SeqBatch, length_mask
from .module import ClassificationModule

__all__ = ["Seq2SeqModule", "TinySeq2Seq", "select_batch", "teacher_forced_logits", "greedy_decode",
           "beam_search", "max_decode_lengths", "strip_specials"]


# ---------------------------------------------------------------------------------------------- helpers
def select_batch(model: nn.Module, obj: Any, index: Tensor, batch_size: int) -> Any:
    """Batch rows ``index`` of a memory/state (see the module docstring for the convention)."""
    custom = getattr(model, "select_batch", None)
    if callable(custom):
        return custom(obj, index)
    if obj is None or isinstance(obj, (int, float, bool, str)):
        return obj
    if isinstance(obj, Tensor):
        d = 0 if obj.dim() == 1 else 1
        if obj.dim() == 0 or obj.shape[d] != batch_size:
            raise ValueError(f"cannot find the batch (size {batch_size}) in a decoder state/memory tensor of shape "
                             f"{tuple(obj.shape)}: put the batch on dim 1 ([T, B, ...] / [layers, B, ...]) or define "
                             "model.select_batch(obj, index)")
        return obj.index_select(d, index)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # NamedTuple
        return type(obj)(*(select_batch(model, o, index, batch_size) for o in obj))
    if isinstance(obj, (tuple, list)):
        return type(obj)(select_batch(model, o, index, batch_size) for o in obj)
    if isinstance(obj, dict):
        return {k: select_batch(model, v, index, batch_size) for k, v in obj.items()}
    raise TypeError(f"select_batch: unsupported {type(obj).__name__} in decoder state/memory; define "
                    "model.select_batch(obj, index)")


def _no_specials(logits: Tensor, pad_id: int, bos_id: int) -> Tensor:
    """Logits with ``<pad>`` and ``<bos>`` made impossible (decoders never emit them)."""
    idx = torch.tensor([pad_id, bos_id], device=logits.device)
    return logits.index_fill(-1, idx, float("-inf"))


def max_decode_lengths(src_lengths: Tensor, max_len_a: float, max_len_b: float) -> list[int]:
    """Per-sentence token limit ``floor(a * src_len + b)`` (at least 1), as a list."""
    return [max(1, int(math.floor(max_len_a * int(n) + max_len_b))) for n in src_lengths.tolist()]


def strip_specials(ids: list[int], pad_id: int, bos_id: int, eos_id: int) -> list[int]:
    """Token ids up to the first ``<eos>``, without ``<bos>``/``<pad>`` (what ``detokenize`` receives)."""
    out = []
    for t in ids:
        if t == eos_id:
            break
        if t not in (pad_id, bos_id):
            out.append(t)
    return out


def teacher_forced_logits(model: nn.Module, src: Tensor, src_lengths: Tensor, tgt_in: Tensor,
                          ratio: float = 1.0, pad_id: int = 0, bos_id: int = 1) -> Tensor:
    """``[U, B, V]`` logits of the decoder fed ``tgt_in [U, B]`` (gold tokens with probability ``ratio``,
    else its own previous argmax; see the module docstring)."""
    memory = model.encode(src, src_lengths)
    if ratio >= 1.0 and callable(getattr(model, "decode", None)):
        return model.decode(tgt_in, memory)
    state, outs = None, []
    tokens = tgt_in[0]
    for u in range(tgt_in.shape[0]):
        if u > 0:
            tokens = tgt_in[u]
            if ratio < 1.0:
                own = _no_specials(outs[-1].detach(), pad_id, bos_id).argmax(-1)
                gold = torch.rand(tokens.shape, device=tokens.device) < ratio
                tokens = torch.where(gold, tokens, own)
        logits, state = model.decode_step(tokens, state, memory)
        outs.append(logits)
    return torch.stack(outs)


@torch.no_grad()
def greedy_decode(model: nn.Module, src: Tensor, src_lengths: Tensor, bos_id: int, eos_id: int, pad_id: int,
                  max_len_a: float = 1.5, max_len_b: float = 10) -> list[list[int]]:
    """Argmax decoding; returns each sentence's tokens without ``<bos>``/``<eos>``."""
    B = src.shape[1]
    limits = max_decode_lengths(src_lengths, max_len_a, max_len_b)
    memory = model.encode(src, src_lengths)
    tokens = torch.full((B,), bos_id, dtype=torch.long, device=src.device)
    state, out = None, [[] for _ in range(B)]
    done = [False] * B
    for step in range(max(limits)):
        logits, state = model.decode_step(tokens, state, memory)
        tokens = _no_specials(logits, pad_id, bos_id).argmax(-1)
        for b, t in enumerate(tokens.tolist()):
            if done[b]:
                continue
            if t == eos_id:
                done[b] = True
                continue
            out[b].append(t)
            if step + 1 >= limits[b]:
                done[b] = True
        if all(done):
            break
    return out


@torch.no_grad()
def beam_search(model: nn.Module, src: Tensor, src_lengths: Tensor, bos_id: int, eos_id: int, pad_id: int,
                beam_size: int = 4, length_penalty: float = 1.0, max_len_a: float = 1.5,
                max_len_b: float = 10) -> list[list[int]]:
    """Beam search (see the module docstring); returns each sentence's best hypothesis without
    ``<bos>``/``<eos>``."""
    K, B = int(beam_size), src.shape[1]
    if K < 1:
        raise ValueError(f"beam_size must be >= 1, got {beam_size}")
    dev = src.device
    limits = max_decode_lengths(src_lengths, max_len_a, max_len_b)
    memory = model.encode(src, src_lengths)
    memory = select_batch(model, memory, torch.arange(B, device=dev).repeat_interleave(K), B)
    neg = float("-inf")
    scores = torch.full((B, K), neg, device=dev)
    scores[:, 0] = 0.0  # one live hypothesis per sentence at the start
    tokens = torch.full((B * K,), bos_id, dtype=torch.long, device=dev)
    hist = torch.zeros((B * K, 0), dtype=torch.long, device=dev)
    state = None
    finals: list[list[tuple[float, list[int]]]] = [[] for _ in range(B)]
    done = [False] * B
    for step in range(max(limits)):
        length = step + 1
        logits, state = model.decode_step(tokens, state, memory)
        logp = torch.log_softmax(_no_specials(logits.float(), pad_id, bos_id), -1)
        V = logp.shape[-1]
        cand = (scores.reshape(-1, 1) + logp).reshape(B, K * V)
        top_s, top_i = cand.topk(min(2 * K, K * V), dim=1)
        ts, tb, tt = top_s.tolist(), (top_i // V).tolist(), (top_i % V).tolist()
        hist_l = hist.tolist()
        new_s = [[neg] * K for _ in range(B)]
        new_b = [[0] * K for _ in range(B)]
        new_t = [[pad_id] * K for _ in range(B)]
        for b in range(B):
            if done[b]:
                continue
            last = length >= limits[b]
            n = 0
            for r, (s, bm, tk) in enumerate(zip(ts[b], tb[b], tt[b])):
                if s == neg:
                    break
                prefix = hist_l[b * K + bm]
                if tk == eos_id:
                    if r < K:
                        finals[b].append((s / length ** length_penalty, prefix))
                    continue
                if last:  # limit reached: the best unfinished hypotheses end here
                    finals[b].append((s / length ** length_penalty, prefix + [tk]))
                else:
                    new_s[b][n], new_b[b][n], new_t[b][n] = s, bm, tk
                n += 1
                if n == K:
                    break
            if last or len(finals[b]) >= K:
                done[b] = True
                new_s[b] = [neg] * K
        if all(done):
            break
        flat = torch.tensor([b * K + k for b in range(B) for k in new_b[b]], dtype=torch.long, device=dev)
        state = select_batch(model, state, flat, B * K)
        tokens = torch.tensor(new_t, dtype=torch.long, device=dev).reshape(-1)
        hist = torch.cat([hist.index_select(0, flat), tokens[:, None]], 1)
        scores = torch.tensor(new_s, device=dev)
    return [max(f, key=lambda h: h[0])[1] for f in finals]


# ---------------------------------------------------------------------------------------------- module
class Seq2SeqModule(ClassificationModule):
    """Lightning module for translation (see the module docstring).

    Args:
        model: encoder-decoder with the interface of the module docstring.
        vocab_size: target vocabulary size (the decoder's logits).
        pad_id, bos_id, eos_id: target special token ids (``None``: the data module's attributes of
            these names, read at ``setup``).
        detokenize: ``ids -> str`` for BLEU (``None``: the data module's ``detokenize``).
        teacher_forcing: probability of feeding the gold token in training (1 = full teacher forcing).
        decoding: ``"greedy"`` or ``"beam"`` (used for BLEU at validation and test).
        beam_size, length_penalty, max_len_a, max_len_b: decoding settings.
        bleu: compute BLEU at validation/test (decoding costs time).
        optimizer, scheduler, scheduler_interval, energy, eval_seed, label_smoothing: as
            :class:`ClassificationModule`.
    """

    def __init__(
        self,
        model: nn.Module,
        vocab_size: int,
        pad_id: Optional[int] = None,
        bos_id: Optional[int] = None,
        eos_id: Optional[int] = None,
        detokenize: Optional[Callable[[list[int]], str]] = None,
        teacher_forcing: float = 1.0,
        decoding: str = "greedy",
        beam_size: int = 4,
        length_penalty: float = 1.0,
        max_len_a: float = 1.5,
        max_len_b: float = 10.0,
        bleu: bool = True,
        optimizer: Optional[Callable[..., torch.optim.Optimizer]] = None,
        scheduler: Optional[Callable[..., Any]] = None,
        scheduler_interval: str = "epoch",
        energy: bool = False,
        eval_seed: int = 0,
        label_smoothing: float = 0.0,
    ):
        super().__init__(model, vocab_size, optimizer=optimizer, scheduler=scheduler,
                         scheduler_interval=scheduler_interval, energy=energy, eval_seed=eval_seed,
                         label_smoothing=label_smoothing)
        self.save_hyperparameters(ignore=["model", "optimizer", "scheduler", "detokenize"], logger=False)
        if not 0.0 <= float(teacher_forcing) <= 1.0:
            raise ValueError(f"teacher_forcing must lie in [0, 1], got {teacher_forcing}")
        if decoding not in ("greedy", "beam"):
            raise ValueError(f"decoding must be 'greedy' or 'beam', got {decoding!r}")
        if int(beam_size) < 1:
            raise ValueError(f"beam_size must be >= 1, got {beam_size}")
        self._specials = {"pad_id": pad_id, "bos_id": bos_id, "eos_id": eos_id}
        self.detokenize = detokenize
        self.teacher_forcing = float(teacher_forcing)
        self.decoding, self.beam_size, self.length_penalty = decoding, int(beam_size), float(length_penalty)
        self.max_len_a, self.max_len_b = float(max_len_a), float(max_len_b)
        self.use_bleu = bool(bleu)
        self.bleu = nn.ModuleDict({s: SacreBLEUScore(tokenize="13a") for s in ("val", "test")})
        self.val_bleu_best = MaxMetric()

    # ------------------------------------------------------------------ special tokens
    def setup(self, stage: str) -> None:
        dm = getattr(self._trainer, "datamodule", None)
        for k, v in self._specials.items():
            if v is None and getattr(dm, k, None) is not None:
                self._specials[k] = int(getattr(dm, k))

    def _special(self, name: str) -> int:
        v = self._specials[name]
        if v is None:
            raise RuntimeError(f"Seq2SeqModule: {name} is not set; pass it to the constructor or give the data "
                               f"module a {name} attribute")
        return int(v)

    @property
    def pad_id(self) -> int:
        return self._special("pad_id")

    @property
    def bos_id(self) -> int:
        return self._special("bos_id")

    @property
    def eos_id(self) -> int:
        return self._special("eos_id")

    # ------------------------------------------------------------------ training / loss
    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> Tensor:  # type: ignore[override]
        """Teacher-forced logits ``[U, B, V]`` (ratio ``teacher_forcing`` in training, 1 otherwise)."""
        ratio = self.teacher_forcing if self.training else 1.0
        return teacher_forced_logits(self.model, src, src_lengths, tgt_in, ratio, self.pad_id, self.bos_id)

    def target_mask(self, batch: SeqBatch) -> Tensor:
        """``[U-1, B]`` bool: the predicted positions ``tgt[1:]`` that are real tokens (``<eos>`` included)."""
        tgt = batch.y
        if batch.y_lengths is not None:
            return length_mask(batch.y_lengths.to(tgt.device) - 1, tgt.shape[0] - 1)
        return tgt[1:] != self.pad_id

    def _logits(self, batch) -> tuple[Tensor, Tensor]:
        """Logits and targets of the real target tokens only, ``[N, V]`` and ``[N]``: the base class's
        cross-entropy is then the pad-masked mean over tokens, its accuracy the token accuracy and its
        energy monitor counts tokens as samples."""
        if not isinstance(batch, SeqBatch):
            if isinstance(batch, (tuple, list)) and len(batch) == 4:
                batch = SeqBatch(*batch)
            else:
                raise TypeError("Seq2SeqModule expects SeqBatch(x=src [S, B], y=tgt [U, B], lengths, y_lengths) "
                                f"batches (common.data.sequence.collate_seq2seq), got {type(batch).__name__}")
        if batch.y.dim() != 2 or batch.y.shape[0] < 2:
            raise ValueError(f"targets must be [U >= 2, B] token ids (<bos> ... <eos>), got {tuple(batch.y.shape)}")
        logits = self(batch.x, batch.lengths.to(batch.x.device), batch.y[:-1])
        mask = self.target_mask(batch)
        return logits[mask], batch.y[1:][mask]

    # ------------------------------------------------------------------ decoding / BLEU
    def translate(self, src: Tensor, src_lengths: Tensor, decoding: Optional[str] = None) -> list[list[int]]:
        """Decode a batch with the configured method (or ``decoding``); token ids without specials."""
        decoding = decoding or self.decoding
        common = dict(bos_id=self.bos_id, eos_id=self.eos_id, pad_id=self.pad_id, max_len_a=self.max_len_a,
                      max_len_b=self.max_len_b)
        if decoding == "greedy":
            return greedy_decode(self.model, src, src_lengths, **common)
        if decoding == "beam":
            return beam_search(self.model, src, src_lengths, beam_size=self.beam_size,
                               length_penalty=self.length_penalty, **common)
        raise ValueError(f"decoding must be 'greedy' or 'beam', got {decoding!r}")

    def _detokenizer(self) -> Callable[[list[int]], str]:
        if self.detokenize is not None:
            return self.detokenize
        fn = getattr(getattr(self._trainer, "datamodule", None), "detokenize", None)
        if callable(fn):
            return fn
        raise RuntimeError("BLEU needs a detokenize(ids) -> str callable: pass Seq2SeqModule(detokenize=...) or "
                           "give the data module a detokenize method (or set bleu=False)")

    def _eval_step(self, batch, split: str):
        super()._eval_step(batch, split)  # teacher-forced loss and token accuracy; per-token ops
        if not self.use_bleu:
            return
        paused = self.monitor is not None and self.monitor.attached
        if paused:
            self.monitor.detach()  # energy is per teacher-forced token; decoding is not counted
        hyps = self.translate(batch.x, batch.lengths.to(batch.x.device))
        detok = self._detokenizer()
        refs = [strip_specials(r, self.pad_id, self.bos_id, self.eos_id) for r in batch.y.t().tolist()]
        self.bleu[split].update([detok(h) for h in hyps], [[detok(r)] for r in refs])
        if paused:
            self.monitor.attach()

    def _eval_end(self, split: str) -> None:
        super()._eval_end(split)
        if not self.use_bleu:
            return
        bleu = self.bleu[split].compute() * 100.0  # synced across processes by torchmetrics
        self.bleu[split].reset()
        self.log(f"{split}/bleu", bleu, on_step=False, on_epoch=True, prog_bar=True, sync_dist=False)
        if split == "val" and not self.trainer.sanity_checking:
            self.val_bleu_best(bleu)
            self.log("val/bleu_best", self.val_bleu_best.compute(), prog_bar=True, sync_dist=False)


# ---------------------------------------------------------------------------------------------- reference model
class TinySeq2Seq(nn.Module):
    """Reference encoder-decoder: GRU encoder (packed by length), GRU decoder with dot-product
    (Luong) attention (:class:`common.attention.DotProductAttention`) over the unpadded encoder steps; ``decode`` and the ``decode_step`` loop give the
    same logits. Memory ``(enc [S, B, H], mask [S, B], h [1, B, H])``, state ``h [1, B, H]``."""

    def __init__(self, src_vocab: int, tgt_vocab: int, emb: int = 32, hidden: int = 64, pad_id: int = 0):
        super().__init__()
        self.vocab_size = tgt_vocab
        self.src_emb = nn.Embedding(src_vocab, emb, padding_idx=pad_id)
        self.tgt_emb = nn.Embedding(tgt_vocab, emb, padding_idx=pad_id)
        self.encoder = nn.GRU(emb, hidden)
        self.decoder = nn.GRU(emb, hidden)
        self.attention = DotProductAttention(scale=1.0)  # Luong's dot score; the op counter sees both products
        self.combine = nn.Linear(2 * hidden, hidden)
        self.out = nn.Linear(hidden, tgt_vocab)

    def encode(self, src: Tensor, src_lengths: Tensor):
        packed = nn.utils.rnn.pack_padded_sequence(self.src_emb(src), src_lengths.cpu(), enforce_sorted=False)
        enc, h = self.encoder(packed)
        enc, _ = nn.utils.rnn.pad_packed_sequence(enc, total_length=src.shape[0])
        return enc, length_mask(src_lengths.to(src.device), src.shape[0]), h

    def _readout(self, dec: Tensor, enc: Tensor, mask: Tensor) -> Tensor:
        # dec [U, B, H], enc [S, B, H], mask [S, B] -> logits [U, B, V]
        e = enc.transpose(0, 1)
        ctx = self.attention(dec.transpose(0, 1), e, e, key_mask=mask.t()).transpose(0, 1)
        return self.out(torch.tanh(self.combine(torch.cat([dec, ctx], -1))))

    def decode(self, tgt_in: Tensor, memory) -> Tensor:
        enc, mask, h = memory
        dec, _ = self.decoder(self.tgt_emb(tgt_in), h)
        return self._readout(dec, enc, mask)

    def decode_step(self, tokens: Tensor, state, memory):
        enc, mask, h = memory
        dec, h = self.decoder(self.tgt_emb(tokens)[None], h if state is None else state)
        return self._readout(dec, enc, mask)[0], h
