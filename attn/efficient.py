"""Attention at scale: the cost model, the online softmax and tiled attention.

Naive attention materialises the (B, H, L, S) scores, so its memory grows with
L * S. The online softmax needs only a running maximum and a running sum per
query, which lets :func:`tiled_attention` walk over key/value blocks and keep
one (block x block) tile of scores at a time: the forward algorithm of
FlashAttention, in plain PyTorch.

The chapter on efficient attention also uses :class:`attn.measure.PeakMemory`
(peak allocated CPU memory inside a ``with`` block) and, for inference, the
key-value cache and grouped-query attention of :mod:`attn.kv_cache`; their names
are importable from here too.

Attention functions take queries (B, H, L, D) or (B, L, D), keys (..., S, D),
values (..., S, Ev), S >= 1, all of one floating-point dtype, and the package's
masks: ``valid_lens`` (B,) or (B, L), ``attn_mask`` bool (L, S) or (B, L, S) with
True = may attend (the same for every head), and ``is_causal`` (query i sees
keys 0..i). A query that may see no key gets the zero vector. The inputs are
not scanned for NaN: a query row holding NaN that may see a key gets a NaN
output row, in :func:`naive_attention` and :func:`tiled_attention` alike (and
in :class:`attn.MultiHeadAttention`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from attn.checks import (check_attn_mask, check_bool, check_has_keys, check_int, check_same_dtype,
                         check_scale, check_tensor, check_valid_lens)
from attn.kv_cache import GroupedQueryAttention, KVCache, kv_cache_bytes
from attn.masking import masked_softmax
from attn.measure import PeakMemory

__all__ = ["GroupedQueryAttention", "KVCache", "PeakMemory", "TileCounts", "attention_flops",
           "kv_cache_bytes", "naive_attention", "online_softmax", "tiled_attention"]


# --- The cost model -------------------------------------------------------------------------

def attention_flops(num_queries: int, num_keys: int, head_dim: int, value_dim: int | None = None,
                    num_heads: int = 1, batch: int = 1) -> int:
    """Floating-point operations of the two matrix products of attention.

    ``Q K^T`` costs 2 L S D (a multiply and an add per term) and ``weights @ V``
    2 L S Ev, per head and example; the softmax, O(L S), is not counted. This is
    what :class:`torch.utils.flop_counter.FlopCounterMode` counts.
    """
    value_dim = head_dim if value_dim is None else value_dim
    for name, n in (("num_queries", num_queries), ("num_keys", num_keys), ("head_dim", head_dim),
                    ("value_dim", value_dim), ("num_heads", num_heads), ("batch", batch)):
        check_int(name, n)
    return 2 * batch * num_heads * num_queries * num_keys * (head_dim + value_dim)


# --- Inputs and masks, shared by the naive and the tiled version ------------------------------

def _prepare(query, key, value, valid_lens, attn_mask, is_causal, scale):
    """Validate; return 4-d q, k, v, a 4-d mask source, the scale, and whether input was 3-d."""
    for name, x in (("query", query), ("key", key), ("value", value)):
        check_tensor(name, x, floating=True)
        if x.dim() not in (3, 4):
            raise ValueError(f"{name} must have shape (B, L, D) or (B, H, L, D), "
                             f"got shape {tuple(x.shape)}")
    check_same_dtype({"query": query, "key": key, "value": value})
    if not query.device == key.device == value.device:
        raise ValueError(f"query, key and value must be on the same device: "
                         f"got {query.device}, {key.device} and {value.device}")
    if not query.dim() == key.dim() == value.dim():
        raise ValueError(f"query, key and value must have the same number of dimensions: "
                         f"got {query.dim()}, {key.dim()} and {value.dim()}")
    squeeze = query.dim() == 3
    if squeeze:  # (B, L, D) -> (B, 1, L, D): one head
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
    if query.shape[:2] != key.shape[:2] or key.shape[:2] != value.shape[:2]:
        raise ValueError("query, key and value must agree in (B, H): got "
                         f"{tuple(query.shape[:2])}, {tuple(key.shape[:2])} and {tuple(value.shape[:2])}")
    if key.shape[2] != value.shape[2]:
        raise ValueError(f"keys and values must have the same length S: "
                         f"got {key.shape[2]} and {value.shape[2]}")
    if query.shape[-1] != key.shape[-1] or query.shape[-1] == 0:
        raise ValueError(f"queries and keys need the same size D >= 1: "
                         f"got {query.shape[-1]} and {key.shape[-1]}")
    check_has_keys(key.shape[2])
    check_bool("is_causal", is_causal)
    batch, _, num_queries, head_dim = query.shape
    num_keys = key.shape[2]
    scale = check_scale(scale, default=1 / math.sqrt(head_dim))
    if valid_lens is not None:  # validated here, sliced tile by tile later
        check_valid_lens(valid_lens, batch, num_queries, num_keys)
        if valid_lens.dim() == 1:
            valid_lens = valid_lens.unsqueeze(1)  # (B,) -> (B, 1): the same for every query
        valid_lens = valid_lens[:, None, :, None]  # (B, 1, L or 1, 1)
    if attn_mask is not None:
        attn_mask = check_attn_mask(attn_mask, batch, num_queries, num_keys)[:, None]  # (B, 1, L, S)
    return query, key, value, valid_lens, attn_mask, scale, squeeze


def _tile_mask(valid_lens, attn_mask, is_causal, q0, q1, k0, k1, device):
    """Bool mask for queries q0..q1-1 and keys k0..k1-1, broadcastable to (B, H, lq, lk); or None."""
    mask = None
    if valid_lens is not None:
        keys = torch.arange(k0, k1, device=device)  # (lk,)
        lens = valid_lens[:, :, q0:q1] if valid_lens.shape[2] > 1 else valid_lens
        mask = keys < lens  # (B, 1, lq or 1, lk)
    if attn_mask is not None:
        part = attn_mask[..., q0:q1, k0:k1]  # (B, 1, lq, lk), a view
        mask = part if mask is None else mask & part
    if is_causal and k1 - 1 > q0:  # some key of the tile lies after some query
        rows = torch.arange(q0, q1, device=device)[:, None]  # (lq, 1)
        part = torch.arange(k0, k1, device=device) <= rows  # (lq, lk)
        mask = part if mask is None else mask & part
    return mask


def naive_attention(query, key, value, valid_lens=None, attn_mask=None, is_causal=False,
                    scale=None):
    """Scaled dot-product attention that materialises all (B, H, L, S) scores.

    Args:
        query: (B, H, L, D) or (B, L, D).
        key: (B, H, S, D) or (B, S, D).
        value: (B, H, S, Ev) or (B, S, Ev).
        valid_lens: optional int tensor (B,) or (B, L), entries in [0, S].
        attn_mask: optional bool tensor (L, S) or (B, L, S), True = may attend.
        is_causal: query i may only see keys 0..i (top-left aligned, as in SDPA).
        scale: factor on the scores, a finite number > 0; default 1 / sqrt(D).

    Returns:
        (B, H, L, Ev) or (B, L, Ev): ``softmax(Q K^T * scale) V``, equal to
        :func:`torch.nn.functional.scaled_dot_product_attention` with the same
        masks. Memory: the scores and weights, 2 B H L S floats. A query row
        holding NaN that may see a key gives a NaN output row; one that may see
        no key gives the zero vector.
    """
    q, k, v, valid_lens, attn_mask, scale, squeeze = _prepare(
        query, key, value, valid_lens, attn_mask, is_causal, scale)
    batch, heads, num_queries, _ = q.shape
    num_keys = k.shape[2]
    scores = q @ k.transpose(-2, -1) * scale  # (B, H, L, D) @ (B, H, D, S) -> (B, H, L, S)
    mask = _tile_mask(valid_lens, attn_mask, is_causal, 0, num_queries, 0, num_keys, q.device)
    if mask is None:
        weights = torch.softmax(scores, dim=-1)  # (B, H, L, S)
    else:  # masked_softmax gives rows without any key zero weights
        mask = mask.expand(batch, heads, num_queries, num_keys)
        flat = scores.reshape(batch * heads, num_queries, num_keys)  # (B*H, L, S)
        # no scan for NaN, as in tiled_attention: a NaN row gives NaN weights
        weights = masked_softmax(flat, attn_mask=mask.reshape(flat.shape),
                                 check_finite=False).view(scores.shape)
    out = weights @ v  # (B, H, L, S) @ (B, H, S, Ev) -> (B, H, L, Ev)
    return out.squeeze(1) if squeeze else out


# --- The online softmax and tiled attention -------------------------------------------------

def online_softmax(scores: torch.Tensor, block_size: int = 1) -> torch.Tensor:
    """Softmax over the last axis, computed in one streaming pass over blocks of it.

    A running maximum ``m`` and a running sum ``l = sum exp(x - m)`` are updated
    block by block; when the maximum grows, the sum so far is rescaled by
    ``exp(m_old - m_new)``. The weights ``exp(x - m) / l`` are formed at the end.

    Args:
        scores: float tensor (..., S); -inf entries get weight 0.
        block_size: how many entries each step reads, >= 1.

    Returns:
        Weights (..., S), equal to ``torch.softmax(scores, -1)`` on rows with a
        finite entry; a row of only -inf gets all zeros (as in
        :func:`attn.masking.masked_softmax`), not NaN.
    """
    if not isinstance(scores, torch.Tensor) or not scores.dtype.is_floating_point:
        got = scores.dtype if isinstance(scores, torch.Tensor) else type(scores).__name__
        raise TypeError(f"scores must be a floating-point torch.Tensor, got {got}")
    if scores.dim() == 0:
        raise ValueError("scores must have at least one dimension (..., S), got a scalar")
    check_int("block_size", block_size, minimum=1)
    if torch.isnan(scores).any() or (scores == float("inf")).any():
        raise ValueError("scores must be finite or -inf: got NaN or +inf entries")
    running_max = scores.new_full(scores.shape[:-1], float("-inf"))  # (...)
    running_sum = scores.new_zeros(scores.shape[:-1])  # (...)
    for start in range(0, scores.shape[-1], block_size):
        block = scores[..., start:start + block_size]  # (..., b)
        new_max = torch.maximum(running_max, block.amax(dim=-1))
        shift = new_max.masked_fill(new_max == float("-inf"), 0.0)  # all -inf so far: no shift
        running_sum = (running_sum * torch.exp(running_max - shift)
                       + torch.exp(block - shift.unsqueeze(-1)).sum(dim=-1))
        running_max = new_max
    shift = running_max.masked_fill(running_max == float("-inf"), 0.0).unsqueeze(-1)
    total = running_sum.unsqueeze(-1)
    return torch.exp(scores - shift) / total.masked_fill(total == 0, 1.0)  # 0 / 1 on empty rows


@dataclass
class TileCounts:
    """How many (query block, key block) tiles :func:`tiled_attention` computed and skipped."""

    computed: int
    skipped: int


def tiled_attention(query, key, value, valid_lens=None, attn_mask=None, is_causal=False,
                    scale=None, block_size: int = 64, query_block_size: int | None = None,
                    return_counts: bool = False):
    """Attention over key/value blocks with the online softmax (FlashAttention's forward pass).

    For each block of queries, the keys and values are read one block at a time;
    a running maximum, a running sum and a running weighted sum of values are
    rescaled whenever the maximum grows. Only one (query block x key block) tile
    of scores exists at any time, so memory grows linearly in L and S. Tiles that
    every mask rules out entirely (above the diagonal with ``is_causal``, past
    every valid length) are skipped without computing their scores.

    Args:
        query, key, value, valid_lens, attn_mask, is_causal, scale: as in
            :func:`naive_attention`.
        block_size: keys per block, >= 1; S need not be a multiple of it.
        query_block_size: queries per block; default ``block_size``.
        return_counts: also return the :class:`TileCounts`.

    Returns:
        (B, H, L, Ev) or (B, L, Ev), equal to :func:`naive_attention` up to
        rounding (NaN rows included); with ``return_counts``, ``(output, counts)``. The loops run in
        Python, so this is slower than a fused kernel; it shows the algorithm.
        Autograd works but saves every tile, so only the forward pass is lean.
    """
    check_int("block_size", block_size, minimum=1)
    query_block_size = block_size if query_block_size is None else query_block_size
    check_int("query_block_size", query_block_size, minimum=1)
    check_bool("return_counts", return_counts)
    q, k, v, valid_lens, attn_mask, scale, squeeze = _prepare(
        query, key, value, valid_lens, attn_mask, is_causal, scale)
    batch, heads, num_queries, _ = q.shape
    num_keys = k.shape[2]
    out = q.new_zeros(batch, heads, num_queries, v.shape[-1])  # (B, H, L, Ev)
    longest = None if valid_lens is None else int(valid_lens.max()) if valid_lens.numel() else 0
    computed = skipped = 0
    for q0 in range(0, num_queries, query_block_size):
        q1 = min(q0 + query_block_size, num_queries)
        q_blk = q[:, :, q0:q1] * scale  # (B, H, lq, D)
        running_max = q.new_full((batch, heads, q1 - q0), float("-inf"))  # (B, H, lq)
        running_sum = q.new_zeros(batch, heads, q1 - q0)  # (B, H, lq)
        acc = q.new_zeros(batch, heads, q1 - q0, v.shape[-1])  # (B, H, lq, Ev)
        for k0 in range(0, num_keys, block_size):
            k1 = min(k0 + block_size, num_keys)
            if (is_causal and k0 > q1 - 1) or (longest is not None and k0 >= longest):
                skipped += 1  # every key of the tile lies after every query, or is padding
                continue
            mask = _tile_mask(valid_lens, attn_mask, is_causal, q0, q1, k0, k1, q.device)
            if mask is not None and not mask.any():
                skipped += 1
                continue
            computed += 1
            scores = q_blk @ k[:, :, k0:k1].transpose(-2, -1)  # (B, H, lq, D) @ (B, H, D, lk)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            new_max = torch.maximum(running_max, scores.amax(dim=-1))  # (B, H, lq)
            shift = new_max.masked_fill(new_max == float("-inf"), 0.0)  # rows with no key yet
            rescale = torch.exp(running_max - shift)  # (B, H, lq); 0 where nothing was seen
            p = torch.exp(scores - shift.unsqueeze(-1))  # (B, H, lq, lk); 0 on masked keys
            running_sum = running_sum * rescale + p.sum(dim=-1)
            acc = acc * rescale.unsqueeze(-1) + p @ v[:, :, k0:k1]  # (B, H, lq, Ev)
            running_max = new_max
        total = running_sum.masked_fill(running_sum == 0, 1.0).unsqueeze(-1)  # empty rows: 0 / 1
        out[:, :, q0:q1] = acc / total
    out = out.squeeze(1) if squeeze else out
    return (out, TileCounts(computed, skipped)) if return_counts else out
