"""Sequence classification and seq2seq Lightning modules (common.lightning.sequence / .seq2seq)."""
from __future__ import annotations

import itertools
import math

import lightning as L
import pytest
import torch
from torch import nn

from common.data.sequence import SeqBatch, collate_classification, collate_seq2seq, length_mask
from common.lightning import (
    SequenceClassificationModule, Seq2SeqModule, TinySeq2Seq, beam_search, greedy_decode, last_step,
    masked_time_mean,
)
from common.lightning.seq2seq import select_batch, teacher_forced_logits

PAD, BOS, EOS = 0, 1, 2


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models: one thread is many times faster than two on a loaded 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _trainer(**kw):
    return L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                     enable_model_summary=False, num_sanity_val_steps=0, deterministic=True, **kw)


# ------------------------------------------------------------------------------------------ classification
class MaskedLeakyNet(nn.Module):
    """Linear -> leaky integrator that holds its state on padded steps -> masked mean + last-step readout."""

    def __init__(self, d_in=3, hidden=8, classes=4):
        super().__init__()
        self.inp = nn.Linear(d_in, hidden)
        self.out = nn.Linear(2 * hidden, classes)

    def forward(self, x, lengths):
        mask = length_mask(lengths, x.shape[0])
        cur = self.inp(x)
        v, vs = torch.zeros_like(cur[0]), []
        for t in range(x.shape[0]):
            v = torch.where(mask[t, :, None], 0.8 * v + torch.tanh(cur[t]), v)
            vs.append(v)
        vs = torch.stack(vs)
        return self.out(torch.cat([masked_time_mean(vs, lengths), last_step(vs, lengths)], -1))


def test_masked_time_mean_and_last_step_ignore_padding():
    torch.manual_seed(0)
    x = torch.randn(5, 3, 2)
    lengths = torch.tensor([5, 2, 3])
    y = x.clone()
    y[2:, 1] = float("nan")  # padded steps may hold anything
    y[3:, 2] = 1e6
    m = masked_time_mean(y, lengths)
    ref = torch.stack([x[: n, b].mean(0) for b, n in enumerate(lengths.tolist())])
    torch.testing.assert_close(m, ref)
    torch.testing.assert_close(last_step(y, lengths), torch.stack([x[n - 1, b] for b, n in enumerate(lengths.tolist())]))
    y.requires_grad_(True)
    masked_time_mean(y, lengths).sum().backward()
    assert torch.isfinite(y.grad).all() and (y.grad[2:, 1] == 0).all()
    with pytest.raises(ValueError, match="lengths"):
        masked_time_mean(x, torch.tensor([6, 1, 1]))


def test_padded_batch_gives_the_logits_of_each_sequence_alone():
    torch.manual_seed(0)
    module = SequenceClassificationModule(MaskedLeakyNet(), num_classes=4).eval()
    seqs = [torch.randn(n, 3) for n in (7, 2, 5, 1)]
    batch = collate_classification([(s, i) for i, s in enumerate(seqs)], pad_value=3.0)
    logits, y = module._logits(batch)
    assert logits.shape == (4, 4) and y.tolist() == [0, 1, 2, 3]
    for b, s in enumerate(seqs):
        alone = module(s[:, None], torch.tensor([s.shape[0]]))
        torch.testing.assert_close(logits[b], alone[0], rtol=1e-5, atol=1e-6)


def test_sequence_classification_trains_and_reports_energy_per_sequence():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    data = []
    for i in range(32):  # class = sign of the mean of the first channel
        n = int(torch.randint(2, 9, (1,), generator=g))
        x = torch.randn(n, 3, generator=g)
        x[:, 0] += 1.5 if i % 2 else -1.5
        data.append((x, i % 2))
    dl = torch.utils.data.DataLoader(data, batch_size=8, collate_fn=collate_classification)
    module = SequenceClassificationModule(MaskedLeakyNet(classes=2), num_classes=2, energy=True,
                                          optimizer=lambda p: torch.optim.Adam(p, lr=3e-2))
    trainer = _trainer(max_epochs=4)
    trainer.fit(module, dl, dl)
    m = trainer.callback_metrics
    assert float(m["val/acc"]) > 0.9
    assert float(m["val/energy/samples"]) == 32  # one sample per sequence
    assert float(m["val/energy/macs"]) > 0
    with pytest.raises(TypeError, match="SeqBatch"):
        module._logits((torch.zeros(3, 2), torch.zeros(2)))


# ------------------------------------------------------------------------------------------ seq2seq data
PAIRS = [
    ("ein mann fährt ein rotes auto .", "a man drives a red car ."),
    ("zwei hunde spielen im schnee .", "two dogs play in the snow ."),
    ("eine frau liest ein buch .", "a woman reads a book ."),
    ("kinder laufen am strand .", "children run on the beach ."),
    ("ein junge wirft einen ball .", "a boy throws a ball ."),
    ("der koch schneidet gemüse in der küche .", "the cook cuts vegetables in the kitchen ."),
    ("zwei männer tragen blaue hemden .", "two men wear blue shirts ."),
    ("ein mädchen singt auf der bühne .", "a girl sings on the stage ."),
    ("eine katze schläft auf dem sofa .", "a cat sleeps on the sofa ."),
    ("leute warten an der bushaltestelle .", "people wait at the bus stop ."),
]


def _vocab(sentences):
    words = sorted({w for s in sentences for w in s.split()})
    return {w: i + 3 for i, w in enumerate(words)}


SRC_V, TGT_V = _vocab(p[0] for p in PAIRS), _vocab(p[1] for p in PAIRS)
TGT_ITOS = {i: w for w, i in TGT_V.items()}


def detokenize(ids):
    return " ".join(TGT_ITOS[i] for i in ids)


def _batch(pairs=PAIRS):
    items = [(torch.tensor([SRC_V[w] for w in s.split()] + [EOS]),
              torch.tensor([BOS] + [TGT_V[w] for w in t.split()] + [EOS])) for s, t in pairs]
    return collate_seq2seq(items, PAD)


def _model(seed=0, hidden=64):
    torch.manual_seed(seed)
    return TinySeq2Seq(len(SRC_V) + 3, len(TGT_V) + 3, emb=32, hidden=hidden, pad_id=PAD)


def _module(model, **kw):
    return Seq2SeqModule(model, len(TGT_V) + 3, PAD, BOS, EOS, detokenize=detokenize, **kw)


# ------------------------------------------------------------------------------------------ seq2seq tests
def test_parallel_decode_equals_the_step_loop():
    model = _model().eval()
    b = _batch()
    tgt_in = b.y[:-1]
    par = teacher_forced_logits(model, b.x, b.lengths, tgt_in, 1.0)
    model.decode = None  # hide the parallel path: the decode_step loop runs
    step = teacher_forced_logits(model, b.x, b.lengths, tgt_in, 1.0)
    torch.testing.assert_close(par, step, rtol=1e-5, atol=1e-6)


def test_pad_positions_do_not_change_the_loss():
    module = _module(_model()).eval()
    b = _batch()
    logits, y = module._logits(b)
    loss = module._loss(logits, y)
    n_tokens = int((b.y_lengths - 1).sum())
    assert logits.shape[0] == y.shape[0] == n_tokens
    # the same sentences padded further (extra pad rows in source and target): same loss
    x2 = torch.cat([b.x, torch.full((3, b.x.shape[1]), PAD)], 0)
    y2 = torch.cat([b.y, torch.full((4, b.y.shape[1]), PAD)], 0)
    loss2 = module._loss(*module._logits(SeqBatch(x2, y2, b.lengths, b.y_lengths)))
    torch.testing.assert_close(loss, loss2)
    # pad targets replaced by real token ids: y_lengths mask them, the loss is unchanged
    y3 = b.y.clone()
    y3[~length_mask(b.y_lengths, b.y.shape[0])] = 5
    torch.testing.assert_close(loss, module._loss(*module._logits(SeqBatch(b.x, y3, b.lengths, b.y_lengths))))
    # and it is the token-weighted mean of each sentence's loss computed alone, unpadded
    tot = 0.0
    for i in range(len(PAIRS)):
        one = _batch(PAIRS[i:i + 1])
        lo, yo = module._logits(one)
        tot += float(nn.functional.cross_entropy(lo, yo, reduction="sum").detach())
    assert math.isclose(float(loss.detach()), tot / n_tokens, rel_tol=1e-5)
    # without y_lengths the mask comes from pad ids: same loss
    torch.testing.assert_close(loss, module._loss(*module._logits(SeqBatch(b.x, b.y, b.lengths))))


def test_teacher_forcing_ratio_zero_feeds_own_predictions():
    model = _model(seed=3).eval()
    b = _batch()
    fed = []
    orig = model.decode_step

    def spy(tokens, state, memory):
        fed.append(tokens.clone())
        return orig(tokens, state, memory)

    model.decode_step = spy
    logits = teacher_forced_logits(model, b.x, b.lengths, b.y[:-1], ratio=0.0, pad_id=PAD, bos_id=BOS)
    assert torch.equal(fed[0], b.y[0])
    for u in range(1, len(fed)):
        own = logits[u - 1].clone()
        own[:, [PAD, BOS]] = float("-inf")
        assert torch.equal(fed[u], own.argmax(-1))
    assert not torch.equal(torch.stack(fed[1:]), b.y[1:-1])  # an untrained model differs from the gold
    with pytest.raises(ValueError, match="teacher_forcing"):
        _module(model, teacher_forcing=1.5)


def test_beam_one_equals_greedy():
    for seed in range(3):
        model = _model(seed=seed, hidden=16).eval()
        b = _batch()
        kw = dict(bos_id=BOS, eos_id=EOS, pad_id=PAD, max_len_a=1.0, max_len_b=3)
        g = greedy_decode(model, b.x, b.lengths, **kw)
        assert beam_search(model, b.x, b.lengths, beam_size=1, length_penalty=1.0, **kw) == g
        assert beam_search(model, b.x, b.lengths, beam_size=1, length_penalty=0.0, **kw) == g
        assert any(len(h) > 0 for h in g)
    for i in range(0, len(PAIRS), 3):  # decoding a sentence alone gives what it gives inside the padded batch
        one = _batch(PAIRS[i:i + 1])
        assert greedy_decode(model, one.x, one.lengths, **kw)[0] == g[i]
        assert beam_search(model, one.x, one.lengths, beam_size=3, **kw)[0] == \
            beam_search(model, b.x, b.lengths, beam_size=3, **kw)[i]


def test_seeded_scheduled_sampling_repeats_exactly():
    b = _batch()
    weights = []
    for _ in range(2):
        torch.manual_seed(7)
        module = _module(_model(seed=1, hidden=16), teacher_forcing=0.5).train()
        opt = torch.optim.Adam(module.parameters(), lr=1e-2)
        for _ in range(3):
            loss = module._loss(*module._logits(b))
            opt.zero_grad()
            loss.backward()
            opt.step()
        weights.append(torch.cat([p.detach().flatten() for p in module.parameters()]))
    assert torch.equal(weights[0], weights[1])


@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_wide_beam_finds_the_exhaustive_best(length_penalty):
    """Beam wide enough to keep every hypothesis = exhaustive search under the normalised score."""
    torch.manual_seed(0)
    V, L_max = 5, 3  # pad, bos, eos, a, b; 3 tokens at most
    model = TinySeq2Seq(6, V, emb=8, hidden=8).eval()
    with torch.no_grad():
        model.out.weight.mul_(4.0)  # peaky distributions: distinct scores
    src = torch.tensor([[3, 4], [4, 5], [5, 0]])
    lengths = torch.tensor([3, 2])
    beams = beam_search(model, src, lengths, BOS, EOS, PAD, beam_size=16, length_penalty=length_penalty,
                        max_len_a=0.0, max_len_b=L_max)
    hyps = [list(w) + [EOS] for n in range(L_max) for w in itertools.product([3, 4], repeat=n)]
    hyps += [list(w) for w in itertools.product([3, 4], repeat=L_max)]  # truncated at the limit
    for b in range(2):
        best, best_s = None, -math.inf
        for h in hyps:
            tgt_in = torch.tensor([BOS] + h[:-1])[:, None]
            lp = teacher_forced_logits(model, src[:, b:b + 1], lengths[b:b + 1], tgt_in)[:, 0]
            lp[:, [PAD, BOS]] = float("-inf")
            s = float(lp.log_softmax(-1)[torch.arange(len(h)), torch.tensor(h)].sum()) / len(h) ** length_penalty
            if s > best_s:
                best, best_s = [t for t in h if t != EOS], s
        assert beams[b] == best


def test_select_batch_convention_and_error():
    model = nn.Module()
    state = (torch.arange(6.).view(1, 3, 2), torch.arange(3), None)
    out = select_batch(model, state, torch.tensor([2, 2, 0]), 3)
    assert out[0][0, :, 0].tolist() == [4.0, 4.0, 0.0] and out[1].tolist() == [2, 2, 0] and out[2] is None
    with pytest.raises(ValueError, match="select_batch"):
        select_batch(model, torch.zeros(3, 5), torch.tensor([0]), 3)  # [B, H]: batch not on dim 1


class TenPairs(L.LightningDataModule):
    """Stands in for a translation data module: special ids and ``detokenize`` as attributes."""
    pad_id, bos_id, eos_id = PAD, BOS, EOS

    def __init__(self, steps):
        super().__init__()
        self.batch, self.steps = _batch(), steps

    def detokenize(self, ids):
        return detokenize(ids)

    def train_dataloader(self):
        return torch.utils.data.DataLoader([self.batch] * self.steps, batch_size=None)

    def val_dataloader(self):
        return torch.utils.data.DataLoader([self.batch], batch_size=None)

    test_dataloader = val_dataloader


def test_seq2seq_overfits_ten_pairs_to_bleu_above_90():
    dm = TenPairs(steps=60)
    # special ids and detokenize come from the data module
    module = Seq2SeqModule(_model(seed=0), len(TGT_V) + 3, optimizer=lambda p: torch.optim.Adam(p, lr=1e-2),
                           teacher_forcing=0.8, energy=True, decoding="greedy")
    _trainer(max_steps=dm.steps, limit_val_batches=0).fit(module, datamodule=dm)
    res = _trainer().validate(module, datamodule=dm, verbose=False)[0]
    assert res["val/bleu"] > 90, res
    assert res["val/acc"] > 0.99
    b = dm.batch
    n_tokens = int((b.y_lengths - 1).sum())
    assert res["val/energy/samples"] == n_tokens  # energy per target token
    assert res["val/energy/macs"] > 0
    module.decoding = "beam"
    res = _trainer().test(module, datamodule=dm, verbose=False)[0]
    assert res["test/bleu"] > 90, res
    hyps = module.translate(b.x, b.lengths)
    assert [detokenize(h) for h in hyps] == [t for _, t in PAIRS]


def test_bleu_needs_a_detokenizer():
    module = Seq2SeqModule(_model(), len(TGT_V) + 3, PAD, BOS, EOS)
    b = _batch()
    with pytest.raises(RuntimeError, match="detokenize"):
        _trainer().validate(module, torch.utils.data.DataLoader([b], batch_size=None), verbose=False)
    module = Seq2SeqModule(_model(), len(TGT_V) + 3, detokenize=detokenize)
    with pytest.raises(RuntimeError, match="pad_id"):
        module._logits(b)


def test_bleu_equals_sacrebleu_on_known_pairs():
    # the seq2seq module's BLEU metric (as it is configured there, x 100 as logged) is sacrebleu's corpus BLEU
    import sacrebleu

    module = Seq2SeqModule(_model(), len(TGT_V) + 3, PAD, BOS, EOS)
    hyps = ["a man rides a bike.", "two dogs play in the park", "a woman reads a newspaper on a bench.",
            "the child eats.", "An old man, with a red hat, sits."]
    refs = ["a man rides a bike.", "two dogs are playing in the park.", "a woman reads a book on a bench.",
            "a child eats an apple.", "An old man with a red hat sits on a bench."]
    metric = module.bleu["test"]
    metric.update(hyps, [[r] for r in refs])
    ref = sacrebleu.corpus_bleu(hyps, [refs])  # sacrebleu's defaults: 13a tokenisation, exp smoothing, cased
    assert 0 < ref.score < 100
    assert 100.0 * float(metric.compute()) == pytest.approx(ref.score, abs=1e-4)
