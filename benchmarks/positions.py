"""Positions compared: the same small GPT trained short and tested long, once per encoding.

    python benchmarks/positions.py              # writes benchmarks/positions.json
    python benchmarks/positions.py --quick      # seconds; what pytest runs

Chapter 6 trains each model for a few hundred updates, one seed; this script runs the
same experiment longer, for several seeds, and the chapter reads its file.

The task is language modelling on the one-clause synthetic corpus of chapter 9: its
``english = french`` lines joined, each followed by ``<eos>``, into one stream of
tokens (20,000 training pairs; the 1,000 test pairs held out). Position matters in
it: word order, agreement, and where the French starts. Every model reads windows of
``--train-len`` L = 32 tokens cut at random places of the training stream, and
predicts every next token. Then it reads the test stream in windows of n = L, 1.5 L,
2 L, 3 L and 4 L tokens, each starting where a line starts, one after the other, and
is scored on the French: the share of French tokens (and of the <eos> that ends each
line) that it predicts right (greedy, top-1 accuracy), and its loss on them, over
every position of the windows, as Press et al. (2022) score a model on windows of
each length. The English of every scored French token is in its window, so a model
that reads positions well could predict nearly all of them; the English itself is
random and is not scored. The windows of 4 L are also scored position by position,
in bins of 8.

The encodings (``attn.GPTConfig.positions``): ``sinusoidal``, ``learned``, ``rope``,
``alibi`` and ``none``. Every model has ``context_len`` = 4 L. For ``learned`` this
means a table of 4 L vectors of which only the first L are ever trained: the rows
past L keep their random start, which is what a learned table holds there.
``rope_pi`` is the ``rope`` model read with position interpolation (Chen et al.,
2023): positions scaled by L / n for windows of n tokens, with no further training;
``rope_pi_tuned`` is that model after ``--tune-updates`` more updates on windows of
4 L with the scale 1/4 (the short fine-tuning of the paper, Adam at 1e-3 with 30
updates of warm-up and a cosine decay), read with the scale 1/4 at every length, as
an extended model is. It has then read 4 L tokens: it is no longer trained short.

The model: 2 pre-norm blocks, E = 64, 4 heads, FFN 256, tied embeddings, no
dropout; Adam at 3e-3 with 100 updates of warm-up and a cosine decay, batches of 32
windows, ``--updates`` updates. Run it with nothing else on the cores (the file
records the machine and the time each model took).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import attn
from attn.lm import SEPARATOR, translation_lines

sys.path.insert(0, str(Path(__file__).resolve().parent))
from translate_real import cpu_name  # noqa: E402  (this folder)

ROOT = Path(__file__).resolve().parents[1]
CORPUS = dict(seed=0, num_train=20_000, num_valid=500, num_test=1_000, max_clauses=1)
MODEL = dict(num_layers=2, num_hiddens=64, num_heads=4, ffn_hiddens=256)
OPTIMISER = dict(lr=3e-3, schedule="cosine", warmup=100, grad_clip=1.0)
TUNING = dict(lr=1e-3, schedule="cosine", warmup=30, grad_clip=1.0)
BATCH_SIZE = 32
TRAIN_LEN = 32
FACTORS = (1, 1.5, 2, 3, 4)  # evaluation lengths n = factor * L
ENCODINGS = ("sinusoidal", "learned", "rope", "alibi", "none")
BIN = 8  # positions per bin of the position-by-position scores


def token_stream(pairs, vocab: attn.Vocab | None = None):
    """The ``english = french`` lines of ``pairs``, each followed by <eos>, as one stream.

    Returns ``(stream, french, starts, vocab)``: the ids (N,) torch.long; a bool
    tensor (N,), True on the French tokens and the <eos> after them (what is
    scored); the index where each line starts; the vocabulary, made from the
    lines when none is given.
    """
    lines = translation_lines(pairs)
    vocab = attn.Vocab(lines) if vocab is None else vocab
    ids, french, starts = [], [], []
    for line in lines:
        starts.append(len(ids))
        english = line.index(SEPARATOR) + 1  # the English and "="
        ids += vocab[line] + [vocab.eos]
        french += [False] * english + [True] * (len(line) + 1 - english)
    return torch.tensor(ids), torch.tensor(french), starts, vocab


def random_windows(stream: torch.Tensor, length: int, count: int, seed: int):
    """``count`` windows of ``length`` tokens at random places: (inputs, targets), (count, length).

    The targets are the inputs shifted by one token: every position predicts the next.
    """
    gen = torch.Generator().manual_seed(seed)
    starts = torch.randint(0, len(stream) - length, (count,), generator=gen)
    rows = stream[starts[:, None] + torch.arange(length + 1)]  # (count, length + 1)
    return rows[:, :-1], rows[:, 1:]


def line_windows(stream: torch.Tensor, french: torch.Tensor, starts, length: int):
    """Windows of ``length`` tokens that start where a line starts, one after the other.

    Each window starts at the first line start at or after the end of the previous
    one. Returns ``(inputs, targets, scored)``, each (B, length): ``scored`` is True
    where the target is French (or the <eos> after it).
    """
    chosen, end = [], 0
    for start in starts:
        if start >= end and start + length < len(stream):
            chosen.append(start)
            end = start + length
    rows = torch.tensor(chosen)[:, None] + torch.arange(length + 1)  # (B, length + 1)
    return stream[rows[:, :-1]], stream[rows[:, 1:]], french[rows[:, 1:]]


def make_model(vocab_size: int, positions: str, seed: int) -> attn.GPT:
    torch.manual_seed(seed)
    return attn.GPT(attn.GPTConfig(vocab_size, context_len=4 * TRAIN_LEN, positions=positions,
                                   **MODEL))


def train(model: attn.GPT, inputs, targets, updates: int, settings: dict, seed: int):
    """``updates`` Adam updates on the windows, in order; returns the History."""
    loader = attn.lm_loader(inputs, targets, batch_size=BATCH_SIZE, shuffle=False)
    config = attn.TrainConfig(**settings, max_updates=updates, seed=seed, progress=False)
    return attn.train_lm(model, loader, config)


@torch.no_grad()
def scores(model: attn.GPT, inputs, targets, batch_size: int = 64):
    """Loss and correctness of every next-token prediction: two (B, n) tensors."""
    model.eval()
    losses, right = [], []
    for start in range(0, len(inputs), batch_size):
        logits = model(inputs[start:start + batch_size])  # (b, n, V)
        batch_targets = targets[start:start + batch_size]
        losses.append(F.cross_entropy(logits.transpose(1, 2), batch_targets,
                                      reduction="none"))  # (b, n)
        right.append((logits.argmax(-1) == batch_targets).float())
    return torch.cat(losses), torch.cat(right)


def evaluate(model: attn.GPT, test, interpolate: bool = False, scale: float = 1.0) -> dict:
    """French accuracy and loss on windows of each length, and by position at 4 L.

    ``test``: ``(stream, french, starts)`` from :func:`token_stream`.
    ``interpolate``: read windows of n tokens with ``rope_scale`` = L / n; otherwise
    with ``scale``.
    """
    result = {"by_length": {}, "by_position": {}}
    for factor in FACTORS:
        length = int(factor * TRAIN_LEN)
        model.config.rope_scale = TRAIN_LEN / length if interpolate else scale
        inputs, targets, scored = line_windows(*test, length)
        loss, right = scores(model, inputs, targets)
        result["by_length"][str(length)] = {"loss": loss[scored].mean().item(),
                                            "accuracy": right[scored].mean().item()}
        if factor == FACTORS[-1]:  # (B, 4 L) -> bins of BIN positions
            binned = scored.view(len(scored), -1, BIN).sum((0, 2))  # scored targets per bin
            result["by_position"] = {
                "loss": ((loss * scored).view(len(loss), -1, BIN).sum((0, 2))
                         / binned).tolist(),
                "accuracy": ((right * scored).view(len(right), -1, BIN).sum((0, 2))
                             / binned).tolist()}
    model.config.rope_scale = 1.0
    return result


def run(seed: int, updates: int, tune_updates: int, train_stream, test, vocab_size):
    """Every encoding trained with ``seed``: one record per line of the comparison."""
    inputs, targets = random_windows(train_stream, TRAIN_LEN, updates * BATCH_SIZE, seed)
    records = []
    for positions in ENCODINGS:
        model = make_model(vocab_size, positions, seed)
        history = train(model, inputs, targets, updates, OPTIMISER, seed)
        start = time.perf_counter()
        records.append({"encoding": positions, "seed": seed, "updates": len(history.losses),
                        "train_seconds": round(history.seconds, 2),
                        "final_train_loss": history.losses[-1],
                        **evaluate(model, test),
                        "eval_seconds": round(time.perf_counter() - start, 2)})
        print(json.dumps({k: v for k, v in records[-1].items() if k != "by_position"}),
              flush=True)
        if positions == "rope":
            records.append({"encoding": "rope_pi", "seed": seed, "updates": 0,
                            **evaluate(model, test, interpolate=True)})
            long_inputs, long_targets = random_windows(
                train_stream, 4 * TRAIN_LEN, tune_updates * BATCH_SIZE, seed + 1000)
            model.config.rope_scale = 0.25
            tuning = train(model, long_inputs, long_targets, tune_updates, TUNING, seed)
            records.append({"encoding": "rope_pi_tuned", "seed": seed,
                            "updates": len(tuning.losses),
                            "train_seconds": round(tuning.seconds, 2),
                            **evaluate(model, test, scale=0.25)})
    return records


def summary(runs: list[dict]) -> dict:
    """Mean and standard deviation over the seeds of each encoding's scores by length."""
    out = {}
    for encoding in dict.fromkeys(r["encoding"] for r in runs):
        mine = [r for r in runs if r["encoding"] == encoding]
        out[encoding] = {}
        for length in mine[0]["by_length"]:
            for metric in ("accuracy", "loss"):
                values = [r["by_length"][length][metric] for r in mine]
                spread = statistics.stdev(values) if len(values) > 1 else 0.0
                out[encoding].setdefault(length, {})[metric] = [statistics.mean(values), spread]
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=1500, help="training updates per model")
    parser.add_argument("--tune-updates", type=int, default=300,
                        help="updates of position-interpolation fine-tuning at 4 L")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=2,
                        help="torch threads (1 where another process shares the cores)")
    parser.add_argument("--quick", action="store_true",
                        help="20 updates, 5 of tuning, one seed, 200 test pairs, nothing written")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "positions.json")
    args = parser.parse_args(argv)
    updates, tune_updates, seeds, num_test = args.updates, args.tune_updates, args.seeds, None
    if args.quick:
        updates, tune_updates, seeds, num_test = 20, 5, [0], 200

    torch.set_num_threads(args.threads)
    splits = attn.synthetic_splits(attn.SyntheticConfig(**CORPUS))
    train_stream, _, _, vocab = token_stream(splits.train)
    test = token_stream(splits.test[:num_test], vocab)[:3]  # stream, french, starts
    command = "python benchmarks/positions.py" + "".join(f" {a}" for a in (argv or sys.argv[1:]))
    result = {"command": command, "corpus": CORPUS, "model": MODEL, "optimiser": OPTIMISER,
              "tuning": TUNING, "batch_size": BATCH_SIZE, "train_len": TRAIN_LEN,
              "eval_lengths": [int(f * TRAIN_LEN) for f in FACTORS], "bin": BIN,
              "updates": updates, "tune_updates": tune_updates, "seeds": seeds,
              "test_tokens": len(test[0]), "test_french": int(test[1].sum()),
              "vocab_size": len(vocab),
              "machine": f"{platform.machine()}, {cpu_name()}, {os.cpu_count()} cores, "
                         f"{torch.get_num_threads()} threads, torch {torch.__version__}",
              "load_before": [round(x, 2) for x in os.getloadavg()], "runs": []}
    for seed in seeds:
        result["runs"] += run(seed, updates, tune_updates, train_stream, test, len(vocab))
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    result["summary"] = summary(result["runs"])
    top, bottom = str(TRAIN_LEN), str(4 * TRAIN_LEN)
    for encoding, scores_ in result["summary"].items():
        print(f"{encoding:>14}: accuracy at L {scores_[top]['accuracy'][0]:.3f}, "
              f"at 4L {scores_[bottom]['accuracy'][0]:.3f}")
    if not args.quick:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
