"""Masks and the masked softmax.

A mask says which keys each query may look at. The book uses two forms:

* ``valid_lens``: integer tensor of shape (B,) or (B, L). Query ``i`` of example
  ``b`` may attend to the first ``valid_lens[b]`` (or ``valid_lens[b, i]``) keys;
  the rest are padding.
* ``attn_mask``: boolean tensor, True where a query may attend to a key, as in
  :func:`torch.nn.functional.scaled_dot_product_attention`.

:func:`masked_softmax` gives masked keys exactly zero weight. A query with no
key to attend to at all (valid length 0, or an all-False mask row) gets a row of
zeros, so its output is the zero vector: a defined result, never NaN.
"""

from __future__ import annotations

import torch

from attn.checks import check_attn_mask, check_bool, check_int, check_integer_tensor, check_valid_lens


def mask_fill_value(dtype: torch.dtype) -> float:
    """The most negative finite value of ``dtype``: a finite "minus infinity" for scores.

    A hard-coded -1e6 overflows float16 to -inf; this value is right for float16
    and bfloat16 too. :func:`masked_softmax` does not use it: a finite fill ties
    with real scores that sit at the dtype's minimum, and then padding gets weight.
    It is kept for chapter 3, which compares it with -1e6 in float16, and for
    readers who fill a mask by hand.
    """
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"dtype must be a torch.dtype, got {type(dtype).__name__}")
    if not dtype.is_floating_point:
        raise TypeError(f"scores must be a floating-point tensor, got dtype {dtype}")
    return torch.finfo(dtype).min


def sequence_mask(valid_lens: torch.Tensor, max_len: int) -> torch.Tensor:
    """Boolean mask that is True on the first ``valid_lens`` positions.

    Args:
        valid_lens: integer tensor of any shape ``(*)``, entries in [0, max_len].
        max_len: length of the masked axis, an int >= 0.

    Returns:
        Bool tensor of shape ``(*, max_len)``; ``out[..., j] = j < valid_lens[...]``.

    Example: ``sequence_mask(torch.tensor([1, 3]), 4)`` is
    ``[[True, False, False, False], [True, True, True, False]]``.
    """
    check_integer_tensor("valid_lens", valid_lens)
    check_int("max_len", max_len)
    if valid_lens.numel() and (valid_lens.min() < 0 or valid_lens.max() > max_len):
        raise ValueError(
            f"valid_lens must lie in [0, {max_len}], "
            f"got values from {int(valid_lens.min())} to {int(valid_lens.max())}"
        )
    positions = torch.arange(max_len, device=valid_lens.device)  # (max_len,)
    return positions < valid_lens.unsqueeze(-1)  # (*, 1) against (max_len,) -> (*, max_len)


def valid_lens_to_mask(valid_lens: torch.Tensor | None, num_queries: int, num_keys: int,
                       batch: int | None = None) -> torch.Tensor | None:
    """Turn ``valid_lens`` into a boolean ``attn_mask`` of shape (B, L, S).

    Args:
        valid_lens: None, or integer tensor of shape (B,) or (B, L), entries in [0, S].
        num_queries: L, an int >= 0.
        num_keys: S, an int >= 0.
        batch: B, to check ``valid_lens`` against; defaults to ``valid_lens.shape[0]``.

    Returns:
        None when ``valid_lens`` is None (attend everywhere), else a bool tensor of
        shape (B, L, S), True where query ``i`` may attend to key ``j``. This is
        the ``attn_mask`` that :func:`torch.nn.functional.scaled_dot_product_attention`
        expects.
    """
    check_int("num_queries", num_queries)
    check_int("num_keys", num_keys)
    if batch is not None:
        check_int("batch", batch)
    if valid_lens is None:
        return None
    check_integer_tensor("valid_lens", valid_lens)
    if batch is None:
        if valid_lens.dim() == 0:
            raise ValueError("valid_lens must have shape (B,) or (B, L), got a 0-dimensional tensor")
        batch = valid_lens.shape[0]
    check_valid_lens(valid_lens, batch, num_queries, num_keys)
    if valid_lens.dim() == 1:
        valid_lens = valid_lens.unsqueeze(1).expand(batch, num_queries)  # (B,) -> (B, L)
    return sequence_mask(valid_lens, num_keys)  # (B, L, S)


def leave_one_out_mask(n: int) -> torch.Tensor:
    """Bool ``attn_mask`` of shape (n, n), True off the diagonal: query i may not see key i.

    Used when the queries are the training inputs themselves, so that no point
    predicts its own value from itself. Needs n >= 2, or a query has no key left.
    """
    check_int("n", n)
    if n < 2:
        raise ValueError(f"leave-one-out needs n >= 2 points, got {n!r}")
    return ~torch.eye(n, dtype=torch.bool)


def causal_mask(num_queries: int, num_keys: int, device=None) -> torch.Tensor:
    """Bool ``attn_mask`` (L, S), True on and below the diagonal: query i sees keys 0..i.

    The same lower-triangular mask that ``is_causal=True`` means in
    :func:`torch.nn.functional.scaled_dot_product_attention` (aligned top left).
    """
    check_int("num_queries", num_queries)
    check_int("num_keys", num_keys)
    return torch.ones(num_queries, num_keys, dtype=torch.bool, device=device).tril()


def masked_softmax(scores: torch.Tensor, valid_lens: torch.Tensor | None = None, *,
                   attn_mask: torch.Tensor | None = None, check_finite: bool = True) -> torch.Tensor:
    """Softmax over the last axis that gives masked keys exactly zero weight.

    Args:
        scores: float tensor of shape (B, L, S), attention scores of L queries
            against S keys. Not modified. A score of -inf means "may not attend",
            as in PyTorch's float masks; NaN or +inf where a query may attend is
            an error.
        valid_lens: optional integer tensor of shape (B,) or (B, L), entries in
            [0, S]. Keys at positions ``>= valid_len`` are masked.
        attn_mask: optional bool tensor of shape (L, S) or (B, L, S), True where a
            query may attend to a key. May be combined with ``valid_lens``.
        check_finite: when True (the default), NaN or +inf where a query may
            attend is a ValueError. When False they pass through: that row's
            weights are NaN, as ``torch.softmax`` gives (the behaviour of
            :class:`attn.MultiHeadAttention`, which does not scan its inputs).

    Returns:
        Weights of shape (B, L, S), in the dtype of ``scores``: non-negative, each
        row summing to 1 over its unmasked keys, exactly 0 on masked keys. A row
        with no unmasked key is all zeros (so the attention output for that query
        is the zero vector), and its gradients are zero, not NaN.

    Equivalent to ``torch.softmax(scores.masked_fill(~mask, -inf), -1)`` on rows
    that have at least one unmasked key; stable for any finite scores because
    the softmax subtracts each row's maximum before exponentiating.
    """
    if not isinstance(scores, torch.Tensor):
        raise TypeError(f"scores must be a torch.Tensor, got {type(scores).__name__}")
    if not scores.dtype.is_floating_point:
        raise TypeError(f"scores must be a floating-point tensor, got dtype {scores.dtype}")
    if scores.dim() != 3:
        raise ValueError(f"scores must have shape (B, L, S) (3 dimensions), got shape {tuple(scores.shape)}")
    batch, num_queries, num_keys = scores.shape

    allowed = scores != float("-inf")  # (B, L, S); also True on NaN, which is checked next
    mask = valid_lens_to_mask(valid_lens, num_queries, num_keys, batch=batch)  # (B, L, S) or None
    if mask is not None:
        allowed = allowed & mask
    if attn_mask is not None:
        allowed = allowed & check_attn_mask(attn_mask, batch, num_queries, num_keys)
    check_bool("check_finite", check_finite)
    bad = allowed & ~torch.isfinite(scores) if check_finite else None  # NaN or +inf that counts
    if bad is not None and bad.any():
        num_nan = int((bad & scores.isnan()).sum())
        raise ValueError(
            f"scores must be finite (or -inf) where a query may attend: got {num_nan} NaN and "
            f"{int(bad.sum()) - num_nan} +inf (NaN inputs, or scores that overflow {scores.dtype}?)"
        )

    # -inf, not a finite fill: a finite fill ties with real scores at the dtype's minimum, and
    # then padding gets weight. A row with no key left would be all -inf, whose softmax is
    # 0 / 0 = NaN in the forward and the backward pass, so it gets a harmless 0 first.
    has_key = allowed.any(dim=-1, keepdim=True)  # (B, L, 1)
    filled = scores.masked_fill(~allowed, float("-inf")).masked_fill(~has_key, 0.0)  # new tensor
    weights = torch.softmax(filled, dim=-1)  # (B, L, S); torch subtracts the row max
    return weights.masked_fill(~allowed, 0.0)  # rows without a key: uniform -> all zeros
