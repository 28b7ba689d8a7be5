"""Tests of attn.masking: the masked softmax and the mask builders."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attn import leave_one_out_mask, mask_fill_value, masked_softmax, sequence_mask, valid_lens_to_mask


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
    assert mask_fill_value(torch.float16) == torch.finfo(torch.float16).min == -65504.0
    assert mask_fill_value(torch.float32) == torch.finfo(torch.float32).min
    assert torch.isfinite(torch.tensor(mask_fill_value(torch.bfloat16), dtype=torch.bfloat16))
    with pytest.raises(TypeError, match="floating-point"):
        mask_fill_value(torch.int64)
    with pytest.raises(TypeError, match="dtype must be a torch.dtype, got str"):
        mask_fill_value("float16")


# --- Exactness at the edges of the dtype (float16 and bfloat16 included) ---------------------

@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_valid_scores_at_the_dtype_minimum_leave_padding_no_weight(dtype):
    """A finite fill of finfo.min ties with real scores there: padding then took half the weight."""
    low = torch.finfo(dtype).min
    scores = torch.tensor([[[low, 0.0, 3.0], [low, low, 1.0]]], dtype=dtype)  # (1, 2, 3)
    weights = masked_softmax(scores, torch.tensor([1]))  # only key 0 is real
    assert torch.equal(weights, torch.tensor([[[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]], dtype=dtype))
    two = masked_softmax(scores, torch.tensor([2]))
    assert torch.equal(two[0, 1], torch.tensor([0.5, 0.5, 0.0], dtype=dtype))  # a tie among real keys


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_gradients_are_finite_and_zero_where_masked(dtype):
    gen = torch.Generator().manual_seed(0)
    scores = (torch.randn(2, 3, 4, generator=gen) * 3).to(dtype).requires_grad_()
    attn_mask = torch.tensor([[True, True, False, True], [False] * 4, [True, False, False, False]])
    weights = masked_softmax(scores, torch.tensor([[0, 3, 4], [2, 4, 1]]), attn_mask=attn_mask)
    (weights * torch.randn(2, 3, 4, generator=gen).to(dtype)).sum().backward()
    assert torch.isfinite(weights).all() and torch.isfinite(scores.grad).all()
    for b, i in [(0, 0), (0, 1), (1, 1)]:  # rows with no key left: zero weights, zero gradients
        assert torch.equal(weights[b, i], torch.zeros(4, dtype=dtype))
        assert torch.equal(scores.grad[b, i], torch.zeros(4, dtype=dtype))
    assert (scores.grad[1, 0, :2] != 0).all()  # keys 0 and 1 share row (1, 0): they get gradients
    assert torch.equal(scores.grad[1, 0, 2:], torch.zeros(2, dtype=dtype))  # its masked keys do not


def test_gradcheck_with_empty_rows_and_minus_inf_scores():
    scores = torch.randn(2, 3, 4, dtype=torch.float64)
    scores[0, 2, 1] = float("-inf")  # a score of -inf: that key is masked
    scores.requires_grad_()
    attn_mask = torch.tensor([[True, True, False, True], [False] * 4, [True, True, True, False]])
    valid_lens = torch.tensor([[4, 2, 3], [0, 4, 3]])
    assert torch.autograd.gradcheck(lambda s: masked_softmax(s, valid_lens, attn_mask=attn_mask), (scores,))


# --- Equivalence with torch.softmax on -inf-filled rows ---------------------------------------

@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), dtype=st.sampled_from([torch.float32, torch.float64]))
def test_equals_torch_softmax_of_minus_inf_filled_scores(seed, dtype):
    gen = torch.Generator().manual_seed(seed)
    scores = (torch.randn(3, 4, 6, generator=gen) * 5).to(dtype)
    attn_mask = torch.rand(3, 4, 6, generator=gen) < 0.5
    weights = masked_softmax(scores, attn_mask=attn_mask)
    expected = torch.softmax(scores.masked_fill(~attn_mask, float("-inf")), dim=-1)
    rows = attn_mask.any(-1)  # torch gives NaN on the others; we give zeros
    torch.testing.assert_close(weights[rows], expected[rows], atol=0, rtol=1e-6 if dtype == torch.float32 else 1e-12)
    assert torch.equal(weights[~rows], torch.zeros_like(weights[~rows]))
    # Scores that already hold -inf are the same mask given another way.
    torch.testing.assert_close(masked_softmax(scores.masked_fill(~attn_mask, float("-inf"))), weights)


def test_rows_of_minus_inf_scores_are_zeros_not_nan():
    scores = torch.tensor([[[float("-inf")] * 3, [0.0, float("-inf"), 1.0]]])
    weights = masked_softmax(scores)
    assert torch.equal(weights[0, 0], torch.zeros(3))
    torch.testing.assert_close(weights[0, 1], torch.softmax(scores[0, 1], -1))
    assert weights[0, 1, 1] == 0


def test_nan_or_plus_inf_scores_are_rejected_where_a_query_may_attend():
    scores = torch.randn(1, 2, 3)
    scores[0, 0, 2] = float("nan")
    scores[0, 1, 1] = float("inf")
    with pytest.raises(ValueError, match=r"finite \(or -inf\) where a query may attend: got 1 NaN and 1 \+inf"):
        masked_softmax(scores)
    # On masked keys they do no harm: the weights there are exact zeros all the same.
    weights = masked_softmax(scores, attn_mask=torch.tensor([[True, True, False], [True, False, True]]))
    assert torch.isfinite(weights).all() and weights[0, 0, 2] == 0 and weights[0, 1, 1] == 0
    torch.testing.assert_close(weights.sum(-1), torch.ones(1, 2))


@pytest.mark.parametrize("shape, valid_lens", [
    ((0, 3, 4), torch.zeros(0, dtype=torch.long)),  # empty batch
    ((2, 0, 4), torch.tensor([1, 4])),              # no queries
    ((2, 3, 0), torch.tensor([0, 0])),              # no keys: every query gets an empty row
])
def test_empty_dimensions_give_empty_results(shape, valid_lens):
    scores = torch.randn(*shape, requires_grad=True)
    weights = masked_softmax(scores, valid_lens)
    assert weights.shape == shape
    weights.sum().backward()
    assert scores.grad.shape == shape


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
    with pytest.raises(ValueError, match=r"\(3 dimensions\), got shape \(2, 2, 3, 4\)"):
        masked_softmax(torch.randn(2, 2, 3, 4))
    with pytest.raises(TypeError, match="floating-point tensor, got dtype torch.int64"):
        masked_softmax(torch.ones(1, 2, 3, dtype=torch.long))
    with pytest.raises(TypeError, match="floating-point tensor, got dtype torch.bool"):
        masked_softmax(torch.ones(1, 2, 3, dtype=torch.bool))
    with pytest.raises(TypeError, match="scores must be a torch.Tensor, got list"):
        masked_softmax([[[1.0, 2.0]]])


@pytest.mark.parametrize("attn_mask, error, message", [
    (torch.ones(3, 4), TypeError, r"bool tensor \(True = may attend\), got torch.float32"),
    (torch.ones(3, 4, dtype=torch.uint8), TypeError, r"bool tensor .*got torch.uint8"),
    ([[True] * 4] * 3, TypeError, r"bool tensor .*got list"),
    (torch.ones(4, 3, dtype=torch.bool), ValueError, r"\(L, S\) = \(3, 4\) or \(B, L, S\) = \(2, 3, 4\), got \(4, 3\)"),
    (torch.ones(4, dtype=torch.bool), ValueError, r"got \(4,\)"),
    (torch.ones(1, 3, 4, dtype=torch.bool), ValueError, r"got \(1, 3, 4\)"),  # no silent broadcasting
    (torch.ones(2, 1, 3, 4, dtype=torch.bool), ValueError, r"got \(2, 1, 3, 4\)"),
])
def test_bad_attn_mask_errors(attn_mask, error, message):
    with pytest.raises(error, match=message):
        masked_softmax(torch.randn(2, 3, 4), attn_mask=attn_mask)


def test_sequence_mask_errors():
    with pytest.raises(ValueError, match=r"\[0, 3\], got values from 0 to 4"):
        sequence_mask(torch.tensor([0, 4]), 3)
    with pytest.raises(ValueError, match=r"got values from -1 to 0"):
        sequence_mask(torch.tensor([-1, 0]), 3)
    with pytest.raises(TypeError, match="integer tensor, got dtype torch.float32"):
        sequence_mask(torch.tensor([0.5]), 3)
    with pytest.raises(TypeError, match="integer tensor, got dtype torch.bool"):
        sequence_mask(torch.tensor([True]), 3)
    with pytest.raises(TypeError, match="torch.Tensor of integers, got list"):
        sequence_mask([1, 2], 3)
    with pytest.raises(TypeError, match=r"max_len must be an int >= 0, got 3.0 \(float\)"):
        sequence_mask(torch.tensor([1]), 3.0)
    with pytest.raises(TypeError, match=r"max_len must be an int >= 0, got True \(bool\)"):
        sequence_mask(torch.tensor([1]), True)
    with pytest.raises(ValueError, match="max_len must be an int >= 0, got -1"):
        sequence_mask(torch.tensor([0]), -1)


def test_sequence_mask_of_empty_and_zero_length_inputs():
    assert sequence_mask(torch.zeros(0, dtype=torch.long), 3).shape == (0, 3)
    assert sequence_mask(torch.tensor([0, 0]), 0).shape == (2, 0)
    assert sequence_mask(torch.tensor(2), 3).tolist() == [True, True, False]  # a 0-d length


def test_valid_lens_to_mask_errors():
    with pytest.raises(TypeError, match="torch.Tensor of integers, got list"):
        valid_lens_to_mask([1, 2], 3, 4)
    with pytest.raises(ValueError, match="shape \\(B,\\) or \\(B, L\\), got a 0-dimensional tensor"):
        valid_lens_to_mask(torch.tensor(2), 3, 4)
    with pytest.raises(ValueError, match=r"\(B, L\) = \(2, 3\), got \(2, 5\)"):
        valid_lens_to_mask(torch.ones(2, 5, dtype=torch.long), 3, 4)
    with pytest.raises(ValueError, match=r"\(B,\) = \(3,\).*got \(2,\)"):
        valid_lens_to_mask(torch.tensor([1, 2]), 3, 4, batch=3)
    with pytest.raises(TypeError, match=r"num_keys must be an int >= 0, got 4.0 \(float\)"):
        valid_lens_to_mask(torch.tensor([1, 2]), 3, 4.0)
    with pytest.raises(ValueError, match="num_queries must be an int >= 0, got -1"):
        valid_lens_to_mask(torch.tensor([1, 2]), -1, 4)
    with pytest.raises(TypeError, match=r"batch must be an int >= 0, got '2' \(str\)"):
        valid_lens_to_mask(torch.tensor([1, 2]), 3, 4, batch="2")
    assert valid_lens_to_mask(torch.zeros(0, dtype=torch.long), 3, 4).shape == (0, 3, 4)


def test_leave_one_out_mask_errors():
    with pytest.raises(ValueError, match="leave-one-out needs n >= 2 points, got 1"):
        leave_one_out_mask(1)
    with pytest.raises(TypeError, match=r"n must be an int >= 0, got 3.0 \(float\)"):
        leave_one_out_mask(3.0)
    with pytest.raises(TypeError, match=r"n must be an int >= 0, got True \(bool\)"):
        leave_one_out_mask(True)
