"""Tests of attn.lm: the corpus as "english = french" lines, shifted targets, the training
loop for a language model, and translation by continuation."""

import pytest
import torch

import attn
from attn.data import Vocab
from attn.gpt import GPT, GPTConfig
from attn.lm import (IGNORE_INDEX, SEPARATOR, evaluate_lm, lm_arrays, lm_loader, lm_loss,
                     prompt_tokens, train_lm, translate_lm, translation_lines)

PAIRS = [(["i", "watch", "a", "dog", "."], ["je", "regarde", "un", "chien", "."]),
         (["she", "pulls", "my", "bag", "."], ["elle", "tire", "mon", "sac", "."])]


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_lines_of_words_and_of_characters():
    words = translation_lines(PAIRS)
    assert words[0] == ["i", "watch", "a", "dog", ".", SEPARATOR, "je", "regarde", "un",
                        "chien", "."]
    chars = translation_lines(PAIRS, level="char")
    assert "".join(chars[1]) == "she pulls my bag . = elle tire mon sac ."
    assert prompt_tokens(PAIRS[0][0], "char") == list("i watch a dog . = ")
    assert chars[0][:len(prompt_tokens(PAIRS[0][0], "char"))] == prompt_tokens(PAIRS[0][0],
                                                                               "char")


def test_the_separator_never_occurs_in_the_synthetic_corpus():
    splits = attn.synthetic_splits(attn.SyntheticConfig(num_train=2000, num_valid=0,
                                                        num_test=0))
    assert not any(SEPARATOR in e or SEPARATOR in f for e, f in splits.train)


@pytest.mark.parametrize("target_only", [False, True])
def test_targets_are_the_inputs_shifted_by_one(target_only):
    lines = translation_lines(PAIRS)
    vocab = Vocab(lines)
    inputs, targets = lm_arrays(lines, vocab, 14, target_only)
    assert inputs.shape == targets.shape == (2, 14)
    row = [vocab.bos] + vocab[lines[0]] + [vocab.eos]  # 13 ids
    assert inputs[0, :12].tolist() == row[:-1] and inputs[0, 12:].tolist() == [vocab.pad] * 2
    scored = targets[0] != IGNORE_INDEX
    first = 6 if target_only else 0  # with target_only, the loss starts after "="
    assert scored.nonzero()[:, 0].tolist() == list(range(first, 12))
    assert targets[0, first:12].tolist() == row[first + 1:]


def test_a_line_that_does_not_fit_the_context_is_refused():
    lines = translation_lines(PAIRS)
    with pytest.raises(ValueError, match="it needs context_len >= 12, got 11"):
        lm_arrays(lines, Vocab(lines), 11)


def test_loss_counts_only_scored_targets():
    logits = torch.randn(2, 3, 5)
    targets = torch.tensor([[1, IGNORE_INDEX, 2], [IGNORE_INDEX, IGNORE_INDEX, 4]])
    loss, n = lm_loss(logits, targets)
    expected = -torch.stack([logits[0, 0].log_softmax(-1)[1], logits[0, 2].log_softmax(-1)[2],
                             logits[1, 2].log_softmax(-1)[4]]).mean()
    assert n == 3
    torch.testing.assert_close(loss, expected)


def test_training_lowers_the_loss_and_learns_to_translate_by_continuation():
    """Four pairs memorised: the loss on the French falls and greedy continuation gives it."""
    splits = attn.synthetic_splits(attn.SyntheticConfig(num_train=4, num_valid=0, num_test=0,
                                                        max_clauses=1, p_place=0.0))
    lines = translation_lines(splits.train)
    vocab = Vocab(lines)
    context = max(len(line) for line in lines) + 2
    inputs, targets = lm_arrays(lines, vocab, context, target_only=True)
    loader = lm_loader(inputs, targets, batch_size=4)
    attn.set_seed(0)
    model = GPT(GPTConfig(len(vocab), context, num_layers=1, num_hiddens=32, num_heads=2))
    before = evaluate_lm(model, loader)
    history = train_lm(model, loader, attn.TrainConfig(lr=1e-2, num_epochs=150,
                                                       progress=False))
    assert history.stopped_by == "epochs" and len(history.losses) == 150
    assert evaluate_lm(model, loader) < 0.05 < 2 < before
    english = [e for e, _ in splits.train]
    assert translate_lm(model, vocab, english) == [f for _, f in splits.train]


def test_translation_by_continuation_splits_characters_into_words():
    lines = translation_lines(PAIRS, level="char")
    vocab = Vocab(lines)
    model = GPT(GPTConfig(len(vocab), 60, num_layers=1, num_hiddens=8, num_heads=2))
    out = translate_lm(model, vocab, [PAIRS[0][0]], level="char", max_len=5)
    assert len(out) == 1 and len("".join(out[0])) <= 5  # untrained: some characters


def test_bucketed_batches_hold_rows_of_similar_length_and_cover_every_row():
    splits = attn.synthetic_splits(attn.SyntheticConfig(num_train=640, num_valid=0, num_test=0))
    lines = translation_lines(splits.train)
    inputs, targets = lm_arrays(lines, Vocab(lines), 100)
    lengths = torch.tensor([len(line) + 1 for line in lines])
    seen, spread = [], []
    for x, y in lm_loader(inputs, targets, batch_size=64, bucket=True):
        rows = [int((inputs == row).all(1).nonzero()[0]) for row in x]
        seen += rows
        spread.append(int(lengths[rows].max() - lengths[rows].min()))
    assert sorted(seen) == list(range(640))
    assert sum(spread) / len(spread) < 6 < int(lengths.max() - lengths.min())


def test_label_smoothing_follows_cross_entropy():
    logits = torch.randn(2, 3, 5)
    targets = torch.tensor([[1, IGNORE_INDEX, 2], [0, 3, 4]])
    loss, _ = lm_loss(logits, targets, label_smoothing=0.1)
    scored = targets != IGNORE_INDEX
    expected = torch.nn.functional.cross_entropy(logits[scored], targets[scored],
                                                 label_smoothing=0.1)
    torch.testing.assert_close(loss, expected)
    with pytest.raises(ValueError, match=r"label_smoothing must be a number in \[0, 1\)"):
        lm_loss(logits, targets, label_smoothing=1.0)


def test_train_lm_stops_at_max_updates_and_records_the_validation_loss():
    lines = translation_lines(PAIRS)
    vocab = Vocab(lines)
    inputs, targets = lm_arrays(lines, vocab, 12)
    loader = lm_loader(inputs, targets, batch_size=1)
    model = GPT(GPTConfig(len(vocab), 12, num_layers=1, num_hiddens=8, num_heads=2))
    history = train_lm(model, loader, attn.TrainConfig(num_epochs=5, max_updates=3,
                                                       progress=False), valid_iter=loader)
    assert history.stopped_by == "max_updates" and history.updates == [1, 2, 3]
    assert len(history.valid_losses) == 2  # after epoch 1, and where training stopped
    assert not model.training
    with pytest.raises(ValueError, match="train_iter is empty"):
        train_lm(model, [], attn.TrainConfig(progress=False))
    with pytest.raises(ValueError, match=r"a batch must be \(inputs, targets\), got 3 items"):
        train_lm(model, [(inputs, targets, targets)], attn.TrainConfig(progress=False))
