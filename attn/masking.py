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

def mask_fill_value(dtype: torch.dtype) -> float:
    """The score that masked positions get before the softmax.

    The most negative finite value of ``dtype``, so it is right for float16 and
    bfloat16 too (a hard-coded -1e6 overflows float16 to -inf).
    """
    if not dtype.is_floating_point:
        raise TypeError(f"scores must be a floating-point tensor, got dtype {dtype}")
    return torch.finfo(dtype).min


def _check_valid_lens(valid_lens: torch.Tensor, batch: int, num_queries: int, num_keys: int) -> None:
    if not isinstance(valid_lens, torch.Tensor):
        raise TypeError(f"valid_lens must be a torch.Tensor of integers, got {type(valid_lens).__name__}")
    if valid_lens.dtype.is_floating_point or valid_lens.dtype.is_complex or valid_lens.dtype == torch.bool:
        raise TypeError(f"valid_lens must be an integer tensor, got dtype {valid_lens.dtype}")
    if tuple(valid_lens.shape) not in {(batch,), (batch, num_queries)}:
        raise ValueError(
            f"valid_lens must have shape (B,) = ({batch},) or (B, L) = ({batch}, {num_queries}), "
            f"got {tuple(valid_lens.shape)}"
        )
    if valid_lens.numel() and (valid_lens.min() < 0 or valid_lens.max() > num_keys):
        raise ValueError(
            f"valid_lens must lie in [0, S] = [0, {num_keys}], "
            f"got values from {int(valid_lens.min())} to {int(valid_lens.max())}"
        )


def sequence_mask(valid_lens: torch.Tensor, max_len: int) -> torch.Tensor:
    """Boolean mask that is True on the first ``valid_lens`` positions.

    Args:
        valid_lens: integer tensor of any shape ``(*)``, entries in [0, max_len].
        max_len: length of the masked axis.

    Returns:
        Bool tensor of shape ``(*, max_len)``; ``out[..., j] = j < valid_lens[...]``.

    Example: ``sequence_mask(torch.tensor([1, 3]), 4)`` is
    ``[[True, False, False, False], [True, True, True, False]]``.
    """
    if not isinstance(valid_lens, torch.Tensor):
        raise TypeError(f"valid_lens must be a torch.Tensor of integers, got {type(valid_lens).__name__}")
    if valid_lens.dtype.is_floating_point or valid_lens.dtype.is_complex or valid_lens.dtype == torch.bool:
        raise TypeError(f"valid_lens must be an integer tensor, got dtype {valid_lens.dtype}")
    if not isinstance(max_len, int) or max_len < 0:
        raise ValueError(f"max_len must be a non-negative int, got {max_len!r}")
    if valid_lens.numel() and (valid_lens.min() < 0 or valid_lens.max() > max_len):
        raise ValueError(
            f"valid_lens must lie in [0, {max_len}], "
            f"got values from {int(valid_lens.min())} to {int(valid_lens.max())}"
        )
    positions = torch.arange(max_len, device=valid_lens.device)  # (max_len,)
    return positions < valid_lens.unsqueeze(-1)  # (*, max_len)


def valid_lens_to_mask(valid_lens: torch.Tensor | None, num_queries: int, num_keys: int,
                       batch: int | None = None) -> torch.Tensor | None:
    """Turn ``valid_lens`` into a boolean ``attn_mask`` of shape (B, L, S).

    Args:
        valid_lens: None, or integer tensor of shape (B,) or (B, L).
        num_queries: L.
        num_keys: S.
        batch: B, to check ``valid_lens`` against; defaults to ``valid_lens.shape[0]``.

    Returns:
        None when ``valid_lens`` is None (attend everywhere), else a bool tensor of
        shape (B, L, S), True where query ``i`` may attend to key ``j``. This is
        the ``attn_mask`` that :func:`torch.nn.functional.scaled_dot_product_attention`
        expects.
    """
    if valid_lens is None:
        return None
    if batch is None:
        if not isinstance(valid_lens, torch.Tensor) or valid_lens.dim() == 0:
            raise ValueError("valid_lens must be a tensor of shape (B,) or (B, L)")
        batch = valid_lens.shape[0]
    _check_valid_lens(valid_lens, batch, num_queries, num_keys)
    if valid_lens.dim() == 1:
        valid_lens = valid_lens.unsqueeze(1).expand(batch, num_queries)  # (B, L)
    return sequence_mask(valid_lens, num_keys)  # (B, L, S)


def leave_one_out_mask(n: int) -> torch.Tensor:
    """Bool ``attn_mask`` of shape (n, n), True off the diagonal: query i may not see key i.

    Used when the queries are the training inputs themselves, so that no point
    predicts its own value from itself.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"leave-one-out needs n >= 2 points, got {n!r}")
    return ~torch.eye(n, dtype=torch.bool)


def masked_softmax(scores: torch.Tensor, valid_lens: torch.Tensor | None = None, *,
                   attn_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax over the last axis that gives masked keys exactly zero weight.

    Args:
        scores: float tensor of shape (B, L, S), attention scores of L queries
            against S keys. Not modified.
        valid_lens: optional integer tensor of shape (B,) or (B, L), entries in
            [0, S]. Keys at positions ``>= valid_len`` are masked.
        attn_mask: optional bool tensor of shape (L, S) or (B, L, S), True where a
            query may attend to a key. May be combined with ``valid_lens``.

    Returns:
        Weights of shape (B, L, S): non-negative, each row summing to 1 over its
        unmasked keys, exactly 0 on masked keys. A row with no unmasked key is all
        zeros (so the attention output for that query is the zero vector).

    Equivalent to ``torch.softmax(scores.masked_fill(~mask, -inf), -1)`` on rows
    that have at least one unmasked key; stable for any finite scores because
    the softmax subtracts each row's maximum before exponentiating.
    """
    if not isinstance(scores, torch.Tensor):
        raise TypeError(f"scores must be a torch.Tensor, got {type(scores).__name__}")
    fill = mask_fill_value(scores.dtype)  # raises TypeError for integer scores
    if scores.dim() != 3:
        raise ValueError(f"scores must have shape (B, L, S) (3 dimensions), got shape {tuple(scores.shape)}")
    batch, num_queries, num_keys = scores.shape

    mask = valid_lens_to_mask(valid_lens, num_queries, num_keys, batch=batch)  # (B, L, S) or None
    if attn_mask is not None:
        if not isinstance(attn_mask, torch.Tensor) or attn_mask.dtype != torch.bool:
            got = attn_mask.dtype if isinstance(attn_mask, torch.Tensor) else type(attn_mask).__name__
            raise TypeError(f"attn_mask must be a bool tensor (True = may attend), got {got}")
        if tuple(attn_mask.shape) not in {(num_queries, num_keys), (batch, num_queries, num_keys)}:
            raise ValueError(
                f"attn_mask must have shape (L, S) = ({num_queries}, {num_keys}) or "
                f"(B, L, S) = ({batch}, {num_queries}, {num_keys}), got {tuple(attn_mask.shape)}"
            )
        attn_mask = attn_mask.expand(batch, num_queries, num_keys)
        mask = attn_mask if mask is None else mask & attn_mask
    if mask is None:
        return torch.softmax(scores, dim=-1)

    masked_scores = scores.masked_fill(~mask, fill)  # a new tensor: the input is left alone
    weights = torch.softmax(masked_scores, dim=-1)  # (B, L, S); torch subtracts the row max
    # Exact zeros on masked keys; rows with no valid key (uniform after the fill) become all-zero.
    return weights.masked_fill(~mask, 0.0)
