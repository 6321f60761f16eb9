"""Multi30k Task 1 translation (default German -> English) from the official raw files.

Files: ``<data_dir>/multi30k/task1/raw/{train,val,test_2016_flickr}.{de,en}.gz`` (official repo layout; plain,
un-gzipped copies are read too). One sentence per line; line i of ``.de`` aligns with line i of ``.en``
(29,000 / 1,014 / 1,000 pairs). A split whose two files disagree in line count is refused.

Text: :class:`~common.data.text.Tokenizer` (Moses, per language), lowercased if ``lowercase`` (the common
Multi30k setting). One vocabulary per language, built on the training split: tokens seen ``>= min_freq``
times, at most ``vocab_size`` entries with the specials ``<pad>`` = 0, ``<unk>`` = 1, ``<bos>`` = 2,
``<eos>`` = 3. Targets are ``<bos> w1 ... wn <eos>``; sources too when ``src_bos_eos`` (as the conv-seq2seq
recipes LITE-SNN builds on), else bare. ``max_len`` keeps the first ``max_len`` words of a sentence.

Batches: :class:`~common.data.sequence.SeqBatch` ``(x = src [S, B], y = tgt [U, B], lengths, y_lengths)``,
padded with 0. With ``bucketing`` the training batches group sentences of similar length
(:class:`BucketBatchSampler`, seeded per epoch like :class:`~common.data.base.EpochSeededSampler`).

BLEU: :meth:`Multi30kDataModule.detokenize` turns target ids back into text (Moses detokeniser, stops at
``<eos>``); :meth:`Multi30kDataModule.references` gives the raw target sentences (lowercased if ``lowercase``)
in the order of the (unshuffled) val/test loader, for sacrebleu's 13a tokenisation.
"""
from __future__ import annotations

import math
from functools import partial
from pathlib import Path
from typing import Iterator, Optional, Sequence

import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, Sampler, Subset

from .base import ArrayDataModule, CorruptDatasetError, EpochSeededSampler, missing_dataset
from .sequence import collate_seq2seq
from .text import BOS, EOS, PAD, UNK, Tokenizer, Vocab, read_text_lines

__all__ = ["Multi30kDataModule", "PairDataset", "BucketBatchSampler", "find_multi30k", "read_pairs", "MULTI30K_SPLITS",
           "SPECIALS"]

MULTI30K_SPLITS = {"train": "train", "val": "val", "test": "test_2016_flickr"}
SPECIALS = (PAD, UNK, BOS, EOS)


def _file(folder: Path, stem: str) -> Optional[Path]:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def find_multi30k(data_dir: Path, langs: Sequence[str] = ("de", "en")) -> Path:
    """The folder holding every split's files for ``langs`` (``multi30k/task1/raw`` under the data root)."""
    stems = [f"{s}.{l}" for s in MULTI30K_SPLITS.values() for l in langs]
    candidates = (data_dir / "multi30k" / "task1" / "raw", data_dir / "multi30k" / "data" / "task1" / "raw",
                  data_dir / "multi30k")
    for folder in candidates:
        if all(_file(folder, s) for s in stems):
            return folder
    folder = next((c for c in candidates if c.is_dir()), candidates[0])
    missing = [s + ".gz" for s in stems if not _file(folder, s)]
    raise missing_dataset(
        "Multi30k", folder, missing,
        "Get them from https://github.com/multi30k/dataset (data/task1/raw/) into <data_dir>/multi30k/task1/raw.")


def read_pairs(folder: Path, split: str, src_lang: str = "de", tgt_lang: str = "en") -> tuple[list[str], list[str]]:
    """Aligned (source, target) raw sentences of one split."""
    stem = MULTI30K_SPLITS[split]
    ps, pt = _file(folder, f"{stem}.{src_lang}"), _file(folder, f"{stem}.{tgt_lang}")
    if ps is None or pt is None:
        raise missing_dataset("Multi30k", folder, [f"{stem}.{src_lang}.gz", f"{stem}.{tgt_lang}.gz"], "")
    src, tgt = read_text_lines(ps), read_text_lines(pt)
    while src and tgt and not src[-1].strip() and not tgt[-1].strip():  # trailing blank lines
        src.pop(), tgt.pop()
    if len(src) != len(tgt):
        raise CorruptDatasetError(f"{ps} has {len(src)} lines but {pt} has {len(tgt)}: the files do not align "
                                  "(truncated?)")
    if not src:
        raise CorruptDatasetError(f"{ps} and {pt} are empty")
    return [s.strip() for s in src], [t.strip() for t in tgt]


class PairDataset(Dataset):
    """``(src ids [S], tgt ids [U])`` items, with the raw reference target sentences in :attr:`refs`."""

    def __init__(self, src: Sequence[torch.Tensor], tgt: Sequence[torch.Tensor], refs: Sequence[str] = ()):
        self.src, self.tgt, self.refs = list(src), list(tgt), list(refs)

    def __len__(self) -> int:
        return len(self.src)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.src[i], self.tgt[i]


class BucketBatchSampler(BatchSampler):
    """Batches of similar-length items: the indices of ``sampler`` (one shuffled epoch) are cut into pools of
    ``batch_size * bucket_factor``, each pool is sorted by ``lengths[i]`` and cut into batches, and the batch
    order is shuffled with a generator seeded by the sampler's ``(seed, epoch)``: a pure function of both, so
    resumed runs see the same batches. Under DDP, Lightning re-creates it around its DistributedSampler.
    """

    def __init__(self, sampler: Sampler[int], batch_size: int, drop_last: bool = False,
                 lengths: Sequence = (), bucket_factor: int = 100):
        super().__init__(sampler, batch_size, drop_last)
        if bucket_factor < 1:
            raise ValueError(f"bucket_factor must be >= 1, got {bucket_factor}")
        self.lengths, self.bucket_factor = list(lengths), int(bucket_factor)

    def set_epoch(self, epoch: int) -> None:
        if callable(getattr(self.sampler, "set_epoch", None)):
            self.sampler.set_epoch(epoch)  # type: ignore[attr-defined]

    def __iter__(self) -> Iterator[list[int]]:
        idx = list(self.sampler)
        pool = self.batch_size * self.bucket_factor
        ordered = [i for k in range(0, len(idx), pool) for i in sorted(idx[k:k + pool], key=self.lengths.__getitem__)]
        batches = [ordered[k:k + self.batch_size] for k in range(0, len(ordered), self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        seed, epoch = int(getattr(self.sampler, "seed", 0)), int(getattr(self.sampler, "epoch", 0))
        g = torch.Generator().manual_seed(seed * 100_003 + epoch + 50_021)
        return iter([batches[j] for j in torch.randperm(len(batches), generator=g).tolist()])

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)


class Multi30kDataModule(ArrayDataModule):
    """Multi30k ``src_lang`` -> ``tgt_lang`` as token ids (see the module docstring)."""

    def __init__(self, src_lang: str = "de", tgt_lang: str = "en", lowercase: bool = True, min_freq: int = 2,
                 vocab_size: Optional[int] = None, max_len: Optional[int] = None, src_bos_eos: bool = True,
                 bucketing: bool = True, bucket_factor: int = 100, **kwargs):
        kwargs.setdefault("collate_fn", partial(collate_seq2seq, pad_id=0))
        super().__init__(**kwargs)
        if src_lang == tgt_lang:
            raise ValueError(f"src_lang and tgt_lang must differ, got {src_lang!r} twice")
        if max_len is not None and max_len < 1:
            raise ValueError(f"max_len must be >= 1 or null, got {max_len}")
        if bucket_factor < 1:
            raise ValueError(f"bucket_factor must be >= 1, got {bucket_factor}")
        self.src_lang, self.tgt_lang, self.lowercase = src_lang, tgt_lang, bool(lowercase)
        self.min_freq, self.vocab_size, self.max_len = int(min_freq), vocab_size, max_len
        self.src_bos_eos, self.bucketing, self.bucket_factor = bool(src_bos_eos), bool(bucketing), int(bucket_factor)
        self.src_tokenizer = Tokenizer(src_lang, self.lowercase)
        self.tgt_tokenizer = Tokenizer(tgt_lang, self.lowercase)
        self._vocabs: Optional[tuple[Vocab, Vocab]] = None

    pad_id = 0

    @property
    def src_vocab(self) -> Vocab:
        self.setup()
        assert self._vocabs is not None
        return self._vocabs[0]

    @property
    def tgt_vocab(self) -> Vocab:
        self.setup()
        assert self._vocabs is not None
        return self._vocabs[1]

    @property
    def bos_id(self) -> int:
        return SPECIALS.index(BOS)

    @property
    def eos_id(self) -> int:
        return SPECIALS.index(EOS)

    def build(self) -> tuple[Dataset, Dataset, Dataset]:
        folder = find_multi30k(self.data_dir, (self.src_lang, self.tgt_lang))
        toks = {}
        for split in MULTI30K_SPLITS:
            src, tgt = read_pairs(folder, split, self.src_lang, self.tgt_lang)
            toks[split] = ([self.src_tokenizer.tokenize(s)[: self.max_len] for s in src],
                           [self.tgt_tokenizer.tokenize(t)[: self.max_len] for t in tgt],
                           [t.lower() if self.lowercase else t for t in tgt])
        src_vocab = Vocab.build(toks["train"][0], self.vocab_size, self.min_freq, SPECIALS)
        tgt_vocab = Vocab.build(toks["train"][1], self.vocab_size, self.min_freq, SPECIALS)
        self._vocabs = (src_vocab, tgt_vocab)
        b, e = self.bos_id, self.eos_id

        def make(split: str) -> PairDataset:
            s_toks, t_toks, refs = toks[split]
            wrap_src = (lambda ids: [b, *ids, e]) if self.src_bos_eos else (lambda ids: ids or [src_vocab.unk_id])
            src = [torch.tensor(wrap_src(src_vocab.encode(t)), dtype=torch.long) for t in s_toks]
            tgt = [torch.tensor([b, *tgt_vocab.encode(t), e], dtype=torch.long) for t in t_toks]
            return PairDataset(src, tgt, refs)

        return make("train"), make("val"), make("test")

    # -- loaders ------------------------------------------------------------------------------
    def _loader(self, name: str, train: bool) -> DataLoader:
        if not (train and self.bucketing):
            return super()._loader(name, train)
        ds = self.split(name)
        lengths = [(len(s), len(t)) for s, t in (ds[i] for i in range(len(ds)))]  # type: ignore[arg-type]
        batch_sampler = BucketBatchSampler(EpochSeededSampler(len(ds), self.seed), self.batch_size,  # type: ignore[arg-type]
                                           drop_last=False, lengths=lengths, bucket_factor=self.bucket_factor)
        return DataLoader(ds, batch_sampler=batch_sampler, num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0, collate_fn=self.collate_fn)

    # -- text for BLEU ------------------------------------------------------------------------
    def detokenize(self, ids: "Sequence[int] | torch.Tensor", side: str = "tgt") -> str:
        """Text of one id sequence (``<bos>``/``<pad>`` dropped, stops at ``<eos>``), Moses-detokenised."""
        if side not in ("src", "tgt"):
            raise ValueError(f"side must be 'src' or 'tgt', got {side!r}")
        vocab, tok = (self.src_vocab, self.src_tokenizer) if side == "src" else (self.tgt_vocab, self.tgt_tokenizer)
        return tok.detokenize(vocab.decode(ids))

    def detokenize_batch(self, y: torch.Tensor, side: str = "tgt") -> list[str]:
        """Texts of a time-first ``[U, B]`` batch of ids (e.g. decoded hypotheses)."""
        return [self.detokenize(y[:, b], side) for b in range(y.shape[1])]

    def references(self, split: str) -> list[str]:
        """Raw target sentences of ``split`` (lowercased if ``lowercase``) in the eval loader's order."""
        ds = self.split(split)
        if isinstance(ds, Subset):
            return [ds.dataset.refs[i] for i in ds.indices]  # type: ignore[attr-defined]
        return list(ds.refs)  # type: ignore[attr-defined]
