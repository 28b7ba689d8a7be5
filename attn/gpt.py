"""A decoder-only Transformer (GPT): causal self-attention blocks over one stream of tokens.

A GPT reads a sequence of token ids and predicts, at every position, the next
token. It is the decoder of :mod:`attn.transformer` without encoder-decoder
attention, in the pre-norm arrangement of GPT-2 (Radford et al., 2019)::

    x = embedding(tokens) + P[positions]          (B, L, E)  (no P: RoPE, ALiBi, none)
    x = x + attention(LN_1(x))   causal: position i sees positions 0..i
    x = x + FFN(LN_2(x))         FFN(x) = W_2 GELU(W_1 x + b_1) + b_2
    logits = LN(x) W_emb^T       (B, L, V): the output layer shares the embedding

With copied weights a :class:`GPTBlock` equals
``nn.TransformerEncoderLayer(norm_first=True, activation="gelu", batch_first=True)``
under a causal mask. ``GPTConfig.positions`` chooses how the model knows where a
token stands:

* ``"learned"``: one trained vector per position added to the input, as in GPT-2;
* ``"sinusoidal"``: the fixed vectors of :func:`attn.sinusoidal_encoding`, added to
  the token vectors scaled by sqrt(E), as in chapter 7's Transformer (Vaswani et
  al., 2017), whose start, std E^-1/2, they take: tokens and positions start at
  the same size (with GPT-2's 0.02 the position vectors would drown the tokens);
* ``"rope"``: rotary embeddings (:func:`attn.apply_rope`), which rotate queries
  and keys inside attention; ``rope_scale`` < 1 interpolates positions;
* ``"alibi"``: linear biases on the scores (:func:`attn.alibi_bias`), one slope
  per head (:func:`attn.alibi_slopes`);
* ``"none"``: nothing; the causal mask alone lets the model infer positions.

Batches of sequences of different lengths are left-padded: ``pad_lens[b]``
padding tokens stand before the real tokens of row b, are never attended to,
and the first real token has position 0. Left padding keeps the last column the
newest token of every row, so that :func:`attn.sampling.generate` adds one
column per step for the whole batch. A list of :class:`attn.KVCache`, one per
block (:meth:`GPT.new_cache`), keeps the keys and values of earlier positions.

Shapes (package legend): B batch, L tokens read in this call, T tokens already
cached, S = T + L keys, E model width, H heads, D = E / H head width, V
vocabulary size, N blocks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from attn.blocks import AddNorm, PositionWiseFFN
from attn.checks import (check_bool, check_dropout, check_int, check_integer_tensor,
                         check_sequence, check_tokens)
from attn.kv_cache import KVCache
from attn.masking import masked_softmax
from attn.multihead import MultiHeadAttention, fused_attention, merge_heads, split_heads
from attn.position import (LearnedPositionalEmbedding, PositionalEncoding, alibi_bias,
                           alibi_slopes, apply_rope)

__all__ = ["GPT", "GPTBlock", "GPTConfig", "GeluFFN", "POSITIONS", "num_parameters"]

POSITIONS = ("learned", "sinusoidal", "rope", "alibi", "none")  # GPTConfig.positions


@dataclass
class GPTConfig:
    """Hyper-parameters of a :class:`GPT`; invalid values raise when it is made."""

    vocab_size: int            # V: token ids are 0..V-1
    context_len: int = 64      # C: most tokens the model reads at once (prompt and output)
    num_layers: int = 2        # N: blocks
    num_hiddens: int = 64      # E: model width
    num_heads: int = 4         # H: heads per block; E divisible by H
    ffn_hiddens: int | None = None  # FFN hidden width; None means 4 E, as in GPT-2
    dropout: float = 0.0       # on embeddings, attention weights, FFN and sublayer outputs
    positions: str = "learned"  # one of POSITIONS: "learned" or "sinusoidal" vectors added
    #                             to the input, "rope" (rotary), "alibi" (linear biases), "none"
    tie_weights: bool = True   # the output layer reuses the token embedding's matrix
    rope_base: float = 10000.0  # wavelength scale of the rotary angles
    rope_scale: float = 1.0    # rotary position m turns as m * rope_scale: position
    #                            interpolation (Chen et al., 2023) reads L' tokens with L / L'

    def __post_init__(self):
        for name in ("vocab_size", "context_len", "num_layers", "num_hiddens", "num_heads"):
            check_int(name, getattr(self, name), minimum=1)
        if self.ffn_hiddens is None:
            self.ffn_hiddens = 4 * self.num_hiddens
        check_int("ffn_hiddens", self.ffn_hiddens, minimum=1)
        if self.num_hiddens % self.num_heads:
            raise ValueError(f"num_hiddens must be divisible by num_heads: got "
                             f"{self.num_hiddens} and {self.num_heads}")
        check_dropout(self.dropout, below_one=True)
        if self.positions not in POSITIONS:
            raise ValueError(f"positions must be one of {', '.join(map(repr, POSITIONS))}, "
                             f"got {self.positions!r}")
        if self.positions == "rope" and (self.num_hiddens // self.num_heads) % 2:
            raise ValueError(f"rope needs an even head width D = E / H, got "
                             f"{self.num_hiddens // self.num_heads}")
        check_bool("tie_weights", self.tie_weights)
        if not (isinstance(self.rope_base, (int, float)) and not isinstance(self.rope_base, bool)
                and 1 < self.rope_base < math.inf):
            raise ValueError(f"rope_base must be a finite number > 1, got {self.rope_base!r}")
        if not (isinstance(self.rope_scale, (int, float)) and not isinstance(self.rope_scale, bool)
                and 0 < self.rope_scale < math.inf):
            raise ValueError(f"rope_scale must be a finite number > 0, got {self.rope_scale!r}")


def num_parameters(config: GPTConfig) -> int:
    """The parameter count of ``GPT(config)``, from the formula::

        V E (1 + untied) + C E (learned positions) + N (4 E^2 + 2 E F + 9 E + F) + 2 E

    with C = ``context_len`` and F = ``ffn_hiddens``; the other positions have no
    parameters (sinusoidal vectors and ALiBi slopes are fixed buffers).
    Per block: attention 4 E^2 + 4 E (four E x E projections with biases), the FFN
    2 E F + F + E, two LayerNorms 4 E. Then the final LayerNorm (2 E); the output
    layer has no bias and, tied, no matrix of its own.
    """
    if not isinstance(config, GPTConfig):
        raise TypeError(f"config must be a GPTConfig, got {type(config).__name__}")
    V, C, N = config.vocab_size, config.context_len, config.num_layers
    E, F_ = config.num_hiddens, config.ffn_hiddens
    embeddings = V * E * (1 if config.tie_weights else 2)
    positions = C * E if config.positions == "learned" else 0
    return embeddings + positions + N * (4 * E * E + 2 * E * F_ + 9 * E + F_) + 2 * E


class GeluFFN(PositionWiseFFN):
    """The position-wise FFN with GELU (exact, erf form) instead of ReLU, as in GPT.

    ``FFN(x) = W_2 dropout(gelu(W_1 x + b_1)) + b_2``; (B, L, E) -> (B, L, E).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_sequence("x", x, self.num_hiddens, self.dense1.weight.dtype)
        return self.dense2(self.dropout(F.gelu(self.dense1(x))))  # (B, L, F) -> (B, L, E)


class GPTBlock(nn.Module):
    """Pre-norm causal self-attention and a GELU FFN, each with a residual connection.

    Args:
        num_hiddens: E; num_heads: H (E divisible by H); ffn_hiddens: FFN hidden
        width; dropout: dropout probability.

    The attention is :class:`attn.MultiHeadAttention` (with biases). Without a
    cache, rotary positions or ALiBi its forward runs as is; otherwise the
    block projects with the module's own matrices, rotates queries and keys or
    adds the ALiBi biases, and reads the cache (the same computation, tested).
    """

    def __init__(self, num_hiddens: int, num_heads: int, ffn_hiddens: int, dropout: float = 0.0):
        super().__init__()
        check_int("ffn_hiddens", ffn_hiddens, minimum=1)
        self.attention = MultiHeadAttention(num_hiddens, num_heads, dropout, bias=True)
        self.addnorm1 = AddNorm(num_hiddens, dropout, norm_first=True)
        self.ffn = GeluFFN(num_hiddens, ffn_hiddens, dropout)
        self.addnorm2 = AddNorm(num_hiddens, dropout, norm_first=True)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None,
                need_weights: bool = False, rope: tuple | None = None,
                cache: KVCache | None = None, alibi: torch.Tensor | None = None):
        """Position i of the L new ones (after T cached) sees positions 0..T + i.

        Args:
            x: (B, L, E) block input, in the block's dtype.
            attn_mask: None or bool (B, L, S) with S = T + L, True = may attend;
                ANDed with the causal mask (left padding: False on padding keys).
            need_weights: also return the weights (B, H, L, S).
            rope: None, or ``(positions (B, L), base)``: rotate queries and keys.
            cache: None, or this block's :class:`attn.KVCache`; the new keys and
                values are appended to it.
            alibi: None, or the slopes (H,): add :func:`attn.alibi_bias` to the
                scores (queries at the last L of the S positions).

        Returns:
            ``(output (B, L, E), weights (B, H, L, S) or None)``.
        """
        weight = self.addnorm1.norm.weight
        check_sequence("x", x, weight.shape[0], weight.dtype)
        check_bool("need_weights", need_weights)
        h = self.addnorm1.prepare(x)  # LN_1(x)
        if rope is None and cache is None and alibi is None:
            out = self.attention(h, h, h, attn_mask=attn_mask, need_weights=need_weights,
                                 is_causal=True)
            y, weights = out if need_weights else (out, None)
        else:
            y, weights = self._attend(h, attn_mask, need_weights, rope, cache, alibi)
        x = self.addnorm1(x, y)  # x + attention(LN_1(x))
        return self.addnorm2(x, self.ffn(self.addnorm2.prepare(x))), weights

    def _attend(self, h, attn_mask, need_weights, rope, cache, alibi=None):
        """Causal attention of h (B, L, E) with rotary positions or ALiBi, and/or the cache."""
        mha = self.attention
        q = split_heads(mha.W_q(h), mha.num_heads)  # (B, L, E) -> (B, H, L, D)
        k = split_heads(mha.W_k(h), mha.num_heads)  # (B, H, L, D)
        v = split_heads(mha.W_v(h), mha.num_heads)  # (B, H, L, D)
        if rope is not None:
            positions, base = rope
            q, k = apply_rope(q, positions, base), apply_rope(k, positions, base)
        past = 0 if cache is None else len(cache)
        if cache is not None:
            k, v = cache.append(k, v)  # (B, H, T + L, D)
        num_queries, num_keys = q.shape[2], k.shape[2]
        rows = torch.arange(past, past + num_queries, device=h.device)[:, None]  # (L, 1)
        mask = torch.arange(num_keys, device=h.device) <= rows  # (L, S): causal, bottom right
        if attn_mask is not None:
            mask = attn_mask & mask  # (B, L, S)
        bias = None if alibi is None else alibi_bias(alibi.to(q.dtype), num_queries, num_keys)
        dropout_p = mha.dropout if self.training else 0.0
        if not need_weights:
            if mask.dim() == 3:
                mask = mask.unsqueeze(1)  # (B, 1, L, S): every head alike
            heads = fused_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p,
                                    attn_bias=bias)  # bias (H, L, S) or None
            return mha.W_o(merge_heads(heads)), None  # (B, H, L, D) -> (B, L, E)
        batch = q.shape[0]
        scores = q @ k.transpose(-2, -1) / math.sqrt(mha.head_dim)  # (B, H, L, S)
        if bias is not None:
            scores = scores + bias  # (B, H, L, S) + (H, L, S)
        flat = scores.reshape(batch * mha.num_heads, num_queries, num_keys)  # (B H, L, S)
        mask = mask.expand(batch, num_queries, num_keys)  # (B, L, S)
        mask = mask.unsqueeze(1).expand(-1, mha.num_heads, -1, -1).reshape(flat.shape)
        weights = masked_softmax(flat, attn_mask=mask, check_finite=False).view(scores.shape)
        dropped = F.dropout(weights, dropout_p) if dropout_p > 0 else weights
        return mha.W_o(merge_heads(dropped @ v)), weights  # (B, H, L, D) -> (B, L, E)


def _init_weights(module: nn.Module, std: float) -> None:
    """GPT-2's initialisation: N(0, std^2) matrices and embeddings, zero biases."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=std)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


class GPT(nn.Module):
    """A decoder-only Transformer language model.

    Args:
        config: a :class:`GPTConfig`.

    Attributes:
        token_embedding: ``nn.Embedding(V, E)``; position: a
        :class:`attn.LearnedPositionalEmbedding` (C vectors), a
        :class:`attn.PositionalEncoding` (sinusoidal, C rows), or dropout alone
        (RoPE, ALiBi, none); alibi_slopes: the buffer (H,) with ALiBi; blocks:
        N :class:`GPTBlock`; norm: the final LayerNorm; head:
        ``nn.Linear(E, V, bias=False)`` whose weight *is* the embedding's when tied.

    Weights start as in GPT-2: N(0, 0.02^2), and N(0, 0.02^2 / (2N)) for the
    two projections that write into the residual stream (W_o and the FFN's W_2);
    with sinusoidal positions the token embedding starts at N(0, 1 / E) and is
    scaled by sqrt(E), as in :class:`attn.Transformer`.
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise TypeError(f"config must be a GPTConfig, got {type(config).__name__}")
        self.config = config
        E = config.num_hiddens
        self.token_embedding = nn.Embedding(config.vocab_size, E)
        if config.positions == "learned":
            self.position = LearnedPositionalEmbedding(E, config.context_len, config.dropout)
        elif config.positions == "sinusoidal":
            self.position = PositionalEncoding(E, config.dropout, max_len=config.context_len)
        else:
            self.position = nn.Dropout(config.dropout)
        if config.positions == "alibi":
            self.register_buffer("alibi_slopes", alibi_slopes(config.num_heads),
                                 persistent=False)
        self.blocks = nn.ModuleList(
            GPTBlock(E, config.num_heads, config.ffn_hiddens, config.dropout)
            for _ in range(config.num_layers))
        self.norm = nn.LayerNorm(E)
        self.head = nn.Linear(E, config.vocab_size, bias=False)
        self.apply(lambda m: _init_weights(m, 0.02))
        residual_std = 0.02 / math.sqrt(2 * config.num_layers)
        for block in self.blocks:  # the projections into the residual stream: it grows less
            nn.init.normal_(block.attention.W_o.weight, std=residual_std)
            nn.init.normal_(block.ffn.dense2.weight, std=residual_std)
        if config.positions == "sinusoidal":  # as attn.Transformer: sqrt(E) x, x ~ N(0, 1/E)
            nn.init.normal_(self.token_embedding.weight, std=E ** -0.5)
        if config.tie_weights:
            self.head.weight = self.token_embedding.weight  # one (V, E) matrix, two uses

    @property
    def vocab_size(self) -> int:
        return self.config.vocab_size

    def new_cache(self) -> list[KVCache]:
        """An empty key-value cache: one :class:`attn.KVCache` per block."""
        return [KVCache() for _ in self.blocks]

    def forward(self, tokens: torch.Tensor, need_weights: bool = False, *,
                pad_lens: torch.Tensor | None = None, cache: list[KVCache] | None = None):
        """Next-token logits at every position of ``tokens``.

        Args:
            tokens: (B, L) torch.long ids in [0, V), L >= 1.
            need_weights: also return every block's attention weights.
            pad_lens: None, or an integer tensor (B,): row b starts with
                ``pad_lens[b]`` padding tokens (left padding; counted over the cached
                tokens too), which no position attends to. Their ids are unused.
            cache: None, or :meth:`new_cache`'s list: the L tokens follow the T
                cached ones, whose keys and values are read, and their own are
                appended. T + L must not pass ``config.context_len``.

        Returns:
            logits (B, L, V), or ``(logits, weights)`` with ``need_weights``: a list
            of N tensors (B, H, L, S), S = T + L. Logits at padding positions are
            meaningless.
        """
        check_tokens("tokens", tokens, self.config.vocab_size, min_length=1)
        check_bool("need_weights", need_weights)
        batch, length = tokens.shape
        if cache is not None and (not isinstance(cache, list) or len(cache) != len(self.blocks)
                                  or not all(isinstance(c, KVCache) for c in cache)):
            raise TypeError(f"cache must be a list of {len(self.blocks)} KVCache (from "
                            f"new_cache()) or None, got {type(cache).__name__}")
        past = 0 if cache is None else len(cache[0])
        context = self.config.context_len
        if past + length > context:
            raise ValueError(f"the model reads at most context_len = {context} tokens, got "
                             f"{past + length}" + (f" ({past} cached)" if past else ""))
        steps = torch.arange(past, past + length, device=tokens.device)  # (L,)
        if pad_lens is None:
            positions, attn_mask = steps.expand(batch, length), None  # (B, L)
        else:
            check_integer_tensor("pad_lens", pad_lens)
            if tuple(pad_lens.shape) != (batch,):
                raise ValueError(f"pad_lens must have shape (B,) = ({batch},), got "
                                 f"{tuple(pad_lens.shape)}")
            if pad_lens.min() < 0 or pad_lens.max() > context:
                raise ValueError(f"pad_lens must lie in [0, {context}], got values from "
                                 f"{int(pad_lens.min())} to {int(pad_lens.max())}")
            pad_lens = pad_lens.to(tokens.device)
            positions = (steps - pad_lens[:, None]).clamp(min=0)  # (B, L): real tokens from 0
            keys = torch.arange(past + length, device=tokens.device)  # (S,)
            attn_mask = (keys >= pad_lens[:, None])[:, None, :].expand(batch, length, -1)
        x = self.token_embedding(tokens)  # (B, L) -> (B, L, E)
        rope = alibi = None
        kind = self.config.positions
        if kind == "learned":
            x = self.position.dropout(x + self.position.embedding(positions))  # + (B, L, E)
        elif kind == "sinusoidal":  # sqrt(E) x + P[positions]: (B, L, E) + (B, L, E)
            x = x * math.sqrt(self.config.num_hiddens) + self.position.P[positions].to(x.dtype)
            x = self.position.dropout(x)
        else:
            x = self.position(x)
        if kind == "rope":
            scale = self.config.rope_scale
            rope = (positions if scale == 1 else positions * scale, self.config.rope_base)
        elif kind == "alibi":
            alibi = self.alibi_slopes  # (H,); biases depend on offsets, padding needs none
        weights = []
        for i, block in enumerate(self.blocks):
            x, w = block(x, attn_mask, need_weights, rope, None if cache is None else cache[i],
                         alibi)
            weights.append(w)
        logits = self.head(self.norm(x))  # (B, L, E) -> (B, L, V)
        return (logits, weights) if need_weights else logits

    @torch.no_grad()
    def attention_weights(self, tokens: torch.Tensor) -> torch.Tensor:
        """Every block's and head's attention weights for a sequence (eval mode).

        Args:
            tokens: (L,) or (B, L) torch.long ids.

        Returns:
            (N, H, L, L) for one sequence, (B, N, H, L, L) for a batch: the shape
            that :func:`attn.interactive.head_view` takes per attention kind.
        """
        single = isinstance(tokens, torch.Tensor) and tokens.dim() == 1
        was_training = self.training
        self.eval()
        try:
            _, weights = self(tokens[None] if single else tokens, need_weights=True)
        finally:
            self.train(was_training)
        stacked = torch.stack(weights, dim=1)  # N x (B, H, L, L) -> (B, N, H, L, L)
        return stacked[0] if single else stacked
