"""Tests of attn.data: the splits it re-exports, the Tatoeba reader, Vocab, arrays, loaders.

The French grammar of attn.synthetic is checked in test_synthetic.py.
"""

import pytest
import torch

from attn.data import (BucketBatchSampler, Vocab, build_array, filter_pairs, load_translation_data, preprocess,
                       read_tatoeba, split_pairs, tokenize)
from attn import synthetic
from attn.synthetic import Splits, SyntheticConfig, synthetic_splits

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
    # every punctuation mark is a token of its own, wherever it stands
    assert tokenize("It's 3:30.") == ["it's", "3", ":", "30", "."]
    assert tokenize("Attends;viens:") == ["attends", ";", "viens", ":"]
    assert tokenize("Wait...") == ["wait", ".", ".", "."]


def write(tmp_path, text):
    path = tmp_path / "fra.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_tatoeba_two_and_three_columns_and_blank_lines(tmp_path):
    path = write(tmp_path, "Go.\tVa !\n\nHi.\tSalut\u202f!\tCC-BY 2.0 (France) Attribution: tatoeba.org\n  \n"
                           "I'm OK.\tÇa va.\n")
    assert read_tatoeba(path) == [(["go", "."], ["va", "!"]), (["hi", "."], ["salut", "!"]),
                                  (["i'm", "ok", "."], ["ça", "va", "."])]
    sample = read_tatoeba(path, max_pairs=2)
    assert len(sample) == 2 and all(pair in read_tatoeba(path) for pair in sample)


def test_tatoeba_max_pairs_samples_the_whole_file_with_the_seed(tmp_path):
    # The real file is sorted by length: the first lines alone would be the shortest sentences.
    lines = "".join(f"{' '.join(['w'] * n)} {n}.\t{n}.\n" for n in range(1, 201))
    path = write(tmp_path, lines)
    everything = read_tatoeba(path)
    sample = read_tatoeba(path, max_pairs=20, seed=0)
    assert len(sample) == 20 and len({tuple(s) for s, _ in sample}) == 20
    assert sample == sorted(sample, key=everything.index)  # kept in file order
    assert max(len(s) for s, _ in sample) > 50  # not only the first (shortest) lines
    assert read_tatoeba(path, max_pairs=20, seed=0) == sample
    assert read_tatoeba(path, max_pairs=20, seed=1) != sample
    assert read_tatoeba(path, max_pairs=500) == everything  # more than there is: all of it
    with pytest.raises(TypeError, match="seed must be an int"):
        read_tatoeba(path, max_pairs=3, seed="0")


@pytest.mark.parametrize("max_pairs", [0, -1, 1.5, True])
def test_tatoeba_max_pairs_must_be_positive(tmp_path, max_pairs):
    path = write(tmp_path, "Go.\tVa !\nHi.\tSalut !\n")
    with pytest.raises(ValueError, match=rf"max_pairs must be an int >= 1 or None, got {max_pairs!r}"):
        read_tatoeba(path, max_pairs=max_pairs)


def test_tatoeba_byte_order_mark_is_not_part_of_the_first_token(tmp_path):
    path = tmp_path / "fra.txt"
    path.write_text("Go.\tVa !\nHi.\tSalut !\n", encoding="utf-8-sig")  # starts with EF BB BF
    assert path.read_bytes()[:3] == b"\xef\xbb\xbf"
    assert read_tatoeba(path) == [(["go", "."], ["va", "!"]), (["hi", "."], ["salut", "!"])]


def test_tatoeba_bytes_that_are_not_utf8_name_file_and_line(tmp_path):
    path = tmp_path / "fra.txt"
    path.write_bytes("Go.\tVa !\nCoffee.\tCafé.\n".encode("latin-1"))  # é is one byte, E9, in Latin-1
    with pytest.raises(ValueError, match=r"fra.txt, line 2: not valid UTF-8 \(invalid continuation byte at byte 12 "):
        read_tatoeba(path)


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
    assert Vocab(s for s in [["a"], ["b", "a"]]).idx_to_token[4:] == ["a", "b"]  # any iterable of sentences
    with pytest.raises(ValueError, match="min_freq must be an int >= 1, got 0"):
        Vocab([], min_freq=0)
    with pytest.raises(ValueError, match="min_freq must be an int >= 1, got 1.5"):
        Vocab([], min_freq=1.5)
    with pytest.raises(ValueError, match=r"token index must lie in \[0, 5\], got -1"):
        vocab.to_tokens([4, -1])  # a negative index would silently be the last token
    with pytest.raises(ValueError, match=r"token index must lie in \[0, 5\], got 6"):
        vocab.to_tokens(6)


def test_vocab_max_size_keeps_the_most_frequent_tokens():
    sentences = [["a"] * 5 + ["b"] * 4 + ["c"] * 3 + ["d"] * 2 + ["e"]]
    vocab = Vocab(sentences, max_size=7)
    assert len(vocab) == 7 and vocab.idx_to_token[4:] == ["a", "b", "c"]
    assert vocab["d"] == vocab["e"] == vocab.unk
    assert Vocab(sentences, min_freq=4, max_size=10).idx_to_token[4:] == ["a", "b"]  # both limits
    assert len(Vocab(sentences, max_size=4)) == 4  # only the reserved tokens
    for bad in (3, 0, 5.0, True):
        with pytest.raises(ValueError, match=r"max_size must be None or an int >= 4"):
            Vocab(sentences, max_size=bad)


def test_sentences_must_be_lists_of_tokens():
    # A string where a list of tokens belongs used to give a vocabulary of characters.
    with pytest.raises(TypeError, match=r"sentences must be lists of tokens, got a str at index 0 \('the cat sat .'\); "
                                        r"use str.split\(\) or attn.tokenize"):
        Vocab(["the cat sat ."])
    with pytest.raises(TypeError, match="sentences must be a list of sentences, each a list of tokens, got a str"):
        Vocab("the cat sat .")
    vocab = Vocab([["a", "b"]])
    with pytest.raises(TypeError, match="got a str at index 1"):
        build_array([["a"], "a b"], vocab, num_steps=4)
    with pytest.raises(TypeError, match="sentences must hold str tokens, got a int in the sentence at index 0"):
        build_array([[4, 5]], vocab, num_steps=4)


def test_build_array_pads_and_truncates():
    vocab = Vocab([["a", "b", "c"]])
    array, valid = build_array([["a"], ["a", "b", "c"], ["a", "b", "c", "c"]], vocab, num_steps=4)
    a, b, c = vocab[["a", "b", "c"]]
    assert array.tolist() == [[a, 2, 0, 0], [a, b, c, 2], [a, b, c, c]]  # the last lost its <eos>
    assert valid.tolist() == [2, 4, 4]
    with pytest.raises(ValueError, match="num_steps must be an int >= 1, got 0"):
        build_array([["a"]], vocab, 0)
    empty, empty_valid = build_array([], vocab, num_steps=3)
    assert empty.shape == (0, 3) and empty_valid.shape == (0,)


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
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, got 0"):
        BucketBatchSampler(lengths, 0)
    with pytest.raises(ValueError, match=r"lengths must be a tensor of shape \(number of examples,\), got \(103, 1\)"):
        BucketBatchSampler(lengths[:, None], 10)


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


def test_training_batches_are_bucketed_by_target_length():
    # Every source has 3 tokens and the targets 1 to 12: bucketing by the source alone would mix them.
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 13, (640,), generator=g).tolist()
    pairs = [(["a", "b", "c"], ["x"] * n) for n in lengths]
    data = load_translation_data(Splits(pairs, pairs[:2], pairs[:2]), batch_size=32, num_steps=16)
    spreads = [int(tgt_len.max() - tgt_len.min()) for _, _, _, tgt_len in data.train_iter]
    assert len(spreads) == 20 and max(spreads) <= 1  # 640 pairs in one pool, sorted: at most two lengths


@pytest.mark.parametrize("empty", ["valid", "test"])
def test_loaders_need_pairs_in_every_split(splits, empty):
    # An empty split used to give a loader without batches, whose loss divides by zero.
    parts = {"train": splits.train[:20], "valid": splits.valid[:5], "test": splits.test[:5], empty: []}
    name = "validation" if empty == "valid" else "test"
    with pytest.raises(ValueError, match=f"the {name} split is empty"):
        load_translation_data(Splits(**parts))


def test_loaders_reject_untokenized_pairs(splits):
    parts = Splits(splits.train[:20], [("go .", "va !")], splits.test[:5])
    with pytest.raises(TypeError, match="sentences must be lists of tokens, got a str at index 0"):
        load_translation_data(parts)
    with pytest.raises(TypeError, match=r"pairs must be \(source_tokens, target_tokens\) pairs"):
        load_translation_data(Splits(splits.train[:20], [(["go"], ["va"], "extra")], splits.test[:5]))


def test_split_pairs_keeps_every_pair_and_no_source_in_two_splits():
    pairs = [([w], [w.upper()]) for w in "abcdefghij"] + [(["a"], ["other"]), (["b"], ["again"])]
    splits = split_pairs(pairs, num_valid=2, num_test=3, seed=0)
    parts = (splits.train, splits.valid, splits.test)
    assert sorted(p for part in parts for p in part) == sorted(pairs) and splits.dropped == 0
    assert len(splits.test) >= 3 and len(splits.valid) >= 2
    assert len(splits.test) + len(splits.valid) <= 3 + 2 + 2  # whole groups: a few more at most
    sources = [{s[0] for s, _ in part} for part in parts]
    assert not (sources[0] & sources[1] or sources[0] & sources[2] or sources[1] & sources[2])
    assert split_pairs(pairs, 2, 3, seed=0) == splits and split_pairs(pairs, 2, 3, seed=1) != splits


def test_split_pairs_one_per_source_drops_and_counts_the_other_translations():
    pairs = [([w], [w.upper()]) for w in "abcdefghij"] + [(["a"], ["other"])]
    splits = split_pairs(pairs, num_valid=2, num_test=3, seed=0, one_per_source=True)
    assert (len(splits.train), len(splits.valid), len(splits.test)) == (5, 2, 3)
    assert splits.dropped == 1
    kept = splits.train + splits.valid + splits.test
    assert sorted(s[0] for s, _ in kept) == list("abcdefghij")  # nothing else lost
    assert (["a"], ["A"]) in kept  # the first translation is kept
    with pytest.raises(ValueError, match="10 pairs of 10 distinct sources leave nothing to train on"):
        split_pairs(pairs, 5, 5, one_per_source=True)
    with pytest.raises(TypeError, match="one_per_source must be True or False"):
        split_pairs(pairs, 1, 1, one_per_source=1)


def test_filter_pairs_by_length():
    pairs = [(["a"] * n, ["b"] * m) for n in range(1, 5) for m in range(1, 5)]
    kept = filter_pairs(pairs, max_src_len=2, max_tgt_len=3)
    assert kept == [p for p in pairs if len(p[0]) <= 2 and len(p[1]) <= 3] and len(kept) == 6
    assert filter_pairs(pairs) == pairs
    assert filter_pairs(pairs, max_tgt_len=1) == [p for p in pairs if len(p[1]) == 1]
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="max_src_len must be an int >= 1 or None"):
            filter_pairs(pairs, max_src_len=bad)
    with pytest.raises(TypeError, match="pairs must be"):
        filter_pairs("ab", 1)


def test_split_pairs_errors():
    pairs = [([w], [w.upper()]) for w in "abcdefghij"]
    with pytest.raises(ValueError, match="num_valid must be an int >= 0, got -1"):
        split_pairs(pairs, num_valid=-1, num_test=2)
    with pytest.raises(ValueError, match="num_test must be an int >= 0, got -2"):
        split_pairs(pairs, num_valid=1, num_test=-2)
    with pytest.raises(ValueError, match="num_valid must be an int >= 0, got 1.5"):
        split_pairs(pairs, num_valid=1.5, num_test=2)
    with pytest.raises(ValueError, match="0 pairs of 0 distinct sources leave nothing to train on"):
        split_pairs([], 0, 0)
    # Strings used to be split into characters: "go ." and "go !" would count as the same source.
    with pytest.raises(TypeError, match="source sentences must be lists of tokens, got a str at index 0"):
        split_pairs([("go .", "va !")] * 5, 1, 1)
    with pytest.raises(TypeError, match=r"pairs must be \(source_tokens, target_tokens\) pairs"):
        split_pairs([(["a"], ["A"], ["extra"])], 0, 0)
