"""Looking inside trained attention: head scores, head masks, interventions, attribution.

The tools of chapter 10, for any model built from :class:`attn.MultiHeadAttention`
(a :class:`attn.GPT`, the attention-only model of :mod:`attn.induction`):

* :func:`head_scores`: how much each head attends to a chosen key per query
  (the previous token, the first token, the token after the last occurrence of
  the current one: :func:`previous_token_targets`, :func:`induction_targets`),
  averaged over many queries, one number per layer and head.
* :func:`masked_heads`: run the model with heads removed (or scaled); the
  output of head h of a layer is the slice ``h D:(h + 1) D`` of the concatenated
  heads that enters ``W_o``, and a forward pre-hook on ``W_o`` scales that slice.
* :func:`replaced_weights`: run a layer with its attention weights changed
  (:func:`uniform_weights`, :func:`permuted_weights`) and everything else kept.
* :func:`gradient_times_input`, :func:`attention_rollout`
  (Abnar and Zuidema, 2020) and :func:`rank_correlation` (Spearman's): what
  else than raw weights says which input tokens mattered.

Shapes (package legend): B batch, N layers, H heads, L queries, S keys, E width,
D = E / H head width, V vocabulary.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import torch
from torch import nn

from attn.checks import check_int, check_integer_tensor, check_tensor
from attn.masking import causal_mask, masked_softmax, valid_lens_to_mask
from attn.multihead import MultiHeadAttention, merge_heads, split_heads

__all__ = ["attention_modules", "attention_rollout", "gradient_times_input",
           "head_mask", "head_scores", "induction_targets", "masked_heads", "permuted_weights",
           "previous_token_targets", "rank_correlation", "replaced_weights", "uniform_weights"]


# --- Head scores -----------------------------------------------------------------------------

def _check_weights(weights) -> torch.Tensor:
    check_tensor("weights", weights, floating=True)
    if weights.dim() != 5:
        raise ValueError(f"weights must have shape (B, N, H, L, S), got {tuple(weights.shape)}")
    return weights


def head_scores(weights: torch.Tensor, targets: torch.Tensor, scored: torch.Tensor,
                reduce: str = "mean") -> torch.Tensor:
    """One score per layer and head: how much the scored queries attend to their target key.

    Args:
        weights: (B, N, H, L, S) attention weights, as :meth:`attn.GPT.attention_weights`
            returns for a batch.
        targets: (B, L) integer key index per query (any value where not scored).
        scored: (B, L) bool, True for the queries that count.
        reduce: "mean", the mean weight on the target key; or "top", the share of
            queries whose largest weight is on it.

    Returns:
        (N, H) scores in [0, 1].
    """
    weights = _check_weights(weights)
    batch, _, _, num_queries, num_keys = weights.shape
    check_integer_tensor("targets", targets)
    if tuple(targets.shape) != (batch, num_queries) or tuple(scored.shape) != (batch, num_queries):
        raise ValueError(f"targets and scored must have shape (B, L) = ({batch}, {num_queries}), "
                         f"got {tuple(targets.shape)} and {tuple(scored.shape)}")
    if scored.dtype != torch.bool or not scored.any():
        raise ValueError("scored must be a bool tensor with at least one True query")
    keys = targets[scored]
    if keys.min() < 0 or keys.max() >= num_keys:
        raise ValueError(f"targets of scored queries must lie in [0, {num_keys - 1}], got values "
                         f"from {int(keys.min())} to {int(keys.max())}")
    rows = weights.permute(0, 3, 1, 2, 4)[scored]  # (B, L, N, H, S) -> (Q, N, H, S)
    keys = keys[:, None, None].expand(*rows.shape[:3])  # (Q, N, H)
    if reduce == "mean":
        return rows.gather(-1, keys[..., None])[..., 0].mean(dim=0)  # (N, H)
    if reduce == "top":
        return (rows.argmax(dim=-1) == keys).float().mean(dim=0)  # (N, H)
    raise ValueError(f"reduce must be 'mean' or 'top', got {reduce!r}")


def previous_token_targets(lengths: torch.Tensor, num_queries: int):
    """``(targets, scored)`` for previous-token scores: query t >= 1 of a row scored on t - 1.

    ``lengths`` (B,): the real tokens of each row (right padding after them).
    """
    check_integer_tensor("lengths", lengths)
    t = torch.arange(num_queries)
    return (t - 1).expand(len(lengths), -1), (t >= 1) & (t < lengths[:, None])


def induction_targets(tokens: torch.Tensor):
    """``(targets, scored)`` for induction scores on token ids (B, L).

    Query t is scored when its token occurred before; its target is the position
    right after the most recent earlier occurrence (the token that followed it
    then, which an induction head copies).
    """
    check_integer_tensor("tokens", tokens)
    if tokens.dim() != 2:
        raise ValueError(f"tokens must have shape (B, L), got {tuple(tokens.shape)}")
    length = tokens.shape[1]
    same = tokens[:, :, None] == tokens[:, None, :]  # (B, L, L): token t equals token j
    earlier = same & torch.ones(length, length, dtype=torch.bool).tril(diagonal=-1)  # j < t
    last = torch.where(earlier, torch.arange(length), -1).amax(dim=-1)  # (B, L), -1: none
    return last + 1, last >= 0


# --- Interventions: removing heads, replacing weights ---------------------------------------

def attention_modules(model: nn.Module) -> list[MultiHeadAttention]:
    """The model's :class:`attn.MultiHeadAttention` modules, in the order of its layers."""
    found = [m for m in model.modules() if isinstance(m, MultiHeadAttention)]
    if not found:
        raise ValueError(f"{type(model).__name__} holds no attn.MultiHeadAttention module")
    return found


def head_mask(num_layers: int, num_heads: int, removed=()) -> torch.Tensor:
    """A (N, H) mask of ones with zeros at the ``removed`` (layer, head) pairs (0-based)."""
    check_int("num_layers", num_layers, minimum=1)
    check_int("num_heads", num_heads, minimum=1)
    mask = torch.ones(num_layers, num_heads)
    for pair in removed:
        layer, head = pair
        if not 0 <= layer < num_layers or not 0 <= head < num_heads:
            raise ValueError(f"no head ({layer}, {head}): layers are 0..{num_layers - 1} and "
                             f"heads 0..{num_heads - 1}")
        mask[layer, head] = 0.0
    return mask


@contextmanager
def masked_heads(modules, mask: torch.Tensor):
    """Inside the block, head h of ``modules[n]`` contributes ``mask[n, h]`` times its output.

    A forward pre-hook on each module's ``W_o`` scales the head's slice of the
    concatenated heads (B, L, H D): with a 0 the model is exactly the model whose
    ``W_o`` columns for that head are zero (tested).
    """
    modules = list(modules)
    if not modules or not all(isinstance(m, MultiHeadAttention) for m in modules):
        raise TypeError("modules must be a non-empty list of attn.MultiHeadAttention")
    check_tensor("mask", mask)
    heads = modules[0].num_heads
    if any(m.num_heads != heads for m in modules) or tuple(mask.shape) != (len(modules), heads):
        raise ValueError(f"mask must have shape (N, H) = ({len(modules)}, {heads}), "
                         f"got {tuple(mask.shape)}")

    def scale(gates):
        def pre_hook(linear, args):
            concat = args[0]  # (B, L, H D)
            shape = concat.shape
            per_head = concat.reshape(*shape[:-1], heads, shape[-1] // heads)  # (B, L, H, D)
            scaled = per_head * gates.to(concat.dtype)[:, None]  # (H, 1) broadcast over D
            return (scaled.reshape(shape), *args[1:])
        return pre_hook

    handles = [m.W_o.register_forward_pre_hook(scale(row)) for m, row in zip(modules, mask)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def uniform_weights(weights: torch.Tensor, allowed: torch.Tensor | None) -> torch.Tensor:
    """Every query spreads its weight evenly over the keys it may see (B, H, L, S)."""
    if allowed is None:
        return torch.full_like(weights, 1.0 / weights.shape[-1])
    even = allowed.expand_as(weights).to(weights.dtype)
    return even / even.sum(dim=-1, keepdim=True).clamp(min=1)


def permuted_weights(weights: torch.Tensor, allowed: torch.Tensor | None,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Each query's weights shuffled among the keys it may see (B, H, L, S).

    The row keeps its values (so it still sums to one), put on other keys.
    """
    allowed = torch.ones_like(weights, dtype=torch.bool) if allowed is None \
        else allowed.expand_as(weights)
    far = torch.tensor(math.inf, dtype=weights.dtype)
    keys = torch.arange(weights.shape[-1], dtype=weights.dtype).expand_as(weights)
    in_order = torch.where(allowed, keys, far).argsort(dim=-1)  # allowed keys first, in order
    shuffled = torch.where(allowed, torch.rand(weights.shape, generator=generator,
                                               dtype=weights.dtype), far).argsort(dim=-1)
    return torch.zeros_like(weights).scatter(-1, in_order, weights.gather(-1, shuffled))


ARGUMENTS = ("queries", "keys", "values", "valid_lens", "attn_mask", "need_weights", "is_causal")


@contextmanager
def replaced_weights(module: MultiHeadAttention, transform):
    """Inside the block, ``module`` attends with ``transform(weights, allowed)``.

    ``weights`` (B, H, L, S) are the module's own attention weights and
    ``allowed`` the bool mask (B, 1, L, S) of keys each query may see (None when
    all); the transform returns the weights to use. Queries, keys, values and
    ``W_o`` stay as they are (head masks still apply). It acts on calls of the
    module itself: a :class:`attn.GPTBlock` with rotary positions or a cache
    computes its attention from the module's matrices without calling it.
    """
    if not isinstance(module, MultiHeadAttention):
        raise TypeError(f"module must be an attn.MultiHeadAttention, got {type(module).__name__}")

    def hook(mha, args, kwargs, output):
        call = dict(zip(ARGUMENTS, args)) | kwargs
        queries, keys, values = call["queries"], call["keys"], call["values"]
        batch, num_queries, _ = queries.shape
        num_keys = keys.shape[1]
        allowed = valid_lens_to_mask(call.get("valid_lens"), num_queries, num_keys, batch=batch)
        if call.get("attn_mask") is not None:
            given = call["attn_mask"].expand(batch, num_queries, num_keys)
            allowed = given if allowed is None else allowed & given
        if call.get("is_causal"):
            causal = causal_mask(num_queries, num_keys, device=queries.device)
            allowed = causal if allowed is None else allowed & causal
        if allowed is not None:
            allowed = allowed.expand(batch, num_queries, num_keys)[:, None]  # (B, 1, L, S)
        q = split_heads(mha.W_q(queries), mha.num_heads)  # (B, H, L, D)
        k = split_heads(mha.W_k(keys), mha.num_heads)  # (B, H, S, D)
        v = split_heads(mha.W_v(values), mha.num_heads)  # (B, H, S, D)
        scores = q @ k.transpose(-2, -1) / math.sqrt(mha.head_dim)  # (B, H, L, S)
        flat = scores.flatten(0, 1)  # (B H, L, S): masked_softmax takes 3 dimensions
        mask = None if allowed is None else allowed.expand_as(scores).flatten(0, 1)
        weights = masked_softmax(flat, attn_mask=mask, check_finite=False).view(scores.shape)
        new = transform(weights, allowed)  # (B, H, L, S)
        out = mha.W_o(merge_heads(new @ v))  # (B, H, L, D) -> (B, L, E)
        return (out, new) if call.get("need_weights") else out

    handle = module.register_forward_hook(hook, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()


# --- Attribution --------------------------------------------------------------------------------

def gradient_times_input(model: nn.Module, tokens: torch.Tensor, embedding: nn.Module,
                         score) -> torch.Tensor:
    """Gradient-times-input attribution of ``score(model(tokens))`` to each input token.

    Args:
        model: called as ``model(tokens)``; tokens: (B, L) ids.
        embedding: the module whose output (B, L, E) is "the input", e.g. the
            model's token embedding.
        score: maps the model's output to (B,) numbers, one per row (a logit or
            a log-probability at one position, say).

    Returns:
        (B, L): ``sum_E x_i * d score / d x_i`` for each position i, x = the
        embedding's output. For a score linear in x this is each token's exact
        share of the score (its part of the sum).
    """
    captured = []

    def hook(module, args, output):
        leaf = output.detach().requires_grad_(True)
        captured.append(leaf)
        return leaf

    handle = embedding.register_forward_hook(hook)
    try:
        with torch.enable_grad():
            values = score(model(tokens))
            if len(captured) != 1:
                raise ValueError(f"the embedding ran {len(captured)} times in one forward pass; "
                                 "expected once")
            if values.dim() != 1 or len(values) != tokens.shape[0]:
                raise ValueError(f"score must return one number per row, shape (B,) = "
                                 f"({tokens.shape[0]},), got {tuple(values.shape)}")
            (grad,) = torch.autograd.grad(values.sum(), captured[0])  # rows are independent
    finally:
        handle.remove()
    return (grad * captured[0]).sum(dim=-1).detach()  # (B, L, E) -> (B, L)


def attention_rollout(weights: torch.Tensor, residual: float = 0.5) -> torch.Tensor:
    """Attention rollout (Abnar and Zuidema, 2020): attention through the layers.

    Each layer's weights are averaged over heads, the residual connection is
    added as ``residual * I``, rows are normalised to sum to one, and the layers
    are multiplied from the last down: ``R = A_N ... A_1``.

    Args:
        weights: self-attention weights (N, H, L, L), or (B, N, H, L, L).
        residual: the identity's share in [0, 1]; 0.5 in the paper.

    Returns:
        (L, L) or (B, L, L): row t, how much each input position flows into position t.
    """
    check_tensor("weights", weights, floating=True)
    if weights.dim() not in (4, 5) or weights.shape[-1] != weights.shape[-2]:
        raise ValueError(f"weights must be self-attention weights (N, H, L, L) or "
                         f"(B, N, H, L, L), got {tuple(weights.shape)}")
    if not 0 <= residual <= 1:
        raise ValueError(f"residual must lie in [0, 1], got {residual}")
    layers = weights.mean(dim=-3)  # (..., N, L, L)
    eye = torch.eye(layers.shape[-1], dtype=layers.dtype)
    layers = residual * eye + (1 - residual) * layers
    layers = layers / layers.sum(dim=-1, keepdim=True)
    rollout = layers[..., 0, :, :]
    for n in range(1, layers.shape[-3]):
        rollout = layers[..., n, :, :] @ rollout  # (L, L): layer n on top of those below
    return rollout


def _average_ranks(x: torch.Tensor) -> torch.Tensor:
    """Ranks 1..n of a vector, tied values sharing the mean of their ranks."""
    ranks = torch.empty_like(x, dtype=torch.float64)
    ranks[x.argsort()] = torch.arange(1, len(x) + 1, dtype=torch.float64)
    _, group = torch.unique(x, return_inverse=True)
    sums = torch.zeros(int(group.max()) + 1, dtype=torch.float64).index_add_(0, group, ranks)
    return (sums / torch.bincount(group))[group]


def rank_correlation(x: torch.Tensor, y: torch.Tensor) -> float:
    """Spearman's rank correlation of two vectors of the same length n >= 2.

    The Pearson correlation of their ranks (ties get average ranks), as
    ``scipy.stats.spearmanr``; NaN when either vector is constant.
    """
    check_tensor("x", x)
    check_tensor("y", y)
    if x.dim() != 1 or x.shape != y.shape or len(x) < 2:
        raise ValueError(f"x and y must be vectors of one length n >= 2, got {tuple(x.shape)} "
                         f"and {tuple(y.shape)}")
    rx, ry = _average_ranks(x.detach()), _average_ranks(y.detach())
    rx, ry = rx - rx.mean(), ry - ry.mean()
    return float((rx * ry).sum() / (rx.norm() * ry.norm()))
