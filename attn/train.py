"""A training loop for encoder-decoder models, reused by every later chapter.

The loop needs only the interface ``model(src, src_valid_lens, tgt_in)`` returning
``logits`` (B, T, V) or a tuple whose first element is the logits, and batches
``(src, src_valid_lens, tgt, tgt_valid_lens)`` where ``tgt`` ends each sentence
with ``<eos>``. It trains with teacher forcing: the decoder reads
``<bos> y_1 ... y_{T-1}`` and is scored on ``y_1 ... y_T``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from attn.masking import sequence_mask


@dataclass
class TrainConfig:
    """Hyper-parameters of :func:`train_seq2seq`."""

    lr: float = 5e-3          # Adam learning rate
    num_epochs: int = 1       # passes over the training loader
    max_updates: int | None = None  # stop after this many updates (None: run all epochs)
    grad_clip: float = 1.0    # clip the global gradient norm to this (0: no clipping)
    schedule: str = "constant"  # "constant" lr, or "cosine": lr decays to 0 over the updates
    seed: int = 0             # seeds the weight updates' randomness (dropout)
    progress: bool = True     # show a tqdm progress bar with the running loss


@dataclass
class History:
    """What happened during training; losses are per real target token (nats)."""

    updates: list[int] = field(default_factory=list)     # update number of each logged loss
    losses: list[float] = field(default_factory=list)    # training loss of that update
    valid_losses: list[float] = field(default_factory=list)  # validation loss after each epoch
    seconds: float = 0.0                                 # wall-clock time of training

    @property
    def perplexity(self) -> float:
        """exp(loss) of the last update: the effective number of choices per token."""
        return math.exp(self.losses[-1])


def teacher_forcing_inputs(tgt: torch.Tensor, bos: int) -> torch.Tensor:
    """``<bos>`` followed by all but the last target token: (B, T) -> (B, T)."""
    bos_column = torch.full((tgt.shape[0], 1), bos, dtype=tgt.dtype, device=tgt.device)
    return torch.cat([bos_column, tgt[:, :-1]], dim=1)


def sequence_loss(logits: torch.Tensor, tgt: torch.Tensor, tgt_valid_lens: torch.Tensor):
    """Cross-entropy averaged over the real (non-pad) target tokens of the batch.

    Args:
        logits: (B, T, V) unnormalized scores.
        tgt: (B, T) target ids.
        tgt_valid_lens: (B,) number of real tokens per row, in [0, T].

    Returns:
        ``(loss, num_tokens)``: the mean loss per real token (a scalar) and the
        number of real tokens. Padding counts for nothing, and the mean is not
        divided again by the sequence length.
    """
    if logits.dim() != 3 or logits.shape[:2] != tgt.shape:
        raise ValueError(f"logits must have shape (B, T, V) matching tgt (B, T) = {tuple(tgt.shape)}, "
                         f"got {tuple(logits.shape)}")
    mask = sequence_mask(tgt_valid_lens, tgt.shape[1])  # (B, T), True on real tokens
    num_tokens = int(mask.sum())
    if num_tokens == 0:
        raise ValueError("the batch has no real target token (all valid lengths are 0)")
    per_token = F.cross_entropy(logits.transpose(1, 2), tgt, reduction="none")  # (B, V, T) -> (B, T)
    return (per_token * mask).sum() / num_tokens, num_tokens


@torch.no_grad()
def evaluate_loss(model: nn.Module, data_iter, bos: int) -> float:
    """Mean loss per real target token over a whole loader (teacher forcing)."""
    model.eval()
    total, count = 0.0, 0
    for src, src_len, tgt, tgt_len in data_iter:
        output = model(src, src_len, teacher_forcing_inputs(tgt, bos))
        loss, n = sequence_loss(output[0] if isinstance(output, tuple) else output, tgt, tgt_len)
        total, count = total + float(loss) * n, count + n
    return total / count


def train_seq2seq(model: nn.Module, train_iter, bos: int, config: TrainConfig | None = None,
                  valid_iter=None) -> History:
    """Train ``model`` with Adam and teacher forcing; return the loss history.

    Args:
        model: ``model(src, src_valid_lens, tgt_in)`` -> logits (B, T, V) or (logits, ...).
        train_iter: iterable of ``(src, src_valid_lens, tgt, tgt_valid_lens)`` batches.
        bos: id of ``<bos>`` in the target vocabulary.
        config: a :class:`TrainConfig`.
        valid_iter: optional loader; its loss is recorded after each epoch.

    For runs that repeat exactly, the model is initialized after a fixed seed, the
    loop seeds torch with ``config.seed``, and a batch sampler with ``set_epoch``
    (like :class:`attn.data.BucketBatchSampler`) is told the epoch.
    """
    config = config or TrainConfig()
    if config.num_epochs < 1 or (config.max_updates is not None and config.max_updates < 1):
        raise ValueError(f"need num_epochs >= 1 and max_updates >= 1 or None, got "
                         f"{config.num_epochs} and {config.max_updates}")
    if config.schedule not in ("constant", "cosine"):
        raise ValueError(f"schedule must be 'constant' or 'cosine', got {config.schedule!r}")
    torch.manual_seed(config.seed)
    history = History()
    total = config.num_epochs * len(train_iter)
    total = min(total, config.max_updates) if config.max_updates else total
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    if config.schedule == "cosine":  # a high rate to move fast, a low one to settle
        decay = lambda i: 0.5 * (1 + math.cos(math.pi * i / total))  # noqa: E731
    else:
        decay = lambda i: 1.0  # noqa: E731
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, decay)
    bar = tqdm(total=total, desc="training", disable=not config.progress)
    start, update = time.perf_counter(), 0
    for epoch in range(config.num_epochs):
        model.train()
        sampler = getattr(train_iter, "batch_sampler", None)
        if hasattr(sampler, "set_epoch"):  # same batches in the same order on every run
            sampler.set_epoch(epoch)
        for src, src_len, tgt, tgt_len in train_iter:
            output = model(src, src_len, teacher_forcing_inputs(tgt, bos))
            loss, _ = sequence_loss(output[0] if isinstance(output, tuple) else output, tgt, tgt_len)
            optimizer.zero_grad()
            loss.backward()
            if config.grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            scheduler.step()
            update += 1
            history.updates.append(update)
            history.losses.append(loss.item())
            bar.update(1)
            bar.set_postfix(loss=f"{history.losses[-1]:.3f}")
            if update == total:
                break
        if valid_iter is not None:
            history.valid_losses.append(evaluate_loss(model, valid_iter, bos))
        if update == total:
            break
    bar.close()
    model.eval()
    history.seconds = time.perf_counter() - start
    return history
