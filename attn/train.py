"""A training loop for encoder-decoder models, reused by every later chapter.

The loop needs only the interface ``model(src, src_valid_lens, tgt_in)`` returning
``logits`` (B, T, V) or a tuple whose first element is the logits, and batches
``(src, src_valid_lens, tgt, tgt_valid_lens)`` where ``tgt`` ends each sentence
with ``<eos>``. It trains with teacher forcing: the decoder reads
``<bos> y_1 ... y_{T-1}`` and is scored on ``y_1 ... y_T``. Each batch is moved
to the device of the model's parameters, so a chapter that moves its model to
:func:`attn.get_device` trains on a GPU with no other change.

Shapes (package legend): B batch, S source length, T target length, V target
vocabulary size.
"""

from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from attn.masking import sequence_mask
from attn.utils import model_device, progress  # noqa: F401 (model_device: also read here)


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class TrainConfig:
    """Hyper-parameters of :func:`train_seq2seq`; invalid values raise ValueError when set up."""

    lr: float = 5e-3          # Adam learning rate (> 0)
    num_epochs: int = 1       # passes over the training loader (>= 1)
    max_updates: int | None = None  # stop after this many updates (None: run all epochs)
    max_seconds: float | None = None  # stop after this much wall-clock time (None: no limit)
    grad_clip: float = 1.0    # clip the global gradient norm to this (0: no clipping)
    schedule: str = "constant"  # "constant" lr, "cosine": decays to 0 over the updates, or
    #                             "inverse_sqrt": lr * sqrt(warmup / update) after the warm-up
    warmup: int = 0           # updates over which the rate rises linearly to lr (0: none)
    seed: int = 0             # seeds the weight updates' randomness (dropout)
    label_smoothing: float = 0.0  # share of each target's probability spread over the vocabulary
    #                             (Szegedy et al., 2016), in [0, 1); the training loss only
    progress: bool = True     # show a progress bar with the loss of the last update

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first setting the loop cannot use."""
        if not _is_real(self.lr) or self.lr <= 0:
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        if not _is_int(self.num_epochs) or self.num_epochs < 1:
            raise ValueError(f"num_epochs must be an int >= 1, got {self.num_epochs!r}")
        if self.max_updates is not None and (not _is_int(self.max_updates) or self.max_updates < 1):
            raise ValueError(f"max_updates must be an int >= 1 or None, got {self.max_updates!r}")
        if self.max_seconds is not None and (not _is_real(self.max_seconds) or self.max_seconds <= 0):
            raise ValueError(f"max_seconds must be a finite number > 0 or None, got {self.max_seconds!r}")
        if not _is_real(self.grad_clip) or self.grad_clip < 0:  # a negative one would switch clipping off
            raise ValueError(f"grad_clip must be a finite number >= 0 (0: no clipping), got {self.grad_clip!r}")
        if self.schedule not in ("constant", "cosine", "inverse_sqrt"):
            raise ValueError(f"schedule must be 'constant', 'cosine' or 'inverse_sqrt', "
                             f"got {self.schedule!r}")
        if not _is_int(self.warmup) or self.warmup < 0:
            raise ValueError(f"warmup must be an int >= 0, got {self.warmup!r}")
        if self.schedule == "inverse_sqrt" and self.warmup == 0:
            raise ValueError("the inverse_sqrt schedule needs warmup >= 1 (it decays from there)")
        if not _is_real(self.label_smoothing) or not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be a number in [0, 1), got {self.label_smoothing!r}")
        if not _is_int(self.seed):
            raise ValueError(f"seed must be an int, got {self.seed!r}")
        if not isinstance(self.progress, bool):
            raise ValueError(f"progress must be True or False, got {self.progress!r}")


@dataclass
class History:
    """What happened during training; losses are per real target token (nats)."""

    updates: list[int] = field(default_factory=list)     # update number of each logged loss
    losses: list[float] = field(default_factory=list)    # training loss of that update
    valid_losses: list[float] = field(default_factory=list)  # validation loss after each epoch
    seconds: float = 0.0                                 # wall-clock time of training
    stopped_by: str = ""  # what ended training: "epochs", "max_updates" or "max_seconds"

    @property
    def perplexity(self) -> float:
        """exp(loss) of the last update: the effective number of choices per token."""
        if not self.losses:
            raise ValueError("no update was logged: an empty history has no perplexity")
        return math.exp(self.losses[-1])


def teacher_forcing_inputs(tgt: torch.Tensor, bos: int) -> torch.Tensor:
    """``<bos>`` followed by all but the last target token: (B, T) -> (B, T)."""
    if not isinstance(tgt, torch.Tensor) or tgt.dim() != 2:
        got = tuple(tgt.shape) if isinstance(tgt, torch.Tensor) else type(tgt).__name__
        raise ValueError(f"tgt must be a tensor of shape (B, T), got {got}")
    bos_column = torch.full((tgt.shape[0], 1), bos, dtype=tgt.dtype, device=tgt.device)  # (B, 1)
    return torch.cat([bos_column, tgt[:, :-1]], dim=1)  # (B, 1) + (B, T - 1) -> (B, T)


def _check_loss_inputs(logits, tgt, tgt_valid_lens) -> None:
    for name, x in (("logits", logits), ("tgt", tgt), ("tgt_valid_lens", tgt_valid_lens)):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not logits.dtype.is_floating_point:
        raise TypeError(f"logits must be a floating-point tensor, got dtype {logits.dtype}")
    if tgt.dtype != torch.long:
        raise TypeError(f"tgt must be a torch.long tensor of target ids, got dtype {tgt.dtype}")
    lens_dtype = tgt_valid_lens.dtype
    if lens_dtype.is_floating_point or lens_dtype.is_complex or lens_dtype == torch.bool:
        raise TypeError(f"tgt_valid_lens must be an integer tensor, got dtype {tgt_valid_lens.dtype}")
    if tgt.dim() != 2:
        raise ValueError(f"tgt must have shape (B, T), got shape {tuple(tgt.shape)}")
    if logits.dim() != 3 or logits.shape[:2] != tgt.shape:
        raise ValueError(f"logits must have shape (B, T, V) matching tgt (B, T) = {tuple(tgt.shape)}, "
                         f"got {tuple(logits.shape)}")
    if logits.device != tgt.device:
        raise ValueError(f"logits and tgt must be on the same device, got {logits.device} and {tgt.device}")
    batch, num_steps, vocab_size = logits.shape
    if tuple(tgt_valid_lens.shape) != (batch,):
        raise ValueError(f"tgt_valid_lens must have shape (B,) = ({batch},), got {tuple(tgt_valid_lens.shape)}")
    if batch and (tgt_valid_lens.min() < 0 or tgt_valid_lens.max() > num_steps):
        raise ValueError(f"tgt_valid_lens must lie in [0, T] = [0, {num_steps}], got values from "
                         f"{int(tgt_valid_lens.min())} to {int(tgt_valid_lens.max())}")
    if tgt.numel() and (tgt.min() < 0 or tgt.max() >= vocab_size):
        raise ValueError(f"tgt must hold ids in [0, V - 1] = [0, {vocab_size - 1}], got values from "
                         f"{int(tgt.min())} to {int(tgt.max())}")


def sequence_loss(logits: torch.Tensor, tgt: torch.Tensor, tgt_valid_lens: torch.Tensor,
                  label_smoothing: float = 0.0):
    """Cross-entropy averaged over the real (non-pad) target tokens of the batch.

    Args:
        logits: (B, T, V) unnormalized scores, floating point.
        tgt: (B, T) target ids, torch.long, in [0, V - 1] (padding included).
        tgt_valid_lens: (B,) integer number of real tokens per row, in [0, T].
        label_smoothing: in [0, 1); the target of each real token becomes
            ``1 - label_smoothing`` on the true word plus ``label_smoothing / V`` on
            every word (``F.cross_entropy``'s definition); 0 is the plain cross-entropy.

    Returns:
        ``(loss, num_tokens)``: the mean loss per real token (a scalar) and the
        number of real tokens. Padding counts for nothing, and the mean is not
        divided again by the sequence length.

    Raises:
        TypeError for a wrong dtype, ValueError for a wrong shape or range and
        for a batch without any real token.
    """
    _check_loss_inputs(logits, tgt, tgt_valid_lens)
    batch, num_steps, vocab_size = logits.shape
    mask = sequence_mask(tgt_valid_lens.to(tgt.device), num_steps)  # (B, T), True on real tokens
    num_tokens = int(mask.sum())
    if num_tokens == 0:
        raise ValueError("the batch has no real target token (all valid lengths are 0)")
    # Flat rows: cross_entropy over (B T, V) is faster than over (B, V, T) when V is large.
    if not _is_real(label_smoothing) or not 0 <= label_smoothing < 1:
        raise ValueError(f"label_smoothing must be a number in [0, 1), got {label_smoothing!r}")
    per_token = F.cross_entropy(logits.reshape(-1, vocab_size), tgt.reshape(-1), reduction="none",
                                label_smoothing=float(label_smoothing))  # (B T,)
    per_token = per_token.view(batch, num_steps).masked_fill(~mask, 0.0)  # (B, T): padding costs nothing
    return per_token.sum() / num_tokens, num_tokens


def scheduled_rate(config: TrainConfig, update: int, total: int, elapsed: float = 0.0) -> float:
    """The learning rate of update number ``update`` (counted from 1) of ``total``.

    ``constant``: ``lr``. ``cosine``: ``lr * (1 + cos(pi * done)) / 2``, where
    ``done`` is the larger of the share of updates made before this one and the
    share of ``max_seconds`` used after ``elapsed`` seconds. ``inverse_sqrt``
    (Vaswani et al., 2017): ``lr * min(update / warmup, sqrt(warmup / update))``,
    the peak ``lr`` at ``update == warmup``. With ``warmup`` > 0 the rate of the
    other two schedules is multiplied by ``min(1, update / warmup)``.
    """
    if config.schedule == "cosine":
        angle = math.pi * (update - 1) / total  # pi times the share of the budget used
        if config.max_seconds is not None:
            angle = max(angle, math.pi * elapsed / config.max_seconds)
        rate = config.lr * (0.5 * (1 + math.cos(min(angle, math.pi))))
    elif config.schedule == "inverse_sqrt":
        rate = config.lr * min(1.0, math.sqrt(config.warmup / update))
    else:
        rate = config.lr
    return rate * min(1.0, update / config.warmup) if config.warmup else rate


def _num_batches(loader, name: str) -> int:
    try:
        count = len(loader)
    except TypeError:  # a generator would be used up after one epoch
        raise TypeError(f"{name} must have a length (a DataLoader or a list of batches), "
                        f"got {type(loader).__name__}") from None
    if count == 0:
        raise ValueError(f"{name} is empty: it holds no batch")
    return count


def _batch_loss(model, batch, bos: int, device: torch.device, label_smoothing: float = 0.0):
    """Teacher-forced ``(loss, num_tokens)`` of one batch, after moving it to ``device``."""
    if len(batch) != 4:
        raise ValueError(f"a batch must be (src, src_valid_lens, tgt, tgt_valid_lens), got {len(batch)} items")
    src, src_len, tgt, tgt_len = (x.to(device) for x in batch)
    output = model(src, src_len, teacher_forcing_inputs(tgt, bos))
    logits = output[0] if isinstance(output, tuple) else output  # (B, T, V)
    return sequence_loss(logits, tgt, tgt_len, label_smoothing)


@torch.no_grad()
def evaluate_loss(model: nn.Module, data_iter, bos: int) -> float:
    """Mean loss per real target token over a whole loader (teacher forcing).

    Args:
        model: as for :func:`train_seq2seq`; batches are moved to its device.
        data_iter: iterable of ``(src, src_valid_lens, tgt, tgt_valid_lens)`` batches.
        bos: id of ``<bos>`` in the target vocabulary.

    Raises:
        ValueError when the loader holds no batch.
    """
    model.eval()
    device = model_device(model)
    total, count = 0.0, 0
    for batch in data_iter:
        loss, n = _batch_loss(model, batch, bos, device)
        total, count = total + float(loss) * n, count + n
    if count == 0:
        raise ValueError("the loader is empty: there is no target token to evaluate the loss on")
    return total / count


def train_seq2seq(model: nn.Module, train_iter, bos: int, config: TrainConfig | None = None,
                  valid_iter=None, callback=None) -> History:
    """Train ``model`` with Adam and teacher forcing; return the loss history.

    Args:
        model: ``model(src, src_valid_lens, tgt_in)`` -> logits (B, T, V) or (logits, ...).
            Batches are moved to the device of its parameters.
        train_iter: iterable of ``(src, src_valid_lens, tgt, tgt_valid_lens)`` batches
            with a length (a ``DataLoader`` or a list), not empty.
        bos: id of ``<bos>`` in the target vocabulary.
        config: a :class:`TrainConfig`.
        valid_iter: optional loader, not empty; its loss is recorded after each epoch.
        callback: optional function called with the update number after every
            update (to evaluate during training, say); its time counts towards
            ``max_seconds``, and it should leave the model in training mode.

    Training stops at the first of ``num_epochs`` passes, ``max_updates`` updates and
    ``max_seconds`` of wall-clock time (checked between updates; validation counts),
    and the validation loss is recorded then too. Each update's learning rate is
    :func:`scheduled_rate`; the cosine schedule follows whichever budget runs out
    first.

    For runs that repeat exactly, the model is initialized after a fixed seed, the
    loop seeds torch with ``config.seed``, a batch sampler with ``set_epoch``
    (like :class:`attn.data.BucketBatchSampler`) is told the epoch, and no time
    budget is set (how far a timed run gets depends on the machine).
    """
    config = TrainConfig() if config is None else config
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    config.validate()  # again: its fields may have been changed since it was made
    if not _is_int(bos) or bos < 0:
        raise ValueError(f"bos must be a non-negative int (a target token id), got {bos!r}")
    if valid_iter is not None:
        _num_batches(valid_iter, "valid_iter")  # fail now, not after the first epoch
    device = model_device(model)
    valid_loss = None if valid_iter is None else lambda: evaluate_loss(model, valid_iter, bos)
    return run_updates(model, train_iter, config,
                       lambda batch: _batch_loss(model, batch, bos, device,
                                                 config.label_smoothing)[0],
                       valid_loss, callback)


def run_updates(model: nn.Module, train_iter, config: TrainConfig, batch_loss,
                valid_loss=None, callback=None) -> History:
    """The update loop that :func:`train_seq2seq` and :func:`attn.train_lm` share.

    Args:
        model: the module to train (put in training mode for each epoch, in eval
            mode at the end).
        train_iter: batches with a length; a batch sampler with ``set_epoch`` is
            told the epoch.
        config: a validated :class:`TrainConfig`.
        batch_loss: ``batch_loss(batch)`` -> the scalar training loss of one batch.
        valid_loss: optional ``valid_loss()`` -> float, recorded after each epoch
            and at the end.
        callback: optional function called with the update number after each update.

    Returns:
        The :class:`History`, stopped at the first of ``num_epochs``,
        ``max_updates`` and ``max_seconds``.
    """
    total = config.num_epochs * _num_batches(train_iter, "train_iter")
    total = min(total, config.max_updates) if config.max_updates else total
    torch.manual_seed(config.seed)
    history = History()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)

    def set_rate(update: int, elapsed: float) -> None:
        """Set the learning rate of the next update after ``update`` updates and ``elapsed`` seconds."""
        for group in optimizer.param_groups:
            group["lr"] = scheduled_rate(config, update + 1, total, elapsed)

    set_rate(0, 0.0)

    bar = progress(total=None if config.max_seconds else total, desc="training",
                   disable=not config.progress)
    start, update, stop = time.perf_counter(), 0, ""
    for epoch in range(config.num_epochs):
        model.train()
        sampler = getattr(train_iter, "batch_sampler", None)
        if hasattr(sampler, "set_epoch"):  # same batches in the same order on every run
            sampler.set_epoch(epoch)
        for batch in train_iter:
            loss = batch_loss(batch)
            optimizer.zero_grad()
            loss.backward()
            if config.grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            update += 1
            history.updates.append(update)
            history.losses.append(loss.item())
            bar.update(1)
            bar.set_postfix(loss=f"{history.losses[-1]:.3f}")
            if callback is not None:
                callback(update)
            elapsed = time.perf_counter() - start
            set_rate(update, elapsed)
            if update == total:
                stop = "max_updates" if config.max_updates == update else "epochs"
            elif config.max_seconds is not None and elapsed >= config.max_seconds:
                stop = "max_seconds"
            if stop:
                break
        if update == 0:
            bar.close()
            raise ValueError("train_iter yielded no batch although its length is not 0")
        if valid_loss is not None:
            history.valid_losses.append(valid_loss())
        if stop:
            break
    history.stopped_by = stop or "epochs"
    bar.close()
    model.eval()
    history.seconds = time.perf_counter() - start
    return history
