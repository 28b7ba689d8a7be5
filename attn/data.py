"""Translation data that never needs the network.

Two sources of English-French sentence pairs feed one pipeline:

* :func:`attn.synthetic.synthetic_splits` (re-exported here) generates pairs
  from a small grammar whose French is correct French, deterministically from
  a seed, with disjoint train/valid/test splits.
* :func:`read_tatoeba` reads the tab-separated ``fra.txt`` of the Tatoeba/Anki
  project if a reader has downloaded it; :func:`split_pairs` splits its pairs.

A pair is ``(source_tokens, target_tokens)``, two lists of strings. :class:`Vocab`
maps tokens to indices, :func:`build_array` pads or truncates to ``num_steps``, and
:func:`load_translation_data` returns vocabularies and ``DataLoader``s whose batches
are ``(src (B, S), src_valid_lens (B,), tgt (B, T), tgt_valid_lens (B,))``.
"""

from __future__ import annotations

import collections
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import torch
from torch.utils.data import DataLoader, Sampler, TensorDataset

from attn.synthetic import Pair, Splits, SyntheticConfig, synthetic_splits  # noqa: F401 (re-exported)

# ---------------------------------------------------------------------------
# The Tatoeba/Anki file: "English<TAB>French[<TAB>attribution]" per line.
def preprocess(text: str) -> str:
    """Lower-case, turn (narrow) non-breaking spaces into spaces, space out punctuation."""
    text = text.replace("\u202f", " ").replace("\xa0", " ").lower()
    text = re.sub(r"(?<=\S)([,.!?;:])", r" \1", text)  # "bonjour!" -> "bonjour !"
    return " ".join(text.split())


def tokenize(text: str) -> list[str]:
    """Preprocess a sentence and split it into word and punctuation tokens."""
    return preprocess(text).split()


def read_tatoeba(path: str | Path, max_pairs: int | None = None) -> list[Pair]:
    """Read a Tatoeba/Anki ``fra.txt`` into tokenized (English, French) pairs.

    Each non-blank line holds two or three tab-separated columns: English,
    French and an optional attribution, which is dropped. Blank lines are
    skipped. Any other line raises ``ValueError`` naming the file and line.
    """
    pairs: list[Pair] = []
    with open(path, encoding="utf-8") as file:
        for line_no, line in enumerate(file, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            columns = line.split("\t")
            if len(columns) not in (2, 3):
                raise ValueError(f"{path}, line {line_no}: expected 2 or 3 tab-separated columns "
                                 f"(English, French[, attribution]), got {len(columns)}")
            english, french = tokenize(columns[0]), tokenize(columns[1])
            if not english or not french:
                raise ValueError(f"{path}, line {line_no}: empty English or French sentence")
            pairs.append((english, french))
            if max_pairs is not None and len(pairs) >= max_pairs:
                break
    return pairs


def split_pairs(pairs: Sequence[Pair], num_valid: int, num_test: int, seed: int = 0) -> Splits:
    """Shuffle pairs (deterministically for ``seed``) into train/valid/test splits.

    Pairs whose source sentence was already seen are dropped first, so no test
    or validation source occurs in the training split.
    """
    if num_valid < 0 or num_test < 0:
        raise ValueError(f"num_valid and num_test must be >= 0, got {num_valid} and {num_test}")
    unique = list({tuple(src): (list(src), list(tgt)) for src, tgt in reversed(pairs)}.values())[::-1]
    if num_valid + num_test >= len(unique):
        raise ValueError(f"{len(unique)} distinct pairs leave nothing to train on after "
                         f"{num_valid} validation and {num_test} test pairs")
    order = torch.randperm(len(unique), generator=torch.Generator().manual_seed(seed)).tolist()
    shuffled = [unique[i] for i in order]
    return Splits(train=shuffled[num_valid + num_test:], valid=shuffled[num_test:num_test + num_valid],
                  test=shuffled[:num_test])


# ---------------------------------------------------------------------------
# Vocabulary, arrays and loaders.
class Vocab:
    """Token <-> index maps. Indices 0-3 are ``<pad>``, ``<bos>``, ``<eos>``, ``<unk>``.

    Tokens seen fewer than ``min_freq`` times map to ``<unk>``. The others follow
    in order of decreasing frequency, ties alphabetically, so the same sentences
    always give the same vocabulary.
    """

    reserved = ("<pad>", "<bos>", "<eos>", "<unk>")

    def __init__(self, sentences: Iterable[Sequence[str]], min_freq: int = 1):
        if min_freq < 1:
            raise ValueError(f"min_freq must be >= 1, got {min_freq}")
        counter = collections.Counter(token for sentence in sentences for token in sentence)
        frequent = sorted((t for t, c in counter.items() if c >= min_freq and t not in self.reserved),
                          key=lambda t: (-counter[t], t))
        self.idx_to_token = list(self.reserved) + frequent
        self.token_to_idx = {token: i for i, token in enumerate(self.idx_to_token)}
        self.pad, self.bos, self.eos, self.unk = range(4)

    def __len__(self) -> int:
        return len(self.idx_to_token)

    def __getitem__(self, tokens):
        """Index of a token, or list of indices of a list of tokens (unknown -> ``<unk>``)."""
        if isinstance(tokens, str):
            return self.token_to_idx.get(tokens, self.unk)
        return [self[token] for token in tokens]

    def to_tokens(self, indices) -> list[str] | str:
        """Token of an index, or tokens of a sequence of indices."""
        if isinstance(indices, torch.Tensor):
            indices = indices.tolist()
        if isinstance(indices, int):
            return self.idx_to_token[indices]
        return [self.idx_to_token[int(i)] for i in indices]


def build_array(sentences: Sequence[Sequence[str]], vocab: Vocab, num_steps: int):
    """Indices of each sentence plus ``<eos>``, padded or truncated to ``num_steps``.

    Returns:
        ``array`` (N, num_steps) long and ``valid_lens`` (N,) long: the number
        of non-pad positions of each row (a truncated row has no ``<eos>``).
    """
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    rows = [(vocab[list(s)] + [vocab.eos])[:num_steps] for s in sentences]
    padded = [row + [vocab.pad] * (num_steps - len(row)) for row in rows]
    array = torch.tensor(padded, dtype=torch.long).view(len(rows), num_steps)  # .view: also for 0 rows
    valid_lens = torch.tensor([len(row) for row in rows], dtype=torch.long)
    return array, valid_lens


class BucketBatchSampler(Sampler):
    """Shuffled batches of similar source length, so that little time goes to padding.

    Each epoch shuffles the examples, sorts pools of ``50 * batch_size`` by length,
    cuts them into batches and shuffles the batches. Epoch ``e`` draws its order
    from ``seed + e``, so training runs repeat exactly; as with PyTorch's
    ``DistributedSampler``, a training loop may call ``set_epoch(e)``, otherwise
    each pass over the sampler moves on to the next epoch.
    """

    def __init__(self, lengths: torch.Tensor, batch_size: int, seed: int = 0):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.lengths, self.batch_size, self.seed, self.epoch = lengths, batch_size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        self.epoch += 1
        order = torch.randperm(len(self.lengths), generator=generator)
        pool = 50 * self.batch_size
        batches = []
        for start in range(0, len(order), pool):
            chunk = order[start:start + pool]
            chunk = chunk[torch.argsort(self.lengths[chunk], stable=True)]
            batches += [chunk[i:i + self.batch_size].tolist() for i in range(0, len(chunk), self.batch_size)]
        for i in torch.randperm(len(batches), generator=generator).tolist():
            yield batches[i]

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)


def trim_batch(batch):
    """Collate (src, src_len, tgt, tgt_len) examples and cut the padding no row needs."""
    src, src_len, tgt, tgt_len = (torch.stack(x) for x in zip(*batch))
    return src[:, :int(src_len.max())], src_len, tgt[:, :int(tgt_len.max())], tgt_len


@dataclass
class TranslationData:
    """Vocabularies and loaders of one corpus; batches are (src, src_len, tgt, tgt_len)."""

    src_vocab: Vocab
    tgt_vocab: Vocab
    train_iter: DataLoader
    valid_iter: DataLoader
    test_iter: DataLoader
    num_steps: int


def load_translation_data(splits: Splits, batch_size: int = 64, num_steps: int = 32,
                          min_freq: int = 1, seed: int = 0) -> TranslationData:
    """Vocabularies from the training pairs and a ``DataLoader`` per split.

    The training loader draws length-bucketed, shuffled batches (deterministic
    for ``seed``); validation and test loaders keep the order of the pairs.
    Every batch is trimmed to its longest source and target.
    """
    if not splits.train:
        raise ValueError("the training split is empty: no vocabulary can be built")
    src_vocab = Vocab([s for s, _ in splits.train], min_freq)
    tgt_vocab = Vocab([t for _, t in splits.train], min_freq)

    def dataset(pairs):
        src, src_len = build_array([s for s, _ in pairs], src_vocab, num_steps)
        tgt, tgt_len = build_array([t for _, t in pairs], tgt_vocab, num_steps)
        return TensorDataset(src, src_len, tgt, tgt_len)

    train = dataset(splits.train)
    train_iter = DataLoader(train, batch_sampler=BucketBatchSampler(train.tensors[1], batch_size, seed),
                            collate_fn=trim_batch)
    valid_iter, test_iter = (DataLoader(dataset(p), batch_size=batch_size, collate_fn=trim_batch)
                             for p in (splits.valid, splits.test))
    return TranslationData(src_vocab, tgt_vocab, train_iter, valid_iter, test_iter, num_steps)
