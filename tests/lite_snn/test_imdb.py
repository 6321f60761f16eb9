"""lite_snn IMDB models: the LIF step against the official code's neuron, the layer-by-layer network against the
official word-by-word loop, state carried across words, padding invariance, parameter counts, bucketed data."""
import pytest
import torch
import torch.nn.functional as F

from common.neurons import LIF, constrain_parameters
from papers.lite_snn.imdb import RecurrentSentiment, SpikingSentiment, count_parameters


# ---------------------------------------------------------------------------------- plain reference (official code)
class _LinearSpike(torch.autograd.Function):
    """The official ``LinearSpike`` (gamma 0.3), without its ``.cuda()``."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 0.3 * F.threshold(1.0 - x.abs(), 0, 0)


def _official_lif(xs, leak, thr, mem=None):
    """The official ``LIF.forward`` over ``xs [T, B, H]``: mem = leak mem + x; z = mem/thr - 1;
    rst = thr * (z > 0); mem -= rst; out = LinearSpike(z)."""
    mem = torch.zeros_like(xs[0]) if mem is None else mem
    outs = []
    for x in xs:
        mem = leak * mem + x
        z = mem / thr - 1.0
        mem = mem - thr * (z > 0).to(z.dtype)
        outs.append(_LinearSpike.apply(z))
    return torch.stack(outs), mem


@pytest.mark.parametrize("backend", ["torch", "auto"])
def test_lif_values_and_gradients_match_official_neuron(backend):
    torch.manual_seed(0)
    x = (torch.randn(12, 5, 7) * 0.8 + 0.3).requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    lif = LIF(0.95, 1.0, reset="soft", detach_reset=True, surrogate="triangle", surrogate_alpha=0.3,
              learn_leak=True, learn_threshold=True, backend=backend)
    leak = torch.tensor(0.95, requires_grad=True)
    thr = torch.tensor(1.0, requires_grad=True)
    s = lif(x)
    s_ref, _ = _official_lif(x_ref, leak, thr)
    assert torch.equal(s, s_ref) and 0 < s.mean() < 1
    w = torch.randn_like(s)
    (s * w).sum().backward()
    (s_ref * w).sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(lif.leak.grad, leak.grad, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(lif.threshold.grad, thr.grad, rtol=1e-4, atol=1e-6)


def test_leak_is_clamped_to_unit_interval():
    m = SpikingSentiment(50, embed_dim=4, hidden_size=6)
    with torch.no_grad():
        m.lif1.leak.fill_(1.3)
        m.lif2.leak.fill_(-0.2)
    constrain_parameters(m)
    assert m.lif1.leak.item() == 1.0 and m.lif2.leak.item() == 0.0


# ---------------------------------------------------------------------------------- the network
def _model(T=3, **kw):
    torch.manual_seed(1)
    m = SpikingSentiment(40, embed_dim=6, hidden_size=10, time_steps=T, **kw)
    with torch.no_grad():  # larger weights than the official N(0, 0.01) so that the tiny network spikes
        for fc in (m.fc1, m.fc2, m.fc3):
            fc.weight.normal_(0, 0.8)
            fc.bias.uniform_(-0.2, 0.4)
    return m.eval()


def _official_forward(m, x, lengths):
    """The official word-by-word, step-by-step loop (eval: dropouts off), with the two fixes (padding skipped, the
    readout divided by each review's words), one review at a time."""
    outs = []
    for b in range(x.shape[1]):
        e = m.embedding(x[: lengths[b], b : b + 1])  # [L_b, 1, E]
        mem1 = mem2 = torch.zeros(1, m.hidden_size)
        acc = torch.zeros(1, m.hidden_size)
        for w in range(int(lengths[b])):
            for _ in range(m.time_steps):
                s1, mem1 = _official_lif(m.fc1(e[w])[None], m.lif1.leak, m.lif1.threshold, mem1)
                s2, mem2 = _official_lif(m.fc2(s1[0])[None], m.lif2.leak, m.lif2.threshold, mem2)
                acc = acc + m.fc3(s2[0])
        z = m.head(acc / lengths[b])
        outs.append(torch.cat([torch.zeros_like(z), z], 1))
    return torch.cat(outs)


def _batch():
    g = torch.Generator().manual_seed(3)
    x = torch.randint(2, 40, (9, 4), generator=g)
    lengths = torch.tensor([9, 4, 7, 1])
    for b, n in enumerate(lengths.tolist()):
        x[n:, b] = 0
    return x, lengths


@pytest.mark.parametrize("T", [1, 3])
def test_network_equals_official_word_by_word_loop(T):
    m = _model(T)
    x, lengths = _batch()
    with torch.no_grad():
        out = m(x, lengths)
        ref = _official_forward(m, x, lengths)
        spikes = m.lif1(m.fc1(m.embedding(x)))
    assert 0 < spikes.mean() < 1
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_state_carried_across_words_equals_one_pass():
    m = _model(4)
    x, lengths = _batch()
    k = 3  # words 0..2, then the rest, for the reviews longer than k
    with torch.no_grad():
        acc_one, st_one = m.encode(x, lengths, return_state=True)
        rest = lengths - k
        keep = rest > 0
        _, st_a = m.encode(x[:k, keep], lengths[keep].clamp(max=k), return_state=True)
        acc_b, st_b = m.encode(x[k:, keep], rest[keep], st_a)
    torch.testing.assert_close(acc_b, acc_one[keep], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(st_b.v1, st_one.v1[keep], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(st_b.v2, st_one.v2[keep], rtol=1e-5, atol=1e-5)
    assert st_b.words.tolist() == lengths[keep].float().tolist()
    torch.testing.assert_close(m.readout(acc_b, st_b.words), m(x[:, keep], lengths[keep]), rtol=1e-5, atol=1e-5)
    # the state after the first chunk is not the rest state: it really carries context
    assert st_a.v1.abs().sum() > 0
    with torch.no_grad():
        fresh, _ = m.encode(x[k:, keep], rest[keep])
        first, _ = m.encode(x[:k, keep], lengths[keep].clamp(max=k))
    assert not torch.allclose(first + fresh, acc_b)


def test_padding_does_not_change_prediction():
    m = _model(3)
    x, lengths = _batch()
    with torch.no_grad():
        batched = m(x, lengths)
        for b, n in enumerate(lengths.tolist()):
            alone = m(x[:n, b : b + 1], lengths[b : b + 1])
            longer = torch.cat([x[:n, b : b + 1], torch.randint(2, 40, (5, 1))])  # garbage after the end
            torch.testing.assert_close(batched[b : b + 1], alone, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(m(longer, torch.tensor([n])), alone, rtol=1e-5, atol=1e-6)
    for kind in ("rnn", "lstm", "gru"):
        torch.manual_seed(0)
        r = RecurrentSentiment(40, kind, embed_dim=6, hidden_size=8).eval()
        with torch.no_grad():
            batched = r(x, lengths)
            for b, n in enumerate(lengths.tolist()):
                torch.testing.assert_close(batched[b : b + 1], r(x[:n, b : b + 1], lengths[b : b + 1]),
                                           rtol=1e-5, atol=1e-6)


def test_readout_normalisation_and_logit_form():
    m = _model(2)
    x, lengths = _batch()
    with torch.no_grad():
        acc, _ = m.encode(x, lengths)
        words = m(x, lengths)
        m.readout_norm = "batch"  # the official hazard: / batch size
        batch = m(x, lengths)
    torch.testing.assert_close(words, m.readout(acc / lengths[:, None] * 4, torch.full((4,), 4.0)))
    assert not torch.allclose(words, batch)
    assert (words[:, 0] == 0).all()  # [0, z]: CE equals BCE-with-logits on z
    z = words[:, 1]
    y = torch.tensor([0, 1, 1, 0])
    torch.testing.assert_close(F.cross_entropy(words, y), F.binary_cross_entropy_with_logits(z, y.float()))


def test_training_dropout_masks_are_per_review_and_gradients_flow():
    torch.manual_seed(0)
    m = _model(2).train()
    st = m.initial_state(3)
    assert st.mask1.shape == (3, 10) and set(st.mask1.unique().tolist()) <= {0.0, 1.25}
    x, lengths = _batch()
    m(x, lengths).sum().backward()
    for p in (m.fc1.weight, m.fc2.weight, m.fc3.weight, m.lif1.leak, m.lif1.threshold, m.embedding.weight):
        assert p.grad is not None and torch.isfinite(p.grad).all()


def test_parameter_counts_match_notes():
    # notes §3d (H = 256, E = 100): SNN core 157,444 + head 66,049; LSTM 366,592 + 257; RNN 91,648 + 257
    snn = SpikingSentiment(25_002, time_steps=5)
    assert count_parameters(snn) == 223_493
    assert count_parameters(snn) - sum(p.numel() for p in snn.head.parameters()) == 157_444
    assert count_parameters(snn, exclude_embedding=False) == 223_493 + 2_500_200
    assert count_parameters(RecurrentSentiment(25_002, "lstm")) == 366_849
    assert count_parameters(RecurrentSentiment(25_002, "rnn")) == 91_905
    assert count_parameters(RecurrentSentiment(25_002, "gru")) == 275_201


def test_bucketed_imdb_module(tmp_path):
    from papers.lite_snn.data import BucketedIMDBDataModule

    from .helpers import write_imdb

    write_imdb(tmp_path / "data")
    kw = dict(data_dir=str(tmp_path / "data"), cache_dir=str(tmp_path / "cache"), val_size=4, batch_size=4,
              eval_batch_size=5, vocab_size=None, bucket_factor=2, seed=1)
    dm = BucketedIMDBDataModule(**kw)
    dm.setup()
    train = list(dm.train_dataloader())
    assert sum(b.x.shape[1] for b in train) == 20  # 24 training reviews, 4 held out
    # seeded: the same batches again
    assert [b.x.T.tolist() for b in BucketedIMDBDataModule(**kw).train_dataloader()] == [b.x.T.tolist() for b in train]
    test = list(dm.test_dataloader())
    lens = [int(n) for b in test for n in b.lengths]
    assert lens == sorted(lens) and len(lens) == 12
    plain = BucketedIMDBDataModule(bucketing=False, **kw)
    assert sorted(int(n) for b in plain.test_dataloader() for n in b.lengths) == sorted(lens)
