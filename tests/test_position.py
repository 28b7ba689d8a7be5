"""Tests of attn.position: sinusoidal, learned and rotary position encodings."""

import math

import pytest
import torch

from attn import (LearnedPositionalEmbedding, MultiHeadAttention, PositionalEncoding, apply_rope,
                  frequencies, relative_shift_matrix, sinusoidal_encoding)


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
    with pytest.raises(TypeError, match="positions must be an integer tensor"):
        apply_rope(torch.zeros(3, 4), torch.zeros(3))
    with pytest.raises(ValueError, match=r"positions must have shape \(L,\) = \(3,\), got \(4,\)"):
        apply_rope(torch.zeros(3, 4), torch.arange(4))
    with pytest.raises(TypeError, match="floating-point tensor"):
        apply_rope(torch.zeros(3, 4, dtype=torch.long))
