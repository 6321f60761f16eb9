"""Tiny generated data in the official formats for the lite_snn tests (aclImdb tarball)."""
import io
import tarfile
from pathlib import Path

import torch

WORDS = ["good", "bad", "film", "movie", "great", "awful", "plot", "actor", "boring", "fun", "the", "a", "and"]


def write_imdb(root: Path, n_train=12, n_test=6) -> Path:
    """``<root>/imdb/aclImdb_labelled.tar.xz`` in the official layout; reviews of varied length."""
    folder = root / "imdb"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "aclImdb_labelled.tar.xz"
    with tarfile.open(path, "w:xz") as tf:
        def add(name, text):
            data = text.encode()
            info = tarfile.TarInfo(f"aclImdb/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))

        for split, n in (("test", n_test), ("train", n_train)):
            for c, cls in enumerate(("neg", "pos")):
                for i in range(n):
                    g = torch.Generator().manual_seed(1000 * c + 100 * len(split) + i)
                    words = [WORDS[j] for j in torch.randint(len(WORDS), (3 + (7 * i) % 23,), generator=g).tolist()]
                    add(f"{split}/{cls}/{i}_{1 + i % 4 if c == 0 else 7 + i % 4}.txt",
                        " ".join(words) + (" great fun." if c else " awful, boring."))
    return path


DE = ["Ein Mann fährt Fahrrad.", "Eine Frau liest ein Buch.", "Zwei Hunde spielen im Park.",
      "Ein Kind isst einen Apfel.", "Ein Mann liest ein Buch.", "Eine Frau fährt Fahrrad.",
      "Ein alter Mann mit einem roten Hut sitzt auf einer Bank im Park und liest eine Zeitung."]
EN = ["A man rides a bike.", "A woman reads a book.", "Two dogs play in the park.",
      "A child eats an apple.", "A man reads a book.", "A woman rides a bike.",
      "An old man with a red hat sits on a bench in the park and reads a newspaper."]


def write_multi30k(root: Path, n_train=21) -> Path:
    """``<root>/multi30k/task1/raw/{train,val,test_2016_flickr}.{de,en}.gz``: aligned raw sentences (one long)."""
    import gzip

    folder = root / "multi30k" / "task1" / "raw"
    folder.mkdir(parents=True, exist_ok=True)
    splits = {"train": list(range(n_train)), "val": [1, 2, 6], "test_2016_flickr": [0, 3, 5, 6, 2]}
    for stem, idx in splits.items():
        for lang, sents in (("de", DE), ("en", EN)):
            with gzip.open(folder / f"{stem}.{lang}.gz", "wt", encoding="utf-8") as f:
                f.write("".join(sents[i % len(sents)] + "\n" for i in idx))
    return folder
