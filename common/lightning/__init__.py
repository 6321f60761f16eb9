from .module import ClassificationModule, NonFiniteLossError
from .seq2seq import Seq2SeqModule, TinySeq2Seq, beam_search, greedy_decode
from .sequence import SequenceClassificationModule, last_step, masked_time_mean

__all__ = ["ClassificationModule", "NonFiniteLossError", "SequenceClassificationModule", "masked_time_mean", "last_step",
           "Seq2SeqModule", "TinySeq2Seq", "greedy_decode", "beam_search"]
