"""The Transformer encoder-decoder (Vaswani et al., 2017), built from attn's mechanisms.

The blocks (:class:`AddNorm`, :class:`PositionWiseFFN`, the encoder and decoder
blocks, post-norm as in the paper or pre-norm with ``norm_first=True``) live in
:mod:`attn.blocks` and are importable from here too. This module stacks them:
embeddings and positional encoding, N blocks, the output layer.

:class:`Transformer` offers the interface of :class:`attn.seq2seq.EncoderDecoder`,
so ``attn.train_seq2seq``, ``attn.greedy_decode``, ``attn.beam_search`` and
``attn.translate`` work on it unchanged:

* ``forward(src, src_valid_lens, tgt_in, need_weights=False)`` reads the whole
  target at once under the causal mask (training) and returns
  ``(logits (B, T, V), TransformerWeights or None)``;
* ``init_state(src, src_valid_lens)`` encodes the source once and
  ``step(tokens (B,), state)`` decodes one token. With the key-value cache
  (``use_cache=True``, the default) each layer keeps the keys and values of the
  tokens already read, so step t projects one new token and attends over t keys:
  O(t) work instead of re-running the whole prefix, O(t^2).

Shapes (package legend): B batch, H heads, S source length, T target length,
t tokens decoded so far, E model width, D = E / H head width, V vocabulary size,
N stacked blocks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from attn.blocks import (AddNorm, LayerCache, PositionWiseFFN, TransformerDecoderBlock,
                         TransformerEncoderBlock)
from attn.checks import (check_bool, check_dropout, check_int, check_sequence, check_src_valid_lens,
                         check_step_tokens, check_tokens, check_valid_lens)
from attn.masking import valid_lens_to_mask
from attn.position import PositionalEncoding

__all__ = ["AddNorm", "LayerCache", "PositionWiseFFN", "Transformer", "TransformerConfig",
           "TransformerDecoder", "TransformerDecoderBlock", "TransformerEncoder",
           "TransformerEncoderBlock", "TransformerState", "TransformerWeights", "build_transformer"]


@dataclass
class TransformerConfig:
    """Hyper-parameters of a :class:`Transformer` (the book trains small ones on CPU)."""

    src_vocab_size: int
    tgt_vocab_size: int
    num_hiddens: int = 64      # E: model width (the paper's d_model is 512)
    num_heads: int = 4         # H: heads per attention layer; E must be divisible by H
    ffn_hiddens: int = 128     # hidden width of the position-wise FFN (the paper: 4 E)
    num_layers: int = 2        # N: blocks in the encoder and in the decoder (the paper: 6)
    dropout: float = 0.0       # on embeddings, attention weights, FFN and sublayer outputs
    norm_first: bool = False   # pre-norm (True) or the paper's post-norm (False)
    max_len: int = 1000        # longest source or target the positional encoding covers

    def __post_init__(self):
        for name in ("src_vocab_size", "tgt_vocab_size", "num_hiddens", "num_heads", "ffn_hiddens",
                     "num_layers", "max_len"):
            check_int(name, getattr(self, name), minimum=1)
        if self.num_hiddens % self.num_heads:
            raise ValueError(f"num_hiddens must be divisible by num_heads: got {self.num_hiddens} "
                             f"and {self.num_heads}")
        if self.num_hiddens % 2:
            raise ValueError(f"num_hiddens must be even (sinusoidal encoding), got {self.num_hiddens}")
        check_dropout(self.dropout, below_one=True)
        check_bool("norm_first", self.norm_first)


def _embed(embedding: nn.Embedding, position: PositionalEncoding, tokens: torch.Tensor,
           offset: int = 0) -> torch.Tensor:
    """``sqrt(E) * embedding(tokens) + P[offset:offset + L]``, then dropout: (B, L) -> (B, L, E)."""
    x = embedding(tokens) * math.sqrt(embedding.embedding_dim)  # (B, L, E)
    return position(x, offset)  # checks offset + L <= max_len


def _check_stack_args(vocab_size, num_layers, max_len) -> None:
    for name, n in (("vocab_size", vocab_size), ("num_layers", num_layers), ("max_len", max_len)):
        check_int(name, n, minimum=1)


def _new_embedding(vocab_size: int, num_hiddens: int) -> nn.Embedding:
    # entries of std E^-1/2, so that after the sqrt(E) scaling they have std 1, the size
    # of the positional encoding's entries, whatever E is
    embedding = nn.Embedding(vocab_size, num_hiddens)
    nn.init.normal_(embedding.weight, std=num_hiddens ** -0.5)
    return embedding


class TransformerEncoder(nn.Module):
    """Embedding (scaled by sqrt(E)) plus positional encoding, then N encoder blocks.

    With pre-norm a final LayerNorm follows the last block (its residual stream is
    not normalized otherwise). Arguments as in :class:`TransformerConfig`.
    """

    def __init__(self, vocab_size: int, num_hiddens: int, num_heads: int, ffn_hiddens: int,
                 num_layers: int, dropout: float = 0.0, norm_first: bool = False, max_len: int = 1000):
        super().__init__()
        _check_stack_args(vocab_size, num_layers, max_len)
        self.vocab_size = vocab_size
        self.embedding = _new_embedding(vocab_size, num_hiddens)
        self.position = PositionalEncoding(num_hiddens, dropout, max_len)
        self.blocks = nn.ModuleList(TransformerEncoderBlock(num_hiddens, num_heads, ffn_hiddens, dropout,
                                                            norm_first) for _ in range(num_layers))
        self.norm = nn.LayerNorm(num_hiddens) if norm_first else nn.Identity()

    def forward(self, src: torch.Tensor, src_valid_lens: torch.Tensor, need_weights: bool = False):
        """``src`` (B, S) ids, ``src_valid_lens`` (B,) in [1, S].

        Returns ``(outputs (B, S, E), weights)``: a list of N tensors (B, H, S, S), or None.
        """
        check_tokens("src", src, self.vocab_size)
        check_src_valid_lens(src, src_valid_lens)
        check_bool("need_weights", need_weights)
        x, weights = _embed(self.embedding, self.position, src), []  # (B, S, E)
        for block in self.blocks:
            x, w = block(x, src_valid_lens, need_weights)
            weights.append(w)
        return self.norm(x), weights if need_weights else None


@dataclass
class TransformerState:
    """What the decoder carries from one step to the next.

    ``enc_outputs`` (B, S, E) and ``src_valid_lens`` (B,) are the source;
    ``tokens`` (B, t) the tokens read so far; ``cache`` one :class:`LayerCache` per
    block, or an empty list when decoding without the cache (each step then
    recomputes the whole prefix from ``tokens``).
    """

    enc_outputs: torch.Tensor
    src_valid_lens: torch.Tensor
    tokens: torch.Tensor
    cache: list[LayerCache] = field(default_factory=list)

    @property
    def use_cache(self) -> bool:
        return bool(self.cache)

    def select(self, index: torch.Tensor) -> "TransformerState":
        """The state of the batch rows ``index`` (used by beam search)."""
        cache = [LayerCache(c.keys[index], c.values[index], c.cross_keys[index], c.cross_values[index])
                 for c in self.cache]
        return TransformerState(self.enc_outputs[index], self.src_valid_lens[index], self.tokens[index],
                                cache)

    def cache_bytes(self) -> int:
        """Memory held by the key-value cache (bytes)."""
        return sum(t.numel() * t.element_size() for c in self.cache
                   for t in (c.keys, c.values, c.cross_keys, c.cross_values))


class TransformerDecoder(nn.Module):
    """Embedding (scaled by sqrt(E)) plus positional encoding, N decoder blocks, output layer.

    With pre-norm a final LayerNorm precedes the output layer. Arguments as in
    :class:`TransformerConfig`, with V the target vocabulary size.
    """

    def __init__(self, vocab_size: int, num_hiddens: int, num_heads: int, ffn_hiddens: int,
                 num_layers: int, dropout: float = 0.0, norm_first: bool = False, max_len: int = 1000):
        super().__init__()
        _check_stack_args(vocab_size, num_layers, max_len)
        self.vocab_size = vocab_size
        self.embedding = _new_embedding(vocab_size, num_hiddens)
        self.position = PositionalEncoding(num_hiddens, dropout, max_len)
        self.blocks = nn.ModuleList(TransformerDecoderBlock(num_hiddens, num_heads, ffn_hiddens, dropout,
                                                            norm_first) for _ in range(num_layers))
        self.norm = nn.LayerNorm(num_hiddens) if norm_first else nn.Identity()
        self.dense = nn.Linear(num_hiddens, vocab_size)

    def forward(self, tgt_in: torch.Tensor, enc_outputs: torch.Tensor, src_valid_lens: torch.Tensor,
                need_weights: bool = False):
        """The whole target at once under the causal mask (training, or recomputation).

        Args:
            tgt_in: (B, T) ids; enc_outputs: (B, S, E); src_valid_lens: (B,).

        Returns:
            ``(logits (B, T, V), self weights, cross weights)``: lists of N tensors
            (B, H, T, T) and (B, H, T, S), or None unless ``need_weights``.
        """
        check_tokens("tgt_in", tgt_in, self.vocab_size, min_length=1)
        check_bool("need_weights", need_weights)
        x, self_ws, cross_ws = _embed(self.embedding, self.position, tgt_in), [], []  # (B, T, E)
        for block in self.blocks:
            x, self_w, cross_w = block(x, enc_outputs, src_valid_lens, need_weights)
            self_ws.append(self_w)
            cross_ws.append(cross_w)
        logits = self.dense(self.norm(x))  # (B, T, E) -> (B, T, V)
        return (logits, self_ws, cross_ws) if need_weights else (logits, None, None)

    def init_state(self, enc_outputs: torch.Tensor, src_valid_lens: torch.Tensor,
                   use_cache: bool = True) -> TransformerState:
        """The state before the first token: no token read, cross keys/values projected once."""
        check_bool("use_cache", use_cache)
        weight = self.embedding.weight
        check_sequence("enc_outputs", enc_outputs, weight.shape[1], weight.dtype)
        batch = enc_outputs.shape[0]
        check_valid_lens(src_valid_lens, batch, 1, enc_outputs.shape[1])
        tokens = torch.empty(batch, 0, dtype=torch.long, device=enc_outputs.device)  # (B, 0)
        cache = []
        if use_cache:
            for block in self.blocks:
                cross_keys, cross_values = block.cross_keys_values(enc_outputs)  # (B, H, S, D) each
                empty = cross_keys[:, :, :0]  # (B, H, 0, D)
                cache.append(LayerCache(empty, empty, cross_keys, cross_values))
        return TransformerState(enc_outputs, src_valid_lens, tokens, cache)

    def step(self, tokens: torch.Tensor, state: TransformerState):
        """Read one token per row; ``tokens`` a torch.long tensor (B,) of ids, B the state's.

        Returns ``(logits (B, V), new state, weights (B, S))``, the weights being
        the last block's encoder-decoder attention averaged over its heads.
        """
        if not isinstance(state, TransformerState):
            raise TypeError(f"state must be a TransformerState (from init_state), "
                            f"got {type(state).__name__}")
        check_step_tokens(tokens, state.tokens.shape[0], self.vocab_size)
        t = state.tokens.shape[1]  # position of the new token
        all_tokens = torch.cat([state.tokens, tokens.unsqueeze(1)], dim=1)  # (B, t + 1)
        if not state.use_cache:  # recompute every position, with the cached path's economies
            x = _embed(self.embedding, self.position, all_tokens)  # (B, t + 1, E)
            for i, block in enumerate(self.blocks):  # weights from the last block only
                last = i == len(self.blocks) - 1
                x, _, cross_w = block(x, state.enc_outputs, state.src_valid_lens, need_weights=last)
            logits = self.dense(self.norm(x[:, -1]))  # (B, V): the output layer at t only
            new_state = TransformerState(state.enc_outputs, state.src_valid_lens, all_tokens)
            return logits, new_state, cross_w[:, :, -1].mean(dim=1)  # (B, H, S) -> (B, S)
        cross_mask = valid_lens_to_mask(state.src_valid_lens, 1, state.enc_outputs.shape[1])  # (B, 1, S)
        x = _embed(self.embedding, self.position, tokens.unsqueeze(1), offset=t)  # (B, 1, E)
        cache = []
        for i, (block, layer_cache) in enumerate(zip(self.blocks, state.cache)):
            last = i == len(self.blocks) - 1  # only the last block's weights are returned
            x, layer_cache, cross_w = block.step(x, layer_cache, cross_mask, need_weights=last)
            cache.append(layer_cache)
        logits = self.dense(self.norm(x))[:, 0]  # (B, 1, E) -> (B, V)
        new_state = TransformerState(state.enc_outputs, state.src_valid_lens, all_tokens, cache)
        return logits, new_state, cross_w[:, :, 0].mean(dim=1)  # (B, H, S) -> (B, S)


@dataclass
class TransformerWeights:
    """Attention weights of every block and head, for one batch.

    ``encoder``: N tensors (B, H, S, S); ``decoder_self``: N tensors (B, H, T, T),
    zero above the diagonal; ``decoder_cross``: N tensors (B, H, T, S).
    """

    encoder: list[torch.Tensor]
    decoder_self: list[torch.Tensor]
    decoder_cross: list[torch.Tensor]


class Transformer(nn.Module):
    """A Transformer encoder-decoder behind the interface the training and decoding loops use.

    Attributes:
        use_cache: whether :meth:`init_state` sets up the key-value cache (default
            True); False makes every :meth:`step` recompute the whole prefix (the
            same logits, slower: for measurement).
    """

    def __init__(self, config: TransformerConfig):
        super().__init__()
        if not isinstance(config, TransformerConfig):
            raise TypeError(f"config must be a TransformerConfig, got {type(config).__name__}")
        self.config = config
        args = (config.num_hiddens, config.num_heads, config.ffn_hiddens, config.num_layers,
                config.dropout, config.norm_first, config.max_len)
        self.encoder = TransformerEncoder(config.src_vocab_size, *args)
        self.decoder = TransformerDecoder(config.tgt_vocab_size, *args)
        self.use_cache = True

    @property
    def tgt_vocab_size(self) -> int:
        """V of the target vocabulary: the decoder's output size."""
        return self.decoder.vocab_size

    def forward(self, src: torch.Tensor, src_valid_lens: torch.Tensor, tgt_in: torch.Tensor,
                need_weights: bool = False):
        """Teacher-forced logits of the whole target at once.

        Args:
            src: (B, S) ids; src_valid_lens: (B,) in [1, S]; tgt_in: (B, T) ids.
            need_weights: also collect every attention weight (explicit, slower path).

        Returns:
            ``(logits (B, T, V), TransformerWeights or None)``.
        """
        if not isinstance(need_weights, bool):
            raise TypeError(f"need_weights must be True or False, got {need_weights!r}")
        enc_outputs, enc_ws = self.encoder(src, src_valid_lens, need_weights)  # (B, S, E)
        if isinstance(tgt_in, torch.Tensor) and tgt_in.dim() == 2 and tgt_in.shape[0] != src.shape[0]:
            raise ValueError("src and tgt_in must have the same batch size B: "
                             f"got {src.shape[0]} and {tgt_in.shape[0]}")
        logits, self_ws, cross_ws = self.decoder(tgt_in, enc_outputs, src_valid_lens, need_weights)
        return logits, TransformerWeights(enc_ws, self_ws, cross_ws) if need_weights else None

    def init_state(self, src: torch.Tensor, src_valid_lens: torch.Tensor,
                   use_cache: bool | None = None) -> TransformerState:
        """Encode ``src`` (B, S) once; ``use_cache`` None means ``self.use_cache``."""
        use_cache = self.use_cache if use_cache is None else use_cache
        if not isinstance(use_cache, bool):
            raise TypeError(f"use_cache must be True or False, got {use_cache!r}")
        enc_outputs, _ = self.encoder(src, src_valid_lens)  # (B, S, E)
        return self.decoder.init_state(enc_outputs, src_valid_lens, use_cache)

    def step(self, tokens: torch.Tensor, state: TransformerState):
        """One decoding step: ``tokens`` (B,) -> logits (B, V), state, weights (B, S)."""
        return self.decoder.step(tokens, state)


def build_transformer(config: TransformerConfig) -> Transformer:
    """The :class:`Transformer` that ``config`` describes."""
    return Transformer(config)
