"""Positional information for attention: sinusoidal, learned and rotary encodings.

Self-attention treats its input as a set: permute the tokens and the outputs
permute the same way. Position has to be added to the tokens.

* :func:`sinusoidal_encoding` and :class:`PositionalEncoding`: the fixed
  encoding of the Transformer (Vaswani et al., 2017), added to the input::

      P[i, 2j]     = sin(i / base^(2j / E))
      P[i, 2j + 1] = cos(i / base^(2j / E))

  Each pair of columns (2j, 2j + 1) is a point on a circle that turns by the
  angle w_j = base^(-2j / E) per position, so ``P[i + delta] = P[i] @ M.T`` with
  ``M = relative_shift_matrix(E, delta)``, the same M for every position i.
* :class:`LearnedPositionalEmbedding`: one trained vector per position.
* :func:`apply_rope`: rotary position embedding (Su et al., 2021), which
  rotates queries and keys instead of adding to the input, so that their dot
  product depends on positions only through their difference. Fractional
  positions give position interpolation (Chen et al., 2023): a model trained on
  L tokens reads L' > L with its positions scaled by L / L'.
* :func:`alibi_slopes` and :func:`alibi_bias`: attention with linear biases
  (ALiBi, Press et al., 2022). Nothing is added to the input; head h adds
  ``-m_h |i - j|`` to the score of query i and key j, a penalty that grows with
  the distance, at a rate (slope) m_h of its own. The bias goes to
  :class:`attn.MultiHeadAttention` as ``attn_bias``, and to
  :func:`torch.nn.functional.scaled_dot_product_attention` as a float
  ``attn_mask`` (:func:`additive_mask`).

A causal model can also go without any of these: its mask alone lets it count
the tokens before each position (Haviv et al., 2022); :class:`attn.GPT` takes
``positions="none"``.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import nn

from attn.checks import check_dropout, check_int, check_integer_tensor, check_sequence, check_tensor


def _check_positive_int(name: str, value) -> None:
    check_int(name, value, minimum=1)


def _check_even(name: str, value: int) -> None:
    if value % 2:
        raise ValueError(f"{name} must be even (the encoding pairs up dimensions), got {value}")


def _check_base(base) -> None:
    if isinstance(base, bool) or not isinstance(base, numbers.Real):
        raise TypeError(f"base must be a number > 1, got {base!r} ({type(base).__name__})")
    if not 1 < base < float("inf"):  # also refuses NaN
        raise ValueError(f"base must be a finite number > 1, got {base!r}")


def _check_dtype(dtype) -> None:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")


def frequencies(num_hiddens: int, base: float = 10000.0, dtype=torch.float32) -> torch.Tensor:
    """The angular frequencies w_j = base^(-2j / E), j = 0..E/2-1: shape (E/2,), from 1 down."""
    _check_positive_int("num_hiddens", num_hiddens)
    _check_even("num_hiddens", num_hiddens)
    _check_base(base)
    _check_dtype(dtype)
    exponents = torch.arange(0, num_hiddens, 2, dtype=torch.float64) / num_hiddens  # 2j / E
    return (float(base) ** -exponents).to(dtype)  # computed in float64, then rounded once


def sinusoidal_encoding(max_len: int, num_hiddens: int, base: float = 10000.0,
                        dtype=torch.float32) -> torch.Tensor:
    """The matrix P of shape (max_len, E): sines in even columns, cosines in odd ones."""
    _check_positive_int("max_len", max_len)
    _check_dtype(dtype)
    omega = frequencies(num_hiddens, base, torch.float64)  # (E/2,)
    angles = torch.arange(max_len, dtype=torch.float64)[:, None] * omega  # (max_len, 1) * (E/2,)
    P = torch.empty(max_len, num_hiddens, dtype=torch.float64)
    P[:, 0::2] = torch.sin(angles)  # (max_len, E/2)
    P[:, 1::2] = torch.cos(angles)
    return P.to(dtype)


def relative_shift_matrix(num_hiddens: int, delta: int, base: float = 10000.0,
                          dtype=torch.float32) -> torch.Tensor:
    """The (E, E) matrix M with ``P[i + delta] = M @ P[i]`` for every position i.

    Block diagonal: block j is the 2 x 2 rotation by the angle delta * w_j,
    ``[[cos, sin], [-sin, cos]]`` acting on the pair (sin, cos) of column pair j.
    It depends on delta (any int, negative too), never on i.
    """
    if isinstance(delta, bool) or not isinstance(delta, numbers.Integral):
        raise TypeError(f"delta must be an int, got {type(delta).__name__}")
    _check_dtype(dtype)
    theta = delta * frequencies(num_hiddens, base, torch.float64)  # (E/2,)
    cos, sin = torch.cos(theta), torch.sin(theta)
    M = torch.zeros(num_hiddens, num_hiddens, dtype=torch.float64)
    even, odd = torch.arange(0, num_hiddens, 2), torch.arange(1, num_hiddens, 2)
    # sin(a + b) = sin a cos b + cos a sin b;  cos(a + b) = cos a cos b - sin a sin b
    M[even, even], M[even, odd] = cos, sin
    M[odd, even], M[odd, odd] = -sin, cos
    return M.to(dtype)


class PositionalEncoding(nn.Module):
    """Add the sinusoidal encoding to a batch of sequences, then dropout.

    Args:
        num_hiddens: model width E, even.
        dropout: dropout probability applied to ``x + P`` (training only).
        max_len: the longest sequence the module accepts.
        base: the wavelength scale (10000 in the Transformer).

    Attributes:
        P: buffer (max_len, E), the encoding matrix in float32 (no parameters).

    Forward: x (B, L, E) of any float dtype, ``offset + L <= max_len`` ->
    ``x + P[offset:offset + L]``, shape (B, L, E), in x's dtype. The encoding is
    computed in x's dtype from the closed form (rounded once), so float64 input
    gets the float64 encoding, not float32's rounded to float64.
    """

    def __init__(self, num_hiddens: int, dropout: float = 0.0, max_len: int = 1000,
                 base: float = 10000.0):
        super().__init__()
        _check_positive_int("max_len", max_len)
        P = sinusoidal_encoding(max_len, num_hiddens, base)  # checks num_hiddens and base
        self.num_hiddens, self.max_len, self.base = num_hiddens, max_len, float(base)
        self.dropout = nn.Dropout(check_dropout(dropout))
        self.register_buffer("P", P, persistent=False)

    def encoding(self, length: int, offset: int = 0, dtype: torch.dtype = torch.float32,
                 device=None) -> torch.Tensor:
        """Rows ``offset`` to ``offset + length - 1`` of P, (length, E), in ``dtype``."""
        check_int("offset", offset)
        if offset + length > self.max_len:
            raise ValueError(f"sequences may have at most max_len = {self.max_len} tokens, "
                             f"got positions up to {offset + length - 1}")
        if dtype == self.P.dtype == torch.float32:
            return self.P[offset:offset + length]  # a view of the buffer
        table = sinusoidal_encoding(offset + length, self.num_hiddens, self.base, dtype=dtype)
        return table[offset:].to(self.P.device if device is None else device)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """x (B, L, E) -> x + P[offset:offset + L], then dropout; ``offset`` an int >= 0."""
        check_sequence("x", x, self.num_hiddens, max_len=self.max_len)
        table = self.encoding(x.shape[1], offset, x.dtype, x.device)  # (L, E)
        return self.dropout(x + table)  # (B, L, E) + (L, E)


class LearnedPositionalEmbedding(nn.Module):
    """Add one trained vector per position (as in BERT and GPT), then dropout.

    Args:
        num_hiddens: model width E.
        max_len: number of positions that have a vector; longer inputs are an
            error, since no vector was ever trained for them.
        dropout: dropout probability applied to the sum.

    Forward: x (B, L, E), L <= max_len -> x + embedding[:L], shape (B, L, E), in
    x's dtype (float16 input stays float16; the vectors are rounded to it).
    """

    def __init__(self, num_hiddens: int, max_len: int, dropout: float = 0.0):
        super().__init__()
        _check_positive_int("num_hiddens", num_hiddens)
        _check_positive_int("max_len", max_len)
        self.num_hiddens, self.max_len = num_hiddens, max_len
        self.embedding = nn.Embedding(max_len, num_hiddens)
        self.dropout = nn.Dropout(check_dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_sequence("x", x, self.num_hiddens, max_len=self.max_len)
        vectors = self.embedding.weight[: x.shape[1]].to(x.dtype)  # (L, E)
        return self.dropout(x + vectors)  # (B, L, E) + (L, E)


def apply_rope(x: torch.Tensor, positions: torch.Tensor | None = None,
               base: float = 10000.0) -> torch.Tensor:
    """Rotary position embedding: rotate each pair of features by an angle that grows with position.

    Args:
        x: queries or keys, float tensor (..., L, D) with D even, for example
            (B, L, D) or (B, H, L, D) after splitting heads.
        positions: optional int tensor (L,), the position of each token,
            or (B, L): positions of each batch row's own (left-padded rows start
            later), with B = x.shape[0]; defaults to 0, 1, ..., L-1. Float
            positions are allowed: position interpolation passes
            ``positions * L_train / L``.
        base: the wavelength scale, as in :func:`sinusoidal_encoding`.

    Returns:
        Tensor of the shape and dtype of x. The pair (x[2j], x[2j+1]) at position
        m is rotated by the angle m * w_j, so that for rotated q at m and k at n,
        ``q_m . k_n`` depends on m - n only. Norms are unchanged.
    """
    check_tensor("x", x, floating=True)
    if x.dim() < 2:
        raise ValueError(f"x must have shape (..., L, D) (at least 2 dimensions), got {tuple(x.shape)}")
    length, dim = x.shape[-2], x.shape[-1]
    _check_even("the head width D", dim)
    if positions is None:
        positions = torch.arange(length, device=x.device)
    check_tensor("positions", positions)
    if positions.dtype == torch.bool or positions.is_complex():
        raise TypeError(f"positions must be an integer or float tensor, got {positions.dtype}")
    per_row = positions.dim() == 2 and x.dim() >= 3
    if tuple(positions.shape) != (length,) and not (
            per_row and tuple(positions.shape) == (x.shape[0], length)):
        wanted = f"(L,) = ({length},)" + (f" or (B, L) = ({x.shape[0]}, {length})"
                                          if x.dim() >= 3 else "")
        raise ValueError(f"positions must have shape {wanted}, got {tuple(positions.shape)}")
    theta = positions.to(torch.float64)[..., None] * frequencies(dim, base, torch.float64)
    if per_row:  # (B, L, D/2) -> (B, 1, ..., 1, L, D/2): every head alike
        theta = theta.reshape(x.shape[0], *[1] * (x.dim() - 3), length, dim // 2)
    cos, sin = torch.cos(theta).to(x.dtype), torch.sin(theta).to(x.dtype)  # (..., L, D/2)
    even, odd = x[..., 0::2], x[..., 1::2]  # (..., L, D/2) each
    rotated = torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1)  # (..., L, D/2, 2)
    return rotated.flatten(-2)  # interleave back: (..., L, D)


def alibi_slopes(num_heads: int, dtype=torch.float32) -> torch.Tensor:
    """The ALiBi slope of each head, shape (H,), with the rule of Press et al. (2022).

    For H a power of two the slopes are the geometric sequence
    ``2^(-8/H), 2^(-16/H), ..., 2^(-8)``: for 8 heads 1/2, 1/4, ..., 1/256. For
    other H, as in the paper's code: the slopes of the largest power of two
    n < H, followed by every other slope of 2n (the first, third, ...) until H
    are there. For 6 heads: 1/4, 1/16, 1/64, 1/256, then 1/2, 1/8.
    """
    check_int("num_heads", num_heads, minimum=1)
    _check_dtype(dtype)

    def power_of_two(n: int) -> list[float]:  # 2^(-8 h / n), h = 1..n
        return [2.0 ** (-8.0 * h / n) for h in range(1, n + 1)]

    n = 2 ** int(math.floor(math.log2(num_heads)))
    slopes = power_of_two(n) + power_of_two(2 * n)[0::2][:num_heads - n]
    return torch.tensor(slopes, dtype=torch.float64).to(dtype)


def alibi_bias(slopes: torch.Tensor, num_queries: int, num_keys: int | None = None
               ) -> torch.Tensor:
    """The ALiBi biases of H heads for L queries and S keys: shape (H, L, S).

    Args:
        slopes: (H,) float tensor, from :func:`alibi_slopes`.
        num_queries: L.
        num_keys: S >= L (default L). The queries are the last L of the S
            positions, as when a cache holds S - L earlier tokens: query i
            stands at position ``S - L + i``.

    Returns:
        ``bias[h, i, j] = -slopes[h] * |S - L + i - j|``, in the dtype and on the
        device of ``slopes``. On the keys a causal query sees (j up to its own
        position) this is the paper's ``-m (i - j)``; the keys after it get the
        symmetric penalty, which a causal mask removes anyway. The bias depends
        on positions only through their difference, so left padding, which
        shifts queries and keys alike, leaves it unchanged.
    """
    check_tensor("slopes", slopes, floating=True)
    if slopes.dim() != 1:
        raise ValueError(f"slopes must have shape (H,), got {tuple(slopes.shape)}")
    check_int("num_queries", num_queries, minimum=1)
    num_keys = num_queries if num_keys is None else num_keys
    check_int("num_keys", num_keys, minimum=1)
    if num_keys < num_queries:
        raise ValueError(f"num_keys must be at least num_queries (the queries are the last "
                         f"of the keys' positions): got {num_keys} and {num_queries}")
    device = slopes.device
    rows = torch.arange(num_keys - num_queries, num_keys, device=device)[:, None]  # (L, 1)
    penalty = -(rows - torch.arange(num_keys, device=device)).abs()  # (L, S): -|i - j|
    return slopes[:, None, None] * penalty.to(slopes.dtype)  # (H, 1, 1) * (L, S); 0, not -0


def additive_mask(bias: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
    """A float ``attn_mask`` for SDPA: ``bias`` where ``attn_mask`` allows, -inf elsewhere.

    Args:
        bias: float tensor broadcastable with ``attn_mask``, e.g. (H, L, S) from
            :func:`alibi_bias`.
        attn_mask: None, or bool (..., L, S), True = may attend.

    Returns:
        ``torch.nn.functional.scaled_dot_product_attention(q, k, v,
        attn_mask=additive_mask(bias, mask))`` adds ``bias`` to the scores and
        gives masked keys zero weight. A query row with no allowed key gets the
        bias row instead of -inf everywhere (which would give NaN): its weights
        are meaningless and the caller must zero its output, as
        :class:`attn.MultiHeadAttention` does.
    """
    check_tensor("bias", bias, floating=True)
    if attn_mask is None:
        return bias
    if not isinstance(attn_mask, torch.Tensor) or attn_mask.dtype != torch.bool:
        raise TypeError("attn_mask must be a bool tensor (True = may attend) or None")
    has_key = attn_mask.any(dim=-1, keepdim=True)  # (..., L, 1)
    return bias.masked_fill(~attn_mask & has_key, float("-inf"))  # broadcasts to both shapes
