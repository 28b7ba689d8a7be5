"""Byte-pair encoding (BPE): words cut into frequent pieces, so that few words are unknown.

Sennrich et al. (2016) start from characters and repeatedly merge the most
frequent pair of adjacent symbols in a corpus of word counts. Each merge adds one
symbol; after a few thousand, frequent words are single symbols and a rare word
is spelt with a few pieces that training has seen.

* The last character of every word carries the end-of-word marker ``</w>``: "low"
  starts as ``l o w</w>``. Joining pieces is then exact: concatenate them, and a
  piece that ends in ``</w>`` ends a word (:func:`join_pieces`).
* :func:`learn_merges` learns the merges. Among pairs of equal frequency it takes
  the first in code-point order of (left, right), so that the same counts give
  the same merges on every machine.
* :func:`segment_word` cuts a word as GPT-2 and Hugging Face ``tokenizers`` do:
  while some adjacent pair has a merge, merge every occurrence (left to right) of
  the pair that was learned first.
* A character never seen in training (or never at the end of a word, with the
  marker) stays a piece of its own; a vocabulary built from the training pieces
  (:class:`attn.Vocab`) maps it to ``<unk>``. (A ``tokenizers`` BPE model without
  an unknown token drops such a piece instead.)
* An empty corpus, a negative number of merges, an empty word or one holding the
  marker are refused with a ValueError, what is not a str with a TypeError.

:class:`BPE` holds the merges and gives ``segment``, ``encode`` and ``decode``.
:func:`learn_merges_fast` learns with the Hugging Face trainer (Rust, for real
corpora). It follows the same rule but breaks ties by its own token ids, so its
merges equal these at least up to the first tie.
"""

from __future__ import annotations

import collections
import heapq
import json
from collections.abc import Iterable, Mapping, Sequence

from attn.checks import check_int

END = "</w>"  # the end-of-word marker, on the last symbol of every word

Pair = tuple[str, str]


def _check_word(word, name: str = "word") -> str:
    if not isinstance(word, str):
        raise TypeError(f"{name} must be a str, got {word!r} ({type(word).__name__})")
    if not word:
        raise ValueError(f"{name} must not be empty")
    if END in word:
        raise ValueError(f"{name} must not contain the end-of-word marker {END!r}, got {word!r}")
    return word


def _check_counts(word_counts) -> dict[str, int]:
    if isinstance(word_counts, str) or not isinstance(word_counts, Mapping):
        raise TypeError("word_counts must map each word (str) to its count (int), got "
                        f"{type(word_counts).__name__}; count_words(sentences) makes one")
    if not word_counts:
        raise ValueError("word_counts is empty: there is nothing to learn merges from")
    for word, count in word_counts.items():
        _check_word(word, "every word of word_counts")
        check_int(f"the count of {word!r}", count, minimum=1)
    return dict(word_counts)


def count_words(sentences: Iterable[Sequence[str]]) -> collections.Counter:
    """How often each word occurs in tokenized sentences (lists of str)."""
    if isinstance(sentences, str):
        raise TypeError("sentences must be a list of sentences, each a list of words, got a str")
    counts = collections.Counter()
    for sentence in sentences:
        if isinstance(sentence, str):
            raise TypeError(f"each sentence must be a list of words, got the str {sentence!r}")
        counts.update(_check_word(word) for word in sentence)
    return counts


def symbols(word: str) -> tuple[str, ...]:
    """A word's characters, the last one with the end-of-word marker: "low" -> l, o, w</w>."""
    _check_word(word)
    return (*word[:-1], word[-1] + END)


def merge_pair(pieces: Sequence[str], pair: Pair) -> list[str]:
    """``pieces`` with every occurrence of ``pair`` joined, left to right (a a a -> aa a)."""
    merged, i = [], 0
    while i < len(pieces):
        if i + 1 < len(pieces) and (pieces[i], pieces[i + 1]) == pair:
            merged.append(pieces[i] + pieces[i + 1])
            i += 2
        else:
            merged.append(pieces[i])
            i += 1
    return merged


def pair_counts(segmented: Mapping[tuple[str, ...], int]) -> collections.Counter:
    """How often each adjacent pair occurs in a corpus of segmented words and their counts.

    Every position counts: ``a a a`` holds the pair (a, a) twice.
    """
    counts = collections.Counter()
    for pieces, count in segmented.items():
        for pair in zip(pieces, pieces[1:]):
            counts[pair] += count
    return counts


def learn_merges(word_counts: Mapping[str, int], num_merges: int) -> list[Pair]:
    """Learn up to ``num_merges`` merges, each the most frequent adjacent pair at its step.

    The textbook loop recounts every pair after each merge; this one keeps the
    counts and, for each pair, the words that hold it, and re-counts only the
    words a merge changes. A heap of (minus count, pair) finds the most frequent
    pair; ties go to the pair first in code-point order (left, then right). An
    entry whose count has changed since it was pushed is stale and skipped.

    Args:
        word_counts: each word (a non-empty str) and how often it occurs (>= 1).
        num_merges: how many merges to learn (>= 0; 0 leaves words as characters).

    Returns:
        The merges in the order learned, as (left, right) pairs. Fewer than
        ``num_merges`` when every word has become a single symbol.
    """
    counts = _check_counts(word_counts)
    num_merges = check_int("num_merges", num_merges, minimum=0)
    words = [list(symbols(word)) for word in counts]
    freq = list(counts.values())
    pairs = pair_counts({tuple(w): f for w, f in zip(words, freq)})
    holders = collections.defaultdict(set)  # pair -> indices of the words that hold it
    for i, word in enumerate(words):
        for pair in zip(word, word[1:]):
            holders[pair].add(i)
    heap = [(-count, pair) for pair, count in pairs.items()]
    heapq.heapify(heap)
    merges = []
    while len(merges) < num_merges and heap:
        minus_count, best = heapq.heappop(heap)
        if pairs.get(best, 0) != -minus_count:
            continue  # stale: the pair's count changed after this entry was pushed
        merges.append(best)
        changed = set()
        for i in holders.pop(best):
            old, new = words[i], merge_pair(words[i], best)
            for pair in zip(old, old[1:]):
                pairs[pair] -= freq[i]
                changed.add(pair)
            for pair in zip(new, new[1:]):
                pairs[pair] += freq[i]
                holders[pair].add(i)
                changed.add(pair)
            words[i] = new
        for pair in changed:
            if pairs[pair] > 0:
                heapq.heappush(heap, (-pairs[pair], pair))
            else:
                del pairs[pair]
    return merges


def segment_word(word: str, ranks: Mapping[Pair, int]) -> list[str]:
    """Cut a word into pieces with learned merges (``ranks``: merge -> its place in the list).

    While some adjacent pair is a merge, the one learned first is applied to the
    whole word; characters without a merge stay single pieces.
    """
    pieces = list(symbols(word))
    while len(pieces) > 1:
        first = min(zip(pieces, pieces[1:]), key=lambda pair: ranks.get(pair, len(ranks)))
        if first not in ranks:
            break
        pieces = merge_pair(pieces, first)
    return pieces


def join_pieces(pieces: Iterable[str]) -> list[str]:
    """Words from pieces: concatenate until a piece ends in ``</w>``, which it drops.

    Pieces left over after the last ``</w>`` (a model's output can stop mid-word)
    form a last word of their own.
    """
    if isinstance(pieces, str):
        raise TypeError("pieces must be a list of str, got a str")
    words, current = [], ""
    for piece in pieces:
        if not isinstance(piece, str):
            raise TypeError(f"every piece must be a str, got {piece!r} ({type(piece).__name__})")
        if piece.endswith(END):
            words.append(current + piece[:-len(END)])
            current = ""
        else:
            current += piece
    return words + [current] if current else words


def learn_merges_fast(word_counts: Mapping[str, int], num_merges: int) -> list[Pair]:
    """:func:`learn_merges` with Hugging Face ``tokenizers`` (``BpeTrainer``, in Rust).

    The trainer merges the most frequent pair as :func:`learn_merges` does, with
    ``end_of_word_suffix="</w>"``, but breaks ties by its token ids (characters in
    code-point order, then symbols in the order it creates them): the merges agree
    at least up to the first tie. It stops at a vocabulary size, which counts a merged
    string once even when two merges make it; the list is cut to ``num_merges``.
    """
    counts = _check_counts(word_counts)
    num_merges = check_int("num_merges", num_merges, minimum=0)
    try:
        from tokenizers import Tokenizer, models, trainers
    except ImportError as error:  # an optional fast path: the rest of the module needs nothing
        raise ImportError("learn_merges_fast needs Hugging Face tokenizers: "
                          "pip install 'tokenizers>=0.20,<1'") from error
    characters = {c for word in counts for c in word}  # the trainer's alphabet, plus ...
    ends = {word[-1] for word in counts}  # ... each last character with the marker
    trainer = trainers.BpeTrainer(vocab_size=len(characters) + len(ends) + num_merges,
                                  min_frequency=0, show_progress=False, special_tokens=[],
                                  end_of_word_suffix=END)
    tokenizer = Tokenizer(models.BPE())  # no pre-tokenizer: each string is one word
    words = (word for word, count in counts.items() for _ in range(count))
    tokenizer.train_from_iterator(words, trainer, length=sum(counts.values()))
    merges = json.loads(tokenizer.to_str())["model"]["merges"]
    return [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in merges][:num_merges]


class BPE:
    """Learned merges, and the segmentation of words and sentences they define.

    ``BPE.learn(word_counts, num_merges)`` learns them; ``BPE(merges)`` takes a
    list, for example one read from a file.

    Args:
        merges: (left, right) pairs of str, in the order learned.
        alphabet: the starting symbols of training (see :attr:`vocab`); optional.
    """

    def __init__(self, merges: Iterable[Pair] = (), alphabet: Iterable[str] = ()):
        self.merges = [tuple(pair) for pair in merges]
        for pair in self.merges:
            if len(pair) != 2 or not all(isinstance(p, str) and p for p in pair):
                raise ValueError(f"every merge must be a pair of non-empty str, got {pair!r}")
        self.alphabet = sorted(set(alphabet))
        self.ranks = {pair: rank for rank, pair in enumerate(self.merges)}
        self._cache: dict[str, list[str]] = {}

    @classmethod
    def learn(cls, word_counts: Mapping[str, int], num_merges: int, fast: bool = False) -> BPE:
        """Merges learned from word counts (:func:`learn_merges`, or with ``fast``
        :func:`learn_merges_fast`), with the training symbols as the alphabet."""
        learn = learn_merges_fast if fast else learn_merges
        merges = learn(word_counts, num_merges)
        return cls(merges, {s for word in word_counts for s in symbols(word)})

    @property
    def vocab(self) -> list[str]:
        """Every piece the merges can make from training characters: the alphabet
        (sorted), then each merge's piece, in the order learned, each once."""
        return list(dict.fromkeys(self.alphabet + [left + right for left, right in self.merges]))

    def segment(self, word: str) -> list[str]:
        """The pieces of one word (:func:`segment_word`); the last ends in ``</w>``."""
        if word not in self._cache:
            self._cache[word] = segment_word(word, self.ranks)
        return list(self._cache[word])

    def encode(self, sentence: Sequence[str]) -> list[str]:
        """The pieces of a tokenized sentence (a list of words), one list for all."""
        if isinstance(sentence, str):
            raise TypeError("sentence must be a list of words, got a str; use attn.tokenize(text)")
        return [piece for word in sentence for piece in self.segment(word)]

    def decode(self, pieces: Sequence[str]) -> list[str]:
        """The words that pieces spell (:func:`join_pieces`): ``decode(encode(s)) == s``."""
        return join_pieces(pieces)

    def __repr__(self) -> str:
        return f"BPE({len(self.merges)} merges, {len(self.vocab)} pieces)"
