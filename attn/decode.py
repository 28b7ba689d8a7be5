"""Turning a trained encoder-decoder into translations: greedy decoding and beam search.

Both work on a batch of sources through the interface of
:class:`attn.seq2seq.EncoderDecoder`: ``init_state(src, src_valid_lens)`` and
``step(tokens (B,), state) -> (logits (B, V), state, weights (B, S) or None)``,
where the state has ``select(index)`` to pick batch rows. Both stop a sentence at
``<eos>`` and return, for each source, the output ids (without ``<eos>``) and the
attention matrix (output length, S) when the model has one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Decoded:
    """Decoder outputs for a batch of B sources.

    ``tokens[b]``: output ids of source b, ``<eos>`` and what follows cut off.
    ``attention[b]``: (len(tokens[b]) + 1, S) weights, one row per output token
    and one for ``<eos>`` (when it was produced), or None without attention.
    ``scores[b]``: total log-probability of the output, ``<eos>`` included.
    """

    tokens: list[list[int]]
    attention: list[torch.Tensor | None]
    scores: list[float]


def _check_inputs(src, src_valid_lens, max_len):
    if src.dim() != 2:
        raise ValueError(f"src must have shape (B, S), got shape {tuple(src.shape)}")
    if tuple(src_valid_lens.shape) != (src.shape[0],):
        raise ValueError(f"src_valid_lens must have shape (B,) = ({src.shape[0]},), got {tuple(src_valid_lens.shape)}")
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")


def _cut(row: list[int], eos: int) -> int:
    """Number of tokens before the first ``<eos>`` (all of them when there is none)."""
    return row.index(eos) if eos in row else len(row)


@torch.no_grad()
def greedy_decode(model, src: torch.Tensor, src_valid_lens: torch.Tensor, bos: int, eos: int,
                  max_len: int = 40) -> Decoded:
    """Pick the most probable token at each step, for the whole batch at once.

    Args:
        model: an encoder-decoder with ``init_state`` and ``step``.
        src: (B, S) source ids; src_valid_lens: (B,).
        bos, eos: target ids of ``<bos>`` and ``<eos>``.
        max_len: most output tokens per sentence, ``<eos>`` included.
    """
    _check_inputs(src, src_valid_lens, max_len)
    model.eval()
    state = model.init_state(src, src_valid_lens)
    tokens = torch.full((src.shape[0],), bos, dtype=torch.long, device=src.device)
    finished = torch.zeros_like(tokens, dtype=torch.bool)
    steps, weights, scores = [], [], torch.zeros(src.shape[0], device=src.device)
    for _ in range(max_len):
        logits, state, w = model.step(tokens, state)  # (B, V), state, (B, S) or None
        log_probs = torch.log_softmax(logits, dim=-1)
        tokens = log_probs.argmax(dim=-1)  # (B,)
        scores += torch.where(finished, 0.0, log_probs.gather(1, tokens[:, None])[:, 0])
        steps.append(tokens)
        weights.append(w)
        finished |= tokens == eos
        if finished.all():
            break
    out = torch.stack(steps, dim=1).tolist()  # (B, steps)
    attention = torch.stack(weights, dim=1) if weights[0] is not None else None  # (B, steps, S)
    result = Decoded([], [], scores.tolist())
    for b, row in enumerate(out):
        n = _cut(row, eos)
        result.tokens.append(row[:n])
        result.attention.append(None if attention is None else attention[b, :min(n + 1, len(row))])
    return result


@torch.no_grad()
def beam_search(model, src: torch.Tensor, src_valid_lens: torch.Tensor, bos: int, eos: int,
                beam_size: int = 3, max_len: int = 40, length_penalty: float = 0.75) -> Decoded:
    """Keep the ``beam_size`` most probable partial outputs per source, batched.

    The B sources are decoded together as B * k rows. A beam that has produced
    ``<eos>`` is finished: it keeps its score and only extends by padding. At
    the end the beam with the highest ``score / length ** length_penalty`` wins
    (length counts ``<eos>``), so long outputs are not punished for their
    length alone. With ``beam_size=1`` this is greedy decoding.
    """
    _check_inputs(src, src_valid_lens, max_len)
    if beam_size < 1:
        raise ValueError(f"beam_size must be >= 1, got {beam_size}")
    model.eval()
    batch, k = src.shape[0], beam_size
    rows = torch.arange(batch, device=src.device).repeat_interleave(k)  # (B k,)
    state = model.init_state(src, src_valid_lens).select(rows)
    tokens = torch.full((batch * k,), bos, dtype=torch.long, device=src.device)
    scores = torch.full((batch, k), float("-inf"), device=src.device)
    scores[:, 0] = 0.0  # all beams start equal: expand only the first
    finished = torch.zeros(batch, k, dtype=torch.bool, device=src.device)
    lengths = torch.zeros(batch, k, device=src.device)
    history = torch.empty(batch, k, 0, dtype=torch.long, device=src.device)
    attention = None
    for _ in range(max_len):
        logits, state, w = model.step(tokens, state)  # (B k, V), state, (B k, S)
        log_probs = torch.log_softmax(logits, dim=-1).view(batch, k, -1)  # (B, k, V)
        vocab_size = log_probs.shape[-1]
        # A finished beam may only continue with one free token (eos), so it stays one candidate.
        frozen = torch.full_like(log_probs, float("-inf"))
        frozen[..., eos] = 0.0
        log_probs = torch.where(finished[..., None], frozen, log_probs)
        candidates = (scores[..., None] + log_probs).view(batch, k * vocab_size)  # (B, k V)
        scores, flat = candidates.topk(k, dim=-1)  # (B, k)
        beam, tokens = flat // vocab_size, flat % vocab_size  # which beam each came from, new token
        history = torch.cat([history.gather(1, beam[..., None].expand(-1, -1, history.shape[-1])),
                             tokens[..., None]], dim=-1)  # (B, k, t)
        was_finished = finished.gather(1, beam)
        lengths = lengths.gather(1, beam) + (~was_finished).float()
        finished = was_finished | (tokens == eos)
        source_rows = (torch.arange(batch, device=src.device)[:, None] * k + beam).view(-1)  # (B k,)
        state = state.select(source_rows)
        tokens = tokens.view(-1)
        if w is not None:
            w = w[source_rows].view(batch, k, 1, -1)  # (B, k, 1, S)
            attention = w if attention is None else torch.cat(
                [attention.gather(1, beam[..., None, None].expand(-1, -1, *attention.shape[2:])), w], dim=2)
        if finished.all():
            break
    best = (scores / lengths.clamp(min=1) ** length_penalty).argmax(dim=-1)  # (B,)
    result = Decoded([], [], scores.gather(1, best[:, None])[:, 0].tolist())
    for b in range(batch):
        row = history[b, best[b]].tolist()
        n = _cut(row, eos)
        result.tokens.append(row[:n])
        result.attention.append(None if attention is None else attention[b, best[b], :min(n + 1, len(row))])
    return result


def translate(model, sentences: list[list[str]], src_vocab, tgt_vocab, num_steps: int,
              beam_size: int = 1, batch_size: int = 256, max_len: int | None = None):
    """Translate tokenized sentences, ``batch_size`` at a time.

    Sources are truncated to ``num_steps`` (with ``<eos>``) like the training
    data. ``beam_size=1`` decodes greedily, larger values use beam search.

    Returns:
        ``outputs``: one list of output tokens per sentence (no ``<eos>``), and
        ``attention``: per sentence, None or the weights of shape (output
        tokens + 1, source tokens + 1): the extra row is for the output's
        ``<eos>``, the extra column for the source's.
    """
    max_len = max_len or num_steps
    outputs, attentions = [], []
    for start in range(0, len(sentences), batch_size):
        chunk = sentences[start:start + batch_size]
        rows = [(src_vocab[list(s)] + [src_vocab.eos])[:num_steps] for s in chunk]
        width = max(len(r) for r in rows)
        src = torch.tensor([r + [src_vocab.pad] * (width - len(r)) for r in rows], dtype=torch.long)
        valid = torch.tensor([len(r) for r in rows], dtype=torch.long)
        if beam_size == 1:
            decoded = greedy_decode(model, src, valid, tgt_vocab.bos, tgt_vocab.eos, max_len)
        else:
            decoded = beam_search(model, src, valid, tgt_vocab.bos, tgt_vocab.eos, beam_size, max_len)
        outputs += [tgt_vocab.to_tokens(t) for t in decoded.tokens]
        attentions += [None if a is None else a[:, :n] for a, n in zip(decoded.attention, valid.tolist())]
    return outputs, attentions
