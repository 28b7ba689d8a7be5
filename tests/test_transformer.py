"""Tests of attn.transformer: blocks against PyTorch's layers, causality, the key-value cache,
decoding through attn.decode, and training with post-norm and pre-norm."""

import pytest
import torch
from torch import nn

import attn
from attn.masking import causal_mask, sequence_mask
from attn.transformer import (AddNorm, PositionWiseFFN, Transformer, TransformerConfig,
                              TransformerDecoderBlock, TransformerEncoderBlock, build_transformer)

E, H, F = 12, 3, 20


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def copy_attention(ours: attn.MultiHeadAttention, theirs: nn.MultiheadAttention) -> None:
    with torch.no_grad():
        for i, layer in enumerate((ours.W_q, ours.W_k, ours.W_v)):
            layer.weight.copy_(theirs.in_proj_weight[i * E:(i + 1) * E])
            layer.bias.copy_(theirs.in_proj_bias[i * E:(i + 1) * E])
        ours.W_o.weight.copy_(theirs.out_proj.weight)
        ours.W_o.bias.copy_(theirs.out_proj.bias)


def randomize(module: nn.Module, seed: int = 0) -> None:
    """Every parameter random, biases and LayerNorm weights included (PyTorch sets them to 0 and 1)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)


def copy_common(ours, theirs, num_norms: int) -> None:
    ours.ffn.dense1.load_state_dict(theirs.linear1.state_dict())
    ours.ffn.dense2.load_state_dict(theirs.linear2.state_dict())
    for i in range(1, num_norms + 1):
        getattr(ours, f"addnorm{i}").norm.load_state_dict(getattr(theirs, f"norm{i}").state_dict())


def encoder_pair(norm_first: bool):
    theirs = nn.TransformerEncoderLayer(E, H, F, dropout=0.0, activation="relu", batch_first=True,
                                        norm_first=norm_first)
    randomize(theirs)
    ours = TransformerEncoderBlock(E, H, F, 0.0, norm_first)
    copy_attention(ours.attention, theirs.self_attn)
    copy_common(ours, theirs, 2)
    return ours, theirs


def decoder_pair(norm_first: bool):
    theirs = nn.TransformerDecoderLayer(E, H, F, dropout=0.0, activation="relu", batch_first=True,
                                        norm_first=norm_first)
    randomize(theirs)
    ours = TransformerDecoderBlock(E, H, F, 0.0, norm_first)
    copy_attention(ours.self_attention, theirs.self_attn)
    copy_attention(ours.cross_attention, theirs.multihead_attn)
    copy_common(ours, theirs, 3)
    return ours, theirs


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("training", [False, True])  # eval mode may take PyTorch's fused path
def test_encoder_block_equals_torch_with_padding(norm_first, training):
    ours, theirs = encoder_pair(norm_first)
    ours.train(training), theirs.train(training)
    x = torch.randn(3, 6, E, generator=torch.Generator().manual_seed(1))
    valid_lens = torch.tensor([6, 3, 1])
    expected = theirs(x, src_key_padding_mask=~sequence_mask(valid_lens, 6))  # True = padding
    out, weights = ours(x, valid_lens)
    real = sequence_mask(valid_lens, 6)  # (B, S): PyTorch's fused path may zero padded rows
    torch.testing.assert_close(out[real], expected[real], atol=1e-5, rtol=0)
    assert weights is None
    out_w, weights = ours(x, valid_lens, need_weights=True)
    torch.testing.assert_close(out_w, out, atol=1e-5, rtol=0)
    assert weights.shape == (3, H, 6, 6) and (weights[1, :, :, 3:] == 0).all()


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_block_equals_torch_with_causal_and_padding_masks(norm_first):
    ours, theirs = decoder_pair(norm_first)
    gen = torch.Generator().manual_seed(2)
    x, memory = torch.randn(3, 5, E, generator=gen), torch.randn(3, 7, E, generator=gen)
    src_valid_lens = torch.tensor([7, 4, 2])
    expected = theirs(x, memory, tgt_mask=~causal_mask(5, 5),
                      memory_key_padding_mask=~sequence_mask(src_valid_lens, 7))
    for need_weights in (False, True):
        out, self_w, cross_w = ours(x, memory, src_valid_lens, need_weights=need_weights)
        torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    assert (self_w.triu(diagonal=1) == 0).all()  # (B, H, T, T): nothing above the diagonal
    assert (cross_w[2, :, :, 2:] == 0).all() and cross_w.shape == (3, H, 5, 7)


def test_ffn_is_a_1x1_convolution_and_addnorm_orders():
    ffn = PositionWiseFFN(E, F)
    conv1, conv2 = nn.Conv1d(E, F, 1), nn.Conv1d(F, E, 1)
    with torch.no_grad():
        conv1.weight.copy_(ffn.dense1.weight[:, :, None])
        conv1.bias.copy_(ffn.dense1.bias)
        conv2.weight.copy_(ffn.dense2.weight[:, :, None])
        conv2.bias.copy_(ffn.dense2.bias)
    x = torch.randn(2, 5, E)
    conv = conv2(torch.relu(conv1(x.transpose(1, 2)))).transpose(1, 2)  # (B, E, L) convolutions
    torch.testing.assert_close(ffn(x), conv, atol=1e-6, rtol=0)
    y = torch.randn(2, 5, E)
    post, pre = AddNorm(E), AddNorm(E, norm_first=True)
    torch.testing.assert_close(post(x, y), nn.functional.layer_norm(x + y, (E,)))
    torch.testing.assert_close(pre(x, y), x + y)  # the norm went into prepare
    torch.testing.assert_close(pre.prepare(x), nn.functional.layer_norm(x, (E,)))
    with pytest.raises(ValueError, match="same shape"):
        post(x, y[:, :4])


def small_model(norm_first=False, seed=0, layers=2, vocab=(11, 13)):
    torch.manual_seed(seed)
    config = TransformerConfig(*vocab, num_hiddens=16, num_heads=2, ffn_hiddens=32,
                               num_layers=layers, norm_first=norm_first)
    return build_transformer(config).eval()


def batch(seed=3, B=4, S=7, T=6, vocab=(11, 13)):
    gen = torch.Generator().manual_seed(seed)
    src = torch.randint(0, vocab[0], (B, S), generator=gen)
    tgt = torch.randint(0, vocab[1], (B, T), generator=gen)
    return src, torch.tensor([7, 5, 2, 1][:B]), tgt


@pytest.mark.parametrize("norm_first", [False, True])
def test_changing_a_future_target_token_never_changes_earlier_outputs(norm_first):
    model = small_model(norm_first)
    src, src_len, tgt = batch()
    logits, _ = model(src, src_len, tgt)
    for j in range(1, tgt.shape[1]):
        changed = tgt.clone()
        changed[:, j:] = (changed[:, j:] + 5) % 13
        new, _ = model(src, src_len, changed)
        torch.testing.assert_close(new[:, :j], logits[:, :j], atol=1e-6, rtol=0)
        assert (new[:, j] - logits[:, j]).abs().max() > 1e-3  # position j did see its own token


def test_padding_of_the_source_is_ignored():
    model = small_model()
    src, src_len, tgt = batch()
    logits, weights = model(src, src_len, tgt, need_weights=True)
    padded = src.clone()
    padded[1, 5:], padded[2, 2:] = 0, 3  # change what the padding holds
    again, _ = model(padded, src_len, tgt)
    torch.testing.assert_close(again, logits, atol=1e-6, rtol=0)
    assert len(weights.encoder) == len(weights.decoder_cross) == 2
    assert all((w[2, :, :, 2:] == 0).all() for w in weights.encoder + weights.decoder_cross)


@pytest.mark.parametrize("norm_first", [False, True])
def test_cached_decoding_gives_the_logits_of_full_recomputation(norm_first):
    model = small_model(norm_first)
    src, src_len, tgt = batch(T=9)
    full, weights = model(src, src_len, tgt, need_weights=True)  # (B, T, V)
    for use_cache in (True, False):
        state = model.init_state(src, src_len, use_cache=use_cache)
        assert state.use_cache is use_cache
        steps = []
        for t in range(tgt.shape[1]):
            logits, state, w = model.step(tgt[:, t], state)  # (B, V), state, (B, S)
            steps.append(logits)
            torch.testing.assert_close(w, weights.decoder_cross[-1][:, :, t].mean(1), atol=1e-6, rtol=0)
        torch.testing.assert_close(torch.stack(steps, 1), full, atol=1e-5, rtol=0)
    assert state.tokens.shape == tgt.shape
    cached = model.init_state(src, src_len)
    for t in range(3):
        _, cached, _ = model.step(tgt[:, t], cached)
    assert cached.cache[0].keys.shape == (4, 2, 3, 8)  # (B, H, t, D)
    # N layers x 4 bytes x (keys, values) x B H x (t + S) x D
    assert cached.cache_bytes() == 2 * 4 * 2 * (4 * 2) * (3 + 7) * 8


@pytest.mark.parametrize("use_cache", [True, False])
def test_a_decoding_step_applies_the_output_layer_at_the_new_position_only(use_cache):
    """With or without the cache, step t feeds one position per sentence to the output layer,
    never the whole prefix (B, t + 1, E): the cache speed-up compares like with like."""
    model = small_model(False)
    src, src_len, tgt = batch(T=5)
    shapes = []
    handle = model.decoder.dense.register_forward_hook(
        lambda module, inputs, output: shapes.append(tuple(inputs[0].shape)))
    state = model.init_state(src, src_len, use_cache=use_cache)
    with torch.no_grad():
        for t in range(tgt.shape[1]):
            _, state, _ = model.step(tgt[:, t], state)
    handle.remove()
    assert len(shapes) == 5 and all(s[-1] == model.config.num_hiddens for s in shapes)
    assert all(s[:-1] in ((4,), (4, 1)) for s in shapes), shapes  # B = 4 rows of one position


def test_greedy_and_beam_search_work_unchanged_with_and_without_cache():
    model = small_model()
    src, src_len, _ = batch()
    results = {}
    for use_cache in (True, False):
        model.use_cache = use_cache
        greedy = attn.greedy_decode(model, src, src_len, bos=1, eos=2, max_len=8)
        beam = attn.beam_search(model, src, src_len, bos=1, eos=2, beam_size=3, max_len=8)
        results[use_cache] = greedy, beam
    model.use_cache = True
    for a, b in zip(*results.values()):
        assert a.tokens == b.tokens
        assert a.scores == pytest.approx(b.scores, abs=1e-4)
    greedy, beam = results[True]
    assert all(len(t) <= 8 for t in greedy.tokens)
    assert greedy.attention[0].shape[1] == src.shape[1]
    # beam search with k = 1 is greedy decoding
    one = attn.beam_search(model, src, src_len, bos=1, eos=2, beam_size=1, max_len=8)
    assert one.tokens == greedy.tokens
    # greedy tokens fed back by teacher forcing score the same: the cache changes nothing
    row = greedy.tokens[0]
    tgt_in = torch.tensor([[1] + row])[:, :len(row) + 1]
    logits, _ = model(src[:1], src_len[:1], tgt_in)
    assert logits[0].argmax(-1)[:len(row)].tolist() == row


def copy_task(num=64, length=6, vocab=10, seed=0):
    """Sources of random ids 3..vocab-1, targets the same ids then <eos> = 2."""
    gen = torch.Generator().manual_seed(seed)
    src = torch.randint(3, vocab, (num, length), generator=gen)
    tgt = torch.cat([src, torch.full((num, 1), 2)], dim=1)
    lens = torch.full((num,), length)
    return [(src[i:i + 16], lens[i:i + 16], tgt[i:i + 16], lens[i:i + 16] + 1)
            for i in range(0, num, 16)]


@pytest.mark.parametrize("norm_first", [False, True])
def test_post_norm_and_pre_norm_both_learn_to_copy(norm_first):
    torch.manual_seed(0)
    model = build_transformer(TransformerConfig(10, 10, num_hiddens=32, num_heads=4, ffn_hiddens=64,
                                                num_layers=1, norm_first=norm_first))
    loader = copy_task()
    config = attn.TrainConfig(lr=3e-3, num_epochs=40, schedule="inverse_sqrt", warmup=20,
                              progress=False)
    history = attn.train_seq2seq(model, loader, bos=1, config=config)
    assert history.losses[0] > 2.0 and history.losses[-1] < 0.1  # log 10 = 2.3 at the start
    src, lens, tgt, _ = loader[0]
    decoded = attn.greedy_decode(model, src, lens, bos=1, eos=2, max_len=8)
    assert sum(t == s for t, s in zip(decoded.tokens, src.tolist())) >= 14  # of 16


def test_config_and_inputs_are_checked():
    with pytest.raises(ValueError, match="divisible"):
        TransformerConfig(5, 5, num_hiddens=10, num_heads=3)
    with pytest.raises(ValueError, match="dropout"):
        TransformerConfig(5, 5, dropout=1.0)
    with pytest.raises(TypeError, match="norm_first must be True or False, got 1"):
        TransformerConfig(5, 5, norm_first=1)
    with pytest.raises(TypeError, match="TransformerConfig"):
        Transformer({"src_vocab_size": 5})
    model = small_model()
    src, src_len, tgt = batch()
    with pytest.raises(ValueError, match="same batch size"):
        model(src, src_len, tgt[:2])
    with pytest.raises(ValueError, match=r"ids in \[0, 12\]"):
        model(src, src_len, tgt + 13)
    with pytest.raises(ValueError, match="src_valid_lens"):
        model(src, torch.tensor([8, 1, 1, 1]), tgt)
    with pytest.raises(TypeError, match="use_cache"):
        model.init_state(src, src_len, use_cache=1)
    state = model.init_state(src, src_len)
    with pytest.raises(ValueError, match="ids"):
        model.step(torch.tensor([13, 0, 0, 0]), state)

