"""Inference: the key-value cache, multi-query and grouped-query attention.

At inference, a decoder keeps the keys and values of past tokens in a cache
(:class:`KVCache`), whose size (:func:`kv_cache_bytes`) multi-query and
grouped-query attention (:class:`GroupedQueryAttention`) shrink by sharing one
key/value head among several query heads.

Shapes (package legend): B batch, H query heads, H_kv key/value heads, L new
queries, S new keys, T tokens already cached, E model width, D = E / H.
"""

from __future__ import annotations

import torch
from torch import nn

from attn.checks import (check_attention_inputs, check_bool, check_int, check_same_dtype,
                         check_tensor)
from attn.masking import valid_lens_to_mask
from attn.multihead import fused_attention, merge_heads, split_heads

__all__ = ["GroupedQueryAttention", "KVCache", "kv_cache_bytes"]


def kv_cache_bytes(num_layers: int, num_kv_heads: int, head_dim: int, num_tokens: int = 1,
                   batch: int = 1, dtype: torch.dtype = torch.float32) -> int:
    """Bytes of keys and values a decoder keeps for ``num_tokens`` tokens.

    Every layer stores, per token, one key and one value of width D for each of
    its key/value heads: ``2 * N * H_kv * D * bytes_per_element`` per token. With
    the defaults ``num_layers=1, num_tokens=1`` this is bytes per token per layer.
    """
    for name, n in (("num_layers", num_layers), ("num_kv_heads", num_kv_heads),
                    ("head_dim", head_dim), ("num_tokens", num_tokens), ("batch", batch)):
        check_int(name, n)
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
        return (self.keys.numel() * self.keys.element_size()
                + self.values.numel() * self.values.element_size())

    def append(self, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """keys, values (B, H_kv, t, D) -> all cached keys and values (B, H_kv, T + t, D).

        Keys and values are float tensors of one dtype and device; after the
        first call, new ones must match the cache in B, H_kv, D, dtype and device.
        """
        check_tensor("keys", keys, floating=True)
        check_tensor("values", values, floating=True)
        if keys.dim() != 4 or keys.shape != values.shape:
            raise ValueError(f"keys and values must both have shape (B, H_kv, t, D): "
                             f"got {tuple(keys.shape)} and {tuple(values.shape)}")
        check_same_dtype({"keys": keys, "values": values})
        if keys.device != values.device:
            raise ValueError(f"keys and values must be on the same device: "
                             f"got {keys.device} and {values.device}")
        if self.keys is not None:
            if keys.shape[:2] != self.keys.shape[:2] or keys.shape[3] != self.keys.shape[3]:
                raise ValueError(f"new keys must match the cache's (B, H_kv, ., D) = "
                                 f"{tuple(self.keys.shape)}: got {tuple(keys.shape)}")
            if keys.dtype != self.keys.dtype or keys.device != self.keys.device:
                raise TypeError(f"new keys must have the cache's dtype {self.keys.dtype} on "
                                f"{self.keys.device}: got {keys.dtype} on {keys.device}")
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
            check_int(name, n, minimum=1)
        if num_hiddens % num_heads:
            raise ValueError(f"num_hiddens must be divisible by num_heads: got {num_hiddens} "
                             f"and {num_heads}")
        if num_heads % num_kv_heads:
            raise ValueError(f"num_heads must be divisible by num_kv_heads: got {num_heads} "
                             f"and {num_kv_heads}")
        check_bool("bias", bias)
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
            queries: (B, L, E); keys, values: (B, S, E), S >= 1; all three in the
                module's dtype.
            valid_lens: optional int tensor (B,) or (B, L) over all keys (cached
                and new).
            is_causal: query i (at position T + i after T cached tokens) sees
                keys 0..T + i: the mask of a decoder reading its own tokens.
            cache: a :class:`KVCache` to read from and append the new keys and
                values to, or None.

        Returns:
            (B, L, E). As in :class:`attn.MultiHeadAttention`, a query that may see
            no key gets W_o's bias, and a query row holding NaN gets NaN.
        """
        check_attention_inputs(queries, keys, values, self.num_hiddens, self.W_q.weight.dtype)
        check_bool("is_causal", is_causal)
        if cache is not None and not isinstance(cache, KVCache):
            raise TypeError(f"cache must be a KVCache or None, got {type(cache).__name__}")
        q = split_heads(self.W_q(queries), self.num_heads)     # (B, H, L, D)
        k = split_heads(self.W_k(keys), self.num_kv_heads)     # (B, H_kv, S, D)
        v = split_heads(self.W_v(values), self.num_kv_heads)   # (B, H_kv, S, D)
        past = 0 if cache is None else len(cache)
        num_queries, num_keys = q.shape[2], past + k.shape[2]
        mask = valid_lens_to_mask(valid_lens, num_queries, num_keys, batch=q.shape[0])
        if cache is not None:  # after every check: a refused call leaves the cache as it was
            k, v = cache.append(k, v)  # (B, H_kv, T + S, D)
        group = self.num_heads // self.num_kv_heads
        k = k.repeat_interleave(group, dim=1)  # (B, H, T + S, D): head h reads kv head h // group
        v = v.repeat_interleave(group, dim=1)
        if is_causal:  # aligned bottom right: the L queries are the last L positions
            rows = torch.arange(past, past + num_queries, device=q.device)[:, None]  # (L, 1)
            causal = torch.arange(num_keys, device=q.device) <= rows  # (L, T + S)
            mask = causal if mask is None else mask & causal
        if mask is not None and mask.dim() == 3:
            mask = mask.unsqueeze(1)  # (B, L, S) -> (B, 1, L, S): every head alike
        heads = fused_attention(q, k, v, attn_mask=mask)  # (B, H, L, D)
        return self.W_o(merge_heads(heads))  # (B, L, E)
