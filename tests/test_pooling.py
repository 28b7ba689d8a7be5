"""Tests of attn.pooling: the regression data, the kernels, Nadaraya-Watson and its parametric form."""

import math

import pytest
import torch
from torch.func import functional_call
from hypothesis import given, settings
from hypothesis import strategies as st

from attn import (KERNELS, ParametricAttentionPooling, leave_one_out_mask, make_regression_data,
                  nadaraya_watson, regression_target)
from attn.pooling import gaussian_kernel

# The textbook kernels, written out with the math module, one number at a time.
SCALAR_KERNELS = {
    "gaussian": lambda u: math.exp(-u * u / 2),
    "boxcar": lambda u: 1.0 if abs(u) <= 1 else 0.0,
    "constant": lambda u: 1.0,
    "epanechnikov": lambda u: max(0.0, 1 - u * u),
}


def loop_nadaraya_watson(queries, keys, values, kernel, bandwidth):
    """Plain Python: for each query, kernel values, their sum, the weighted average."""
    predictions, weights = [], []
    for q in queries.tolist():
        k = [SCALAR_KERNELS[kernel]((q - key) / bandwidth) for key in keys.tolist()]
        total = sum(k)
        row = [ki / total for ki in k]
        weights.append(row)
        predictions.append(sum(r * v for r, v in zip(row, values.tolist())))
    return torch.tensor(predictions, dtype=torch.float64), torch.tensor(weights, dtype=torch.float64)


def random_problem(seed, num_queries=7, num_keys=11, batch=None, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    lead = () if batch is None else (batch,)
    queries = torch.rand(*lead, num_queries, generator=gen, dtype=dtype) * 4
    keys = torch.rand(*lead, num_keys, generator=gen, dtype=dtype) * 4
    values = torch.randn(*lead, num_keys, generator=gen, dtype=dtype)
    return queries, keys, values


# --- Data ---------------------------------------------------------------------------------

def test_regression_data_is_reproducible_sorted_and_noisy():
    a, b, c = make_regression_data(seed=0), make_regression_data(seed=0), make_regression_data(seed=1)
    for x, y in zip(a, b):
        assert torch.equal(x, y)
    assert not torch.equal(a.x_train, c.x_train)
    assert a.x_train.shape == a.y_train.shape == (50,) and a.x_test.shape == a.y_test.shape == (50,)
    assert (a.x_train.diff() >= 0).all() and (a.x_train >= 0).all() and (a.x_train < 5).all()
    torch.testing.assert_close(a.x_test, torch.arange(50) * 0.1)
    torch.testing.assert_close(a.y_test, 2 * torch.sin(a.x_test) + a.x_test ** 0.8)
    residuals = a.y_train - regression_target(a.x_train)
    assert 0.3 < residuals.std() < 0.7  # noise of standard deviation 0.5
    noiseless = make_regression_data(noise=0.0)
    torch.testing.assert_close(noiseless.y_train, regression_target(noiseless.x_train))


def test_regression_data_does_not_touch_the_global_generator():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    make_regression_data(seed=5)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("kwargs, message", [
    ({"n_train": 0}, "n_train must be a positive int, got 0"),
    ({"n_test": 2.5}, "n_test must be a positive int, got 2.5"),
    ({"noise": -1.0}, "noise must be a finite number >= 0, got -1.0"),
    ({"x_max": float("nan")}, "x_max must be a finite number > 0, got nan"),
])
def test_regression_data_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_regression_data(**kwargs)


# --- Kernels and Nadaraya-Watson --------------------------------------------------------------

def test_kernels_match_their_formulas():
    u = torch.linspace(-2, 2, 41, dtype=torch.float64)
    for name, kernel in KERNELS.items():
        expected = torch.tensor([SCALAR_KERNELS[name](x) for x in u.tolist()], dtype=torch.float64)
        torch.testing.assert_close(kernel(u), expected, msg=name)


@pytest.mark.parametrize("kernel", sorted(KERNELS))
@pytest.mark.parametrize("bandwidth", [0.7, 2.0])
def test_matches_plain_loop(kernel, bandwidth):
    queries, keys, values = random_problem(seed=1)
    expected_pred, expected_weights = loop_nadaraya_watson(queries, keys, values, kernel, bandwidth)
    pred, weights = nadaraya_watson(queries, keys, values, kernel=kernel, bandwidth=bandwidth)
    assert pred.shape == (7,) and weights.shape == (7, 11)
    torch.testing.assert_close(weights, expected_weights, atol=1e-10, rtol=0)
    torch.testing.assert_close(pred, expected_pred, atol=1e-10, rtol=0)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), kernel=st.sampled_from(sorted(KERNELS)),
       bandwidth=st.floats(0.05, 10.0), batch=st.integers(1, 4))
def test_weights_are_distributions_and_batches_are_independent(seed, kernel, bandwidth, batch):
    queries, keys, values = random_problem(seed, batch=batch)
    pred, weights = nadaraya_watson(queries, keys, values, kernel=kernel, bandwidth=bandwidth)
    assert pred.shape == (batch, 7) and weights.shape == (batch, 7, 11)
    assert (weights >= 0).all() and not pred.isnan().any()
    sums = weights.sum(-1)
    # a row sums to 1, or (compact kernel, no key in the window) is all zeros with prediction 0
    assert torch.all(((sums - 1).abs() < 1e-12) | (sums == 0))
    assert torch.all(pred[sums == 0] == 0)
    if kernel in ("gaussian", "constant"):  # kernels without a window: every row sums to 1
        assert torch.all((sums - 1).abs() < 1e-12)
    for b in range(batch):  # each batch element is its own problem
        pred_b, weights_b = nadaraya_watson(queries[b], keys[b], values[b], kernel=kernel, bandwidth=bandwidth)
        torch.testing.assert_close(pred[b], pred_b)
        torch.testing.assert_close(weights[b], weights_b)


@pytest.mark.parametrize("bandwidth", [1.0, 0.3, 3.0])
def test_gaussian_weights_are_softmax_of_negative_squared_distance(bandwidth):
    queries, keys, values = random_problem(seed=2, dtype=torch.float32)
    _, weights = nadaraya_watson(queries, keys, values, kernel="gaussian", bandwidth=bandwidth)
    scores = -((queries[:, None] - keys[None, :]) ** 2) / (2 * bandwidth ** 2)
    torch.testing.assert_close(weights, torch.softmax(scores, dim=-1), atol=1e-6, rtol=0)


def test_far_away_gaussian_query_goes_to_the_nearest_key_not_nan():
    keys = torch.tensor([0.0, 1.0, 2.0])
    values = torch.tensor([5.0, 6.0, 7.0])
    pred, weights = nadaraya_watson(torch.tensor([100.0]), keys, values, kernel="gaussian", bandwidth=0.1)
    # every exp(-u^2/2) underflows to 0 here; the softmax of the scores still picks the nearest key
    assert KERNELS["gaussian"](torch.tensor((100.0 - 2.0) / 0.1)) == 0
    torch.testing.assert_close(weights, torch.tensor([[0.0, 0.0, 1.0]]))
    torch.testing.assert_close(pred, torch.tensor([7.0]))


@pytest.mark.parametrize("kernel", ["boxcar", "epanechnikov"])
def test_compact_kernel_with_no_key_in_window_gives_zeros_not_nan(kernel):
    keys = torch.tensor([0.0, 0.1, 3.0])
    values = torch.tensor([1.0, 2.0, 3.0])
    pred, weights = nadaraya_watson(torch.tensor([0.05, 1.5]), keys, values, kernel=kernel, bandwidth=0.5)
    assert torch.equal(weights[1], torch.zeros(3)) and pred[1] == 0
    assert weights[0, 2] == 0 and abs(weights[0].sum() - 1) < 1e-6
    torch.testing.assert_close(pred[0], torch.tensor(1.5))  # symmetric neighbours 1 and 2


def test_constant_kernel_is_average_pooling_and_huge_bandwidth_too():
    queries, keys, values = random_problem(seed=3)
    pred, weights = nadaraya_watson(queries, keys, values, kernel="constant", bandwidth=0.01)
    torch.testing.assert_close(weights, torch.full((7, 11), 1 / 11, dtype=torch.float64))
    torch.testing.assert_close(pred, values.mean().expand(7))
    for kernel in ["gaussian", "boxcar", "epanechnikov"]:
        pred, _ = nadaraya_watson(queries, keys, values, kernel=kernel, bandwidth=1e4)
        torch.testing.assert_close(pred, values.mean().expand(7), atol=1e-6, rtol=0)


def test_attn_mask_excludes_keys_and_tensor_bandwidth_works():
    queries, keys, values = random_problem(seed=4, num_queries=11)
    mask = leave_one_out_mask(11)
    pred, weights = nadaraya_watson(keys, keys, values, bandwidth=torch.tensor(0.5, dtype=torch.float64),
                                    attn_mask=mask)
    assert torch.all(weights.diagonal() == 0)
    for i in range(11):  # leaving point i out is the same as deleting it from the keys
        others = torch.arange(11) != i
        expected, _ = nadaraya_watson(keys[i:i + 1], keys[others], values[others], bandwidth=0.5)
        torch.testing.assert_close(pred[i:i + 1], expected)


def test_leave_one_out_mask():
    mask = leave_one_out_mask(4)
    assert mask.dtype == torch.bool
    assert torch.equal(mask, torch.tensor([[0, 1, 1, 1], [1, 0, 1, 1], [1, 1, 0, 1], [1, 1, 1, 0]]).bool())
    with pytest.raises(ValueError, match="leave-one-out needs n >= 2 points, got 1"):
        leave_one_out_mask(1)


def test_gradcheck_float64():
    queries, keys, values = random_problem(seed=5, num_queries=3, num_keys=4)
    for kernel in ["gaussian", "epanechnikov"]:
        def f(q, k, v, h):
            return nadaraya_watson(q, k, v, kernel=kernel, bandwidth=h)[0]
        inputs = (queries.clone().requires_grad_(), keys.clone().requires_grad_(), values.clone().requires_grad_(),
                  torch.tensor(3.0, dtype=torch.float64, requires_grad=True))  # h = 3: every key in the window
        assert torch.autograd.gradcheck(f, inputs)
    model = ParametricAttentionPooling(init_w=0.8).double()
    inputs = (queries.clone().requires_grad_(), keys.clone().requires_grad_(), values.clone().requires_grad_())
    assert torch.autograd.gradcheck(lambda q, k, v: model(q, k, v)[0], inputs)
    w = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda w: functional_call(model, {"w": w}, (queries, keys, values))[0], (w,))


def test_gradients_stay_finite_when_keys_fall_outside_the_window():
    """Epanechnikov is 0 outside |u| <= 1, where log K would be -inf and its gradient NaN."""
    queries = torch.tensor([0.33, 1.7, 3.1], dtype=torch.float64, requires_grad=True)
    keys = torch.linspace(0, 4, 11, dtype=torch.float64).requires_grad_()
    values = torch.randn(11, dtype=torch.float64)
    bandwidth = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    pred, weights = nadaraya_watson(queries, keys, values, kernel="epanechnikov", bandwidth=bandwidth)
    assert (weights == 0).any() and (weights.sum(-1) > 0).all()  # some keys out, every query has one in
    pred.sum().backward()
    for t in (queries, keys, bandwidth):
        assert torch.isfinite(t.grad).all()


@pytest.mark.parametrize("kernel", ["gaussian", "epanechnikov"])
@pytest.mark.parametrize("bandwidth", [0.3, 1.5])
def test_gradcheck_bandwidth_tensor_float64(kernel, bandwidth):
    queries, keys, values = random_problem(seed=7, num_queries=4, num_keys=6, batch=2)
    h = torch.tensor(bandwidth, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda h: nadaraya_watson(queries, keys, values, kernel=kernel, bandwidth=h)[0], (h,))


# --- Stable at any bandwidth, w and dtype -----------------------------------------------------

def nearest_neighbour(queries, keys, values):
    """Plain Python: the value of the key nearest to each query."""
    return torch.tensor([values[min(range(len(keys)), key=lambda j: abs(q - keys[j]))].item()
                         for q in queries.tolist()], dtype=values.dtype)


@pytest.mark.parametrize("bandwidth", [1e-3, 1e-25, 1e-300])
def test_tiny_bandwidth_is_nearest_neighbour_regression(bandwidth):
    queries, keys, values = random_problem(seed=8, dtype=torch.float32)
    pred, weights = nadaraya_watson(queries, keys, values, bandwidth=bandwidth)
    assert torch.equal(pred, nearest_neighbour(queries, keys, values))
    assert torch.equal(weights.max(-1).values, torch.ones(7))  # one-hot rows, no NaN
    # a query exactly between two keys splits its weight between them
    pred, weights = nadaraya_watson(torch.tensor([1.0]), torch.tensor([0.0, 2.0, 5.0]),
                                    torch.tensor([4.0, 8.0, 0.0]), bandwidth=bandwidth)
    assert torch.equal(weights, torch.tensor([[0.5, 0.5, 0.0]])) and pred.item() == 6.0


def test_tiny_bandwidth_with_leave_one_out_uses_the_nearest_other_point():
    _, keys, values = random_problem(seed=9, num_keys=9, dtype=torch.float32)
    pred, weights = nadaraya_watson(keys, keys, values, bandwidth=1e-25, attn_mask=leave_one_out_mask(9))
    for i in range(9):
        others = torch.arange(9) != i
        assert pred[i] == nearest_neighbour(keys[i:i + 1], keys[others], values[others])[0]
    assert torch.all(weights.diagonal() == 0)


def test_huge_bandwidth_is_average_pooling():
    queries, keys, values = random_problem(seed=10, dtype=torch.float32)
    pred, weights = nadaraya_watson(queries, keys, values, bandwidth=1e300)
    torch.testing.assert_close(weights, torch.full((7, 11), 1 / 11))
    torch.testing.assert_close(pred, values.mean().expand(7))


def test_parametric_with_huge_w_is_nearest_neighbour_regression():
    queries, keys, values = random_problem(seed=11, dtype=torch.float32)
    for w in [1e20, -1e30]:
        pred, _ = ParametricAttentionPooling(init_w=w)(queries, keys, values)
        assert torch.equal(pred, nearest_neighbour(queries, keys, values))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_queries_far_from_the_keys_match_float64(dtype):
    """(q - k)^2 is about 9e4 here, beyond float16's largest number (65504)."""
    gen = torch.Generator().manual_seed(12)
    queries = (295 + 10 * torch.rand(6, generator=gen)).to(dtype)
    keys, values = (5 * torch.rand(8, generator=gen)).to(dtype), torch.randn(8, generator=gen).to(dtype)
    expected, expected_weights = nadaraya_watson(queries.double(), keys.double(), values.double())
    pred, weights = nadaraya_watson(queries, keys, values)
    assert pred.dtype == weights.dtype == dtype
    torch.testing.assert_close(pred.double(), expected, atol=1e-2, rtol=1e-2)
    torch.testing.assert_close(weights.double(), expected_weights, atol=1e-2, rtol=0)
    model_pred, _ = ParametricAttentionPooling(init_w=1.0)(queries, keys, values)
    torch.testing.assert_close(model_pred.double(), expected, atol=1e-2, rtol=1e-2)


@pytest.mark.parametrize("bandwidth, w", [(1e-25, 1e20), (1e-9, 1e37), (1e30, 1e-30)])
def test_gradients_stay_finite_at_extreme_bandwidths_and_w(bandwidth, w):
    queries, keys, values = (t.requires_grad_() for t in random_problem(seed=13, dtype=torch.float32))
    h = torch.tensor(bandwidth, requires_grad=True)
    model = ParametricAttentionPooling(init_w=w)
    (nadaraya_watson(queries, keys, values, bandwidth=h)[0].sum() + model(queries, keys, values)[0].sum()).backward()
    for t in (queries, keys, values, h, model.w):
        assert torch.isfinite(t.grad).all()
    # each of the 2 x 7 predictions is a weighted average of the values: weights summing to 1
    torch.testing.assert_close(values.grad.sum(), torch.tensor(2 * 7.0))


def test_every_key_masked_gives_zero_weights_and_prediction():
    queries, keys, values = random_problem(seed=14, num_queries=3, num_keys=4)
    mask = torch.tensor([[True, False, True, True], [False] * 4, [False, False, False, True]])
    for bandwidth in [1.0, 1e-25]:
        pred, weights = nadaraya_watson(queries, keys, values, bandwidth=bandwidth, attn_mask=mask)
        assert torch.equal(weights[1], torch.zeros(4, dtype=torch.float64)) and pred[1] == 0
        assert weights[2, 3] == 1 and pred[2] == values[3]
    pred, weights = ParametricAttentionPooling()(queries, keys, values, attn_mask=mask)
    assert torch.equal(weights[1], torch.zeros(4)) and pred[1] == 0


@pytest.mark.parametrize("batch, num_queries", [(0, 7), (2, 0)])
def test_empty_batch_or_no_queries_give_empty_results(batch, num_queries):
    _, keys, values = random_problem(seed=15, batch=batch)
    queries = torch.rand(batch, num_queries, dtype=torch.float64)
    for kernel in sorted(KERNELS):
        pred, weights = nadaraya_watson(queries, keys, values, kernel=kernel)
        assert pred.shape == (batch, num_queries) and weights.shape == (batch, num_queries, 11)
    pred, weights = ParametricAttentionPooling().double()(queries, keys, values)
    assert pred.shape == (batch, num_queries) and weights.shape == (batch, num_queries, 11)


# --- The parametric model ---------------------------------------------------------------------

def test_parametric_equals_gaussian_nadaraya_watson_with_bandwidth_one_over_w():
    queries, keys, values = random_problem(seed=6, batch=2, dtype=torch.float32)
    for w in [1.0, -2.5, 0.25]:  # exactly representable in float32
        model = ParametricAttentionPooling(init_w=w)
        assert dict(model.named_parameters()).keys() == {"w"} and model.w.item() == w  # w is trained
        pred, weights = model(queries, keys, values)
        expected_pred, expected_weights = nadaraya_watson(queries, keys, values, bandwidth=1 / abs(w))
        torch.testing.assert_close(weights, expected_weights)
        torch.testing.assert_close(pred, expected_pred)


def test_parametric_loss_decreases_under_sgd_with_leave_one_out():
    x, y, _, _ = make_regression_data(n_train=40, seed=3)
    mask = leave_one_out_mask(40)
    model = ParametricAttentionPooling(init_w=1.0)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    losses = []
    for _ in range(10):
        pred, weights = model(x, x, y, attn_mask=mask)
        assert torch.all(weights.diagonal() == 0)
        loss = ((pred - y) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]
    assert all(b <= a + 1e-6 for a, b in zip(losses, losses[1:]))  # a monotone descent at this step size
    assert model.w.item() > 1.0  # the data want a narrower kernel than h = 1


def test_without_leave_one_out_the_loss_rewards_huge_w():
    x, y, _, _ = make_regression_data(n_train=40, seed=3)
    losses = {}
    with torch.no_grad():
        for w in [1.0, 1000.0]:
            pred, _ = ParametricAttentionPooling(init_w=w)(x, x, y)
            losses[w] = ((pred - y) ** 2).mean().item()
    assert losses[1000.0] < 0.05 * losses[1.0]


# --- Errors -----------------------------------------------------------------------------------

def test_errors_name_expected_and_actual():
    q, k, v = torch.rand(3), torch.rand(5), torch.rand(5)
    cases = [
        (ValueError, "keys and values must have the same length S: got 5 and 4",
         lambda: nadaraya_watson(q, k, torch.rand(4))),
        (ValueError, r"queries must have shape \(L,\) or \(B, L\), got shape \(1, 3, 1\)",
         lambda: nadaraya_watson(q.reshape(1, 3, 1), k, v)),
        (ValueError, r"keys and values must have shape \(S,\) to match queries of shape \(3,\): got \(1, 5\) and \(5,\)",
         lambda: nadaraya_watson(q, k[None], v)),
        (ValueError, r"keys and values must have shape \(B, S\) to match queries of shape \(2, 3\)",
         lambda: nadaraya_watson(torch.rand(2, 3), k, v)),
        (ValueError, "queries, keys and values must have the same batch size B: got 2, 3 and 3",
         lambda: nadaraya_watson(torch.rand(2, 3), torch.rand(3, 5), torch.rand(3, 5))),
        (ValueError, "need at least one key-value pair, got S = 0",
         lambda: nadaraya_watson(q, torch.rand(0), torch.rand(0))),
        (TypeError, "keys must be a torch.Tensor, got list",
         lambda: nadaraya_watson(q, [0.0, 1.0], v)),
        (TypeError, "values must be a floating-point tensor, got dtype torch.int64",
         lambda: nadaraya_watson(q, k, torch.arange(5))),
        (TypeError, "queries, keys and values must have the same dtype: got torch.float64, torch.float32 and torch.float32",
         lambda: nadaraya_watson(q.double(), k, v)),
        (ValueError, r"unknown kernel 'triangle': expected one of \['boxcar', 'constant', 'epanechnikov', 'gaussian'\]",
         lambda: nadaraya_watson(q, k, v, kernel="triangle")),
        (TypeError, "kernel must be a kernel name \\(str\\), got function",
         lambda: nadaraya_watson(q, k, v, kernel=KERNELS["gaussian"])),
        (ValueError, "bandwidth must be a finite number > 0, got 0.0",
         lambda: nadaraya_watson(q, k, v, bandwidth=0.0)),
        (ValueError, "bandwidth must be a finite number > 0, got -1.0",
         lambda: nadaraya_watson(q, k, v, bandwidth=torch.tensor(-1.0))),
        (ValueError, "bandwidth must be a finite number > 0, got nan",
         lambda: nadaraya_watson(q, k, v, bandwidth=float("nan"))),
        (ValueError, "bandwidth must be a finite number > 0, got inf",
         lambda: nadaraya_watson(q, k, v, bandwidth=float("inf"))),
        (TypeError, "bandwidth must be a number, got str",
         lambda: nadaraya_watson(q, k, v, bandwidth="1")),
        (TypeError, r"bandwidth must be a number or a one-element float tensor, got a torch.float32 tensor of shape \(2,\)",
         lambda: nadaraya_watson(q, k, v, bandwidth=torch.ones(2))),
        (TypeError, "attn_mask must be a bool tensor \\(True = may attend\\), got torch.float32",
         lambda: nadaraya_watson(q, k, v, attn_mask=torch.ones(3, 5))),
        (ValueError, r"attn_mask must have shape \(L, S\) = \(3, 5\) or \(B, L, S\) = \(1, 3, 5\), got \(5, 3\)",
         lambda: nadaraya_watson(q, k, v, attn_mask=torch.ones(5, 3, dtype=torch.bool))),
        (ValueError, "queries must be finite: got 1 NaN or infinite entries",
         lambda: nadaraya_watson(torch.tensor([0.0, float("nan"), 1.0]), k, v)),
        (ValueError, "keys must be finite: got 2 NaN or infinite entries",
         lambda: nadaraya_watson(q, torch.tensor([0.0, float("inf"), 1.0, -float("inf"), 2.0]), v)),
        (ValueError, "values must be finite: got 1 NaN or infinite entries",
         lambda: nadaraya_watson(q, k, torch.tensor([0.0, 1.0, float("nan"), 2.0, 3.0]), kernel="boxcar")),
        (ValueError, "values must be finite",
         lambda: ParametricAttentionPooling()(q, k, torch.tensor([0.0, 1.0, float("nan"), 2.0, 3.0]))),
        (ValueError, "queries and keys are too far apart for torch.float32: |q - k| overflows",
         lambda: nadaraya_watson(torch.tensor([3e38]), torch.tensor([-3e38]), torch.tensor([1.0]))),
        (TypeError, "bandwidth must be a number, got bool",
         lambda: nadaraya_watson(q, k, v, bandwidth=True)),
        (TypeError, r"bandwidth must be a number or a one-element float tensor, got a torch.int64 tensor of shape \(\)",
         lambda: nadaraya_watson(q, k, v, bandwidth=torch.tensor(1))),
        (TypeError, "attn_mask must be a bool tensor \\(True = may attend\\), got list",
         lambda: nadaraya_watson(q, k, v, attn_mask=[[True] * 5] * 3)),
        (ValueError, r"attn_mask must have shape \(L, S\) = \(3, 5\) or \(B, L, S\) = \(1, 3, 5\), got \(2, 3, 5\)",
         lambda: nadaraya_watson(q, k, v, attn_mask=torch.ones(2, 3, 5, dtype=torch.bool))),
        (TypeError, "init_w must be a number, got str",
         lambda: ParametricAttentionPooling(init_w="1")),
        (TypeError, "init_w must be a number, got bool",
         lambda: ParametricAttentionPooling(init_w=True)),
        (ValueError, "init_w must be a finite non-zero number, got inf",
         lambda: ParametricAttentionPooling(init_w=float("inf"))),
        (ValueError, "init_w must be a finite non-zero number, got 0.0",
         lambda: ParametricAttentionPooling(init_w=0.0)),
        (ValueError, "keys and values must have the same length S: got 5 and 4",
         lambda: ParametricAttentionPooling()(q, k, torch.rand(4))),
        (ValueError, r"attn_mask must have shape \(L, S\) = \(3, 5\)",
         lambda: ParametricAttentionPooling()(q, k, v, attn_mask=torch.ones(3, 4, dtype=torch.bool))),
    ]
    for error, message, call in cases:
        with pytest.raises(error, match=message):
            call()


def test_parametric_rejects_a_diverged_w():
    model = ParametricAttentionPooling()
    with torch.no_grad():
        model.w.fill_(float("nan"))
    with pytest.raises(ValueError, match=r"w must be finite, got nan \(did training diverge\?\)"):
        model(torch.rand(3), torch.rand(5), torch.rand(5))


def test_kernel_and_data_helpers_reject_bad_input():
    with pytest.raises(TypeError, match=r"kernel takes a floating-point tensor u = \(q - k\) / h, got float"):
        gaussian_kernel(0.5)
    for kernel in KERNELS.values():
        with pytest.raises(TypeError, match="got dtype torch.int64"):
            kernel(torch.arange(3))
    with pytest.raises(ValueError, match=r"x must be finite and >= 0 \(x\^0.8 is NaN below 0\), got min -1.0"):
        regression_target(torch.tensor([0.0, -1.0]))
    with pytest.raises(ValueError, match="x must be finite and >= 0"):
        regression_target(torch.tensor([float("nan")]))
    with pytest.raises(TypeError, match="x must be a floating-point tensor, got list"):
        regression_target([1.0])
    with pytest.raises(TypeError, match="seed must be an int, got float"):
        make_regression_data(seed=1.5)
    with pytest.raises(TypeError, match="noise must be a number, got bool"):
        make_regression_data(noise=True)
    with pytest.raises(TypeError, match="x_max must be a number, got str"):
        make_regression_data(x_max="5")
