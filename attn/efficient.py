"""Attention at scale: the score matrix, the online softmax, tiled attention, the KV cache.

Naive attention materialises the (B, H, L, S) scores, so its memory grows with
L * S. The online softmax needs only a running maximum and a running sum per
query, which lets :func:`tiled_attention` walk over key/value blocks and keep
one (block x block) tile of scores at a time: the forward algorithm of
FlashAttention, in plain PyTorch. At inference, a decoder keeps the keys and
values of past tokens in a cache (:class:`KVCache`), whose size multi-query and
grouped-query attention (:class:`GroupedQueryAttention`) shrink by sharing one
key/value head among several query heads. :class:`PeakMemory` measures the peak
of allocated CPU memory inside a ``with`` block, which is how the book shows the
difference between quadratic and linear memory.

Attention functions take queries (B, H, L, D) or (B, L, D), keys (..., S, D),
values (..., S, Ev), and the package's masks: ``valid_lens`` (B,) or (B, L),
``attn_mask`` bool (L, S) or (B, L, S) with True = may attend (the same for
every head), and ``is_causal`` (query i sees keys 0..i). A query that may see
no key gets the zero vector, never NaN.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from attn.masking import _check_attn_mask, masked_softmax, valid_lens_to_mask
from attn.multihead import merge_heads, split_heads


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
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"{name} must be an int >= 0, got {n!r}")
    return 2 * batch * num_heads * num_queries * num_keys * (head_dim + value_dim)


# --- Inputs and masks, shared by the naive and the tiled version ------------------------------

def _prepare(query, key, value, valid_lens, attn_mask, is_causal, scale):
    """Validate; return 4-d q, k, v, a 4-d mask source, the scale, and whether input was 3-d."""
    for name, x in (("query", query), ("key", key), ("value", value)):
        if not isinstance(x, torch.Tensor) or not x.dtype.is_floating_point:
            got = x.dtype if isinstance(x, torch.Tensor) else type(x).__name__
            raise TypeError(f"{name} must be a floating-point torch.Tensor, got {got}")
        if x.dim() not in (3, 4):
            raise ValueError(f"{name} must have shape (B, L, D) or (B, H, L, D), "
                             f"got shape {tuple(x.shape)}")
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
    if not isinstance(is_causal, bool):
        raise TypeError(f"is_causal must be True or False, got {is_causal!r}")
    batch, _, num_queries, head_dim = query.shape
    num_keys = key.shape[2]
    if valid_lens is not None:  # validated here, sliced tile by tile later
        valid_lens_to_mask(valid_lens, num_queries, num_keys, batch=batch)
        if valid_lens.dim() == 1:
            valid_lens = valid_lens.unsqueeze(1)  # (B,) -> (B, 1): the same for every query
        valid_lens = valid_lens[:, None, :, None]  # (B, 1, L or 1, 1)
    if attn_mask is not None:
        attn_mask = _check_attn_mask(attn_mask, batch, num_queries, num_keys)[:, None]  # (B, 1, L, S)
    scale = 1 / math.sqrt(head_dim) if scale is None else float(scale)
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
        scale: factor on the scores; default 1 / sqrt(D).

    Returns:
        (B, H, L, Ev) or (B, L, Ev): ``softmax(Q K^T * scale) V``, equal to
        :func:`torch.nn.functional.scaled_dot_product_attention` with the same
        masks. Memory: the scores and weights, 2 B H L S floats.
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
        weights = masked_softmax(flat, attn_mask=mask.reshape(flat.shape)).view(scores.shape)
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
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"block_size must be a positive int, got {block_size!r}")
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


def _check_block(name, n):
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{name} must be a positive int, got {n!r}")


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
        rounding; with ``return_counts``, ``(output, counts)``. The loops run in
        Python, so this is slower than a fused kernel; it shows the algorithm.
        Autograd works but saves every tile, so only the forward pass is lean.
    """
    _check_block("block_size", block_size)
    query_block_size = block_size if query_block_size is None else query_block_size
    _check_block("query_block_size", query_block_size)
    if not isinstance(return_counts, bool):
        raise TypeError(f"return_counts must be True or False, got {return_counts!r}")
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


# --- Measuring peak memory on the CPU -------------------------------------------------------

class PeakMemory:
    """Peak of CPU memory allocated by PyTorch inside a ``with`` block, in bytes.

    Uses :mod:`torch.profiler` with ``profile_memory=True``, which records every
    allocation and free of PyTorch's CPU allocator, scratch buffers inside fused
    kernels included. ``peak`` is the largest total allocated at any moment
    above what was allocated on entry; ``net`` is what is still allocated at the
    end. Memory allocated before the block is not counted, nor is its release
    (PyTorch then prints a warning on stderr). Timings taken
    inside the block are slowed by the profiler: measure time separately.

    Example::

        with attn.PeakMemory() as mem:
            scores = torch.empty(1000, 1000)      # 4 MB of float32
        assert mem.peak == 4_000_000
    """

    def __init__(self):
        self.peak: int | None = None
        self.net: int | None = None
        self._profile = None

    def __enter__(self):
        from torch.profiler import ProfilerActivity, profile

        self._profile = profile(activities=[ProfilerActivity.CPU], profile_memory=True)
        with _quiet_stderr():  # the profiler prints a line on stderr when it starts and stops
            self._profile.__enter__()
        return self

    def __exit__(self, *exc):
        with _quiet_stderr():
            self._profile.__exit__(*exc)
        changes = sorted((e.start_ns(), e.nbytes()) for e in self._profile.profiler.kineto_results.events()
                         if e.name() == "[memory]")
        total = peak = 0
        for _, nbytes in changes:  # allocations positive, frees negative, in time order
            total += nbytes
            peak = max(peak, total)
        self.peak, self.net = int(peak), int(total)
        self._profile = None
        return False


class _quiet_stderr:
    """Send the process's file descriptor 2 to /dev/null for the length of a ``with`` block."""

    def __enter__(self):
        self._saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)

    def __exit__(self, *exc):
        os.dup2(self._saved, 2)
        os.close(self._saved)
        return False


# --- Inference: the key-value cache, multi-query and grouped-query attention --------------

def kv_cache_bytes(num_layers: int, num_kv_heads: int, head_dim: int, num_tokens: int = 1,
                   batch: int = 1, dtype: torch.dtype = torch.float32) -> int:
    """Bytes of keys and values a decoder keeps for ``num_tokens`` tokens.

    Every layer stores, per token, one key and one value of width D for each of
    its key/value heads: ``2 * N * H_kv * D * bytes_per_element`` per token. With
    the defaults ``num_layers=1, num_tokens=1`` this is bytes per token per layer.
    """
    for name, n in (("num_layers", num_layers), ("num_kv_heads", num_kv_heads),
                    ("head_dim", head_dim), ("num_tokens", num_tokens), ("batch", batch)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"{name} must be an int >= 0, got {n!r}")
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"dtype must be a torch.dtype, got {type(dtype).__name__}")
    return 2 * num_layers * num_kv_heads * head_dim * num_tokens * batch * dtype.itemsize


class KVCache:
    """Keys and values of the tokens seen so far, one layer: (B, H_kv, T, D) each.

    ``append(k, v)`` adds (B, H_kv, t, D) new ones and returns all of them;
    ``nbytes`` is the memory the cache holds. Concatenation copies, which keeps
    the code short; a production cache preallocates.
    """

    def __init__(self):
        self.keys: torch.Tensor | None = None
        self.values: torch.Tensor | None = None

    def __len__(self) -> int:
        return 0 if self.keys is None else self.keys.shape[2]

    @property
    def nbytes(self) -> int:
        if self.keys is None:
            return 0
        return self.keys.numel() * self.keys.element_size() + self.values.numel() * self.values.element_size()

    def append(self, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """keys, values (B, H_kv, t, D) -> all cached keys and values (B, H_kv, T + t, D)."""
        if keys.dim() != 4 or keys.shape != values.shape:
            raise ValueError(f"keys and values must both have shape (B, H_kv, t, D): "
                             f"got {tuple(keys.shape)} and {tuple(values.shape)}")
        if self.keys is not None and (keys.shape[:2] != self.keys.shape[:2]
                                      or keys.shape[3] != self.keys.shape[3]):
            raise ValueError(f"new keys must match the cache's (B, H_kv, ., D) = "
                             f"{tuple(self.keys.shape)}: got {tuple(keys.shape)}")
        if self.keys is None:
            self.keys, self.values = keys, values
        else:
            self.keys = torch.cat([self.keys, keys], dim=2)  # (B, H_kv, T + t, D)
            self.values = torch.cat([self.values, values], dim=2)
        return self.keys, self.values


class GroupedQueryAttention(nn.Module):
    """Multi-head attention whose H query heads share H_kv key/value heads.

    Query head h reads key/value head ``h // (H / H_kv)``. ``num_kv_heads = H``
    is multi-head attention (equal to :class:`attn.MultiHeadAttention` with the
    same weights); ``num_kv_heads = 1`` is multi-query attention.

    Args:
        num_hiddens: model width E.
        num_heads: query heads H; E divisible by H, head width D = E / H.
        num_kv_heads: key/value heads H_kv; H divisible by H_kv.
        bias: whether the projections have a bias.

    Parameters: ``2 E^2 + 2 E H_kv D`` (W_q and W_o are (E, E), W_k and W_v
    (H_kv D, E)), plus biases.
    """

    def __init__(self, num_hiddens: int, num_heads: int, num_kv_heads: int, bias: bool = False):
        super().__init__()
        for name, n in (("num_hiddens", num_hiddens), ("num_heads", num_heads),
                        ("num_kv_heads", num_kv_heads)):
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ValueError(f"{name} must be a positive int, got {n!r}")
        if num_hiddens % num_heads:
            raise ValueError(f"num_hiddens must be divisible by num_heads: got {num_hiddens} "
                             f"and {num_heads}")
        if num_heads % num_kv_heads:
            raise ValueError(f"num_heads must be divisible by num_kv_heads: got {num_heads} "
                             f"and {num_kv_heads}")
        self.num_hiddens, self.num_heads, self.num_kv_heads = num_hiddens, num_heads, num_kv_heads
        self.head_dim = num_hiddens // num_heads
        self.W_q = nn.Linear(num_hiddens, num_hiddens, bias=bias)
        self.W_k = nn.Linear(num_hiddens, num_kv_heads * self.head_dim, bias=bias)
        self.W_v = nn.Linear(num_hiddens, num_kv_heads * self.head_dim, bias=bias)
        self.W_o = nn.Linear(num_hiddens, num_hiddens, bias=bias)

    def forward(self, queries, keys, values, valid_lens=None, is_causal=False,
                cache: KVCache | None = None):
        """Attend from L queries to S new key-value pairs (and the cached ones).

        Args:
            queries: (B, L, E); keys, values: (B, S, E).
            valid_lens: optional int tensor (B,) or (B, L) over all keys (cached
                and new).
            is_causal: query i (at position T + i after T cached tokens) sees
                keys 0..T + i: the mask of a decoder reading its own tokens.
            cache: a :class:`KVCache` to read from and append the new keys and
                values to, or None.

        Returns:
            (B, L, E).
        """
        for name, x in (("queries", queries), ("keys", keys), ("values", values)):
            if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[-1] != self.num_hiddens:
                got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
                raise ValueError(f"{name} must have shape (B, length, E = {self.num_hiddens}), "
                                 f"got {got}")
        q = split_heads(self.W_q(queries), self.num_heads)     # (B, H, L, D)
        k = split_heads(self.W_k(keys), self.num_kv_heads)     # (B, H_kv, S, D)
        v = split_heads(self.W_v(values), self.num_kv_heads)   # (B, H_kv, S, D)
        past = 0 if cache is None else len(cache)
        if cache is not None:
            k, v = cache.append(k, v)  # (B, H_kv, T + S, D)
        group = self.num_heads // self.num_kv_heads
        k = k.repeat_interleave(group, dim=1)  # (B, H, T + S, D): head h reads kv head h // group
        v = v.repeat_interleave(group, dim=1)
        num_queries, num_keys = q.shape[2], k.shape[2]
        mask = valid_lens_to_mask(valid_lens, num_queries, num_keys, batch=q.shape[0])
        if is_causal:  # aligned bottom right: the L queries are the last L positions
            rows = torch.arange(past, past + num_queries, device=q.device)[:, None]  # (L, 1)
            causal = torch.arange(num_keys, device=q.device) <= rows  # (L, T + S)
            mask = causal if mask is None else mask & causal
        if mask is not None and mask.dim() == 3:
            mask = mask.unsqueeze(1)  # (B, L, S) -> (B, 1, L, S): every head alike
        heads = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, H, L, D)
        return self.W_o(merge_heads(heads))  # (B, L, E)
