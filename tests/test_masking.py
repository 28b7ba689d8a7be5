"""Tests of attn.masking: the masked softmax and the mask builders."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attn import mask_fill_value, masked_softmax, sequence_mask, valid_lens_to_mask


def reference_masked_softmax(scores, valid_lens):
    """Hand-built: a boolean mask, -inf on masked keys, plain torch.softmax."""
    batch, num_queries, num_keys = scores.shape
    if valid_lens.dim() == 1:
        valid_lens = valid_lens[:, None].expand(batch, num_queries)
    mask = torch.zeros(batch, num_queries, num_keys, dtype=torch.bool)
    for b in range(batch):
        for i in range(num_queries):
            mask[b, i, : valid_lens[b, i]] = True
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1), mask


@st.composite
def scores_and_lens(draw):
    batch = draw(st.integers(1, 4))
    num_queries = draw(st.integers(1, 5))
    num_keys = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**16))
    gen = torch.Generator().manual_seed(seed)
    scores = torch.randn(batch, num_queries, num_keys, generator=gen) * draw(st.sampled_from([0.1, 1.0, 10.0]))
    two_d = draw(st.booleans())
    shape = (batch, num_queries) if two_d else (batch,)
    valid_lens = torch.randint(1, num_keys + 1, shape, generator=gen)  # at least one valid key
    return scores, valid_lens


@settings(max_examples=60, deadline=None)
@given(scores_and_lens())
def test_matches_hand_built_masked_softmax(case):
    scores, valid_lens = case
    expected, mask = reference_masked_softmax(scores, valid_lens)
    weights = masked_softmax(scores, valid_lens)
    torch.testing.assert_close(weights, expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(scores.shape[:2]), atol=1e-6, rtol=0)
    assert (weights[~mask] == 0).all()  # exact zeros, not tiny numbers
    assert (weights >= 0).all()


def test_no_valid_lens_is_plain_softmax():
    scores = torch.randn(2, 3, 5)
    torch.testing.assert_close(masked_softmax(scores), torch.softmax(scores, -1))


def test_input_is_not_modified():
    scores = torch.randn(2, 3, 4)
    copy = scores.clone()
    masked_softmax(scores, torch.tensor([1, 2]))
    assert torch.equal(scores, copy)


def test_all_masked_row_is_zero_not_nan():
    scores = torch.randn(2, 3, 4)
    weights = masked_softmax(scores, torch.tensor([[0, 2, 4], [3, 0, 1]]))
    assert not torch.isnan(weights).any()
    assert torch.equal(weights[0, 0], torch.zeros(4))
    assert torch.equal(weights[1, 1], torch.zeros(4))
    torch.testing.assert_close(weights[0, 1].sum(), torch.tensor(1.0))


def test_all_masked_row_has_finite_gradients():
    scores = torch.randn(1, 2, 3, requires_grad=True)
    masked_softmax(scores, torch.tensor([[0, 2]])).sum().backward()
    assert torch.isfinite(scores.grad).all()
    assert torch.equal(scores.grad[0, 0], torch.zeros(3))


def test_stable_for_huge_scores():
    scores = torch.tensor([[[1e4, 1e4 - 1.0, -1e4, 3e4]]])
    weights = masked_softmax(scores, torch.tensor([3]))
    assert torch.isfinite(weights).all()
    e = torch.exp(torch.tensor(-1.0))
    torch.testing.assert_close(weights[0, 0], torch.tensor([1 / (1 + e), e / (1 + e), 0.0, 0.0]))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_low_and_high_precision_dtypes(dtype):
    scores = torch.randn(2, 2, 5).to(dtype)
    weights = masked_softmax(scores, torch.tensor([2, 0]))
    assert weights.dtype == dtype
    assert torch.isfinite(weights).all()
    assert (weights[0, :, 2:] == 0).all() and (weights[1] == 0).all()
    torch.testing.assert_close(weights[0].sum(-1).float(), torch.ones(2), atol=1e-2, rtol=0)


def test_mask_fill_value_is_finite_minimum():
    assert mask_fill_value(torch.float16) == torch.finfo(torch.float16).min
    assert mask_fill_value(torch.float32) == torch.finfo(torch.float32).min
    with pytest.raises(TypeError, match="floating-point"):
        mask_fill_value(torch.int64)


def test_attn_mask_and_valid_lens_combine():
    scores = torch.randn(2, 3, 3)
    causal = torch.ones(3, 3, dtype=torch.bool).tril()
    weights = masked_softmax(scores, torch.tensor([2, 3]), attn_mask=causal)
    # example 0: key 2 is padding and keys above the diagonal are hidden
    expected_mask = causal.expand(2, 3, 3).clone()
    expected_mask[0, :, 2] = False
    assert (weights[~expected_mask] == 0).all()
    assert torch.equal(weights[0, 2, :2] > 0, torch.tensor([True, True]))


def test_sequence_mask():
    mask = sequence_mask(torch.tensor([1, 3, 0]), 4)
    assert mask.tolist() == [
        [True, False, False, False],
        [True, True, True, False],
        [False, False, False, False],
    ]
    assert sequence_mask(torch.tensor([[1, 2]]), 2).shape == (1, 2, 2)


def test_valid_lens_to_mask_shapes():
    assert valid_lens_to_mask(None, 3, 4) is None
    mask = valid_lens_to_mask(torch.tensor([1, 4]), 3, 4)
    assert mask.shape == (2, 3, 4)
    assert mask[0].sum() == 3 and mask[1].all()


@pytest.mark.parametrize(
    "valid_lens, error, message",
    [
        (torch.tensor([1.0, 2.0]), TypeError, r"integer tensor, got dtype torch.float32"),
        (torch.tensor([True, False]), TypeError, r"integer tensor, got dtype torch.bool"),
        ([1, 2], TypeError, r"torch.Tensor of integers, got list"),
        (torch.tensor([1, 2, 3]), ValueError, r"shape \(B,\) = \(2,\) or \(B, L\) = \(2, 3\), got \(3,\)"),
        (torch.tensor([[1, 2], [1, 2]]), ValueError, r"got \(2, 2\)"),
        (torch.tensor([1, 5]), ValueError, r"\[0, S\] = \[0, 4\], got values from 1 to 5"),
        (torch.tensor([-1, 2]), ValueError, r"got values from -1 to 2"),
    ],
)
def test_bad_valid_lens_errors(valid_lens, error, message):
    with pytest.raises(error, match=message):
        masked_softmax(torch.randn(2, 3, 4), valid_lens)


def test_bad_scores_errors():
    with pytest.raises(ValueError, match=r"\(B, L, S\) \(3 dimensions\), got shape \(3, 4\)"):
        masked_softmax(torch.randn(3, 4))
    with pytest.raises(TypeError, match="floating-point"):
        masked_softmax(torch.ones(1, 2, 3, dtype=torch.long))
    with pytest.raises(TypeError, match="torch.Tensor"):
        masked_softmax([[[1.0, 2.0]]])


def test_bad_attn_mask_errors():
    scores = torch.randn(2, 3, 4)
    with pytest.raises(TypeError, match="bool tensor"):
        masked_softmax(scores, attn_mask=torch.ones(3, 4))
    with pytest.raises(ValueError, match=r"\(L, S\) = \(3, 4\).*got \(4, 3\)"):
        masked_softmax(scores, attn_mask=torch.ones(4, 3, dtype=torch.bool))


def test_sequence_mask_errors():
    with pytest.raises(ValueError, match=r"\[0, 3\], got values from 0 to 4"):
        sequence_mask(torch.tensor([0, 4]), 3)
    with pytest.raises(TypeError, match="integer tensor"):
        sequence_mask(torch.tensor([0.5]), 3)
