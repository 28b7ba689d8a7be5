"""Tests of attn.decode: greedy decoding, beam search (against brute force), translate, errors, devices."""

import itertools
import math
import zlib
from dataclasses import dataclass

import pytest
import torch
from torch import nn

import attn.decode
from attn.data import Vocab
from attn.decode import beam_search, greedy_decode, translate
from attn.seq2seq import Seq2SeqConfig, build_model

BOS, EOS, V = 1, 2, 12


@dataclass
class CopyState:
    src: torch.Tensor    # (B, S)
    valid: torch.Tensor  # (B,)
    t: torch.Tensor      # (B,) steps taken

    def select(self, index):
        return CopyState(self.src[index], self.valid[index], self.t[index])


class CopyModel(nn.Module):
    """Forced to copy: step t puts all probability on src[t], then on <eos> after the source."""

    def init_state(self, src, valid):
        return CopyState(src, valid, torch.zeros_like(valid))

    def step(self, tokens, state):
        batch = state.src.shape[0]
        position = state.t.clamp(max=state.src.shape[1] - 1)
        target = torch.where(state.t < state.valid, state.src[torch.arange(batch), position], EOS)
        logits = torch.full((batch, V), -20.0)
        logits[torch.arange(batch), target] = 0.0
        weights = nn.functional.one_hot(position, state.src.shape[1]).float()  # looks at what it copies
        return logits, CopyState(state.src, state.valid, state.t + 1), weights


def copy_batch():
    src = torch.tensor([[5, 6, 7, 8], [9, 4, 0, 0], [11, 0, 0, 0]])
    return src, torch.tensor([4, 2, 1])


@pytest.mark.parametrize("decode", [greedy_decode, lambda *a, **k: beam_search(*a, beam_size=3, **k)],
                         ids=["greedy", "beam"])
def test_a_model_forced_to_copy_is_copied(decode):
    src, valid = copy_batch()
    result = decode(CopyModel(), src, valid, BOS, EOS, max_len=10)
    assert result.tokens == [[5, 6, 7, 8], [9, 4], [11]]
    assert [a.shape for a in result.attention] == [(5, 4), (3, 4), (2, 4)]  # one row per token and <eos>
    assert torch.equal(result.attention[1][:2], torch.eye(4)[:2])
    assert all(type(t) is int for row in result.tokens for t in row)  # plain Python, not tensors
    assert all(type(s) is float for s in result.scores) and result.scores == pytest.approx([0.0] * 3, abs=1e-6)


def test_max_len_cuts_outputs_without_eos():
    src, valid = copy_batch()
    for result in (greedy_decode(CopyModel(), src, valid, BOS, EOS, max_len=2),
                   beam_search(CopyModel(), src, valid, BOS, EOS, beam_size=2, max_len=2)):
        assert result.tokens == [[5, 6], [9, 4], [11]]
        assert [a.shape[0] for a in result.attention] == [2, 2, 2]  # no <eos> row for an unfinished output


# ---------------------------------------------------------------------------
# Beam search on models whose next-token distribution is a fixed function of the output so far.
class HistoryState:
    """Per row: the source id (src[:, 0]) and the tokens output so far (None before the first step)."""

    def __init__(self, sources, histories):
        self.sources, self.histories = sources, histories

    def select(self, index):
        index = index.tolist()
        return HistoryState([self.sources[i] for i in index], [self.histories[i] for i in index])


class HistoryModel(nn.Module):
    """``next_log_probs(source, history) -> (V,)`` gives the distribution of the next token."""

    def __init__(self, next_log_probs):
        super().__init__()
        self.next_log_probs = next_log_probs

    def init_state(self, src, valid):
        return HistoryState(src[:, 0].tolist(), [None] * src.shape[0])

    def step(self, tokens, state):
        histories = [[] if h is None else h + [t] for h, t in zip(state.histories, tokens.tolist())]
        logits = torch.stack([self.next_log_probs(s, tuple(h)) for s, h in zip(state.sources, histories)])
        return logits, HistoryState(state.sources, histories), None


def random_table(seed, vocab_size):
    """A fixed random distribution for each (source, history), the same whenever it is asked for."""
    def next_log_probs(source, history):
        generator = torch.Generator().manual_seed(zlib.crc32(repr((seed, source, history)).encode()))
        return torch.log_softmax(2 * torch.randn(vocab_size, generator=generator), dim=-1)
    return next_log_probs


def brute_force_best(next_log_probs, source, vocab_size, max_len, length_penalty):
    """Score every possible output; return the best (tokens, score) under score / length ** penalty."""
    best = None
    for length in range(1, max_len + 1):
        for sequence in itertools.product(range(vocab_size), repeat=length):
            if EOS in sequence[:-1]:
                continue  # nothing follows <eos>
            if sequence[-1] != EOS and length < max_len:
                continue  # unfinished outputs only at max_len
            score = sum(float(next_log_probs(source, sequence[:i])[token]) for i, token in enumerate(sequence))
            tokens = list(sequence[:-1]) if sequence[-1] == EOS else list(sequence)
            candidate = (score / length ** length_penalty, tokens, score)
            best = candidate if best is None or candidate[0] > best[0] else best
    return best[1], best[2]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("length_penalty", [0.0, 0.75, 1.0])
def test_a_beam_wide_enough_for_every_hypothesis_finds_the_brute_force_best(seed, length_penalty):
    vocab_size, max_len = 4, 3  # 3 tokens and <eos>: at most 4 * 3 * 3 = 36 candidates in a step
    table = random_table(seed, vocab_size)
    src, valid = torch.tensor([[5], [6], [7]]), torch.tensor([1, 1, 1])  # three sources, three tables
    result = beam_search(HistoryModel(table), src, valid, BOS, EOS, beam_size=36, max_len=max_len,
                         length_penalty=length_penalty)
    for b, source in enumerate([5, 6, 7]):
        tokens, score = brute_force_best(table, source, vocab_size, max_len, length_penalty)
        assert result.tokens[b] == tokens
        assert result.scores[b] == pytest.approx(score, abs=1e-5)


def scripted(script):
    """A model following ``script``: history -> {token: probability}; <eos> where the script says nothing."""
    def next_log_probs(source, history):
        probs = torch.full((V,), 1e-9)
        for token, p in script.get(history, {EOS: 1.0}).items():
            probs[token] = p
        return probs.log()
    return HistoryModel(next_log_probs)


def test_length_penalty_decides_between_a_short_and_a_long_output():
    # [5] <eos> has probability 0.5, [5 3] <eos> 0.45: the shorter is likelier, the longer likelier per token.
    model = scripted({(): {5: 1.0}, (5,): {EOS: 0.5, 3: 0.45, 4: 0.05}, (5, 3): {EOS: 1.0}})
    src, valid = torch.tensor([[5]]), torch.tensor([1])
    short = beam_search(model, src, valid, BOS, EOS, beam_size=2, max_len=6, length_penalty=0.0)
    long = beam_search(model, src, valid, BOS, EOS, beam_size=2, max_len=6, length_penalty=1.0)
    assert short.tokens == [[5]] and short.scores == pytest.approx([math.log(0.5)], abs=1e-5)
    assert long.tokens == [[5, 3]] and long.scores == pytest.approx([math.log(0.45)], abs=1e-5)


def test_a_finished_hypothesis_does_not_take_the_slot_of_a_live_one():
    # <eos> first is likeliest (0.45) and 3 next (0.35), but 3 leads to seven equally likely words;
    # 4 (0.2) leads to a sure "5 <eos>". Were the finished "<eos>" kept in one of the two slots, 4 would
    # be pruned at the first step; with 2 live slots, [4, 5] wins per token: log(0.2) / 3 > log(0.45) / 1.
    model = scripted({(): {EOS: 0.45, 3: 0.35, 4: 0.2}, (3,): {t: 1 / 7 for t in range(5, 12)},
                      (4,): {5: 1.0}, (4, 5): {EOS: 1.0}})
    src, valid = torch.tensor([[5]]), torch.tensor([1])
    result = beam_search(model, src, valid, BOS, EOS, beam_size=2, max_len=6, length_penalty=1.0)
    assert result.tokens == [[4, 5]] and result.scores == pytest.approx([math.log(0.2)], abs=1e-5)
    assert greedy_decode(model, src, valid, BOS, EOS).tokens == [[]]


def random_model(attention):
    torch.manual_seed(0)
    net = build_model(Seq2SeqConfig(15, V, 8, 16, attention=attention))
    with torch.no_grad():  # make <eos> a little likelier, so that outputs stop at different lengths
        net.decoder.dense.bias[EOS] += 0.1 if attention else 0.2
    return net.eval()


@pytest.mark.parametrize("attention", [True, False])
def test_beam_search_with_width_one_is_greedy(attention):
    net = random_model(attention)
    torch.manual_seed(1)
    src = torch.randint(4, 15, (6, 7))
    valid = torch.tensor([7, 3, 5, 1, 7, 2])
    greedy = greedy_decode(net, src, valid, BOS, EOS, max_len=12)
    beam = beam_search(net, src, valid, BOS, EOS, beam_size=1, max_len=12)
    assert greedy.tokens == beam.tokens
    assert len({len(t) for t in greedy.tokens}) > 1  # the comparison covers outputs of several lengths
    assert greedy.scores == pytest.approx(beam.scores, abs=1e-5)
    for g, b in zip(greedy.attention, beam.attention):
        if attention:
            torch.testing.assert_close(g, b)
            assert g.shape[1] == 7
        else:
            assert g is None and b is None


def test_beam_attention_and_scores_are_those_of_the_winning_output():
    net, max_len = random_model(attention=True), 8
    torch.manual_seed(2)
    src = torch.randint(4, 15, (5, 6))
    valid = torch.tensor([6, 2, 4, 1, 5])
    result = beam_search(net, src, valid, BOS, EOS, beam_size=4, max_len=max_len)
    assert len({len(t) for t in result.tokens}) > 1
    for b, tokens in enumerate(result.tokens):
        finished = len(tokens) < max_len
        outputs = tokens + [EOS] if finished else tokens
        # Teacher-force the winner through the model: the same weights, and the same log-probability.
        logits, weights = net(src[b:b + 1], valid[b:b + 1], torch.tensor([[BOS] + outputs[:-1]]))
        log_probs = torch.log_softmax(logits[0].detach(), dim=-1)[torch.arange(len(outputs)), outputs]
        assert result.attention[b].shape == (len(outputs), 6)
        torch.testing.assert_close(result.attention[b], weights[0].detach(), rtol=0, atol=1e-5)
        assert (result.attention[b][:, int(valid[b]):] == 0).all()  # no weight on source padding
        assert result.scores[b] == pytest.approx(float(log_probs.sum()), abs=1e-4)


class TrapState:
    def __init__(self, prev):
        self.prev = prev

    def select(self, index):
        return TrapState(self.prev[index])


class TrapModel(nn.Module):
    """First token 3 (p=0.6) leads to a flat, unlikely future; token 4 (p=0.4) to a sure <eos>."""

    def init_state(self, src, valid):
        return TrapState(torch.full((src.shape[0],), BOS))

    def step(self, tokens, state):
        probs = torch.full((tokens.shape[0], V), 1e-9)
        first, after_3, after_4 = tokens == BOS, tokens == 3, tokens == 4
        probs[first, 3], probs[first, 4] = 0.6, 0.4
        probs[after_3, 5:] = 1.0 / (V - 5)  # seven equally likely continuations
        probs[after_4, EOS] = 1.0
        probs[~(first | after_3 | after_4), EOS] = 1.0
        return probs.log(), TrapState(tokens), None


def test_beam_search_escapes_the_greedy_trap():
    src, valid = torch.tensor([[5, 6]]), torch.tensor([2])
    greedy = greedy_decode(TrapModel(), src, valid, BOS, EOS, max_len=5)
    beam = beam_search(TrapModel(), src, valid, BOS, EOS, beam_size=2, max_len=5)
    assert greedy.tokens[0][0] == 3 and beam.tokens == [[4]]
    assert beam.scores[0] > greedy.scores[0]
    assert beam.attention == [None]


# ---------------------------------------------------------------------------
# translate, errors and devices.
def test_translate_maps_tokens_both_ways():
    src_vocab = Vocab([["a", "b", "c"]])
    tgt_vocab = Vocab([["a", "b", "c"]])
    # Vocabularies built from the same tokens share ids, so the copy model translates x -> x.
    outputs, attention = translate(CopyModel(), [["a", "b"], ["c"], ["b", "a", "c"]], src_vocab, tgt_vocab,
                                   num_steps=5, batch_size=2)
    assert outputs == [["a", "b"], ["c"], ["b", "a", "c"]]
    assert [a.shape for a in attention] == [(3, 3), (2, 2), (4, 4)]  # sources are padded per batch of 2
    beam_outputs, _ = translate(CopyModel(), [["a", "b"], ["c"]], src_vocab, tgt_vocab, num_steps=5, beam_size=2)
    assert beam_outputs == [["a", "b"], ["c"]]
    assert translate(CopyModel(), [], src_vocab, tgt_vocab, num_steps=5) == ([], [])


@pytest.mark.parametrize("beam_size", [1, 3])
def test_translate_can_forbid_unk_and_decode_longer_than_num_steps(beam_size):
    vocab = Vocab([list("abcdefgh")])  # V = 12 ids, as many as the copy model's logits
    sentences = [["a", "zzz", "b"]]  # "zzz" is <unk>, which the copy model copies
    kept, _ = translate(CopyModel(), sentences, vocab, vocab, num_steps=5, beam_size=beam_size)
    assert kept == [["a", "<unk>", "b"]]
    banned, _ = translate(CopyModel(), sentences, vocab, vocab, num_steps=5, beam_size=beam_size,
                          allow_unk=False)
    assert len(banned[0]) == 3 and "<unk>" not in banned[0] and banned[0][::2] == ["a", "b"]
    long = [list("abcabcabc")]
    assert translate(CopyModel(), long, vocab, vocab, num_steps=12, max_len=4)[0] == [list("abca")]
    with pytest.raises(TypeError, match="allow_unk must be True or False"):
        translate(CopyModel(), sentences, vocab, vocab, num_steps=5, allow_unk="no")


@pytest.mark.parametrize("decode", [greedy_decode, lambda *a, **k: beam_search(*a, beam_size=2, **k)],
                         ids=["greedy", "beam"])
def test_suppressed_tokens_are_never_produced(decode):
    src, valid = copy_batch()  # the copy model puts all its probability on src[t]
    result = decode(CopyModel(), src, valid, BOS, EOS, max_len=10, suppress=[6, 9])
    assert [len(t) for t in result.tokens] == [4, 2, 1]
    assert not {6, 9} & {t for row in result.tokens for t in row}
    assert result.tokens[0][::2] == [5, 7] and result.tokens[2] == [11]
    with pytest.raises(ValueError, match="suppress must not hold the <eos> id"):
        decode(CopyModel(), src, valid, BOS, EOS, suppress=[EOS])
    with pytest.raises(ValueError, match=r"suppress must hold ids in \[0, V - 1\] = \[0, 11\], got 12"):
        decode(CopyModel(), src, valid, BOS, EOS, suppress=[12])
    with pytest.raises(ValueError, match="suppress must be a sequence of target token ids"):
        decode(CopyModel(), src, valid, BOS, EOS, suppress=[-1])


def test_translate_rejects_untokenized_sentences():
    vocab = Vocab([["a", "b"]])
    with pytest.raises(TypeError, match="must be lists of tokens, got a str at index 0 .*use str.split"):
        translate(CopyModel(), ["a b"], vocab, vocab, num_steps=5)
    with pytest.raises(TypeError, match="got a str; use"):
        translate(CopyModel(), "a b", vocab, vocab, num_steps=5)
    for name, value in (("num_steps", 0), ("beam_size", 0), ("batch_size", 0)):
        kwargs = {"num_steps": 5, name: value}
        with pytest.raises(ValueError, match=f"{name} must be an int >= 1, got 0"):
            translate(CopyModel(), [["a"]], vocab, vocab, **kwargs)


BEAM = lambda *a, **k: beam_search(*a, beam_size=2, **k)  # noqa: E731


@pytest.mark.parametrize("decode", [greedy_decode, BEAM], ids=["greedy", "beam"])
def test_decode_errors(decode):
    src, valid = copy_batch()
    with pytest.raises(ValueError, match="max_len must be an int >= 1, got 0"):
        decode(CopyModel(), src, valid, BOS, EOS, max_len=0)
    with pytest.raises(ValueError, match="max_len must be an int >= 1, got 2.5"):
        decode(CopyModel(), src, valid, BOS, EOS, max_len=2.5)
    with pytest.raises(ValueError, match=r"src_valid_lens must have shape \(B,\) = \(3,\), got \(2,\)"):
        decode(CopyModel(), src, valid[:2], BOS, EOS)
    with pytest.raises(ValueError, match=r"src must have shape \(B, S\), got shape \(4,\)"):
        decode(CopyModel(), src[0], valid, BOS, EOS)
    with pytest.raises(ValueError, match=r"src_valid_lens must lie in \[1, S\] = \[1, 4\], got values from 0 to 4"):
        decode(CopyModel(), src, torch.tensor([4, 0, 1]), BOS, EOS)
    with pytest.raises(TypeError, match="src must be an integer tensor, got dtype torch.float32"):
        decode(CopyModel(), src.float(), valid, BOS, EOS)
    with pytest.raises(ValueError, match="eos must be a non-negative int"):
        decode(CopyModel(), src, valid, BOS, -1)


@pytest.mark.parametrize("decode", [greedy_decode, BEAM], ids=["greedy", "beam"])
def test_a_python_list_for_src_is_rejected(decode):
    src, valid = copy_batch()
    with pytest.raises(TypeError, match="src must be a torch.Tensor of integers, got list"):
        decode(CopyModel(), src.tolist(), valid, BOS, EOS)
    with pytest.raises(TypeError, match="src_valid_lens must be a torch.Tensor of integers, got list"):
        decode(CopyModel(), src, valid.tolist(), BOS, EOS)


@pytest.mark.parametrize("decode", [greedy_decode, BEAM], ids=["greedy", "beam"])
@pytest.mark.parametrize("model", ["fake", "real"])
def test_an_empty_batch_is_rejected(decode, model):
    net = CopyModel() if model == "fake" else random_model(attention=True)
    with pytest.raises(ValueError, match=r"src holds no sentence \(B = 0\)"):
        decode(net, torch.zeros(0, 4, dtype=torch.long), torch.zeros(0, dtype=torch.long), BOS, EOS)


@pytest.mark.parametrize("decode", [greedy_decode, BEAM], ids=["greedy", "beam"])
@pytest.mark.parametrize("model", ["fake", "real"])  # a real model says its V; the fake one only through logits
@pytest.mark.parametrize("which", ["bos", "eos"])
def test_bos_and_eos_must_be_target_ids(decode, model, which):
    net = CopyModel() if model == "fake" else random_model(attention=True)
    src, valid = copy_batch()
    ids = {"bos": BOS, "eos": EOS, which: V}  # one past the end: <eos> could never be produced
    with pytest.raises(ValueError, match=rf"{which} must be an id of the target vocabulary, in \[0, V - 1\] = "
                                         rf"\[0, {V - 1}\], got {V}"):
        decode(net, src.clamp(max=14), valid, ids["bos"], ids["eos"], max_len=3)


def test_beam_search_argument_errors():
    src, valid = copy_batch()
    with pytest.raises(ValueError, match="beam_size must be an int >= 1, got 0"):
        beam_search(CopyModel(), src, valid, BOS, EOS, beam_size=0)
    with pytest.raises(ValueError, match="beam_size must be an int >= 1, got 1.5"):
        beam_search(CopyModel(), src, valid, BOS, EOS, beam_size=1.5)
    with pytest.raises(ValueError, match="length_penalty must be a finite number >= 0, got -1"):
        beam_search(CopyModel(), src, valid, BOS, EOS, length_penalty=-1)


class Arrived(Exception):
    """Raised by DeviceProbe once it has seen its inputs."""


class DeviceProbe(nn.Module):
    """A model whose parameters live on the meta device; it records where its inputs arrive."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(3, device="meta"))
        self.seen = []

    def init_state(self, src, src_valid_lens):
        self.seen += [src.device, src_valid_lens.device]
        raise Arrived


@pytest.mark.parametrize("decode", [greedy_decode, BEAM], ids=["greedy", "beam"])
def test_sources_are_moved_to_the_model_device(decode):
    probe, (src, valid) = DeviceProbe(), copy_batch()
    with pytest.raises(Arrived):
        decode(probe, src, valid, BOS, EOS)
    assert probe.seen == [torch.device("meta")] * 2


@pytest.mark.parametrize("beam_size", [1, 2])
def test_translate_builds_its_sources_on_the_model_device(monkeypatch, beam_size):
    seen = []

    def decode(model, src, src_valid_lens, *args):
        seen.extend([src.device, src_valid_lens.device])
        raise Arrived

    monkeypatch.setattr(attn.decode, "greedy_decode" if beam_size == 1 else "beam_search", decode)
    vocab = Vocab([["a", "b"]])
    with pytest.raises(Arrived):
        translate(DeviceProbe(), [["a", "b"]], vocab, vocab, num_steps=4, beam_size=beam_size)
    assert seen == [torch.device("meta")] * 2


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_decoding_a_model_on_any_device_returns_plain_python_and_cpu_attention(device):
    net = random_model(attention=True).to(device)
    src, valid = torch.randint(4, 15, (3, 5)), torch.tensor([5, 2, 3])  # on the CPU, whatever the model's device
    for result in (greedy_decode(net, src, valid, BOS, EOS, max_len=6),
                   beam_search(net, src, valid, BOS, EOS, beam_size=3, max_len=6)):
        assert all(type(t) is int for row in result.tokens for t in row)
        assert all(type(s) is float for s in result.scores)
        assert all(a.device == torch.device("cpu") for a in result.attention)
    vocab = Vocab([[str(i) for i in range(11)]])  # V = 15 ids, as the model's source vocabulary
    outputs, attention = translate(net, [["1", "2"], ["3"]], vocab, vocab, num_steps=5, beam_size=2)
    assert all(isinstance(t, str) for row in outputs for t in row)
    assert all(a.device == torch.device("cpu") for a in attention)
