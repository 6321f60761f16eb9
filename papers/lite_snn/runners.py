"""Runner of the lite_snn text rows: :func:`common.harness.runners.train_test` with three changes (move to common as
options of ``train_test``):

- the data module is set up before the model is built, and the model is sized to the vocabularies it built
  (a config cannot know them before the data is read): translation models get ``src_vocab`` / ``tgt_vocab`` (and
  the module ``vocab_size``), classifiers ``vocab_size``;
- pretrained word vectors: when the data module loaded some (``data.vectors_path``, a GloVe-format file you
  supply; ``vectors_dim`` must equal the model's ``embed_dim``), they are copied into the model's ``embedding``;
  words the file lacks keep their N(0, 1) initialisation (the official ``unk_init=normal_``), ``<pad>`` is zero;
- ``monitor``: the metric that picks the best checkpoint (default ``val/acc``; translation rows ``val/bleu``);
- translation rows add ``extras["examples"]``: the first ``examples`` (default 5) test pairs translated by the tested
  checkpoint (``src``, ``ref``, ``hyp``, detokenised), for RESULTS.md.
"""
from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import DictConfig

from common.harness.context import RunContext
from common.harness.runners import fit_test

__all__ = ["train_test_text", "load_vectors_into", "translate_examples"]


def load_vectors_into(embedding: torch.nn.Embedding, vectors: torch.Tensor, pad_id: int = 0) -> int:
    """Copy the non-zero rows of ``vectors`` ``[V, D]`` into ``embedding``; ``<pad>`` zeroed. Returns rows copied."""
    if tuple(vectors.shape) != tuple(embedding.weight.shape):
        raise ValueError(f"vectors of shape {tuple(vectors.shape)} do not fit the embedding "
                         f"{tuple(embedding.weight.shape)} (vectors_dim must equal the model's embed_dim)")
    found = vectors.abs().sum(1) > 0
    with torch.no_grad():
        embedding.weight[found] = vectors[found].to(embedding.weight.dtype)
        embedding.weight[pad_id] = 0.0
    return int(found.sum())


@torch.no_grad()
def translate_examples(module, dm, n: int = 5) -> list[dict]:
    """The first ``n`` test pairs (loader order) translated by ``module`` (its current weights: after
    :func:`fit_test`, the tested checkpoint's), with the module's decoding."""
    from common.data.sequence import collate_seq2seq

    if n <= 0:
        return []
    ds = dm.split("test")
    items = [ds[i] for i in range(min(n, len(ds)))]
    batch = collate_seq2seq(items, pad_id=dm.pad_id)
    was = module.training
    module.eval()
    try:
        device = next(module.parameters()).device
        hyps = module.translate(batch.x.to(device), batch.lengths.to(device))
    finally:
        module.train(was)
    refs = dm.references("test")
    return [{"src": dm.detokenize(s.tolist(), "src"), "ref": refs[i], "hyp": dm.detokenize(h)}
            for i, (s, h) in enumerate(zip((it[0] for it in items), hyps))]


def train_test_text(cfg: DictConfig, ctx: RunContext) -> dict:
    monitor = str(cfg.get("monitor") or "val/acc")
    test_ckpt = str(cfg.get("test_ckpt") or "best")
    depends = {"data": cfg.data, "module": cfg.module, "trainer": cfg.trainer, "test_ckpt": test_ckpt,
               "monitor": monitor}

    def stage(d: Path) -> dict:
        ctx.seed_everything(int(cfg.seed))
        dm = ctx.instantiate(cfg.data)
        dm.setup()
        if hasattr(dm, "src_vocab"):
            src_v, tgt_v = len(dm.src_vocab), len(dm.tgt_vocab)
            module = ctx.instantiate(cfg.module, vocab_size=tgt_v, model={"src_vocab": src_v, "tgt_vocab": tgt_v})
            ctx.log(f"vocabularies: source {src_v}, target {tgt_v}")
        else:
            module = ctx.instantiate(cfg.module, model={"vocab_size": len(dm.vocab)})
            ctx.log(f"vocabulary: {len(dm.vocab)}")
            if getattr(dm, "vectors", None) is not None:
                n = load_vectors_into(module.model.embedding, dm.vectors, dm.pad_id)
                ctx.log(f"pretrained vectors: {n} of {len(dm.vocab)} words")
        metrics = fit_test(ctx, d, module, dm, "train", test_ckpt, monitor=monitor)
        secs = ctx.extras.get("train_epoch_seconds", {}).get(Path(d).name, [])
        extras = {"energy": getattr(module, "energy_report", {}).get("test"), "train_epoch_seconds": secs}
        if hasattr(dm, "src_vocab"):
            extras["examples"] = translate_examples(module, dm, int(cfg.get("examples", 5)))
        return {"metrics": metrics, "extras": extras}

    return ctx.stage("train", stage, depends)
