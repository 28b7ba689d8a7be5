"""Tests of attn.train: the masked per-token loss, the loop's determinism, and overfitting."""

import math

import pytest
import torch

from attn.bleu import corpus_bleu
from attn.data import Splits, load_translation_data
from attn.decode import translate
from attn.seq2seq import Seq2SeqConfig, build_model
from attn.synthetic import SyntheticConfig, synthetic_splits
from attn.train import TrainConfig, evaluate_loss, sequence_loss, teacher_forcing_inputs, train_seq2seq


def test_teacher_forcing_inputs_shift_right_after_bos():
    tgt = torch.tensor([[5, 6, 2, 0], [7, 2, 0, 0]])
    assert teacher_forcing_inputs(tgt, bos=1).tolist() == [[1, 5, 6, 2], [1, 7, 2, 0]]


def test_sequence_loss_averages_over_real_tokens_only():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 9)
    tgt = torch.randint(0, 9, (2, 4))
    valid = torch.tensor([4, 1])
    loss, n = sequence_loss(logits, tgt, valid)
    per_token = torch.nn.functional.cross_entropy(logits.reshape(-1, 9), tgt.reshape(-1), reduction="none").view(2, 4)
    expected = (per_token[0].sum() + per_token[1, 0]) / 5  # 5 real tokens, not 8 positions
    assert n == 5
    torch.testing.assert_close(loss, expected)
    # Whatever sits on padded positions does not matter.
    changed = logits.clone()
    changed[1, 1:] = 100 * torch.randn(3, 9)
    torch.testing.assert_close(sequence_loss(changed, tgt, valid)[0], loss)


def test_sequence_loss_is_not_divided_by_length_again():
    # Uniform predictions cost log V per real token, whatever the lengths are.
    logits = torch.zeros(3, 7, 10)
    tgt = torch.zeros(3, 7, dtype=torch.long)
    loss, _ = sequence_loss(logits, tgt, torch.tensor([7, 2, 1]))
    assert math.isclose(loss.item(), math.log(10), rel_tol=1e-6)


def test_sequence_loss_errors():
    with pytest.raises(ValueError, match="no real target token"):
        sequence_loss(torch.zeros(2, 3, 4), torch.zeros(2, 3, dtype=torch.long), torch.tensor([0, 0]))
    with pytest.raises(ValueError, match=r"logits must have shape \(B, T, V\) matching tgt \(B, T\) = \(2, 3\)"):
        sequence_loss(torch.zeros(2, 4, 4), torch.zeros(2, 3, dtype=torch.long), torch.tensor([1, 1]))


@pytest.fixture(scope="module")
def tiny():
    splits = synthetic_splits(SyntheticConfig(seed=0, num_train=6, num_valid=2, num_test=2, max_clauses=1))
    return splits, load_translation_data(splits, batch_size=6, num_steps=16)


def test_training_is_deterministic_and_returns_a_history(tiny):
    _, data = tiny
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        net = build_model(Seq2SeqConfig(len(data.src_vocab), len(data.tgt_vocab), 8, 16))
        config = TrainConfig(lr=0.01, num_epochs=5, progress=False, schedule="cosine")
        history = train_seq2seq(net, data.train_iter, data.tgt_vocab.bos, config, valid_iter=data.valid_iter)
        runs.append(history)
    assert runs[0].losses == runs[1].losses and runs[0].updates == [1, 2, 3, 4, 5]
    assert len(runs[0].valid_losses) == 5 and runs[0].seconds > 0
    assert runs[0].losses[-1] < runs[0].losses[0]
    assert math.isclose(runs[0].perplexity, math.exp(runs[0].losses[-1]))


def test_max_updates_stops_early(tiny):
    _, data = tiny
    net = build_model(Seq2SeqConfig(len(data.src_vocab), len(data.tgt_vocab), 8, 16, attention=False))
    history = train_seq2seq(net, data.train_iter, data.tgt_vocab.bos,
                            TrainConfig(num_epochs=10, max_updates=3, progress=False))
    assert history.updates == [1, 2, 3]


def test_bad_train_configs(tiny):
    _, data = tiny
    net = build_model(Seq2SeqConfig(len(data.src_vocab), len(data.tgt_vocab), 8, 16))
    with pytest.raises(ValueError, match="schedule must be 'constant' or 'cosine', got 'linear'"):
        train_seq2seq(net, data.train_iter, 1, TrainConfig(schedule="linear", progress=False))
    with pytest.raises(ValueError, match="need num_epochs >= 1"):
        train_seq2seq(net, data.train_iter, 1, TrainConfig(num_epochs=0, progress=False))


@pytest.mark.parametrize("attention", [True, False])
def test_a_tiny_model_overfits_a_few_pairs_to_bleu_100(tiny, attention):
    splits, data = tiny
    torch.manual_seed(0)
    net = build_model(Seq2SeqConfig(len(data.src_vocab), len(data.tgt_vocab), 16, 32, attention=attention))
    train_seq2seq(net, data.train_iter, data.tgt_vocab.bos,
                  TrainConfig(lr=0.02, num_epochs=150, progress=False, schedule="cosine"))
    sources, references = [s for s, _ in splits.train], [t for _, t in splits.train]
    outputs, _ = translate(net, sources, data.src_vocab, data.tgt_vocab, data.num_steps)
    assert corpus_bleu(outputs, references) == 100
    assert evaluate_loss(net, data.train_iter, data.tgt_vocab.bos) < 0.05
