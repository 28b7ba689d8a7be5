"""Tests of attn.checks, the argument checks every entry point shares (tested once, here)."""

import numpy as np
import pytest
import torch

from attn import checks


@pytest.mark.parametrize("value, minimum, error, message", [
    (3, 0, None, None),
    (np.int64(3), 1, None, None),
    (0, 1, ValueError, "n must be a positive int, got 0"),
    (-1, 0, ValueError, "n must be an int >= 0, got -1"),
    (2.0, 0, TypeError, r"n must be an int >= 0, got 2.0 \(float\)"),
    (True, 1, TypeError, r"n must be a positive int, got True \(bool\)"),
    ("3", 2, TypeError, r"n must be an int >= 2, got '3' \(str\)"),
])
def test_check_int(value, minimum, error, message):
    if error is None:
        assert checks.check_int("n", value, minimum) == value
        assert type(checks.check_int("n", value, minimum)) is int
    else:
        with pytest.raises(error, match=message):
            checks.check_int("n", value, minimum)


@pytest.mark.parametrize("value", [0, 1, None, "yes", np.bool_(True)])
def test_check_bool_refuses_everything_but_true_and_false(value):
    with pytest.raises(TypeError, match=f"flag must be True or False, got {value!r}"):
        checks.check_bool("flag", value)
    assert checks.check_bool("flag", False) is False


def test_check_callable():
    checks.check_callable("fn", len)
    with pytest.raises(TypeError, match="fn must be callable, got int"):
        checks.check_callable("fn", 3)


def test_check_labels():
    assert checks.check_labels(("a", 1), 2, "labels", "key") == ["a", "1"]
    with pytest.raises(TypeError, match="labels must be a sequence of strings, one per key, not"):
        checks.check_labels("ab", 2, "labels", "key")
    with pytest.raises(TypeError, match="got int"):
        checks.check_labels(3, 2, "labels", "key")
    with pytest.raises(ValueError, match=r"one label per key \(2\), got 1"):
        checks.check_labels(["a"], 2, "labels", "key")


def test_check_dropout():
    assert checks.check_dropout(1) == 1.0
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\), got 1"):
        checks.check_dropout(1, below_one=True)
    for bad in (float("nan"), -0.1, 1.5):
        with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\]"):
            checks.check_dropout(bad)
    with pytest.raises(TypeError, match=r"p must be a number in \[0, 1\], got None"):
        checks.check_dropout(None, name="p")


def test_check_scale():
    assert checks.check_scale(None, default=0.5) == 0.5
    assert checks.check_scale(2, default=0.5) == 2.0
    assert checks.check_scale(torch.tensor(0.25), default=0.5) == 0.25
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="scale must be a finite number > 0 or None"):
            checks.check_scale(bad, default=1.0)
    for bad in ("1", True, torch.ones(2)):
        with pytest.raises(TypeError, match="scale must be a finite number > 0 or None"):
            checks.check_scale(bad, default=1.0)


def test_tensor_checks():
    with pytest.raises(TypeError, match="x must be a torch.Tensor, got list"):
        checks.check_tensor("x", [1.0])
    with pytest.raises(TypeError, match="x must be a floating-point tensor, got dtype torch.int64"):
        checks.check_tensor("x", torch.ones(2, dtype=torch.long), floating=True)
    with pytest.raises(TypeError, match="lens must be an integer tensor, got dtype torch.bool"):
        checks.check_integer_tensor("lens", torch.ones(2, dtype=torch.bool))
    with pytest.raises(TypeError, match="a, b and c must have the same dtype: got torch.float32, "
                                        "torch.float32 and torch.float16"):
        checks.check_same_dtype({"a": torch.ones(1), "b": torch.ones(1),
                                 "c": torch.ones(1, dtype=torch.float16)})
    checks.check_same_dtype({"a": torch.ones(1)})


def test_check_sequence():
    x = torch.zeros(2, 5, 8)
    assert checks.check_sequence("x", x, 8, torch.float32, max_len=5) is x
    with pytest.raises(ValueError, match=r"x must have shape \(B, L, E\) \(3 dimensions\), "
                                         r"got shape \(5, 8\)"):
        checks.check_sequence("x", x[0], 8)
    with pytest.raises(ValueError, match="x must have size E = 6 in its last dimension, got 8"):
        checks.check_sequence("x", x, 6)
    with pytest.raises(TypeError, match="module's dtype torch.float64, got torch.float32"):
        checks.check_sequence("x", x, 8, torch.float64)
    with pytest.raises(ValueError, match="at most max_len = 4 tokens, got 5"):
        checks.check_sequence("x", x, 8, max_len=4)


def test_check_attention_inputs():
    q, k = torch.zeros(2, 3, 8), torch.zeros(2, 4, 8)
    checks.check_attention_inputs(q, k, k, 8, torch.float32)
    with pytest.raises(ValueError, match="same batch size B: got 2, 1 and 1"):
        checks.check_attention_inputs(q, k[:1], k[:1], 8, torch.float32)
    with pytest.raises(ValueError, match="same length S: got 4 and 3"):
        checks.check_attention_inputs(q, k, k[:, :3], 8, torch.float32)
    with pytest.raises(ValueError, match=r"at least one key \(S >= 1\), got S = 0"):
        checks.check_attention_inputs(q, k[:, :0], k[:, :0], 8, torch.float32)
    with pytest.raises(ValueError, match="same device: got cpu, meta and meta"):
        checks.check_attention_inputs(q, k.to("meta"), k.to("meta"), 8, torch.float32)


def test_mask_checks():
    lens = torch.tensor([1, 3])
    assert checks.check_valid_lens(lens, 2, 4, 3) is lens
    with pytest.raises(ValueError, match=r"valid_lens must lie in \[0, S\] = \[0, 2\], "
                                         r"got values from 1 to 3"):
        checks.check_valid_lens(lens, 2, 4, 2)
    with pytest.raises(ValueError, match=r"shape \(B,\) = \(3,\) or \(B, L\) = \(3, 4\), got \(2,\)"):
        checks.check_valid_lens(lens, 3, 4, 3)
    mask = checks.check_attn_mask(torch.ones(4, 3, dtype=torch.bool), 2, 4, 3)
    assert mask.shape == (2, 4, 3)
    with pytest.raises(TypeError, match="attn_mask must be a bool tensor"):
        checks.check_attn_mask(torch.ones(4, 3), 2, 4, 3)
    with pytest.raises(ValueError, match=r"attn_mask must have shape \(L, S\) = \(4, 3\)"):
        checks.check_attn_mask(torch.ones(3, 4, dtype=torch.bool), 2, 4, 3)


def test_token_checks():
    tokens = torch.tensor([[0, 4], [2, 1]])
    assert checks.check_tokens("src", tokens, 5) is tokens
    with pytest.raises(ValueError, match=r"src must hold ids in \[0, 3\], got values from 0 to 4"):
        checks.check_tokens("src", tokens, 4)
    with pytest.raises(ValueError, match=r"at least 1 step\(s\) per row, got shape \(2, 0\)"):
        checks.check_tokens("tgt_in", tokens[:, :0], 5, min_length=1)
    with pytest.raises(TypeError, match="src must be a torch.long tensor of token ids, got list"):
        checks.check_tokens("src", [[0]], 5)
    assert checks.check_step_tokens(torch.tensor([1, 2]), 2, 5).shape == (2,)
    with pytest.raises(ValueError, match=r"tokens must have shape \(B,\) = \(3,\)"):
        checks.check_step_tokens(torch.tensor([1, 2]), 3, 5)
    with pytest.raises(ValueError, match=r"src_valid_lens must lie in \[1, S\] = \[1, 2\]"):
        checks.check_src_valid_lens(tokens, torch.tensor([0, 2]))
    with pytest.raises(ValueError, match=r"src holds no sentence \(B = 0\)"):
        checks.check_src_valid_lens(tokens[:0], torch.tensor([], dtype=torch.long))
