"""Attention pooling by similarity: Nadaraya-Watson kernel regression.

A 1-D regression problem read as attention: the training inputs are the keys,
the training targets are the values, and each point where we want a prediction
is a query. The prediction is a weighted average of the values,

    f(q) = sum_i alpha(q, k_i) v_i,   alpha(q, k_i) = K((q - k_i) / h) / sum_j K((q - k_j) / h),

with a kernel K and a bandwidth h (Nadaraya 1964, Watson 1964). With the Gaussian
kernel the weights are ``softmax(-(q - k)^2 / (2 h^2))`` over the keys; the
parametric version learns the inverse bandwidth w instead of fixing it.

Shapes (the package's legend): B batch, L queries, S keys. Queries, keys and
values are scalars here, so a batch of them is (B, L) or (B, S); unbatched
inputs (L,) and (S,) are accepted too.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import torch
from torch import nn

from attn.checks import check_attn_mask, check_same_dtype, check_tensor
from attn.masking import masked_softmax


# --- The data ----------------------------------------------------------------------------

def regression_target(x: torch.Tensor) -> torch.Tensor:
    """The noiseless function the data come from: f(x) = 2 sin(x) + x^0.8.

    Args:
        x: float tensor of any shape, entries >= 0 (x^0.8 is not real below 0).

    Returns:
        f(x), a tensor of the same shape and dtype.
    """
    if not isinstance(x, torch.Tensor) or not x.dtype.is_floating_point:
        got = f"dtype {x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise TypeError(f"x must be a floating-point tensor, got {got}")
    if not (x >= 0).all():  # also catches NaN
        raise ValueError(f"x must be finite and >= 0 (x^0.8 is NaN below 0), got min {x.min().item()}")
    return 2 * torch.sin(x) + x ** 0.8


class RegressionData(NamedTuple):
    """Training pairs (keys, values) and a test grid (queries) with the true targets."""
    x_train: torch.Tensor  # (n_train,), sorted
    y_train: torch.Tensor  # (n_train,), noisy
    x_test: torch.Tensor   # (n_test,), evenly spaced
    y_test: torch.Tensor   # (n_test,), noiseless: the function we want to recover


def make_regression_data(n_train: int = 50, n_test: int = 50, noise: float = 0.5,
                         x_max: float = 5.0, seed: int = 0) -> RegressionData:
    """Synthetic 1-D regression data: y = 2 sin(x) + x^0.8 + Gaussian noise.

    The training inputs are drawn uniformly from [0, x_max) and sorted, so that a
    weight matrix drawn with sorted queries against these keys shows a diagonal
    band. The test inputs are an even grid on [0, x_max). A private generator
    seeded with ``seed`` is used, so the data do not depend on the global state.

    Returns:
        ``RegressionData(x_train, y_train, x_test, y_test)``, float32 tensors of
        shapes (n_train,), (n_train,), (n_test,), (n_test,); unpacks as a 4-tuple.
    """
    for name, n in (("n_train", n_train), ("n_test", n_test)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"{name} must be a positive int, got {n!r}")
    for name, value in (("noise", noise), ("x_max", x_max)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not (math.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    if not (math.isfinite(x_max) and x_max > 0):
        raise ValueError(f"x_max must be a finite number > 0, got {x_max!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    gen = torch.Generator().manual_seed(seed)
    x_train, _ = torch.sort(torch.rand(n_train, generator=gen) * x_max)
    y_train = regression_target(x_train) + noise * torch.randn(n_train, generator=gen)
    x_test = torch.arange(n_test, dtype=torch.float32) * (x_max / n_test)
    return RegressionData(x_train, y_train, x_test, regression_target(x_test))


# --- Kernels -----------------------------------------------------------------------------
# Each takes the scaled distance u = (q - k) / h, a float tensor of any shape, and returns
# K(u) >= 0 of the same shape. The constants that turn a kernel into a probability density
# cancel in the ratio of equation alpha, so we drop them.

def _check_u(u) -> None:
    if not isinstance(u, torch.Tensor) or not u.dtype.is_floating_point:
        got = f"dtype {u.dtype}" if isinstance(u, torch.Tensor) else type(u).__name__
        raise TypeError(f"a kernel takes a floating-point tensor u = (q - k) / h, got {got}")


def gaussian_kernel(u: torch.Tensor) -> torch.Tensor:
    """K(u) = exp(-u^2 / 2): every key gets some weight, nearer keys much more."""
    _check_u(u)
    return torch.exp(-u ** 2 / 2)


def boxcar_kernel(u: torch.Tensor) -> torch.Tensor:
    """K(u) = 1 if |u| <= 1 else 0: a plain average of the keys within distance h."""
    _check_u(u)
    return (u.abs() <= 1).to(u.dtype)


def constant_kernel(u: torch.Tensor) -> torch.Tensor:
    """K(u) = 1: every key alike, which is average pooling."""
    _check_u(u)
    return torch.ones_like(u)


def epanechnikov_kernel(u: torch.Tensor) -> torch.Tensor:
    """K(u) = max(0, 1 - u^2): a parabola on [-1, 1], zero outside."""
    _check_u(u)
    return (1 - u ** 2).clamp_min(0)


KERNELS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gaussian": gaussian_kernel,
    "boxcar": boxcar_kernel,
    "constant": constant_kernel,
    "epanechnikov": epanechnikov_kernel,
}


# --- Checks shared by both estimators ------------------------------------------------------

def _check_inputs(queries, keys, values) -> None:
    for name, t in (("queries", queries), ("keys", keys), ("values", values)):
        check_tensor(name, t, floating=True)
    check_same_dtype({"queries": queries, "keys": keys, "values": values})
    if queries.dim() not in (1, 2):
        raise ValueError(f"queries must have shape (L,) or (B, L), got shape {tuple(queries.shape)}")
    if keys.dim() != queries.dim() or values.dim() != queries.dim():
        expected = "(S,)" if queries.dim() == 1 else "(B, S)"
        raise ValueError(f"keys and values must have shape {expected} to match queries of shape "
                         f"{tuple(queries.shape)}: got {tuple(keys.shape)} and {tuple(values.shape)}")
    if keys.shape[-1] != values.shape[-1]:
        raise ValueError(f"keys and values must have the same length S: "
                         f"got {keys.shape[-1]} and {values.shape[-1]}")
    if keys.shape[-1] == 0:
        raise ValueError("need at least one key-value pair, got S = 0")
    if queries.dim() == 2 and not queries.shape[0] == keys.shape[0] == values.shape[0]:
        raise ValueError(f"queries, keys and values must have the same batch size B: "
                         f"got {queries.shape[0]}, {keys.shape[0]} and {values.shape[0]}")
    for name, t in (("queries", queries), ("keys", keys), ("values", values)):
        if not torch.isfinite(t).all():
            raise ValueError(f"{name} must be finite: got {int((~torch.isfinite(t)).sum())} NaN or infinite entries")


def _check_bandwidth(bandwidth) -> None:
    if isinstance(bandwidth, torch.Tensor):
        if bandwidth.numel() != 1 or not bandwidth.dtype.is_floating_point:
            raise TypeError(f"bandwidth must be a number or a one-element float tensor, "
                            f"got a {bandwidth.dtype} tensor of shape {tuple(bandwidth.shape)}")
        value = bandwidth.item()
    elif isinstance(bandwidth, (int, float)) and not isinstance(bandwidth, bool):
        value = float(bandwidth)
    else:
        raise TypeError(f"bandwidth must be a number, got {type(bandwidth).__name__}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"bandwidth must be a finite number > 0, got {value}")


def _working_dtype(dtype: torch.dtype) -> torch.dtype:
    """float16 and bfloat16 inputs are computed in float32: (q - k)^2 overflows float16 past 256."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def _half_gap_to_nearest(queries: torch.Tensor, keys: torch.Tensor,
                         allowed: torch.Tensor | None) -> torch.Tensor:
    """(d^2 - d_min^2) / 2 for queries (B, L) and keys (B, S) -> (B, L, S).

    d = |q - k|, and d_min is the distance from each query to its nearest key that
    it may use. The Gaussian score is minus this over h^2: the nearest key scores
    exactly 0 for any h, so a tiny h or a query far from every key cannot turn a
    whole row into -inf, whose softmax is 0 / 0; the other keys' scores may
    overflow to -inf, which is the weight 0 they should get. Subtracting the same
    number from every score of a row does not change its softmax.
    """
    dist = (queries.unsqueeze(-1) - keys.unsqueeze(-2)).abs()  # (B, L, 1) - (B, 1, S) -> (B, L, S)
    if torch.isinf(dist).any():
        raise ValueError(f"queries and keys are too far apart for {dist.dtype}: |q - k| overflows; rescale them")
    candidates = dist if allowed is None else dist.masked_fill(~allowed, float("inf"))
    nearest = candidates.amin(dim=-1, keepdim=True).detach()  # (B, L, 1); a row's shift needs no gradient
    nearest = nearest.masked_fill(nearest.isinf(), 0.0)  # a row with no key to use is masked anyway
    # (d - d_min)(d + d_min) rather than d^2 - d_min^2: squaring overflows float32 past 1.8e19,
    # and halving before adding keeps d + d_min finite too.
    return (dist - nearest) * (dist / 2 + nearest / 2)  # (B, L, S), 0 at the nearest key


def _kernel_scores(kernel: str, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """log K(u) and the support (K(u) > 0) of a kernel with a window, for a masked softmax of log K."""
    k = KERNELS[kernel](u)
    # clamp: log(0) would be -inf and its gradient NaN; keys outside the support are masked anyway
    return torch.log(k.clamp_min(torch.finfo(u.dtype).tiny)), k > 0


def _batched(queries, keys, values, attn_mask):
    """Inputs as (B, L), (B, S), (B, S) in the working dtype, and the mask as (B, L, S) or None."""
    if queries.dim() == 1:
        queries, keys, values = queries.unsqueeze(0), keys.unsqueeze(0), values.unsqueeze(0)  # (1, L), (1, S)
    work = _working_dtype(queries.dtype)
    queries, keys, values = queries.to(work), keys.to(work), values.to(work)
    batch, num_queries, num_keys = queries.shape[0], queries.shape[1], keys.shape[1]
    if attn_mask is not None:
        attn_mask = check_attn_mask(attn_mask, batch, num_queries, num_keys)  # (B, L, S)
    return queries, keys, values, attn_mask


def _pool(weights, values, unbatched: bool, dtype: torch.dtype):
    predictions = (weights @ values.unsqueeze(-1)).squeeze(-1)  # (B, L, S) @ (B, S, 1) -> (B, L)
    predictions, weights = predictions.to(dtype), weights.to(dtype)
    if unbatched:
        return predictions.squeeze(0), weights.squeeze(0)  # (L,), (L, S)
    return predictions, weights


# --- The estimators ------------------------------------------------------------------------

def nadaraya_watson(queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                    kernel: str = "gaussian", bandwidth: float | torch.Tensor = 1.0,
                    attn_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Nadaraya-Watson kernel regression: attention pooling with kernel weights.

    Args:
        queries: (L,) or (B, L), the inputs to predict at.
        keys: (S,) or (B, S), the training inputs, S >= 1.
        values: (S,) or (B, S), the training targets.
            Queries, keys and values share one floating-point dtype and must be
            finite; float16 and bfloat16 are computed in float32.
        kernel: one of ``KERNELS``: "gaussian", "boxcar", "constant", "epanechnikov".
        bandwidth: h > 0, a number or a one-element tensor (differentiable).
        attn_mask: optional bool tensor (L, S) or (B, L, S), True where a query may
            use a key; ``leave_one_out_mask(S)`` when the queries are the keys.

    Returns:
        ``(predictions, weights)`` in the inputs' dtype: predictions (L,) or (B, L),
        and weights (L, S) or (B, L, S), non-negative, each row summing to 1.
        Never NaN: a query with no key inside a compact kernel's window (boxcar,
        Epanechnikov with a small h), or with every key masked, gets all-zero
        weights and prediction 0. As h -> 0 the Gaussian estimate becomes
        nearest-neighbour regression (ties share the weight); as h -> infinity,
        the average of the values. Gradients with respect to the inputs and a
        tensor bandwidth are finite too (0 where a weight underflows to 0).

    Equivalent to ``w = K((q[:, None] - k[None, :]) / h); w = w / w.sum(-1, keepdim=True);
    predictions = w @ v``, computed as a masked softmax of log K so that it cannot
    overflow or divide 0 by 0.
    """
    _check_inputs(queries, keys, values)
    if not isinstance(kernel, str):
        raise TypeError(f"kernel must be a kernel name (str), got {type(kernel).__name__}")
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}: expected one of {sorted(KERNELS)}")
    _check_bandwidth(bandwidth)
    dtype, unbatched = queries.dtype, queries.dim() == 1
    queries, keys, values, attn_mask = _batched(queries, keys, values, attn_mask)
    work = queries.dtype
    if isinstance(bandwidth, torch.Tensor):
        h = bandwidth.to(device=queries.device, dtype=work).reshape(())
    else:
        h = torch.tensor(float(bandwidth), device=queries.device, dtype=work)
    info = torch.finfo(work)
    h = h.clamp(info.tiny, info.max)  # an h of 1e-300 is 0 in float32, and 0 / 0 is NaN

    if kernel == "gaussian":  # log K(u) = -u^2 / 2, shifted so that the nearest key scores 0
        half_gap = _half_gap_to_nearest(queries, keys, attn_mask)  # (B, L, S)
        # Keys so far away that gap / h^2 overflows get weight 0 (score -inf). They stay out of
        # the division: its backward computes gap / h^3, and 0 * inf would make h's gradient NaN.
        hd = h.detach()
        far = ~(torch.isfinite(half_gap / hd / hd) & torch.isfinite(half_gap / hd / hd / hd))
        # dividing by h twice: h * h underflows to 0 in float32 for h below 1e-19
        scores = -(half_gap.masked_fill(far, 0.0) / h) / h  # (B, L, S)
        scores = scores.masked_fill(far, float("-inf"))
        support = attn_mask
    else:
        u = (queries.unsqueeze(-1) - keys.unsqueeze(-2)) / h  # (B, L, 1) - (B, 1, S) -> (B, L, S)
        scores, support = _kernel_scores(kernel, u)  # (B, L, S) each
        if attn_mask is not None:
            support = support & attn_mask
    weights = masked_softmax(scores, attn_mask=support)  # (B, L, S)
    return _pool(weights, values, unbatched, dtype)


class ParametricAttentionPooling(nn.Module):
    """Nadaraya-Watson with a Gaussian kernel whose inverse bandwidth w is learned.

    ``f(q) = sum_i softmax_i(-((q - k_i) w)^2 / 2) v_i``, the same as
    ``nadaraya_watson(..., kernel="gaussian", bandwidth=1 / |w|)``. Train it with the
    training inputs as queries and ``attn_mask=leave_one_out_mask(S)``: without the
    mask each point sees itself and w grows without bound. Any finite w is safe:
    the scores are shifted so that the nearest key scores 0, as in
    :func:`nadaraya_watson`, and w = 0 is average pooling.

    Args:
        init_w: the starting value of w (a finite number, not 0).
    """

    def __init__(self, init_w: float = 1.0):
        super().__init__()
        if isinstance(init_w, bool) or not isinstance(init_w, (int, float)):
            raise TypeError(f"init_w must be a number, got {type(init_w).__name__}")
        if not (math.isfinite(init_w) and init_w != 0):
            raise ValueError(f"init_w must be a finite non-zero number, got {init_w}")
        self.w = nn.Parameter(torch.tensor(float(init_w)))

    def forward(self, queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                attn_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Args and returns as in :func:`nadaraya_watson`: queries (L,) or (B, L), keys and
        values (S,) or (B, S); returns ``(predictions, weights)`` of shapes (L,) or (B, L)
        and (L, S) or (B, L, S), in the inputs' dtype."""
        _check_inputs(queries, keys, values)
        if not torch.isfinite(self.w).all():
            raise ValueError(f"w must be finite, got {self.w.item()} (did training diverge?)")
        dtype, unbatched = queries.dtype, queries.dim() == 1
        queries, keys, values, attn_mask = _batched(queries, keys, values, attn_mask)
        w = self.w.to(queries.dtype)
        half_gap = _half_gap_to_nearest(queries, keys, attn_mask)  # (B, L, S)
        # As in nadaraya_watson, keys whose score overflows get -inf without passing through
        # the product, so that w's gradient stays finite.
        wd = w.detach()
        far = ~torch.isfinite(half_gap * wd * wd)
        # (gap * w) * w, not gap * w^2: w * w overflows float32 past w = 1.8e19
        scores = -(half_gap.masked_fill(far, 0.0) * w) * w  # (B, L, S)
        scores = scores.masked_fill(far, float("-inf"))
        weights = masked_softmax(scores, attn_mask=attn_mask)  # (B, L, S)
        return _pool(weights, values, unbatched, dtype)
