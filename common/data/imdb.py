"""IMDB sentiment (Large Movie Review Dataset v1.0, 25k train / 25k test reviews) as token-id sequences.

Files (under ``<data_dir>/imdb/``, first found): an extracted official ``aclImdb/`` folder, the data root's
``aclImdb_labelled.tar.xz`` (official layout without ``train/unsup``) or the official ``aclImdb_v1.tar.gz``.
An archive is extracted once into ``<cache_dir>/imdb-<sha256 prefix>/aclImdb`` (``cache_dir``: config, else
``$SNN_REPRO_CACHE``, else ``~/.cache/snn_repro``; ``train/unsup`` is skipped), and the tokenised corpus is
cached beside it (tokenising all 50k reviews with Moses takes about 2 min on one core; later runs read it in
seconds). Label = folder (``neg`` = 0, ``pos`` = 1); reviews in (label, numeric id) order.

Text: ``<br />`` line breaks become spaces, then :class:`~common.data.text.Tokenizer` (Moses, English),
lowercased if ``lowercase``. Vocabulary: built on the training reviews that remain after the validation
hold-out, at most ``vocab_size`` entries (``<pad>`` = 0 and ``<unk>`` = 1 included) of tokens seen
``>= min_freq`` times. ``max_len`` keeps the first ``max_len`` tokens of a review.

Validation: ``val_size`` reviews held out of the 25k training reviews by a permutation seeded with
``split_seed`` (fixed by ``data_seed``; the names of the held-out files are in :attr:`val_names`). The test
set is never used for model selection (the official LITE-SNN code picks checkpoints on it; we do not).

Pretrained vectors: ``vectors_path`` names a GloVe-format text file you supply (GloVe is not on this machine);
:attr:`vectors` is then the ``[len(vocab), D]`` matrix for an ``nn.Embedding`` (rows of unknown words are 0).

Batches: :class:`~common.data.sequence.SeqBatch` ``(x [T, B] int64 token ids padded with 0, y [B], lengths [B])``.
``files_per_class`` reads only the first N reviews (by id) of each class folder: smoke runs and tests.
"""
from __future__ import annotations

import gzip
import lzma
import os
import re
import shutil
import tarfile
import zlib
from functools import partial
from pathlib import Path
from typing import Optional, Sequence

import torch
from torch.utils.data import Dataset

from .base import ArrayDataModule, CorruptDatasetError, missing_dataset
from .sequence import collate_classification
from .text import PAD, UNK, Tokenizer, Vocab, load_vectors
from .cache import default_cache_dir, file_sha256

__all__ = ["IMDBDataModule", "TokenDataset", "find_imdb", "extract_imdb", "read_reviews", "IMDB_ARCHIVES", "IMDB_CLASSES"]

IMDB_ARCHIVES = ("aclImdb_labelled.tar.xz", "aclImdb_v1.tar.gz")
IMDB_CLASSES = ("neg", "pos")  # label = index
_SPLITS = ("train", "test")
_NAME = re.compile(r"^(\d+)_(\d+)\.txt$")


def find_imdb(data_dir: Path) -> Path:
    """The extracted ``aclImdb`` folder or the archive under ``<data_dir>/imdb`` (or ``<data_dir>``)."""
    for folder in (data_dir / "imdb", data_dir):
        if (folder / "aclImdb" / "train").is_dir():
            return folder / "aclImdb"
        for name in IMDB_ARCHIVES:
            if (folder / name).is_file():
                return folder / name
    raise missing_dataset(
        "IMDB", data_dir / "imdb", [IMDB_ARCHIVES[0] + " (or " + IMDB_ARCHIVES[1] + ", or an extracted aclImdb/)"],
        "Get aclImdb_v1.tar.gz from https://ai.stanford.edu/~amaas/data/sentiment/ into that folder.")


def _keep(member: tarfile.TarInfo) -> bool:
    parts = member.name.split("/")
    return not (len(parts) > 2 and parts[1] == "train" and parts[2] == "unsup")


def extract_imdb(archive: Path, cache_dir: Path) -> Path:
    """Extract ``archive`` once into ``cache_dir/imdb-<sha256[:16]>/aclImdb`` and return that folder.

    Extraction goes to a temporary folder renamed into place when complete, so an interrupted or concurrent
    extraction never leaves a half-filled folder behind. A truncated or corrupt archive raises
    :class:`CorruptDatasetError` naming it.
    """
    target = cache_dir / f"imdb-{file_sha256(archive)[:16]}"
    if (target / "aclImdb").is_dir():
        return target / "aclImdb"
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with tarfile.open(archive, "r:*") as tf:
            tf.extractall(tmp, members=(m for m in tf if _keep(m)), filter="data")
        for split in _SPLITS:
            for cls in IMDB_CLASSES:
                if not (tmp / "aclImdb" / split / cls).is_dir():
                    raise CorruptDatasetError(f"{archive} has no aclImdb/{split}/{cls}/ folder (not the official layout)")
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished first
            if not (target / "aclImdb").is_dir():
                raise
    except (tarfile.TarError, EOFError, lzma.LZMAError, zlib.error, OSError) as e:
        raise CorruptDatasetError(f"cannot extract {archive}: {e} (truncated or corrupt archive?)") from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target / "aclImdb"


def _review_files(root: Path, split: str, cls: str, files_per_class: Optional[int]) -> list[Path]:
    folder = root / split / cls
    files = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))] if folder.is_dir() else []
    if not files:
        raise CorruptDatasetError(f"{folder} holds no reviews (<id>_<rating>.txt); the aclImdb folder is incomplete")
    files.sort()
    return [p for _, p in files[:files_per_class]]


def read_reviews(root: Path, split: str, files_per_class: Optional[int] = None) -> tuple[list[str], list[int], list[str]]:
    """(texts with ``<br />`` replaced by spaces, labels, ``<cls>/<file>`` names) of one split, in (label, id) order."""
    texts, labels, names = [], [], []
    for label, cls in enumerate(IMDB_CLASSES):
        for p in _review_files(root, split, cls, files_per_class):
            try:
                texts.append(p.read_text(encoding="utf-8").replace("<br />", " "))
            except (OSError, UnicodeDecodeError) as e:
                raise CorruptDatasetError(f"cannot read {p}: {e}") from e
            labels.append(label)
            names.append(f"{cls}/{p.name}")
    return texts, labels, names


Corpus = dict  # split -> (token lists, labels, names)


def _tokenize_corpus(root: Path, tokenizer: Tokenizer, files_per_class: Optional[int]) -> Corpus:
    out = {}
    for split in _SPLITS:
        texts, labels, names = read_reviews(root, split, files_per_class)
        out[split] = ([tokenizer.tokenize(t) for t in texts], labels, names)
    return out


def _write_corpus(path: Path, corpus: Corpus) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with gzip.open(tmp, "wt", encoding="utf-8") as f:
        for split, (toks, labels, names) in corpus.items():
            for t, y, n in zip(toks, labels, names):
                f.write(f"{split}\t{y}\t{n}\t{' '.join(t)}\n")
    os.replace(tmp, path)


def _read_corpus(path: Path) -> Optional[Corpus]:
    out: Corpus = {s: ([], [], []) for s in _SPLITS}
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                split, y, n, t = line.rstrip("\n").split("\t")
                out[split][0].append(t.split(" ") if t else [])
                out[split][1].append(int(y))
                out[split][2].append(n)
    except (OSError, EOFError, zlib.error, ValueError, KeyError):
        return None  # a damaged cache is rebuilt
    return out


class TokenDataset(Dataset):
    """``(ids [L] int64, label)`` items."""

    def __init__(self, ids: Sequence[torch.Tensor], labels: Sequence[int], names: Sequence[str] = ()):
        self.ids, self.labels, self.names = list(ids), list(labels), list(names)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.ids[i], self.labels[i]


class IMDBDataModule(ArrayDataModule):
    """IMDB reviews as token ids (see the module docstring for files, tokenisation, vocabulary and split)."""

    def __init__(self, vocab_size: Optional[int] = 25_000, min_freq: int = 1, lowercase: bool = True,
                 max_len: Optional[int] = None, val_size: int = 2_500, vectors_path: Optional[str] = None,
                 vectors_dim: Optional[int] = None, cache_dir: Optional[str] = None, cache_tokens: bool = True,
                 files_per_class: Optional[int] = None, **kwargs):
        kwargs.setdefault("collate_fn", partial(collate_classification, pad_value=0))
        super().__init__(**kwargs)
        if max_len is not None and max_len < 1:
            raise ValueError(f"max_len must be >= 1 or null, got {max_len}")
        if val_size < 0:
            raise ValueError(f"val_size must be >= 0, got {val_size}")
        if files_per_class is not None and files_per_class < 1:
            raise ValueError(f"files_per_class must be >= 1 or null, got {files_per_class}")
        self.vocab_size, self.min_freq, self.lowercase = vocab_size, int(min_freq), bool(lowercase)
        self.max_len, self.val_size, self.files_per_class = max_len, int(val_size), files_per_class
        self.vectors_path, self.vectors_dim = vectors_path, vectors_dim
        self.cache_dir, self.cache_tokens = default_cache_dir(cache_dir), bool(cache_tokens)
        self.tokenizer = Tokenizer("en", lowercase=self.lowercase)
        self._vocab: Optional[Vocab] = None
        self.vectors: Optional[torch.Tensor] = None
        self.vectors_found = 0
        self.val_names: list[str] = []

    num_classes = 2

    @property
    def vocab(self) -> Vocab:
        self.setup()
        assert self._vocab is not None
        return self._vocab

    @property
    def pad_id(self) -> int:
        return 0

    def _corpus(self) -> Corpus:
        src = find_imdb(self.data_dir)
        if src.is_dir():
            return _tokenize_corpus(src, self.tokenizer, self.files_per_class)
        root = extract_imdb(src, self.cache_dir)
        cache = root.parent / f"tokens-{self.tokenizer.signature}-n{self.files_per_class or 'all'}.tsv.gz"
        if self.cache_tokens and cache.is_file():
            corpus = _read_corpus(cache)
            if corpus is not None:
                return corpus
        corpus = _tokenize_corpus(root, self.tokenizer, self.files_per_class)
        if self.cache_tokens:
            _write_corpus(cache, corpus)
        return corpus

    def build(self) -> tuple[Dataset, Dataset, Dataset]:
        corpus = self._corpus()
        toks, labels, names = corpus["train"]
        if self.val_size >= len(toks):
            raise ValueError(f"val_size {self.val_size} leaves no training reviews (the train split has {len(toks)})")
        perm = torch.randperm(len(toks), generator=torch.Generator().manual_seed(self.split_seed)).tolist()
        val_idx, train_idx = sorted(perm[: self.val_size]), sorted(perm[self.val_size:])
        self._vocab = Vocab.build((toks[i] for i in train_idx), self.vocab_size, self.min_freq, (PAD, UNK))
        if self.vectors_path:
            self.vectors, self.vectors_found = load_vectors(self.vectors_path, self._vocab, self.vectors_dim)

        def make(tok_lists, ys, ns, idx) -> TokenDataset:
            ids = []
            for i in idx:
                t = tok_lists[i][: self.max_len] or [UNK]  # an empty review still has one step
                ids.append(torch.tensor(self._vocab.encode(t), dtype=torch.long))
            return TokenDataset(ids, [ys[i] for i in idx], [ns[i] for i in idx])

        self.val_names = [f"train/{names[i]}" for i in val_idx]
        test = corpus["test"]
        return (make(toks, labels, names, train_idx), make(toks, labels, names, val_idx),
                make(*test, range(len(test[0]))))
