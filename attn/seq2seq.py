"""RNN encoder-decoder models for translation, with and without Bahdanau attention.

The models take token ids and know nothing of a corpus or of training. Every
decoder shares one small interface, which :mod:`attn.train` and
:mod:`attn.decode` use through :class:`EncoderDecoder`:

* ``init_state(enc_outputs, enc_state, src_valid_lens) -> DecoderState``
* ``forward(tgt_in (B, T), state) -> (logits (B, T, V), state, weights (B, T, S) or None)``

``forward`` of a decoder runs on any number of steps T: T = 1 is one decoding step.

Shapes (package legend): B batch, S source length, T target length, E model
width (the GRU's hidden size), N number of stacked GRU layers, V vocabulary
size; K is the width of the encoder's outputs (E, or 2E for a bidirectional
encoder). The size of a token embedding is spelled out as ``embed_size``, the
additive attention's hidden size as ``h``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from attn.checks import (check_bool, check_dropout, check_int, check_src_valid_lens, check_step_tokens,
                         check_tokens)
from attn.masking import masked_softmax, sequence_mask, valid_lens_to_mask
from attn.scoring import AdditiveAttention


@dataclass
class Seq2SeqConfig:
    """Hyper-parameters of an encoder-decoder (the chapter trains a small one on CPU)."""

    src_vocab_size: int
    tgt_vocab_size: int
    embed_size: int = 32    # size of a token embedding
    num_hiddens: int = 64   # E: model width, the GRU hidden size (and the attention's h by default)
    num_layers: int = 1     # N: stacked GRU layers in the encoder and in the decoder
    dropout: float = 0.0    # dropout between GRU layers (only used when num_layers > 1)
    attention: bool = True  # Bahdanau decoder (True) or the fixed-context baseline (False)
    attention_hiddens: int | None = None  # h: hidden size of the additive attention (None: E)
    output_hiddens: int | None = None  # l: a maxout layer of this size before the output layer (None: none)
    bidirectional: bool = False  # the encoder also reads right to left (Bahdanau et al.); outputs 2E wide

    def __post_init__(self):
        for name in ("src_vocab_size", "tgt_vocab_size", "embed_size", "num_hiddens", "num_layers"):
            check_int(name, getattr(self, name), minimum=1)
        for name in ("attention_hiddens", "output_hiddens"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name), minimum=1)
        check_dropout(self.dropout, below_one=True)
        for name in ("attention", "bidirectional"):
            check_bool(name, getattr(self, name))


class Seq2SeqEncoder(nn.Module):
    """Embedding followed by a stack of GRU layers, blind to padding.

    Each sentence's final state is read at its last real token, and outputs at
    padded positions are set to zero, so nothing downstream depends on what the
    padding holds. (The layers are separate ``nn.GRU`` modules because a stacked
    ``nn.GRU`` only returns the top layer's outputs; packed sequences would do the
    same job but are slow to train on CPU.)

    With ``bidirectional=True`` every layer also reads each sentence from its last
    real token back to its first, as in Bahdanau et al. (2015): the output at
    position j is then ``[forward state, backward state]`` (2E numbers), which sums
    up the words on both sides of word j. The decoder's first state is then
    ``tanh(W [last forward state, first backward state])`` per layer (the paper uses
    the backward state alone).

    Args:
        vocab_size: V, the source vocabulary size.
        embed_size: size of a token embedding.
        num_hiddens: E, the GRU hidden size.
        num_layers: N, stacked GRU layers.
        dropout: dropout on the inputs of every layer above the first.
        bidirectional: read each sentence in both directions (outputs of size 2E).
    """

    def __init__(self, vocab_size: int, embed_size: int, num_hiddens: int, num_layers: int = 1,
                 dropout: float = 0.0, bidirectional: bool = False):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.vocab_size, self.bidirectional = vocab_size, bidirectional
        self.output_size = 2 * num_hiddens if bidirectional else num_hiddens  # width of the outputs
        self.embedding = nn.Embedding(vocab_size, embed_size)

        def grus():
            return nn.ModuleList(nn.GRU(embed_size if i == 0 else self.output_size, num_hiddens, batch_first=True)
                                 for i in range(num_layers))

        self.layers = grus()
        if bidirectional:
            self.backward_layers = grus()
            self.bridges = nn.ModuleList(nn.Linear(2 * num_hiddens, num_hiddens) for _ in range(num_layers))
        self.dropout = nn.Dropout(dropout)

    def forward(self, src: torch.Tensor, src_valid_lens: torch.Tensor):
        """Encode a batch of source sentences.

        Args:
            src: (B, S) token ids, B >= 1.
            src_valid_lens: (B,) integer number of real tokens per sentence, in [1, S].

        Returns:
            ``outputs`` (B, S, E) (or (B, S, 2E) when bidirectional), the top
            layer's output at every position (zero on padding), and ``state``
            (N, B, E), every layer's state after the last real token (when
            bidirectional: made from both directions' final states).
        """
        check_tokens("src", src, self.vocab_size)
        check_src_valid_lens(src, src_valid_lens)
        batch, num_steps = src.shape
        mask = sequence_mask(src_valid_lens, num_steps).unsqueeze(-1)  # (B, S, 1), True on real tokens
        last = (src_valid_lens - 1).view(batch, 1, 1)  # (B, 1, 1): position of the last real token
        if self.bidirectional:
            # Position t of the reversed sentence holds token valid_len - 1 - t; padding stays where it is.
            # The map is its own inverse, so the same gather also puts the outputs back in order.
            steps = torch.arange(num_steps, device=src.device)
            flip = torch.where(mask[..., 0], last.view(batch, 1) - steps, steps).unsqueeze(-1)  # (B, S, 1)
        x, states = self.embedding(src), []  # (B, S, embed_size)
        for i, layer in enumerate(self.layers):
            inputs = self.dropout(x) if i > 0 else x
            x, _ = layer(inputs)  # (B, S, E); states past the end are ignored
            x = x * mask  # zero on padding
            state = x.gather(1, last.expand(-1, -1, x.shape[-1]))[:, 0]  # (B, 1, E) -> (B, E)
            if self.bidirectional:
                reversed_inputs = inputs.gather(1, flip.expand(-1, -1, inputs.shape[-1]))
                back, _ = self.backward_layers[i](reversed_inputs)  # (B, S, E), reading right to left
                back = back.gather(1, flip.expand(-1, -1, back.shape[-1])) * mask  # back in sentence order
                state = torch.tanh(self.bridges[i](torch.cat([state, back[:, 0]], dim=-1)))  # (B, 2E) -> (B, E)
                x = torch.cat([x, back], dim=-1)  # (B, S, 2E)
            states.append(state)
        return x, torch.stack(states)  # (B, S, E or 2E), (N, B, E)


class Maxout(nn.Module):
    """A linear map to ``2 * l`` units followed by the maximum of each pair (Goodfellow et al., 2013).

    Bahdanau et al. (2015) put such a layer between the decoder and its output
    layer (their "deep output", with l = 500 for a 1000-unit decoder). Besides
    adding a non-linearity, it makes the output layer cheap when V is large: the
    layer over the vocabulary reads l numbers instead of 2E.
    """

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.out_features = out_features
        self.linear = nn.Linear(in_features, 2 * out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (..., in_features) -> (..., out_features)."""
        pairs = self.linear(x).unflatten(-1, (self.out_features, 2))  # (..., l, 2)
        return pairs.amax(dim=-1)


def _output_layer(in_features: int, vocab_size: int, output_hiddens: int | None):
    """What maps the decoder's [GRU output, context] to logits (V): ``(maxout, dense)``."""
    if output_hiddens is None:
        return nn.Identity(), nn.Linear(in_features, vocab_size)
    return Maxout(in_features, output_hiddens), nn.Linear(output_hiddens, vocab_size)


@dataclass
class DecoderState:
    """What a decoder carries from one step to the next.

    ``hidden`` (N, B, E) is the decoder GRU's state; ``enc_outputs`` (B, S, K)
    and ``src_valid_lens`` (B,) are the source it attends to; ``context`` (B, E)
    is the encoder's final top-layer state (the baseline's fixed context).
    An attention decoder also keeps what does not change while it decodes a
    sentence: ``projected_keys`` (B, S, h), the keys after the attention's
    ``W_k``, and ``attn_mask`` (B, 1, S), True on real source tokens.
    """

    hidden: torch.Tensor
    enc_outputs: torch.Tensor
    src_valid_lens: torch.Tensor
    context: torch.Tensor
    projected_keys: torch.Tensor | None = None
    attn_mask: torch.Tensor | None = None

    def select(self, index: torch.Tensor) -> "DecoderState":
        """The state of the batch rows ``index`` (used by beam search)."""
        def pick(x):
            return None if x is None else x[index]

        return DecoderState(self.hidden[:, index], self.enc_outputs[index], self.src_valid_lens[index],
                            self.context[index], pick(self.projected_keys), pick(self.attn_mask))


class Seq2SeqDecoder(nn.Module):
    """The baseline: a GRU decoder whose only view of the source is a fixed context.

    The context is the encoder's final top-layer state; it is concatenated with
    every input embedding, the encoder's final states start the decoder, and the
    output layer reads the GRU output together with the context. Arguments as
    for :class:`Seq2SeqEncoder`, with V the target vocabulary size;
    ``output_hiddens`` l puts a :class:`Maxout` layer of that size before the
    output layer (default None: the output layer reads the 2E numbers directly).
    """

    def __init__(self, vocab_size: int, embed_size: int, num_hiddens: int, num_layers: int = 1,
                 dropout: float = 0.0, output_hiddens: int | None = None):
        super().__init__()
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = nn.GRU(embed_size + num_hiddens, num_hiddens, num_layers, batch_first=True,
                          dropout=dropout if num_layers > 1 else 0.0)
        self.maxout, self.dense = _output_layer(2 * num_hiddens, vocab_size, output_hiddens)  # [output, context]

    def init_state(self, enc_outputs, enc_state, src_valid_lens) -> DecoderState:
        """State from ``enc_outputs`` (B, S, E), ``enc_state`` (N, B, E) and ``src_valid_lens`` (B,)."""
        return DecoderState(enc_state, enc_outputs, src_valid_lens, context=enc_state[-1])

    def forward(self, tgt_in: torch.Tensor, state: DecoderState):
        """Args: ``tgt_in`` (B, T) ids, T >= 1, ``state``. Returns logits (B, T, V), new state, None."""
        check_tokens("tgt_in", tgt_in, self.vocab_size, min_length=1)
        embedded = self.embedding(tgt_in)  # (B, T, embed_size)
        context = state.context.unsqueeze(1).expand(-1, tgt_in.shape[1], -1)  # (B, E) -> (B, T, E)
        outputs, hidden = self.rnn(torch.cat([embedded, context], dim=-1), state.hidden)  # (B, T, E)
        new_state = DecoderState(hidden, state.enc_outputs, state.src_valid_lens, state.context)
        logits = self.dense(self.maxout(torch.cat([outputs, context], dim=-1)))  # (B, T, 2E) -> (B, T, V)
        return logits, new_state, None


class BahdanauDecoder(nn.Module):
    """A GRU decoder that attends to every encoder output at every step.

    At step t the query is the decoder's previous top-layer state, the keys and
    the values are the encoder outputs (padding masked out with the source valid
    lengths), and the resulting context is concatenated with the input embedding
    before the GRU step (Bahdanau et al., 2015). As in the baseline, the output
    layer reads the GRU output together with the context, and the encoder's
    final states start the decoder. ``attention_hiddens`` is the additive
    attention's hidden size h (default: E); ``output_hiddens`` as in the
    baseline (Bahdanau et al. use a maxout layer there); ``key_size`` is the
    width of the encoder outputs (default E; 2E for a bidirectional encoder).

    The keys are the same at every step, so :meth:`init_state` projects them
    (``W_k k_j``) and builds the padding mask once per sentence; each step only
    projects its query.
    """

    def __init__(self, vocab_size: int, embed_size: int, num_hiddens: int, num_layers: int = 1,
                 dropout: float = 0.0, attention_hiddens: int | None = None,
                 output_hiddens: int | None = None, key_size: int | None = None):
        super().__init__()
        self.vocab_size = vocab_size
        key_size = key_size or num_hiddens  # width of the encoder outputs: keys, values and context
        self.attention = AdditiveAttention(key_size, num_hiddens, attention_hiddens or num_hiddens)
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = nn.GRU(embed_size + key_size, num_hiddens, num_layers, batch_first=True,
                          dropout=dropout if num_layers > 1 else 0.0)
        self.maxout, self.dense = _output_layer(num_hiddens + key_size, vocab_size, output_hiddens)

    def init_state(self, enc_outputs, enc_state, src_valid_lens) -> DecoderState:
        """State from ``enc_outputs`` (B, S, K), ``enc_state`` (N, B, E) and ``src_valid_lens`` (B,)."""
        projected_keys = self.attention.project_keys(enc_outputs)  # (B, S, K) -> (B, S, h)
        attn_mask = valid_lens_to_mask(src_valid_lens, 1, enc_outputs.shape[1])  # (B, 1, S)
        return DecoderState(enc_state, enc_outputs, src_valid_lens, enc_state[-1], projected_keys, attn_mask)

    def forward(self, tgt_in: torch.Tensor, state: DecoderState):
        """Decode ``tgt_in`` (B, T), T >= 1, step by step.

        Returns:
            logits (B, T, V), the new state, and the attention weights (B, T, S):
            row t says how much each source position contributed at step t.
        """
        check_tokens("tgt_in", tgt_in, self.vocab_size, min_length=1)
        if state.projected_keys is None or state.attn_mask is None:
            raise ValueError("BahdanauDecoder needs a state made by its own init_state (with projected keys)")
        embedded = self.embedding(tgt_in)  # (B, T, embed_size)
        hidden, values = state.hidden, state.enc_outputs  # (N, B, E), (B, S, K)
        outputs, weights = [], []
        for x_t in embedded.unbind(dim=1):  # T steps, each (B, embed_size)
            query = hidden[-1].unsqueeze(1)  # (B, 1, E): previous top-layer state
            scores = self.attention.score(query, state.projected_keys)  # (B, 1, S)
            w = masked_softmax(scores, attn_mask=state.attn_mask)  # (B, 1, S); padded source positions get 0
            context = torch.bmm(self.attention.dropout(w), values)  # (B, 1, S) @ (B, S, K) -> (B, 1, K)
            x = torch.cat([x_t.unsqueeze(1), context], dim=-1)  # (B, 1, embed_size + K)
            out, hidden = self.rnn(x, hidden)  # (B, 1, E), (N, B, E)
            outputs.append(torch.cat([out, context], dim=-1))  # (B, 1, E + K)
            weights.append(w)
        new_state = DecoderState(hidden, values, state.src_valid_lens, state.context, state.projected_keys,
                                 state.attn_mask)
        logits = self.dense(self.maxout(torch.cat(outputs, dim=1)))  # (B, T, E + K) -> (B, T, V)
        return logits, new_state, torch.cat(weights, dim=1)


class EncoderDecoder(nn.Module):
    """An encoder and a decoder behind the interface the training and decoding loops use.

    ``forward(src, src_valid_lens, tgt_in)`` returns ``(logits (B, T, V), weights)``
    with ``weights`` (B, T, S) for an attention decoder and None otherwise.
    ``init_state`` and ``step`` serve step-by-step decoding; ``tgt_vocab_size``
    lets a decoding loop check its ``<bos>`` and ``<eos>`` ids.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    @property
    def tgt_vocab_size(self) -> int:
        """V of the target vocabulary: the decoder's output size."""
        return self.decoder.vocab_size

    def init_state(self, src: torch.Tensor, src_valid_lens: torch.Tensor) -> DecoderState:
        """Encode ``src`` (B, S) with ``src_valid_lens`` (B,) into the decoder's first state."""
        enc_outputs, enc_state = self.encoder(src, src_valid_lens)  # (B, S, K), (N, B, E)
        return self.decoder.init_state(enc_outputs, enc_state, src_valid_lens)

    def step(self, tokens: torch.Tensor, state: DecoderState):
        """One decoding step: ``tokens`` (B,) -> logits (B, V), state, weights (B, S) or None."""
        check_step_tokens(tokens, state.enc_outputs.shape[0], self.decoder.vocab_size)
        logits, state, weights = self.decoder(tokens.unsqueeze(1), state)  # (B, 1, V), state, (B, 1, S)
        return logits[:, 0], state, None if weights is None else weights[:, 0]

    def forward(self, src: torch.Tensor, src_valid_lens: torch.Tensor, tgt_in: torch.Tensor):
        """``src`` (B, S), ``src_valid_lens`` (B,), ``tgt_in`` (B, T) -> logits (B, T, V), weights or None."""
        state = self.init_state(src, src_valid_lens)  # checks src and src_valid_lens
        if isinstance(tgt_in, torch.Tensor) and tgt_in.dim() == 2 and tgt_in.shape[0] != src.shape[0]:
            raise ValueError("src and tgt_in must have the same batch size B: "
                             f"got {src.shape[0]} and {tgt_in.shape[0]}")  # the decoder checks the rest
        logits, _, weights = self.decoder(tgt_in, state)
        return logits, weights


def build_model(config: Seq2SeqConfig) -> EncoderDecoder:
    """The encoder-decoder that ``config`` describes (Bahdanau or baseline decoder)."""
    args = (config.embed_size, config.num_hiddens, config.num_layers, config.dropout)
    key_size = 2 * config.num_hiddens if config.bidirectional else config.num_hiddens  # encoder output width
    if config.attention:
        decoder = BahdanauDecoder(config.tgt_vocab_size, *args, attention_hiddens=config.attention_hiddens,
                                  output_hiddens=config.output_hiddens, key_size=key_size)
    else:
        decoder = Seq2SeqDecoder(config.tgt_vocab_size, *args, output_hiddens=config.output_hiddens)
    encoder = Seq2SeqEncoder(config.src_vocab_size, *args, bidirectional=config.bidirectional)
    return EncoderDecoder(encoder, decoder)
