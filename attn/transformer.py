"""The Transformer encoder-decoder (Vaswani et al., 2017), built from attn's mechanisms.

Every block is a sublayer wrapped in a residual connection and a LayerNorm
(:class:`AddNorm`): post-norm ``LN(x + sublayer(x))`` as in the paper, or
pre-norm ``x + sublayer(LN(x))`` with ``norm_first=True``. An encoder block has
self-attention and a :class:`PositionWiseFFN`; a decoder block has causal
self-attention, encoder-decoder attention and the FFN. With copied weights the
blocks equal ``nn.TransformerEncoderLayer`` and ``nn.TransformerDecoderLayer``
(``batch_first=True, activation="relu"``, the same ``norm_first``).

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
import torch.nn.functional as F
from torch import nn

from attn.masking import masked_softmax, valid_lens_to_mask
from attn.multihead import MultiHeadAttention, merge_heads, split_heads
from attn.position import PositionalEncoding
from attn.seq2seq import _check_size, _check_src_valid_lens, _check_tokens


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
            _check_size(name, getattr(self, name))
        if self.num_hiddens % self.num_heads:
            raise ValueError(f"num_hiddens must be divisible by num_heads: got {self.num_hiddens} "
                             f"and {self.num_heads}")
        if self.num_hiddens % 2:
            raise ValueError(f"num_hiddens must be even (sinusoidal encoding), got {self.num_hiddens}")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) \
                or not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be a number in [0, 1), got {self.dropout!r}")
        if not isinstance(self.norm_first, bool):
            raise ValueError(f"norm_first must be True or False, got {self.norm_first!r}")


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
        self.dense1 = nn.Linear(num_hiddens, ffn_hiddens)
        self.dense2 = nn.Linear(ffn_hiddens, num_hiddens)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
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
        self.norm = nn.LayerNorm(num_hiddens)
        self.dropout = nn.Dropout(dropout)
        self.norm_first = norm_first

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """The sublayer's input: LN(x) for pre-norm, x itself for post-norm."""
        return self.norm(x) if self.norm_first else x

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``x`` (B, L, E), the block's input, and ``y`` (B, L, E), the sublayer's output."""
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
        heads = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)  # (B, H, 1, D)
        return mha.W_o(merge_heads(heads)), None
    scores = q @ keys.transpose(-2, -1) / math.sqrt(mha.head_dim)  # (B, H, 1, D) @ (B, H, D, S)
    if attn_mask is None:
        weights = torch.softmax(scores, dim=-1)  # (B, H, 1, S)
    else:
        batch, heads, _, num_keys = scores.shape
        mask = attn_mask.unsqueeze(1).expand(-1, heads, -1, -1).reshape(batch * heads, 1, num_keys)
        weights = masked_softmax(scores.reshape(batch * heads, 1, num_keys), attn_mask=mask)
        weights = weights.view(scores.shape)  # (B H, 1, S) -> (B, H, 1, S)
    return mha.W_o(merge_heads(weights @ values)), weights  # (B, H, 1, D) -> (B, 1, E)


class TransformerEncoderBlock(nn.Module):
    """Self-attention then the position-wise FFN, each inside an :class:`AddNorm`.

    Args:
        num_hiddens: E; num_heads: H (E divisible by H); ffn_hiddens: FFN hidden width;
        dropout: dropout probability; norm_first: pre-norm when True.
    """

    def __init__(self, num_hiddens: int, num_heads: int, ffn_hiddens: int, dropout: float = 0.0,
                 norm_first: bool = False):
        super().__init__()
        self.attention = MultiHeadAttention(num_hiddens, num_heads, dropout, bias=True)
        self.addnorm1 = AddNorm(num_hiddens, dropout, norm_first)
        self.ffn = PositionWiseFFN(num_hiddens, ffn_hiddens, dropout)
        self.addnorm2 = AddNorm(num_hiddens, dropout, norm_first)

    def forward(self, x: torch.Tensor, valid_lens: torch.Tensor | None = None,
                need_weights: bool = False):
        """``x`` (B, S, E); ``valid_lens`` None or (B,): keys past it are padding.

        Returns ``(output (B, S, E), weights (B, H, S, S) or None)``.
        """
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


def _embed(embedding: nn.Embedding, position: PositionalEncoding, tokens: torch.Tensor,
           offset: int = 0) -> torch.Tensor:
    """``sqrt(E) * embedding(tokens) + P[offset:offset + L]``, then dropout: (B, L) -> (B, L, E)."""
    x = embedding(tokens) * math.sqrt(embedding.embedding_dim)  # (B, L, E)
    if offset == 0:
        return position(x)  # checks L <= max_len
    if offset + x.shape[1] > position.max_len:
        raise ValueError(f"position {offset + x.shape[1] - 1} is past max_len = {position.max_len}")
    return position.dropout(x + position.P[offset:offset + x.shape[1]].to(x.dtype))


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
        _check_tokens("src", src, self.vocab_size)
        _check_src_valid_lens(src, src_valid_lens)
        x, weights = _embed(self.embedding, self.position, src), []  # (B, S, E)
        for block in self.blocks:
            x, w = block(x, src_valid_lens, need_weights)
            weights.append(w)
        return self.norm(x), weights if need_weights else None


@dataclass
class LayerCache:
    """One decoder block's cache: self-attention ``keys``/``values`` (B, H, t, D) of the t
    tokens read so far, and the encoder-decoder ``cross_keys``/``cross_values`` (B, H, S, D)."""

    keys: torch.Tensor
    values: torch.Tensor
    cross_keys: torch.Tensor
    cross_values: torch.Tensor


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
        _check_tokens("tgt_in", tgt_in, self.vocab_size)
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
        batch = enc_outputs.shape[0]
        tokens = torch.empty(batch, 0, dtype=torch.long, device=enc_outputs.device)  # (B, 0)
        cache = []
        if use_cache:
            for block in self.blocks:
                cross_keys, cross_values = block.cross_keys_values(enc_outputs)  # (B, H, S, D) each
                empty = cross_keys[:, :, :0]  # (B, H, 0, D)
                cache.append(LayerCache(empty, empty, cross_keys, cross_values))
        return TransformerState(enc_outputs, src_valid_lens, tokens, cache)

    def step(self, tokens: torch.Tensor, state: TransformerState):
        """Read one token per row; ``tokens`` (B,) ids.

        Returns ``(logits (B, V), new state, weights (B, S))``, the weights being
        the last block's encoder-decoder attention averaged over its heads.
        """
        _check_tokens("tokens", tokens.unsqueeze(-1), self.vocab_size)
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
