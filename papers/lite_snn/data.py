"""Data modules of the lite_snn rows (each a "move to common": an option of the common module).

IMDB with length-bucketed batches; Multi30k reading only the first N pairs of each split (smoke runs); DVS Gesture
with generated files for smoke runs.

:class:`BucketedIMDBDataModule` is :class:`common.data.imdb.IMDBDataModule` whose training loader groups reviews of
similar length (:class:`common.data.multi30k.BucketBatchSampler`: pools of ``batch_size * bucket_factor`` reviews
of one seeded shuffle, sorted by length, cut into batches, batch order shuffled, a pure function of (seed, epoch)).
The official code's ``BucketIterator(sort_within_batch=True)`` also batches by length; without it a batch is padded
to its longest review (IMDB: up to ~2,500 tokens), which a step-by-step SNN pays for at every padded step.
Evaluation loaders read the reviews in order of length (a fixed order: padding is masked, so order and padding
change only the cost, never the metrics).
"""
from __future__ import annotations

from typing import Optional

from torch.utils.data import DataLoader

from common.data.base import EpochSeededSampler
from common.data.fake import fake_data_root
from common.data.dvs_gesture import DVSGestureDataModule, write_fake_dvs_gesture
from common.data.imdb import IMDBDataModule
from common.data.multi30k import BucketBatchSampler, Multi30kDataModule

__all__ = ["BucketedIMDBDataModule", "LiteMulti30kDataModule", "LiteDVSGestureDataModule"]


class BucketedIMDBDataModule(IMDBDataModule):
    """``IMDBDataModule`` + ``bucketing`` (default True) and ``bucket_factor`` (default 50)."""

    def __init__(self, bucketing: bool = True, bucket_factor: int = 50, **kwargs):
        super().__init__(**kwargs)
        if bucket_factor < 1:
            raise ValueError(f"bucket_factor must be >= 1, got {bucket_factor}")
        self.bucketing, self.bucket_factor = bool(bucketing), int(bucket_factor)

    def _loader(self, name: str, train: bool) -> DataLoader:
        if not self.bucketing:
            return super()._loader(name, train)
        ds = self.split(name)
        lengths = [len(ds[i][0]) for i in range(len(ds))]
        if not train:
            order = sorted(range(len(ds)), key=lengths.__getitem__)
            return DataLoader(ds, batch_size=self.eval_batch_size, sampler=order, shuffle=False,
                              num_workers=self.num_workers, persistent_workers=self.num_workers > 0,
                              collate_fn=self.collate_fn)
        sampler = BucketBatchSampler(EpochSeededSampler(len(ds), self.seed), self.batch_size, drop_last=False,
                                     lengths=lengths, bucket_factor=self.bucket_factor)
        return DataLoader(ds, batch_sampler=sampler, num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0, collate_fn=self.collate_fn)


class LiteMulti30kDataModule(Multi30kDataModule):
    """:class:`common.data.multi30k.Multi30kDataModule` + ``pairs_per_split`` (move to common): read only the first
    N sentence pairs of each split's files, before tokenising — a smoke run on the real files then takes seconds
    (tokenising all 31k pairs with Moses takes most of a minute). ``None``: every pair (identical to the parent)."""

    def __init__(self, pairs_per_split: Optional[int] = None, **kwargs):
        super().__init__(**kwargs)
        if pairs_per_split is not None and int(pairs_per_split) < 1:
            raise ValueError(f"pairs_per_split must be >= 1 or null, got {pairs_per_split}")
        self.pairs_per_split = None if pairs_per_split is None else int(pairs_per_split)

    def build(self):
        if self.pairs_per_split is None:
            return super().build()
        import common.data.multi30k as m30k

        original = m30k.read_pairs
        n = self.pairs_per_split

        def head(*args, **kwargs):
            src, tgt = original(*args, **kwargs)
            return src[:n], tgt[:n]

        m30k.read_pairs = head  # the parent's build looks read_pairs up in its module at call time
        try:
            return super().build()
        finally:
            m30k.read_pairs = original


class LiteDVSGestureDataModule(DVSGestureDataModule):
    """:class:`common.data.dvs_gesture.DVSGestureDataModule` + ``fake`` (move to common, as ``SHDDataModule``'s):
    ``fake=True`` (smoke runs only) writes tiny recordings in tonic's layout
    (:func:`common.data.dvs_gesture.write_fake_dvs_gesture`: random events, every class, users 1-2 train / 24 test)
    into a temporary folder and reads them through the same code; no real data needed."""

    def __init__(self, fake: bool = False, fake_events: int = 200, **kwargs):
        super().__init__(**kwargs)
        if fake:
            self.data_dir = fake_data_root(f"snn_repro_fake_dvs_gesture_{int(fake_events)}",
                                           lambda root: write_fake_dvs_gesture(root, events=int(fake_events)))
