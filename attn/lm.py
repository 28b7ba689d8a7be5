"""Language-model data and training: the synthetic corpus as "english = french" lines.

A decoder-only model learns translation as continuation: each training line is
the English sentence, a separator and the French sentence, and the model is
trained to predict every next token (or, with ``target_only``, only the French
ones). Prompted with ``english =`` it continues with French
(:func:`translate_lm`).

* :func:`translation_lines`: pairs -> token lists, of words or of characters.
* :func:`lm_arrays`: ``<bos> line <eos>`` rows, right-padded, shifted into
  ``inputs`` (B, T) and ``targets`` (B, T), targets :data:`IGNORE_INDEX` where no
  loss is taken (padding; the English part with ``target_only``).
* :func:`lm_loader`, :func:`lm_loss`, :func:`evaluate_lm`, :func:`train_lm`: the
  loop of :func:`attn.train_seq2seq` for a model ``model(tokens) -> logits``,
  with the same :class:`attn.TrainConfig`, :class:`attn.History` and progress bar.

Shapes (package legend): B batch, T tokens per row (the context length), V vocabulary
size.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from attn.checks import check_bool, check_int, check_integer_tensor, check_tensor
from attn.data import BucketBatchSampler, Vocab, check_sentences
from attn.sampling import generate
from attn.train import History, TrainConfig, run_updates
from attn.utils import model_device

__all__ = ["IGNORE_INDEX", "SEPARATOR", "evaluate_lm", "lm_arrays", "lm_loader", "lm_loss",
           "prompt_tokens", "train_lm", "translate_lm", "translation_lines"]

SEPARATOR = "="  # between the English and the French of a line; the grammar never uses it
IGNORE_INDEX = -100  # a target that takes no loss (F.cross_entropy's default ignore_index)
LEVELS = ("word", "char")


def _check_level(level) -> str:
    if level not in LEVELS:
        raise ValueError(f"level must be 'word' or 'char', got {level!r}")
    return level


def prompt_tokens(english: Sequence[str], level: str = "word") -> list[str]:
    """The tokens of ``english =``, the prompt that asks for the French.

    ``level="word"``: ``[*english, "="]``; ``"char"``: the characters of the
    words joined by spaces, then ``" = "``.
    """
    check_sentences([english], "english")
    if _check_level(level) == "word":
        return [*english, SEPARATOR]
    return list(" ".join(english) + f" {SEPARATOR} ")


def translation_lines(pairs, level: str = "word") -> list[list[str]]:
    """One token list per pair: the prompt (English and "=") followed by the French.

    Args:
        pairs: ``(english_tokens, french_tokens)`` pairs, as in :class:`attn.Splits`.
        level: "word" (tokens are the words) or "char" (tokens are characters,
            words separated by spaces).
    """
    _check_level(level)
    lines = []
    for i, pair in enumerate(pairs):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"pairs must hold (english, french) pairs, got {pair!r:.60} at "
                            f"index {i}")
        english, french = pair
        check_sentences([english, french], f"pair {i}")
        french = french if level == "word" else list(" ".join(french))
        lines.append(prompt_tokens(english, level) + list(french))
    return lines


def lm_arrays(lines: Sequence[Sequence[str]], vocab: Vocab, context_len: int,
              target_only: bool = False):
    """Inputs and next-token targets of ``<bos> line <eos>`` rows.

    Args:
        lines: token lists, from :func:`translation_lines`.
        vocab: maps tokens to ids (:class:`attn.Vocab`; its ``pad``, ``bos``, ``eos``).
        context_len: T; every line plus ``<bos>`` and ``<eos>`` must fit T + 1 tokens.
        target_only: take no loss before the first separator: the model is scored
            on the French (and ``<eos>``) only.

    Returns:
        ``(inputs, targets)``, torch.long (B, T): ``inputs`` is ``<bos> line``
        right-padded with ``<pad>``; ``targets`` is the same row shifted left by
        one (``line <eos>``), :data:`IGNORE_INDEX` on padding.
    """
    check_sentences(lines, "lines")
    check_int("context_len", context_len, minimum=1)
    check_bool("target_only", target_only)
    longest = max((len(line) for line in lines), default=0)
    if longest + 1 > context_len:
        raise ValueError(f"the longest line has {longest} tokens: with <bos> and <eos> it needs "
                         f"context_len >= {longest + 1}, got {context_len}")
    inputs = torch.full((len(lines), context_len), vocab.pad, dtype=torch.long)
    targets = torch.full((len(lines), context_len), IGNORE_INDEX, dtype=torch.long)
    for i, line in enumerate(lines):
        row = [vocab.bos] + vocab[list(line)] + [vocab.eos]
        inputs[i, :len(row) - 1] = torch.tensor(row[:-1])
        targets[i, :len(row) - 1] = torch.tensor(row[1:])
        if target_only:
            if SEPARATOR not in line:
                raise ValueError(f"line {i} has no separator {SEPARATOR!r}: nothing marks its "
                                 f"target part")
            targets[i, :list(line).index(SEPARATOR) + 1] = IGNORE_INDEX  # up to "=" itself
    return inputs, targets


def lm_loader(inputs: torch.Tensor, targets: torch.Tensor, batch_size: int = 64,
              shuffle: bool = True, seed: int = 0, bucket: bool = False) -> DataLoader:
    """A DataLoader of ``(inputs (B, T), targets (B, T))`` batches, shuffled with ``seed``.

    With ``bucket``, batches hold rows of similar length
    (:class:`attn.data.BucketBatchSampler`), so that less time goes to padding;
    the training loop cuts every batch after its last scored column either way.
    """
    check_int("batch_size", batch_size, minimum=1)
    check_bool("shuffle", shuffle)
    check_bool("bucket", bucket)
    dataset = TensorDataset(inputs, targets)
    if bucket:
        scored = (targets != IGNORE_INDEX).long()  # (B, T)
        lengths = scored.cumsum(dim=1).argmax(dim=1) + 1  # (B,): up to the last scored column
        return DataLoader(dataset, batch_sampler=BucketBatchSampler(lengths, batch_size, seed))
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator)


def lm_loss(logits: torch.Tensor, targets: torch.Tensor, label_smoothing: float = 0.0):
    """Cross-entropy per scored token: ``(loss, num_tokens)``.

    Args:
        logits: (B, L, V) floating point; targets: (B, L) torch.long ids in [0, V)
            or :data:`IGNORE_INDEX` (no loss there).
        label_smoothing: in [0, 1), as in :func:`attn.sequence_loss`.
    """
    check_tensor("logits", logits, floating=True)
    check_integer_tensor("targets", targets)
    if logits.dim() != 3 or logits.shape[:2] != targets.shape:
        raise ValueError(f"logits must have shape (B, L, V) matching targets (B, L) = "
                         f"{tuple(targets.shape)}, got {tuple(logits.shape)}")
    scored = targets != IGNORE_INDEX
    num_tokens = int(scored.sum())
    if num_tokens == 0:
        raise ValueError("the batch has no scored target (all are IGNORE_INDEX)")
    real = targets[scored]
    if real.min() < 0 or real.max() >= logits.shape[-1]:
        raise ValueError(f"targets must hold ids in [0, {logits.shape[-1] - 1}] or "
                         f"IGNORE_INDEX, got values from {int(real.min())} to {int(real.max())}")
    if not isinstance(label_smoothing, (int, float)) or isinstance(label_smoothing, bool) \
            or not 0 <= label_smoothing < 1:
        raise ValueError(f"label_smoothing must be a number in [0, 1), got {label_smoothing!r}")
    loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE_INDEX,
                           label_smoothing=float(label_smoothing))  # (B L, V), (B L,)
    return loss, num_tokens


def _batch_loss(model, batch, device, label_smoothing: float = 0.0):
    """``(loss, num_tokens)`` of one batch, its columns cut after the last scored target."""
    if len(batch) != 2:
        raise ValueError(f"a batch must be (inputs, targets), got {len(batch)} items")
    inputs, targets = (x.to(device) for x in batch)
    scored = (targets != IGNORE_INDEX).any(dim=0).nonzero()  # columns with a scored target
    width = int(scored.max()) + 1 if len(scored) else 1
    return lm_loss(model(inputs[:, :width]), targets[:, :width], label_smoothing)


@torch.no_grad()
def evaluate_lm(model: nn.Module, data_iter) -> float:
    """Mean loss per scored token over a loader of ``(inputs, targets)`` batches (nats)."""
    was_training = model.training
    model.eval()
    device = model_device(model)
    total, count = 0.0, 0
    for batch in data_iter:
        loss, n = _batch_loss(model, batch, device)
        total, count = total + float(loss) * n, count + n
    model.train(was_training)
    if count == 0:
        raise ValueError("the loader is empty: there is no target to evaluate the loss on")
    return total / count


def train_lm(model: nn.Module, train_iter, config: TrainConfig | None = None,
             valid_iter=None, callback=None) -> History:
    """Train a language model with Adam on next-token prediction; return the history.

    Args:
        model: ``model(inputs (B, L)) -> logits (B, L, V)``, like :class:`attn.GPT`.
        train_iter: a loader with a length of ``(inputs, targets)`` batches
            (:func:`lm_loader`).
        config: a :class:`attn.TrainConfig` (``lr``, ``num_epochs``, ``max_updates``,
            ``max_seconds``, ``grad_clip``, ``schedule``, ``warmup``, ``seed``,
            ``label_smoothing`` (training loss only), ``progress``).
        valid_iter: optional loader; its loss is recorded after each epoch and at
            the end.
        callback: optional function called with the update number after each update.

    Stops, as :func:`attn.train_seq2seq` does, at the first of ``num_epochs``,
    ``max_updates`` and ``max_seconds``. Losses are per scored token.
    """
    config = TrainConfig() if config is None else config
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    config.validate()
    device = model_device(model)
    valid_loss = None if valid_iter is None else lambda: evaluate_lm(model, valid_iter)
    return run_updates(model, train_iter, config,
                       lambda batch: _batch_loss(model, batch, device, config.label_smoothing)[0],
                       valid_loss, callback)


def translate_lm(model, vocab: Vocab, sentences, level: str = "word", batch_size: int = 256,
                 max_len: int | None = None) -> list[list[str]]:
    """Translate English token lists by greedy continuation of ``<bos> english =``.

    Args:
        model: a language model for :func:`attn.sampling.generate` (an :class:`attn.GPT`).
        vocab: the vocabulary it was trained with.
        sentences: English token lists.
        level: "word" or "char", as the model was trained.
        batch_size: prompts decoded together (left-padded).
        max_len: most output tokens (None: as many as the context leaves).

    Returns:
        The French of each sentence as a list of words (for characters: the output
        split at spaces), the output cut at ``<eos>``.
    """
    check_sentences(sentences)
    _check_level(level)
    check_int("batch_size", batch_size, minimum=1)
    outputs = []
    for start in range(0, len(sentences), batch_size):
        prompts = [[vocab.bos] + vocab[prompt_tokens(s, level)]
                   for s in sentences[start:start + batch_size]]
        room = model.config.context_len - max(len(p) for p in prompts)
        if room < 1:
            raise ValueError(f"a prompt of {room + model.config.context_len} tokens leaves no "
                             f"room in context_len = {model.config.context_len}")
        steps = room if max_len is None else min(check_int("max_len", max_len, minimum=1), room)
        for ids in generate(model, prompts, steps, temperature=0, stop_token=vocab.eos):
            tokens = vocab.to_tokens(ids)
            outputs.append(tokens if level == "word" else "".join(tokens).split())
    return outputs
