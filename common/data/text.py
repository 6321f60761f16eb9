"""Text machinery shared by the text data modules: Moses tokenisation, vocabularies, pretrained vectors.

- :class:`Tokenizer` wraps sacremoses' ``MosesTokenizer`` / ``MosesDetokenizer`` (the Moses scripts' rules,
  a maintained pure-Python port; spaCy's models cannot be installed offline and torchtext is retired).
  ``escape=False`` keeps ``&``/``<``/``"`` as they are, so :meth:`Tokenizer.detokenize` gives plain text for
  sacrebleu. Lowercasing is applied to the tokens (after tokenisation), so Moses' case-sensitive
  non-breaking prefixes ("Mr.", "Dr.") still work.
- :class:`Vocab`: specials first (``<pad>`` = 0, ``<unk>`` = 1, then e.g. ``<bos>``, ``<eos>``), then tokens
  by decreasing training-set frequency, ties alphabetical (deterministic on every machine).
- :func:`load_vectors`: pretrained word vectors from a user-supplied text file in GloVe format
  (``word v1 ... vD`` per line; a word2vec ``N D`` header line is skipped). GloVe is not on this machine:
  point ``vectors_path`` at your own copy (e.g. ``glove.6B.100d.txt``).
- :func:`default_cache_dir` (from :mod:`.cache`): where data modules keep extracted archives and tokenised corpora
  (``$SNN_REPRO_CACHE``, else ``~/.cache/snn_repro``; never the repository or the read-only data root).
"""
from __future__ import annotations

import gzip
import os
from collections import Counter
from pathlib import Path
from typing import Iterable, Optional, Sequence

import torch

from .base import CorruptDatasetError, MissingDatasetError
from .cache import CACHE_ENV_VAR, default_cache_dir  # noqa: F401 (re-exported)

__all__ = ["PAD", "UNK", "BOS", "EOS", "Tokenizer", "Vocab", "load_vectors", "default_cache_dir", "read_text_lines",
           "CACHE_ENV_VAR"]

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"


class Tokenizer:
    """Moses tokeniser/detokeniser for one language, optionally lowercasing the tokens."""

    def __init__(self, lang: str = "en", lowercase: bool = True):
        from sacremoses import MosesDetokenizer, MosesTokenizer

        self.lang, self.lowercase = lang, bool(lowercase)
        self._tok, self._detok = MosesTokenizer(lang=lang), MosesDetokenizer(lang=lang)

    def tokenize(self, text: str) -> list[str]:
        toks = self._tok.tokenize(text, escape=False)
        return [t.lower() for t in toks] if self.lowercase else toks

    def detokenize(self, tokens: Sequence[str]) -> str:
        return self._detok.detokenize(list(tokens))

    @property
    def signature(self) -> str:
        """Everything that changes the tokens (part of the key of a tokenised-corpus cache)."""
        import sacremoses

        return f"moses-{getattr(sacremoses, '__version__', '?')}-{self.lang}-lower{int(self.lowercase)}"


class Vocab:
    """Token <-> id mapping. ``specials`` take the first ids (``<pad>`` must be first: id 0 pads batches)."""

    def __init__(self, itos: Sequence[str], specials: Sequence[str] = (PAD, UNK)):
        if not specials or specials[0] != PAD or UNK not in specials:
            raise ValueError(f"specials must start with {PAD!r} and contain {UNK!r}, got {list(specials)}")
        if list(itos[: len(specials)]) != list(specials):
            raise ValueError("the first entries of itos must be the specials")
        self.itos = list(itos)
        self.specials = list(specials)
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("duplicate tokens in vocabulary")
        self.pad_id, self.unk_id = self.stoi[PAD], self.stoi[UNK]
        self.bos_id, self.eos_id = self.stoi.get(BOS), self.stoi.get(EOS)

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], max_size: Optional[int] = None, min_freq: int = 1,
              specials: Sequence[str] = (PAD, UNK)) -> "Vocab":
        """Vocabulary of the tokens seen ``>= min_freq`` times, at most ``max_size`` entries in all (specials
        included, so an embedding of ``max_size`` rows always fits). Build it on the training split only."""
        if min_freq < 1:
            raise ValueError(f"min_freq must be >= 1, got {min_freq}")
        if max_size is not None and max_size < len(specials):
            raise ValueError(f"vocab_size {max_size} is smaller than the {len(specials)} special tokens")
        counts: Counter = Counter()
        for toks in token_lists:
            counts.update(toks)
        for s in specials:
            counts.pop(s, None)
        words = sorted((w for w, c in counts.items() if c >= min_freq), key=lambda w: (-counts[w], w))
        if max_size is not None:
            words = words[: max_size - len(specials)]
        return cls([*specials, *words], specials)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def encode(self, tokens: Sequence[str]) -> list[int]:
        unk = self.unk_id
        return [self.stoi.get(t, unk) for t in tokens]

    def decode(self, ids: "Sequence[int] | torch.Tensor", strip: bool = True) -> list[str]:
        """Tokens of ``ids``; with ``strip``, stop at the first ``<eos>`` and drop ``<pad>``/``<bos>``."""
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        out = []
        for i in ids:
            i = int(i)
            if strip and i == self.eos_id:
                break
            if strip and i in (self.pad_id, self.bos_id):
                continue
            out.append(self.itos[i])
        return out

    def state_dict(self) -> dict:
        return {"itos": list(self.itos), "specials": list(self.specials)}

    @classmethod
    def from_state_dict(cls, state: dict) -> "Vocab":
        return cls(state["itos"], state["specials"])


def read_text_lines(path: Path) -> list[str]:
    """Lines of a UTF-8 text file (``.gz`` or plain), newline stripped; a truncated/corrupt file raises
    :class:`CorruptDatasetError` naming it."""
    import zlib

    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:  # type: ignore[operator]
            return [line.rstrip("\r\n") for line in f]
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as e:
        raise CorruptDatasetError(f"cannot read {path}: {e} (truncated or corrupt file?)") from e


def load_vectors(path: "str | os.PathLike", vocab: Vocab, dim: Optional[int] = None) -> tuple[torch.Tensor, int]:
    """``([len(vocab), D] float tensor, words found)`` from a GloVe-format text file (plain or ``.gz``).

    Rows of vocabulary words absent from the file (and of ``<pad>``) are zero, as torchtext's default.
    Words are matched exactly (a lowercased vocabulary wants lowercase vectors, e.g. glove.6B). Words may
    contain spaces (glove.840B): the last ``D`` fields are the vector.
    """
    import zlib

    path = Path(path).expanduser()
    if not path.is_file():
        raise MissingDatasetError(
            f"pretrained vectors not found: {path}. Pass the path of a GloVe-format text file "
            "(`word v1 ... vD` per line, e.g. glove.6B.100d.txt from https://nlp.stanford.edu/projects/glove/); "
            "GloVe is not shipped with the data root.")
    opener = gzip.open if path.suffix == ".gz" else open
    vectors: Optional[torch.Tensor] = None
    found: set[int] = set()
    try:
        with opener(path, "rt", encoding="utf-8") as f:  # type: ignore[operator]
            for n, line in enumerate(f, 1):
                line = line.rstrip()
                if not line:
                    continue
                if vectors is None:
                    parts = line.split(" ")
                    if n == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):  # word2vec header "N D"
                        d = int(parts[1])
                        if dim is not None and d != dim:
                            raise CorruptDatasetError(f"{path}: header says {d}-d vectors, vectors_dim is {dim}")
                        dim = d
                        vectors = torch.zeros(len(vocab), dim)
                        continue
                    if dim is None:
                        dim = len(parts) - 1
                    vectors = torch.zeros(len(vocab), dim)
                parts = line.rsplit(" ", dim)
                if len(parts) != dim + 1:  # type: ignore[operator]
                    raise CorruptDatasetError(f"{path}, line {n}: expected a word and {dim} numbers, got {len(parts) - 1} fields")
                i = vocab.stoi.get(parts[0])
                if i is None or i == vocab.pad_id:
                    continue
                try:
                    vectors[i] = torch.tensor([float(v) for v in parts[1:]])
                except ValueError as e:
                    raise CorruptDatasetError(f"{path}, line {n}: {e}") from e
                found.add(i)
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as e:
        raise CorruptDatasetError(f"cannot read {path}: {e} (truncated or corrupt file?)") from e
    if vectors is None:
        raise CorruptDatasetError(f"{path} holds no vectors")
    return vectors, len(found)
