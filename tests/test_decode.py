"""Tests of attn.decode: greedy decoding and beam search."""

from dataclasses import dataclass

import pytest
import torch
from torch import nn

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


@pytest.mark.parametrize("decode", [greedy_decode, lambda *a, **k: beam_search(*a, beam_size=3, **k)])
def test_a_model_forced_to_copy_is_copied(decode):
    src, valid = copy_batch()
    result = decode(CopyModel(), src, valid, BOS, EOS, max_len=10)
    assert result.tokens == [[5, 6, 7, 8], [9, 4], [11]]
    assert [a.shape for a in result.attention] == [(5, 4), (3, 4), (2, 4)]  # one row per token and <eos>
    assert torch.equal(result.attention[1][:2], torch.eye(4)[:2])


def test_max_len_cuts_outputs_without_eos():
    src, valid = copy_batch()
    for result in (greedy_decode(CopyModel(), src, valid, BOS, EOS, max_len=2),
                   beam_search(CopyModel(), src, valid, BOS, EOS, beam_size=2, max_len=2)):
        assert result.tokens == [[5, 6], [9, 4], [11]]


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


def test_decode_errors():
    src, valid = copy_batch()
    with pytest.raises(ValueError, match="beam_size must be >= 1, got 0"):
        beam_search(CopyModel(), src, valid, BOS, EOS, beam_size=0)
    with pytest.raises(ValueError, match="max_len must be >= 1, got 0"):
        greedy_decode(CopyModel(), src, valid, BOS, EOS, max_len=0)
    with pytest.raises(ValueError, match=r"src_valid_lens must have shape \(B,\) = \(3,\), got \(2,\)"):
        greedy_decode(CopyModel(), src, valid[:2], BOS, EOS)
    with pytest.raises(ValueError, match=r"src must have shape \(B, S\), got shape \(4,\)"):
        greedy_decode(CopyModel(), src[0], valid, BOS, EOS)
