"""Tests of attn.position: sinusoidal, learned and rotary position encodings, position
interpolation, and ALiBi (its slopes, its bias, through SDPA and MultiHeadAttention)."""

import math

import pytest
import torch
import torch.nn.functional as F

import attn
from attn import (LearnedPositionalEmbedding, MultiHeadAttention, PositionalEncoding, alibi_bias,
                  alibi_slopes, apply_rope, frequencies, relative_shift_matrix,
                  sinusoidal_encoding)
from attn.position import additive_mask


def test_sinusoidal_encoding_equals_the_closed_form():
    max_len, E = 50, 10
    P = sinusoidal_encoding(max_len, E, dtype=torch.float64)
    for i in range(max_len):
        for j in range(E // 2):
            angle = i / 10000 ** (2 * j / E)
            assert P[i, 2 * j].item() == pytest.approx(math.sin(angle), abs=1e-12)
            assert P[i, 2 * j + 1].item() == pytest.approx(math.cos(angle), abs=1e-12)
    assert sinusoidal_encoding(max_len, E).dtype == torch.float32


def test_positional_encoding_adds_P_and_has_no_parameters():
    pe = PositionalEncoding(8, max_len=20)
    x = torch.randn(3, 7, 8)
    torch.testing.assert_close(pe(x), x + sinusoidal_encoding(20, 8)[:7])
    torch.testing.assert_close(pe(torch.zeros(1, 20, 8))[0], pe.P)
    assert list(pe.parameters()) == []
    assert "P" not in pe.state_dict()  # derived, not saved


def test_frequencies_fall_geometrically_from_one():
    omega = frequencies(8, dtype=torch.float64)
    torch.testing.assert_close(omega, torch.tensor([1.0, 10000 ** -0.25, 10000 ** -0.5, 10000 ** -0.75],
                                                   dtype=torch.float64))


@pytest.mark.parametrize("delta", [1, 3, 17, -5])
def test_a_fixed_linear_map_shifts_every_position_by_delta(delta):
    E = 16
    P = sinusoidal_encoding(100, E, dtype=torch.float64)
    M = relative_shift_matrix(E, delta, dtype=torch.float64)
    for i in [0, 1, 7, 30, 60]:
        if 0 <= i + delta < 100:
            torch.testing.assert_close(M @ P[i], P[i + delta], atol=1e-12, rtol=0)
    # the map is a rotation: orthogonal, and shifting by -delta undoes it
    torch.testing.assert_close(M @ M.T, torch.eye(E, dtype=torch.float64))
    torch.testing.assert_close(relative_shift_matrix(E, -delta, dtype=torch.float64) @ M,
                               torch.eye(E, dtype=torch.float64))
    # and it is not the identity: it really moves P
    assert (M @ P[10] - P[10]).abs().max() > 1e-3


def test_self_attention_is_permutation_equivariant_without_positions_only():
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 2)
    pe = PositionalEncoding(8)
    x = torch.randn(2, 6, 8)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    y = mha(x, x, x)
    xp = x[:, perm]
    torch.testing.assert_close(mha(xp, xp, xp), y[:, perm])
    z, zp = pe(x), pe(xp)
    assert (mha(zp, zp, zp) - mha(z, z, z)[:, perm]).abs().max() > 1e-2


def test_learned_embedding_adds_its_rows_and_trains():
    torch.manual_seed(1)
    emb = LearnedPositionalEmbedding(4, max_len=10)
    x = torch.randn(2, 6, 4)
    torch.testing.assert_close(emb(x), x + emb.embedding.weight[:6])
    emb(x).sum().backward()
    grad = emb.embedding.weight.grad
    assert (grad[:6] != 0).all() and (grad[6:] == 0).all()  # only the positions used


def test_rope_scores_depend_only_on_the_offset():
    gen = torch.Generator().manual_seed(2)
    q, k = torch.randn(8, generator=gen, dtype=torch.float64), torch.randn(8, generator=gen,
                                                                             dtype=torch.float64)
    L = 40
    qs = apply_rope(q.expand(L, 8).clone())  # the same query at every position 0..L-1
    ks = apply_rope(k.expand(L, 8).clone())
    scores = qs @ ks.T  # (L, L): scores[m, n] = rotated q at m . rotated k at n
    for offset in [-7, 0, 3, 12]:
        diagonal = torch.diagonal(scores, offset=-offset)  # entries with m - n = offset
        torch.testing.assert_close(diagonal, diagonal[:1].expand_as(diagonal), atol=1e-12, rtol=0)
    assert scores[5, 2] != pytest.approx(scores[5, 3].item())  # and it does depend on it


def test_rope_equals_the_shift_matrix_rotation_and_keeps_norms():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, 5, 6, generator=gen, dtype=torch.float64)  # (B, H, L, D)
    rotated = apply_rope(x)
    torch.testing.assert_close(rotated.norm(dim=-1), x.norm(dim=-1))
    for m in range(5):
        M = relative_shift_matrix(6, m, dtype=torch.float64)  # rotation by m * w_j per pair
        # RoPE turns a pair counter-clockwise; M turns (sin, cos) pairs: it is M transposed
        torch.testing.assert_close(rotated[..., m, :], x[..., m, :] @ M, atol=1e-12, rtol=0)
    torch.testing.assert_close(apply_rope(x[..., :1, :]), x[..., :1, :])  # position 0: no rotation
    positions = torch.tensor([4, 0, 2, 9, 1])
    by_four = x[..., 0, :] @ relative_shift_matrix(6, 4, dtype=torch.float64)  # token 0 at position 4
    torch.testing.assert_close(apply_rope(x, positions)[..., 0, :], by_four, atol=1e-12, rtol=0)


def test_errors():
    with pytest.raises(ValueError, match="num_hiddens must be even .* got 7"):
        PositionalEncoding(7)
    with pytest.raises(ValueError, match="max_len must be a positive int, got 0"):
        PositionalEncoding(8, max_len=0)
    with pytest.raises(ValueError, match="base must be a finite number > 1, got 1"):
        sinusoidal_encoding(10, 8, base=1)
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\], got 1.5"):
        PositionalEncoding(8, dropout=1.5)
    pe = PositionalEncoding(8, max_len=5)
    with pytest.raises(ValueError, match="at most max_len = 5 tokens, got 6"):
        pe(torch.zeros(1, 6, 8))
    with pytest.raises(ValueError, match=r"shape \(B, L, E\) \(3 dimensions\), got shape \(5, 8\)"):
        pe(torch.zeros(5, 8))
    with pytest.raises(ValueError, match="size E = 8 in its last dimension, got 6"):
        pe(torch.zeros(1, 5, 6))
    with pytest.raises(TypeError, match="floating-point tensor, got dtype torch.int64"):
        pe(torch.zeros(1, 5, 8, dtype=torch.long))
    with pytest.raises(ValueError, match="at most max_len = 3 tokens, got 4"):
        LearnedPositionalEmbedding(2, max_len=3)(torch.zeros(1, 4, 2))
    with pytest.raises(TypeError, match="delta must be an int"):
        relative_shift_matrix(4, 1.5)
    with pytest.raises(ValueError, match="the head width D must be even"):
        apply_rope(torch.zeros(2, 3, 5))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        apply_rope(torch.zeros(4))
    with pytest.raises(TypeError, match="positions must be an integer or float tensor"):
        apply_rope(torch.zeros(3, 4), torch.zeros(3, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"positions must have shape \(L,\) = \(3,\), got \(4,\)"):
        apply_rope(torch.zeros(3, 4), torch.arange(4))
    with pytest.raises(TypeError, match="floating-point tensor"):
        apply_rope(torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="num_heads must be a positive int, got 0"):
        alibi_slopes(0)
    with pytest.raises(ValueError, match=r"slopes must have shape \(H,\), got \(2, 3\)"):
        alibi_bias(torch.ones(2, 3), 4)
    with pytest.raises(TypeError, match="slopes must be a floating-point tensor"):
        alibi_bias(torch.ones(2, dtype=torch.long), 4)
    with pytest.raises(ValueError, match="num_keys must be at least num_queries.*got 3 and 4"):
        alibi_bias(alibi_slopes(2), 4, 3)
    with pytest.raises(TypeError, match="attn_mask must be a bool tensor"):
        additive_mask(torch.zeros(3, 3), torch.ones(3, 3))


# --- Position interpolation -------------------------------------------------------------------

def test_fractional_positions_rotate_by_fractional_angles():
    """Position interpolation: position m read as m * s turns each pair by m * s * w_j."""
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(2, 6, 8, generator=gen, dtype=torch.float64)  # (B, L, D)
    whole = torch.arange(6)
    torch.testing.assert_close(apply_rope(x, whole.double()), apply_rope(x, whole))
    half = apply_rope(x, whole * 0.5)
    omega = frequencies(8, dtype=torch.float64)
    for m in range(6):
        angle = 0.5 * m * omega  # (D/2,)
        even, odd = x[:, m, 0::2], x[:, m, 1::2]
        expected = torch.stack((even * angle.cos() - odd * angle.sin(),
                                even * angle.sin() + odd * angle.cos()), -1).flatten(-2)
        torch.testing.assert_close(half[:, m], expected, atol=1e-12, rtol=0)
    # scaled by 1/2, positions 0..11 take the angles that 0..5.5 have: 2m lands on m
    long = apply_rope(x.repeat(1, 2, 1), torch.arange(12) * 0.5)
    torch.testing.assert_close(long[:, 0::2], apply_rope(x.repeat(1, 2, 1)[:, 0::2]),
                               atol=1e-12, rtol=0)


# --- ALiBi --------------------------------------------------------------------------------------

def paper_slopes(n):
    """The slope function of the ALiBi paper's code (Press et al., 2022), transcribed."""
    def get_slopes_power_of_2(n):
        start = 2 ** (-2 ** -(math.log2(n) - 3))
        ratio = start
        return [start * ratio ** i for i in range(n)]

    if math.log2(n).is_integer():
        return get_slopes_power_of_2(n)
    closest_power_of_2 = 2 ** math.floor(math.log2(n))
    return (get_slopes_power_of_2(closest_power_of_2)
            + paper_slopes(2 * closest_power_of_2)[0::2][:n - closest_power_of_2])


def test_alibi_slopes_are_the_papers_for_8_and_6_heads():
    eight = [1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 32, 1 / 64, 1 / 128, 1 / 256]
    six = [1 / 4, 1 / 16, 1 / 64, 1 / 256, 1 / 2, 1 / 8]  # 4 heads' slopes, then 8's 1st, 3rd
    assert alibi_slopes(8, dtype=torch.float64).tolist() == eight
    assert alibi_slopes(6, dtype=torch.float64).tolist() == six
    for n in range(1, 33):
        assert alibi_slopes(n, dtype=torch.float64).tolist() == pytest.approx(
            paper_slopes(n), rel=1e-14)
    assert alibi_slopes(8).dtype == torch.float32


def test_alibi_bias_equals_its_closed_form():
    slopes = alibi_slopes(3, dtype=torch.float64)
    L, S = 4, 7  # three cached keys: query i stands at position 3 + i
    bias = alibi_bias(slopes, L, S)
    assert bias.shape == (3, L, S) and bias.dtype == torch.float64
    for h in range(3):
        for i in range(L):
            for j in range(S):
                assert bias[h, i, j].item() == -slopes[h].item() * abs(S - L + i - j)
    square = alibi_bias(slopes, 5)
    torch.testing.assert_close(square, alibi_bias(slopes, 5, 5))
    assert torch.all(square.diagonal(dim1=1, dim2=2) == 0)  # a query's own key: no penalty
    # on the keys a causal query sees, the paper's row m * [-(i), ..., -1, 0]
    torch.testing.assert_close(square[1, 4], slopes[1] * torch.tensor([-4.0, -3, -2, -1, 0],
                                                                      dtype=torch.float64))


def explicit_attention(q, k, v, bias, mask):
    """softmax(q k^T / sqrt(D) + bias, masked) v, written out; rows without a key give 0."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]) + bias
    scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1).nan_to_num(0.0)  # an all -inf row: NaN -> 0
    return weights @ v


def test_alibi_through_sdpa_equals_the_explicit_computation():
    gen = torch.Generator().manual_seed(5)
    B, H, L, D = 2, 4, 6, 8
    q, k, v = (torch.randn(B, H, L, D, generator=gen, dtype=torch.float64) for _ in range(3))
    bias = alibi_bias(alibi_slopes(H, dtype=torch.float64), L)  # (H, L, L)
    causal = attn.causal_mask(L, L)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=additive_mask(bias, causal))
    torch.testing.assert_close(out, explicit_attention(q, k, v, bias, causal))
    # the bias changes the result: without it the output is another one
    assert (out - explicit_attention(q, k, v, 0 * bias, causal)).abs().max() > 1e-2
    # a row that may see no key gets a finite float mask (SDPA's output there is the
    # caller's to zero) instead of -inf everywhere, which would give NaN
    mask = causal & (torch.arange(L) >= 2)  # keys 0, 1 are padding: queries 0, 1 see nothing
    float_mask = additive_mask(bias, mask)
    assert float_mask[:, :2].isfinite().all()
    assert torch.equal(float_mask[:, 2:].isinf(), ~mask[2:].expand(H, -1, -1))


@pytest.mark.parametrize("shape", ["LS", "HLS", "BHLS"])
def test_multihead_attention_adds_attn_bias_on_both_paths(shape):
    torch.manual_seed(6)
    B, H, L, E = 2, 4, 5, 16
    mha = MultiHeadAttention(E, H, bias=True).double()
    x = torch.randn(B, L, E, dtype=torch.float64)
    bias = alibi_bias(alibi_slopes(H, dtype=torch.float64), L)  # (H, L, S)
    bias = {"LS": bias[0], "HLS": bias, "BHLS": bias.expand(B, -1, -1, -1) * 1.5}[shape]
    valid_lens = torch.tensor([5, 3])
    fused = mha(x, x, x, valid_lens, attn_bias=bias, is_causal=True)
    explicit, weights = mha(x, x, x, valid_lens, attn_bias=bias, is_causal=True,
                            need_weights=True)
    q, k, v = (attn.split_heads(W(x), H) for W in (mha.W_q, mha.W_k, mha.W_v))
    keys_ok = torch.arange(L) < valid_lens[:, None, None, None]  # (B, 1, 1, S)
    mask = attn.causal_mask(L, L) & keys_ok
    expected = mha.W_o(attn.merge_heads(explicit_attention(q, k, v, bias, mask)))
    torch.testing.assert_close(fused, expected)
    torch.testing.assert_close(explicit, expected)
    assert weights.shape == (B, H, L, L) and torch.all(weights.triu(1) == 0)
    # without the bias the same call gives another output
    assert (mha(x, x, x, valid_lens, is_causal=True) - fused).abs().max() > 1e-3


def test_attn_bias_with_queries_that_see_no_key_and_with_nan():
    torch.manual_seed(7)
    mha = MultiHeadAttention(8, 2)
    x = torch.randn(2, 4, 8)
    bias = alibi_bias(alibi_slopes(2), 4)
    no_key = torch.tensor([4, 0])  # row 1: every key is padding
    fused = mha(x, x, x, no_key, attn_bias=bias)
    explicit, _ = mha(x, x, x, no_key, attn_bias=bias, need_weights=True)
    assert torch.all(fused[1] == 0) and torch.all(explicit[1] == 0)  # W_o has no bias here
    torch.testing.assert_close(fused, explicit)
    x[0, 2] = float("nan")  # NaN in, NaN out, on both paths alike and as without a bias
    fused = mha(x, x, x, attn_bias=bias, is_causal=True)
    explicit, _ = mha(x, x, x, attn_bias=bias, is_causal=True, need_weights=True)
    unbiased = mha(x, x, x, is_causal=True)
    assert fused[0, 2:].isnan().all() and fused[1].isfinite().all()
    assert torch.equal(fused.isnan(), explicit.isnan())
    assert torch.equal(fused.isnan(), unbiased.isnan())
    with pytest.raises(ValueError, match=r"attn_bias must have shape .* got \(3, 4, 4\)"):
        mha(x, x, x, attn_bias=torch.zeros(3, 4, 4))
    with pytest.raises(TypeError, match="attn_bias must be a floating-point tensor"):
        mha(x, x, x, attn_bias=torch.zeros(4, 4, dtype=torch.long))
