"""Tests of attn.utils: seeding, device choice, shape checks."""

import random

import numpy as np
import pytest
import torch

import attn
from attn import check_shape, get_device, set_seed


def test_set_seed_makes_all_generators_repeat():
    set_seed(3)
    first = (random.random(), np.random.rand(), torch.rand(2).tolist())
    set_seed(3)
    assert (random.random(), np.random.rand(), torch.rand(2).tolist()) == first
    set_seed(4)
    assert torch.rand(2).tolist() != first[2]


def test_set_seed_rejects_non_int():
    with pytest.raises(TypeError, match="seed must be an int, got float"):
        set_seed(1.5)


def test_get_device():
    assert get_device(prefer_gpu=False) == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert get_device().type == expected


def test_check_shape():
    check_shape(torch.zeros(2, 3), (2, 3))
    with pytest.raises(ValueError, match=r"weights must have shape \(2, 4\), got \(2, 3\)"):
        check_shape(torch.zeros(2, 3), (2, 4), name="weights")


def test_version_and_public_names():
    assert attn.__version__.count(".") == 2
    for name in attn.__all__:
        assert hasattr(attn, name), name


def test_progress_outside_a_notebook_is_a_plain_tqdm_bar_on_stderr(capsys):
    bar = attn.utils.progress(total=3, desc="steps")
    for _ in range(3):
        bar.update(1)
    bar.close()
    err = capsys.readouterr().err
    assert "steps: 100%" in err and "3/3" in err


def test_progress_display_line_keeps_only_the_last_line_written():
    line = attn.utils._DisplayLine.__new__(attn.utils._DisplayLine)  # no IPython display needed
    line._text = ""
    line.write("\rtraining:  10%| 1/10")
    line.write("\rtraining: 100%| 10/10\n")
    line.write("\n")
    assert line._text == "training: 100%| 10/10"
