"""Tests of attn.induction: the attention-only model and the repeated random sequences."""

import pytest
import torch

from attn.induction import AttentionOnly, repeated_tokens
from attn.inspect import attention_modules

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_attention_only_model_is_causal_and_returns_its_weights():
    torch.manual_seed(0)
    model = AttentionOnly(vocab_size=10, context_len=8, num_hiddens=8, num_heads=2).eval()
    x = torch.randint(10, (2, 8), generator=torch.Generator().manual_seed(0))
    logits, weights = model(x, need_weights=True)
    torch.testing.assert_close(model(x), logits)  # the fused path gives the same logits
    changed = x.clone()
    changed[:, 5] = (changed[:, 5] + 1) % 10
    after = model(changed)
    torch.testing.assert_close(after[:, :5], logits[:, :5])  # nothing before position 5 moves
    assert (after[:, 5:] - logits[:, 5:]).abs().amax() > 1e-3
    assert len(weights) == 2 and weights[0].shape == (2, 2, 8, 8)
    assert (weights[1].triu(diagonal=1) == 0).all()
    assert attention_modules(model) == list(model.layers)
    assert not any(isinstance(m, torch.nn.Linear) and m.out_features > 8
                   for m in model.modules() if m is not model.head)  # no FFN


def test_attention_only_model_refuses_bad_tokens():
    model = AttentionOnly(vocab_size=10, context_len=8, num_hiddens=8, num_heads=2)
    with pytest.raises(ValueError, match=r"1 <= L <= 8, got \(1, 9\)"):
        model(torch.zeros(1, 9, dtype=torch.long))
    with pytest.raises(ValueError, match="num_layers"):
        AttentionOnly(vocab_size=10, context_len=8, num_layers=0)


def test_repeated_tokens_repeat_a_segment_of_distinct_tokens():
    x = repeated_tokens(50, 20, 30, (3, 9), torch.Generator().manual_seed(0))
    assert x.shape == (50, 20) and x.dtype == torch.long and 0 <= x.min() and x.max() < 30
    periods = set()
    for row in x.tolist():
        period = next(m for m in range(3, 10) if row[m:] == row[:-m])
        assert len(set(row[:period])) == period  # distinct within the segment
        periods.add(period)
    assert len(periods) > 3  # the period varies from row to row
    again = repeated_tokens(50, 20, 30, (3, 9), torch.Generator().manual_seed(0))
    assert torch.equal(x, again)
    fixed = repeated_tokens(4, 10, 30, (5, 5))
    assert torch.equal(fixed[:, :5], fixed[:, 5:])
    with pytest.raises(ValueError, match=r"periods must be a pair .* got \(0, 4\)"):
        repeated_tokens(5, 10, 20, (0, 4))
    with pytest.raises(ValueError, match=r"min\(length, vocab_size\) = 8"):
        repeated_tokens(5, 8, 20, (4, 9))
    with pytest.raises(ValueError, match="length"):
        repeated_tokens(5, 0, 20, (1, 1))
