"""Tests of attn.subword: byte-pair encoding learned from word counts, segmentation, joining.

The merges are checked three ways: written out by hand on the corpus of Sennrich
et al. (2016), against the textbook loop that recounts every pair after each merge
(hypothesis-generated corpora), and against the Hugging Face ``tokenizers`` trainer,
which follows the same rule but breaks ties by its own token ids.
"""

import collections
import pathlib
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import attn
from attn.subword import (BPE, END, count_words, join_pieces, learn_merges, learn_merges_fast,
                          merge_pair, pair_counts, segment_word, symbols)

HAND = {"low": 5, "lower": 2, "newest": 6, "widest": 3}  # Sennrich et al. (2016), section 3.2


@pytest.fixture(autouse=True)
def one_tokenizers_thread(monkeypatch):
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")  # the machine's cores are shared


@pytest.fixture(scope="module")
def synthetic():
    """Word counts of the synthetic corpus's training split, English and French."""
    splits = attn.synthetic_splits()
    return splits, [count_words(pair[side] for pair in splits.train) for side in (0, 1)]


def textbook_merges(word_counts, num_merges):
    """The loop as the paper prints it: recount every pair, merge the most frequent.

    Ties go to the pair first in code-point order, the rule learn_merges documents.
    """
    corpus = {symbols(word): count for word, count in word_counts.items()}
    merges = []
    for _ in range(num_merges):
        counts = pair_counts(corpus)
        if not counts:
            break
        best = min(counts, key=lambda pair: (-counts[pair], pair))
        merges.append(best)
        corpus = {tuple(merge_pair(pieces, best)): c for pieces, c in corpus.items()}
    return merges


def replay(word_counts, merges):
    """For each merge in turn: (its count, the highest count, how many pairs have it)."""
    corpus = {symbols(word): count for word, count in word_counts.items()}
    steps = []
    for merge in merges:
        counts = pair_counts(corpus)
        top = max(counts.values())
        steps.append((counts[merge], top, sum(c == top for c in counts.values())))
        corpus = {tuple(merge_pair(pieces, merge)): c for pieces, c in corpus.items()}
    return steps


# --- The algorithm, by hand ----------------------------------------------------------------------

def test_words_start_as_characters_with_the_marker_on_the_last():
    assert symbols("low") == ("l", "o", f"w{END}") and symbols("a") == (f"a{END}",)


def test_merge_pair_joins_every_occurrence_left_to_right():
    assert merge_pair(["a", "a", "a"], ("a", "a")) == ["aa", "a"]
    assert merge_pair(["a", "b", "x", "a", "b"], ("a", "b")) == ["ab", "x", "ab"]
    assert pair_counts({("a", "a", "a"): 2, ("a", "b"): 1}) == {("a", "a"): 4, ("a", "b"): 1}


def test_the_first_merges_of_the_papers_corpus_as_worked_out_by_hand():
    # l o w</w> x5, l o w e r</w> x2, n e w e s t</w> x6, w i d e s t</w> x3.
    # Step 1: (e, s) and (s, t</w>) both occur 9 times; "e" < "s" decides. Step 2: (es, t</w>) 9.
    # Step 3: (l, o) 7. Step 4: (n, e), (e, w) and (w, est</w>) 6 each; "e" first. Step 5:
    # (n, ew) and (ew, est</w>) 6 each; "ew" < "n". Step 6: (n, ewest</w>) 6. Step 7: (lo, w</w>) 5.
    assert learn_merges(HAND, 7) == [("e", "s"), ("es", "t</w>"), ("l", "o"), ("e", "w"),
                                     ("ew", "est</w>"), ("n", "ewest</w>"), ("lo", "w</w>")]
    bpe = BPE.learn(HAND, 7)
    assert bpe.segment("lowest") == ["lo", "w", "est</w>"]  # a word never seen, in known pieces
    assert bpe.segment("newest") == ["newest</w>"] and bpe.segment("low") == ["low</w>"]


def test_merges_stop_when_every_word_is_one_symbol():
    merges = learn_merges(HAND, 1000)
    assert len(merges) == 13 < 1000
    bpe = BPE(merges)
    assert all(bpe.segment(word) == [word + END] for word in HAND)


def test_zero_merges_leave_words_as_characters():
    bpe = BPE.learn(HAND, 0)
    assert bpe.merges == [] and bpe.segment("lower") == ["l", "o", "w", "e", "r</w>"]
    assert bpe.vocab == sorted({s for word in HAND for s in symbols(word)})


def test_vocab_is_the_alphabet_then_each_merged_piece_once():
    bpe = BPE.learn(HAND, 7)
    alphabet = ["d", "e", "i", "l", "n", "o", "r</w>", "s", "t</w>", "w", "w</w>"]
    assert bpe.vocab == alphabet + ["es", "est</w>", "lo", "ew", "ewest</w>", "newest</w>",
                                    "low</w>"]
    twice = BPE([("a", "bc"), ("ab", "c")], alphabet=["a", "b", "c"])  # two merges, one piece
    assert twice.vocab == ["a", "b", "c", "abc"]
    assert repr(bpe) == "BPE(7 merges, 18 pieces)"


def test_segmentation_applies_the_merge_learned_first_not_the_first_in_the_word():
    ranks = {("b", "c</w>"): 0, ("a", "b"): 1}  # a b c</w>: (b, c</w>) wins although later
    assert segment_word("abc", ranks) == ["a", "bc</w>"]
    assert segment_word("abc", {("a", "b"): 0, ("b", "c</w>"): 1}) == ["ab", "c</w>"]


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(alphabet="abcde", min_size=1, max_size=7),
                       st.integers(1, 9), min_size=1, max_size=25),
       st.integers(0, 60))
def test_learn_merges_equals_the_textbook_loop(word_counts, num_merges):
    assert learn_merges(word_counts, num_merges) == textbook_merges(word_counts, num_merges)


# --- Joining pieces back into words --------------------------------------------------------------

def test_segment_then_join_is_the_identity_on_every_word_of_the_synthetic_corpus(synthetic):
    splits, counts = synthetic
    for side, word_counts in enumerate(counts):
        bpe = BPE.learn(word_counts, 100)
        assert len(bpe.merges) == 100
        words = {w for part in (splits.train, splits.valid, splits.test)
                 for p in part for w in p[side]}
        assert all(join_pieces(bpe.segment(word)) == [word] for word in words)
        for src_tgt in splits.test:
            sentence = src_tgt[side]
            assert bpe.decode(bpe.encode(sentence)) == sentence
        pieces = [len(bpe.encode(p[side])) for p in splits.train]
        assert sum(pieces) < sum(len("".join(p[side])) for p in splits.train)  # merges were used


WORDS = st.lists(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)),
                         min_size=1, max_size=12).filter(lambda w: END not in w), max_size=8)


@settings(max_examples=100, deadline=None)
@given(WORDS)
def test_decode_encode_is_the_identity_on_any_words(words):
    bpe = BPE.learn(HAND | {"</": 1, "w>": 1, "<w": 1, "/w": 1}, 20)  # the marker's characters
    assert bpe.decode(bpe.encode(words)) == words


def test_a_character_never_seen_in_training_stays_a_piece_that_the_vocab_makes_unk():
    bpe = BPE.learn(HAND, 7)
    assert bpe.segment("lo\u00e9west") == ["lo", "\u00e9", "w", "est</w>"]  # é: never seen
    assert bpe.decode(bpe.encode(["lo\u00e9west", "low"])) == ["lo\u00e9west", "low"]
    assert bpe.segment("lo") == ["l", "o</w>"]  # o never ends a training word: o</w> unseen
    vocab = attn.Vocab([bpe.encode(list(HAND))])
    assert vocab[bpe.segment("lo\u00e9west")] == [vocab["lo"], vocab.unk, vocab["w"],
                                                   vocab["est</w>"]]
    assert "\u00e9" not in bpe.vocab and vocab["o</w>"] == vocab.unk


def test_pieces_after_the_last_marker_form_a_last_word():
    assert join_pieces(["lo", "w</w>", "ne", "w"]) == ["low", "new"]
    assert join_pieces([]) == [] and BPE().decode(["a</w>"]) == ["a"]


def test_merges_given_as_a_list_segment_as_the_learned_ones():
    learned = BPE.learn(HAND, 7)
    given = BPE([list(pair) for pair in learned.merges])
    assert given.merges == learned.merges and given.segment("lowest") == learned.segment("lowest")
    assert given.vocab == [left + right for left, right in learned.merges]  # no alphabet given


def test_segment_returns_a_copy_of_its_cached_pieces():
    bpe = BPE.learn(HAND, 7)
    bpe.segment("lowest").append("x")
    assert bpe.segment("lowest") == ["lo", "w", "est</w>"]


def test_count_words_counts_tokens_of_sentences():
    assert count_words([["a", "b"], ["a"]]) == collections.Counter({"a": 2, "b": 1})
    assert count_words(iter([["a"]])) == {"a": 1}


# --- Against Hugging Face tokenizers ------------------------------------------------------------

try:
    import tokenizers
except ImportError:  # the pure-Python tests above run without it
    tokenizers = None
needs_tokenizers = pytest.mark.skipif(tokenizers is None, reason="tokenizers is not installed")


def hf_segmenter(bpe):
    """A Hugging Face BPE model with the same pieces and merges (no pre-tokenizer: one word)."""
    model = tokenizers.models.BPE(vocab={piece: i for i, piece in enumerate(bpe.vocab)},
                                  merges=bpe.merges, end_of_word_suffix=END)
    return tokenizers.Tokenizer(model)


def first_tie(word_counts, merges):
    return next(i for i, (_, _, tied) in enumerate(replay(word_counts, merges)) if tied > 1)


@needs_tokenizers
def test_hugging_face_learns_the_papers_merges_up_to_the_first_tie_it_breaks_otherwise():
    ours, theirs = learn_merges(HAND, 7), learn_merges_fast(HAND, 7)
    assert ours[:4] == theirs[:4]  # the ties at steps 1 and 4 fall the same way
    assert ours[4] == ("ew", "est</w>") and theirs[4] == ("n", "ew")  # ids: n (a character) < ew


@needs_tokenizers
@pytest.mark.parametrize("side", [0, 1], ids=["english", "french"])
def test_hugging_face_merges_agree_up_to_the_first_tie_and_follow_the_same_rule(synthetic, side):
    _, counts = synthetic
    word_counts = counts[side]
    ours, theirs = learn_merges(word_counts, 300), learn_merges_fast(word_counts, 300)
    assert len(ours) == len(theirs) == 300
    tie = first_tie(word_counts, ours)
    assert tie >= 5 and ours[:tie] == theirs[:tie]  # identical until two pairs share the top count
    # after it, every merge of theirs is still a most frequent pair of the corpus they made
    assert all(count == top for count, top, _ in replay(word_counts, theirs))
    assert ours != theirs  # the tie-break differs, as documented


@needs_tokenizers
def test_hugging_face_segments_every_word_as_segment_does(synthetic):
    splits, counts = synthetic
    for side, word_counts in enumerate(counts):
        for fast in (False, True):
            bpe = BPE.learn(word_counts, 200, fast=fast)
            hf = hf_segmenter(bpe)
            words = {w for part in (splits.train, splits.valid, splits.test)
                     for p in part for w in p[side]}
            known = [w for w in words if set(symbols(w)) <= set(bpe.alphabet)]
            assert len(known) == len(words)  # the grammar's words all end in seen characters
            assert all(hf.encode(w).tokens == bpe.segment(w) for w in known)


@needs_tokenizers
def test_the_fast_path_cuts_its_list_to_num_merges():
    assert learn_merges_fast(HAND, 0) == [] and len(learn_merges_fast(HAND, 3)) == 3
    assert len(learn_merges_fast(HAND, 1000)) == len(learn_merges(HAND, 1000)) == 13


def test_the_fast_path_says_what_to_install_without_tokenizers(monkeypatch):
    monkeypatch.setitem(sys.modules, "tokenizers", None)  # import tokenizers now fails
    with pytest.raises(ImportError, match="pip install 'tokenizers"):
        learn_merges_fast(HAND, 3)
    assert learn_merges(HAND, 3)  # the pure-Python path needs nothing


TATOEBA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "fra-eng" / "fra.txt"


@pytest.mark.skipif(not TATOEBA.exists(), reason="the Tatoeba fra.txt is not here")
def test_segment_then_join_is_the_identity_on_every_word_of_the_real_file():
    pairs = attn.read_tatoeba(TATOEBA, max_pairs=40_000, seed=0)
    train, held_out = pairs[:36_000], pairs[36_000:]
    for side in (0, 1):
        bpe = BPE.learn(count_words(p[side] for p in train), 1000)
        words = {w for p in pairs for w in p[side]}
        assert all(join_pieces(bpe.segment(word)) == [word] for word in words)
        unseen = {w for p in held_out for w in p[side]} - {w for p in train for w in p[side]}
        spelt = [w for w in unseen if set(bpe.segment(w)) <= set(bpe.vocab)]
        # measured: 1249 of 1,250 English and 2021 of 2,024 French words ("c++" has "+</w>")
        assert len(unseen) > 1000 and len(spelt) >= 0.99 * len(unseen)
