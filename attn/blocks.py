"""The blocks of a Transformer: the position-wise FFN, Add & Norm, encoder and decoder blocks.

Every block is a sublayer wrapped in a residual connection and a LayerNorm
(:class:`AddNorm`): post-norm ``LN(x + sublayer(x))`` as in Vaswani et al.
(2017), or pre-norm ``x + sublayer(LN(x))`` with ``norm_first=True``. An
encoder block has self-attention and a :class:`PositionWiseFFN`; a decoder
block has causal self-attention, encoder-decoder attention and the FFN. With
copied weights the blocks equal ``nn.TransformerEncoderLayer`` and
``nn.TransformerDecoderLayer`` (``batch_first=True, activation="relu"``, the
same ``norm_first``). Pre-norm and post-norm blocks check their inputs alike,
before the first LayerNorm, so both give the same messages.

The model that stacks them is in :mod:`attn.transformer`. Shapes (package
legend): B batch, H heads, S source length, T target length, t tokens decoded
so far, E model width, D = E / H head width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from attn.checks import check_bool, check_dropout, check_int, check_sequence, check_tensor
from attn.masking import masked_softmax
from attn.multihead import MultiHeadAttention, fused_attention, merge_heads, split_heads

__all__ = ["AddNorm", "LayerCache", "PositionWiseFFN", "TransformerDecoderBlock",
           "TransformerEncoderBlock"]


@dataclass
class LayerCache:
    """One decoder block's cache: self-attention ``keys``/``values`` (B, H, t, D) of the t
    tokens read so far, and the encoder-decoder ``cross_keys``/``cross_values`` (B, H, S, D)."""

    keys: torch.Tensor
    values: torch.Tensor
    cross_keys: torch.Tensor
    cross_values: torch.Tensor


class PositionWiseFFN(nn.Module):
    """Two linear layers with a ReLU between, applied to every position alone.

    ``FFN(x) = W_2 dropout(relu(W_1 x + b_1)) + b_2``: the same weights at every
    position, so it equals two 1 x 1 convolutions over the sequence.

    Args:
        num_hiddens: E, input and output width.
        ffn_hiddens: width of the hidden layer.
        dropout: dropout on the hidden layer (training only).

    Forward: (B, L, E) -> (B, L, E).
    """

    def __init__(self, num_hiddens: int, ffn_hiddens: int, dropout: float = 0.0):
        super().__init__()
        check_int("num_hiddens", num_hiddens, minimum=1)
        check_int("ffn_hiddens", ffn_hiddens, minimum=1)
        self.num_hiddens = num_hiddens
        self.dense1 = nn.Linear(num_hiddens, ffn_hiddens)
        self.dense2 = nn.Linear(ffn_hiddens, num_hiddens)
        self.dropout = nn.Dropout(check_dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, floating=True)
        if x.dim() < 1 or x.shape[-1] != self.num_hiddens:
            raise ValueError(f"x must have size E = {self.num_hiddens} in its last dimension, "
                             f"got shape {tuple(x.shape)}")
        if x.dtype != self.dense1.weight.dtype:
            raise TypeError(f"x must have the module's dtype {self.dense1.weight.dtype}, "
                            f"got {x.dtype}")
        return self.dense2(self.dropout(torch.relu(self.dense1(x))))  # (B, L, F) -> (B, L, E)


class AddNorm(nn.Module):
    """Residual connection and LayerNorm around a sublayer, post-norm or pre-norm.

    A block calls ``h = addnorm.prepare(x)``, computes ``y = sublayer(h)``, then
    ``addnorm(x, y)``:

    * post-norm (``norm_first=False``, the paper): ``h = x``, output ``LN(x + dropout(y))``;
    * pre-norm (``norm_first=True``): ``h = LN(x)``, output ``x + dropout(y)``, so the
      residual path from input to output passes no normalization.

    Args:
        num_hiddens: E, the width LayerNorm normalizes over (each position alone).
        dropout: dropout on the sublayer output (training only).
        norm_first: pre-norm when True.
    """

    def __init__(self, num_hiddens: int, dropout: float = 0.0, norm_first: bool = False):
        super().__init__()
        check_int("num_hiddens", num_hiddens, minimum=1)
        self.norm = nn.LayerNorm(num_hiddens)
        self.dropout = nn.Dropout(check_dropout(dropout))
        self.norm_first = check_bool("norm_first", norm_first)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """The sublayer's input: LN(x) for pre-norm, x itself for post-norm."""
        self._check("x", x)
        return self.norm(x) if self.norm_first else x

    def _check(self, name: str, x) -> None:
        check_tensor(name, x, floating=True)
        width = self.norm.normalized_shape[0]
        if x.dim() < 1 or x.shape[-1] != width:
            raise ValueError(f"{name} must have size E = {width} in its last dimension, "
                             f"got shape {tuple(x.shape)}")

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``x`` (B, L, E), the block's input, and ``y`` (B, L, E), the sublayer's output."""
        self._check("x", x)
        check_tensor("y", y, floating=True)
        if x.shape != y.shape:
            raise ValueError(f"x and y must have the same shape (B, L, E): got {tuple(x.shape)} "
                             f"and {tuple(y.shape)}")
        y = self.dropout(y)
        return x + y if self.norm_first else self.norm(x + y)


def _attention(mha: MultiHeadAttention, queries, keys, values, need_weights, **masks):
    """``mha`` as (output, weights or None), whatever ``need_weights`` is."""
    if need_weights:
        return mha(queries, keys, values, need_weights=True, **masks)
    return mha(queries, keys, values, **masks), None


def _attend_cached(mha: MultiHeadAttention, x, keys, values, attn_mask=None, need_weights=False):
    """One query per row against keys and values that ``mha`` has already projected.

    ``x`` (B, 1, E); ``keys``, ``values`` (B, H, S, D); ``attn_mask`` None or bool
    (B, 1, S), True = may attend. Returns output (B, 1, E) and weights (B, H, 1, S)
    or None, computed as in :class:`attn.MultiHeadAttention` (fused SDPA without
    weights). No dropout: the cache serves decoding, in eval mode.
    """
    q = split_heads(mha.W_q(x), mha.num_heads)  # (B, 1, E) -> (B, H, 1, D)
    if not need_weights:
        mask = None if attn_mask is None else attn_mask.unsqueeze(1)  # (B, 1, 1, S): every head
        heads = fused_attention(q, keys, values, attn_mask=mask)  # (B, H, 1, D)
        return mha.W_o(merge_heads(heads)), None
    scores = q @ keys.transpose(-2, -1) / math.sqrt(mha.head_dim)  # (B, H, 1, D) @ (B, H, D, S)
    if attn_mask is None:
        weights = torch.softmax(scores, dim=-1)  # (B, H, 1, S)
    else:
        batch, heads, _, num_keys = scores.shape
        mask = attn_mask.unsqueeze(1).expand(-1, heads, -1, -1).reshape(batch * heads, 1, num_keys)
        weights = masked_softmax(scores.reshape(batch * heads, 1, num_keys), attn_mask=mask,
                                 check_finite=False)
        weights = weights.view(scores.shape)  # (B H, 1, S) -> (B, H, 1, S)
    return mha.W_o(merge_heads(weights @ values)), weights  # (B, H, 1, D) -> (B, 1, E)


def _check_block_args(num_hiddens, num_heads, ffn_hiddens, dropout, norm_first) -> None:
    """The arguments every block takes, checked as :class:`attn.TransformerConfig` checks them."""
    for name, n in (("num_hiddens", num_hiddens), ("num_heads", num_heads),
                    ("ffn_hiddens", ffn_hiddens)):
        check_int(name, n, minimum=1)
    check_dropout(dropout)
    check_bool("norm_first", norm_first)


def _check_block_input(block: nn.Module, name: str, x) -> None:
    """x (B, L, E) in the block's dtype, checked before any LayerNorm (pre- or post-norm)."""
    weight = block.addnorm1.norm.weight
    check_sequence(name, x, weight.shape[0], weight.dtype)


class TransformerEncoderBlock(nn.Module):
    """Self-attention then the position-wise FFN, each inside an :class:`AddNorm`.

    Args:
        num_hiddens: E; num_heads: H (E divisible by H); ffn_hiddens: FFN hidden width;
        dropout: dropout probability; norm_first: pre-norm when True.
    """

    def __init__(self, num_hiddens: int, num_heads: int, ffn_hiddens: int, dropout: float = 0.0,
                 norm_first: bool = False):
        super().__init__()
        _check_block_args(num_hiddens, num_heads, ffn_hiddens, dropout, norm_first)
        self.attention = MultiHeadAttention(num_hiddens, num_heads, dropout, bias=True)
        self.addnorm1 = AddNorm(num_hiddens, dropout, norm_first)
        self.ffn = PositionWiseFFN(num_hiddens, ffn_hiddens, dropout)
        self.addnorm2 = AddNorm(num_hiddens, dropout, norm_first)

    def forward(self, x: torch.Tensor, valid_lens: torch.Tensor | None = None,
                need_weights: bool = False):
        """``x`` (B, S, E); ``valid_lens`` None or (B,): keys past it are padding.

        Returns ``(output (B, S, E), weights (B, H, S, S) or None)``.
        """
        _check_block_input(self, "x", x)
        check_bool("need_weights", need_weights)
        h = self.addnorm1.prepare(x)
        y, weights = _attention(self.attention, h, h, h, need_weights, valid_lens=valid_lens)
        x = self.addnorm1(x, y)
        return self.addnorm2(x, self.ffn(self.addnorm2.prepare(x))), weights


class TransformerDecoderBlock(nn.Module):
    """Causal self-attention, encoder-decoder attention and the FFN, each inside an AddNorm.

    Arguments as for :class:`TransformerEncoderBlock`.
    """

    def __init__(self, num_hiddens: int, num_heads: int, ffn_hiddens: int, dropout: float = 0.0,
                 norm_first: bool = False):
        super().__init__()
        _check_block_args(num_hiddens, num_heads, ffn_hiddens, dropout, norm_first)
        self.self_attention = MultiHeadAttention(num_hiddens, num_heads, dropout, bias=True)
        self.addnorm1 = AddNorm(num_hiddens, dropout, norm_first)
        self.cross_attention = MultiHeadAttention(num_hiddens, num_heads, dropout, bias=True)
        self.addnorm2 = AddNorm(num_hiddens, dropout, norm_first)
        self.ffn = PositionWiseFFN(num_hiddens, ffn_hiddens, dropout)
        self.addnorm3 = AddNorm(num_hiddens, dropout, norm_first)

    def forward(self, x: torch.Tensor, enc_outputs: torch.Tensor,
                src_valid_lens: torch.Tensor | None = None, need_weights: bool = False):
        """All T target positions at once, position i seeing positions 0..i only.

        Args:
            x: (B, T, E) block input; enc_outputs: (B, S, E);
            src_valid_lens: None or (B,), real source tokens.

        Returns:
            ``(output (B, T, E), self weights (B, H, T, T), cross weights (B, H, T, S))``,
            the weights None unless ``need_weights``.
        """
        _check_block_input(self, "x", x)
        _check_block_input(self, "enc_outputs", enc_outputs)
        if x.shape[0] != enc_outputs.shape[0]:
            raise ValueError(f"x and enc_outputs must have the same batch size B: "
                             f"got {x.shape[0]} and {enc_outputs.shape[0]}")
        check_bool("need_weights", need_weights)
        h = self.addnorm1.prepare(x)
        y, self_w = _attention(self.self_attention, h, h, h, need_weights, is_causal=True)
        x = self.addnorm1(x, y)
        h = self.addnorm2.prepare(x)
        y, cross_w = _attention(self.cross_attention, h, enc_outputs, enc_outputs, need_weights,
                                valid_lens=src_valid_lens)
        x = self.addnorm2(x, y)
        return self.addnorm3(x, self.ffn(self.addnorm3.prepare(x))), self_w, cross_w

    def cross_keys_values(self, enc_outputs: torch.Tensor):
        """The encoder-decoder attention's keys and values, (B, H, S, D) each: fixed per sentence."""
        heads = self.cross_attention.num_heads
        return (split_heads(self.cross_attention.W_k(enc_outputs), heads),
                split_heads(self.cross_attention.W_v(enc_outputs), heads))

    def step(self, x: torch.Tensor, cache: "LayerCache", cross_mask: torch.Tensor,
             need_weights: bool = False):
        """Decode one position with the key-value cache.

        Args:
            x: (B, 1, E), the block input at the new position t.
            cache: this block's :class:`LayerCache` (self keys/values of positions < t).
            cross_mask: (B, 1, S) bool, True on real source tokens.

        Returns:
            ``(output (B, 1, E), new cache (t + 1 positions), cross weights (B, H, 1, S)
            or None unless need_weights)``.
        """
        mha = self.self_attention
        h = self.addnorm1.prepare(x)  # (B, 1, E)
        keys = torch.cat([cache.keys, split_heads(mha.W_k(h), mha.num_heads)], dim=2)  # (B, H, t+1, D)
        values = torch.cat([cache.values, split_heads(mha.W_v(h), mha.num_heads)], dim=2)
        y, _ = _attend_cached(mha, h, keys, values)  # the new token sees every earlier one: no mask
        x = self.addnorm1(x, y)
        y, cross_w = _attend_cached(self.cross_attention, self.addnorm2.prepare(x), cache.cross_keys,
                                    cache.cross_values, cross_mask, need_weights)
        x = self.addnorm2(x, y)
        out = self.addnorm3(x, self.ffn(self.addnorm3.prepare(x)))
        return out, LayerCache(keys, values, cache.cross_keys, cache.cross_values), cross_w
