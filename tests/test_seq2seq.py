"""Tests of attn.seq2seq: shapes, padding blindness, attention weights, step-by-step decoding."""

import pytest
import torch

from attn.seq2seq import BahdanauDecoder, Maxout, Seq2SeqConfig, Seq2SeqDecoder, Seq2SeqEncoder, build_model

B, S, T, V_SRC, V_TGT, EMBED, E = 3, 6, 5, 11, 13, 8, 16  # E: model width (GRU size), EMBED: embed_size


def batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(4, V_SRC, (B, S), generator=g)
    valid = torch.tensor([6, 2, 4])
    src[torch.arange(S) >= valid[:, None]] = 0  # pad
    tgt_in = torch.randint(0, V_TGT, (B, T), generator=g)
    return src, valid, tgt_in


def model(attention=True, num_layers=1, seed=0, attention_hiddens=None, output_hiddens=None,
          bidirectional=False):
    torch.manual_seed(seed)
    config = Seq2SeqConfig(V_SRC, V_TGT, EMBED, E, num_layers=num_layers, attention=attention,
                           attention_hiddens=attention_hiddens, output_hiddens=output_hiddens,
                           bidirectional=bidirectional)
    return build_model(config).eval()


@pytest.mark.parametrize("num_layers", [1, 2])
def test_encoder_shapes_and_final_state_at_last_real_token(num_layers):
    torch.manual_seed(0)
    encoder = Seq2SeqEncoder(V_SRC, EMBED, E, num_layers).eval()
    src, valid, _ = batch()
    outputs, state = encoder(src, valid)
    assert outputs.shape == (B, S, E) and state.shape == (num_layers, B, E)
    assert (outputs[1, 2:] == 0).all() and (outputs[1, :2] != 0).any()  # zero on padding only
    # The final state of sentence 1 is that of the sentence encoded alone, without its padding.
    alone_outputs, alone_state = encoder(src[1:2, :2], valid[1:2])
    torch.testing.assert_close(state[:, 1], alone_state[:, 0])
    torch.testing.assert_close(outputs[1, :2], alone_outputs[0])
    torch.testing.assert_close(state[-1], outputs[torch.arange(B), valid - 1])


@pytest.mark.parametrize("num_layers", [1, 2])
def test_bidirectional_encoder_reads_each_sentence_both_ways_without_its_padding(num_layers):
    torch.manual_seed(0)
    encoder = Seq2SeqEncoder(V_SRC, EMBED, E, num_layers, bidirectional=True).eval()
    src, valid, _ = batch()
    outputs, state = encoder(src, valid)
    assert encoder.output_size == 2 * E
    assert outputs.shape == (B, S, 2 * E) and state.shape == (num_layers, B, E)
    assert (outputs[1, 2:] == 0).all() and (outputs[1, :2] != 0).all()  # zero on padding only
    for b in range(B):  # every sentence encoded alone, without padding, gives the same numbers
        n = int(valid[b])
        alone_outputs, alone_state = encoder(src[b:b + 1, :n], valid[b:b + 1])
        torch.testing.assert_close(outputs[b, :n], alone_outputs[0])
        torch.testing.assert_close(state[:, b], alone_state[:, 0])
    # The bottom layer's backward half is a GRU run over the reversed sentence.
    n = int(valid[2])
    embedded = encoder.embedding(src[2:3, :n].flip(1))  # (1, n, embed_size), last token first
    back, _ = encoder.backward_layers[0](embedded)
    if num_layers == 1:
        torch.testing.assert_close(outputs[2, :n, E:], back[0].flip(0))
        forward_last = outputs[2, n - 1, :E]
        expected = torch.tanh(encoder.bridges[0](torch.cat([forward_last, back[0, -1]])))
        torch.testing.assert_close(state[0, 2], expected)


@pytest.mark.parametrize("attention", [True, False])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_encoder_decoder_shapes(attention, num_layers, bidirectional):
    net = model(attention, num_layers, bidirectional=bidirectional)
    src, valid, tgt_in = batch()
    logits, weights = net(src, valid, tgt_in)
    assert logits.shape == (B, T, V_TGT) and net.tgt_vocab_size == V_TGT
    if attention:
        assert isinstance(net.decoder, BahdanauDecoder) and weights.shape == (B, T, S)  # build_model's choice
        torch.testing.assert_close(weights.sum(-1), torch.ones(B, T))
        assert (weights[1, :, 2:] == 0).all() and (weights[2, :, 4:] == 0).all()  # padding gets no weight
    else:
        assert isinstance(net.decoder, Seq2SeqDecoder) and weights is None


@pytest.mark.parametrize("attention", [True, False])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_tokens_do_not_change_outputs(attention, bidirectional):
    net = model(attention, num_layers=2, bidirectional=bidirectional)
    src, valid, tgt_in = batch()
    logits, weights = net(src, valid, tgt_in)
    other = src.clone()
    other[torch.arange(S) >= valid[:, None]] = 7  # different tokens where the padding was
    logits2, weights2 = net(other, valid, tgt_in)
    torch.testing.assert_close(logits, logits2, rtol=0, atol=0)
    if attention:
        torch.testing.assert_close(weights, weights2, rtol=0, atol=0)
    # ...while changing a real token does change them.
    other[0, 0] = 5 if src[0, 0] != 5 else 6
    assert not torch.allclose(net(other, valid, tgt_in)[0][0], logits[0])


def test_bahdanau_first_step_attends_with_the_initial_state():
    net = model(attention=True)
    src, valid, tgt_in = batch()
    enc_outputs, enc_state = net.encoder(src, valid)
    _, expected = net.decoder.attention(enc_state[-1].unsqueeze(1), enc_outputs, enc_outputs, valid,
                                        need_weights=True)
    _, weights = net(src, valid, tgt_in)
    torch.testing.assert_close(weights[:, :1], expected)
    assert not torch.allclose(weights[:, 0], weights[:, 1])  # the query moves with the decoder state


def per_step_reference(decoder, enc_outputs, enc_state, valid, tgt_in):
    """Bahdanau decoding written out: project the keys, mask and softmax again at every step."""
    attention, hidden = decoder.attention, enc_state  # (N, B, E)
    padding = torch.arange(enc_outputs.shape[1]) >= valid[:, None]  # (B, S)
    logits, weights = [], []
    for t in range(tgt_in.shape[1]):
        features = torch.tanh(attention.W_q(hidden[-1])[:, None] + attention.W_k(enc_outputs))  # (B, S, h)
        scores = attention.w_v(features)[..., 0].masked_fill(padding, -torch.inf)  # (B, S)
        w = torch.softmax(scores, dim=-1)  # (B, S)
        context = (w[..., None] * enc_outputs).sum(1)  # (B, E)
        x = torch.cat([decoder.embedding(tgt_in[:, t]), context], dim=-1)[:, None]  # (B, 1, embed_size + E)
        out, hidden = decoder.rnn(x, hidden)  # (B, 1, E), (N, B, E)
        logits.append(decoder.dense(torch.cat([out[:, 0], context], dim=-1)))  # (B, V)
        weights.append(w)
    return torch.stack(logits, 1), torch.stack(weights, 1)  # (B, T, V), (B, T, S)


@pytest.mark.parametrize("num_layers, attention_hiddens", [(1, None), (2, 5)])
def test_bahdanau_decoder_equals_the_per_step_formula(num_layers, attention_hiddens):
    net = model(num_layers=num_layers, attention_hiddens=attention_hiddens)
    src, valid, tgt_in = batch()
    with torch.no_grad():
        logits, weights = net(src, valid, tgt_in)
        expected_logits, expected_weights = per_step_reference(net.decoder, *net.encoder(src, valid), valid, tgt_in)
    torch.testing.assert_close(logits, expected_logits, rtol=0, atol=1e-6)
    torch.testing.assert_close(weights, expected_weights, rtol=0, atol=1e-6)


def test_keys_are_projected_once_per_sentence():
    net = model()
    src, valid, tgt_in = batch()
    calls = []
    net.decoder.attention.W_k.register_forward_hook(lambda module, args, output: calls.append(output.shape))
    net(src, valid, tgt_in)  # T = 5 steps
    assert calls == [(B, S, E)]
    state = net.init_state(src, valid)
    for t in range(T):
        _, state, _ = net.step(tgt_in[:, t], state)
    assert len(calls) == 2  # init_state projected them, the steps did not


@pytest.mark.parametrize("attention", [True, False])
@pytest.mark.parametrize("output_hiddens, bidirectional", [(None, False), (7, False), (7, True)])
def test_step_by_step_equals_teacher_forcing(attention, output_hiddens, bidirectional):
    net = model(attention, num_layers=2, output_hiddens=output_hiddens, bidirectional=bidirectional)
    src, valid, tgt_in = batch()
    logits, weights = net(src, valid, tgt_in)
    state = net.init_state(src, valid)
    for t in range(T):
        step_logits, state, w = net.step(tgt_in[:, t], state)
        torch.testing.assert_close(step_logits, logits[:, t])
        if attention:
            torch.testing.assert_close(w, weights[:, t])


def test_state_select_reorders_every_field():
    net = model(attention_hiddens=5)
    src, valid, _ = batch()
    state = net.init_state(src, valid)
    index = torch.tensor([2, 2, 0])
    picked = state.select(index)
    assert torch.equal(picked.hidden, state.hidden[:, index]) and torch.equal(picked.enc_outputs, state.enc_outputs[index])
    assert picked.src_valid_lens.tolist() == [4, 4, 6] and torch.equal(picked.context, state.context[index])
    assert picked.projected_keys.shape == (3, S, 5)
    assert torch.equal(picked.projected_keys, state.projected_keys[index])
    assert picked.attn_mask.shape == (3, 1, S) and picked.attn_mask[:, 0].sum(-1).tolist() == [4, 4, 6]
    # A decoding step from the picked state equals the step from the original rows.
    tokens = torch.tensor([5, 6, 7])
    logits, _, w = net.step(tokens[index], state.select(index))
    expected_logits, _, expected_w = net.step(tokens, state)
    torch.testing.assert_close(logits, expected_logits[index])
    torch.testing.assert_close(w, expected_w[index])


def test_attention_weights_get_gradients_through_the_model():
    net = model().train()
    src, valid, tgt_in = batch()
    logits, _ = net(src, valid, tgt_in)
    logits.sum().backward()
    grads = [net.decoder.attention.W_q.weight.grad, net.decoder.attention.W_k.weight.grad,
             net.decoder.attention.w_v.weight.grad, net.encoder.embedding.weight.grad]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)


def test_bad_inputs_raise_clear_errors():
    net = model()
    src, valid, tgt_in = batch()
    with pytest.raises(TypeError, match="src must be a torch.long tensor of token ids, got torch.float32"):
        net(src.float(), valid, tgt_in)
    with pytest.raises(ValueError, match=r"src must hold ids in \[0, 10\], got values from 0 to 11"):
        net(torch.where(src == 0, 0, torch.full_like(src, 11)), valid, tgt_in)
    with pytest.raises(ValueError, match=r"src_valid_lens must lie in \[1, S\] = \[1, 6\], got values from 0 to 6"):
        net(src, torch.tensor([6, 0, 4]), tgt_in)
    with pytest.raises(ValueError, match=r"src_valid_lens must be a tensor of shape \(B,\) = \(3,\), got \(2,\)"):
        net(src, valid[:2], tgt_in)
    with pytest.raises(TypeError, match="src_valid_lens must be an integer tensor, got dtype torch.float32"):
        net(src, valid.float(), tgt_in)
    with pytest.raises(ValueError, match="src and tgt_in must have the same batch size B: got 3 and 2"):
        net(src, valid, tgt_in[:2])
    with pytest.raises(ValueError, match=r"tgt_in must have shape \(B, length\), got shape \(3,\)"):
        net.decoder(tgt_in[:, 0], net.init_state(src, valid))
    with pytest.raises(ValueError, match="BahdanauDecoder needs a state made by its own init_state"):
        baseline = model(attention=False)
        net.decoder(tgt_in, baseline.init_state(src, valid))
    with pytest.raises(ValueError, match="num_layers must be >= 1, got 0"):
        Seq2SeqEncoder(V_SRC, EMBED, E, num_layers=0)


@pytest.mark.parametrize("attention", [True, False])
def test_encoding_an_empty_batch_is_an_error(attention):
    net = model(attention)
    src, valid, tgt_in = batch()
    with pytest.raises(ValueError, match=r"src holds no sentence \(B = 0\)"):
        net.encoder(src[:0], valid[:0])
    with pytest.raises(ValueError, match=r"src holds no sentence \(B = 0\)"):
        net(src[:0], valid[:0], tgt_in[:0])


@pytest.mark.parametrize("field, value, error, message", [
    ("embed_size", 0, ValueError, "embed_size must be a positive int, got 0"),
    ("num_hiddens", 16.0, TypeError, "num_hiddens must be a positive int, got 16.0"),
    ("num_layers", 0, ValueError, "num_layers must be a positive int, got 0"),
    ("tgt_vocab_size", -3, ValueError, "tgt_vocab_size must be a positive int, got -3"),
    ("attention_hiddens", 0, ValueError, "attention_hiddens must be a positive int, got 0"),
    ("output_hiddens", True, TypeError, "output_hiddens must be a positive int, got True"),
    ("dropout", 1.0, ValueError, r"dropout must be a number in \[0, 1\), got 1.0"),
    ("attention", "yes", TypeError, "attention must be True or False, got 'yes'"),
    ("bidirectional", 1, TypeError, "bidirectional must be True or False, got 1"),
])
def test_bad_model_configs(field, value, error, message):
    with pytest.raises(error, match=message):
        Seq2SeqConfig(**{"src_vocab_size": V_SRC, "tgt_vocab_size": V_TGT, field: value})


def test_maxout_takes_the_larger_of_each_pair_of_units():
    torch.manual_seed(0)
    layer = Maxout(4, 3)
    x = torch.randn(2, 5, 4)
    z = layer.linear(x)  # (2, 5, 6): units 2k and 2k + 1 form pair k
    expected = torch.stack([torch.maximum(z[..., 2 * k], z[..., 2 * k + 1]) for k in range(3)], dim=-1)
    torch.testing.assert_close(layer(x), expected)


@pytest.mark.parametrize("attention", [True, False])
def test_output_hiddens_puts_a_maxout_layer_before_the_output_layer(attention):
    plain, deep = model(attention), model(attention, output_hiddens=7)
    assert isinstance(deep.decoder.maxout, Maxout) and deep.decoder.maxout.linear.out_features == 14
    assert deep.decoder.dense.in_features == 7 and plain.decoder.dense.in_features == 2 * E
    src, valid, tgt_in = batch()
    logits, _ = deep(src, valid, tgt_in)
    assert logits.shape == (B, T, V_TGT) and torch.isfinite(logits).all()
    # The vocabulary layer reads l = 7 numbers instead of 2E = 32: fewer weights when V is large.
    assert deep.decoder.dense.weight.numel() < plain.decoder.dense.weight.numel()
