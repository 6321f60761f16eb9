"""lite_snn translation models: the conv decoders cannot see future target tokens, decode == the decode_step loop,
source padding is masked, BLEU by source length, the small-split Multi30k module."""
import pytest
import torch

from common.lightning.seq2seq import teacher_forced_logits
from papers.lite_snn.seq2seq import ConvSeq2Seq, LSTMSeq2Seq, VanillaSpikingSeq2Seq
from papers.lite_snn.seq2seq_analog_kv import AnalogKVConvSeq2Seq
from papers.lite_snn.seq2seq_proj import ProjectedConvSeq2Seq


def _conv(neuron, proj=False):
    torch.manual_seed(0)
    m = (ProjectedConvSeq2Seq if proj else ConvSeq2Seq)(30, 25, neuron=neuron, emb=8, hidden=12, layers=2, kernel=3,
                    time_steps=3 if neuron == "lif" else 1, dropout=0.0)
    if neuron == "lif":  # make the small untrained network spike
        with torch.no_grad():
            for p in m.parameters():
                if p.dim() > 1:
                    p.mul_(3.0)
    return m.eval()


def _src():
    g = torch.Generator().manual_seed(1)
    src = torch.randint(4, 30, (7, 3), generator=g)
    lengths = torch.tensor([7, 4, 6])
    for b, n in enumerate(lengths.tolist()):
        src[n:, b] = 0
    tgt = torch.randint(4, 25, (6, 3), generator=g)
    return src, lengths, tgt


@pytest.mark.parametrize("proj", [False, True], ids=["plain", "projected"])
@pytest.mark.parametrize("neuron", ["lif", "relu"])
def test_conv_decoder_cannot_see_future_target_tokens(neuron, proj):
    m = _conv(neuron, proj)
    src, lengths, tgt = _src()
    with torch.no_grad():
        mem = m.encode(src, lengths)
        base = m.decode(tgt, mem)
        if neuron == "lif":
            assert 0 < float(mem["kv"].mean()) < 1  # it spikes
        for u in range(tgt.shape[0]):
            changed = tgt.clone()
            changed[u] = (changed[u] + 7) % 21 + 4
            out = m.decode(changed, mem)
            torch.testing.assert_close(out[:u], base[:u], rtol=0, atol=0)  # earlier outputs: bit-identical
            assert not torch.allclose(out[u:], base[u:])  # the changed token itself matters


@pytest.mark.parametrize("kind", ["conv_lif", "conv_relu", "conv_lif_proj", "lstm", "vanilla"])
def test_decode_equals_decode_step_loop(kind):
    torch.manual_seed(0)
    m = {"conv_lif": lambda: _conv("lif"), "conv_relu": lambda: _conv("relu"), "conv_lif_proj": lambda: _conv("lif", True),
         "lstm": lambda: LSTMSeq2Seq(30, 25, emb=8, hidden=12, layers=2).eval(),
         "vanilla": lambda: VanillaSpikingSeq2Seq(30, 25, emb=8, hidden=12, time_steps=3).eval()}[kind]()
    src, lengths, tgt = _src()
    with torch.no_grad():
        mem = m.encode(src, lengths)
        state, steps = None, []
        for u in range(tgt.shape[0]):
            logits, state = m.decode_step(tgt[u], state, mem)
            steps.append(logits)
        loop = torch.stack(steps)
        full = teacher_forced_logits(m, src, lengths, tgt)  # decode() where the model has one
    assert loop.shape == (6, 3, 25)
    torch.testing.assert_close(full, loop, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["conv_lif", "conv_relu", "conv_lif_proj", "vanilla"])
def test_source_padding_is_masked(kind):
    m = _conv(kind.split("_")[1], kind.endswith("proj")) if kind.startswith("conv") else VanillaSpikingSeq2Seq(30, 25, emb=8, hidden=12).eval()
    src, lengths, tgt = _src()
    with torch.no_grad():
        batched = teacher_forced_logits(m, src, lengths, tgt)
        for b, n in enumerate(lengths.tolist()):
            alone = teacher_forced_logits(m, src[:n, b:b + 1], lengths[b:b + 1], tgt[:, b:b + 1])
            torch.testing.assert_close(batched[:, b:b + 1], alone, rtol=1e-5, atol=1e-5)


def test_vanilla_readout_is_per_source_word_and_state_chains_tokens():
    torch.manual_seed(0)
    m = VanillaSpikingSeq2Seq(30, 25, emb=8, hidden=12, time_steps=2).eval()
    src, lengths, tgt = _src()
    with torch.no_grad():
        mem = m.encode(src, lengths)
        _, s1 = m.decode_step(tgt[0], None, mem)
        l2a, _ = m.decode_step(tgt[1], s1, mem)
        l2b, _ = m.decode_step(tgt[1], None, mem)
    assert mem.shape == (1, 3, 12)
    assert not torch.allclose(l2a, l2b)  # the previous token's integrator starts the next token's membrane


def test_projected_attention_only_adds_the_projections():
    """The ablation's model is the plain one plus W_q, W_k: with identity projections it computes the same logits."""
    plain, proj = _conv("lif"), _conv("lif", True)
    proj.load_state_dict(plain.state_dict(), strict=False)
    with torch.no_grad():
        for lin in [*proj.q_proj, *proj.k_proj]:
            lin.weight.copy_(torch.eye(lin.weight.shape[0]))
    src, lengths, tgt = _src()
    with torch.no_grad():
        torch.testing.assert_close(teacher_forced_logits(proj, src, lengths, tgt),
                                   teacher_forced_logits(plain, src, lengths, tgt), rtol=0, atol=0)
    extra = sum(p.numel() for p in proj.parameters()) - sum(p.numel() for p in plain.parameters())
    assert extra == 2 * 2 * 12 * 12  # two layers, W_q and W_k of 12 x 12


def test_analog_kv_attends_to_the_masked_residual_stream():
    """The ablation's keys/values are the encoder's residual stream (analog), padded positions zero; the rest of
    the network is the plain one (same parameters but the kv neuron's), so the causal and padding properties hold."""
    plain = _conv("lif")
    torch.manual_seed(0)
    akv = AnalogKVConvSeq2Seq(30, 25, neuron="lif", emb=8, hidden=12, layers=2, kernel=3, time_steps=3,
                              dropout=0.0).eval()
    missing, unexpected = akv.load_state_dict(plain.state_dict(), strict=False)
    assert not missing and all(k.startswith("kv_act.") for k in unexpected)
    src, lengths, tgt = _src()
    with torch.no_grad():
        kv = akv.encode(src, lengths)["kv"]
        spikes = plain.encode(src, lengths)["kv"]
        assert kv.shape == spikes.shape and not bool(((kv == 0) | (kv == 1)).all())  # analog
        for b, n in enumerate(lengths.tolist()):
            assert not kv[:, b, n:].any()  # padded source positions give no key
        base = akv.decode(tgt, akv.encode(src, lengths))
        changed = tgt.clone()
        changed[3] = (changed[3] + 7) % 21 + 4
        torch.testing.assert_close(akv.decode(changed, akv.encode(src, lengths))[:3], base[:3], rtol=0, atol=0)
        batched = teacher_forced_logits(akv, src, lengths, tgt)
        alone = teacher_forced_logits(akv, src[:4, 1:2], lengths[1:2], tgt[:, 1:2])
        torch.testing.assert_close(batched[:, 1:2], alone, rtol=1e-5, atol=1e-5)


def test_relu_twin_needs_one_step():
    with pytest.raises(ValueError, match="time_steps must be 1"):
        ConvSeq2Seq(10, 10, neuron="relu", time_steps=4)


def test_bleu_length_buckets():
    from papers.lite_snn.module import LiteSeq2SeqModule

    m = LiteSeq2SeqModule(LSTMSeq2Seq(10, 10, emb=4, hidden=4, layers=1), 10, pad_id=0, bos_id=2, eos_id=3)
    assert [m.bucket(n) for n in (1, 10, 11, 15, 16, 40)] == ["short", "short", "mid", "mid", "long", "long"]
    with pytest.raises(ValueError):
        LiteSeq2SeqModule(LSTMSeq2Seq(10, 10, emb=4, hidden=4, layers=1), 10, short_max=15, mid_max=10)


def test_multi30k_pairs_per_split(tmp_path):
    from papers.lite_snn.data import LiteMulti30kDataModule

    from .helpers import write_multi30k

    write_multi30k(tmp_path)
    dm = LiteMulti30kDataModule(data_dir=str(tmp_path), pairs_per_split=4, min_freq=1, batch_size=2)
    dm.setup()
    assert [len(dm.split(s)) for s in ("train", "val", "test")] == [4, 3, 4]
    full = LiteMulti30kDataModule(data_dir=str(tmp_path), min_freq=1, batch_size=2)
    full.setup()
    assert [len(full.split(s)) for s in ("train", "val", "test")] == [21, 3, 5]
    assert len(dm.src_vocab) < len(full.src_vocab)
    import common.data.multi30k as m30k
    assert m30k.read_pairs.__name__ == "read_pairs"  # restored
