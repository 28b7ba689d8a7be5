"""Tests of attn.multihead: multi-head attention against torch.nn.MultiheadAttention."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from attn import MultiHeadAttention, causal_mask, merge_heads, sequence_mask, split_heads


def copy_from_torch(theirs: nn.MultiheadAttention, bias: bool) -> MultiHeadAttention:
    """Our module with the weights of ``theirs`` (in_proj rows: queries, keys, values)."""
    E, H = theirs.embed_dim, theirs.num_heads
    ours = MultiHeadAttention(E, H, bias=bias)
    with torch.no_grad():
        for i, layer in enumerate((ours.W_q, ours.W_k, ours.W_v)):
            layer.weight.copy_(theirs.in_proj_weight[i * E:(i + 1) * E])
            if bias:
                layer.bias.copy_(theirs.in_proj_bias[i * E:(i + 1) * E])
        ours.W_o.weight.copy_(theirs.out_proj.weight)
        if bias:
            ours.W_o.bias.copy_(theirs.out_proj.bias)
    return ours


def pair(E=12, H=3, bias=True, seed=0):
    torch.manual_seed(seed)
    theirs = nn.MultiheadAttention(E, H, bias=bias, batch_first=True)
    if bias:  # PyTorch initialises the biases to zero: make them matter
        with torch.no_grad():
            theirs.in_proj_bias.normal_()
            theirs.out_proj.bias.normal_()
    return copy_from_torch(theirs, bias), theirs


def inputs(B=3, L=4, S=6, E=12, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(B, L, E, generator=gen), torch.randn(B, S, E, generator=gen),
            torch.randn(B, S, E, generator=gen))


def theirs_call(theirs, q, k, v, key_padding_mask=None, attn_mask=None):
    """PyTorch's masks mean True = may NOT attend: pass the negations of ours."""
    return theirs(q, k, v, key_padding_mask=key_padding_mask, attn_mask=attn_mask,
                  need_weights=True, average_attn_weights=False)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("fast", [True, False])
def test_self_attention_equals_torch(bias, fast):
    ours, theirs = pair(bias=bias)
    x = inputs(L=5, S=5)[0]
    expected, expected_w = theirs_call(theirs, x, x, x)
    if fast:
        torch.testing.assert_close(ours(x, x, x), expected, atol=1e-5, rtol=0)
    else:
        out, w = ours(x, x, x, need_weights=True)
        torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
        torch.testing.assert_close(w, expected_w, atol=1e-5, rtol=0)
        assert w.shape == (3, 3, 5, 5)


@pytest.mark.parametrize("bias", [True, False])
def test_cross_attention_with_key_padding_equals_torch(bias):
    ours, theirs = pair(bias=bias)
    q, k, v = inputs(L=4, S=6)
    valid_lens = torch.tensor([6, 2, 4])
    padding = ~sequence_mask(valid_lens, 6)  # (B, S), True = padding
    expected, expected_w = theirs_call(theirs, q, k, v, key_padding_mask=padding)
    out, w = ours(q, k, v, valid_lens, need_weights=True)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(w, expected_w, atol=1e-5, rtol=0)
    torch.testing.assert_close(ours(q, k, v, valid_lens), expected, atol=1e-5, rtol=0)
    assert (w[1, :, :, 2:] == 0).all()


@pytest.mark.parametrize("bias", [True, False])
def test_causal_mask_with_padding_equals_torch(bias):
    ours, theirs = pair(bias=bias)
    x = inputs(L=6, S=6)[0]
    valid_lens = torch.tensor([6, 3, 5])
    causal = causal_mask(6, 6)
    expected, expected_w = theirs_call(theirs, x, x, x, key_padding_mask=~sequence_mask(valid_lens, 6),
                                       attn_mask=~causal)
    out, w = ours(x, x, x, valid_lens, attn_mask=causal, need_weights=True)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(w, expected_w, atol=1e-5, rtol=0)
    for kwargs in ({"attn_mask": causal}, {"is_causal": True}):
        torch.testing.assert_close(ours(x, x, x, valid_lens, **kwargs), expected, atol=1e-5, rtol=0)
        out_w, w_w = ours(x, x, x, valid_lens, need_weights=True, **kwargs)
        torch.testing.assert_close(w_w, expected_w, atol=1e-5, rtol=0)


def test_per_query_valid_lens_and_batched_mask():
    ours, theirs = pair()
    q, k, v = inputs(L=4, S=6)
    valid_lens = torch.tensor([[1, 2, 3, 4], [6, 5, 4, 3], [2, 2, 6, 6]])  # (B, L)
    gen = torch.Generator().manual_seed(5)
    extra = torch.rand(3, 4, 6, generator=gen) < 0.7
    extra[..., 0] = True  # every query keeps key 0: PyTorch gives NaN for a query with no key
    mask = sequence_mask(valid_lens, 6) & extra  # (B, L, S)
    theirs_mask = (~mask).repeat_interleave(3, dim=0)  # (B*H, L, S), True = masked
    expected, expected_w = theirs_call(theirs, q, k, v, attn_mask=theirs_mask)
    out, w = ours(q, k, v, valid_lens, attn_mask=extra, need_weights=True)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(w, expected_w, atol=1e-5, rtol=0)
    torch.testing.assert_close(ours(q, k, v, valid_lens, attn_mask=extra), expected, atol=1e-5, rtol=0)


def test_fast_path_equals_explicit_path_in_float64():
    torch.manual_seed(2)
    mha = MultiHeadAttention(16, 4, bias=True).double()
    q, k, v = (t.double() for t in inputs(B=2, L=5, S=7, E=16))
    for kwargs in ({}, {"valid_lens": torch.tensor([7, 3])}, {"is_causal": True},
                   {"valid_lens": torch.tensor([[1, 2, 3, 4, 5], [7, 7, 0, 2, 1]])},
                   {"attn_mask": torch.rand(5, 7, generator=torch.Generator().manual_seed(0)) < .5}):
        fast = mha(q, k, v, **kwargs)
        explicit, _ = mha(q, k, v, need_weights=True, **kwargs)
        torch.testing.assert_close(fast, explicit, atol=1e-12, rtol=0)


def test_query_with_no_key_gets_zero_weights_and_no_nan():
    mha = MultiHeadAttention(8, 2)
    q, k, v = inputs(B=2, L=3, S=4, E=8)
    valid_lens = torch.tensor([[0, 2, 4], [4, 0, 1]])
    q.requires_grad_(True)
    for need_weights in (True, False):
        result = mha(q, k, v, valid_lens, need_weights=need_weights)
        out = result[0] if need_weights else result
        assert torch.isfinite(out).all()
        assert torch.equal(out[0, 0], torch.zeros(8)) and torch.equal(out[1, 1], torch.zeros(8))
        if need_weights:
            assert torch.equal(result[1][0, :, 0], torch.zeros(2, 4))
        out.sum().backward()
        assert torch.isfinite(q.grad).all()
        q.grad = None


def test_manual_per_head_loop_equals_module():
    """The definition: H separate attentions on slices of the projections, concatenated, then W_o."""
    torch.manual_seed(3)
    E, H = 12, 3
    D = E // H
    mha = MultiHeadAttention(E, H)
    q, k, v = inputs(L=4, S=5, E=E)
    heads = []
    for h in range(H):
        rows = slice(h * D, (h + 1) * D)  # head h's rows of each projection matrix
        qh, kh, vh = (x @ W.weight[rows].T for x, W in ((q, mha.W_q), (k, mha.W_k), (v, mha.W_v)))
        heads.append(torch.softmax(qh @ kh.transpose(1, 2) / math.sqrt(D), -1) @ vh)
    expected = mha.W_o(torch.cat(heads, dim=-1))
    torch.testing.assert_close(mha(q, k, v), expected, atol=1e-6, rtol=0)


def test_is_causal_equals_lower_triangular_mask_and_hides_the_future():
    torch.manual_seed(4)
    mha = MultiHeadAttention(8, 2)
    x = inputs(B=2, L=5, S=5, E=8)[0]
    tril = torch.ones(5, 5, dtype=torch.bool).tril()
    assert torch.equal(causal_mask(5, 5), tril)
    torch.testing.assert_close(mha(x, x, x, is_causal=True), mha(x, x, x, attn_mask=tril))
    _, w = mha(x, x, x, is_causal=True, need_weights=True)
    assert (w[..., ~tril] == 0).all()
    changed = x.clone()
    changed[:, 3:] = 10.0  # the future of queries 0..2
    torch.testing.assert_close(mha(changed, changed, changed, is_causal=True)[:, :3],
                               mha(x, x, x, is_causal=True)[:, :3])


def test_weights_are_returned_not_kept_as_module_state():
    mha = MultiHeadAttention(8, 4)
    before = set(vars(mha))
    q, k, v = inputs(B=2, L=3, S=5, E=8)
    _, w = mha(q, k, v, need_weights=True)
    assert w.shape == (2, 4, 3, 5)
    assert set(vars(mha)) == before and not hasattr(mha, "last_weights")
    assert not any(isinstance(value, torch.Tensor) for value in vars(mha).values())


def test_split_and_merge_heads():
    x = torch.arange(2 * 3 * 6.).view(2, 3, 6)
    heads = split_heads(x, 2)
    assert heads.shape == (2, 2, 3, 3)
    assert torch.equal(heads[1, 1, 2], x[1, 2, 3:])  # head 1 holds features 3..5
    assert torch.equal(merge_heads(heads), x)


def test_dropout_acts_only_in_training():
    torch.manual_seed(5)
    mha = MultiHeadAttention(8, 2, dropout=0.5)
    q, k, v = inputs(B=2, L=3, S=5, E=8)
    mha.eval()
    torch.testing.assert_close(mha(q, k, v), mha(q, k, v, need_weights=True)[0])
    mha.train()
    assert not torch.allclose(mha(q, k, v), mha(q, k, v))


def test_gradcheck_float64():
    torch.manual_seed(6)
    mha = MultiHeadAttention(4, 2, bias=True).double()
    q, k, v = (torch.randn(2, n, 4, dtype=torch.float64, requires_grad=True) for n in (3, 4, 4))
    valid_lens = torch.tensor([4, 2])
    for need_weights in (True, False):
        def f(q, k, v):
            out = mha(q, k, v, valid_lens, is_causal=False, need_weights=need_weights)
            return out[0] if need_weights else out
        assert torch.autograd.gradcheck(f, (q, k, v))
    params = tuple(mha.parameters())
    assert torch.autograd.gradcheck(
        lambda *p: torch.func.functional_call(mha, dict(zip(dict(mha.named_parameters()), p)),
                                              (q.detach(), k.detach(), v.detach(), valid_lens)),
        tuple(p.detach().clone().requires_grad_() for p in params))


def test_parameter_count():
    assert sum(p.numel() for p in MultiHeadAttention(16, 4).parameters()) == 4 * 16 * 16
    assert sum(p.numel() for p in MultiHeadAttention(16, 8, bias=True).parameters()) == 4 * 16 * 17


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------

def test_errors_in_the_constructor():
    with pytest.raises(ValueError, match="divisible by num_heads: got num_hiddens = 10 and num_heads = 4"):
        MultiHeadAttention(10, 4)
    with pytest.raises(ValueError, match="num_heads must be a positive int"):
        MultiHeadAttention(8, 0)
    with pytest.raises(TypeError, match=r"num_hiddens must be a positive int, got 8.0 \(float\)"):
        MultiHeadAttention(8.0, 2)
    with pytest.raises(ValueError, match="dropout"):
        MultiHeadAttention(8, 2, dropout=1.5)
    with pytest.raises(TypeError, match="bias"):
        MultiHeadAttention(8, 2, bias=1)


def test_errors_in_forward():
    mha = MultiHeadAttention(8, 2)
    q, k, v = inputs(B=2, L=3, S=5, E=8)
    with pytest.raises(ValueError, match=r"queries must have shape \(B, L, E\) \(3 dimensions\), got shape \(3, 8\)"):
        mha(q[0], k, v)
    with pytest.raises(ValueError, match="same batch size B: got 2, 1 and 1"):
        mha(q, k[:1], v[:1])
    with pytest.raises(ValueError, match="same length S: got 5 and 4"):
        mha(q, k, v[:, :4])
    with pytest.raises(ValueError, match="queries must have size E = 8 in its last dimension, got 6"):
        mha(q[..., :6], k, v)
    with pytest.raises(ValueError, match="values must have size E = 8 in its last dimension, got 6"):
        mha(q, k, v[..., :6])
    with pytest.raises(TypeError, match="floating-point"):
        mha(q.long(), k, v)
    with pytest.raises(TypeError, match="module's dtype torch.float32, got torch.float64"):
        mha(q.double(), k.double(), v.double())
    with pytest.raises(TypeError, match="keys must be a torch.Tensor, got list"):
        mha(q, [[1.0]], v)
    with pytest.raises(ValueError, match=r"valid_lens must have shape \(B,\)"):
        mha(q, k, v, torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match=r"valid_lens must lie in \[0, S\]"):
        mha(q, k, v, torch.tensor([1, 6]))
    with pytest.raises(TypeError, match="attn_mask must be a bool tensor"):
        mha(q, k, v, attn_mask=torch.ones(3, 5))
    with pytest.raises(ValueError, match=r"attn_mask must have shape \(L, S\) = \(3, 5\)"):
        mha(q, k, v, attn_mask=torch.ones(5, 3, dtype=torch.bool))
    with pytest.raises(TypeError, match="need_weights must be True or False"):
        mha(q, k, v, need_weights=1)
    with pytest.raises(TypeError, match="is_causal must be True or False"):
        mha(q, k, v, is_causal=None)


def test_errors_of_the_helpers():
    with pytest.raises(ValueError, match="not divisible by num_heads = 4"):
        split_heads(torch.zeros(1, 2, 6), 4)
    with pytest.raises(ValueError, match=r"shape \(B, L, E\), got \(2, 6\)"):
        split_heads(torch.zeros(2, 6), 2)
    with pytest.raises(ValueError, match=r"shape \(B, H, L, D\), got \(2, 6, 1\)"):
        merge_heads(torch.zeros(2, 6, 1))
    with pytest.raises(ValueError, match="num_keys must be an int >= 0"):
        causal_mask(3, -1)
