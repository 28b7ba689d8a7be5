"""Tests of attn.gpt: the block against PyTorch's layer, causality, the parameter formula,
left padding, every kind of positions (learned, sinusoidal, rotary with interpolation, ALiBi,
none), the key-value cache and the attention weights."""

import pytest
import torch
from torch import nn

import attn
from attn.gpt import GPT, GPTBlock, GPTConfig, num_parameters
from attn.kv_cache import KVCache
from attn.sampling import generate

E, H, F = 12, 3, 20
POSITIONS = list(attn.gpt.POSITIONS)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def randomize(module: nn.Module, seed: int = 0, scale: float = 0.3) -> None:
    """Every parameter random, biases and LayerNorm weights included."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * scale)


def small_gpt(positions="learned", tie_weights=True, seed=0, **kwargs) -> GPT:
    config = GPTConfig(vocab_size=23, context_len=16, num_layers=2, num_hiddens=E, num_heads=H,
                       ffn_hiddens=F, positions=positions, tie_weights=tie_weights, **kwargs)
    torch.manual_seed(seed)
    model = GPT(config)
    randomize(model, seed)  # larger than GPT-2's start, so that every path matters
    return model.eval()


def block_pair():
    theirs = nn.TransformerEncoderLayer(E, H, F, dropout=0.0, activation="gelu",
                                        batch_first=True, norm_first=True)
    randomize(theirs)
    ours = GPTBlock(E, H, F)
    with torch.no_grad():
        mha = ours.attention
        for i, layer in enumerate((mha.W_q, mha.W_k, mha.W_v)):
            layer.weight.copy_(theirs.self_attn.in_proj_weight[i * E:(i + 1) * E])
            layer.bias.copy_(theirs.self_attn.in_proj_bias[i * E:(i + 1) * E])
        mha.W_o.load_state_dict(theirs.self_attn.out_proj.state_dict())
    ours.ffn.dense1.load_state_dict(theirs.linear1.state_dict())
    ours.ffn.dense2.load_state_dict(theirs.linear2.state_dict())
    ours.addnorm1.norm.load_state_dict(theirs.norm1.state_dict())
    ours.addnorm2.norm.load_state_dict(theirs.norm2.state_dict())
    return ours, theirs


@pytest.mark.parametrize("training", [False, True])  # eval mode may take PyTorch's fused path
def test_block_equals_torch_encoder_layer_under_a_causal_mask(training):
    ours, theirs = block_pair()
    ours.train(training), theirs.train(training)
    x = torch.randn(3, 7, E, generator=torch.Generator().manual_seed(1))
    mask = nn.Transformer.generate_square_subsequent_mask(7)  # -inf above the diagonal
    expected = theirs(x, src_mask=mask, is_causal=True)
    out, weights = ours(x)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    assert weights is None
    out_w, weights = ours(x, need_weights=True)  # the explicit path gives the same output
    torch.testing.assert_close(out_w, expected, atol=1e-5, rtol=0)
    assert weights.shape == (3, H, 7, 7)
    assert torch.all(weights.triu(1) == 0)


def test_block_with_a_cache_computes_what_multihead_attention_computes():
    ours, _ = block_pair()
    x = torch.randn(2, 6, E, generator=torch.Generator().manual_seed(2))
    expected, expected_w = ours(x, need_weights=True)
    for need_weights in (False, True):
        cache = KVCache()
        first, _ = ours(x[:, :4], cache=cache)
        second, w = ours(x[:, 4:], cache=cache, need_weights=need_weights)
        torch.testing.assert_close(torch.cat([first, second], dim=1), expected, atol=1e-5,
                                   rtol=0)
        assert len(cache) == 6
        if need_weights:
            torch.testing.assert_close(w, expected_w[:, :, 4:], atol=1e-6, rtol=0)


@pytest.mark.parametrize("positions", POSITIONS)
@pytest.mark.parametrize("tie_weights", [True, False])
def test_parameter_formula_matches_the_model(positions, tie_weights):
    for config in (GPTConfig(37, 11, 3, 16, 4, 24, positions=positions, tie_weights=tie_weights),
                   GPTConfig(50, 20, 1, 8, 2, positions=positions, tie_weights=tie_weights)):
        model = GPT(config)
        assert num_parameters(config) == sum(p.numel() for p in model.parameters())
    assert GPTConfig(50, num_hiddens=8, num_heads=2).ffn_hiddens == 32  # None means 4 E


def test_the_output_layer_is_tied_to_the_embedding():
    tied, untied = small_gpt(tie_weights=True), small_gpt(tie_weights=False)
    assert tied.head.weight is tied.token_embedding.weight
    assert untied.head.weight is not untied.token_embedding.weight
    tokens = torch.tensor([[3, 4, 5]])
    logits = tied(tokens)
    hidden = tied.norm(tied.blocks[1](tied.blocks[0](tied.position.dropout(
        tied.token_embedding(tokens) + tied.position.embedding.weight[:3]))[0])[0])
    torch.testing.assert_close(logits, hidden @ tied.token_embedding.weight.T)


@pytest.mark.parametrize("positions", POSITIONS)
def test_changing_token_j_never_changes_the_logits_before_j(positions):
    model = small_gpt(positions)
    gen = torch.Generator().manual_seed(3)
    tokens = torch.randint(0, 23, (2, 12), generator=gen)
    logits = model(tokens)
    for j in (0, 5, 11):
        changed = tokens.clone()
        changed[:, j] = (changed[:, j] + 1) % 23
        new = model(changed)
        torch.testing.assert_close(new[:, :j], logits[:, :j], atol=1e-6, rtol=0)
        assert not torch.allclose(new[:, j], logits[:, j], atol=1e-3)


@pytest.mark.parametrize("positions", POSITIONS)
def test_every_kind_of_positions_makes_order_matter(positions):
    """Also without positions: in a causal model an earlier token sees fewer tokens."""
    model = small_gpt(positions)
    logits = model(torch.tensor([[1, 2, 3, 4]]))[0, -1]
    swapped = model(torch.tensor([[2, 1, 3, 4]]))[0, -1]
    assert not torch.allclose(logits, swapped, atol=1e-3)


def test_apply_rope_with_each_rows_positions():
    """Positions (B, L): row b is rotated as apply_rope does with positions[b]."""
    positions = torch.tensor([[0, 1, 2, 3, 4], [0, 0, 0, 1, 2], [7, 8, 9, 10, 11]])
    for x in (torch.randn(3, 2, 5, 6), torch.randn(3, 5, 6)):  # (B, H, L, D), (B, L, D)
        rotated = attn.apply_rope(x, positions)
        for b in range(3):
            torch.testing.assert_close(rotated[b], attn.apply_rope(x[b], positions[b]))
    with pytest.raises(ValueError, match=r"\(B, L\) = \(3, 5\)"):
        attn.apply_rope(torch.randn(3, 5, 6), positions[:2])


def test_rope_scores_depend_on_relative_position_only():
    """A shift of every position leaves the logits unchanged (up to rounding)."""
    model = small_gpt("rope")
    tokens = torch.tensor([[5, 6, 7, 8, 9]])
    logits = model(tokens)
    pads = torch.tensor([3])  # three unused ids in front: the real tokens start at position 0
    padded = model(torch.cat([torch.zeros(1, 3, dtype=torch.long), tokens], 1), pad_lens=pads)
    torch.testing.assert_close(padded[:, 3:], logits, atol=1e-5, rtol=0)


@pytest.mark.parametrize("positions", POSITIONS)
def test_left_padding_gives_each_row_the_logits_it_has_alone(positions):
    model = small_gpt(positions)
    rows = [[1, 2, 3, 4, 5, 6], [7, 8], [9, 10, 11, 12]]
    width = 6
    tokens = torch.tensor([[0] * (width - len(r)) + r for r in rows])
    pad_lens = torch.tensor([width - len(r) for r in rows])
    logits = model(tokens, pad_lens=pad_lens)
    for b, row in enumerate(rows):
        alone = model(torch.tensor([row]))[0]
        torch.testing.assert_close(logits[b, width - len(row):], alone, atol=1e-5, rtol=0)


@pytest.mark.parametrize("positions", POSITIONS)
def test_reading_through_the_cache_equals_reading_all_at_once(positions):
    model = small_gpt(positions)
    tokens = torch.randint(0, 23, (3, 10), generator=torch.Generator().manual_seed(4))
    pad_lens = torch.tensor([0, 2, 5])
    expected = model(tokens, pad_lens=pad_lens)
    cache = model.new_cache()
    pieces = [model(tokens[:, :4], pad_lens=pad_lens, cache=cache)]
    pieces += [model(tokens[:, t:t + 1], pad_lens=pad_lens, cache=cache) for t in range(4, 10)]
    real = torch.arange(10) >= pad_lens[:, None]  # (B, L): padding positions are meaningless
    torch.testing.assert_close(torch.cat(pieces, 1)[real], expected[real], atol=1e-5, rtol=0)
    assert [len(c) for c in cache] == [10, 10]


@pytest.mark.parametrize("positions", POSITIONS)
def test_generation_with_the_cache_equals_recomputation(positions):
    """Batch of 3 prompts of different lengths: greedy and seeded sampling, tokens equal."""
    model = small_gpt(positions)
    prompts = [[1, 2, 3], [4], [5, 6, 7, 8, 9]]
    for kwargs in ({"temperature": 0}, {"temperature": 1.0, "top_k": 5},
                   {"temperature": 0.8, "top_p": 0.9}):
        cached = generate(model, prompts, 8, generator=torch.Generator().manual_seed(0),
                          **kwargs)
        recomputed = generate(model, prompts, 8, use_cache=False,
                              generator=torch.Generator().manual_seed(0), **kwargs)
        assert cached == recomputed
        assert [len(row) for row in cached] == [8, 8, 8]
    greedy = generate(model, prompts, 8, temperature=0)
    assert greedy == [generate(model, p, 8, temperature=0) for p in prompts]  # padding unseen


def test_generation_stops_at_the_stop_token_and_leaves_it_out():
    model = small_gpt()
    prompts = [[1, 2], [3, 4, 5]]
    full = generate(model, prompts, 10, temperature=0)
    stop = full[0][3]
    cut = generate(model, prompts, 10, temperature=0, stop_token=stop)
    for whole, part in zip(full, cut):
        assert part == (whole[:whole.index(stop)] if stop in whole else whole)


def test_generation_takes_tensors_and_restores_training_mode():
    model = small_gpt().train()
    out = generate(model, torch.tensor([[1, 2], [3, 4]]), 3, temperature=0)
    assert model.training
    assert out == generate(model, [[1, 2], [3, 4]], 3, temperature=0)
    assert generate(model, torch.tensor([1, 2]), 3, temperature=0) == out[0]


@pytest.mark.parametrize("positions", POSITIONS)
def test_attention_weights_for_the_head_view(positions):
    model = small_gpt(positions)
    tokens = torch.tensor([3, 1, 4, 1, 5])
    weights = model.attention_weights(tokens)
    assert weights.shape == (2, H, 5, 5)  # (N, H, L, S)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, H, 5))
    assert torch.all(weights.triu(1) == 0)
    _, listed = model(tokens[None], need_weights=True)
    torch.testing.assert_close(weights, torch.stack(listed, 1)[0])
    assert model.attention_weights(tokens[None].repeat(2, 1)).shape == (2, 2, H, 5, 5)


def test_need_weights_does_not_change_the_logits_and_dropout_trains():
    model = small_gpt(dropout=0.1)
    tokens = torch.randint(0, 23, (2, 9), generator=torch.Generator().manual_seed(5))
    logits, weights = model(tokens, need_weights=True)
    torch.testing.assert_close(logits, model(tokens), atol=1e-5, rtol=0)
    assert len(weights) == 2
    model.train()
    torch.manual_seed(0)
    a = model(tokens)
    torch.manual_seed(1)
    assert not torch.allclose(a, model(tokens))  # dropout is on in training mode
    a.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_sinusoidal_positions_add_the_fixed_encoding():
    torch.manual_seed(0)
    start = GPT(GPTConfig(vocab_size=400, num_hiddens=64, positions="sinusoidal"))
    assert abs(start.token_embedding.weight.std().item() - 64 ** -0.5) < 0.005  # not 0.02
    model = small_gpt("sinusoidal")
    assert num_parameters(model.config) == sum(p.numel() for p in model.parameters())
    tokens = torch.tensor([[3, 4, 5, 6]])
    x = model.token_embedding(tokens) * E ** 0.5 + attn.sinusoidal_encoding(4, E)
    for block in model.blocks:
        x, _ = block(x)
    torch.testing.assert_close(model(tokens), model.head(model.norm(x)))


def test_alibi_block_adds_the_bias_to_the_scores():
    """The block with ALiBi equals MultiHeadAttention given the bias, on both paths."""
    ours, _ = block_pair()
    slopes = attn.alibi_slopes(H)
    x = torch.randn(2, 6, E, generator=torch.Generator().manual_seed(6))
    h = ours.addnorm1.prepare(x)
    y = ours.attention(h, h, h, is_causal=True, attn_bias=attn.alibi_bias(slopes, 6))
    mid = ours.addnorm1(x, y)
    expected = ours.addnorm2(mid, ours.ffn(ours.addnorm2.prepare(mid)))
    for need_weights in (False, True):
        out, _ = ours(x, need_weights=need_weights, alibi=slopes)
        torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)
    assert (ours(x)[0] - expected).abs().max() > 1e-3  # without ALiBi: another output
    model = small_gpt("alibi")
    torch.testing.assert_close(model.alibi_slopes, slopes)
    assert "alibi_slopes" not in model.state_dict()  # derived, not saved


def test_rope_scale_interpolates_positions():
    model = small_gpt("rope", rope_scale=0.25)
    tokens = torch.tensor([[3, 4, 5, 6, 7]])
    x = model.token_embedding(tokens)
    quarter = (torch.arange(5)[None] * 0.25, model.config.rope_base)  # positions 0, 0.25, ...
    for block in model.blocks:
        x, _ = block(x, rope=quarter)
    torch.testing.assert_close(model(tokens), model.head(model.norm(x)))
    plain = small_gpt("rope")  # the same weights, positions 0, 1, 2, ...
    assert (plain(tokens) - model(tokens)).abs().max() > 1e-3


def test_no_positions_a_causal_model_learns_where_each_token_stands():
    """Haviv et al. (2022): the causal mask alone tells positions apart.

    Every row is <bos> (id 0) then random ids from 1..4; the target at each
    position is the position itself (0..15), which no input token tells. Without
    the causal mask the task could not be learned: attention without positions
    gives equal tokens equal outputs wherever they stand (permutation
    equivariance). With it, position i averages over i + 1 tokens, one of them
    <bos>: measured accuracy 0.98 after 150 updates, against 1/16 by chance.
    """
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=16, context_len=16, num_layers=1, num_hiddens=32,
                       num_heads=2, positions="none", tie_weights=False)
    model = GPT(config).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(1)

    def batch(size):
        tokens = torch.randint(1, 5, (size, 16), generator=gen)
        tokens[:, 0] = 0
        return tokens, torch.arange(16).expand(size, 16)

    for _ in range(150):
        tokens, targets = batch(64)
        loss = torch.nn.functional.cross_entropy(model(tokens).flatten(0, 1), targets.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    tokens, targets = batch(256)
    with torch.no_grad():
        accuracy = (model.eval()(tokens).argmax(-1) == targets).float().mean().item()
    assert accuracy > 0.9, accuracy  # chance: 1/16
