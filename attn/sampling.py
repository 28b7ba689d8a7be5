"""Generating text from a language model: temperature, top-k and top-p (nucleus) sampling.

The next token is drawn from ``softmax(logits / temperature)`` after two
optional filters that set the logits of unlikely tokens to -inf:

* :func:`apply_temperature`: divide the logits by the temperature. Below 1
  the distribution sharpens, above 1 it flattens; as it tends to 0 sampling
  becomes greedy decoding (the most probable token every time).
* :func:`top_k_filter`: keep the k most probable tokens (Fan et al., 2018).
* :func:`top_p_filter`: keep the smallest set of most probable tokens whose
  probabilities sum to at least p (Holtzman et al., 2020).

:func:`sample_next` applies them in that order (top-p sees the tempered and
top-k-filtered distribution) and draws one token per row; ``temperature=0``
means greedy decoding. :func:`generate` runs a model such as
:class:`attn.GPT` token by token, with or without its key-value cache.

Shapes (package legend): B batch, V vocabulary size.
"""

from __future__ import annotations

import math
import numbers

import torch

from attn.checks import check_bool, check_int, check_tensor
from attn.utils import model_device

__all__ = ["apply_temperature", "generate", "sample_next", "top_k_filter", "top_p_filter"]


def _check_logits(logits) -> torch.Tensor:
    check_tensor("logits", logits, floating=True)
    if logits.dim() < 1 or logits.shape[-1] < 1:
        raise ValueError(f"logits must have shape (..., V) with V >= 1, got {tuple(logits.shape)}")
    return logits


def _check_temperature(temperature, allow_zero: bool) -> float:
    wanted = "a finite number >= 0 (0: greedy)" if allow_zero else "a finite number > 0"
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
        raise TypeError(f"temperature must be {wanted}, got {temperature!r} "
                        f"({type(temperature).__name__})")
    if not math.isfinite(temperature) or temperature < 0 or (temperature == 0 and not allow_zero):
        raise ValueError(f"temperature must be {wanted}, got {temperature!r}")
    return float(temperature)


def _check_p(p) -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"p must be a number in (0, 1], got {p!r} ({type(p).__name__})")
    if not 0 < p <= 1:  # also refuses NaN
        raise ValueError(f"p must be a number in (0, 1], got {p!r}")
    return float(p)


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``logits / temperature`` (..., V), for a temperature > 0.

    ``softmax(logits / t)``: t = 1 is the model's distribution, t < 1 sharper,
    t > 1 flatter. (Greedy decoding, the limit t -> 0, is ``temperature=0`` in
    :func:`sample_next`.)
    """
    _check_logits(logits)
    return logits / _check_temperature(temperature, allow_zero=False)


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest logits of each row, -inf elsewhere: (..., V) -> (..., V).

    Exactly ``min(k, V)`` entries stay finite per row (ties are broken by
    :func:`torch.topk`); a k of V or more keeps everything. k must be >= 1.
    """
    _check_logits(logits)
    k = check_int("k", k, minimum=1)
    if k >= logits.shape[-1]:
        return logits
    kept = logits.topk(k, dim=-1).indices  # (..., k)
    keep = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, kept, True)  # (..., V)
    return logits.masked_fill(~keep, -math.inf)


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Keep, per row, the fewest most probable tokens whose probabilities sum to >= ``p``.

    Tokens are sorted by probability; a token is kept when the mass of the
    tokens before it is still below p. The most probable token is always kept,
    and ``p = 1`` keeps every token. p must lie in (0, 1]. (..., V) -> (..., V),
    -inf where removed.
    """
    _check_logits(logits)
    p = _check_p(p)
    if p == 1:
        return logits
    probs, order = torch.softmax(logits.float(), dim=-1).sort(dim=-1, descending=True)
    before = probs.cumsum(dim=-1) - probs  # (..., V): mass of the more probable tokens
    keep_sorted = before < p  # the first token has 0 before it: always kept
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)  # back to vocab order
    return logits.masked_fill(~keep, -math.inf)


def sample_next(logits: torch.Tensor, *, temperature: float = 1.0, top_k: int | None = None,
                top_p: float | None = None, generator: torch.Generator | None = None):
    """Draw one token per row from ``logits`` (B, V): returns ids (B,), torch.long.

    Args:
        logits: (B, V) next-token logits.
        temperature: > 0 divides the logits; 0 means greedy: the most probable
            token (the first on ties), whatever the filters.
        top_k: None, or keep the k most probable tokens (k >= 1).
        top_p: None, or keep the nucleus of mass p in (0, 1].
        generator: a ``torch.Generator`` for reproducible draws (None: torch's).
    """
    _check_logits(logits)
    if logits.dim() != 2:
        raise ValueError(f"logits must have shape (B, V), got {tuple(logits.shape)}")
    temperature = _check_temperature(temperature, allow_zero=True)
    if top_k is not None:
        check_int("top_k", top_k, minimum=1)
    if top_p is not None:
        _check_p(top_p)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, "
                        f"got {type(generator).__name__}")
    if temperature == 0:
        return logits.argmax(dim=-1)  # (B,)
    logits = apply_temperature(logits, temperature)
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    probs = torch.softmax(logits.float(), dim=-1)  # (B, V)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]  # (B,)


def _prompt_rows(prompt) -> tuple[bool, list[list[int]]]:
    """(single?, rows of ids) from a tensor (L,) or (B, L), a list of ints or a list of rows."""
    if isinstance(prompt, torch.Tensor):
        if prompt.dtype != torch.long:
            raise TypeError(f"prompt must hold torch.long token ids, got dtype {prompt.dtype}")
        if prompt.dim() not in (1, 2):
            raise ValueError(f"prompt must have shape (L,) or (B, L), got {tuple(prompt.shape)}")
        return prompt.dim() == 1, (prompt[None] if prompt.dim() == 1 else prompt).tolist()
    if isinstance(prompt, (list, tuple)):
        if all(isinstance(t, numbers.Integral) and not isinstance(t, bool) for t in prompt) \
                and len(prompt) > 0:
            return True, [[int(t) for t in prompt]]
        rows = []
        for i, row in enumerate(prompt):
            if isinstance(row, torch.Tensor):
                if row.dtype != torch.long or row.dim() != 1:
                    raise TypeError(f"prompt {i} must be a 1-D torch.long tensor of ids, got "
                                    f"dtype {row.dtype} and shape {tuple(row.shape)}")
                row = row.tolist()
            if not isinstance(row, (list, tuple)) or not all(
                    isinstance(t, numbers.Integral) and not isinstance(t, bool) for t in row):
                raise TypeError(f"prompt {i} must be a list of int token ids, got {row!r:.60}")
            rows.append([int(t) for t in row])
        if not rows:
            raise ValueError("prompt is empty: need at least one token (a <bos> id, say)")
        return False, rows
    raise TypeError(f"prompt must be a torch.long tensor (L,) or (B, L), a list of ids or a "
                    f"list of such lists, got {type(prompt).__name__}")


@torch.no_grad()
def generate(model, prompt, max_new_tokens: int, *, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None,
             generator: torch.Generator | None = None, use_cache: bool = True,
             stop_token: int | None = None):
    """Continue each prompt by up to ``max_new_tokens`` tokens, one at a time.

    Args:
        model: a language model like :class:`attn.GPT`: ``model(tokens, pad_lens=...,
            cache=...)`` returns logits (B, L, V); ``model.new_cache()``,
            ``model.vocab_size`` and ``model.config.context_len``.
        prompt: one prompt (a list of ids, or a torch.long tensor (L,)), or several
            (a tensor (B, L), or a list of lists or tensors of any lengths >= 1).
            Prompts of different lengths are left-padded: every row's newest token
            is the last column, and padding is never attended to.
        max_new_tokens: >= 1; the longest prompt plus this must fit the context.
        temperature, top_k, top_p, generator: as for :func:`sample_next`;
            ``temperature=0`` is greedy decoding.
        use_cache: read the keys and values of earlier tokens from the key-value
            cache (one block pass per new token); False recomputes the whole
            sequence at every step (the same tokens, slower).
        stop_token: None, or an id that ends a row's output (it is not returned);
            generation stops early when every row has produced it.

    Returns:
        The new ids: a list of ints for one prompt, a list of such lists for several.
    """
    single, rows = _prompt_rows(prompt)
    check_int("max_new_tokens", max_new_tokens, minimum=1)
    check_bool("use_cache", use_cache)
    vocab_size, context = model.vocab_size, model.config.context_len
    if stop_token is not None:
        check_int("stop_token", stop_token)
        if stop_token >= vocab_size:
            raise ValueError(f"stop_token must be an id in [0, {vocab_size - 1}], "
                             f"got {stop_token}")
    sample_next(torch.zeros(1, 1), temperature=temperature, top_k=top_k, top_p=top_p,
                generator=None)  # checks the sampling arguments before any work
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, "
                        f"got {type(generator).__name__}")
    for i, row in enumerate(rows):
        if not row:
            raise ValueError(f"prompt {i} is empty: need at least one token (a <bos> id, say)")
        if min(row) < 0 or max(row) >= vocab_size:
            raise ValueError(f"prompt {i} must hold ids in [0, {vocab_size - 1}], got values "
                             f"from {min(row)} to {max(row)}")
    width = max(len(row) for row in rows)
    if width + max_new_tokens > context:
        raise ValueError(f"the longest prompt ({width} tokens) plus max_new_tokens = "
                         f"{max_new_tokens} passes the model's context_len = {context}; "
                         f"ask for at most {max(context - width, 0)} new tokens")
    device = model_device(model)
    tokens = torch.tensor([[0] * (width - len(row)) + row for row in rows], dtype=torch.long,
                          device=device)  # (B, width): left-padded, id 0 where padding
    pad_lens = torch.tensor([width - len(row) for row in rows], device=device)  # (B,)
    pad_lens = pad_lens if pad_lens.any() else None
    was_training = model.training
    model.eval()
    try:
        cache = model.new_cache() if use_cache else None
        logits = model(tokens, pad_lens=pad_lens, cache=cache)[:, -1]  # (B, V)
        finished = torch.zeros(len(rows), dtype=torch.bool, device=device)
        new = []
        for step in range(max_new_tokens):
            next_tokens = sample_next(logits, temperature=temperature, top_k=top_k,
                                      top_p=top_p, generator=generator)  # (B,)
            new.append(next_tokens)
            if stop_token is not None:
                finished |= next_tokens == stop_token
                if finished.all():
                    break
            if step == max_new_tokens - 1:
                break
            if use_cache:  # only the new column passes through the blocks
                logits = model(next_tokens[:, None], pad_lens=pad_lens, cache=cache)[:, -1]
            else:  # the whole sequence again
                tokens = torch.cat([tokens, next_tokens[:, None]], dim=1)  # (B, t + 1)
                logits = model(tokens, pad_lens=pad_lens)[:, -1]
    finally:
        model.train(was_training)
    out = torch.stack(new, dim=1).tolist()  # (B, steps)
    if stop_token is not None:
        out = [row[:row.index(stop_token)] if stop_token in row else row for row in out]
    return out[0] if single else out
