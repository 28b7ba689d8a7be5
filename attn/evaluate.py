"""Evaluating trained translation models: what chapter 7 measures, in tested pieces.

- :func:`output_shapes`: the output shape of named submodules during one call.
- :func:`first_by_length`: distinct sentences of increasing length, to show a few.
- :func:`bleu_by_length`, :class:`BleuCurve`, :func:`first_reaching`: BLEU by source
  length, BLEU during training, and when a curve first reaches a score.
- :func:`ms_per_token`: decoding time per generated token, with or without the cache.
- :func:`update_times_ms`: the time of one training update, part by part.
- :func:`seed_statistics`: mean, spread and range over the seeds of run records.
- :func:`adjective_crossings`, :func:`crossings_followed`, :func:`offset_weights`:
  what attention weights do where English and French word order cross, and how much
  weight a head puts on the previous, the same or the next position.

An evaluation may use the models and the decoding loop; nothing in the models or the
loops imports this module.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

import torch
from torch import nn

from attn.bleu import sacrebleu_corpus
from attn.checks import check_int
from attn.decode import translate
from attn.synthetic import ADJECTIVES_AFTER, ENGLISH_NOUNS, PEOPLE_ADJECTIVES, THING_ADJECTIVES
from attn.train import sequence_loss, teacher_forcing_inputs

Points = list[tuple[int, float, float]]  # (update, training seconds, BLEU)


def _submodules(model: nn.Module, names: Sequence[str]) -> dict[str, nn.Module]:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if isinstance(names, str) or not names:
        raise ValueError(f"names must be a non-empty list of submodule names, got {names!r}")
    parts = {}
    for name in names:
        try:
            parts[name] = model.get_submodule(name)
        except AttributeError:
            raise ValueError(f"the model has no submodule {name!r}") from None
    return parts


def output_shapes(model: nn.Module, names: Sequence[str], run: Callable[[], object]):
    """Call ``run()`` and record the output shape of each named submodule of ``model``.

    Args:
        model: the module whose parts to watch.
        names: dotted submodule names, as ``model.get_submodule`` takes them
            (``"encoder.blocks.0"``).
        run: a function without arguments that calls the model.

    Returns:
        ``(shapes, result)``: ``shapes`` is ``[(name, shape), ...]`` in the order the
        submodules finished (a part that returns a tuple is recorded by its first
        element), ``result`` what ``run()`` returned. The hooks are removed afterwards,
        also when ``run`` raises.
    """
    parts = _submodules(model, names)
    shapes = []

    def hook(name):
        def record(module, inputs, output):
            out = output[0] if isinstance(output, tuple) else output
            shapes.append((name, tuple(out.shape)))
        return record

    handles = [module.register_forward_hook(hook(name)) for name, module in parts.items()]
    try:
        result = run()
    finally:
        for handle in handles:
            handle.remove()
    return shapes, result


def first_by_length(sentences: Sequence[Sequence[str]], ranges: Sequence[tuple[int, int]]) -> list[int]:
    """For each ``(lo, hi)`` range, the index of the first sentence with ``lo <= length <= hi``.

    The ranges must be increasing and disjoint, so the sentences are distinct and come
    out in order of increasing length; a ValueError names a range no sentence falls in.
    """
    bounds = [tuple(r) for r in ranges]
    if not bounds or any(len(r) != 2 or r[0] > r[1] for r in bounds) \
            or any(b[0] <= a[1] for a, b in zip(bounds, bounds[1:])):
        raise ValueError(f"ranges must be increasing, disjoint (lo, hi) pairs, got {list(ranges)}")
    picked = []
    for lo, hi in bounds:
        i = next((i for i, s in enumerate(sentences) if lo <= len(s) <= hi), None)
        if i is None:
            raise ValueError(f"no sentence has between {lo} and {hi} tokens")
        picked.append(i)
    return picked


def bleu_by_length(outputs, sources, references, buckets: Sequence[tuple[int, int]]) -> list[float]:
    """Corpus sacreBLEU of the sentences whose source length lies in each ``(lo, hi)`` bucket.

    A bucket without any sentence raises ValueError (its score would mean nothing).
    """
    if not len(outputs) == len(sources) == len(references):
        raise ValueError("outputs, sources and references must have the same length: got "
                         f"{len(outputs)}, {len(sources)} and {len(references)}")
    scores = []
    for lo, hi in buckets:
        idx = [i for i, s in enumerate(sources) if lo <= len(s) <= hi]
        if not idx:
            raise ValueError(f"no source sentence has between {lo} and {hi} tokens")
        scores.append(sacrebleu_corpus([outputs[i] for i in idx], [references[i] for i in idx]))
    return scores


class BleuCurve:
    """A ``train_seq2seq`` callback: validation BLEU every ``every`` updates.

    ``points`` holds ``(update, seconds, bleu)``: ``seconds`` counts the wall-clock
    time since the callback was made, minus the time its own evaluations took;
    ``eval_seconds`` is that evaluation time. Make it just before training starts.
    """

    def __init__(self, model, sources, references, src_vocab, tgt_vocab, num_steps: int,
                 every: int = 25):
        check_int("every", every, 1)
        if len(sources) != len(references) or not sources:
            raise ValueError("sources and references must be non-empty and of the same "
                             f"length: got {len(sources)} and {len(references)}")
        self.model, self.sources, self.references = model, sources, references
        self.vocabs, self.num_steps, self.every = (src_vocab, tgt_vocab), num_steps, every
        self.points: Points = []
        self.eval_seconds, self.start = 0.0, time.perf_counter()

    def __call__(self, update: int) -> None:
        if update % self.every:
            return
        now = time.perf_counter()
        outputs, _ = translate(self.model, self.sources, *self.vocabs, self.num_steps)
        bleu = sacrebleu_corpus(outputs, self.references)
        self.model.train()  # translate switched to eval mode
        self.points.append((update, now - self.start - self.eval_seconds, bleu))
        self.eval_seconds += time.perf_counter() - now


def first_reaching(points: Points, threshold: float):
    """``(update, seconds)`` of the first point with BLEU >= ``threshold``, or ``(None, None)``."""
    return next(((u, s) for u, s, b in points if b >= threshold), (None, None))


@torch.no_grad()
def ms_per_token(model, src: torch.Tensor, src_valid_lens: torch.Tensor, bos: int,
                 lengths: Sequence[int], use_cache: bool, repeats: int = 2,
                 clock: Callable[[], float] = time.perf_counter) -> list[float]:
    """Milliseconds per generated token of the first ``n`` greedy tokens, for each n.

    Decodes ``max(lengths)`` tokens for the whole batch, ignoring ``<eos>`` so every
    output has that length, and reads ``clock`` after each ``n`` in ``lengths``
    (``time.perf_counter``: wall-clock time; ``time.process_time``: CPU time of the
    process). The fastest of ``repeats`` runs is kept: other programs only ever add time.
    """
    check_int("repeats", repeats, 1)
    if not lengths or any(not isinstance(n, int) or n < 1 for n in lengths) \
            or list(lengths) != sorted(set(lengths)):
        raise ValueError(f"lengths must be increasing positive ints, got {lengths!r}")
    best = [float("inf")] * len(lengths)
    for _ in range(repeats):
        start = clock()
        state = model.init_state(src, src_valid_lens, use_cache=use_cache)
        tokens = torch.full((src.shape[0],), bos, dtype=torch.long, device=src.device)
        for t in range(1, lengths[-1] + 1):
            logits, state, _ = model.step(tokens, state)  # (B, V)
            tokens = logits.argmax(-1)
            if t in lengths:
                k = lengths.index(t)
                best[k] = min(best[k], 1000 * (clock() - start) / t)
    return best


def update_times_ms(models: dict[str, nn.Module], batch, bos: int,
                    parts: Sequence[str] = ("encoder", "decoder"), repeats: int = 15,
                    warmup: int = 2, lr: float = 1e-4,
                    clock: Callable[[], float] = time.perf_counter) -> dict[str, dict[str, float]]:
    """Median milliseconds of one training update of each model, part by part.

    Each update is that of ``attn.train_seq2seq``: forward pass, loss, backward
    pass, gradient clipping and an Adam step (which changes the models' weights:
    time fresh copies). The models take turns, update by update, so that a busy
    machine slows all of them alike.

    Args:
        models: name -> model with ``model(src, src_valid_lens, tgt_in)``.
        batch: ``(src, src_valid_lens, tgt, tgt_valid_lens)``.
        bos: id of ``<bos>``.
        parts: submodules (names as for :func:`output_shapes`) whose forward pass is
            timed on its own, each of every model.
        repeats: timed updates per model, after ``warmup`` untimed ones.
        clock: seconds from some start; ``time.perf_counter`` (the default) gives
            wall-clock time, ``time.process_time`` the CPU time of the whole process,
            which other programs on a busy machine disturb less.

    Returns:
        ``{model name: {part: ms, ..., "loss": ms, "backward": ms,
        "optimizer step": ms, "update": ms}}``, where ``"update"`` is the whole update
        and ``"optimizer step"`` includes the clipping.
    """
    check_int("repeats", repeats, 1)
    check_int("warmup", warmup, 0)
    if len(batch) != 4:
        raise ValueError(f"batch must be (src, src_valid_lens, tgt, tgt_valid_lens), got {len(batch)} items")
    src, src_len, tgt, tgt_len = batch
    tgt_in = teacher_forcing_inputs(tgt, bos)
    stamps: dict[str, float] = {}
    handles, optimizers = [], {}
    samples = {name: {} for name in models}
    for name, model in models.items():
        for part, module in _submodules(model, parts).items():
            handles.append(module.register_forward_pre_hook(
                lambda m, i, part=part: stamps.__setitem__(part + " start", clock())))
            handles.append(module.register_forward_hook(
                lambda m, i, o, part=part: stamps.__setitem__(part, clock())))
        optimizers[name] = torch.optim.Adam(model.parameters(), lr=lr)
    try:
        for r in range(warmup + repeats):
            for name, model in models.items():
                model.train()
                t0 = clock()
                output = model(src, src_len, tgt_in)
                logits = output[0] if isinstance(output, tuple) else output  # (B, T, V)
                t1 = clock()
                loss, _ = sequence_loss(logits, tgt, tgt_len)
                t2 = clock()
                optimizers[name].zero_grad()
                loss.backward()
                t3 = clock()
                nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizers[name].step()
                t4 = clock()
                if r < warmup:
                    continue
                times = {part: stamps[part] - stamps[part + " start"] for part in parts}
                times |= {"loss": t2 - t1, "backward": t3 - t2, "optimizer step": t4 - t3,
                          "update": t4 - t0}
                for key, seconds in times.items():
                    samples[name].setdefault(key, []).append(seconds)
    finally:
        for handle in handles:
            handle.remove()
    return {name: {key: 1000 * statistics.median(v) for key, v in s.items()}
            for name, s in samples.items()}


def _field(record: dict, path: str):
    value = record
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            raise ValueError(f"a record has no field {path!r} (missing {key!r})")
        value = value[key]
    return value


def seed_statistics(records: Sequence[dict], model: str, field: str) -> dict[str, float]:
    """Statistics over the seeds of one model's run records (as in benchmarks/results.jsonl).

    Args:
        records: dicts with a ``"model"`` key; ``field`` is a dotted path into them
            (``"analysis.by_length.1-4.bleu"``).

    Returns:
        ``{"seeds", "mean", "std", "min", "max"}``; ``std`` is the sample standard
        deviation (divided by seeds - 1), and needs at least two seeds.
    """
    values = [float(_field(r, field)) for r in records if r.get("model") == model]
    if len(values) < 2:
        raise ValueError(f"model {model!r} needs at least 2 records for a spread, got {len(values)}")
    return {"seeds": len(values), "mean": statistics.mean(values),
            "std": statistics.stdev(values), "min": min(values), "max": max(values)}


_FRENCH_FORMS: dict[str, set[str]] = {}
for _english, *_forms in THING_ADJECTIVES + PEOPLE_ADJECTIVES:
    _FRENCH_FORMS.setdefault(_english, set()).update(_forms)


def adjective_crossings(source: Sequence[str], output: Sequence[str]) -> list[tuple[int, int, int]]:
    """Where English adjective-noun order becomes French noun-adjective order.

    For each English adjective that French puts after its noun (``attn.synthetic``'s
    grammar), followed by its noun at ``j + 1``: ``(j, t_noun, t_adj)``, the output
    positions of the French noun and adjective. ``output`` must be a correct
    translation of ``source``; a French adjective is matched with the first of its
    forms not matched before, and its noun is the token in front of it.
    """
    crossings, used = [], set()
    for j, word in enumerate(source[:-1]):
        if word in ADJECTIVES_AFTER and source[j + 1] in ENGLISH_NOUNS:
            t = next((t for t, w in enumerate(output) if w in _FRENCH_FORMS[word] and t not in used
                      and t > 0), None)
            if t is None:
                raise ValueError(f"the output has no French form of {word!r} after a noun: "
                                 "is it a correct translation?")
            used.add(t)
            crossings.append((j, t - 1, t))
    return crossings


def crossings_followed(weights: torch.Tensor, crossings: Sequence[tuple[int, int, int, int]]):
    """How each head's attention follows adjective-noun crossings.

    Args:
        weights: (B, H, T, S) encoder-decoder weights; row t is the step that writes
            output token t.
        crossings: ``(b, j, t_noun, t_adj)``: sentence b of the batch, as from
            :func:`adjective_crossings`.

    Returns:
        ``share`` (H,): the fraction of crossings at which the head's largest weight
        is on the English noun (j + 1) while writing the French noun and on the English
        adjective (j) while writing the French adjective; ``weight`` (H,): its mean
        weight on those aligned words over both steps.
    """
    if weights.dim() != 4:
        raise ValueError(f"weights must be (B, H, T, S), got shape {tuple(weights.shape)}")
    if not crossings:
        raise ValueError("crossings is empty: there is nothing to measure")
    b, j, t_noun, t_adj = (torch.tensor(c) for c in zip(*crossings))
    on_noun = weights[b, :, t_noun]  # (C, H, S): the rows that write the French noun
    on_adj = weights[b, :, t_adj]
    follows = (on_noun.argmax(-1) == (j + 1)[:, None]) & (on_adj.argmax(-1) == j[:, None])
    aligned = (on_noun[torch.arange(len(j)), :, j + 1] + on_adj[torch.arange(len(j)), :, j]) / 2
    return follows.float().mean(0), aligned.mean(0)


def offset_weights(weights: torch.Tensor, valid_lens: torch.Tensor,
                   offsets: Sequence[int] = (-1, 0, 1)) -> torch.Tensor:
    """Mean weight each head puts on the key ``offset`` positions from its query.

    Args:
        weights: (B, H, S, S) self-attention weights.
        valid_lens: (B,) real positions of each sentence.
        offsets: -1 the previous position, 0 the same, 1 the next.

    Returns:
        (H, len(offsets)): for each offset the mean of ``weights[b, h, i, i + offset]``
        over every real query position i whose key ``i + offset`` is real too.
    """
    if weights.dim() != 4 or weights.shape[-1] != weights.shape[-2]:
        raise ValueError(f"weights must be (B, H, S, S), got shape {tuple(weights.shape)}")
    if valid_lens.shape != weights.shape[:1]:
        raise ValueError(f"valid_lens must have shape ({weights.shape[0]},), got {tuple(valid_lens.shape)}")
    S = weights.shape[-1]
    pos = torch.arange(S)
    real = pos[None, :] < valid_lens[:, None]  # (B, S)
    columns = []
    for offset in offsets:
        key = pos + offset  # (S,)
        ok = real & (key >= 0) & (key < valid_lens[:, None])  # (B, S): query and key real
        picked = weights.gather(-1, key.clamp(0, S - 1).expand(*weights.shape[:-1])[..., None])
        picked = picked[..., 0] * ok[:, None]  # (B, H, S)
        columns.append(picked.sum((0, 2)) / ok.sum())
    return torch.stack(columns, dim=-1)
