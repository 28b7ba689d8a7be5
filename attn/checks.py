"""Argument checks shared by every entry point of the package.

Each function raises TypeError when an argument has the wrong type and
ValueError when it has the right type but a wrong shape or value, with a message
that names the argument, what was expected and what came. A new entry point
calls these instead of writing its own checks, and so gives the same messages as
the others. The module imports nothing from the rest of the package: the masks,
the mechanisms and the models all build on it.

Shapes follow the package legend (B batch, L queries, S keys, E model width).
"""

from __future__ import annotations

import math
import numbers

import torch

__all__ = [
    "check_attention_inputs", "check_attn_mask", "check_bool",
    "check_callable", "check_dropout", "check_has_keys",
    "check_integer_tensor", "check_int", "check_labels", "check_same_dtype", "check_scale", "check_sequence",
    "check_src_valid_lens", "check_step_tokens", "check_tensor", "check_tokens",
    "check_valid_lens",
]


def _type_name(x) -> str:
    return type(x).__name__


def _listing(items) -> str:
    """"a", "a and b", "a, b and c"."""
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# --- Python numbers and flags ---------------------------------------------------------------

def check_int(name: str, value, minimum: int = 0) -> int:
    """``value`` as an int >= ``minimum``; bools and floats (even 2.0) are refused.

    NumPy and other integral types (``numbers.Integral``) are accepted.
    """
    wanted = "a positive int" if minimum == 1 else f"an int >= {minimum}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be {wanted}, got {value!r} ({_type_name(value)})")
    if value < minimum:
        raise ValueError(f"{name} must be {wanted}, got {value!r}")
    return int(value)


def check_bool(name: str, value) -> bool:
    """``value`` itself when it is True or False (not 0, 1, None or a string)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def check_callable(name: str, value) -> None:
    """Refuse ``value`` unless it can be called."""
    if not callable(value):
        raise TypeError(f"{name} must be callable, got {_type_name(value)}")


def check_dropout(value, name: str = "dropout", below_one: bool = False) -> float:
    """A dropout probability as a float in [0, 1], or in [0, 1) with ``below_one``."""
    interval = "[0, 1)" if below_one else "[0, 1]"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number in {interval}, got {value!r} ({_type_name(value)})")
    if not (0 <= value < 1 if below_one else 0 <= value <= 1):  # also refuses NaN
        raise ValueError(f"{name} must be a number in {interval}, got {value!r}")
    return float(value)


def check_scale(scale, default: float) -> float:
    """The factor on attention scores: ``default`` for None, else a finite number > 0."""
    if scale is None:
        return default
    if isinstance(scale, torch.Tensor) and scale.numel() == 1 and scale.dtype.is_floating_point:
        scale = scale.item()
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real):
        raise TypeError(f"scale must be a finite number > 0 or None, got {scale!r} "
                        f"({_type_name(scale)})")
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a finite number > 0 or None, got {scale!r}")
    return float(scale)


def check_labels(labels, count: int, name: str, per: str) -> list[str]:
    """``labels`` as a list of ``count`` strings, one per ``per`` (e.g. one per key)."""
    if isinstance(labels, str):
        raise TypeError(f"{name} must be a sequence of strings, one per {per}, not a single str")
    try:
        labels = [str(label) for label in labels]
    except TypeError:
        raise TypeError(f"{name} must be a sequence of strings, one per {per}, "
                        f"got {type(labels).__name__}") from None
    if len(labels) != count:
        raise ValueError(f"{name} must have one label per {per} ({count}), got {len(labels)}")
    return labels


# --- Tensors --------------------------------------------------------------------------------

def check_tensor(name: str, x, floating: bool = False) -> torch.Tensor:
    """``x`` when it is a torch.Tensor (a floating-point one with ``floating``)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {_type_name(x)}")
    if floating and not x.dtype.is_floating_point:
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    return x


def check_integer_tensor(name: str, x) -> torch.Tensor:
    """``x`` when it is a tensor of integers (not float, complex or bool)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of integers, got {_type_name(x)}")
    if x.dtype.is_floating_point or x.dtype.is_complex or x.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor, got dtype {x.dtype}")
    return x


def check_same_dtype(named: dict) -> None:
    """All tensors in ``named`` (name -> tensor) share one dtype."""
    dtypes = [x.dtype for x in named.values()]
    if len(set(dtypes)) > 1:
        raise TypeError(f"{_listing(named)} must have the same dtype: got {_listing(dtypes)}")


def check_sequence(name: str, x, width: int, dtype: torch.dtype | None = None,
                   max_len: int | None = None) -> torch.Tensor:
    """A float tensor (B, L, E) with E = ``width``, ``dtype`` when given, L <= ``max_len``.

    The check at the door of every module that reads a batch of sequences: an
    attention layer, a positional encoding, a Transformer block.
    """
    check_tensor(name, x, floating=True)
    if x.dim() != 3:
        raise ValueError(f"{name} must have shape (B, L, E) (3 dimensions), "
                         f"got shape {tuple(x.shape)}")
    if x.shape[-1] != width:
        raise ValueError(f"{name} must have size E = {width} in its last dimension, "
                         f"got {x.shape[-1]}")
    if dtype is not None and x.dtype != dtype:
        raise TypeError(f"{name} must have the module's dtype {dtype}, got {x.dtype}")
    if max_len is not None and x.shape[1] > max_len:
        raise ValueError(f"sequences may have at most max_len = {max_len} tokens, "
                         f"got {x.shape[1]}")
    return x


def check_attention_inputs(queries, keys, values, width: int, dtype: torch.dtype) -> None:
    """Queries (B, L, E), keys (B, S, E) and values (B, S, E) for a module of width E.

    All three in the module's ``dtype``, with one batch size B, keys and values of
    one length S >= 1, on one device.
    """
    named = {"queries": queries, "keys": keys, "values": values}
    for name, x in named.items():
        check_sequence(name, x, width, dtype)
    if not queries.shape[0] == keys.shape[0] == values.shape[0]:
        raise ValueError("queries, keys and values must have the same batch size B: "
                         f"got {queries.shape[0]}, {keys.shape[0]} and {values.shape[0]}")
    if keys.shape[1] != values.shape[1]:
        raise ValueError(f"keys and values must have the same length S: "
                         f"got {keys.shape[1]} and {values.shape[1]}")
    check_has_keys(keys.shape[1])
    if not queries.device == keys.device == values.device:
        raise ValueError("queries, keys and values must be on the same device: "
                         f"got {queries.device}, {keys.device} and {values.device}")


def check_has_keys(num_keys: int) -> None:
    """At least one key: with S = 0 there is nothing to attend to (an empty batch of keys).

    A query whose keys are all masked is fine (it gets the zero vector); a call
    without any key at all is almost always a bug upstream.
    """
    if num_keys < 1:
        raise ValueError(f"attention needs at least one key (S >= 1), got S = {num_keys}")


# --- Masks ----------------------------------------------------------------------------------

def check_valid_lens(valid_lens, batch: int, num_queries: int, num_keys: int) -> torch.Tensor:
    """An integer tensor (B,) or (B, L) with entries in [0, S]."""
    check_integer_tensor("valid_lens", valid_lens)
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
    return valid_lens


def check_attn_mask(attn_mask, batch: int, num_queries: int, num_keys: int) -> torch.Tensor:
    """A bool ``attn_mask`` (L, S) or (B, L, S), True = may attend; returned as (B, L, S)."""
    if not isinstance(attn_mask, torch.Tensor) or attn_mask.dtype != torch.bool:
        got = attn_mask.dtype if isinstance(attn_mask, torch.Tensor) else _type_name(attn_mask)
        raise TypeError(f"attn_mask must be a bool tensor (True = may attend), got {got}")
    if tuple(attn_mask.shape) not in {(num_queries, num_keys), (batch, num_queries, num_keys)}:
        raise ValueError(
            f"attn_mask must have shape (L, S) = ({num_queries}, {num_keys}) or "
            f"(B, L, S) = ({batch}, {num_queries}, {num_keys}), got {tuple(attn_mask.shape)}"
        )
    return attn_mask.expand(batch, num_queries, num_keys)  # (B, L, S), a view


# --- Token ids ------------------------------------------------------------------------------

def check_tokens(name: str, tokens, vocab_size: int, min_length: int = 0) -> torch.Tensor:
    """A torch.long tensor (B, length) of ids in [0, V), with length >= ``min_length``."""
    if not isinstance(tokens, torch.Tensor) or tokens.dtype != torch.long:
        got = tokens.dtype if isinstance(tokens, torch.Tensor) else _type_name(tokens)
        raise TypeError(f"{name} must be a torch.long tensor of token ids, got {got}")
    if tokens.dim() != 2:
        raise ValueError(f"{name} must have shape (B, length), got shape {tuple(tokens.shape)}")
    if tokens.shape[1] < min_length:
        raise ValueError(f"{name} must hold at least {min_length} step(s) per row, "
                         f"got shape {tuple(tokens.shape)}")
    if tokens.numel() and (tokens.min() < 0 or tokens.max() >= vocab_size):
        raise ValueError(f"{name} must hold ids in [0, {vocab_size - 1}], "
                         f"got values from {int(tokens.min())} to {int(tokens.max())}")
    return tokens


def check_step_tokens(tokens, batch: int, vocab_size: int) -> torch.Tensor:
    """One token id per row for a decoding step: a torch.long tensor (B,) of ids in [0, V)."""
    if not isinstance(tokens, torch.Tensor) or tokens.dtype != torch.long:
        got = tokens.dtype if isinstance(tokens, torch.Tensor) else _type_name(tokens)
        raise TypeError(f"tokens must be a torch.long tensor of shape (B,) = ({batch},), "
                        f"got {got}")
    if tuple(tokens.shape) != (batch,):
        raise ValueError(f"tokens must have shape (B,) = ({batch},), one id per row of the "
                         f"state, got shape {tuple(tokens.shape)}")
    check_tokens("tokens", tokens.unsqueeze(1), vocab_size)
    return tokens


def check_src_valid_lens(src: torch.Tensor, src_valid_lens) -> torch.Tensor:
    """Source lengths (B,) in [1, S] for ``src`` (B, S), B >= 1, on ``src``'s device."""
    batch, num_steps = src.shape
    if batch == 0:  # no sentence: there is no last token to read a state at
        raise ValueError("src holds no sentence (B = 0): need at least one to encode")
    if not isinstance(src_valid_lens, torch.Tensor) or tuple(src_valid_lens.shape) != (batch,):
        got = (tuple(src_valid_lens.shape) if isinstance(src_valid_lens, torch.Tensor)
               else _type_name(src_valid_lens))
        raise ValueError(f"src_valid_lens must be a tensor of shape (B,) = ({batch},), got {got}")
    check_integer_tensor("src_valid_lens", src_valid_lens)
    if src_valid_lens.device != src.device:
        raise ValueError(f"src and src_valid_lens must be on the same device, "
                         f"got {src.device} and {src_valid_lens.device}")
    if src_valid_lens.min() < 1 or src_valid_lens.max() > num_steps:
        raise ValueError(f"src_valid_lens must lie in [1, S] = [1, {num_steps}], got values from "
                         f"{int(src_valid_lens.min())} to {int(src_valid_lens.max())}")
    return src_valid_lens
