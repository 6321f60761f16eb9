"""Text data: Moses tokeniser, vocabularies, GloVe-format vectors, IMDB and Multi30k data modules on small
files written here in the official formats (plus quick checks on the real files where present)."""
import gzip
import io
import tarfile
from pathlib import Path

import pytest
import torch
from torch.utils.data.distributed import DistributedSampler

from common.data import CorruptDatasetError, EpochSeededSampler, MissingDatasetError, resolve_data_dir
from common.data.imdb import IMDBDataModule
from common.data.multi30k import BucketBatchSampler, Multi30kDataModule, read_pairs
from common.data.sequence import SeqBatch
from common.data.text import Tokenizer, Vocab, load_vectors

WORDS = ["good", "bad", "film", "plot", "actor", "great", "boring", "fun", "story", "music"]


# -- tokeniser, vocabulary, vectors -------------------------------------------------------------
def test_tokenizer_roundtrip_and_lowercase():
    tok = Tokenizer("en", lowercase=False)
    text = 'Mr. Smith said "It\'s great, isn\'t it?" & left.'
    toks = tok.tokenize(text)
    assert "Mr." in toks and "," in toks and "&" in toks  # non-breaking prefix kept, no HTML escaping
    assert tok.detokenize(toks) == text
    assert Tokenizer("en", lowercase=True).tokenize(text) == [t.lower() for t in toks]


def test_vocab_order_min_freq_and_size():
    data = [["b", "a", "c"], ["a", "b"], ["a", "d"], ["<unk>"]]  # a:3 b:2 c:1 d:1
    v = Vocab.build(data)
    assert v.itos == ["<pad>", "<unk>", "a", "b", "c", "d"]  # specials, then frequency, ties alphabetical
    assert Vocab.build(data, min_freq=2).itos == ["<pad>", "<unk>", "a", "b"]
    assert Vocab.build(data, max_size=3).itos == ["<pad>", "<unk>", "a"]  # size counts the specials
    assert v.pad_id == 0 and v.unk_id == 1 and v.bos_id is None
    assert v.encode(["a", "zzz", "d"]) == [2, 1, 5]
    s = Vocab.build(data, specials=("<pad>", "<unk>", "<bos>", "<eos>"))
    assert (s.bos_id, s.eos_id) == (2, 3)
    assert s.decode([2, 4, 5, 3, 4, 0]) == ["a", "b"]  # drops <bos>, stops at <eos>
    assert Vocab.from_state_dict(s.state_dict()).itos == s.itos
    with pytest.raises(ValueError, match="min_freq"):
        Vocab.build(data, min_freq=0)
    with pytest.raises(ValueError, match="specials"):
        Vocab(["<unk>", "<pad>"], specials=("<unk>", "<pad>"))


def test_load_vectors(tmp_path):
    v = Vocab.build([["the", "cat", "new york", "dog"]])
    p = tmp_path / "vecs.txt"
    p.write_text("the 0.1 0.2 0.3\nnew york 1 2 3\ncat -1 0 1e-1\nunused 9 9 9\n")
    vec, found = load_vectors(p, v)
    assert vec.shape == (len(v), 3) and found == 3
    assert torch.allclose(vec[v.stoi["new york"]], torch.tensor([1.0, 2.0, 3.0]))
    assert torch.allclose(vec[v.stoi["cat"]], torch.tensor([-1.0, 0.0, 0.1]))
    assert vec[v.stoi["dog"]].abs().sum() == 0 and vec[0].abs().sum() == 0  # unknown word, <pad>
    (tmp_path / "w2v.txt").write_text("2 3\nthe 1 1 1\ndog 2 2 2\n")  # word2vec text header
    vec2, found2 = load_vectors(tmp_path / "w2v.txt", v)
    assert found2 == 2 and vec2[v.stoi["dog"]].tolist() == [2.0, 2.0, 2.0]
    (tmp_path / "bad.txt").write_text("the 1 2 3\ncat 1 2\n")
    with pytest.raises(CorruptDatasetError, match=r"bad\.txt, line 2"):
        load_vectors(tmp_path / "bad.txt", v)
    with pytest.raises(MissingDatasetError, match="nope.txt"):
        load_vectors(tmp_path / "nope.txt", v)


# -- IMDB ---------------------------------------------------------------------------------------
def _review(split, cls, i):
    g = torch.Generator().manual_seed(100 * len(split) + 10 * len(cls) + i)
    words = [WORDS[j] for j in torch.randint(len(WORDS), (3 + i % 5,), generator=g).tolist()]
    # a word unique to this review tells which reviews the vocabulary was built on
    return f"This {' '.join(words)}.<br /><br />uniq{split}{cls}{i} is {cls}!"


def write_imdb(root: Path, n_train=10, n_test=4) -> Path:
    """A tiny aclImdb_labelled.tar.xz in the official layout (``aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt``)."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "aclImdb_labelled.tar.xz"
    with tarfile.open(path, "w:xz") as tf:
        def add(name, text):
            data = text.encode()
            info = tarfile.TarInfo(f"aclImdb/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))

        add("README", "Large Movie Review Dataset v1.0\n")
        add("imdb.vocab", "\n".join(WORDS) + "\n")
        for split, n in (("test", n_test), ("train", n_train)):
            for cls in ("neg", "pos"):
                for i in range(n):
                    rating = 1 + i % 4 if cls == "neg" else 7 + i % 4
                    add(f"{split}/{cls}/{i}_{rating}.txt", _review(split, cls, i))
    return path


def _imdb(tmp_path, **kw):
    kw = {"data_dir": str(tmp_path / "data"), "cache_dir": str(tmp_path / "cache"), "val_size": 4,
          "batch_size": 3, "vocab_size": None, **kw}
    return IMDBDataModule(**kw)


@pytest.fixture()
def imdb_dir(tmp_path):
    write_imdb(tmp_path / "data" / "imdb")
    return tmp_path


def test_imdb_splits_vocab_and_batches(imdb_dir):
    dm = _imdb(imdb_dir)
    train, val, test = dm.split("train"), dm.split("val"), dm.split("test")
    assert (len(train), len(val), len(test)) == (16, 4, 8)
    assert set(train.labels) == {0, 1} and set(test.labels) == {0, 1}
    train_names = {f"train/{n}" for n in train.names}
    assert len(dm.val_names) == 4 and not train_names & set(dm.val_names)  # disjoint
    assert len(train_names | set(dm.val_names)) == 20
    v = dm.vocab
    assert v.itos[:2] == ["<pad>", "<unk>"]
    # vocabulary from the training reviews only (not validation, not test); lowercased Moses tokens
    for name in train.names:
        cls, i = name.split("/")[0], int(name.split("/")[1].split("_")[0])
        assert f"uniqtrain{cls}{i}" in v
    for name in dm.val_names:
        cls, i = name.split("/")[1], int(name.split("/")[2].split("_")[0])
        assert f"uniqtrain{cls}{i}" not in v
    assert not any(t.startswith("uniqtest") for t in v.itos)
    assert "this" in v and "This" not in v and "<br" not in v and "br" not in v
    # an item decodes back to its review's tokens
    ids, y = train[0]
    name = train.names[0]
    cls = name.split("/")[0]
    text = (imdb_dir / "cache").glob("imdb-*/aclImdb/train/" + name)
    assert y == ("neg", "pos").index(cls)
    assert v.decode(ids) == Tokenizer("en").tokenize(next(text).read_text().replace("<br />", " "))
    # time-first SeqBatch padded with 0
    batch = next(iter(dm.train_dataloader()))
    assert isinstance(batch, SeqBatch) and batch.x.dtype == torch.long and batch.x.dim() == 2
    T, B = batch.x.shape
    assert B == 3 and batch.y.shape == (3,) and T == int(batch.lengths.max())
    for b in range(B):
        assert (batch.x[batch.lengths[b]:, b] == 0).all() and (batch.x[: batch.lengths[b], b] != 0).all()


def test_imdb_split_fixed_by_data_seed_and_cache(imdb_dir, monkeypatch):
    a = _imdb(imdb_dir)
    a.setup()
    b = _imdb(imdb_dir, seed=7)  # training seed does not move the split; the tokenised corpus comes from the cache
    import common.data.imdb as imdb_mod

    monkeypatch.setattr(imdb_mod, "_tokenize_corpus", lambda *a, **k: pytest.fail("cache not used"))
    b.setup()
    assert a.val_names == b.val_names and a.vocab.itos == b.vocab.itos
    c = _imdb(imdb_dir, data_seed=1)
    c.setup()
    assert set(c.val_names) != set(a.val_names)
    assert len(list((imdb_dir / "cache").glob("imdb-*/tokens-*.tsv.gz"))) == 1


def test_imdb_options(imdb_dir):
    dm = _imdb(imdb_dir, max_len=4, min_freq=2, vocab_size=8, lowercase=False, files_per_class=6, val_size=2)
    assert (len(dm.split("train")), len(dm.split("val")), len(dm.split("test"))) == (10, 2, 8)
    assert len(dm.vocab) == 8 and "This" in dm.vocab
    assert all(len(ids) <= 4 for ids, _ in dm.split("test"))
    vec = imdb_dir / "glove.txt"
    vec.write_text("this 1 2\nfilm 3 4\n")
    dm = _imdb(imdb_dir, vectors_path=str(vec))
    dm.setup()
    assert dm.vectors.shape == (len(dm.vocab), 2) and dm.vectors_found == 2
    assert dm.vectors[dm.vocab.stoi["film"]].tolist() == [3.0, 4.0]


def test_imdb_missing_and_truncated(tmp_path):
    with pytest.raises(MissingDatasetError, match=r"aclImdb_labelled\.tar\.xz.*imdb"):
        _imdb(tmp_path).setup()
    path = write_imdb(tmp_path / "data" / "imdb")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptDatasetError, match=r"aclImdb_labelled\.tar\.xz"):
        _imdb(tmp_path).setup()
    assert not list((tmp_path / "cache").glob("imdb-*"))  # nothing half-extracted is left as the cache


# -- Multi30k -----------------------------------------------------------------------------------
DE = ["Ein Mann fährt Fahrrad.", "Eine Frau liest ein Buch.", "Zwei Hunde spielen im Park.",
      "Ein Kind isst einen Apfel.", "Ein Mann liest ein Buch.", "Eine Frau fährt Fahrrad."]
EN = ["A man rides a bike.", "A woman reads a book.", "Two dogs play in the park.",
      "A child eats an apple.", "A man reads a book.", "A woman rides a bike."]


def write_multi30k(root: Path, n_train=12, trunc=None) -> Path:
    folder = root / "multi30k" / "task1" / "raw"
    folder.mkdir(parents=True, exist_ok=True)
    splits = {"train": list(range(n_train)), "val": [1, 2, 3], "test_2016_flickr": [0, 3, 5]}
    for stem, idx in splits.items():
        for lang, sents in (("de", DE), ("en", EN)):
            text = "".join(sents[i % len(sents)] + "\n" for i in idx)
            with gzip.open(folder / f"{stem}.{lang}.gz", "wt", encoding="utf-8") as f:
                f.write(text)
    return folder


def _m30k(root, **kw):
    return Multi30kDataModule(**{"data_dir": str(root), "batch_size": 4, "min_freq": 2, **kw})


def test_multi30k_vocab_batches_detokenize(tmp_path):
    folder = write_multi30k(tmp_path, n_train=11)  # sentence 5 ("Eine Frau fährt Fahrrad") once, others twice
    dm = _m30k(tmp_path)
    sv, tv = dm.src_vocab, dm.tgt_vocab
    assert sv.itos[:4] == tv.itos[:4] == ["<pad>", "<unk>", "<bos>", "<eos>"]
    assert "mann" in sv and "Mann" not in sv and "man" in tv and "hunde" in sv  # lowercased, per language
    assert "kind" in sv and "child" in tv  # twice in train
    assert (len(dm.split("train")), len(dm.split("val")), len(dm.split("test"))) == (11, 3, 3)
    src, tgt = dm.split("train")[0]
    assert src.tolist() == [2, *sv.encode(["ein", "mann", "fährt", "fahrrad", "."]), 3]
    assert tgt[0] == dm.bos_id and tgt[-1] == dm.eos_id
    batch = next(iter(dm.test_dataloader()))
    assert isinstance(batch, SeqBatch) and batch.x.shape == (int(batch.lengths.max()), 3)
    assert batch.y.shape == (int(batch.y_lengths.max()), 3)
    for b in range(3):
        assert batch.y[0, b] == 2 and batch.y[batch.y_lengths[b] - 1, b] == 3
        assert (batch.y[batch.y_lengths[b]:, b] == 0).all() and (batch.x[batch.lengths[b]:, b] == 0).all()
    assert dm.detokenize_batch(batch.y) == dm.references("test") == [EN[0].lower(), EN[3].lower(), EN[5].lower()]
    assert dm.detokenize(torch.tensor([2, tv.stoi["a"], tv.unk_id, 3, tv.stoi["man"], 0])) == "a <unk>"
    assert dm.detokenize(batch.x[:, 0], side="src") == DE[0].lower()
    # min_freq=3: words of the twice-seen sentences drop out
    assert "kind" not in _m30k(tmp_path, min_freq=3).src_vocab
    # without bucketing / without source <bos>/<eos>, cased
    dm2 = _m30k(tmp_path, src_bos_eos=False, lowercase=False, bucketing=False, max_len=3)
    s2, t2 = dm2.split("train")[0]
    assert s2.tolist() == dm2.src_vocab.encode(["Ein", "Mann", "fährt"]) and len(t2) == 5
    assert isinstance(next(iter(dm2.train_dataloader())), SeqBatch)
    assert folder.is_dir()


def test_bucket_batch_sampler():
    lengths = [(int(n), 0) for n in torch.randint(1, 50, (200,), generator=torch.Generator().manual_seed(0))]
    s = BucketBatchSampler(EpochSeededSampler(200, seed=3), 8, lengths=lengths, bucket_factor=5)
    e0 = list(s)
    assert sorted(i for b in e0 for i in b) == list(range(200)) and len(e0) == len(s) == 25
    assert e0 == list(BucketBatchSampler(EpochSeededSampler(200, seed=3), 8, lengths=lengths, bucket_factor=5))
    s.set_epoch(1)
    assert list(s) != e0
    spread = sum(max(lengths[i][0] for i in b) - min(lengths[i][0] for i in b) for b in e0) / len(e0)
    rnd = [list(range(200))[k:k + 8] for k in range(0, 200, 8)]
    rnd_spread = sum(max(lengths[i][0] for i in b) - min(lengths[i][0] for i in b) for b in rnd) / len(rnd)
    assert spread < rnd_spread / 3  # similar lengths grouped
    assert len(BucketBatchSampler(EpochSeededSampler(200), 8, drop_last=True, lengths=lengths)) == 25
    assert all(len(b) == 7 for b in BucketBatchSampler(EpochSeededSampler(20), 7, True, lengths=lengths))
    # what Lightning does under DDP: the same class around a DistributedSampler shards the data
    parts = [list(BucketBatchSampler(DistributedSampler(range(200), num_replicas=2, rank=r, seed=3), 8,
                                     lengths=lengths)) for r in (0, 1)]
    assert sorted(i for p in parts for b in p for i in b) == list(range(200))


def test_multi30k_train_loader_is_bucketed_and_seeded(tmp_path):
    write_multi30k(tmp_path, n_train=40)
    dm = _m30k(tmp_path, seed=1)
    dl = dm.train_dataloader()
    assert isinstance(dl.batch_sampler, BucketBatchSampler)
    order = [b.x.T.tolist() for b in dl]
    assert order == [b.x.T.tolist() for b in _m30k(tmp_path, seed=1).train_dataloader()]
    assert sum(len(x) for x in order) == 40


def test_multi30k_missing_truncated_misaligned(tmp_path):
    with pytest.raises(MissingDatasetError, match=r"train\.de\.gz"):
        _m30k(tmp_path).setup()
    folder = write_multi30k(tmp_path)
    (folder / "val.en.gz").unlink()
    with pytest.raises(MissingDatasetError, match=r"val\.en\.gz") as e:
        _m30k(tmp_path).setup()
    assert "train.de.gz" not in str(e.value)
    write_multi30k(tmp_path)
    data = (folder / "train.de.gz").read_bytes()
    (folder / "train.de.gz").write_bytes(data[:-12])
    with pytest.raises(CorruptDatasetError, match=r"train\.de\.gz"):
        _m30k(tmp_path).setup()
    write_multi30k(tmp_path)
    with gzip.open(folder / "val.en.gz", "wt") as f:
        f.write("only one line\n")
    with pytest.raises(CorruptDatasetError, match=r"val\.de\.gz has 3 lines but .*val\.en\.gz has 1"):
        read_pairs(folder, "val")


# -- the real files, where present ----------------------------------------------------------------
REAL = resolve_data_dir()


@pytest.mark.skipif(not (REAL / "multi30k" / "task1" / "raw" / "val.de.gz").is_file(), reason="no real Multi30k")
def test_real_multi30k_eval_splits():
    folder = REAL / "multi30k" / "task1" / "raw"
    src, tgt = read_pairs(folder, "val")
    assert len(src) == len(tgt) == 1014 and tgt[0] == "A group of men are loading cotton onto a truck"
    src, tgt = read_pairs(folder, "test")
    assert len(src) == 1000
    tok = Tokenizer("en", lowercase=False)
    assert sum(tok.detokenize(tok.tokenize(t)) == t for t in tgt) >= 990  # Moses round trip


@pytest.mark.slow
@pytest.mark.skipif(not (REAL / "imdb" / "aclImdb_labelled.tar.xz").is_file(), reason="no real IMDB")
def test_real_imdb_subset(tmp_path):
    dm = IMDBDataModule(data_dir=str(REAL), cache_dir=str(tmp_path), files_per_class=50, val_size=10)
    assert (len(dm.split("train")), len(dm.split("val")), len(dm.split("test"))) == (90, 10, 100)
    test = dm.split("test")
    assert test.names[0] == "neg/0_2.txt" and test.labels[0] == 0 and test.names[-1].startswith("pos/49_")
    assert dm.vocab.decode(test[0][0])[:2] == ["once", "again"]  # "Once again Mr. Costner has dragged out ..."


@pytest.mark.slow
@pytest.mark.skipif(not (REAL / "multi30k" / "task1" / "raw" / "train.de.gz").is_file(), reason="no real Multi30k")
def test_real_multi30k():
    dm = Multi30kDataModule(data_dir=str(REAL))
    assert (len(dm.split("train")), len(dm.split("val")), len(dm.split("test"))) == (29000, 1014, 1000)
    assert 5000 < len(dm.src_vocab) < 10000 and 4000 < len(dm.tgt_vocab) < 8000
