"""Tests of attn.efficient: online softmax, naive and tiled attention, memory tracking, KV cache, GQA."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

import attn
from attn.efficient import (GroupedQueryAttention, KVCache, PeakMemory, attention_flops,
                            kv_cache_bytes, naive_attention, online_softmax, tiled_attention)


def sdpa_with_masks(q, k, v, valid_lens=None, attn_mask=None, is_causal=False):
    """PyTorch's SDPA with the package's masks turned into one bool (B, 1, L, S) mask."""
    batch, _, num_queries, _ = q.shape
    num_keys = k.shape[2]
    mask = attn.valid_lens_to_mask(valid_lens, num_queries, num_keys, batch=batch)
    if attn_mask is not None:
        attn_mask = attn_mask.expand(batch, num_queries, num_keys)
        mask = attn_mask if mask is None else mask & attn_mask
    if is_causal:
        causal = attn.causal_mask(num_queries, num_keys)
        mask = causal if mask is None else mask & causal
    if mask is not None and mask.dim() == 3:
        mask = mask.unsqueeze(1)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


# --- online softmax -------------------------------------------------------------------------

scores_rows = st.lists(st.one_of(st.floats(-50, 50, allow_nan=False), st.just(float("-inf"))),
                       min_size=1, max_size=40)


@settings(max_examples=100, deadline=None)
@given(values=scores_rows, block_size=st.integers(1, 50))
def test_online_softmax_equals_softmax(values, block_size):
    x = torch.tensor(values, dtype=torch.float64)
    got = online_softmax(x, block_size)
    if torch.isfinite(x).any():
        torch.testing.assert_close(got, torch.softmax(x, dim=-1))
    else:  # only -inf: zeros, as masked_softmax gives
        assert torch.equal(got, torch.zeros_like(x))
    assert torch.isfinite(got).all()


def test_online_softmax_works_row_by_row_and_is_stable_for_large_scores():
    x = torch.tensor([[1000.0, 999.0, -1000.0], [-1e4, -1e4, -1e4]])
    torch.testing.assert_close(online_softmax(x, 2), torch.softmax(x, dim=-1))
    x = torch.randn(3, 4, 17)
    torch.testing.assert_close(online_softmax(x, 5), torch.softmax(x, dim=-1))


def test_online_softmax_rejects_bad_input():
    with pytest.raises(ValueError, match="NaN or \\+inf"):
        online_softmax(torch.tensor([0.0, float("nan")]))
    with pytest.raises(ValueError, match="NaN or \\+inf"):
        online_softmax(torch.tensor([0.0, float("inf")]))
    with pytest.raises(ValueError, match="block_size must be a positive int, got 0"):
        online_softmax(torch.zeros(3), 0)
    with pytest.raises(ValueError, match="scalar"):
        online_softmax(torch.tensor(1.0))
    with pytest.raises(TypeError, match="floating-point"):
        online_softmax(torch.tensor([1, 2]))


# --- naive and tiled attention ----------------------------------------------------------------

def random_qkv(batch=2, heads=3, num_queries=11, num_keys=13, dim=8, value_dim=6, dtype=torch.float32):
    g = torch.Generator().manual_seed(0)
    q = torch.randn(batch, heads, num_queries, dim, generator=g, dtype=dtype)
    k = torch.randn(batch, heads, num_keys, dim, generator=g, dtype=dtype)
    v = torch.randn(batch, heads, num_keys, value_dim, generator=g, dtype=dtype)
    return q, k, v


MASKS = {
    "none": {},
    "valid_lens": {"valid_lens": torch.tensor([13, 4])},
    "valid_lens with a zero": {"valid_lens": torch.tensor([0, 9])},
    "per-query valid_lens": {"valid_lens": torch.arange(22).view(2, 11) % 14},
    "attn_mask": {"attn_mask": torch.rand(2, 11, 13, generator=torch.Generator().manual_seed(1)) > 0.5},
    "causal": {"is_causal": True},
    "causal + valid_lens": {"is_causal": True, "valid_lens": torch.tensor([5, 13])},
}


@pytest.mark.parametrize("masks", MASKS.values(), ids=MASKS.keys())
def test_naive_attention_equals_sdpa(masks):
    q, k, v = random_qkv()
    torch.testing.assert_close(naive_attention(q, k, v, **masks), sdpa_with_masks(q, k, v, **masks),
                               atol=1e-6, rtol=0)


@pytest.mark.parametrize("block_size, query_block_size", [(1, 1), (4, None), (5, 3), (13, 11), (64, 64)])
@pytest.mark.parametrize("masks", MASKS.values(), ids=MASKS.keys())
def test_tiled_attention_equals_naive(masks, block_size, query_block_size):
    q, k, v = random_qkv()  # L = 11, S = 13: 4 and 5 do not divide them, 1, 13 and 64 do or exceed
    tiled = tiled_attention(q, k, v, block_size=block_size, query_block_size=query_block_size, **masks)
    torch.testing.assert_close(tiled, naive_attention(q, k, v, **masks), atol=1e-5, rtol=0)


def test_tiled_attention_on_three_dimensional_inputs_and_float64_gradients():
    q, k, v = (t[:, 0] for t in random_qkv())  # (B, L, D)
    out = tiled_attention(q, k, v, block_size=4, valid_lens=torch.tensor([3, 13]))
    assert out.shape == (2, 11, 6)
    torch.testing.assert_close(out, naive_attention(q, k, v, valid_lens=torch.tensor([3, 13])))
    small = random_qkv(batch=1, heads=1, num_queries=5, num_keys=6, dim=3, value_dim=2,
                       dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda a, b, c: tiled_attention(a, b, c, block_size=4, is_causal=True),
        [t.requires_grad_() for t in small])


def test_tiled_attention_skips_fully_masked_tiles():
    q, k, v = random_qkv(num_queries=16, num_keys=16)
    _, counts = tiled_attention(q, k, v, block_size=4, return_counts=True)
    assert (counts.computed, counts.skipped) == (16, 0)
    _, counts = tiled_attention(q, k, v, block_size=4, is_causal=True, return_counts=True)
    assert (counts.computed, counts.skipped) == (10, 6)  # the 4 diagonal tiles and the 6 below
    _, counts = tiled_attention(q, k, v, block_size=4, valid_lens=torch.tensor([5, 8]), return_counts=True)
    assert (counts.computed, counts.skipped) == (8, 8)  # keys 8..15 are padding in both examples
    mask = torch.zeros(16, 16, dtype=torch.bool)
    mask[:, :3] = True
    out, counts = tiled_attention(q, k, v, block_size=4, attn_mask=mask, return_counts=True)
    assert (counts.computed, counts.skipped) == (4, 12)
    torch.testing.assert_close(out, naive_attention(q, k, v, attn_mask=mask), atol=1e-5, rtol=0)


def test_queries_without_keys_get_zeros_not_nan():
    q, k, v = random_qkv()
    lens = torch.tensor([0, 3])
    for fn in (naive_attention, lambda *a, **kw: tiled_attention(*a, block_size=4, **kw)):
        out = fn(q, k, v, valid_lens=lens)
        assert torch.isfinite(out).all() and torch.equal(out[0], torch.zeros_like(out[0]))


def test_attention_functions_reject_bad_input():
    q, k, v = random_qkv()
    for fn in (naive_attention, tiled_attention):
        with pytest.raises(ValueError, match="keys and values must have the same length S: got 13 and 12"):
            fn(q, k, v[:, :, :12])
        with pytest.raises(ValueError, match="same size D >= 1: got 8 and 7"):
            fn(q, k[..., :7], v)
        with pytest.raises(ValueError, match=r"agree in \(B, H\)"):
            fn(q, k[:, :2], v[:, :2])
        with pytest.raises(ValueError, match=r"\(B, L, D\) or \(B, H, L, D\)"):
            fn(q[0, 0], k[0, 0], v[0, 0])
        with pytest.raises(ValueError, match="valid_lens must lie in"):
            fn(q, k, v, valid_lens=torch.tensor([14, 1]))
        with pytest.raises(ValueError, match="attn_mask must have shape"):
            fn(q, k, v, attn_mask=torch.ones(11, 12, dtype=torch.bool))
        with pytest.raises(TypeError, match="floating-point"):
            fn(q.long(), k, v)
    with pytest.raises(ValueError, match="block_size must be a positive int, got 0"):
        tiled_attention(q, k, v, block_size=0)


def test_attention_flops_is_what_the_flop_counter_counts():
    q, k, v = random_qkv(batch=2, heads=3, num_queries=11, num_keys=13, dim=8, value_dim=6)
    with FlopCounterMode(display=False) as counter:
        naive_attention(q, k, v)
    assert counter.get_total_flops() == attention_flops(11, 13, 8, 6, num_heads=3, batch=2)
    assert attention_flops(4, 4, 2) == 2 * 4 * 4 * (2 + 2)
    with pytest.raises(ValueError, match="num_keys must be an int >= 0"):
        attention_flops(3, -1, 2)


# --- peak memory ------------------------------------------------------------------------------

def test_peak_memory_counts_allocations_and_frees():
    with PeakMemory() as mem:
        a = torch.empty(1000, 1000)   # 4 MB
        b = torch.empty(500, 1000)    # 2 MB: 6 MB live
        del a
        c = torch.empty(250, 1000)    # 1 MB: 3 MB live
        view = b.view(-1)             # a view allocates nothing
        del c
    assert mem.peak == 6_000_000 and mem.net == 2_000_000
    assert view.numel() == 500_000
    before = torch.empty(1000, 1000)
    with PeakMemory() as mem:
        del before                    # memory from before the block is not counted, nor its free
        after = torch.empty(10)
    assert mem.peak == mem.net == 40 and after.numel() == 10


def test_peak_memory_keeps_the_profiler_quiet_on_stderr(capfd):
    with PeakMemory() as mem:
        torch.empty(10)
    assert mem.peak == 40
    assert "profiler" not in capfd.readouterr().err


def test_peak_memory_sees_the_scores_of_naive_attention_and_not_of_tiled():
    q, k, v = random_qkv(batch=1, heads=2, num_queries=512, num_keys=512, dim=16, value_dim=16)
    score_bytes = 2 * 512 * 512 * 4
    with torch.no_grad(), PeakMemory() as naive:
        naive_attention(q, k, v)
    with torch.no_grad(), PeakMemory() as tiled:
        tiled_attention(q, k, v, block_size=64)
    assert score_bytes <= naive.peak <= 3 * score_bytes + 2**20
    assert tiled.peak < score_bytes / 4


# --- KV cache, grouped-query attention ------------------------------------------------------

def test_kv_cache_bytes():
    assert kv_cache_bytes(1, 8, 64) == 2 * 8 * 64 * 4
    assert kv_cache_bytes(32, 32, 128, num_tokens=10, dtype=torch.float16) == 2 * 32 * 32 * 128 * 10 * 2
    cache = KVCache()
    keys = torch.randn(2, 4, 3, 16)
    cache.append(keys, keys)
    cache.append(keys[:, :, :1], keys[:, :, :1])
    assert len(cache) == 4 and cache.nbytes == kv_cache_bytes(1, 4, 16, num_tokens=4, batch=2)
    with pytest.raises(ValueError, match="new keys must match"):
        cache.append(torch.randn(2, 2, 1, 16), torch.randn(2, 2, 1, 16))
    with pytest.raises(ValueError, match="num_kv_heads must be an int >= 0"):
        kv_cache_bytes(1, -2, 64)


def copy_mha_into_gqa(mha, gqa):
    with torch.no_grad():
        for name in ("W_q", "W_k", "W_v", "W_o"):
            getattr(gqa, name).weight.copy_(getattr(mha, name).weight)
            if getattr(mha, name).bias is not None:
                getattr(gqa, name).bias.copy_(getattr(mha, name).bias)


@pytest.mark.parametrize("bias", [False, True])
def test_gqa_with_one_kv_head_per_query_head_equals_mha(bias):
    torch.manual_seed(0)
    mha = attn.MultiHeadAttention(16, 4, bias=bias)
    gqa = GroupedQueryAttention(16, 4, num_kv_heads=4, bias=bias)
    copy_mha_into_gqa(mha, gqa)
    x, y = torch.randn(2, 5, 16), torch.randn(2, 7, 16)
    lens = torch.tensor([7, 2])
    with torch.no_grad():
        torch.testing.assert_close(gqa(x, y, y, lens), mha(x, y, y, lens), atol=1e-6, rtol=0)
        torch.testing.assert_close(gqa(y, y, y, is_causal=True), mha(y, y, y, is_causal=True),
                                   atol=1e-6, rtol=0)


def test_gqa_and_mqa_shapes_parameters_and_head_sharing():
    for kv_heads in (1, 2, 4):
        gqa = GroupedQueryAttention(16, 4, num_kv_heads=kv_heads)
        assert gqa.W_k.weight.shape == (kv_heads * 4, 16)
        assert sum(p.numel() for p in gqa.parameters()) == 2 * 16 * 16 + 2 * 16 * kv_heads * 4
        assert gqa(torch.randn(3, 5, 16), torch.randn(3, 6, 16), torch.randn(3, 6, 16)).shape == (3, 5, 16)
    # MQA: every query head reads the one key/value head, so it equals an MHA whose
    # key and value projections repeat that head's rows
    torch.manual_seed(0)
    mqa = GroupedQueryAttention(16, 4, num_kv_heads=1)
    mha = attn.MultiHeadAttention(16, 4)
    with torch.no_grad():
        mha.W_q.weight.copy_(mqa.W_q.weight)
        mha.W_o.weight.copy_(mqa.W_o.weight)
        mha.W_k.weight.copy_(mqa.W_k.weight.repeat(4, 1))
        mha.W_v.weight.copy_(mqa.W_v.weight.repeat(4, 1))
        x = torch.randn(2, 5, 16)
        torch.testing.assert_close(mqa(x, x, x), mha(x, x, x), atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="num_heads must be divisible by num_kv_heads: got 4 and 3"):
        GroupedQueryAttention(16, 4, num_kv_heads=3)
    with pytest.raises(ValueError, match="queries must have size E = 16 in its last dimension, got 8"):
        mqa(torch.randn(2, 5, 8), x, x)


@pytest.mark.parametrize("kv_heads", [1, 2, 4])
def test_decoding_with_a_cache_equals_causal_attention_over_the_whole_sequence(kv_heads):
    torch.manual_seed(0)
    gqa = GroupedQueryAttention(16, 4, num_kv_heads=kv_heads)
    x = torch.randn(2, 6, 16)
    with torch.no_grad():
        full = gqa(x, x, x, is_causal=True)
        cache = KVCache()
        first = gqa(x[:, :2], x[:, :2], x[:, :2], is_causal=True, cache=cache)  # a prompt of 2
        steps = [gqa(x[:, t:t + 1], x[:, t:t + 1], x[:, t:t + 1], is_causal=True, cache=cache)
                 for t in range(2, 6)]  # then one token at a time
    torch.testing.assert_close(torch.cat([first, *steps], dim=1), full, atol=1e-6, rtol=0)
    assert len(cache) == 6 and cache.nbytes == kv_cache_bytes(1, kv_heads, 4, num_tokens=6, batch=2)
    assert math.isclose(cache.nbytes / kv_cache_bytes(1, 4, 4, num_tokens=6, batch=2), kv_heads / 4)
