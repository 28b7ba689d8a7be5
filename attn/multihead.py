"""Multi-head attention.

H heads attend in parallel, each in its own D = E / H dimensional subspace of
queries, keys and values, and an output projection mixes what they found::

    head_i = softmax(Q W_q^(i) (K W_k^(i))^T / sqrt(D)) V W_v^(i)        (L, D)
    output = concat(head_1, ..., head_H) W_o                             (L, E)

The implementation does not loop over heads: one (E, E) projection per role
computes all heads at once, :func:`split_heads` reshapes (B, L, E) into
(B, H, L, D), one batched scaled dot-product scores every head, and
:func:`merge_heads` puts the heads back side by side.

Two paths compute the same thing. When the weights are asked for
(``need_weights=True``) they are computed explicitly with
:func:`attn.masking.masked_softmax`; otherwise the fused
:func:`torch.nn.functional.scaled_dot_product_attention` runs, which never
stores the (B, H, L, S) weights. With copied weights the module equals
``torch.nn.MultiheadAttention(E, H, bias=bias, batch_first=True)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from attn.masking import _check_attn_mask, causal_mask, masked_softmax, valid_lens_to_mask


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(B, L, E) -> (B, H, L, D) with D = E / H: head h gets features h*D to (h+1)*D - 1."""
    if not isinstance(x, torch.Tensor) or x.dim() != 3:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"split_heads expects a tensor of shape (B, L, E), got {got}")
    batch, length, width = x.shape
    if isinstance(num_heads, bool) or not isinstance(num_heads, int) or num_heads < 1:
        raise ValueError(f"num_heads must be a positive int, got {num_heads!r}")
    if width % num_heads:
        raise ValueError(f"the width E = {width} is not divisible by num_heads = {num_heads}")
    x = x.view(batch, length, num_heads, width // num_heads)  # (B, L, H, D)
    return x.transpose(1, 2)  # (B, H, L, D)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, H, L, D) -> (B, L, H * D): the inverse of :func:`split_heads`."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"merge_heads expects a tensor of shape (B, H, L, D), got {got}")
    batch, heads, length, head_dim = x.shape
    x = x.transpose(1, 2)  # (B, L, H, D)
    return x.reshape(batch, length, heads * head_dim)  # (B, L, E); copies: x is not contiguous


def _combined_mask(valid_lens, attn_mask, is_causal, batch, num_queries, num_keys, device):
    """All masks ANDed into one bool tensor (B, L, S) or (L, S), or None when nothing is masked."""
    mask = valid_lens_to_mask(valid_lens, num_queries, num_keys, batch=batch)  # (B, L, S) or None
    if attn_mask is not None:
        attn_mask = _check_attn_mask(attn_mask, batch, num_queries, num_keys)  # (B, L, S)
        mask = attn_mask if mask is None else mask & attn_mask
    if is_causal:
        causal = causal_mask(num_queries, num_keys, device=device)  # (L, S)
        mask = causal if mask is None else mask & causal
    return mask


class MultiHeadAttention(nn.Module):
    """Multi-head scaled dot-product attention.

    Args:
        num_hiddens: model width E of queries, keys, values and output.
        num_heads: number of heads H; E must be divisible by H, each head has
            width D = E / H.
        dropout: dropout probability on the attention weights (training only).
        bias: whether the four projections W_q, W_k, W_v, W_o have a bias.

    Attributes:
        W_q, W_k, W_v, W_o: ``nn.Linear(E, E)`` projections.
        last_weights: the per-head weights (B, H, L, S) of the last call with
            ``need_weights=True``, detached, kept for plotting only; None before.

    Parameters: ``4 E^2`` (plus ``4 E`` with bias), whatever H is.
    """

    def __init__(self, num_hiddens: int, num_heads: int, dropout: float = 0.0, bias: bool = False):
        super().__init__()
        for name, n in (("num_hiddens", num_hiddens), ("num_heads", num_heads)):
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ValueError(f"{name} must be a positive int, got {n!r}")
        if num_hiddens % num_heads:
            raise ValueError(f"num_hiddens must be divisible by num_heads: got num_hiddens = "
                             f"{num_hiddens} and num_heads = {num_heads}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
            raise ValueError(f"dropout must be a number in [0, 1], got {dropout!r}")
        if not isinstance(bias, bool):
            raise TypeError(f"bias must be True or False, got {bias!r}")
        self.num_hiddens, self.num_heads = num_hiddens, num_heads
        self.head_dim = num_hiddens // num_heads
        self.dropout = float(dropout)
        self.W_q = nn.Linear(num_hiddens, num_hiddens, bias=bias)
        self.W_k = nn.Linear(num_hiddens, num_hiddens, bias=bias)
        self.W_v = nn.Linear(num_hiddens, num_hiddens, bias=bias)
        self.W_o = nn.Linear(num_hiddens, num_hiddens, bias=bias)
        self.last_weights: torch.Tensor | None = None

    def _check_inputs(self, queries, keys, values) -> None:
        """Shapes (B, L, E), (B, S, E), (B, S, E) and the module's dtype.

        Unlike :func:`attn.scoring.check_qkv` this does not scan the inputs for NaN
        (NaN in, NaN out, as in PyTorch): the scan cost 40% of a forward pass.
        """
        for name, x in (("queries", queries), ("keys", keys), ("values", values)):
            if not isinstance(x, torch.Tensor):
                raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
            if not x.dtype.is_floating_point:
                raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
            if x.dim() != 3:
                raise ValueError(f"{name} must have 3 dimensions (B, length, E), "
                                 f"got shape {tuple(x.shape)}")
            if x.shape[-1] != self.num_hiddens:
                raise ValueError(f"{name} must have size E = {self.num_hiddens} in their last "
                                 f"dimension, got {x.shape[-1]}")
            if x.dtype != self.W_q.weight.dtype:
                raise TypeError(f"{name} must have the module's dtype {self.W_q.weight.dtype}, "
                                f"got {x.dtype}")
        if not queries.shape[0] == keys.shape[0] == values.shape[0]:
            raise ValueError("queries, keys and values must have the same batch size B: "
                             f"got {queries.shape[0]}, {keys.shape[0]} and {values.shape[0]}")
        if keys.shape[1] != values.shape[1]:
            raise ValueError(f"keys and values must have the same length S: "
                             f"got {keys.shape[1]} and {values.shape[1]}")

    def forward(self, queries, keys, values, valid_lens=None, attn_mask=None, need_weights=False,
                is_causal=False):
        """Attend from L queries to S key-value pairs with H heads.

        Args:
            queries: (B, L, E) float tensor.
            keys: (B, S, E), same dtype.
            values: (B, S, E), same dtype.
            valid_lens: optional int tensor (B,) or (B, L), entries in [0, S]:
                keys at positions >= the valid length are padding.
            attn_mask: optional bool tensor (L, S) or (B, L, S), True = may attend.
            need_weights: also return the per-head attention weights (explicit
                path); when False the fused SDPA kernel runs.
            is_causal: query i may only see keys 0..i (:func:`attn.masking.causal_mask`).
                The masks combine: a key must pass every one of them.

        Returns:
            output (B, L, E), or ``(output, weights)`` with weights (B, H, L, S)
            when ``need_weights`` is True (before dropout). A query that may see
            no key gets zero weights, so its output is W_o's bias (0 without bias).
        """
        self._check_inputs(queries, keys, values)
        for name, flag in (("need_weights", need_weights), ("is_causal", is_causal)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be True or False, got {flag!r}")
        batch, num_queries, _ = queries.shape
        num_keys = keys.shape[1]
        q = split_heads(self.W_q(queries), self.num_heads)  # (B, L, E) -> (B, H, L, D)
        k = split_heads(self.W_k(keys), self.num_heads)     # (B, S, E) -> (B, H, S, D)
        v = split_heads(self.W_v(values), self.num_heads)   # (B, S, E) -> (B, H, S, D)
        dropout_p = self.dropout if self.training else 0.0

        if not need_weights:
            if is_causal and valid_lens is None and attn_mask is None:
                heads = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
            else:
                mask = _combined_mask(valid_lens, attn_mask, is_causal, batch, num_queries,
                                      num_keys, queries.device)
                if mask is not None and mask.dim() == 3:
                    mask = mask.unsqueeze(1)  # (B, L, S) -> (B, 1, L, S): the same for every head
                # a query with no key gets the zero vector from SDPA, as from masked_softmax
                # (tested on PyTorch 2.13 on CPU; older releases gave NaN)
                heads = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
            return self.W_o(merge_heads(heads))  # (B, H, L, D) -> (B, L, E) -> (B, L, E)

        mask = _combined_mask(valid_lens, attn_mask, is_causal, batch, num_queries, num_keys,
                              queries.device)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)  # (B, H, L, D) @ (B, H, D, S)
        if mask is None:  # nothing masked, so every row has keys: a plain softmax is exact
            weights = torch.softmax(scores, dim=-1)  # (B, H, L, S)
        else:
            flat = scores.reshape(batch * self.num_heads, num_queries, num_keys)  # (B*H, L, S)
            mask = mask.expand(batch, num_queries, num_keys)  # (L, S) or (B, L, S) -> (B, L, S)
            # (B, L, S) -> (B, H, L, S) -> (B*H, L, S): every head of an example, the same mask
            mask = mask.unsqueeze(1).expand(-1, self.num_heads, -1, -1).reshape(flat.shape)
            weights = masked_softmax(flat, attn_mask=mask).view(scores.shape)  # (B, H, L, S)
        dropped = F.dropout(weights, dropout_p) if dropout_p > 0 else weights
        heads = dropped @ v  # (B, H, L, S) @ (B, H, S, D) -> (B, H, L, D)
        self.last_weights = weights.detach()  # for plotting only, never read back here
        return self.W_o(merge_heads(heads)), weights
