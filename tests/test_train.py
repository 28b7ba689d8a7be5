"""Tests of attn.train: the masked per-token loss, the loop's checks and devices, determinism, overfitting."""

import math

import pytest
import torch
from torch import nn

import attn.train
from attn.bleu import corpus_bleu
from attn.data import load_translation_data
from attn.decode import translate
from attn.seq2seq import Seq2SeqConfig, build_model
from attn.synthetic import SyntheticConfig, synthetic_splits
from attn.train import History, TrainConfig, evaluate_loss, sequence_loss, teacher_forcing_inputs, train_seq2seq


@pytest.fixture
def one_thread():
    """Tiny matrices train faster on one thread (and the suite shares two cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_teacher_forcing_inputs_shift_right_after_bos():
    tgt = torch.tensor([[5, 6, 2, 0], [7, 2, 0, 0]])
    assert teacher_forcing_inputs(tgt, bos=1).tolist() == [[1, 5, 6, 2], [1, 7, 2, 0]]
    with pytest.raises(ValueError, match=r"tgt must be a tensor of shape \(B, T\), got \(4,\)"):
        teacher_forcing_inputs(tgt[0], bos=1)


def reference_loss(logits, tgt, valid):
    """The definition, one real token at a time: mean of -log softmax(logits)[target]."""
    terms = [-torch.log_softmax(logits[b, t], dim=-1)[tgt[b, t]]
             for b in range(len(valid)) for t in range(int(valid[b]))]
    return torch.stack(terms).mean(), len(terms)


def test_sequence_loss_matches_the_token_by_token_definition():
    torch.manual_seed(0)
    logits = (3 * torch.randn(4, 6, 50)).requires_grad_()
    tgt = torch.randint(0, 50, (4, 6))
    valid = torch.tensor([6, 1, 0, 4])
    loss, n = sequence_loss(logits, tgt, valid)
    expected, expected_n = reference_loss(logits, tgt, valid)
    assert n == expected_n == 11  # real tokens, not 24 positions
    torch.testing.assert_close(loss, expected, rtol=0, atol=1e-6)
    grad, = torch.autograd.grad(loss, logits)
    expected_grad, = torch.autograd.grad(expected, logits)
    torch.testing.assert_close(grad, expected_grad, rtol=0, atol=1e-6)
    assert (grad[1, 1:] == 0).all() and (grad[2] == 0).all()  # padding gets no gradient
    # Whatever sits on padded positions does not matter.
    changed = logits.detach().clone()
    changed[1, 1:] = 100 * torch.randn(5, 50)
    torch.testing.assert_close(sequence_loss(changed, tgt, valid)[0], loss.detach())


def test_sequence_loss_is_not_divided_by_length_again():
    # Uniform predictions cost log V per real token, whatever the lengths are.
    logits = torch.zeros(3, 7, 10)
    tgt = torch.zeros(3, 7, dtype=torch.long)
    loss, _ = sequence_loss(logits, tgt, torch.tensor([7, 2, 1]))
    assert math.isclose(loss.item(), math.log(10), rel_tol=1e-6)


def test_label_smoothing_mixes_the_true_word_with_the_uniform_distribution():
    torch.manual_seed(1)
    logits = 3 * torch.randn(3, 5, 20)
    tgt = torch.randint(0, 20, (3, 5))
    valid = torch.tensor([5, 2, 0])
    eps = 0.1
    loss, n = sequence_loss(logits, tgt, valid, label_smoothing=eps)
    log_p = torch.log_softmax(logits, dim=-1)
    terms = [-(1 - eps) * log_p[b, t, tgt[b, t]] - eps * log_p[b, t].mean()
             for b in range(3) for t in range(int(valid[b]))]
    assert n == len(terms) == 7
    torch.testing.assert_close(loss, torch.stack(terms).mean(), rtol=0, atol=1e-6)
    plain, _ = sequence_loss(logits, tgt, valid)
    assert loss.item() != plain.item()
    torch.testing.assert_close(sequence_loss(logits, tgt, valid, 0.0)[0], plain)
    for bad in (1.0, -0.5, "0.1"):
        with pytest.raises(ValueError, match=r"label_smoothing must be a number in \[0, 1\)"):
            sequence_loss(logits, tgt, valid, label_smoothing=bad)


def test_label_smoothing_changes_the_training_loss_only(tiny):
    _, data = tiny
    histories, valid_losses = [], []
    for eps in (0.0, 0.2):
        torch.manual_seed(0)
        net = tiny_model(data)
        config = TrainConfig(max_updates=3, label_smoothing=eps, progress=False)
        histories.append(train_seq2seq(net, data.train_iter, data.tgt_vocab.bos, config))
        valid_losses.append(evaluate_loss(net, data.train_iter, data.tgt_vocab.bos))
    # the first update starts from the same weights: only the smoothing differs
    assert histories[0].losses[0] != histories[1].losses[0]
    torch.manual_seed(0)
    net = tiny_model(data)
    first = next(iter(data.train_iter))
    src, src_len, tgt, tgt_len = first
    logits = net(src, src_len, teacher_forcing_inputs(tgt, data.tgt_vocab.bos))
    logits = logits[0] if isinstance(logits, tuple) else logits
    expected = sequence_loss(logits, tgt, tgt_len, label_smoothing=0.2)[0].item()
    assert math.isclose(histories[1].losses[0], expected, rel_tol=1e-5)
    assert all(math.isfinite(v) for v in valid_losses)


LOGITS, TGT, VALID = torch.zeros(2, 3, 4), torch.zeros(2, 3, dtype=torch.long), torch.tensor([3, 1])


@pytest.mark.parametrize("logits, tgt, valid, error, message", [
    (LOGITS, TGT, torch.tensor([0, 0]), ValueError, "no real target token"),
    (torch.zeros(2, 4, 4), TGT, VALID, ValueError,
     r"logits must have shape \(B, T, V\) matching tgt \(B, T\) = \(2, 3\), got \(2, 4, 4\)"),
    # lengths of the wrong batch size used to broadcast into a wrong loss
    (LOGITS, TGT, torch.tensor([3]), ValueError, r"tgt_valid_lens must have shape \(B,\) = \(2,\), got \(1,\)"),
    (LOGITS, TGT, torch.ones(2, 3, dtype=torch.long), ValueError,
     r"tgt_valid_lens must have shape \(B,\) = \(2,\), got \(2, 3\)"),
    (LOGITS, TGT, torch.tensor([4, 1]), ValueError,
     r"tgt_valid_lens must lie in \[0, T\] = \[0, 3\], got values from 1 to 4"),
    (LOGITS, TGT, VALID.float(), TypeError, "tgt_valid_lens must be an integer tensor, got dtype torch.float32"),
    (LOGITS, TGT.float(), VALID, TypeError, "tgt must be a torch.long tensor of target ids, got dtype torch.float32"),
    (LOGITS.long(), TGT, VALID, TypeError, "logits must be a floating-point tensor, got dtype torch.int64"),
    (LOGITS, torch.tensor([[0, 1, 4], [0, 0, 0]]), VALID, ValueError,
     r"tgt must hold ids in \[0, V - 1\] = \[0, 3\], got values from 0 to 4"),
    (LOGITS, TGT, [3, 1], TypeError, "tgt_valid_lens must be a torch.Tensor, got list"),
], ids=["no-token", "logits-shape", "lens-batch", "lens-2d", "lens-range", "lens-float", "tgt-float",
        "logits-int", "tgt-range", "lens-list"])
def test_sequence_loss_errors(logits, tgt, valid, error, message):
    with pytest.raises(error, match=message):
        sequence_loss(logits, tgt, valid)


def test_history_perplexity():
    assert math.isclose(History(updates=[1, 2], losses=[2.0, math.log(7)]).perplexity, 7)
    with pytest.raises(ValueError, match="no update was logged"):
        History().perplexity


@pytest.fixture(scope="module")
def tiny():
    splits = synthetic_splits(SyntheticConfig(seed=0, num_train=6, num_valid=2, num_test=2, max_clauses=1))
    return splits, load_translation_data(splits, batch_size=6, num_steps=16)


def tiny_model(data, attention=True):
    torch.manual_seed(0)
    return build_model(Seq2SeqConfig(len(data.src_vocab), len(data.tgt_vocab), 8, 16, attention=attention))


def test_training_is_deterministic_and_returns_a_history(tiny, one_thread):
    _, data = tiny
    runs = []
    for _ in range(2):
        config = TrainConfig(lr=0.01, num_epochs=5, progress=False, schedule="cosine")
        runs.append(train_seq2seq(tiny_model(data), data.train_iter, data.tgt_vocab.bos, config,
                                  valid_iter=data.valid_iter))
    assert runs[0].losses == runs[1].losses and runs[0].updates == [1, 2, 3, 4, 5]
    assert len(runs[0].valid_losses) == 5 and runs[0].seconds > 0
    assert runs[0].losses[-1] < runs[0].losses[0]
    assert math.isclose(runs[0].perplexity, math.exp(runs[0].losses[-1]))


def test_max_updates_stops_early(tiny):
    _, data = tiny
    history = train_seq2seq(tiny_model(data, attention=False), data.train_iter, data.tgt_vocab.bos,
                            TrainConfig(num_epochs=10, max_updates=3, progress=False))
    assert history.updates == [1, 2, 3]


class RecordingAdam(torch.optim.Adam):
    """Adam that records the learning rate of every step."""

    rates: list = []

    def step(self, closure=None):
        RecordingAdam.rates.append(self.param_groups[0]["lr"])
        return super().step(closure)


@pytest.fixture
def recorded_rates(monkeypatch):
    RecordingAdam.rates = []
    monkeypatch.setattr(attn.train.torch.optim, "Adam", RecordingAdam)
    return RecordingAdam.rates


def test_what_stopped_training_is_recorded(tiny):
    _, data = tiny  # one batch per epoch
    run = lambda **kw: train_seq2seq(tiny_model(data), data.train_iter, data.tgt_vocab.bos,  # noqa: E731
                                     TrainConfig(progress=False, **kw))
    assert run(num_epochs=2).stopped_by == "epochs"
    assert run(num_epochs=5, max_updates=2).stopped_by == "max_updates"


def test_a_time_budget_stops_training_and_drives_the_cosine_schedule(tiny, monkeypatch, recorded_rates):
    _, data = tiny
    ticks = iter(range(1000))  # a clock that advances one second per reading
    monkeypatch.setattr(attn.train, "time", type("Clock", (), {"perf_counter": lambda: next(ticks)}))
    config = TrainConfig(lr=0.01, num_epochs=100, max_seconds=4, schedule="cosine", progress=False)
    history = train_seq2seq(tiny_model(data), data.train_iter, data.tgt_vocab.bos, config,
                            valid_iter=data.valid_iter)
    assert history.updates == [1, 2, 3, 4] and history.stopped_by == "max_seconds"
    assert len(history.valid_losses) == 4 and history.seconds == 5  # the clock is read once more at the end
    # the time budget, not the 100 updates, sets the pace: after u updates, u of 4 seconds are used
    expected = [0.01 * 0.5 * (1 + math.cos(math.pi * u / 4)) for u in range(4)]
    assert recorded_rates == pytest.approx(expected, rel=1e-12)


def test_without_a_time_budget_the_cosine_schedule_follows_the_updates(tiny, recorded_rates):
    _, data = tiny
    config = TrainConfig(lr=0.01, num_epochs=10, max_updates=5, schedule="cosine", progress=False)
    train_seq2seq(tiny_model(data), data.train_iter, data.tgt_vocab.bos, config)
    assert recorded_rates == [0.01 * (0.5 * (1 + math.cos(math.pi * u / 5))) for u in range(5)]
    recorded_rates.clear()
    train_seq2seq(tiny_model(data), data.train_iter, data.tgt_vocab.bos,
                  TrainConfig(lr=0.01, num_epochs=10, max_updates=3, progress=False))  # constant
    assert recorded_rates == [0.01] * 3


def test_the_progress_bar_counts_updates_and_shows_the_loss(tiny, monkeypatch):
    _, data = tiny
    bars = []

    class Bar:
        def __init__(self, **kwargs):
            self.kwargs, self.updates, self.postfixes, self.closed = kwargs, 0, [], False
            bars.append(self)

        def update(self, n):
            self.updates += n

        def set_postfix(self, **values):
            self.postfixes.append(values)

        def close(self):
            self.closed = True

    monkeypatch.setattr(attn.train, "progress", Bar)  # the text bar of attn.utils
    history = train_seq2seq(tiny_model(data), data.train_iter, data.tgt_vocab.bos,
                            TrainConfig(num_epochs=4, max_updates=3, progress=False))
    bar, = bars
    assert bar.kwargs == {"total": 3, "desc": "training", "disable": True}
    assert bar.updates == 3 and bar.closed
    assert bar.postfixes == [{"loss": f"{loss:.3f}"} for loss in history.losses]


@pytest.mark.parametrize("field, value, message", [
    ("lr", 0.0, "lr must be a finite number > 0, got 0.0"),
    ("lr", -1e-3, "lr must be a finite number > 0"),
    ("lr", math.nan, "lr must be a finite number > 0, got nan"),
    ("num_epochs", 0, "num_epochs must be an int >= 1, got 0"),
    ("num_epochs", 2.5, "num_epochs must be an int >= 1, got 2.5"),
    ("max_updates", 0, "max_updates must be an int >= 1 or None, got 0"),
    ("max_seconds", 0, "max_seconds must be a finite number > 0 or None, got 0"),
    ("max_seconds", math.inf, "max_seconds must be a finite number > 0 or None, got inf"),
    ("grad_clip", -1.0, r"grad_clip must be a finite number >= 0 \(0: no clipping\), got -1.0"),
    ("schedule", "linear", "schedule must be 'constant', 'cosine' or 'inverse_sqrt', got 'linear'"),
    ("warmup", -1, "warmup must be an int >= 0, got -1"),
    ("schedule", "inverse_sqrt", "the inverse_sqrt schedule needs warmup >= 1"),
    ("seed", None, "seed must be an int, got None"),
    ("progress", "yes", "progress must be True or False, got 'yes'"),
    ("label_smoothing", 1.0, r"label_smoothing must be a number in \[0, 1\), got 1.0"),
    ("label_smoothing", -0.1, r"label_smoothing must be a number in \[0, 1\), got -0.1"),
])
def test_bad_train_configs(tiny, field, value, message):
    _, data = tiny
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{field: value})
    config = TrainConfig(progress=False)
    setattr(config, field, value)  # changed after it was made: the loop checks again
    net = tiny_model(data)
    before = [p.clone() for p in net.parameters()]
    with pytest.raises(ValueError, match=message):
        train_seq2seq(net, data.train_iter, data.tgt_vocab.bos, config)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))  # it failed before any update


def test_an_empty_training_loader_is_rejected(tiny):
    _, data = tiny
    with pytest.raises(ValueError, match="train_iter is empty: it holds no batch"):
        train_seq2seq(tiny_model(data), [], data.tgt_vocab.bos, TrainConfig(progress=False))


def test_an_empty_validation_loader_is_rejected_before_training(tiny):
    _, data = tiny
    net = tiny_model(data)
    before = [p.clone() for p in net.parameters()]
    with pytest.raises(ValueError, match="valid_iter is empty: it holds no batch"):
        train_seq2seq(net, data.train_iter, data.tgt_vocab.bos, TrainConfig(progress=False), valid_iter=[])
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
    with pytest.raises(ValueError, match="the loader is empty"):
        evaluate_loss(net, [], data.tgt_vocab.bos)


def test_bad_loaders_and_arguments(tiny):
    _, data = tiny
    net, config, bos = tiny_model(data), TrainConfig(progress=False), data.tgt_vocab.bos
    with pytest.raises(TypeError, match="train_iter must have a length .* got generator"):
        train_seq2seq(net, (batch for batch in data.train_iter), bos, config)  # would be used up after an epoch
    with pytest.raises(ValueError, match=r"a batch must be \(src, src_valid_lens, tgt, tgt_valid_lens\), got 2"):
        train_seq2seq(net, [next(iter(data.train_iter))[:2]], bos, config)
    with pytest.raises(ValueError, match="bos must be a non-negative int"):
        train_seq2seq(net, data.train_iter, -1, config)
    with pytest.raises(TypeError, match="config must be a TrainConfig, got dict"):
        train_seq2seq(net, data.train_iter, bos, {"lr": 0.1})


class Arrived(Exception):
    """Raised by DeviceProbe once it has seen its inputs."""


class DeviceProbe(nn.Module):
    """A model whose parameters live on the meta device; it records where its inputs arrive."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(3, device="meta"))
        self.seen = []

    def forward(self, src, src_valid_lens, tgt_in):
        self.seen += [src.device, src_valid_lens.device, tgt_in.device]
        raise Arrived


@pytest.mark.parametrize("run", ["train", "evaluate"])
def test_batches_are_moved_to_the_model_device(tiny, run):
    _, data = tiny
    probe = DeviceProbe()
    assert attn.train.model_device(probe) == torch.device("meta")
    assert attn.train.model_device(nn.Identity()) == torch.device("cpu")  # no parameter: the default
    with pytest.raises(Arrived):
        if run == "train":
            train_seq2seq(probe, data.train_iter, data.tgt_vocab.bos, TrainConfig(progress=False))
        else:  # also the validation pass of train_seq2seq
            evaluate_loss(probe, data.valid_iter, data.tgt_vocab.bos)
    assert probe.seen == [torch.device("meta")] * 3


@pytest.mark.parametrize("attention", [True, False])
def test_a_tiny_model_overfits_a_few_pairs_to_bleu_100(tiny, attention, one_thread):
    splits, data = tiny
    torch.manual_seed(0)
    net = build_model(Seq2SeqConfig(len(data.src_vocab), len(data.tgt_vocab), 16, 32, attention=attention))
    train_seq2seq(net, data.train_iter, data.tgt_vocab.bos,
                  TrainConfig(lr=0.02, num_epochs=60, progress=False, schedule="cosine"))
    sources, references = [s for s, _ in splits.train], [t for _, t in splits.train]
    outputs, _ = translate(net, sources, data.src_vocab, data.tgt_vocab, data.num_steps)
    assert corpus_bleu(outputs, references) == 100
    assert evaluate_loss(net, data.train_iter, data.tgt_vocab.bos) < 0.05


def test_the_inverse_sqrt_schedule_warms_up_then_decays(tiny, recorded_rates):
    _, data = tiny
    config = TrainConfig(lr=0.01, num_epochs=10, max_updates=8, schedule="inverse_sqrt", warmup=4,
                         progress=False)
    train_seq2seq(tiny_model(data), data.train_iter, data.tgt_vocab.bos, config)
    expected = [0.01 * min(s / 4, math.sqrt(4 / s)) for s in range(1, 9)]
    assert recorded_rates == pytest.approx(expected, rel=1e-12)
    assert max(recorded_rates) == recorded_rates[3] == pytest.approx(0.01)  # the peak at the warm-up's end
    assert attn.train.scheduled_rate(config, 100, 8) == pytest.approx(0.002)  # 0.01 * sqrt(4 / 100)
    recorded_rates.clear()
    warm = TrainConfig(lr=0.01, num_epochs=10, max_updates=5, warmup=2, progress=False)  # constant
    train_seq2seq(tiny_model(data), data.train_iter, data.tgt_vocab.bos, warm)
    assert recorded_rates == pytest.approx([0.005, 0.01, 0.01, 0.01, 0.01], rel=1e-12)


def test_the_callback_sees_every_update(tiny):
    _, data = tiny
    seen = []
    train_seq2seq(tiny_model(data), data.train_iter, data.tgt_vocab.bos,
                  TrainConfig(num_epochs=10, max_updates=4, progress=False), callback=seen.append)
    assert seen == [1, 2, 3, 4]
