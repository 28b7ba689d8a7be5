"""Tests of attn.synthetic and attn.data: the grammar, the Tatoeba reader, Vocab, arrays, loaders."""

import re

import pytest
import torch

from attn.data import (BucketBatchSampler, Vocab, build_array, load_translation_data, preprocess,
                       read_tatoeba, split_pairs, tokenize)
from attn import synthetic
from attn.synthetic import ENDINGS, VERBS, Splits, SyntheticConfig, synthetic_splits

SMALL = SyntheticConfig(seed=1, num_train=1500, num_valid=100, num_test=200)


@pytest.fixture(scope="module")
def splits():
    return synthetic_splits(SMALL)


def test_corpus_is_deterministic_and_seed_dependent(splits):
    again = synthetic_splits(SMALL)
    assert again.train == splits.train and again.valid == splits.valid and again.test == splits.test
    other = synthetic_splits(SyntheticConfig(seed=2, num_train=1500, num_valid=100, num_test=200))
    assert other.test != splits.test


def test_splits_have_the_asked_sizes_and_are_disjoint(splits):
    assert (len(splits.train), len(splits.valid), len(splits.test)) == (1500, 100, 200)
    train = {tuple(s) for s, _ in splits.train}
    valid = {tuple(s) for s, _ in splits.valid}
    test = {tuple(s) for s, _ in splits.test}
    assert len(train) == 1500 and len(test) == 200  # no duplicates inside a split either
    assert not train & test and not train & valid and not valid & test


def test_lengths_respect_max_len_and_reach_long_sentences(splits):
    lengths = [len(s) for s, _ in splits.train]
    assert max(lengths) <= SMALL.max_len and max(lengths) >= SMALL.max_len - 4
    assert min(lengths) >= 4
    assert all(s[-1] == "." and t[-1] == "." for s, t in splits.train)


def test_french_grammar(splits):
    pairs = [(" ".join(s), " ".join(t)) for s, t in splits.train]
    # Adjectives follow the noun and agree with it in gender and number.
    red_cars = [(s, t) for s, t in pairs if "the red cars" in s]
    assert red_cars and all("les voitures rouges" in t for _, t in red_cars)
    white_box = [(s, t) for s, t in pairs if "a white box" in s]
    assert white_box and all("une boîte blanche" in t for _, t in white_box)
    # ne ... pas around the conjugated verb, and the verb agrees with its subject.
    verbs = "|".join(v[2][:-2] for v in VERBS)
    for english, french in pairs:
        assert french.count(" ne ") == english.count(" not ")
        tokens = french.split()
        assert all(tokens[i + 2] == "pas" for i, token in enumerate(tokens) if token == "ne")
        if english.startswith("we "):
            assert re.match(rf"nous (ne )?({verbs}){ENDINGS['1p']}\b", french), french
        if english.startswith("they "):
            assert re.match(rf"ils (ne )?({verbs}){ENDINGS['3p']}\b", french), french
        assert "près de le" not in french  # de + le contracts to du
    negated = [t for s, t in pairs if s.startswith("i do not ")]
    assert negated and all(re.match(rf"je ne ({verbs})e pas ", t) for t in negated)


def test_bad_synthetic_configs(monkeypatch):
    with pytest.raises(ValueError, match="num_test must be >= 0, got -1"):
        synthetic_splits(SyntheticConfig(num_test=-1))
    with pytest.raises(ValueError, match="need max_clauses >= 1"):
        synthetic_splits(SyntheticConfig(max_clauses=0))
    # A grammar that can only say one thing cannot fill three splits: an error, not an endless loop.
    monkeypatch.setattr(synthetic, "synthetic_pair", lambda rng, config: (["hi", "."], ["salut", "."]))
    with pytest.raises(ValueError, match="cannot produce 3 distinct sentences"):
        synthetic_splits(SyntheticConfig(num_train=1, num_valid=1, num_test=1))


def test_preprocess_and_tokenize():
    assert preprocess("Va\u202f!") == "va !"
    assert preprocess("Bonjour,\xa0Marie!") == "bonjour , marie !"
    assert preprocess("Hi .") == "hi ."  # an existing space is kept single
    assert tokenize("I won!") == ["i", "won", "!"]


def write(tmp_path, text):
    path = tmp_path / "fra.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_tatoeba_two_and_three_columns_and_blank_lines(tmp_path):
    path = write(tmp_path, "Go.\tVa !\n\nHi.\tSalut\u202f!\tCC-BY 2.0 (France) Attribution: tatoeba.org\n  \n"
                           "I'm OK.\tÇa va.\n")
    assert read_tatoeba(path) == [(["go", "."], ["va", "!"]), (["hi", "."], ["salut", "!"]),
                                  (["i'm", "ok", "."], ["ça", "va", "."])]
    assert read_tatoeba(path, max_pairs=2)[-1] == (["hi", "."], ["salut", "!"])


def test_tatoeba_malformed_lines_name_their_number(tmp_path):
    path = write(tmp_path, "Go.\tVa !\n\nno tab on this line\n")
    with pytest.raises(ValueError, match=r"line 3: expected 2 or 3 tab-separated columns .* got 1"):
        read_tatoeba(path)
    path = write(tmp_path, "a\tb\tc\td\n")
    with pytest.raises(ValueError, match="line 1: .* got 4"):
        read_tatoeba(path)
    path = write(tmp_path, "Go.\tVa !\n\t!\n")
    with pytest.raises(ValueError, match="line 2: empty English or French sentence"):
        read_tatoeba(path)


def test_vocab():
    vocab = Vocab([["b", "a", "b"], ["c", "b", "a"], ["rare"]], min_freq=2)
    assert vocab.idx_to_token == ["<pad>", "<bos>", "<eos>", "<unk>", "b", "a"]
    assert (vocab.pad, vocab.bos, vocab.eos, vocab.unk) == (0, 1, 2, 3)
    assert vocab["b"] == 4 and vocab["rare"] == vocab.unk and vocab[["a", "zzz"]] == [5, 3]
    assert vocab.to_tokens([4, 5, 2]) == ["b", "a", "<eos>"] and vocab.to_tokens(torch.tensor([5])) == ["a"]
    assert vocab.to_tokens(4) == "b" and len(vocab) == 6
    with pytest.raises(ValueError, match="min_freq must be >= 1, got 0"):
        Vocab([], min_freq=0)


def test_build_array_pads_and_truncates():
    vocab = Vocab([["a", "b", "c"]])
    array, valid = build_array([["a"], ["a", "b", "c"], ["a", "b", "c", "c"]], vocab, num_steps=4)
    a, b, c = vocab[["a", "b", "c"]]
    assert array.tolist() == [[a, 2, 0, 0], [a, b, c, 2], [a, b, c, c]]  # the last lost its <eos>
    assert valid.tolist() == [2, 4, 4]
    with pytest.raises(ValueError, match="num_steps must be >= 1, got 0"):
        build_array([["a"]], vocab, 0)


def test_bucket_sampler_covers_everything_once_and_repeats_for_a_seed():
    lengths = torch.randint(1, 30, (103,))
    batches = list(BucketBatchSampler(lengths, 10, seed=3))
    assert len(batches) == len(BucketBatchSampler(lengths, 10)) == 11
    assert sorted(i for b in batches for i in b) == list(range(103))
    sampler = BucketBatchSampler(lengths, 10, seed=3)
    assert batches == list(sampler) and list(sampler) != batches  # the next pass is the next epoch
    sampler.set_epoch(0)
    assert list(sampler) == batches
    assert batches != list(BucketBatchSampler(lengths, 10, seed=4))
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        BucketBatchSampler(lengths, 0)


def test_loaders_give_trimmed_consistent_batches(splits):
    data = load_translation_data(splits, batch_size=32, num_steps=20)
    assert data.src_vocab["red"] != data.src_vocab.unk and data.tgt_vocab["rouge"] != data.tgt_vocab.unk
    count = 0
    for src, src_len, tgt, tgt_len in data.train_iter:
        assert src.shape == (len(src_len), int(src_len.max())) and tgt.shape == (len(tgt_len), int(tgt_len.max()))
        assert int(src_len.max()) <= 20 and (src[:, 0] != data.src_vocab.pad).all()
        rows = torch.arange(src.shape[1]) >= src_len[:, None]
        assert (src[rows] == data.src_vocab.pad).all()
        count += len(src_len)
    assert count == len(splits.train)
    first_test = next(iter(data.test_iter))[0][0]
    expected = data.src_vocab[splits.test[0][0]][:20]
    assert first_test[:len(expected)].tolist() == expected
    with pytest.raises(ValueError, match="training split is empty"):
        load_translation_data(Splits([], [], []))


def test_split_pairs_drops_repeated_sources_and_is_deterministic():
    pairs = [([w], [w.upper()]) for w in "abcdefghij"] + [(["a"], ["other"])]
    splits = split_pairs(pairs, num_valid=2, num_test=3, seed=0)
    assert (len(splits.train), len(splits.valid), len(splits.test)) == (5, 2, 3)
    sources = [s[0] for part in (splits.train, splits.valid, splits.test) for s, _ in part]
    assert sorted(sources) == list("abcdefghij")  # the repeated "a" was dropped, nothing lost
    assert (["a"], ["A"]) in splits.train + splits.valid + splits.test  # the first translation is kept
    assert split_pairs(pairs, 2, 3, seed=0) == splits and split_pairs(pairs, 2, 3, seed=1) != splits
    with pytest.raises(ValueError, match="10 distinct pairs leave nothing to train on"):
        split_pairs(pairs, 5, 5)
