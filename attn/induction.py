"""A Transformer with attention only, and the data on which it learns induction heads.

Olsson et al. (2022) found *induction heads* most clearly in small models without
feed-forward layers: a head in layer 2 that, at a token A, attends to the
position right after an earlier A and copies the token found there, helped by a
layer-1 head that attends to the previous token. :func:`repeated_tokens` makes
random sequences whose second half repeats the first, where that is the only way
to predict anything; :class:`AttentionOnly` learns it in seconds on a CPU.
Chapter 10 measures it with :mod:`attn.inspect`.

Shapes (package legend): B batch, L tokens, E width, H heads, V vocabulary, N layers.
"""

from __future__ import annotations

import torch
from torch import nn

from attn.checks import check_int, check_integer_tensor
from attn.multihead import MultiHeadAttention

__all__ = ["AttentionOnly", "repeated_tokens"]


class AttentionOnly(nn.Module):
    """A causal Transformer with attention layers only (no FFN), as in Olsson et al. (2022).

    Token and learned position embeddings, then N pre-norm residual layers
    ``x = x + MHA(LN(x))`` with a causal mask, a final LayerNorm and an output layer.

    Args:
        vocab_size: V; context_len: most tokens read at once; num_layers: N;
        num_hiddens: E; num_heads: H.
    """

    def __init__(self, vocab_size: int, context_len: int, num_layers: int = 2,
                 num_hiddens: int = 64, num_heads: int = 4):
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("context_len", context_len),
                            ("num_layers", num_layers)):
            check_int(name, value, minimum=1)
        self.vocab_size, self.context_len = vocab_size, context_len
        self.token_embedding = nn.Embedding(vocab_size, num_hiddens)
        self.position = nn.Embedding(context_len, num_hiddens)
        self.norms = nn.ModuleList(nn.LayerNorm(num_hiddens) for _ in range(num_layers))
        self.layers = nn.ModuleList(MultiHeadAttention(num_hiddens, num_heads)
                                    for _ in range(num_layers))
        self.norm = nn.LayerNorm(num_hiddens)
        self.head = nn.Linear(num_hiddens, vocab_size, bias=False)

    def forward(self, tokens: torch.Tensor, need_weights: bool = False):
        """tokens (B, L) -> logits (B, L, V), and with ``need_weights`` a list of N
        weight tensors (B, H, L, L)."""
        check_integer_tensor("tokens", tokens)
        if tokens.dim() != 2 or not 1 <= tokens.shape[1] <= self.context_len:
            raise ValueError(f"tokens must have shape (B, L) with 1 <= L <= "
                             f"{self.context_len}, got {tuple(tokens.shape)}")
        x = self.token_embedding(tokens) + self.position.weight[:tokens.shape[1]]  # (B, L, E)
        weights = []
        for norm, attention in zip(self.norms, self.layers):
            h = norm(x)
            out = attention(h, h, h, is_causal=True, need_weights=need_weights)
            out, w = out if need_weights else (out, None)
            x = x + out
            weights.append(w)
        logits = self.head(self.norm(x))  # (B, L, V)
        return (logits, weights) if need_weights else logits


def repeated_tokens(num_rows: int, length: int, vocab_size: int, periods: tuple[int, int],
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """(B, length) rows of token ids: a segment of distinct random tokens, repeated.

    Each row draws its period m uniformly from ``periods = (lo, hi)``, a segment of m
    distinct tokens from 0..V-1, and repeats it until the row is full: position t
    holds the token of position t - m. Since m varies, the position of the earlier
    copy does too: only the content says where to look.
    """
    for name, value in (("num_rows", num_rows), ("length", length), ("vocab_size", vocab_size)):
        check_int(name, value, minimum=1)
    if not (isinstance(periods, tuple) and len(periods) == 2
            and 1 <= periods[0] <= periods[1] <= min(length, vocab_size)):
        raise ValueError(f"periods must be a pair (lo, hi) with 1 <= lo <= hi <= "
                         f"min(length, vocab_size) = {min(length, vocab_size)}, got {periods!r}")
    lo, hi = periods
    rows = torch.empty(num_rows, length, dtype=torch.long)
    for b in range(num_rows):
        period = int(torch.randint(lo, hi + 1, (), generator=generator))
        segment = torch.randperm(vocab_size, generator=generator)[:period]
        rows[b] = segment.repeat(-(-length // period))[:length]  # ceil(length / m) copies
    return rows
