"""Tests of attn.seq2seq: shapes, padding blindness, attention weights, step-by-step decoding."""

import pytest
import torch

from attn.scoring import AdditiveAttention
from attn.seq2seq import (BahdanauDecoder, DecoderState, EncoderDecoder, Seq2SeqConfig, Seq2SeqDecoder,
                          Seq2SeqEncoder, build_model)

B, S, T, V_SRC, V_TGT, E, H = 3, 6, 5, 11, 13, 8, 16


def batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(4, V_SRC, (B, S), generator=g)
    valid = torch.tensor([6, 2, 4])
    src[torch.arange(S) >= valid[:, None]] = 0  # pad
    tgt_in = torch.randint(0, V_TGT, (B, T), generator=g)
    return src, valid, tgt_in


def model(attention=True, num_layers=1, seed=0):
    torch.manual_seed(seed)
    return build_model(Seq2SeqConfig(V_SRC, V_TGT, E, H, num_layers=num_layers, attention=attention)).eval()


@pytest.mark.parametrize("num_layers", [1, 2])
def test_encoder_shapes_and_final_state_at_last_real_token(num_layers):
    torch.manual_seed(0)
    encoder = Seq2SeqEncoder(V_SRC, E, H, num_layers).eval()
    src, valid, _ = batch()
    outputs, state = encoder(src, valid)
    assert outputs.shape == (B, S, H) and state.shape == (num_layers, B, H)
    assert (outputs[1, 2:] == 0).all() and (outputs[1, :2] != 0).any()  # zero on padding only
    # The final state of sentence 1 is that of the sentence encoded alone, without its padding.
    alone_outputs, alone_state = encoder(src[1:2, :2], valid[1:2])
    torch.testing.assert_close(state[:, 1], alone_state[:, 0])
    torch.testing.assert_close(outputs[1, :2], alone_outputs[0])
    torch.testing.assert_close(state[-1], outputs[torch.arange(B), valid - 1])


@pytest.mark.parametrize("attention", [True, False])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_encoder_decoder_shapes(attention, num_layers):
    net = model(attention, num_layers)
    src, valid, tgt_in = batch()
    logits, weights = net(src, valid, tgt_in)
    assert logits.shape == (B, T, V_TGT)
    if attention:
        assert isinstance(net.decoder, BahdanauDecoder) and weights.shape == (B, T, S)
        torch.testing.assert_close(weights.sum(-1), torch.ones(B, T))
        assert (weights[1, :, 2:] == 0).all() and (weights[2, :, 4:] == 0).all()  # padding gets no weight
    else:
        assert isinstance(net.decoder, Seq2SeqDecoder) and weights is None


@pytest.mark.parametrize("attention", [True, False])
def test_padding_tokens_do_not_change_outputs(attention):
    net = model(attention, num_layers=2)
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
    assert isinstance(net.decoder.attention, AdditiveAttention)
    assert not torch.allclose(weights[:, 0], weights[:, 1])  # the query moves with the decoder state


@pytest.mark.parametrize("attention", [True, False])
def test_step_by_step_equals_teacher_forcing(attention):
    net = model(attention, num_layers=2)
    src, valid, tgt_in = batch()
    logits, weights = net(src, valid, tgt_in)
    state = net.init_state(src, valid)
    assert isinstance(state, DecoderState)
    for t in range(T):
        step_logits, state, w = net.step(tgt_in[:, t], state)
        torch.testing.assert_close(step_logits, logits[:, t])
        if attention:
            torch.testing.assert_close(w, weights[:, t])


def test_state_select_reorders_every_field():
    net = model()
    src, valid, _ = batch()
    state = net.init_state(src, valid)
    picked = state.select(torch.tensor([2, 2, 0]))
    assert torch.equal(picked.hidden[:, 0], state.hidden[:, 2]) and torch.equal(picked.enc_outputs[2], state.enc_outputs[0])
    assert picked.src_valid_lens.tolist() == [4, 4, 6] and picked.context.shape == (3, H)


def test_attention_weights_get_gradients_through_the_model():
    net = model().train()
    src, valid, tgt_in = batch()
    logits, _ = net(src, valid, tgt_in)
    logits.sum().backward()
    grads = [net.decoder.attention.W_q.weight.grad, net.decoder.attention.W_k.weight.grad,
             net.encoder.embedding.weight.grad]
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
    with pytest.raises(ValueError, match="src and tgt_in must have the same batch size B: got 3 and 2"):
        net(src, valid, tgt_in[:2])
    with pytest.raises(ValueError, match=r"tgt_in must have shape \(B, length\), got shape \(3,\)"):
        net.decoder(tgt_in[:, 0], net.init_state(src, valid))
    with pytest.raises(ValueError, match="num_layers must be >= 1, got 0"):
        Seq2SeqEncoder(V_SRC, E, H, num_layers=0)
    assert isinstance(EncoderDecoder(Seq2SeqEncoder(V_SRC, E, H), Seq2SeqDecoder(V_TGT, E, H)), torch.nn.Module)
