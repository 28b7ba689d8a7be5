"""Tests of attn.utils: seeding, device choice, shape checks."""

import random
import subprocess
import sys

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


@pytest.mark.parametrize("cuda", [True, False])
def test_get_device_prefers_cuda_only_when_present_and_wanted(monkeypatch, cuda):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert get_device() == torch.device("cuda" if cuda else "cpu")
    assert get_device(prefer_gpu=False) == torch.device("cpu")


def test_check_shape():
    check_shape(torch.zeros(2, 3), (2, 3))
    with pytest.raises(ValueError, match=r"weights must have shape \(2, 4\), got \(2, 3\)"):
        check_shape(torch.zeros(2, 3), (2, 4), name="weights")


def test_version_is_a_canonical_pep440_version():
    """pyproject.toml reads the package version from attn.__version__: pip must accept it as is."""
    from packaging.version import InvalidVersion, Version

    try:
        parsed = Version(attn.__version__)
    except InvalidVersion:
        pytest.fail(f"attn.__version__ = {attn.__version__!r} is not a PEP 440 version")
    assert str(parsed) == attn.__version__  # already in canonical form ("0.1.0", not "v0.1.0")


def test_public_names_resolve_and_are_listed_once():
    assert len(attn.__all__) == len(set(attn.__all__))
    for name in attn.__all__:
        assert getattr(attn, name) is not None, name
    assert {"show_heatmaps", "annotated_heatmap", "plot_curves"} <= set(dir(attn))
    with pytest.raises(AttributeError, match="module 'attn' has no attribute 'no_such_name'"):
        attn.no_such_name


def test_importing_attn_leaves_plotting_libraries_unloaded():
    """A fresh interpreter, since this one has matplotlib already (conftest.py)."""
    probe = "import sys, attn.masking; print(' '.join(sys.modules))"  # attn.masking imports attn first
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    modules = {name.split(".")[0] for name in result.stdout.split()}
    assert {"attn", "torch"} <= modules  # the probe sees what was imported
    assert not {"matplotlib", "seaborn"} & modules


def test_plotting_names_are_the_ones_in_attn_plot():
    from attn import show_heatmaps

    assert show_heatmaps is attn.show_heatmaps is attn.plot.show_heatmaps
    assert attn.plot_curves is attn.plot.plot_curves
    assert attn.annotated_heatmap is attn.plot.annotated_heatmap


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
