"""Bad and edge input at the public entry points of chapters 1-8: a clear error or a defined result.

Each test names what a new user might pass and what the package must do with it:
a TypeError or ValueError whose message names the argument and what was
expected, never an error from deep inside torch, a silently wrong result or NaN
from finite input.
"""

import collections

import numpy as np
import pytest
import torch

import attn
from attn.efficient import GroupedQueryAttention, KVCache, naive_attention, tiled_attention
from attn.interactive import head_view, interactive_curves, interactive_heatmaps


# --- Grouped-query attention and the KV cache -------------------------------------------------

@pytest.fixture
def gqa():
    torch.manual_seed(0)
    return GroupedQueryAttention(16, 4, num_kv_heads=2)


def test_gqa_refuses_keys_and_values_of_different_lengths(gqa):
    q, k, v = torch.randn(2, 3, 16), torch.randn(2, 4, 16), torch.randn(2, 5, 16)
    with pytest.raises(ValueError, match="keys and values must have the same length S: got 4 and 5"):
        gqa(q, k, v)


def test_gqa_refuses_batches_that_differ(gqa):
    q, kv = torch.randn(2, 3, 16), torch.randn(3, 4, 16)
    with pytest.raises(ValueError, match="same batch size B: got 2, 3 and 3"):
        gqa(q, kv, kv)


def test_gqa_refuses_a_dtype_other_than_its_own_and_integers(gqa):
    kv = torch.randn(2, 4, 16)
    with pytest.raises(TypeError, match="queries must have the module's dtype torch.float32, "
                                        "got torch.float16"):
        gqa(torch.randn(2, 3, 16).half(), kv, kv)
    with pytest.raises(TypeError, match="queries must be a floating-point tensor, got dtype "
                                        "torch.int64"):
        gqa(torch.ones(2, 3, 16, dtype=torch.long), kv, kv)


def test_gqa_refuses_a_flag_that_is_not_a_bool_and_a_cache_that_is_not_a_kvcache(gqa):
    x = torch.randn(2, 3, 16)
    with pytest.raises(TypeError, match="is_causal must be True or False, got None"):
        gqa(x, x, x, is_causal=None)
    with pytest.raises(TypeError, match="cache must be a KVCache or None, got dict"):
        gqa(x, x, x, cache={})


def test_gqa_leaves_the_cache_unchanged_when_it_refuses_a_call(gqa):
    cache, x = KVCache(), torch.randn(2, 3, 16)
    gqa(x, x, x, cache=cache)
    with pytest.raises(ValueError, match="valid_lens"):
        gqa(x[:, :1], x[:, :1], x[:, :1], valid_lens=torch.tensor([9, 9]), cache=cache)
    assert len(cache) == 3


def test_kv_cache_refuses_lists_and_mixed_dtypes():
    cache = KVCache()
    k = torch.randn(1, 2, 3, 4)
    with pytest.raises(TypeError, match="keys must be a torch.Tensor, got list"):
        cache.append(k.tolist(), k)
    with pytest.raises(TypeError, match="keys and values must have the same dtype: "
                                        "got torch.float32 and torch.float64"):
        cache.append(k, k.double())
    cache.append(k, k)
    with pytest.raises(TypeError, match="new keys must have the cache's dtype torch.float32"):
        cache.append(k.double(), k.double())
    assert len(cache) == 3


# --- Naive and tiled attention ----------------------------------------------------------------

ATTENTION = [naive_attention, tiled_attention]


@pytest.mark.parametrize("fn", ATTENTION)
def test_query_and_key_dtypes_must_agree(fn):
    q = torch.randn(1, 2, 5, 4)
    with pytest.raises(TypeError, match="query, key and value must have the same dtype: "
                                        "got torch.float32, torch.float64 and torch.float64"):
        fn(q, q.double(), q.double())


@pytest.mark.parametrize("fn", ATTENTION)
@pytest.mark.parametrize("scale, error", [(float("nan"), ValueError), (float("inf"), ValueError),
                                          (0.0, ValueError), (-0.5, ValueError),
                                          ("0.5", TypeError), (True, TypeError)])
def test_scale_must_be_a_finite_positive_number(fn, scale, error):
    q = torch.randn(1, 2, 5, 4)
    with pytest.raises(error, match="scale must be a finite number > 0 or None"):
        fn(q, q, q, scale=scale)


@pytest.mark.parametrize("fn", ATTENTION)
def test_an_explicit_scale_is_used(fn):
    q, k, v = torch.randn(1, 2, 5, 4), torch.randn(1, 2, 6, 4), torch.randn(1, 2, 6, 3)
    expected = torch.softmax(q @ k.transpose(-2, -1) * 0.3, dim=-1) @ v
    torch.testing.assert_close(fn(q, k, v, scale=0.3), expected)


@pytest.mark.parametrize("masks", [{"valid_lens": torch.tensor([4, 0])},
                                   {"is_causal": True},
                                   {"attn_mask": torch.ones(6, 7, dtype=torch.bool)},
                                   {}])
def test_a_nan_query_gives_nan_in_naive_and_tiled_attention_alike(masks):
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 3, 6, 4), torch.randn(2, 3, 7, 4), torch.randn(2, 3, 7, 5)
    q[0, 1, 2, 0] = float("nan")  # example 0, head 1, query 2
    naive = naive_attention(q, k, v, **masks)
    tiled = tiled_attention(q, k, v, block_size=3, **masks)
    assert naive[0, 1, 2].isnan().all() and tiled[0, 1, 2].isnan().all()
    assert torch.equal(naive.isnan(), tiled.isnan())
    assert int(naive.isnan().any(-1).sum()) == 1  # that query only
    torch.testing.assert_close(naive.nan_to_num(), tiled.nan_to_num())


def test_a_nan_query_that_may_see_no_key_gets_the_zero_vector_in_both():
    q, k, v = torch.randn(2, 6, 4), torch.randn(2, 7, 4), torch.randn(2, 7, 5)
    q[1, 2, 0] = float("nan")
    lens = torch.tensor([4, 0])  # example 1 sees no key
    for out in (naive_attention(q, k, v, valid_lens=lens),
                tiled_attention(q, k, v, valid_lens=lens, block_size=3)):
        assert torch.equal(out[1], torch.zeros(6, 5))


@pytest.mark.parametrize("fn", ATTENTION)
def test_attention_without_any_key_is_an_error(fn):
    q, kv = torch.randn(1, 5, 4), torch.randn(1, 0, 4)
    with pytest.raises(ValueError, match=r"at least one key \(S >= 1\), got S = 0"):
        fn(q, kv, kv)


# --- Multi-head attention: one NaN rule for both paths ----------------------------------------

@pytest.mark.parametrize("masks", [{}, {"is_causal": True}, {"valid_lens": torch.tensor([5, 3])},
                                   {"attn_mask": torch.ones(4, 5, dtype=torch.bool)}])
def test_mha_gives_nan_for_a_nan_query_on_the_fused_and_the_explicit_path(masks):
    torch.manual_seed(0)
    mha = attn.MultiHeadAttention(8, 2, bias=True).eval()
    q, kv = torch.randn(2, 4, 8), torch.randn(2, 5, 8)
    q[1, 2, 3] = float("nan")
    fused = mha(q, kv, kv, **masks)
    explicit, weights = mha(q, kv, kv, need_weights=True, **masks)
    for out in (fused, explicit):
        assert out[1, 2].isnan().all()
        assert int(out.isnan().any(-1).sum()) == 1  # the other queries are unaffected
    assert weights[1, :, 2].isnan().any(dim=-1).all()  # NaN on the keys it may see, every head
    torch.testing.assert_close(fused.nan_to_num(), explicit.nan_to_num())


def test_mha_gives_the_bias_for_a_nan_query_that_may_see_no_key_on_both_paths():
    mha = attn.MultiHeadAttention(8, 2, bias=True).eval()
    q, kv = torch.randn(2, 4, 8), torch.randn(2, 5, 8)
    q[1, 2, 3] = float("nan")
    lens = torch.tensor([5, 0])
    for out in (mha(q, kv, kv, valid_lens=lens), mha(q, kv, kv, valid_lens=lens, need_weights=True)[0]):
        torch.testing.assert_close(out[1], mha.W_o.bias.expand(4, 8))


def test_gqa_follows_the_same_nan_rule_as_mha():
    torch.manual_seed(0)
    gqa = GroupedQueryAttention(8, 2, num_kv_heads=2)
    q, kv = torch.randn(2, 4, 8), torch.randn(2, 5, 8)
    q[0, 1, 0] = float("nan")
    for masks in ({}, {"is_causal": True}, {"valid_lens": torch.tensor([5, 3])}):
        out = gqa(q, kv, kv, **masks)
        assert out[0, 1].isnan().all() and int(out.isnan().any(-1).sum()) == 1


# --- Transformer blocks and model -------------------------------------------------------------

def block_error(block, x):
    with pytest.raises((TypeError, ValueError)) as info:
        block(x)
    return info.type, str(info.value)


@pytest.mark.parametrize("bad_x", [torch.randn(2, 3, 6), torch.randn(2, 3, 8, dtype=torch.float64),
                                   torch.ones(2, 3, 8, dtype=torch.long), [[0.0] * 8]])
def test_pre_norm_blocks_give_the_errors_of_post_norm_blocks(bad_x):
    post = attn.TransformerEncoderBlock(8, 2, 16, norm_first=False)
    pre = attn.TransformerEncoderBlock(8, 2, 16, norm_first=True)
    assert block_error(pre, bad_x) == block_error(post, bad_x)
    dec_post = attn.TransformerDecoderBlock(8, 2, 16, norm_first=False)
    dec_pre = attn.TransformerDecoderBlock(8, 2, 16, norm_first=True)
    enc = torch.randn(2, 4, 8)

    def dec_error(block):
        with pytest.raises((TypeError, ValueError)) as info:
            block(bad_x, enc)
        return info.type, str(info.value)
    assert dec_error(dec_pre) == dec_error(dec_post)


def test_pre_norm_block_names_the_width_and_dtype_it_expected():
    pre = attn.TransformerEncoderBlock(8, 2, 16, norm_first=True)
    with pytest.raises(ValueError, match="x must have size E = 8 in its last dimension, got 6"):
        pre(torch.randn(2, 3, 6))
    with pytest.raises(TypeError, match="module's dtype torch.float32, got torch.float64"):
        pre(torch.randn(2, 3, 8, dtype=torch.float64))


@pytest.mark.parametrize("cls", [attn.TransformerEncoderBlock, attn.TransformerDecoderBlock])
@pytest.mark.parametrize("kwargs, error, message", [
    ({"ffn_hiddens": 0}, ValueError, "ffn_hiddens must be a positive int, got 0"),
    ({"ffn_hiddens": -1}, ValueError, "ffn_hiddens must be a positive int, got -1"),
    ({"ffn_hiddens": 16.0}, TypeError, "ffn_hiddens must be a positive int, got 16.0"),
    ({"norm_first": "yes"}, TypeError, "norm_first must be True or False, got 'yes'"),
    ({"norm_first": 1}, TypeError, "norm_first must be True or False, got 1"),
    ({"dropout": 2.0}, ValueError, r"dropout must be a number in \[0, 1\], got 2.0"),
])
def test_exported_blocks_check_their_arguments_as_the_config_does(cls, kwargs, error, message):
    args = {"num_hiddens": 8, "num_heads": 2, "ffn_hiddens": 16, **kwargs}
    with pytest.raises(error, match=message):
        cls(**args)


def test_ffn_and_addnorm_check_their_arguments():
    with pytest.raises(ValueError, match="ffn_hiddens must be a positive int, got 0"):
        attn.PositionWiseFFN(8, 0)
    with pytest.raises(TypeError, match="norm_first must be True or False, got 'yes'"):
        attn.AddNorm(8, norm_first="yes")
    with pytest.raises(ValueError, match="x must have size E = 8 in its last dimension"):
        attn.AddNorm(8, norm_first=True).prepare(torch.randn(2, 3, 6))
    with pytest.raises(ValueError, match="x must have size E = 8 in its last dimension"):
        attn.PositionWiseFFN(8, 4)(torch.randn(2, 3, 6))


@pytest.fixture
def transformer_state():
    torch.manual_seed(0)
    model = attn.Transformer(attn.TransformerConfig(11, 13, num_hiddens=8, num_heads=2,
                                                    ffn_hiddens=16, num_layers=1)).eval()
    src = torch.randint(0, 11, (3, 5))
    return model, model.init_state(src, torch.tensor([5, 4, 2]))


@pytest.mark.parametrize("use_cache", [True, False])
def test_transformer_step_names_the_shape_it_expects(transformer_state, use_cache):
    model, state = transformer_state
    if not use_cache:
        state = model.init_state(torch.randint(0, 11, (3, 5)), torch.tensor([5, 4, 2]),
                                 use_cache=False)
    with pytest.raises(ValueError, match=r"tokens must have shape \(B,\) = \(3,\), one id per row "
                                         r"of the state, got shape \(2,\)"):
        model.step(torch.tensor([1, 2]), state)
    with pytest.raises(ValueError, match=r"tokens must have shape \(B,\) = \(3,\)"):
        model.step(torch.tensor([[1], [2], [3]]), state)
    with pytest.raises(TypeError, match=r"tokens must be a torch.long tensor of shape \(B,\) = "
                                        r"\(3,\), got list"):
        model.step([1, 2, 3], state)
    with pytest.raises(TypeError, match="state must be a TransformerState"):
        model.step(torch.tensor([1, 2, 3]), {"tokens": None})
    logits, _, _ = model.step(torch.tensor([1, 2, 3]), state)
    assert logits.shape == (3, 13)


def test_rnn_encoder_decoder_step_names_the_shape_it_expects():
    torch.manual_seed(0)
    model = attn.build_model(attn.Seq2SeqConfig(11, 13, embed_size=4, num_hiddens=8))
    state = model.init_state(torch.randint(0, 11, (3, 5)), torch.tensor([5, 4, 2]))
    with pytest.raises(ValueError, match=r"tokens must have shape \(B,\) = \(3,\)"):
        model.step(torch.tensor([1, 2]), state)
    with pytest.raises(TypeError, match="tokens must be a torch.long tensor"):
        model.step([1, 2, 3], state)


# --- Positional encodings ---------------------------------------------------------------------

def test_positional_encoding_is_computed_in_the_inputs_dtype():
    pe = attn.PositionalEncoding(16, max_len=50)
    x = torch.zeros(1, 50, 16, dtype=torch.float64)
    positions = np.arange(50)[:, None]
    omega = 10000.0 ** (-np.arange(0, 16, 2) / 16)
    closed = np.empty((50, 16))
    closed[:, 0::2], closed[:, 1::2] = np.sin(positions * omega), np.cos(positions * omega)
    out = pe(x)
    assert out.dtype == torch.float64
    assert np.abs(out[0].numpy() - closed).max() < 1e-14  # float32's table is off by ~3e-8
    assert pe(torch.zeros(1, 50, 16)).dtype == torch.float32
    half = pe(torch.zeros(1, 50, 16, dtype=torch.float16))
    assert half.dtype == torch.float16
    assert torch.equal(half[0], torch.from_numpy(closed).to(torch.float16))  # rounded once


def test_positional_encoding_offset_continues_the_sequence():
    pe = attn.PositionalEncoding(8, max_len=10)
    x = torch.randn(2, 10, 8)
    torch.testing.assert_close(pe(x[:, 6:], offset=6), pe(x)[:, 6:])
    with pytest.raises(ValueError, match="max_len = 10 tokens, got positions up to 10"):
        pe(x[:, :5], offset=6)
    with pytest.raises(ValueError, match="offset must be an int >= 0, got -1"):
        pe(x[:, :5], offset=-1)


def test_learned_positional_embedding_keeps_float16():
    learned = attn.LearnedPositionalEmbedding(8, max_len=10)
    out = learned(torch.zeros(2, 5, 8, dtype=torch.float16))
    assert out.dtype == torch.float16
    torch.testing.assert_close(out[0], learned.embedding.weight[:5].half())


def test_position_functions_refuse_bad_dtypes_and_bases():
    with pytest.raises(TypeError, match="dtype must be a floating-point torch.dtype"):
        attn.sinusoidal_encoding(4, 8, dtype=torch.long)
    with pytest.raises(ValueError, match="base must be a finite number > 1, got nan"):
        attn.frequencies(8, base=float("nan"))
    with pytest.raises(TypeError, match="base must be a number > 1"):
        attn.frequencies(8, base="10000")


# --- Interactive figures ----------------------------------------------------------------------

def curves(**changes):
    args = {"x": np.arange(3.0), "frames": {"y": np.ones((2, 3))}, "labels": ["a", "b"],
            "slider_label": "s", "xlabel": "x", "ylabel": "y", **changes}
    return interactive_curves(**args)


def test_interactive_initial_must_be_an_int_not_a_bool():
    with pytest.raises(TypeError, match="initial must be a frame index"):
        curves(initial=True)
    with pytest.raises(TypeError, match="initial must be a frame index"):
        interactive_heatmaps(np.ones((2, 2, 2)), ["a", "b"], slider_label="s", initial=False)
    assert curves(initial=1).html.count('value="1"') == 1


def test_interactive_refuses_complex_values_naming_the_argument():
    with pytest.raises(TypeError, match=r"frames\['y'\] must hold real numbers, got complex"):
        curves(frames={"y": np.ones((2, 3)) * 1j})
    with pytest.raises(TypeError, match="frames must hold real numbers, got a complex tensor"):
        interactive_heatmaps(torch.ones(2, 2, 2, dtype=torch.complex64), ["a", "b"],
                             slider_label="s")


def test_interactive_refuses_an_infinite_x_naming_the_argument():
    with pytest.raises(ValueError, match="x must be finite"):
        curves(x=np.array([0.0, 1.0, np.inf]))
    with pytest.raises(ValueError, match="points x must be finite"):
        curves(points=(np.array([0.0, np.nan]), np.array([1.0, 2.0])))
    assert curves(frames={"y": np.array([[1.0, np.inf, 2.0], [1.0, 2.0, 3.0]])}).num_frames == 2


def test_interactive_text_arguments_must_be_strings():
    with pytest.raises(TypeError, match="slider_label must be a str, got NoneType"):
        curves(slider_label=None)


def test_interactive_heatmaps_of_different_shapes_need_labels_per_frame():
    frames = [np.ones((2, 3)), np.ones((2, 5))]  # two sentences of 3 and 5 keys
    with pytest.raises(ValueError, match=r"xticklabels must be a list of label lists, one per "
                                         r"frame, when the frames differ in their number of keys"):
        interactive_heatmaps(frames, ["a", "b"], slider_label="s", xticklabels=["k"] * 3)
    with pytest.raises(ValueError, match=r"xticklabels\[1\] must have one label per key \(5\), "
                                         r"got 3"):
        interactive_heatmaps(frames, ["a", "b"], slider_label="s", xticklabels=[["k"] * 3] * 2)
    shared = interactive_heatmaps(frames, ["a", "b"], slider_label="s", yticklabels=["p", "q"])
    assert shared.num_frames == 2  # the same number of queries: one list serves both


def head_view_of(**changes):
    args = {"weights": {"cross-attention": np.full((1, 2, 2, 3), 1 / 3)},
            "tokens": {"cross-attention": (["le", "chat"], ["the", "cat", "."])}, **changes}
    return head_view(**args)


def test_head_view_refuses_weights_and_tokens_that_do_not_fit():
    with pytest.raises(ValueError, match=r"weights\['cross-attention'\] must have 4 dimensions, "
                                         r"got 3"):
        head_view_of(weights={"cross-attention": np.ones((2, 2, 3))})
    negative = np.full((1, 2, 2, 3), 1 / 3)
    negative[0, 1, 1, 2] = -0.25
    with pytest.raises(ValueError, match=r"must be finite and non-negative, got -0.25 \(1 such"):
        head_view_of(weights={"cross-attention": negative})
    with pytest.raises(ValueError, match=r"tokens\['cross-attention'\] must have S = 3 key tokens "
                                         r"\(the weights' shape\), got 2"):
        head_view_of(tokens={"cross-attention": (["le", "chat"], ["the", "cat"])})
    with pytest.raises(ValueError, match="tokens must have the same kinds as weights"):
        head_view_of(tokens={"encoder self-attention": (["le", "chat"], ["the", "cat", "."])})
    with pytest.raises(TypeError, match=r"initial's layer must be an int, got 0.0"):
        head_view_of(initial=("cross-attention", 0.0, 0))
    assert head_view_of(initial=("cross-attention", 0, 1)).num_frames == 2


# --- Chapters 1-4 -----------------------------------------------------------------------------

@pytest.mark.parametrize("module", [attn.DotProductAttention(), attn.AdditiveAttention(4, 4, 8),
                                    attn.MultiplicativeAttention(4, 4)])
def test_scoring_modules_refuse_an_empty_key_set(module):
    q, kv = torch.randn(2, 3, 4), torch.randn(2, 0, 4)
    with pytest.raises(ValueError, match=r"at least one key \(S >= 1\), got S = 0"):
        module(q, kv, kv)


def test_mha_refuses_an_empty_key_set():
    q, kv = torch.randn(2, 3, 8), torch.randn(2, 0, 8)
    with pytest.raises(ValueError, match=r"at least one key \(S >= 1\), got S = 0"):
        attn.MultiHeadAttention(8, 2)(q, kv, kv)


@pytest.mark.parametrize("attention", [False, True])
def test_rnn_decoders_refuse_zero_target_steps(attention):
    model = attn.build_model(attn.Seq2SeqConfig(11, 13, embed_size=4, num_hiddens=8,
                                                attention=attention))
    src = torch.randint(0, 11, (3, 5))
    with pytest.raises(ValueError, match=r"tgt_in must hold at least 1 step\(s\) per row, "
                                         r"got shape \(3, 0\)"):
        model(src, torch.tensor([5, 4, 2]), torch.zeros(3, 0, dtype=torch.long))


def test_check_shape_refuses_a_list():
    with pytest.raises(TypeError, match="x must be a torch.Tensor, got list"):
        attn.check_shape([1, 2], (2,), name="x")
    with pytest.raises(TypeError, match="expected must be a sequence of ints"):
        attn.check_shape(torch.zeros(2), 2)
    attn.check_shape(torch.zeros(2, 3), [2, 3])


def test_model_device_lives_with_the_utilities_and_is_still_read_from_train():
    from attn.utils import model_device
    assert attn.train.model_device is model_device
    assert model_device(torch.nn.Linear(2, 2)) == torch.device("cpu")


# --- Found by sweeping the other entry points for the same classes of input ------------------

def test_flags_that_are_not_bools_are_refused_by_encoder_decoder_and_blocks():
    src, lens = torch.randint(0, 11, (3, 5)), torch.tensor([5, 4, 2])
    encoder = attn.TransformerEncoder(11, 8, 2, 16, 1)
    with pytest.raises(TypeError, match="need_weights must be True or False, got 'y'"):
        encoder(src, lens, need_weights="y")
    decoder = attn.TransformerDecoder(13, 8, 2, 16, 1)
    with pytest.raises(TypeError, match="use_cache must be True or False, got 1"):
        decoder.init_state(torch.randn(3, 5, 8), lens, use_cache=1)
    with pytest.raises(TypeError, match="need_weights must be True or False, got None"):
        attn.TransformerEncoderBlock(8, 2, 16)(torch.randn(2, 3, 8), need_weights=None)


def test_decoder_checks_the_encoder_outputs_it_is_given():
    decoder = attn.TransformerDecoder(13, 8, 2, 16, 1)
    with pytest.raises(ValueError, match="enc_outputs must have size E = 8"):
        decoder.init_state(torch.randn(3, 5, 6), torch.tensor([5, 4, 2]))
    block = attn.TransformerDecoderBlock(8, 2, 16)
    with pytest.raises(ValueError, match="x and enc_outputs must have the same batch size B: "
                                         "got 2 and 3"):
        block(torch.randn(2, 3, 8), torch.randn(3, 4, 8))


def test_transformer_refuses_zero_target_steps_by_name():
    model = attn.Transformer(attn.TransformerConfig(11, 13, num_hiddens=8, num_heads=2,
                                                    ffn_hiddens=16, num_layers=1))
    with pytest.raises(ValueError, match=r"tgt_in must hold at least 1 step\(s\) per row"):
        model(torch.randint(0, 11, (3, 5)), torch.tensor([5, 4, 2]),
              torch.zeros(3, 0, dtype=torch.long))


def test_ffn_refuses_another_dtype_by_name():
    with pytest.raises(TypeError, match="x must have the module's dtype torch.float32, "
                                        "got torch.float64"):
        attn.PositionWiseFFN(8, 4)(torch.randn(2, 3, 8, dtype=torch.float64))


def test_interactive_labels_and_fixed_curves_of_the_wrong_type_are_named():
    with pytest.raises(TypeError, match="labels must be a sequence of strings, one per frame, "
                                        "got int"):
        curves(labels=5)
    with pytest.raises(TypeError, match="fixed must be a dict from label to"):
        curves(fixed=[1.0, 2.0, 3.0])


def test_peak_memory_outside_a_with_block_says_how_to_use_it():
    with pytest.raises(RuntimeError, match="use `with PeakMemory"):
        attn.PeakMemory().__exit__(None, None, None)


def test_the_nan_rule_leaves_finite_rows_alone_even_when_their_sum_is_large():
    from attn.multihead import fused_attention
    q = torch.full((1, 1, 3, 64), 4000.0, dtype=torch.float16)  # row sums overflow float16
    k = torch.zeros(1, 1, 5, 64, dtype=torch.float16)
    v = torch.randn(1, 1, 5, 8).half()
    out = fused_attention(q, k, v)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, v.mean(dim=2, keepdim=True).expand(1, 1, 3, 8),
                               atol=2e-3, rtol=0)


# --- The GPT, sampling and generation (chapter 9) ---------------------------------------------

@pytest.fixture
def gpt():
    torch.manual_seed(0)
    return attn.GPT(attn.GPTConfig(vocab_size=11, context_len=8, num_layers=1, num_hiddens=8,
                                   num_heads=2)).eval()


def test_generate_refuses_a_prompt_that_leaves_no_room_in_the_context(gpt):
    with pytest.raises(ValueError, match=r"the longest prompt \(9 tokens\) plus max_new_tokens "
                                         r"= 1 passes the model's context_len = 8"):
        attn.generate(gpt, list(range(9)), 1)
    with pytest.raises(ValueError, match="ask for at most 3 new tokens"):
        attn.generate(gpt, [[1, 2], [1, 2, 3, 4, 5]], 4)
    with pytest.raises(ValueError, match="the model reads at most context_len = 8 tokens, got 9"):
        gpt(torch.zeros(1, 9, dtype=torch.long))


def test_generate_refuses_an_empty_prompt(gpt):
    for prompt in ([], [[]], [[1, 2], []], torch.zeros(2, 0, dtype=torch.long)):
        with pytest.raises(ValueError, match="empty: need at least one token"):
            attn.generate(gpt, prompt, 2)


@pytest.mark.parametrize("temperature, error", [(-0.5, ValueError), (float("nan"), ValueError),
                                                (float("inf"), ValueError), ("1", TypeError),
                                                (True, TypeError)])
def test_temperature_must_be_a_finite_number_at_least_zero(gpt, temperature, error):
    with pytest.raises(error, match=r"temperature must be a finite number >= 0 \(0: greedy\)"):
        attn.generate(gpt, [1, 2], 2, temperature=temperature)
    with pytest.raises(error, match="temperature must be a finite number"):
        attn.sample_next(torch.randn(2, 5), temperature=temperature)


def test_zero_temperature_means_greedy_and_apply_temperature_refuses_it(gpt):
    logits = torch.randn(3, 5)
    assert torch.equal(attn.sample_next(logits, temperature=0), logits.argmax(-1))
    with pytest.raises(ValueError, match="temperature must be a finite number > 0, got 0"):
        attn.apply_temperature(logits, 0)


@pytest.mark.parametrize("k, error", [(0, ValueError), (-2, ValueError), (2.0, TypeError),
                                      (True, TypeError)])
def test_top_k_must_be_a_positive_int(gpt, k, error):
    with pytest.raises(error, match="top_k must be a positive int"):
        attn.generate(gpt, [1, 2], 2, top_k=k)
    with pytest.raises(error, match="k must be a positive int"):
        attn.top_k_filter(torch.randn(2, 5), k)


@pytest.mark.parametrize("p, error", [(0, ValueError), (-0.1, ValueError), (1.5, ValueError),
                                      (float("nan"), ValueError), ("0.9", TypeError)])
def test_top_p_must_lie_in_zero_to_one(gpt, p, error):
    with pytest.raises(error, match=r"p must be a number in \(0, 1\]"):
        attn.generate(gpt, [1, 2], 2, top_p=p)
    with pytest.raises(error, match=r"p must be a number in \(0, 1\]"):
        attn.top_p_filter(torch.randn(2, 5), p)


def test_token_ids_outside_the_vocabulary_are_named(gpt):
    with pytest.raises(ValueError, match=r"prompt 1 must hold ids in \[0, 10\], got values "
                                         "from 3 to 11"):
        attn.generate(gpt, [[1], [3, 11]], 2)
    with pytest.raises(ValueError, match=r"prompt 0 must hold ids in \[0, 10\], got values "
                                         "from -1 to 2"):
        attn.generate(gpt, [-1, 2], 2)
    with pytest.raises(ValueError, match=r"tokens must hold ids in \[0, 10\], got values from 0 "
                                         "to 12"):
        gpt(torch.tensor([[0, 12]]))
    with pytest.raises(ValueError, match=r"stop_token must be an id in \[0, 10\], got 11"):
        attn.generate(gpt, [1], 2, stop_token=11)


def test_token_ids_of_the_wrong_dtype_are_named(gpt):
    with pytest.raises(TypeError, match="prompt must hold torch.long token ids, got dtype "
                                        "torch.float32"):
        attn.generate(gpt, torch.tensor([1.0, 2.0]), 2)
    with pytest.raises(TypeError, match="prompt 0 must be a list of int token ids"):
        attn.generate(gpt, [[1.0, 2.0]], 2)
    with pytest.raises(TypeError, match="prompt must be a torch.long tensor"):
        attn.generate(gpt, "the cat", 2)
    with pytest.raises(TypeError, match="tokens must be a torch.long tensor of token ids, got "
                                        "torch.int32"):
        gpt(torch.tensor([[1, 2]], dtype=torch.int32))
    with pytest.raises(TypeError, match="logits must be a floating-point tensor"):
        attn.sample_next(torch.tensor([[1, 2]]))


def test_generate_checks_its_counts_flags_and_generator(gpt):
    with pytest.raises(ValueError, match="max_new_tokens must be a positive int, got 0"):
        attn.generate(gpt, [1], 0)
    with pytest.raises(TypeError, match="use_cache must be True or False, got 1"):
        attn.generate(gpt, [1], 2, use_cache=1)
    with pytest.raises(TypeError, match="generator must be a torch.Generator or None, got int"):
        attn.generate(gpt, [1], 2, generator=0)


def test_gpt_checks_padding_and_cache_by_name(gpt):
    tokens = torch.zeros(2, 3, dtype=torch.long)
    with pytest.raises(ValueError, match=r"pad_lens must have shape \(B,\) = \(2,\), got \(3,\)"):
        gpt(tokens, pad_lens=torch.tensor([0, 1, 2]))
    with pytest.raises(TypeError, match="pad_lens must be an integer tensor"):
        gpt(tokens, pad_lens=torch.tensor([0.0, 1.0]))
    with pytest.raises(TypeError, match="cache must be a list of 1 KVCache"):
        gpt(tokens, cache=KVCache())
    with pytest.raises(ValueError, match="tokens must hold at least 1 step"):
        gpt(torch.zeros(2, 0, dtype=torch.long))


@pytest.mark.parametrize("kwargs, error, message", [
    ({"vocab_size": 0}, ValueError, "vocab_size must be a positive int, got 0"),
    ({"num_hiddens": 10, "num_heads": 4}, ValueError, "divisible by num_heads: got 10 and 4"),
    ({"positions": "cosine"}, ValueError, "positions must be one of 'learned', 'sinusoidal'"),
    ({"positions": "rope", "num_hiddens": 6, "num_heads": 2}, ValueError, "even head width"),
    ({"dropout": 1.0}, ValueError, r"dropout must be a number in \[0, 1\)"),
    ({"tie_weights": 1}, TypeError, "tie_weights must be True or False"),
    ({"context_len": 2.5}, TypeError, "context_len must be a positive int"),
])
def test_gpt_config_names_the_bad_setting(kwargs, error, message):
    settings = {"vocab_size": 10, **kwargs}
    with pytest.raises(error, match=message):
        attn.GPTConfig(**settings)


@pytest.mark.parametrize("call, error, message", [
    (lambda: attn.why_not("il porte un sac .", "french"), TypeError, "got a str"),
    (lambda: attn.why_not(None, "french"), TypeError, "got NoneType"),
    (lambda: attn.why_not(["il", 3], "french"), TypeError, "int at index 1"),
    (lambda: attn.why_not(["il"], "German"), ValueError, "language must be"),
    (lambda: attn.is_english(b"he"), TypeError, "bytes"),
    (lambda: attn.is_translation(["he"], "il"), TypeError, "french must be"),
    (lambda: attn.parse_line(42), TypeError, "got int"),
])
def test_grammar_recogniser_refuses_what_is_not_a_list_of_str_tokens(call, error, message):
    with pytest.raises(error, match=message):
        call()


# --- Byte-pair encoding (attn.subword) --------------------------------------------------------

COUNTS = {"low": 5, "lower": 2}


@pytest.mark.parametrize("call, error, message", [
    (lambda: attn.learn_merges({}, 10), ValueError, "word_counts is empty"),
    (lambda: attn.BPE.learn(collections.Counter(), 10), ValueError, "word_counts is empty"),
    (lambda: attn.learn_merges(COUNTS, -1), ValueError, "num_merges must be an int >= 0, got -1"),
    (lambda: attn.learn_merges(COUNTS, 2.0), TypeError, "num_merges must be an int >= 0"),
    (lambda: attn.learn_merges(COUNTS, True), TypeError, "num_merges must be an int >= 0"),
    (lambda: attn.learn_merges([["low"]], 2), TypeError, "count_words"),
    (lambda: attn.learn_merges("low lower", 2), TypeError, "got str"),
    (lambda: attn.learn_merges({3: 1}, 2), TypeError, "every word of word_counts must be a str"),
    (lambda: attn.learn_merges({"": 1}, 2), ValueError, "must not be empty"),
    (lambda: attn.learn_merges({"a</w>b": 1}, 2), ValueError, "end-of-word marker '</w>'"),
    (lambda: attn.learn_merges({"low": 0}, 2), ValueError, "the count of 'low' must be a positive int"),
    (lambda: attn.learn_merges({"low": 1.5}, 2), TypeError, "the count of 'low' must be"),
    (lambda: attn.learn_merges_fast({}, 2), ValueError, "word_counts is empty"),
    (lambda: attn.learn_merges_fast(COUNTS, -3), ValueError, "num_merges must be"),
    (lambda: attn.count_words("low lower"), TypeError, "got a str"),
    (lambda: attn.count_words(["low lower"]), TypeError, "each sentence must be a list of words"),
    (lambda: attn.count_words([["low", None]]), TypeError, "word must be a str, got None"),
])
def test_bpe_learning_refuses_what_is_not_word_counts_and_a_count_of_merges(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("call, error, message", [
    (lambda bpe: bpe.segment(42), TypeError, "word must be a str, got 42"),
    (lambda bpe: bpe.segment(""), ValueError, "word must not be empty"),
    (lambda bpe: bpe.segment("lo</w>w"), ValueError, "end-of-word marker"),
    (lambda bpe: bpe.encode("low lower"), TypeError, "use attn.tokenize"),
    (lambda bpe: bpe.encode(["low", b"er"]), TypeError, "word must be a str, got b'er'"),
    (lambda bpe: bpe.decode("low</w>"), TypeError, "pieces must be a list of str, got a str"),
    (lambda bpe: bpe.decode(["lo", 3]), TypeError, "every piece must be a str, got 3"),
    (lambda bpe: attn.BPE([("a", "b", "c")]), ValueError, "every merge must be a pair"),
    (lambda bpe: attn.BPE([("a", "")]), ValueError, "every merge must be a pair of non-empty str"),
    (lambda bpe: attn.segment_word(None, bpe.ranks), TypeError, "word must be a str, got None"),
])
def test_bpe_segmentation_refuses_what_is_not_a_word_or_a_list_of_pieces(call, error, message):
    bpe = attn.BPE.learn(COUNTS, 3)
    with pytest.raises(error, match=message):
        call(bpe)


def test_bpe_results_for_edge_input_are_the_documented_ones():
    bpe = attn.BPE.learn(COUNTS, 0)  # zero merges: characters
    assert bpe.merges == [] and bpe.segment("low") == ["l", "o", "w</w>"]
    assert len(attn.learn_merges(COUNTS, 10**6)) < 10  # stops when every word is one symbol
    assert bpe.encode([]) == [] and bpe.decode([]) == []
    assert bpe.segment("z") == ["z</w>"] and "z</w>" not in bpe.vocab  # unseen: its own piece
