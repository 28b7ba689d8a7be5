"""Turning a trained encoder-decoder into translations: greedy decoding and beam search.

Both work on a batch of sources through the interface of
:class:`attn.seq2seq.EncoderDecoder`: ``init_state(src, src_valid_lens)`` and
``step(tokens (B,), state) -> (logits (B, V), state, weights (B, S) or None)``,
where the state has ``select(index)`` to pick batch rows. Both stop a sentence at
``<eos>`` and return, for each source, the output ids (without ``<eos>``) and the
attention matrix (output length, S) when the model has one.

The sources are moved to the device of the model's parameters, and what comes
back never lives on a device: token ids are Python ints, scores Python floats,
attention matrices CPU tensors.

Shapes (package legend): B batch, S source length, V target vocabulary size;
k is the beam size.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch

from attn.data import check_sentences
from attn.utils import model_device


@dataclass
class Decoded:
    """Decoder outputs for a batch of B sources.

    ``tokens[b]``: output ids (Python ints) of source b, ``<eos>`` and what
    follows cut off.
    ``attention[b]``: CPU weights of shape (len(tokens[b]) + 1, S), one row per
    output token and one for ``<eos>`` (only len(tokens[b]) rows when the
    output stopped at ``max_len`` without one), or None without attention.
    ``scores[b]``: total log-probability (a float) of the output, ``<eos>`` included.
    """

    tokens: list[list[int]]
    attention: list[torch.Tensor | None]
    scores: list[float]


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_ids(bos, eos, vocab_size: int) -> None:
    """``<bos>`` and ``<eos>`` must be target ids: an ``<eos>`` outside could never be produced."""
    for name, token in (("bos", bos), ("eos", eos)):
        if not 0 <= token < vocab_size:
            raise ValueError(f"{name} must be an id of the target vocabulary, in [0, V - 1] = "
                             f"[0, {vocab_size - 1}], got {token}")


def _check_inputs(model, src, src_valid_lens, bos, eos, max_len):
    """Validate the common arguments; return src and src_valid_lens on the model's device."""
    for name, x in (("src", src), ("src_valid_lens", src_valid_lens)):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor of integers, got {type(x).__name__}")
        if x.dtype.is_floating_point or x.dtype.is_complex or x.dtype == torch.bool:
            raise TypeError(f"{name} must be an integer tensor, got dtype {x.dtype}")
    if src.dim() != 2:
        raise ValueError(f"src must have shape (B, S), got shape {tuple(src.shape)}")
    batch, num_steps = src.shape
    if batch == 0:
        raise ValueError("src holds no sentence (B = 0): nothing to decode")
    if tuple(src_valid_lens.shape) != (batch,):
        raise ValueError(f"src_valid_lens must have shape (B,) = ({batch},), got {tuple(src_valid_lens.shape)}")
    if src_valid_lens.min() < 1 or src_valid_lens.max() > num_steps:
        raise ValueError(f"src_valid_lens must lie in [1, S] = [1, {num_steps}], got values from "
                         f"{int(src_valid_lens.min())} to {int(src_valid_lens.max())}")
    if not _is_int(max_len) or max_len < 1:
        raise ValueError(f"max_len must be an int >= 1, got {max_len!r}")
    for name, token in (("bos", bos), ("eos", eos)):
        if not _is_int(token) or token < 0:
            raise ValueError(f"{name} must be a non-negative int (a target token id), got {token!r}")
    vocab_size = getattr(model, "tgt_vocab_size", None)  # else checked on the logits of the first step
    if vocab_size is not None:
        _check_ids(bos, eos, vocab_size)
    device = model_device(model, default=src.device)
    return src.to(device), src_valid_lens.to(device)


def _cut(row: list[int], eos: int) -> int:
    """Number of tokens before the first ``<eos>`` (all of them when there is none)."""
    return row.index(eos) if eos in row else len(row)


@torch.no_grad()
def _check_suppress(suppress, eos: int) -> list[int]:
    if isinstance(suppress, (str, bytes)) or not all(_is_int(i) and i >= 0 for i in suppress):
        raise ValueError(f"suppress must be a sequence of target token ids, got {suppress!r}")
    if eos in suppress:
        raise ValueError("suppress must not hold the <eos> id: no output could ever end")
    return list(suppress)


def _suppressed(log_probs: torch.Tensor, suppress: list[int]) -> torch.Tensor:
    """``log_probs`` (..., V) with the ``suppress`` ids set to -inf, so they are never chosen."""
    if not suppress:
        return log_probs
    if max(suppress) >= log_probs.shape[-1]:
        raise ValueError(f"suppress must hold ids in [0, V - 1] = [0, {log_probs.shape[-1] - 1}], "
                         f"got {max(suppress)}")
    return log_probs.index_fill(-1, torch.tensor(suppress, device=log_probs.device), -math.inf)


def greedy_decode(model, src: torch.Tensor, src_valid_lens: torch.Tensor, bos: int, eos: int,
                  max_len: int = 40, suppress=()) -> Decoded:
    """Pick the most probable token at each step, for the whole batch at once.

    Args:
        model: an encoder-decoder with ``init_state`` and ``step`` (on any device).
        src: (B, S) integer tensor of source ids, B >= 1.
        src_valid_lens: (B,) integer tensor, in [1, S].
        bos, eos: target ids of ``<bos>`` and ``<eos>``.
        max_len: most output tokens per sentence, ``<eos>`` included (>= 1).
        suppress: target ids never to produce (for example ``<unk>``); their
            log-probability counts as -inf. ``<eos>`` may not be suppressed.

    Returns:
        :class:`Decoded`.
    """
    src, src_valid_lens = _check_inputs(model, src, src_valid_lens, bos, eos, max_len)
    suppress = _check_suppress(suppress, eos)
    model.eval()
    batch, device = src.shape[0], src.device
    state = model.init_state(src, src_valid_lens)
    tokens = torch.full((batch,), bos, dtype=torch.long, device=device)  # (B,)
    finished = torch.zeros(batch, dtype=torch.bool, device=device)  # (B,)
    steps, weights, scores = [], [], torch.zeros(batch, device=device)
    for t in range(max_len):
        logits, state, w = model.step(tokens, state)  # (B, V), state, (B, S) or None
        if t == 0:
            _check_ids(bos, eos, logits.shape[-1])
        log_probs = _suppressed(torch.log_softmax(logits, dim=-1), suppress)  # (B, V)
        tokens = log_probs.argmax(dim=-1)  # (B,)
        scores += torch.where(finished, 0.0, log_probs.gather(1, tokens[:, None])[:, 0])
        steps.append(tokens)
        weights.append(w)
        finished |= tokens == eos
        if finished.all():
            break
    out = torch.stack(steps, dim=1).tolist()  # (B, steps) -> lists of ints
    attention = None if weights[0] is None else torch.stack(weights, dim=1).cpu()  # (B, steps, S)
    result = Decoded([], [], scores.tolist())
    for b, row in enumerate(out):
        n = _cut(row, eos)
        result.tokens.append(row[:n])
        result.attention.append(None if attention is None else attention[b, :min(n + 1, len(row))])
    return result


@torch.no_grad()
def beam_search(model, src: torch.Tensor, src_valid_lens: torch.Tensor, bos: int, eos: int,
                beam_size: int = 3, max_len: int = 40, length_penalty: float = 0.75,
                suppress=()) -> Decoded:
    """Keep the ``beam_size`` most probable partial outputs per source; return the best output.

    The B sources are decoded together as B k rows (k = ``beam_size``). At each
    step the k live hypotheses of a source propose every extension, and the 2k
    extensions with the highest total log-probability (score) are looked at,
    best first:

    * an extension by ``<eos>`` that ranks within the first k is finished: it
      goes to the source's pool with its score and length (``<eos>`` counted);
    * the best k extensions by any other token stay in the beam.

    A source is done when its pool holds k hypotheses; at ``max_len`` its live
    hypotheses join the pool unfinished. The winner is the pool's hypothesis
    with the highest ``score / length ** length_penalty``: 0 ranks by total
    log-probability, which favours short outputs, 1 by log-probability per token.

    Pruning by raw score is consistent with that ranking: all live hypotheses
    of a step have the same length, so the length normalization divides their
    scores by the same number and leaves their order unchanged. Finished
    hypotheses leave the beam, so they never take the slot of a live one, and
    2k candidates always hold k live ones, since at most k of them (one per
    beam) end in ``<eos>``. With ``beam_size=1`` this is greedy decoding.

    Args:
        model, src (B, S), src_valid_lens (B,), bos, eos, max_len: as for :func:`greedy_decode`.
        beam_size: k >= 1, hypotheses kept per source.
        length_penalty: the exponent (>= 0) of the length in the final ranking.
        suppress: target ids never to produce, as for :func:`greedy_decode`.

    Returns:
        :class:`Decoded`: each source's winner; ``scores`` are total log-probabilities.
    """
    src, src_valid_lens = _check_inputs(model, src, src_valid_lens, bos, eos, max_len)
    if not _is_int(beam_size) or beam_size < 1:
        raise ValueError(f"beam_size must be an int >= 1, got {beam_size!r}")
    if isinstance(length_penalty, bool) or not isinstance(length_penalty, numbers.Real) \
            or not 0 <= length_penalty < math.inf:
        raise ValueError(f"length_penalty must be a finite number >= 0, got {length_penalty!r}")
    suppress = _check_suppress(suppress, eos)
    model.eval()
    batch, k, device = src.shape[0], beam_size, src.device
    sources = torch.arange(batch, device=device)[:, None]  # (B, 1): indexes (B, k, ...) tensors by source
    state = model.init_state(src, src_valid_lens).select(sources.view(-1).repeat_interleave(k))  # B k rows
    tokens = torch.full((batch * k,), bos, dtype=torch.long, device=device)  # (B k,)
    scores = torch.full((batch, k), -math.inf, device=device)  # (B, k)
    scores[:, 0] = 0.0  # the k beams start equal: expand only the first
    history = torch.empty(batch, k, 0, dtype=torch.long, device=device)  # (B, k, t): tokens so far
    attention = None  # (B, k, t, S): weights so far, for a model that has them
    pools = [[] for _ in range(batch)]  # per source: (normalized score, score, tokens, attention)
    done = [False] * batch

    def join(b, score, length, tokens, weights):
        """Put a hypothesis in source b's pool, with the normalized score that picks the winner."""
        pools[b].append((score / length ** length_penalty, score, tokens, weights))

    for t in range(1, max_len + 1):
        logits, state, w = model.step(tokens, state)  # (B k, V), state, (B k, S) or None
        vocab_size = logits.shape[-1]
        if t == 1:
            _check_ids(bos, eos, vocab_size)
        log_probs = _suppressed(torch.log_softmax(logits, dim=-1), suppress).view(batch, k, vocab_size)
        candidates = (scores[..., None] + log_probs).view(batch, k * vocab_size)  # (B, k V)
        values, flat = candidates.topk(min(2 * k, k * vocab_size), dim=-1)  # (B, 2k), best first
        beam, token = flat // vocab_size, flat % vocab_size  # (B, 2k): the beam extended, the new token
        ends = token == eos  # (B, 2k)
        if w is not None:
            w = w.view(batch, k, -1)  # (B, k, S)
            if attention is None:
                attention = w.new_zeros(batch, k, 0, w.shape[-1])  # (B, k, 0, S)

        finishing = ends[:, :k] & values[:, :k].isfinite()  # (B, k): finished within the first k
        if finishing.any():
            beams, ended_scores, prefixes = beam.tolist(), values.tolist(), history.tolist()
            for b, j in finishing.nonzero().tolist():
                if not done[b]:
                    i = beams[b][j]
                    weights = None if w is None else torch.cat([attention[b, i], w[b, i, None]])  # (t, S)
                    join(b, ended_scores[b][j], t, prefixes[b][i], weights)

        keep = torch.argsort(ends.to(torch.int8), dim=1, stable=True)[:, :k]  # (B, k): best k not ending in eos
        beam, token, scores = beam.gather(1, keep), token.gather(1, keep), values.gather(1, keep)  # (B, k) each
        history = torch.cat([history[sources, beam], token[..., None]], dim=-1)  # (B, k, t - 1) + (B, k, 1)
        if w is not None:
            attention = torch.cat([attention[sources, beam], w[sources, beam][:, :, None]], dim=2)  # (B, k, t, S)
        state = state.select((sources * k + beam).view(-1))  # the rows the survivors extend
        tokens = token.view(-1)  # (B k,)
        done = [len(pool) >= k for pool in pools]
        if all(done):
            break

    live_scores, live_tokens = scores.tolist(), history.tolist()
    for b in range(batch):  # max_len reached: the live hypotheses join the pool unfinished
        if not done[b]:
            for j, score in enumerate(live_scores[b]):
                if math.isfinite(score):  # a tiny vocabulary may leave fewer than k live ones
                    join(b, score, t, live_tokens[b][j], None if attention is None else attention[b, j])

    result = Decoded([], [], [])
    for b, pool in enumerate(pools):
        if not pool:
            raise ValueError(f"source {b}: no hypothesis has a finite log-probability (NaN or -inf logits?)")
        _, score, tokens, weights = max(pool, key=lambda hypothesis: hypothesis[0])
        result.tokens.append(tokens)
        result.attention.append(None if weights is None else weights.cpu())
        result.scores.append(score)
    return result


def translate(model, sentences: list[list[str]], src_vocab, tgt_vocab, num_steps: int,
              beam_size: int = 1, batch_size: int = 256, max_len: int | None = None,
              length_penalty: float = 0.75, allow_unk: bool = True):
    """Translate tokenized sentences, ``batch_size`` at a time.

    Sources are truncated to ``num_steps`` (with ``<eos>``) like the training
    data, and built on the model's device. ``beam_size=1`` decodes greedily,
    larger values use :func:`beam_search` with ``length_penalty``.

    Args:
        model: an encoder-decoder with ``init_state`` and ``step``.
        sentences: tokenized sentences (lists of str; a plain str is rejected).
        src_vocab, tgt_vocab: :class:`attn.data.Vocab` of the source and target.
        num_steps: most source tokens, ``<eos>`` included.
        max_len: most output tokens, ``<eos>`` included (None: ``num_steps``); it
            need not be the ``num_steps`` the model was trained with.
        allow_unk: False never produces ``<unk>`` (the most probable known word
            takes its place), which reads better and can score better.

    Returns:
        ``outputs``: one list of output tokens per sentence (no ``<eos>``), and
        ``attention``: per sentence, None or the CPU weights of shape (output
        tokens + 1, source tokens + 1): the extra row is for the output's
        ``<eos>``, the extra column for the source's. No sentences give ``([], [])``.
    """
    check_sentences(sentences)
    for name, value in (("num_steps", num_steps), ("beam_size", beam_size), ("batch_size", batch_size)):
        if not _is_int(value) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    if not isinstance(allow_unk, bool):
        raise TypeError(f"allow_unk must be True or False, got {allow_unk!r}")
    suppress = () if allow_unk else (tgt_vocab.unk,)
    max_len = num_steps if max_len is None else max_len
    device = model_device(model)
    outputs, attentions = [], []
    for start in range(0, len(sentences), batch_size):
        chunk = sentences[start:start + batch_size]
        rows = [(src_vocab[list(s)] + [src_vocab.eos])[:num_steps] for s in chunk]
        width = max(len(r) for r in rows)
        src = torch.tensor([r + [src_vocab.pad] * (width - len(r)) for r in rows], dtype=torch.long,
                           device=device)  # (B, S)
        valid = torch.tensor([len(r) for r in rows], dtype=torch.long, device=device)  # (B,)
        if beam_size == 1:
            decoded = greedy_decode(model, src, valid, tgt_vocab.bos, tgt_vocab.eos, max_len, suppress)
        else:
            decoded = beam_search(model, src, valid, tgt_vocab.bos, tgt_vocab.eos, beam_size, max_len,
                                  length_penalty, suppress)
        outputs += [tgt_vocab.to_tokens(t) for t in decoded.tokens]
        attentions += [None if a is None else a[:, :n] for a, n in zip(decoded.attention, valid.tolist())]
    return outputs, attentions
