"""Tests of attn.sampling: temperature, top-k and top-p filters, seeded draws, generation."""

import math

import pytest
import torch

from attn.gpt import GPT, GPTConfig
from attn.sampling import (apply_temperature, generate, sample_next, top_k_filter,
                           top_p_filter)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def random_logits(batch=4, vocab=30, seed=0):
    return torch.randn(batch, vocab, generator=torch.Generator().manual_seed(seed)) * 3


def test_temperature_divides_the_logits_and_sharpens_or_flattens():
    logits = random_logits()
    torch.testing.assert_close(apply_temperature(logits, 0.5), logits * 2)
    entropy = [torch.distributions.Categorical(logits=apply_temperature(logits, t)).entropy()
               for t in (0.5, 1.0, 2.0)]
    assert torch.all(entropy[0] < entropy[1]) and torch.all(entropy[1] < entropy[2])


def test_temperature_tending_to_zero_equals_greedy():
    logits = random_logits(batch=64)
    greedy = sample_next(logits, temperature=0)
    torch.testing.assert_close(greedy, logits.argmax(-1))
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        assert torch.equal(sample_next(logits, temperature=1e-4, generator=gen), greedy)
    probs = torch.softmax(apply_temperature(logits, 1e-3), -1)
    assert probs.max(-1).values.min() > 0.999  # the distribution itself is one-hot


def test_top_k_keeps_exactly_the_k_largest():
    logits = random_logits()
    for k in (1, 3, 30, 100):
        kept = top_k_filter(logits, k).isfinite()
        assert torch.all(kept.sum(-1) == min(k, 30))
        smallest_kept = logits.masked_fill(~kept, math.inf).min(-1).values
        largest_dropped = logits.masked_fill(kept, -math.inf).max(-1).values
        assert torch.all(smallest_kept > largest_dropped)


def test_top_k_never_samples_outside_the_k_most_probable():
    logits = random_logits(batch=8)
    top3 = logits.topk(3, dim=-1).indices  # (B, 3)
    gen = torch.Generator().manual_seed(1)
    for _ in range(300):
        drawn = sample_next(logits, temperature=2.0, top_k=3, generator=gen)  # flat: all likely
        assert torch.all((top3 == drawn[:, None]).any(-1))


def test_top_p_keeps_the_smallest_set_whose_mass_reaches_p():
    logits = torch.tensor([[0.5, 0.3, 0.15, 0.05]]).log()
    for p, kept in ((0.3, 1), (0.5, 1), (0.7, 2), (0.79, 2), (0.81, 3), (0.96, 4), (1.0, 4)):
        assert int(top_p_filter(logits, p).isfinite().sum()) == kept, p
    logits = random_logits(batch=16, vocab=50)
    for p in (0.1, 0.5, 0.9, 0.99):
        kept = top_p_filter(logits, p).isfinite()
        probs = torch.softmax(logits, -1)
        mass = (probs * kept).sum(-1)
        least = probs.masked_fill(~kept, math.inf).min(-1).values  # the least probable kept
        assert torch.all(mass >= p - 1e-6)  # reaches p ...
        assert torch.all(mass - least < p)  # ... and one token fewer would not
        assert torch.all(kept.gather(1, probs.argmax(-1, keepdim=True)))


def test_top_p_never_samples_outside_the_nucleus():
    logits = torch.tensor([[0.5, 0.3, 0.15, 0.05]]).log().repeat(200, 1)
    drawn = sample_next(logits, top_p=0.7, generator=torch.Generator().manual_seed(2))
    assert set(drawn.tolist()) == {0, 1}


def test_draws_follow_the_distribution():
    probs = torch.tensor([0.6, 0.3, 0.1])
    logits = probs.log().repeat(20_000, 1)
    drawn = sample_next(logits, generator=torch.Generator().manual_seed(3))
    share = torch.bincount(drawn, minlength=3) / 20_000
    torch.testing.assert_close(share, probs, atol=0.015, rtol=0)


def test_a_fixed_seed_reproduces_a_sample():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=17, context_len=20, num_layers=1, num_hiddens=8,
                          num_heads=2))
    with torch.no_grad():
        model.token_embedding.weight.mul_(50)  # a spread-out distribution to sample from
    prompts = [[1, 2], [3]]

    def sample(seed):
        return generate(model, prompts, 12, generator=torch.Generator().manual_seed(seed))

    assert sample(7) == sample(7)
    assert sample(7) != sample(8)
    assert generate(model, prompts, 12, temperature=1e-6) == generate(model, prompts, 12,
                                                                       temperature=0)
