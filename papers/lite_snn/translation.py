"""Runner of the lite_snn translation rows (``runner: papers.lite_snn.translation.train_test_translation``).

One stage: set the Multi30k data up, size the seq2seq model to its vocabularies, fit, and test the ``test_ckpt``
checkpoint (``monitor``: ``val/bleu``, greedy) — :func:`common.harness.runners.fit_test` — then, with that
checkpoint's weights:

- ``beam`` (``{beam_size: 4, length_penalty: 1.0}``; ``null``: skip): a second test pass with beam search, logged as
  ``test/bleu_beam`` and ``test/bleu_len_beam/*`` beside the greedy ``test/bleu`` / ``test/bleu_len/*`` (same
  references, sacreBLEU 13a); the issue asks for BLEU with greedy decoding and with beam search;
- ``extras["examples"]``: the first ``examples`` (default 5) test pairs, greedy (:func:`.runners.translate_examples`).

The translation branch of :func:`.runners.train_test_text` does the same without the beam pass; the translation
rows moved here. Fold that branch away when the IMDB rows are next rerun (runners.py is part of their provenance).
"""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from common.harness.context import RunContext
from common.harness.runners import fit_test

from .runners import translate_examples

__all__ = ["train_test_translation", "beam_test"]


def beam_test(ctx: RunContext, stage_dir: Path, module, dm, beam_size: int = 4, length_penalty: float = 1.0) -> dict:
    """Test ``module`` (its current weights) with beam search; ``test/bleu`` -> ``test/bleu_beam``,
    ``test/bleu_len/*`` -> ``test/bleu_len_beam/*``. The module's decoding settings are restored afterwards."""
    saved = module.decoding, module.beam_size, module.length_penalty
    module.decoding, module.beam_size, module.length_penalty = "beam", int(beam_size), float(length_penalty)
    trainer = ctx.trainer(stage_dir, "test_beam", monitor=None)
    try:
        m = ctx.test(trainer, module, dm)
    finally:
        module.decoding, module.beam_size, module.length_penalty = saved
        ctx.close_logger(trainer)
    out = {"test/bleu_beam": m["test/bleu"]}
    out.update({k.replace("test/bleu_len/", "test/bleu_len_beam/"): v for k, v in m.items()
                if k.startswith("test/bleu_len/")})
    return out


def train_test_translation(cfg: DictConfig, ctx: RunContext) -> dict:
    monitor = str(cfg.get("monitor") or "val/bleu")
    test_ckpt = str(cfg.get("test_ckpt") or "best")
    beam = cfg.get("beam")
    beam = OmegaConf.to_container(beam, resolve=True) if isinstance(beam, DictConfig) else beam
    depends = {"data": cfg.data, "module": cfg.module, "trainer": cfg.trainer, "test_ckpt": test_ckpt,
               "monitor": monitor, "beam": beam}

    def stage(d: Path) -> dict:
        ctx.seed_everything(int(cfg.seed))
        dm = ctx.instantiate(cfg.data)
        dm.setup()
        src_v, tgt_v = len(dm.src_vocab), len(dm.tgt_vocab)
        module = ctx.instantiate(cfg.module, vocab_size=tgt_v, model={"src_vocab": src_v, "tgt_vocab": tgt_v})
        ctx.log(f"vocabularies: source {src_v}, target {tgt_v}")
        metrics = fit_test(ctx, d, module, dm, "train", test_ckpt, monitor=monitor)
        secs = ctx.extras.get("train_epoch_seconds", {}).get(Path(d).name, [])
        extras = {"energy": getattr(module, "energy_report", {}).get("test"), "train_epoch_seconds": secs,
                  "examples": translate_examples(module, dm, int(cfg.get("examples", 5)))}
        if beam:
            metrics.update(beam_test(ctx, d, module, dm, **beam))
            ctx.log(f"test BLEU greedy {metrics.get('test/bleu', float('nan')):.2f}, "
                    f"beam {metrics['test/bleu_beam']:.2f}")
        return {"metrics": metrics, "extras": extras}

    return ctx.stage("train", stage, depends)
