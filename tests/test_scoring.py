"""Tests of attn.scoring: dot-product, additive and multiplicative attention."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from attn import (AdditiveAttention, DotProductAttention, MultiplicativeAttention, masked_softmax,
                  valid_lens_to_mask)
from attn.scoring import check_qkv


# ---------------------------------------------------------------------------
# Random inputs
# ---------------------------------------------------------------------------

@st.composite
def attention_case(draw, min_valid=1, same_qk_size=True):
    """Random (queries, keys, values, valid_lens) with valid_lens of shape (B,) or (B, L)."""
    batch = draw(st.integers(1, 4))
    num_queries = draw(st.integers(1, 5))
    num_keys = draw(st.integers(1, 7))
    query_size = draw(st.integers(1, 9))
    key_size = query_size if same_qk_size else draw(st.integers(1, 9))
    value_size = draw(st.integers(1, 6))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    queries = torch.randn(batch, num_queries, query_size, generator=gen)
    keys = torch.randn(batch, num_keys, key_size, generator=gen)
    values = torch.randn(batch, num_keys, value_size, generator=gen)
    shape = (batch, num_queries) if draw(st.booleans()) else (batch,)
    valid_lens = torch.randint(min_valid, num_keys + 1, shape, generator=gen)
    return queries, keys, values, valid_lens


def make_module(kind, query_size, key_size, seed=0):
    torch.manual_seed(seed)
    if kind == "dot":
        return DotProductAttention()
    if kind == "dot-unscaled":
        return DotProductAttention(scaled=False)
    if kind == "additive":
        return AdditiveAttention(key_size=key_size, query_size=query_size, num_hiddens=5)
    if kind == "multiplicative":
        return MultiplicativeAttention(query_size=query_size, key_size=key_size)
    raise AssertionError(kind)


KINDS = ["dot", "dot-unscaled", "additive", "multiplicative"]


# ---------------------------------------------------------------------------
# Equivalence with PyTorch and with hand computations
# ---------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(attention_case())
def test_dot_product_equals_torch_sdpa(case):
    queries, keys, values, valid_lens = case
    batch, num_queries, _ = queries.shape
    mask = valid_lens_to_mask(valid_lens, num_queries, keys.shape[1])  # (B, L, S), True = may attend
    expected = F.scaled_dot_product_attention(queries, keys, values, attn_mask=mask)
    output, weights = DotProductAttention()(queries, keys, values, valid_lens, need_weights=True)
    torch.testing.assert_close(output, expected, atol=1e-6, rtol=0)
    # The weights are those SDPA uses internally: softmax of the scaled, masked scores.
    scores = queries @ keys.transpose(1, 2) / math.sqrt(queries.shape[-1])
    expected_weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    torch.testing.assert_close(weights, expected_weights, atol=1e-6, rtol=0)


@settings(max_examples=30, deadline=None)
@given(attention_case(min_valid=0), st.integers(0, 2**16), st.sampled_from([torch.float32, torch.float64]))
def test_dot_product_with_boolean_attn_mask_equals_sdpa(case, seed, dtype):
    """Random masks, fully masked rows included (both give those the zero vector), and valid_lens on top."""
    queries, keys, values, valid_lens = (t.to(dtype) if t.is_floating_point() else t for t in case)
    batch, num_queries, _ = queries.shape
    num_keys = keys.shape[1]
    gen = torch.Generator().manual_seed(seed)
    mask = torch.rand(batch, num_queries, num_keys, generator=gen) < 0.6
    atol = 1e-6 if dtype == torch.float32 else 1e-12
    expected = F.scaled_dot_product_attention(queries, keys, values, attn_mask=mask)
    output = DotProductAttention()(queries, keys, values, attn_mask=mask)
    torch.testing.assert_close(output, expected, atol=atol, rtol=0)
    both = mask & valid_lens_to_mask(valid_lens, num_queries, num_keys)  # (B, L, S)
    expected = F.scaled_dot_product_attention(queries, keys, values, attn_mask=both)
    output = DotProductAttention()(queries, keys, values, valid_lens, attn_mask=mask)
    torch.testing.assert_close(output, expected, atol=atol, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_unscaled_dot_product_equals_sdpa_with_scale_one(dtype):
    gen = torch.Generator().manual_seed(3)
    queries, keys, values = (torch.randn(2, n, 5, generator=gen, dtype=dtype) for n in (3, 4, 4))
    valid_lens = torch.tensor([[1, 4, 2], [3, 3, 4]])
    expected = F.scaled_dot_product_attention(queries, keys, values, scale=1.0,
                                              attn_mask=valid_lens_to_mask(valid_lens, 3, 4))
    output = DotProductAttention(scaled=False)(queries, keys, values, valid_lens)
    torch.testing.assert_close(output, expected, atol=1e-6 if dtype == torch.float32 else 1e-12, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_query_with_no_key_is_zero_in_ours_and_in_sdpa_with_zero_gradients(dtype):
    """Pins down the all-masked row: our zero vector, and SDPA's on torch 2.13 (which once gave NaN)."""
    gen = torch.Generator().manual_seed(4)
    inputs = [torch.randn(2, n, 4, generator=gen, dtype=dtype) for n in (3, 5, 5)]
    valid_lens = torch.tensor([[0, 2, 5], [3, 0, 1]])  # queries (0, 0) and (1, 1) see no key
    mask = valid_lens_to_mask(valid_lens, 3, 5)
    ours_in = [t.clone().requires_grad_() for t in inputs]
    sdpa_in = [t.clone().requires_grad_() for t in inputs]
    ours, weights = DotProductAttention()(*ours_in, valid_lens, need_weights=True)
    sdpa = F.scaled_dot_product_attention(*sdpa_in, attn_mask=mask)
    zero = torch.zeros(4, dtype=dtype)
    for b, i in [(0, 0), (1, 1)]:
        assert torch.equal(ours[b, i], zero) and torch.equal(sdpa[b, i], zero)
        assert torch.equal(weights[b, i], torch.zeros(5, dtype=dtype))
    torch.testing.assert_close(ours, sdpa)
    upstream = torch.randn(2, 3, 4, generator=gen, dtype=dtype)
    (ours * upstream).sum().backward()
    (sdpa * upstream).sum().backward()
    for a, b in zip(ours_in, sdpa_in):
        assert torch.isfinite(a.grad).all()
        torch.testing.assert_close(a.grad, b.grad)
    assert torch.equal(ours_in[0].grad[0, 0], zero)  # the query that sees nothing gets no gradient


def reference_attention(score, queries, keys, values, valid_lens):
    """Loop-by-loop attention: score(q, k) -> scalar, softmax over the valid keys, weighted values."""
    batch, num_queries, _ = queries.shape
    lens = valid_lens if valid_lens.dim() == 2 else valid_lens[:, None].expand(batch, num_queries)
    expected = torch.zeros(batch, num_queries, values.shape[-1])
    for b in range(batch):
        for i in range(num_queries):
            n = int(lens[b, i])
            scores = torch.stack([score(queries[b, i], keys[b, j]) for j in range(n)])
            expected[b, i] = torch.softmax(scores, dim=0) @ values[b, :n]
    return expected


@settings(max_examples=40, deadline=None)
@given(attention_case())
def test_unscaled_dot_product_equals_hand_computation(case):
    queries, keys, values, valid_lens = case
    expected = reference_attention(lambda q, k: q @ k, queries, keys, values, valid_lens)  # no 1/sqrt(D)
    output = DotProductAttention(scaled=False)(queries, keys, values, valid_lens)
    torch.testing.assert_close(output, expected, atol=1e-5, rtol=1e-5)


@settings(max_examples=30, deadline=None)
@given(attention_case(same_qk_size=False))
def test_additive_equals_hand_computation(case):
    queries, keys, values, valid_lens = case
    query_size = queries.shape[-1]
    module = make_module("additive", query_size, keys.shape[-1])
    W_q, W_k, w_v = module.W_q.weight, module.W_k.weight, module.w_v.weight[0]  # (h, q), (h, k), (h,)
    expected = reference_attention(lambda q, k: w_v @ torch.tanh(W_q @ q + W_k @ k), queries, keys, values, valid_lens)
    with torch.no_grad():
        output = module(queries, keys, values, valid_lens)
    torch.testing.assert_close(output, expected, atol=1e-5, rtol=1e-5)


@settings(max_examples=30, deadline=None)
@given(attention_case(same_qk_size=False))
def test_multiplicative_equals_hand_computation(case):
    queries, keys, values, valid_lens = case
    query_size = queries.shape[-1]
    module = make_module("multiplicative", query_size, keys.shape[-1])
    W = module.W.weight  # (query_size, key_size)
    expected = reference_attention(lambda q, k: q @ W @ k, queries, keys, values, valid_lens)  # q^T W k
    with torch.no_grad():
        output = module(queries, keys, values, valid_lens)
    torch.testing.assert_close(output, expected, atol=1e-5, rtol=1e-5)


def test_multiplicative_with_identity_is_unscaled_dot_product():
    queries, keys, values = torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 6)
    valid_lens = torch.tensor([2, 5])
    module = MultiplicativeAttention(query_size=4, key_size=4)
    with torch.no_grad():
        module.W.weight.copy_(torch.eye(4))
        output = module(queries, keys, values, valid_lens)
    expected = DotProductAttention(scaled=False)(queries, keys, values, valid_lens)
    torch.testing.assert_close(output, expected)
    scaled = DotProductAttention(scaled=True)(queries, keys, values, valid_lens)
    assert not torch.allclose(output, scaled)  # the identity W does not scale


# ---------------------------------------------------------------------------
# Gradients (float64)
# ---------------------------------------------------------------------------

def test_gradcheck_masked_softmax():
    scores = torch.randn(2, 3, 5, dtype=torch.float64, requires_grad=True)
    for valid_lens in (torch.tensor([2, 5]), torch.tensor([[1, 3, 5], [0, 2, 4]])):
        assert torch.autograd.gradcheck(lambda s: masked_softmax(s, valid_lens), (scores,))


@pytest.mark.parametrize("valid_lens", [None, torch.tensor([3, 1]), torch.tensor([[1, 4, 2], [4, 0, 3]])])
def test_gradcheck_dot_product(valid_lens):
    queries = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    keys = torch.randn(2, 4, 4, dtype=torch.float64, requires_grad=True)
    values = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    for scaled in (True, False):
        module = DotProductAttention(scaled=scaled)
        assert torch.autograd.gradcheck(lambda q, k, v: module(q, k, v, valid_lens), (queries, keys, values))


@pytest.mark.parametrize("kind", ["additive", "multiplicative"])
def test_gradcheck_parametric_scores(kind):
    queries = torch.randn(2, 3, 5, dtype=torch.float64, requires_grad=True)
    keys = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    values = torch.randn(2, 4, 2, dtype=torch.float64, requires_grad=True)
    valid_lens = torch.tensor([[1, 4, 2], [3, 3, 0]])
    module = make_module(kind, query_size=5, key_size=3).double()
    names = [name for name, _ in module.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_(True) for p in module.parameters())

    def f(q, k, v, *weights):
        return torch.func.functional_call(module, dict(zip(names, weights)), (q, k, v, valid_lens))

    assert torch.autograd.gradcheck(f, (queries, keys, values, *params))


# ---------------------------------------------------------------------------
# Properties of the weights and outputs, for every scoring function
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=25, deadline=None)
@given(case=attention_case(same_qk_size=False))
def test_weight_properties_and_padding_invariance(kind, case):
    queries, keys, values, valid_lens = case
    if kind.startswith("dot"):  # dot products need queries and keys of one size
        keys = torch.randn(*keys.shape[:2], queries.shape[-1], generator=torch.Generator().manual_seed(1))
    batch, num_queries, query_size = queries.shape
    num_keys = keys.shape[1]
    module = make_module(kind, query_size, keys.shape[-1])
    with torch.no_grad():
        output, weights = module(queries, keys, values, valid_lens, need_weights=True)
    mask = valid_lens_to_mask(valid_lens, num_queries, num_keys)  # (B, L, S)

    assert weights.shape == (batch, num_queries, num_keys)
    assert output.shape == (batch, num_queries, values.shape[-1])
    assert (weights >= 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(batch, num_queries), atol=1e-6, rtol=0)
    assert (weights[~mask] == 0).all()  # exact zeros on padded keys

    # Garbage in every padded key/value slot must not change the output.
    longest = valid_lens.max(-1).values if valid_lens.dim() == 2 else valid_lens  # (B,)
    pad = ~valid_lens_to_mask(longest, 1, num_keys)[:, 0]  # (B, S): padding for every query
    gen = torch.Generator().manual_seed(2)
    noisy_keys, noisy_values = keys.clone(), values.clone()
    noisy_keys[pad] = 1e3 * torch.randn(int(pad.sum()), keys.shape[-1], generator=gen)
    noisy_values[pad] = 1e3 * torch.randn(int(pad.sum()), values.shape[-1], generator=gen)
    with torch.no_grad():
        noisy_output = module(queries, noisy_keys, noisy_values, valid_lens)
    torch.testing.assert_close(noisy_output, output, atol=1e-6, rtol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_query_without_valid_keys_gets_zero_vector(kind):
    queries, keys, values = torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 6)
    valid_lens = torch.tensor([[0, 2, 5], [3, 0, 1]])
    module = make_module(kind, 4, 4)
    output, weights = module(queries, keys, values, valid_lens, need_weights=True)
    assert torch.isfinite(output).all()
    assert torch.equal(output[0, 0], torch.zeros(6)) and torch.equal(output[1, 1], torch.zeros(6))
    assert torch.equal(weights[0, 0], torch.zeros(5))
    assert output[0, 1].abs().sum() > 0


@pytest.mark.parametrize("kind", KINDS)
def test_need_weights_switches_return_type(kind):
    queries, keys, values = torch.randn(1, 2, 3), torch.randn(1, 4, 3), torch.randn(1, 4, 5)
    module = make_module(kind, 3, 3)
    output = module(queries, keys, values)
    assert isinstance(output, torch.Tensor) and output.shape == (1, 2, 5)
    output2, weights = module(queries, keys, values, need_weights=True)
    assert torch.equal(output, output2) and weights.shape == (1, 2, 4)
    torch.testing.assert_close(output, weights @ values)


def test_dropout_acts_on_weights_in_training_only():
    queries, keys, values = torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 6)
    module = DotProductAttention(dropout=1.0)  # drops every weight while training
    output, weights = module(queries, keys, values, need_weights=True)
    assert torch.equal(output, torch.zeros(2, 3, 6))
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3))  # returned weights are pre-dropout
    module.eval()
    expected = DotProductAttention()(queries, keys, values)
    torch.testing.assert_close(module(queries, keys, values), expected)


def test_scaled_divides_scores_by_sqrt_of_query_size():
    queries, keys, values = torch.randn(1, 2, 16), torch.randn(1, 3, 16), torch.randn(1, 3, 2)
    _, scaled = DotProductAttention(scaled=True)(queries, keys, values, need_weights=True)
    _, unscaled = DotProductAttention(scaled=False)(queries / 4, keys, values, need_weights=True)
    torch.testing.assert_close(scaled, unscaled)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_other_dtypes_keep_their_dtype_and_match_float32(kind, dtype):
    gen = torch.Generator().manual_seed(5)
    queries, keys, values = (torch.randn(2, n, 4, generator=gen) for n in (3, 5, 5))
    valid_lens = torch.tensor([2, 5])
    module = make_module(kind, 4, 4)
    with torch.no_grad():
        expected, expected_weights = module(queries, keys, values, valid_lens, need_weights=True)
        output, weights = module.to(dtype)(queries.to(dtype), keys.to(dtype), values.to(dtype), valid_lens,
                                           need_weights=True)
    assert output.dtype == weights.dtype == dtype
    tol = 1e-6 if dtype == torch.float64 else 5e-2
    torch.testing.assert_close(output.float(), expected, atol=tol, rtol=tol)
    torch.testing.assert_close(weights.float(), expected_weights, atol=tol, rtol=tol)
    assert (weights[0, :, 2:] == 0).all()


@pytest.mark.parametrize("kind", KINDS)
def test_forward_leaves_no_state_on_the_module(kind):
    """Weights come back with need_weights=True; nothing is kept on the module between calls."""
    module = make_module(kind, 4, 4)
    before = set(vars(module))
    module(torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 6), need_weights=True)
    assert set(vars(module)) == before
    assert not hasattr(module, "attention_weights")
    assert not any(isinstance(value, torch.Tensor) for value in vars(module).values())


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shapes", [((0, 3, 4), (0, 5, 4), (0, 5, 6)),   # empty batch
                                    ((2, 0, 4), (2, 5, 4), (2, 5, 6))])  # no queries
def test_empty_dimensions_give_empty_outputs(kind, shapes):
    (batch, num_queries, _), (_, num_keys, _), _ = shapes
    queries, keys, values = (torch.randn(*shape, requires_grad=True) for shape in shapes)
    output, weights = make_module(kind, 4, 4)(queries, keys, values, need_weights=True)
    assert output.shape == (batch, num_queries, 6) and weights.shape == (batch, num_queries, num_keys)
    output.sum().backward()
    assert torch.isfinite(queries.grad).all()


def test_float16_scores_that_overflow_are_an_error_not_nan():
    queries = torch.full((1, 1, 4), 300.0, dtype=torch.float16)
    keys, values = queries.clone(), torch.ones(1, 1, 2, dtype=torch.float16)
    with pytest.raises(ValueError, match=r"got 0 NaN and 1 \+inf \(NaN inputs, or scores that overflow torch.float16\?\)"):
        DotProductAttention()(queries, keys, values)  # 4 * 300^2 / 2 = 180000 > 65504


# ---------------------------------------------------------------------------
# Errors: each names what was expected and what came
# ---------------------------------------------------------------------------

ALL_MODULES = [
    lambda: DotProductAttention(),
    lambda: AdditiveAttention(key_size=4, query_size=4, num_hiddens=3),
    lambda: MultiplicativeAttention(query_size=4, key_size=4),
]


@pytest.mark.parametrize("make", ALL_MODULES)
@pytest.mark.parametrize(
    "shapes, error, message",
    [
        (((2, 3, 4), (3, 5, 4), (3, 5, 6)), ValueError, r"same batch size B: got 2, 3 and 3"),
        (((2, 3, 4), (2, 5, 4), (2, 7, 6)), ValueError, r"keys and values must have the same length S: got 5 and 7"),
        (((3, 4), (2, 5, 4), (2, 5, 6)), ValueError, r"queries must have 3 dimensions \(B, length, size\), got shape \(3, 4\)"),
        (((2, 3, 4), (2, 1, 5, 4), (2, 5, 6)), ValueError, r"keys must have 3 dimensions .*got shape \(2, 1, 5, 4\)"),
        (((2, 3, 4), (2, 5, 4), (5, 6)), ValueError, r"values must have 3 dimensions .*got shape \(5, 6\)"),
    ],
)
def test_shape_errors(make, shapes, error, message):
    q, k, v = (torch.randn(*s) for s in shapes)
    with pytest.raises(error, match=message):
        make()(q, k, v)


@pytest.mark.parametrize("make", ALL_MODULES)
def test_dtype_errors(make):
    q, k, v = torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 6)
    with pytest.raises(TypeError, match=r"queries must be a floating-point tensor, got dtype torch.int64"):
        make()(torch.ones(2, 3, 4, dtype=torch.long), k, v)
    with pytest.raises(TypeError, match=r"same dtype: got torch.float32, torch.float64 and torch.float32"):
        make()(q, k.double(), v)
    with pytest.raises(TypeError, match=r"values must be a torch.Tensor, got list"):
        make()(q, k, v.tolist())


@pytest.mark.parametrize("make", ALL_MODULES)
def test_bad_valid_lens_and_mask_are_rejected(make):
    q, k, v = torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 6)
    with pytest.raises(ValueError, match=r"valid_lens must have shape \(B,\) = \(2,\) or \(B, L\) = \(2, 3\), got \(3,\)"):
        make()(q, k, v, torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match=r"\[0, S\] = \[0, 5\], got values from 1 to 6"):
        make()(q, k, v, torch.tensor([1, 6]))
    with pytest.raises(ValueError, match=r"\[0, S\] = \[0, 5\], got values from -1 to 2"):
        make()(q, k, v, torch.tensor([[-1, 2, 2], [1, 1, 1]]))
    with pytest.raises(TypeError, match=r"valid_lens must be an integer tensor, got dtype torch.float32"):
        make()(q, k, v, torch.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match=r"valid_lens must be an integer tensor, got dtype torch.bool"):
        make()(q, k, v, torch.tensor([True, False]))
    with pytest.raises(TypeError, match=r"valid_lens must be a torch.Tensor of integers, got list"):
        make()(q, k, v, [1, 2])
    with pytest.raises(ValueError, match=r"attn_mask must have shape \(L, S\) = \(3, 5\)"):
        make()(q, k, v, attn_mask=torch.ones(5, 3, dtype=torch.bool))
    with pytest.raises(TypeError, match=r"attn_mask must be a bool tensor \(True = may attend\), got torch.float32"):
        make()(q, k, v, attn_mask=torch.zeros(3, 5))


@pytest.mark.parametrize("make", ALL_MODULES)
def test_bad_need_weights_and_non_finite_inputs_are_rejected(make):
    q, k, v = torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 6)
    with pytest.raises(TypeError, match=r"need_weights must be True or False, got 'no'"):
        make()(q, k, v, need_weights="no")
    for name, args in [("queries", (q.clone().fill_(float("nan")), k, v)),
                       ("keys", (q, k.clone().index_fill_(1, torch.tensor([4]), float("inf")), v)),
                       ("values", (q, k, v.clone().index_fill_(1, torch.tensor([4]), float("nan"))))]:
        # the last key and value are padding here, and still rejected: 0 * NaN is NaN
        with pytest.raises(ValueError, match=rf"{name} must be finite: got \d+ NaN or infinite entries"):
            make()(*args, torch.tensor([4, 4]))


def test_dot_product_needs_equal_query_and_key_sizes():
    q, k, v = torch.randn(2, 3, 4), torch.randn(2, 5, 6), torch.randn(2, 5, 6)
    with pytest.raises(ValueError, match=r"queries and keys of the same size D: got 4 and 6"):
        DotProductAttention()(q, k, v)
    for scaled in (True, False):  # no features: 0 / sqrt(0) is NaN, and no score means anything
        with pytest.raises(ValueError, match=r"queries and keys of size D >= 1, got D = 0"):
            DotProductAttention(scaled=scaled)(torch.randn(2, 3, 0), torch.randn(2, 5, 0), v)


@pytest.mark.parametrize("make", ALL_MODULES[1:])
def test_parametric_scores_check_their_sizes(make):
    q, k, v = torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 6)
    with pytest.raises(ValueError, match=r"queries must have size 4 in their last dimension, got 7"):
        make()(torch.randn(2, 3, 7), k, v)
    with pytest.raises(ValueError, match=r"keys must have size 4 in their last dimension, got 2"):
        make()(q, torch.randn(2, 5, 2), v)


def test_constructor_errors():
    with pytest.raises(ValueError, match=r"num_hiddens must be a positive int, got 0"):
        AdditiveAttention(key_size=2, query_size=3, num_hiddens=0)
    with pytest.raises(TypeError, match=r"key_size must be a positive int, got 2.5"):
        AdditiveAttention(key_size=2.5, query_size=3, num_hiddens=4)
    with pytest.raises(ValueError, match=r"query_size must be a positive int, got -1"):
        MultiplicativeAttention(query_size=-1, key_size=3)
    with pytest.raises(TypeError, match=r"scaled must be True or False, got 'yes'"):
        DotProductAttention(scaled="yes")
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\], got 1.5"):
        DotProductAttention(dropout=1.5)
    with pytest.raises(TypeError, match=r"dropout must be a number in \[0, 1\], got '0.1' \(str\)"):
        MultiplicativeAttention(query_size=2, key_size=3, dropout="0.1")
    with pytest.raises(TypeError, match=r"dropout must be a number in \[0, 1\], got True \(bool\)"):
        AdditiveAttention(key_size=2, query_size=3, num_hiddens=4, dropout=True)


def test_check_qkv_rejects_tensors_on_different_devices():
    q, k, v = torch.randn(2, 3, 4), torch.randn(2, 5, 4, device="meta"), torch.randn(2, 5, 6)
    with pytest.raises(ValueError, match=r"same device: got cpu, meta and cpu"):
        check_qkv(q, k, v)


def test_additive_project_keys_and_score_equal_forward_and_check_their_inputs():
    module = AdditiveAttention(key_size=3, query_size=5, num_hiddens=4)
    queries, keys, values = torch.randn(2, 1, 5), torch.randn(2, 6, 3), torch.randn(2, 6, 2)
    with torch.no_grad():
        scores = module.score(queries, module.project_keys(keys))  # (B, 1, S), as a decoder step uses it
        _, weights = module(queries, keys, values, need_weights=True)
    torch.testing.assert_close(torch.softmax(scores, -1), weights)
    projected = module.project_keys(keys)
    cases = [
        (ValueError, r"keys must have size 3 in their last dimension, got 5", lambda: module.project_keys(torch.randn(2, 6, 5))),
        (ValueError, r"keys must have 3 dimensions \(B, length, size\), got shape \(6, 3\)", lambda: module.project_keys(keys[0])),
        (TypeError, r"keys must be a torch.Tensor, got list", lambda: module.project_keys(keys.tolist())),
        (ValueError, r"projected_keys must have size num_hiddens = 4 in their last dimension, got 3 "
                     r"\(pass keys through project_keys first\)", lambda: module.score(queries, keys)),
        (ValueError, r"queries must have size 5 in their last dimension, got 3", lambda: module.score(keys, projected)),
        (ValueError, r"same batch size B: got 1 and 2", lambda: module.score(queries[:1], projected)),
        (TypeError, r"same dtype: got torch.float64 and torch.float32", lambda: module.score(queries.double(), projected)),
        (TypeError, r"queries must be a floating-point tensor, got dtype torch.int64",
         lambda: module.score(queries.long(), projected)),
    ]
    for error, message, call in cases:
        with pytest.raises(error, match=message):
            call()
