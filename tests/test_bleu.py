"""Tests of attn.bleu: the BLEU written from its definition, checked against sacrebleu."""

import math

import pytest
import sacrebleu

from attn.bleu import (brevity_penalty, clipped_matches, corpus_bleu, ngram_counts, sacrebleu_corpus,
                       sentence_bleu)

REF = "the cat is on the mat .".split()


def sacre_sentence(output, reference):
    return sacrebleu.sentence_bleu(" ".join(output), [" ".join(reference)], smooth_method="none",
                                   tokenize="none").score


def test_ngrams_and_clipping():
    assert ngram_counts("a b a b".split(), 2) == {("a", "b"): 2, ("b", "a"): 1}
    # Papineni et al.'s example: seven "the" match the reference's two "the" only twice.
    assert clipped_matches(["the"] * 7, REF, 1) == (2, 7)
    assert clipped_matches(["the"], REF, 2) == (0, 0)


def test_brevity_penalty():
    assert brevity_penalty(7, 7) == 1.0 and brevity_penalty(9, 7) == 1.0
    assert math.isclose(brevity_penalty(5, 7), math.exp(1 - 7 / 5))
    assert brevity_penalty(0, 7) == 0.0


def test_sentence_bleu_by_hand():
    assert sentence_bleu(REF, REF) == 100.0
    assert sentence_bleu("a dog runs here now".split(), REF) == 0.0
    output = "the cat is on a mat .".split()  # p1..p4 = 6/7, 4/6, 2/5, 1/4, same length
    expected = 100 * (6 / 7 * 4 / 6 * 2 / 5 * 1 / 4) ** 0.25
    assert math.isclose(sentence_bleu(output, REF), expected)
    short = "the cat is on the".split()  # all n-grams match, but it is too short
    assert math.isclose(sentence_bleu(short, REF), 100 * math.exp(1 - 7 / 5))
    assert math.isclose(sentence_bleu(["the", "cat"], REF, max_n=2), 100 * math.exp(1 - 7 / 2))


CASES = [
    ("the cat is on the mat .", "the cat is on the mat ."),
    ("the cat is on a mat .", "the cat is on the mat ."),
    ("the cat sat on the mat .", "the cat is on the mat ."),
    ("the cat is on the", "the cat is on the mat ."),
    ("on the mat the cat is .", "the cat is on the mat ."),
    ("je ne regarde pas la voiture rouge .", "je ne regarde pas la voiture rouge ."),
    ("je ne regarde pas la voiture rouge et il porte le sac .", "je ne regarde pas la voiture bleue ."),
    ("il porte le sac bleu dans la rue .", "il porte le sac rouge dans le jardin ."),
]


@pytest.mark.parametrize("output, reference", CASES)
def test_sentence_bleu_agrees_with_sacrebleu(output, reference):
    output, reference = output.split(), reference.split()
    assert sentence_bleu(output, reference) == pytest.approx(sacre_sentence(output, reference), abs=1e-9)


def test_corpus_bleu_sums_counts_and_agrees_with_sacrebleu():
    outputs = [o.split() for o, _ in CASES]
    references = [r.split() for _, r in CASES]
    ours = corpus_bleu(outputs, references)
    assert ours == pytest.approx(sacrebleu_corpus(outputs, references), abs=1e-9)
    # Corpus BLEU is not the mean of sentence BLEUs (one sentence with BLEU 0 does not zero it).
    mean = sum(sentence_bleu(o, r) for o, r in zip(outputs, references)) / len(CASES)
    assert abs(ours - mean) > 1
    assert corpus_bleu(references, references) == 100.0


def test_bad_inputs():
    with pytest.raises(TypeError, match="outputs must be tokenized"):
        sentence_bleu("the cat", REF)
    with pytest.raises(TypeError, match="references must be tokenized"):
        corpus_bleu([REF], ["the cat"])
    with pytest.raises(TypeError, match="outputs must be a list of tokenized sentences, got str"):
        corpus_bleu("the cat", "the dog")  # would otherwise compare characters
    with pytest.raises(TypeError, match="references must be a list of tokenized sentences, got NoneType"):
        corpus_bleu([REF], None)
    with pytest.raises(TypeError, match="references must be tokenized .* got NoneType"):
        corpus_bleu([REF], [None])
    with pytest.raises(TypeError, match="outputs must be tokenized .* got int"):
        sentence_bleu(5, REF)
    with pytest.raises(TypeError, match="outputs must be tokenized .* got list"):
        sentence_bleu([1, 2, 3], REF)  # token ids, not tokens
    with pytest.raises(ValueError, match="max_n must be a positive int, got True"):
        sentence_bleu(REF, REF, max_n=True)
    with pytest.raises(ValueError, match="sacrebleu_corpus needs at least one sentence"):
        sacrebleu_corpus([], [])
    with pytest.raises(ValueError, match="need one reference per output: got 2 outputs and 1 references"):
        corpus_bleu([REF, REF], [REF])
    with pytest.raises(ValueError, match="max_n must be a positive int, got 0"):
        sentence_bleu(REF, REF, max_n=0)
    with pytest.raises(ValueError, match="at least one sentence"):
        corpus_bleu([], [])


def test_helpers_reject_bad_inputs():
    with pytest.raises(ValueError, match="the n-gram order must be a positive int, got 0"):
        clipped_matches(REF, REF, 0)
    with pytest.raises(ValueError, match="the n-gram order must be a positive int, got 0"):
        ngram_counts(REF, 0)
    with pytest.raises(TypeError, match="output must be tokenized"):
        clipped_matches("the cat", REF, 1)
    with pytest.raises(ValueError, match="output_len must be an int >= 0 .* got -1"):
        brevity_penalty(-1, 7)
    with pytest.raises(ValueError, match="reference_len must be an int >= 0 .* got 2.5"):
        brevity_penalty(3, 2.5)
