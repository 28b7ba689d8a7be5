"""attn: the tested code behind the attention textbook.

Each module holds one concept, in the order the book teaches it. Chapters import
from here; tests in ``tests/`` check every piece, against PyTorch's own
implementation wherever one exists.

Shape legend (used in every docstring of the package)::

    B  batch size
    H  number of attention heads
    L  query length (number of queries)
    S  key/value length (number of keys)
    E  model width (embedding size)
    D  head width (size of one head's queries and keys)
    V  vocabulary size

Masks come in two forms: ``valid_lens`` (shape (B,) or (B, L): how many keys,
counted from the left, each query may see) and a boolean ``attn_mask`` with
PyTorch's meaning (True = may attend).
"""

__version__ = "0.1.0"

from attn.utils import check_shape, get_device, set_seed
from attn.masking import leave_one_out_mask, mask_fill_value, masked_softmax, sequence_mask, valid_lens_to_mask
from attn.plot import annotated_heatmap, show_heatmaps
from attn.pooling import (KERNELS, ParametricAttentionPooling, RegressionData, make_regression_data,
                          nadaraya_watson, regression_target)
from attn.scoring import AdditiveAttention, DotProductAttention, MultiplicativeAttention
from attn.data import (TranslationData, Vocab, build_array, load_translation_data, read_tatoeba,
                       split_pairs, synthetic_splits, tokenize)
from attn.plot import plot_curves
from attn.synthetic import Splits, SyntheticConfig
from attn.seq2seq import (BahdanauDecoder, EncoderDecoder, Seq2SeqConfig, Seq2SeqDecoder, Seq2SeqEncoder,
                          build_model)
from attn.train import History, TrainConfig, sequence_loss, train_seq2seq
from attn.decode import Decoded, beam_search, greedy_decode, translate
from attn.bleu import corpus_bleu, sacrebleu_corpus, sentence_bleu

__all__ = [
    "__version__",
    "check_shape",
    "get_device",
    "set_seed",
    "mask_fill_value",
    "masked_softmax",
    "sequence_mask",
    "valid_lens_to_mask",
    "annotated_heatmap",
    "show_heatmaps",
    "KERNELS",
    "ParametricAttentionPooling",
    "RegressionData",
    "leave_one_out_mask",
    "make_regression_data",
    "nadaraya_watson",
    "regression_target",
    "DotProductAttention",
    "AdditiveAttention",
    "MultiplicativeAttention",
    "TranslationData",
    "Vocab",
    "build_array",
    "load_translation_data",
    "read_tatoeba",
    "split_pairs",
    "synthetic_splits",
    "plot_curves",
    "tokenize",
    "Splits",
    "SyntheticConfig",
    "BahdanauDecoder",
    "EncoderDecoder",
    "Seq2SeqConfig",
    "Seq2SeqDecoder",
    "Seq2SeqEncoder",
    "build_model",
    "History",
    "TrainConfig",
    "sequence_loss",
    "train_seq2seq",
    "Decoded",
    "beam_search",
    "greedy_decode",
    "translate",
    "corpus_bleu",
    "sacrebleu_corpus",
    "sentence_bleu",
]
