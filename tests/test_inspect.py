"""Tests of attn.inspect: head masks, weight interventions, head scores, attribution, rollout."""

import copy
import math

import pytest
import torch
from torch import nn

from attn.gpt import GPT, GPTConfig
from attn.inspect import (attention_modules, attention_rollout, gradient_times_input,
                          head_mask, head_scores, induction_targets, masked_heads,
                          permuted_weights, previous_token_targets, rank_correlation,
                          replaced_weights, uniform_weights)
from attn.multihead import MultiHeadAttention

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

E, H = 12, 3


def randomize(module: nn.Module, seed: int = 0, scale: float = 0.3) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * scale)


def small_gpt(seed=0) -> GPT:
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=23, context_len=16, num_layers=2, num_hiddens=E,
                          num_heads=H, ffn_hiddens=20)).eval()
    randomize(model, seed)
    return model


def tokens(batch=4, length=9, seed=1, vocab=23):
    return torch.randint(vocab, (batch, length), generator=torch.Generator().manual_seed(seed))


# --- Head masks ------------------------------------------------------------------------------

@pytest.mark.parametrize("layer,head", [(0, 0), (0, 2), (1, 1)])
def test_a_masked_head_equals_the_model_without_its_slice_of_W_o(layer, head):
    model, x = small_gpt(), tokens()
    without = copy.deepcopy(model)
    D = E // H
    with torch.no_grad():
        without.blocks[layer].attention.W_o.weight[:, head * D:(head + 1) * D] = 0.0
    with masked_heads(attention_modules(model), head_mask(2, H, [(layer, head)])):
        masked = model(x)
    torch.testing.assert_close(masked, without(x))
    assert (masked - model(x)).abs().max() > 1e-3  # the head mattered, and the hook is gone


def test_masks_apply_on_the_cached_path_and_to_every_head_at_once():
    model, x = small_gpt(), tokens()
    with masked_heads(attention_modules(model), torch.zeros(2, H)):
        cache = model.new_cache()
        stepwise = torch.cat([model(x[:, :5], cache=cache), model(x[:, 5:], cache=cache)], 1)
        full = model(x)
    torch.testing.assert_close(stepwise, full)
    no_attention = copy.deepcopy(model)
    with torch.no_grad():
        for block in no_attention.blocks:
            block.attention.W_o.weight.zero_()
    torch.testing.assert_close(full, no_attention(x))


def test_a_mask_of_ones_changes_nothing_and_a_half_halves_the_head():
    model, x = small_gpt(), tokens()
    modules = attention_modules(model)
    assert modules == [b.attention for b in model.blocks]
    with masked_heads(modules, torch.ones(2, H)):
        torch.testing.assert_close(model(x), model(x))
    halved = copy.deepcopy(model)
    with torch.no_grad():
        halved.blocks[1].attention.W_o.weight[:, :E // H] *= 0.5
    gates = torch.ones(2, H)
    gates[1, 0] = 0.5
    with masked_heads(modules, gates):
        torch.testing.assert_close(model(x), halved(x))


def test_bad_masks_raise():
    model = small_gpt()
    with pytest.raises(ValueError, match=r"no head \(1, 3\): layers are 0..1 and heads 0..2"):
        head_mask(2, H, [(1, 3)])
    with pytest.raises(ValueError, match=r"no head \(-1, 0\)"):
        head_mask(2, H, [(-1, 0)])
    with pytest.raises(ValueError, match=r"mask must have shape \(N, H\) = \(2, 3\), got \(2, 4\)"):
        with masked_heads(attention_modules(model), torch.ones(2, 4)):
            pass
    with pytest.raises(TypeError, match="MultiHeadAttention"):
        with masked_heads([nn.Linear(2, 2)], torch.ones(1, 1)):
            pass
    with pytest.raises(ValueError, match="holds no attn.MultiHeadAttention"):
        attention_modules(nn.Linear(2, 2))


# --- Replacing the weights --------------------------------------------------------------------

def test_the_identity_transform_changes_nothing_and_returns_the_weights():
    model, x = small_gpt(), tokens()
    logits, weights = model(x, need_weights=True)
    with replaced_weights(model.blocks[0].attention, lambda w, allowed: w):
        again, weights_again = model(x, need_weights=True)
        torch.testing.assert_close(model(x), logits)  # the fused path too
    torch.testing.assert_close(again, logits)
    torch.testing.assert_close(weights_again[0], weights[0])


def test_uniform_weights_make_the_layer_a_running_average():
    mha = MultiHeadAttention(E, H)
    randomize(mha)
    x = torch.randn(2, 6, E)
    with replaced_weights(mha, uniform_weights):
        out, w = mha(x, x, x, is_causal=True, need_weights=True)
    average = torch.ones(6, 6).tril()
    average = average / average.sum(dim=1, keepdim=True)  # row t: 1 / (t + 1) on keys 0..t
    torch.testing.assert_close(w, average.expand(2, H, 6, 6))
    values = mha.W_v(x)  # the heads' values, concatenated: averaging commutes with the split
    torch.testing.assert_close(out, mha.W_o(average @ values))


def test_uniform_weights_respect_valid_lens_and_masks():
    weights = torch.softmax(torch.randn(2, H, 4, 5), dim=-1)
    allowed = torch.ones(2, 1, 4, 5, dtype=torch.bool)
    allowed[0, :, :, 3:] = False
    even = uniform_weights(weights, allowed)
    torch.testing.assert_close(even[0, :, :, :3], torch.full((H, 4, 3), 1 / 3))
    assert (even[0, :, :, 3:] == 0).all()
    torch.testing.assert_close(uniform_weights(weights, None), torch.full_like(weights, 0.2))
    mha = MultiHeadAttention(E, H)
    x = torch.randn(2, 4, E)
    with replaced_weights(mha, uniform_weights):
        _, w = mha(x, x, x, valid_lens=torch.tensor([2, 4]), need_weights=True)
    torch.testing.assert_close(w[0, :, :, :2], torch.full((H, 4, 2), 0.5))
    assert (w[0, :, :, 2:] == 0).all()


def test_permuted_weights_shuffle_each_row_within_its_allowed_keys():
    gen = torch.Generator().manual_seed(0)
    allowed = torch.ones(7, 7, dtype=torch.bool).tril()[None, None]  # (1, 1, L, S)
    weights = torch.softmax(torch.randn(3, 2, 7, 7).masked_fill(~allowed, -math.inf), dim=-1)
    shuffled = permuted_weights(weights, allowed, gen)
    assert (shuffled.masked_select(~allowed.expand_as(weights)) == 0).all()
    torch.testing.assert_close(shuffled.sort(dim=-1).values, weights.sort(dim=-1).values)
    assert not torch.equal(shuffled, weights)
    assert torch.equal(permuted_weights(weights, allowed, torch.Generator().manual_seed(0)),
                       shuffled)  # the generator decides


def test_replaced_weights_refuses_another_module():
    with pytest.raises(TypeError, match="attn.MultiHeadAttention, got Linear"):
        with replaced_weights(nn.Linear(2, 2), uniform_weights):
            pass


# --- Head scores ------------------------------------------------------------------------------

def test_previous_token_head_scores_one_and_uniform_heads_their_share():
    L = 6
    prev = torch.zeros(L, L)
    prev[0, 0] = 1.0
    prev[torch.arange(1, L), torch.arange(L - 1)] = 1.0  # a previous-token head
    even = torch.ones(L, L).tril()
    even = even / even.sum(dim=1, keepdim=True)
    weights = torch.stack([prev, even])[None, None].expand(2, 1, 2, L, L)  # (B, N, H, L, L)
    targets, scored = previous_token_targets(torch.tensor([L, 4]), L)
    assert scored.tolist()[1] == [False, True, True, True, False, False]
    scores = head_scores(weights, targets, scored)
    expected = torch.tensor([1 / t for t in range(2, L + 1)] + [1 / t for t in range(2, 5)])
    torch.testing.assert_close(scores, torch.tensor([[1.0, expected.mean().item()]]))
    torch.testing.assert_close(head_scores(weights, targets, scored, reduce="top"),
                               torch.tensor([[1.0, 0.25]]))  # ties go to the first key:
    # of the 8 scored queries only the two at t = 1 have their previous token (key 0) first


def test_induction_targets_point_after_the_last_earlier_occurrence():
    x = torch.tensor([[5, 1, 2, 5, 1, 5]])
    targets, scored = induction_targets(x)
    assert scored.tolist() == [[False, False, False, True, True, True]]
    assert targets[scored].tolist() == [1, 2, 4]


def test_a_hand_built_induction_head_scores_one():
    """Keys carry the previous token (what a previous-token head writes), queries the current
    one: the head attends to the position after the earlier copy of the current token."""
    gen = torch.Generator().manual_seed(0)
    half, vocab = 8, 40
    first = torch.stack([torch.randperm(vocab, generator=gen)[:half] for _ in range(5)])
    x = torch.cat([first, first], dim=1)  # (B, L), no repeats inside a half
    onehot = torch.nn.functional.one_hot(x, vocab).float()  # (B, L, V)
    keys = torch.cat([torch.zeros(5, 1, vocab), onehot[:, :-1]], dim=1)  # previous token
    scores = 30.0 * onehot @ keys.transpose(1, 2)  # (B, L, L)
    scores = scores.masked_fill(~torch.ones(2 * half, 2 * half, dtype=torch.bool).tril(),
                                -math.inf)
    weights = torch.softmax(scores, dim=-1)[:, None, None]  # (B, 1, 1, L, L)
    targets, scored = induction_targets(x)
    assert scored[:, half:].all() and not scored[:, :half].any()
    assert head_scores(weights, targets, scored, reduce="top").item() == 1.0
    assert head_scores(weights, targets, scored).item() == pytest.approx(1.0, abs=1e-9)
    prev_targets, prev_scored = previous_token_targets(torch.full((5,), 2 * half), 2 * half)
    prev_scored[:, :half] = False  # in the first half the head spreads: nothing matches
    assert head_scores(weights, prev_targets, prev_scored).item() < 1e-9


def test_head_scores_refuse_bad_input():
    w = torch.rand(2, 1, 1, 3, 3)
    t, s = previous_token_targets(torch.tensor([3, 3]), 3)
    with pytest.raises(ValueError, match=r"weights must have shape \(B, N, H, L, S\)"):
        head_scores(w[0], t, s)
    with pytest.raises(ValueError, match=r"shape \(B, L\) = \(2, 3\), got \(2, 4\)"):
        head_scores(w, torch.zeros(2, 4, dtype=torch.long), s)
    with pytest.raises(ValueError, match=r"targets of scored queries must lie in \[0, 2\]"):
        head_scores(w, t + 5, s)
    with pytest.raises(ValueError, match="at least one True"):
        head_scores(w, t, torch.zeros(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="reduce must be 'mean' or 'top'"):
        head_scores(w, t, s, reduce="max")


# --- Attribution and rollout ------------------------------------------------------------------

def test_gradient_times_input_of_a_linear_model_is_each_tokens_share():
    """score = sum_i e(x_i) . w: gradient times input gives e(x_i) . w, which sums to it."""
    torch.manual_seed(0)
    embedding, readout = nn.Embedding(11, 5), nn.Linear(5, 1, bias=False)
    model = nn.Sequential(embedding, readout)
    x = tokens(3, 7, vocab=11)
    got = gradient_times_input(model, x, embedding, lambda out: out.sum(dim=(1, 2)))
    closed_form = (embedding.weight[x] @ readout.weight[0]).detach()  # (B, L)
    torch.testing.assert_close(got, closed_form)
    torch.testing.assert_close(got.sum(dim=1), model(x).sum(dim=(1, 2)).detach())
    assert embedding.weight.grad is None and readout.weight.grad is None  # no side effects


def test_gradient_times_input_on_a_gpt_is_zero_after_the_scored_position():
    model, x = small_gpt(), tokens()
    rows = torch.arange(x.shape[0])
    got = gradient_times_input(model, x, model.token_embedding,
                               lambda logits: logits[rows, 4, x[:, 5]])
    assert got.shape == x.shape
    assert (got[:, 5:] == 0).all() and (got[:, :5] != 0).all()  # causal
    with pytest.raises(ValueError, match=r"one number per row, shape \(B,\) = \(4,\)"):
        gradient_times_input(model, x, model.token_embedding, lambda logits: logits[:, 4, 0:2])


def test_rollout_of_one_layer_is_its_definition():
    weights = torch.softmax(torch.randn(1, H, 5, 5), dim=-1)  # (N = 1, H, L, L)
    expected = 0.5 * torch.eye(5) + 0.5 * weights[0].mean(dim=0)
    torch.testing.assert_close(attention_rollout(weights), expected)
    torch.testing.assert_close(attention_rollout(weights, residual=0.0), weights[0].mean(dim=0))
    torch.testing.assert_close(attention_rollout(weights[None].expand(2, -1, -1, -1, -1)),
                               expected.expand(2, 5, 5))


def test_rollout_multiplies_the_layers_from_the_top():
    weights = torch.softmax(torch.randn(3, H, 5, 5), dim=-1)
    a = [0.5 * torch.eye(5) + 0.5 * weights[n].mean(dim=0) for n in range(3)]
    rollout = attention_rollout(weights)
    torch.testing.assert_close(rollout, a[2] @ a[1] @ a[0])
    torch.testing.assert_close(rollout.sum(dim=-1), torch.ones(5))
    with pytest.raises(ValueError, match=r"self-attention weights .* got \(2, 3, 4, 5\)"):
        attention_rollout(torch.rand(2, 3, 4, 5))
    with pytest.raises(ValueError, match=r"residual must lie in \[0, 1\]"):
        attention_rollout(weights, residual=1.5)


def test_rank_correlation_matches_scipy_with_ties():
    stats = pytest.importorskip("scipy.stats")
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        x = torch.randint(0, 5, (12,), generator=gen).double()  # many ties
        y = torch.randn(12, generator=gen, dtype=torch.float64)
        assert rank_correlation(x, y) == pytest.approx(stats.spearmanr(x, y).statistic)
    assert rank_correlation(torch.tensor([1.0, 2, 3]), torch.tensor([10.0, 20, 90])) \
        == pytest.approx(1.0)
    assert rank_correlation(torch.tensor([1.0, 2, 3]), torch.tensor([3.0, 1, 0])) \
        == pytest.approx(-1.0)
    assert math.isnan(rank_correlation(torch.ones(3), torch.tensor([1.0, 2, 3])))
    with pytest.raises(ValueError, match=r"vectors of one length n >= 2, got \(3,\) and \(4,\)"):
        rank_correlation(torch.ones(3), torch.ones(4))
