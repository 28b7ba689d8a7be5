"""attn: the tested code behind the attention textbook.

Each module holds one concept, in the order the book teaches it. Chapters import
from here; tests in ``tests/`` check every piece, against PyTorch's own
implementation wherever one exists.

Shape legend (used in every docstring of the package)::

    B  batch size
    H  number of attention heads
    H_kv number of key/value heads (grouped-query attention)
    L  query length (number of queries)
    S  key/value length (number of keys)
    T  target length (tokens a decoder reads or writes)
    E  model width (embedding size)
    D  head width (size of one head's queries and keys)
    Ev value width (size of each value vector)
    V  vocabulary size
    N  number of stacked layers

Every entry point checks its arguments with the shared functions of
``attn.checks``: a wrong type is a TypeError, a wrong shape or value a
ValueError, and the message names the argument, what was expected and what came.

Masks come in two forms: ``valid_lens`` (shape (B,) or (B, L): how many keys,
counted from the left, each query may see) and a boolean ``attn_mask`` with
PyTorch's meaning (True = may attend).

The plotting helpers (``show_heatmaps``, ``annotated_heatmap``, ``plot_curves``)
are loaded on first use, so that ``import attn`` does not import matplotlib.
"""

__version__ = "0.1.0"

from attn.utils import check_shape, get_device, set_seed
from attn.masking import (causal_mask, leave_one_out_mask, mask_fill_value, masked_softmax, sequence_mask,
                          valid_lens_to_mask)
from attn.pooling import (KERNELS, ParametricAttentionPooling, RegressionData, make_regression_data,
                          nadaraya_watson, regression_target)
from attn.scoring import AdditiveAttention, DotProductAttention, MultiplicativeAttention
from attn.data import (TranslationData, Vocab, build_array, filter_pairs, load_translation_data,
                       read_tatoeba, split_pairs, synthetic_splits, tokenize)
from attn.synthetic import Splits, SyntheticConfig
from attn.grammar import is_english, is_french, is_translation, parse_line, why_not
from attn.subword import (BPE, count_words, join_pieces, learn_merges, learn_merges_fast,
                          segment_word)
from attn.seq2seq import (BahdanauDecoder, EncoderDecoder, Seq2SeqConfig, Seq2SeqDecoder, Seq2SeqEncoder,
                          build_model)
from attn.train import History, TrainConfig, sequence_loss, teacher_forcing_inputs, train_seq2seq
from attn.decode import Decoded, beam_search, greedy_decode, translate
from attn.bleu import corpus_bleu, sacrebleu_corpus, sentence_bleu
from attn.multihead import MultiHeadAttention, merge_heads, split_heads
from attn.position import (LearnedPositionalEmbedding, PositionalEncoding, alibi_bias, alibi_slopes,
                           apply_rope, frequencies, relative_shift_matrix, sinusoidal_encoding)
from attn.transformer import (AddNorm, PositionWiseFFN, Transformer, TransformerConfig, TransformerDecoder,
                              TransformerDecoderBlock, TransformerEncoder, TransformerEncoderBlock,
                              TransformerState, TransformerWeights, build_transformer)
from attn.efficient import (GroupedQueryAttention, KVCache, TileCounts, attention_flops, kv_cache_bytes,
                            naive_attention, online_softmax, tiled_attention)
from attn.measure import PeakMemory, cpu_times_ms, fastest_ms, median_ms, race, saved_bytes, torch_threads
from attn.gpt import GPT, GPTBlock, GPTConfig, num_parameters
from attn.sampling import apply_temperature, generate, sample_next, top_k_filter, top_p_filter
from attn.lm import (evaluate_lm, lm_arrays, lm_loader, lm_loss, train_lm, translate_lm,
                     translation_lines)

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
    "filter_pairs",
    "split_pairs",
    "synthetic_splits",
    "plot_curves",
    "tokenize",
    "Splits",
    "SyntheticConfig",
    "is_english",
    "is_french",
    "is_translation",
    "parse_line",
    "why_not",
    "BPE",
    "count_words",
    "join_pieces",
    "learn_merges",
    "learn_merges_fast",
    "segment_word",
    "BahdanauDecoder",
    "EncoderDecoder",
    "Seq2SeqConfig",
    "Seq2SeqDecoder",
    "Seq2SeqEncoder",
    "build_model",
    "History",
    "TrainConfig",
    "sequence_loss",
    "teacher_forcing_inputs",
    "train_seq2seq",
    "Decoded",
    "beam_search",
    "greedy_decode",
    "translate",
    "corpus_bleu",
    "sacrebleu_corpus",
    "sentence_bleu",
    "MultiHeadAttention",
    "causal_mask",
    "merge_heads",
    "split_heads",
    "LearnedPositionalEmbedding",
    "PositionalEncoding",
    "alibi_bias",
    "alibi_slopes",
    "apply_rope",
    "frequencies",
    "relative_shift_matrix",
    "sinusoidal_encoding",
    "AddNorm",
    "PositionWiseFFN",
    "Transformer",
    "TransformerConfig",
    "TransformerDecoder",
    "TransformerDecoderBlock",
    "TransformerEncoder",
    "TransformerEncoderBlock",
    "TransformerState",
    "TransformerWeights",
    "build_transformer",
    "GroupedQueryAttention",
    "KVCache",
    "PeakMemory",
    "TileCounts",
    "attention_flops",
    "kv_cache_bytes",
    "naive_attention",
    "online_softmax",
    "tiled_attention",
    "cpu_times_ms",
    "fastest_ms",
    "median_ms",
    "race",
    "saved_bytes",
    "torch_threads",
    "GPT",
    "GPTBlock",
    "GPTConfig",
    "num_parameters",
    "apply_temperature",
    "generate",
    "sample_next",
    "top_k_filter",
    "top_p_filter",
    "evaluate_lm",
    "lm_arrays",
    "lm_loader",
    "lm_loss",
    "train_lm",
    "translate_lm",
    "translation_lines",
]


# attn.plot imports matplotlib and seaborn, which take a second or more to load and which the
# mechanisms and models never need: load it when one of its names is first asked for (PEP 562).
_PLOT_NAMES = ("annotated_heatmap", "plot_curves", "show_heatmaps")


def __getattr__(name: str):
    if name in _PLOT_NAMES or name == "plot":
        import importlib

        plot = importlib.import_module("attn.plot")
        return plot if name == "plot" else getattr(plot, name)
    raise AttributeError(f"module 'attn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | {"plot"})
