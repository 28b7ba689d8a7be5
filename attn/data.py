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
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Sampler, TensorDataset

from attn.synthetic import Pair, Splits, SyntheticConfig, synthetic_splits  # noqa: F401 (re-exported)

# ---------------------------------------------------------------------------
# The Tatoeba/Anki file: "English<TAB>French[<TAB>attribution]" per line.
def preprocess(text: str) -> str:
    """Lower-case, turn (narrow) non-breaking spaces into spaces, space out punctuation.

    Each of ``, . ! ? ; :`` becomes a token of its own, wherever it stands:
    "bonjour!" -> "bonjour !", "it's 3:30." -> "it's 3 : 30 .".
    """
    text = text.replace("\u202f", " ").replace("\xa0", " ").lower()
    text = re.sub(r"([,.!?;:])", r" \1 ", text)
    return " ".join(text.split())


def tokenize(text: str) -> list[str]:
    """Preprocess a sentence and split it into word and punctuation tokens."""
    return preprocess(text).split()


def check_sentences(sentences, name: str = "sentences") -> None:
    """Raise TypeError unless ``sentences`` is a sequence of tokenized sentences (lists of str).

    A plain string where a list of tokens belongs would otherwise be read one
    character at a time, silently.
    """
    if isinstance(sentences, str):
        raise TypeError(f"{name} must be a list of sentences, each a list of tokens, got a str; "
                        "use [attn.tokenize(text)] for a single sentence")
    if not isinstance(sentences, Sequence):
        raise TypeError(f"{name} must be a list of sentences, each a list of tokens, "
                        f"got {type(sentences).__name__}")
    for i, sentence in enumerate(sentences):
        if isinstance(sentence, str):
            raise TypeError(f"{name} must be lists of tokens, got a str at index {i} ({sentence[:30]!r}); "
                            "use str.split() or attn.tokenize")
        if not isinstance(sentence, Sequence):
            raise TypeError(f"{name} must be lists of tokens, got a {type(sentence).__name__} at index {i}")
        for token in sentence:
            if not isinstance(token, str):
                raise TypeError(f"{name} must hold str tokens, got a {type(token).__name__} "
                                f"in the sentence at index {i}")


def read_tatoeba(path: str | Path, max_pairs: int | None = None, seed: int = 0) -> list[Pair]:
    """Read a Tatoeba/Anki ``fra.txt`` into tokenized (English, French) pairs.

    Each non-blank line holds two or three tab-separated columns: English,
    French and an optional attribution, which is dropped. Blank lines are
    skipped, and a UTF-8 byte-order mark at the start of the file is ignored.

    Args:
        path: the file, UTF-8 encoded.
        max_pairs: None for all pairs, or an int >= 1: a random sample of that many
            pairs, drawn with ``seed`` from the whole file and kept in file order.
            (The file is sorted by length, so its first lines would hold only the
            shortest sentences.)
        seed: seeds the sample; the same file and seed give the same pairs.

    Returns:
        A list of ``(english_tokens, french_tokens)`` pairs, in file order.

    Raises:
        ValueError naming the file and line for a malformed line or bytes that
        are not UTF-8; for ``max_pairs`` < 1.
    """
    if max_pairs is not None and (isinstance(max_pairs, bool) or not isinstance(max_pairs, int) or max_pairs < 1):
        raise ValueError(f"max_pairs must be an int >= 1 or None, got {max_pairs!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    pairs: list[Pair] = []
    with open(path, "rb") as file:  # bytes, decoded line by line, so that an error can name its line
        for line_no, raw in enumerate(file, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ValueError(f"{path}, line {line_no}: not valid UTF-8 ({error.reason} "
                                 f"at byte {error.start + 1} of the line)") from error
            if line_no == 1:
                line = line.removeprefix("\ufeff")  # a byte-order mark (Windows editors write one)
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
    if max_pairs is not None and max_pairs < len(pairs):
        keep = sorted(random.Random(seed).sample(range(len(pairs)), max_pairs))
        pairs = [pairs[i] for i in keep]
    return pairs


def filter_pairs(pairs: Sequence[Pair], max_src_len: int | None = None,
                 max_tgt_len: int | None = None) -> list[Pair]:
    """The pairs whose source has at most ``max_src_len`` tokens and target at most ``max_tgt_len``.

    Lengths count tokens, without the ``<eos>`` that :func:`build_array` adds; None
    means no limit. Long sentences cost the most to train on and are the ones that
    ``num_steps`` would truncate.
    """
    _check_pairs(pairs)
    for name, limit in (("max_src_len", max_src_len), ("max_tgt_len", max_tgt_len)):
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise ValueError(f"{name} must be an int >= 1 or None, got {limit!r}")
    return [(src, tgt) for src, tgt in pairs
            if (max_src_len is None or len(src) <= max_src_len)
            and (max_tgt_len is None or len(tgt) <= max_tgt_len)]


def _check_pairs(pairs) -> None:
    """A list of (source, target) pairs; the sentences themselves are checked where they are read."""
    if isinstance(pairs, str) or not isinstance(pairs, Sequence):
        raise TypeError(f"pairs must be a list of (source_tokens, target_tokens), got {type(pairs).__name__}")
    for i, pair in enumerate(pairs):
        if isinstance(pair, str) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise TypeError(f"pairs must be (source_tokens, target_tokens) pairs, got {pair!r:.60} at index {i}")


def split_pairs(pairs: Sequence[Pair], num_valid: int, num_test: int, seed: int = 0,
                one_per_source: bool = False) -> Splits:
    """Shuffle pairs (deterministically for ``seed``) into train/valid/test splits.

    Pairs are grouped by source sentence, and a group goes whole into one split, so
    no test or validation source occurs in the training split. The test split takes
    groups until it holds ``num_test`` pairs, then the validation split until it holds
    ``num_valid``; as groups stay whole, either may end with a few more pairs than
    asked (at most the size of one group, less one). The rest is for training.

    Args:
        pairs: ``(source_tokens, target_tokens)`` pairs.
        num_valid, num_test: ints >= 0, the pairs wanted in those splits.
        seed: seeds the shuffle.
        one_per_source: keep only the first pair of each source sentence (its other
            translations are dropped, and counted in ``Splits.dropped``). False keeps
            every pair: a source with several translations is several examples.

    Returns:
        :class:`Splits`; ``dropped`` is the number of pairs left out.
    """
    for name, count in (("num_valid", num_valid), ("num_test", num_test)):
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"{name} must be an int >= 0, got {count!r}")
    if not isinstance(one_per_source, bool):
        raise TypeError(f"one_per_source must be True or False, got {one_per_source!r}")
    _check_pairs(pairs)
    check_sentences([src for src, _ in pairs], "source sentences")
    check_sentences([tgt for _, tgt in pairs], "target sentences")
    groups: dict[tuple, list[Pair]] = {}  # source -> its pairs, in first-seen order
    for src, tgt in pairs:
        groups.setdefault(tuple(src), []).append((list(src), list(tgt)))
    if one_per_source:
        groups = {src: group[:1] for src, group in groups.items()}
    kept = sum(map(len, groups.values()))
    order = torch.randperm(len(groups), generator=torch.Generator().manual_seed(seed)).tolist()
    shuffled = list(groups.values())
    shuffled = [shuffled[i] for i in order]
    test, valid, start = [], [], 0
    for split, wanted in ((test, num_test), (valid, num_valid)):
        while len(split) < wanted and start < len(shuffled):
            split += shuffled[start]
            start += 1
    train = [pair for group in shuffled[start:] for pair in group]
    if not train or len(test) < num_test or len(valid) < num_valid:
        raise ValueError(f"{kept} pairs of {len(groups)} distinct sources leave nothing to train on "
                         f"after {num_valid} validation and {num_test} test pairs")
    return Splits(train=train, valid=valid, test=test, dropped=len(pairs) - kept)


# ---------------------------------------------------------------------------
# Vocabulary, arrays and loaders.
class Vocab:
    """Token <-> index maps. Indices 0-3 are ``<pad>``, ``<bos>``, ``<eos>``, ``<unk>``.

    Tokens seen fewer than ``min_freq`` times map to ``<unk>``. The others follow
    in order of decreasing frequency, ties alphabetically, so the same sentences
    always give the same vocabulary. ``max_size`` (None: no limit) caps the number
    of entries, the four reserved ones included, by keeping the most frequent
    tokens: a smaller output layer trains faster, at the cost of more ``<unk>``.
    """

    reserved = ("<pad>", "<bos>", "<eos>", "<unk>")

    def __init__(self, sentences: Iterable[Sequence[str]], min_freq: int = 1, max_size: int | None = None):
        if isinstance(min_freq, bool) or not isinstance(min_freq, int) or min_freq < 1:
            raise ValueError(f"min_freq must be an int >= 1, got {min_freq!r}")
        if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int)
                                     or max_size < len(self.reserved)):
            raise ValueError(f"max_size must be None or an int >= {len(self.reserved)} "
                             f"(the reserved tokens count), got {max_size!r}")
        if not isinstance(sentences, (str, Sequence)):
            sentences = list(sentences)  # a generator can be read only once: here, checked, then counted
        check_sentences(sentences)
        counter = collections.Counter(token for sentence in sentences for token in sentence)
        frequent = sorted((t for t, c in counter.items() if c >= min_freq and t not in self.reserved),
                          key=lambda t: (-counter[t], t))
        if max_size is not None:
            frequent = frequent[:max_size - len(self.reserved)]  # the most frequent first
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
            return self.idx_to_token[self._check_index(indices)]
        return [self.idx_to_token[self._check_index(int(i))] for i in indices]

    def _check_index(self, index: int) -> int:
        if not 0 <= index < len(self.idx_to_token):  # a negative index would silently count from the end
            raise ValueError(f"token index must lie in [0, {len(self.idx_to_token) - 1}], got {index}")
        return index


def build_array(sentences: Sequence[Sequence[str]], vocab: Vocab, num_steps: int):
    """Indices of each sentence plus ``<eos>``, padded or truncated to ``num_steps``.

    Args:
        sentences: tokenized sentences (lists of str), one row each.
        vocab: maps the tokens to ids.
        num_steps: length of every row.

    Returns:
        ``array`` (number of sentences, num_steps) long and ``valid_lens``
        (number of sentences,) long: the number of non-pad positions of each
        row (a truncated row has no ``<eos>``).
    """
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps must be an int >= 1, got {num_steps!r}")
    check_sentences(sentences)
    rows = [(vocab[list(s)] + [vocab.eos])[:num_steps] for s in sentences]
    padded = [row + [vocab.pad] * (num_steps - len(row)) for row in rows]
    array = torch.tensor(padded, dtype=torch.long).view(len(rows), num_steps)  # .view: also for 0 rows
    valid_lens = torch.tensor([len(row) for row in rows], dtype=torch.long)
    return array, valid_lens


class BucketBatchSampler(Sampler):
    """Shuffled batches of similar length, so that little time goes to padding.

    ``lengths`` (one sort key per example) orders the examples within a pool; ties
    keep the shuffled order. Each epoch shuffles the examples, sorts pools of
    ``50 * batch_size`` by length,
    cuts them into batches and shuffles the batches. Epoch ``e`` draws its order
    from ``seed + e``, so training runs repeat exactly; as with PyTorch's
    ``DistributedSampler``, a training loop may call ``set_epoch(e)``, otherwise
    each pass over the sampler moves on to the next epoch.
    """

    def __init__(self, lengths: torch.Tensor, batch_size: int, seed: int = 0):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        if not isinstance(lengths, torch.Tensor) or lengths.dim() != 1:
            got = tuple(lengths.shape) if isinstance(lengths, torch.Tensor) else type(lengths).__name__
            raise ValueError(f"lengths must be a tensor of shape (number of examples,), got {got}")
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
                          min_freq: int = 1, seed: int = 0, max_size: int | None = None) -> TranslationData:
    """Vocabularies from the training pairs and a ``DataLoader`` per split.

    ``min_freq`` and ``max_size`` are passed to both vocabularies (see :class:`Vocab`).

    The training loader draws length-bucketed, shuffled batches (deterministic
    for ``seed``; sorted by target length, then source length, within a pool); validation and test loaders keep the order of the pairs.
    Every batch is trimmed to its longest source and target.
    """
    if not splits.train:
        raise ValueError("the training split is empty: no vocabulary can be built")
    for name, pairs in (("validation", splits.valid), ("test", splits.test)):
        if not pairs:  # its loader would hold no batch, and its loss would divide by zero
            raise ValueError(f"the {name} split is empty: need at least one pair to evaluate on")
    for pairs in (splits.train, splits.valid, splits.test):
        _check_pairs(pairs)
    src_vocab = Vocab([s for s, _ in splits.train], min_freq, max_size)
    tgt_vocab = Vocab([t for _, t in splits.train], min_freq, max_size)

    def dataset(pairs):
        src, src_len = build_array([s for s, _ in pairs], src_vocab, num_steps)
        tgt, tgt_len = build_array([t for _, t in pairs], tgt_vocab, num_steps)
        return TensorDataset(src, src_len, tgt, tgt_len)

    train = dataset(splits.train)
    # Bucket by target length first, then source length: the decoder runs step by step, so a batch
    # costs about as many decoder steps as its longest target (sorting by the source alone left the
    # longest target of a Tatoeba batch near 11 tokens where most are 5 to 7).
    _, src_len, _, tgt_len = train.tensors
    sampler = BucketBatchSampler(tgt_len * (num_steps + 1) + src_len, batch_size, seed)
    train_iter = DataLoader(train, batch_sampler=sampler,
                            collate_fn=trim_batch)
    valid_iter, test_iter = (DataLoader(dataset(p), batch_size=batch_size, collate_fn=trim_batch)
                             for p in (splits.valid, splits.test))
    return TranslationData(src_vocab, tgt_vocab, train_iter, valid_iter, test_iter, num_steps)
