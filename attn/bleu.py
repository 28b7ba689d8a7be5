"""BLEU (Papineni et al., 2002): how many n-grams of an output a reference contains.

:func:`sentence_bleu` is written out from the definition so that it can be read
next to the equation; :func:`corpus_bleu` sums the n-gram counts of a whole test
set, which is how BLEU is reported; :func:`sacrebleu_corpus` computes the same
corpus score with ``sacrebleu`` (Post, 2018), the reference implementation. All
take already tokenized sentences (lists of tokens) and return scores in [0, 100].

For n = 1..N, the clipped precision ``p_n`` is the number of output n-grams that
also occur in the reference, each counted at most as often as it occurs there,
divided by the number of output n-grams. With output length c and reference
length r::

    BLEU = BP * exp(sum_n log(p_n) / N),   BP = min(1, exp(1 - r / c))
"""

from __future__ import annotations

import collections
import math
from collections.abc import Sequence


def _check_order(n) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the n-gram order must be a positive int, got {n!r}")


def _check_tokens(name: str, sentence) -> None:
    if isinstance(sentence, str):
        raise TypeError(f"{name} must be tokenized (lists of tokens), got a str; use str.split()")
    if not isinstance(sentence, Sequence) or not all(isinstance(token, str) for token in sentence):
        raise TypeError(f"{name} must be tokenized (lists of str tokens), got {type(sentence).__name__} "
                        f"{str(sentence)[:40]!r}")


def ngram_counts(tokens: Sequence[str], n: int) -> collections.Counter:
    """How often each n-gram (a tuple of n tokens) occurs in ``tokens``."""
    _check_order(n)
    return collections.Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def clipped_matches(output: Sequence[str], reference: Sequence[str], n: int) -> tuple[int, int]:
    """(matches, total): output n-grams found in the reference, clipped, and all output n-grams."""
    _check_tokens("output", output)
    _check_tokens("reference", reference)
    _check_order(n)
    return _clipped_matches(output, reference, n)


def _clipped_matches(output, reference, n):
    out, ref = ngram_counts(output, n), ngram_counts(reference, n)
    return sum(min(count, ref[gram]) for gram, count in out.items()), max(len(output) - n + 1, 0)


def brevity_penalty(output_len: int, reference_len: int) -> float:
    """1 for outputs at least as long as the reference, ``exp(1 - r / c)`` for shorter ones."""
    for name, length in (("output_len", output_len), ("reference_len", reference_len)):
        if isinstance(length, bool) or not isinstance(length, int) or length < 0:
            raise ValueError(f"{name} must be an int >= 0 (a number of tokens), got {length!r}")
    if output_len == 0:
        return 0.0
    return 1.0 if output_len >= reference_len else math.exp(1 - reference_len / output_len)


def _bleu(matches: list[int], totals: list[int], output_len: int, reference_len: int) -> float:
    if min(matches) == 0:  # some precision is 0: so is the geometric mean
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / len(matches)
    return 100 * brevity_penalty(output_len, reference_len) * math.exp(log_precision)


def _check(outputs, references, max_n):
    if isinstance(max_n, bool) or not isinstance(max_n, int) or max_n < 1:
        raise ValueError(f"max_n must be a positive int, got {max_n!r}")
    for name, sentences in (("outputs", outputs), ("references", references)):
        if isinstance(sentences, str) or not isinstance(sentences, Sequence):
            raise TypeError(f"{name} must be a list of tokenized sentences, got {type(sentences).__name__}")
    if len(outputs) != len(references):
        raise ValueError(f"need one reference per output: got {len(outputs)} outputs and {len(references)} references")
    for name, sentences in (("outputs", outputs), ("references", references)):
        for sentence in sentences:
            _check_tokens(name, sentence)


def sentence_bleu(output: Sequence[str], reference: Sequence[str], max_n: int = 4) -> float:
    """BLEU of one tokenized output against one tokenized reference (no smoothing).

    Returns 0 when some n-gram order has no match, including outputs shorter than
    ``max_n`` tokens; 100 for an exact copy of a reference at least ``max_n`` long.
    """
    _check([output], [reference], max_n)
    counts = [_clipped_matches(output, reference, n) for n in range(1, max_n + 1)]
    return _bleu([m for m, _ in counts], [t for _, t in counts], len(output), len(reference))


def corpus_bleu(outputs: Sequence[Sequence[str]], references: Sequence[Sequence[str]], max_n: int = 4) -> float:
    """BLEU of a test set: n-gram matches and lengths are summed over sentences first."""
    _check(outputs, references, max_n)
    if not outputs:
        raise ValueError("corpus_bleu needs at least one sentence")
    matches, totals = [0] * max_n, [0] * max_n
    for output, reference in zip(outputs, references):
        for n in range(1, max_n + 1):
            m, t = _clipped_matches(output, reference, n)
            matches[n - 1] += m
            totals[n - 1] += t
    return _bleu(matches, totals, sum(map(len, outputs)), sum(map(len, references)))


def sacrebleu_corpus(outputs: Sequence[Sequence[str]], references: Sequence[Sequence[str]]) -> float:
    """Corpus BLEU by ``sacrebleu`` on our tokens (tokenize="none": we already tokenized)."""
    import sacrebleu  # imported here: only this function needs it

    _check(outputs, references, 4)
    if not outputs:
        raise ValueError("sacrebleu_corpus needs at least one sentence")
    bleu = sacrebleu.metrics.BLEU(tokenize="none", force=True)
    return bleu.corpus_score([" ".join(o) for o in outputs], [[" ".join(r) for r in references]]).score
