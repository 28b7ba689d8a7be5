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

Both paths treat NaN alike and raise no error for it: a query row that holds
NaN (or infinity) and may see at least one key gives a NaN output row, and NaN
in a key or value that a query may see makes that query's output NaN. (SDPA
alone would return zeros for such a query when it runs without a mask;
:func:`fused_attention` restores the NaN.)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from attn.checks import (check_attention_inputs, check_attn_mask, check_bool, check_dropout,
                         check_int, check_tensor)
from attn.masking import causal_mask, masked_softmax, valid_lens_to_mask
from attn.position import additive_mask


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(B, L, E) -> (B, H, L, D) with D = E / H: head h gets features h*D to (h+1)*D - 1."""
    check_tensor("x", x)
    if x.dim() != 3:
        raise ValueError(f"split_heads expects a tensor of shape (B, L, E), got {tuple(x.shape)}")
    batch, length, width = x.shape
    check_int("num_heads", num_heads, minimum=1)
    if width % num_heads:
        raise ValueError(f"the width E = {width} is not divisible by num_heads = {num_heads}")
    x = x.view(batch, length, num_heads, width // num_heads)  # (B, L, H, D)
    return x.transpose(1, 2)  # (B, H, L, D)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, H, L, D) -> (B, L, H * D): the inverse of :func:`split_heads`."""
    check_tensor("x", x)
    if x.dim() != 4:
        raise ValueError(f"merge_heads expects a tensor of shape (B, H, L, D), got {tuple(x.shape)}")
    batch, heads, length, head_dim = x.shape
    x = x.transpose(1, 2)  # (B, L, H, D)
    return x.reshape(batch, length, heads * head_dim)  # (B, L, E); copies: x is not contiguous


def _combined_mask(valid_lens, attn_mask, is_causal, batch, num_queries, num_keys, device):
    """All masks ANDed into one bool tensor (B, L, S) or (L, S), or None when nothing is masked."""
    mask = valid_lens_to_mask(valid_lens, num_queries, num_keys, batch=batch)  # (B, L, S) or None
    if attn_mask is not None:
        attn_mask = check_attn_mask(attn_mask, batch, num_queries, num_keys)  # (B, L, S)
        mask = attn_mask if mask is None else mask & attn_mask
    if is_causal:
        causal = causal_mask(num_queries, num_keys, device=device)  # (L, S)
        mask = causal if mask is None else mask & causal
    return mask


def fused_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                    attn_mask: torch.Tensor | None = None, is_causal: bool = False,
                    dropout_p: float = 0.0, attn_bias: torch.Tensor | None = None
                    ) -> torch.Tensor:
    """SDPA on heads q (B, H, L, D), k (B, H, S, D), v (B, H, S, Dv) -> (B, H, L, Dv).

    :func:`torch.nn.functional.scaled_dot_product_attention` with the package's
    NaN rule: a query row holding NaN gets a NaN output row when it may see a
    key, and a query that may see no key gets the zero vector, NaN or not. (On
    CPU, SDPA without a mask returns zeros for a NaN row, and with a bool mask
    NaN even where the row may see no key; the explicit path of
    :class:`MultiHeadAttention` follows the rule above.) ``attn_mask``: None or
    bool, broadcastable to (B, H, L, S), True = may attend. The check costs one
    sum over q per call; the output is rewritten only when a row is NaN.

    ``attn_bias``: None, or a float tensor broadcastable to (B, H, L, S) added
    to the scores (ALiBi's :func:`attn.alibi_bias`); SDPA then gets it as a float
    mask (:func:`attn.position.additive_mask`), with ``is_causal`` False (fold
    the causal mask into ``attn_mask``). The same rule holds: a query that may
    see no key gets the zero vector.
    """
    if attn_bias is not None:
        if is_causal:
            raise ValueError("fused_attention with attn_bias takes the causal mask in "
                             "attn_mask, not is_causal")
        float_mask = additive_mask(attn_bias.to(q.dtype), attn_mask)
        heads = F.scaled_dot_product_attention(q, k, v, attn_mask=float_mask,
                                               dropout_p=dropout_p)
        nan_rows = q.sum(dim=-1, keepdim=True, dtype=torch.float32).isnan()  # (B, H, L, 1)
        if nan_rows.any():
            heads = heads.masked_fill(nan_rows, float("nan"))
        if attn_mask is not None:  # rows without a key: zeros, not the bias's average
            heads = heads.masked_fill(~attn_mask.any(dim=-1, keepdim=True), 0.0)
        return heads
    heads = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p,
                                           is_causal=is_causal)
    if k.shape[-2] == 0:
        return heads
    # A row that holds NaN sums to NaN: one cheap pass over q, summed in float32 for half
    # types so that large finite rows cannot overflow.
    wide = torch.float32 if q.dtype in (torch.float16, torch.bfloat16) else None
    nan_rows = q.sum(dim=-1, keepdim=True, dtype=wide).isnan()  # (B, H, L, 1)
    if nan_rows.any():  # rare: only then pay for rewriting the output
        if attn_mask is None:  # every row sees a key (key 0 at least); SDPA gave it zeros
            heads = heads.masked_fill(nan_rows, float("nan"))
        else:  # SDPA gave NaN rows NaN, also those that may see no key: the zero vector there
            heads = heads.masked_fill(~attn_mask.any(dim=-1, keepdim=True), 0.0)
    return heads


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

    Parameters: ``4 E^2`` (plus ``4 E`` with bias), whatever H is.
    """

    def __init__(self, num_hiddens: int, num_heads: int, dropout: float = 0.0, bias: bool = False):
        super().__init__()
        check_int("num_hiddens", num_hiddens, minimum=1)
        check_int("num_heads", num_heads, minimum=1)
        if num_hiddens % num_heads:
            raise ValueError(f"num_hiddens must be divisible by num_heads: got num_hiddens = "
                             f"{num_hiddens} and num_heads = {num_heads}")
        self.dropout = check_dropout(dropout)
        check_bool("bias", bias)
        self.num_hiddens, self.num_heads = num_hiddens, num_heads
        self.head_dim = num_hiddens // num_heads
        self.W_q = nn.Linear(num_hiddens, num_hiddens, bias=bias)
        self.W_k = nn.Linear(num_hiddens, num_hiddens, bias=bias)
        self.W_v = nn.Linear(num_hiddens, num_hiddens, bias=bias)
        self.W_o = nn.Linear(num_hiddens, num_hiddens, bias=bias)

    def _check_inputs(self, queries, keys, values) -> None:
        """Shapes (B, L, E), (B, S, E), (B, S, E), S >= 1, and the module's dtype.

        Unlike :func:`attn.scoring.check_qkv` this does not raise on NaN (NaN in,
        NaN out, as in PyTorch), which would need a scan of all three inputs and a
        synchronising ``.all()`` on every call.
        """
        check_attention_inputs(queries, keys, values, self.num_hiddens, self.W_q.weight.dtype)

    def forward(self, queries, keys, values, valid_lens=None, attn_mask=None, need_weights=False,
                is_causal=False, attn_bias=None):
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
            attn_bias: optional float tensor (L, S), (H, L, S) or (B, H, L, S),
                added to the scaled scores before the softmax: ALiBi's
                :func:`attn.alibi_bias`. Finite values; masking stays with the masks.

        Returns:
            output (B, L, E), or ``(output, weights)`` with weights (B, H, L, S)
            when ``need_weights`` is True (before dropout). A query that may see
            no key gets zero weights, so its output is W_o's bias (0 without bias).
            NaN in, NaN out, on both paths alike: a query row holding NaN that
            may see a key gets a NaN output row (and NaN weights).
        """
        self._check_inputs(queries, keys, values)
        check_bool("need_weights", need_weights)
        check_bool("is_causal", is_causal)
        batch, num_queries, _ = queries.shape
        num_keys = keys.shape[1]
        if attn_bias is not None:
            check_tensor("attn_bias", attn_bias, floating=True)
            shape = (batch, self.num_heads, num_queries, num_keys)
            if attn_bias.dim() not in (2, 3, 4) or \
                    tuple(attn_bias.shape) != shape[4 - attn_bias.dim():]:
                raise ValueError(f"attn_bias must have shape (L, S), (H, L, S) or "
                                 f"(B, H, L, S) = {shape}, got {tuple(attn_bias.shape)}")
        q = split_heads(self.W_q(queries), self.num_heads)  # (B, L, E) -> (B, H, L, D)
        k = split_heads(self.W_k(keys), self.num_heads)     # (B, S, E) -> (B, H, S, D)
        v = split_heads(self.W_v(values), self.num_heads)   # (B, S, E) -> (B, H, S, D)
        dropout_p = self.dropout if self.training else 0.0

        if not need_weights:
            if is_causal and valid_lens is None and attn_mask is None and attn_bias is None:
                heads = fused_attention(q, k, v, is_causal=True, dropout_p=dropout_p)
            else:
                mask = _combined_mask(valid_lens, attn_mask, is_causal, batch, num_queries,
                                      num_keys, queries.device)
                if mask is not None and mask.dim() == 3:
                    mask = mask.unsqueeze(1)  # (B, L, S) -> (B, 1, L, S): the same for every head
                # a query with no key gets the zero vector from SDPA, as from masked_softmax
                # (tested on PyTorch 2.13 on CPU; older releases gave NaN)
                heads = fused_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p,
                                        attn_bias=attn_bias)
            return self.W_o(merge_heads(heads))  # (B, H, L, D) -> (B, L, E) -> (B, L, E)

        mask = _combined_mask(valid_lens, attn_mask, is_causal, batch, num_queries, num_keys,
                              queries.device)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)  # (B, H, L, D) @ (B, H, D, S)
        if attn_bias is not None:
            scores = scores + attn_bias.to(scores.dtype)  # broadcast to (B, H, L, S)
        if mask is None:  # nothing masked, so every row has keys: a plain softmax is exact
            weights = torch.softmax(scores, dim=-1)  # (B, H, L, S)
        else:
            flat = scores.reshape(batch * self.num_heads, num_queries, num_keys)  # (B*H, L, S)
            mask = mask.expand(batch, num_queries, num_keys)  # (L, S) or (B, L, S) -> (B, L, S)
            # (B, L, S) -> (B, H, L, S) -> (B*H, L, S): every head of an example, the same mask
            mask = mask.unsqueeze(1).expand(-1, self.num_heads, -1, -1).reshape(flat.shape)
            # NaN passes through as in the fused path: no scan of the scores
            weights = masked_softmax(flat, attn_mask=mask, check_finite=False).view(scores.shape)
        dropped = F.dropout(weights, dropout_p) if dropout_p > 0 else weights
        heads = dropped @ v  # (B, H, L, S) @ (B, H, S, D) -> (B, H, L, D)
        return self.W_o(merge_heads(heads)), weights
