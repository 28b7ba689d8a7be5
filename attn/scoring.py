"""Attention scoring functions: dot product, additive, multiplicative.

Each class scores L queries against S keys, turns the scores into weights with
:func:`attn.masking.masked_softmax`, and returns the weighted sum of the values.
All three share one forward signature::

    forward(queries, keys, values, valid_lens=None, need_weights=False, attn_mask=None)

Args (shapes in the package's legend; Ev is the value width):
    queries: (B, L, query_size), finite floats.
    keys:    (B, S, key_size), finite floats, same dtype, S >= 1 (no key at all
        is an error; a query whose keys are all masked is not).
    values:  (B, S, Ev), finite floats, same dtype.
    valid_lens: optional int tensor (B,) or (B, L), entries in [0, S]: keys
        beyond it are padding.
    need_weights: when True, also return the attention weights.
    attn_mask: optional bool tensor (L, S) or (B, L, S), True = may attend.

Returns:
    output (B, L, Ev), or ``(output, weights)`` with weights (B, L, S) when
    ``need_weights`` is True. The weights are the softmax output before dropout.
    A query with no key to attend to gets zero weights and the zero vector.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from attn.checks import (check_bool, check_dropout, check_has_keys, check_int, check_same_dtype,
                         check_tensor)
from attn.masking import masked_softmax


def _check_tensor(name: str, x) -> None:
    check_tensor(name, x, floating=True)
    if x.dim() != 3:
        raise ValueError(f"{name} must have 3 dimensions (B, length, size), got shape {tuple(x.shape)}")


def check_qkv(queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
              query_size: int | None = None, key_size: int | None = None) -> None:
    """Validate the shapes of queries (B, L, ·), keys (B, S, ·) and values (B, S, ·).

    ``query_size``/``key_size``, when given, are the last-axis sizes the caller
    expects. Raises TypeError for non-tensors and for non-float or mixed dtypes,
    ValueError for wrong ranks, batch sizes, lengths, sizes or devices and for NaN
    or infinite entries, each message naming what was expected and what came.
    """
    for name, x in (("queries", queries), ("keys", keys), ("values", values)):
        _check_tensor(name, x)
    check_same_dtype({"queries": queries, "keys": keys, "values": values})
    if not queries.device == keys.device == values.device:
        raise ValueError(
            "queries, keys and values must be on the same device: "
            f"got {queries.device}, {keys.device} and {values.device}"
        )
    if not queries.shape[0] == keys.shape[0] == values.shape[0]:
        raise ValueError(
            "queries, keys and values must have the same batch size B: "
            f"got {queries.shape[0]}, {keys.shape[0]} and {values.shape[0]}"
        )
    if keys.shape[1] != values.shape[1]:
        raise ValueError(f"keys and values must have the same length S: got {keys.shape[1]} and {values.shape[1]}")
    check_has_keys(keys.shape[1])
    if query_size is not None and queries.shape[-1] != query_size:
        raise ValueError(f"queries must have size {query_size} in their last dimension, got {queries.shape[-1]}")
    if key_size is not None and keys.shape[-1] != key_size:
        raise ValueError(f"keys must have size {key_size} in their last dimension, got {keys.shape[-1]}")
    for name, x in (("queries", queries), ("keys", keys), ("values", values)):
        # NaN or inf spreads to every output of its example: even a padded value times weight 0 is NaN
        if not torch.isfinite(x).all():
            raise ValueError(f"{name} must be finite: got {int((~torch.isfinite(x)).sum())} NaN or infinite entries")


class _Attention(nn.Module):
    """Shared tail of every scoring class: masked softmax, dropout, weighted sum."""

    def __init__(self, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(check_dropout(dropout))

    def _attend(self, scores, values, valid_lens, attn_mask, need_weights):
        check_bool("need_weights", need_weights)
        weights = masked_softmax(scores, valid_lens, attn_mask=attn_mask)  # (B, L, S)
        output = torch.bmm(self.dropout(weights), values)  # (B, L, S) @ (B, S, Ev) -> (B, L, Ev)
        return (output, weights) if need_weights else output


class DotProductAttention(_Attention):
    """Scaled dot-product attention: ``softmax(Q K^T / sqrt(D)) V``.

    Args:
        dropout: dropout probability on the attention weights.
        scaled: divide the scores by sqrt(D) (True, as in the Transformer), or
            not (plain dot-product attention).

    Queries and keys must have the same size D >= 1. With ``scaled=True`` and no
    dropout this equals :func:`torch.nn.functional.scaled_dot_product_attention`
    with ``attn_mask = attn.valid_lens_to_mask(valid_lens, L, S)`` (and ``&`` the
    ``attn_mask``), a query with no valid key included: both give it the zero
    vector and zero gradients. (Checked with PyTorch 2.13 on CPU, whose SDPA
    zeroes fully masked rows; older releases returned NaN for them.)
    """

    def __init__(self, dropout: float = 0.0, scaled: bool = True):
        super().__init__(dropout)
        self.scaled = check_bool("scaled", scaled)

    def forward(self, queries, keys, values, valid_lens=None, need_weights=False, attn_mask=None):
        """queries (B, L, D), keys (B, S, D), values (B, S, Ev) -> output (B, L, Ev) [, weights (B, L, S)]."""
        check_qkv(queries, keys, values)
        if queries.shape[-1] != keys.shape[-1]:
            raise ValueError(
                "dot-product attention needs queries and keys of the same size D: "
                f"got {queries.shape[-1]} and {keys.shape[-1]} (use AdditiveAttention for different sizes)"
            )
        if queries.shape[-1] == 0:  # every score 0 / sqrt(0) = NaN
            raise ValueError("dot-product attention needs queries and keys of size D >= 1, got D = 0")
        scores = torch.bmm(queries, keys.transpose(1, 2))  # (B, L, D) @ (B, D, S) -> (B, L, S)
        if self.scaled:
            scores = scores / math.sqrt(queries.shape[-1])
        return self._attend(scores, values, valid_lens, attn_mask, need_weights)


class AdditiveAttention(_Attention):
    """Additive (Bahdanau) attention: ``a(q, k) = w_v^T tanh(W_q q + W_k k)``.

    Args:
        key_size: size of each key.
        query_size: size of each query (may differ from ``key_size``).
        num_hiddens: size h of the hidden layer that queries and keys are mapped to.
        dropout: dropout probability on the attention weights.

    Parameters: ``num_hiddens * (query_size + key_size + 1)``. The hidden
    features have shape (B, L, S, num_hiddens), so memory grows with L * S * h.
    """

    def __init__(self, key_size: int, query_size: int, num_hiddens: int, dropout: float = 0.0):
        super().__init__(dropout)
        for name, size in (("key_size", key_size), ("query_size", query_size), ("num_hiddens", num_hiddens)):
            check_int(name, size, minimum=1)
        self.key_size, self.query_size = key_size, query_size
        self.W_k = nn.Linear(key_size, num_hiddens, bias=False)
        self.W_q = nn.Linear(query_size, num_hiddens, bias=False)
        self.w_v = nn.Linear(num_hiddens, 1, bias=False)

    def forward(self, queries, keys, values, valid_lens=None, need_weights=False, attn_mask=None):
        """queries (B, L, query_size), keys (B, S, key_size), values (B, S, Ev) -> output (B, L, Ev) [, weights]."""
        check_qkv(queries, keys, values, self.query_size, self.key_size)
        scores = self.score(queries, self.project_keys(keys))  # (B, L, S)
        return self._attend(scores, values, valid_lens, attn_mask, need_weights)

    def project_keys(self, keys: torch.Tensor) -> torch.Tensor:
        """W_k k for every key: (B, S, key_size) -> (B, S, h).

        A decoder that scores many queries against the same keys, one step at a
        time, projects the keys once and passes the result to :meth:`score`.
        """
        _check_tensor("keys", keys)
        if keys.shape[-1] != self.key_size:
            raise ValueError(f"keys must have size {self.key_size} in their last dimension, got {keys.shape[-1]}")
        return self.W_k(keys)  # (B, S, key_size) -> (B, S, h)

    def score(self, queries: torch.Tensor, projected_keys: torch.Tensor) -> torch.Tensor:
        """Additive scores of queries (B, L, query_size) against projected keys (B, S, h) -> (B, L, S).

        Checks shapes and dtypes only (cheap, for a decoder calling it every step);
        :meth:`forward` also checks that the inputs are finite.
        """
        _check_tensor("queries", queries)
        _check_tensor("projected_keys", projected_keys)
        num_hiddens = self.W_k.out_features
        if queries.shape[-1] != self.query_size:
            raise ValueError(f"queries must have size {self.query_size} in their last dimension, "
                             f"got {queries.shape[-1]}")
        if projected_keys.shape[-1] != num_hiddens:
            raise ValueError(f"projected_keys must have size num_hiddens = {num_hiddens} in their last dimension, "
                             f"got {projected_keys.shape[-1]} (pass keys through project_keys first)")
        if queries.shape[0] != projected_keys.shape[0]:
            raise ValueError(f"queries and projected_keys must have the same batch size B: "
                             f"got {queries.shape[0]} and {projected_keys.shape[0]}")
        if queries.dtype != projected_keys.dtype:
            raise TypeError(f"queries and projected_keys must have the same dtype: "
                            f"got {queries.dtype} and {projected_keys.dtype}")
        q = self.W_q(queries)  # (B, L, query_size) -> (B, L, h)
        features = torch.tanh(q.unsqueeze(2) + projected_keys.unsqueeze(1))  # (B, L, 1, h) + (B, 1, S, h) -> (B, L, S, h)
        return self.w_v(features).squeeze(-1)  # (B, L, S, h) -> (B, L, S, 1) -> (B, L, S)


class MultiplicativeAttention(_Attention):
    """Multiplicative ("general", Luong) attention: ``a(q, k) = q^T W k``.

    Args:
        query_size: size of each query.
        key_size: size of each key (may differ from ``query_size``).
        dropout: dropout probability on the attention weights.

    Parameters: ``query_size * key_size`` (the matrix W, no bias). With
    ``query_size == key_size`` and W the identity it is unscaled dot-product
    attention.
    """

    def __init__(self, query_size: int, key_size: int, dropout: float = 0.0):
        super().__init__(dropout)
        for name, size in (("query_size", query_size), ("key_size", key_size)):
            check_int(name, size, minimum=1)
        self.query_size, self.key_size = query_size, key_size
        self.W = nn.Linear(key_size, query_size, bias=False)

    def forward(self, queries, keys, values, valid_lens=None, need_weights=False, attn_mask=None):
        """queries (B, L, query_size), keys (B, S, key_size), values (B, S, Ev) -> output (B, L, Ev) [, weights]."""
        check_qkv(queries, keys, values, self.query_size, self.key_size)
        projected = self.W(keys)  # (B, S, key_size) -> (B, S, query_size)
        scores = torch.bmm(queries, projected.transpose(1, 2))  # (B, L, q) @ (B, q, S) -> (B, L, S)
        return self._attend(scores, values, valid_lens, attn_mask, need_weights)
