"""Tests of attn.plot: the heatmap helpers return what they promise."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from attn import annotated_heatmap, plot_curves, show_heatmaps


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_show_heatmaps_grid_and_colorbar():
    fig = show_heatmaps(torch.rand(2, 3, 4, 5), xlabel="Keys", ylabel="Queries", titles=["a", "b", "c"])
    heatmaps = [ax for ax in fig.axes if ax.images]
    colorbars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(heatmaps) == 6  # one per grid cell ...
    assert len(fig.axes) == 7  # ... plus exactly one shared colour bar
    assert len(colorbars) == 1
    assert [ax.get_title() for ax in heatmaps[:3]] == ["a", "b", "c"]
    assert heatmaps[3].get_xlabel() == "Keys" and heatmaps[0].get_xlabel() == ""  # only the bottom row
    assert heatmaps[0].get_ylabel() == "Queries" and heatmaps[1].get_ylabel() == ""  # only the first column
    assert heatmaps[0].images[0].get_array().shape == (4, 5)


def test_show_heatmaps_shares_one_colour_scale():
    matrices = np.zeros((1, 2, 2, 2))
    matrices[0, 1] = 3.0
    fig = show_heatmaps(matrices, "k", "q")
    limits = {ax.images[0].get_clim() for ax in fig.axes if ax.images}
    assert limits == {(0.0, 3.0)}


def test_show_heatmaps_token_labels_and_nested_titles():
    fig = show_heatmaps(torch.eye(3).reshape(1, 1, 3, 3), "Keys", "Queries", titles=[["only"]],
                        xticklabels=["a", "b", "c"], yticklabels=["x", "y", "z"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["x", "y", "z"]
    assert ax.get_title() == "only"


def test_show_heatmaps_accepts_grad_tensors():
    weights = torch.rand(1, 1, 2, 2, requires_grad=True) * 2
    fig = show_heatmaps(weights, "k", "q")
    assert fig.axes[0].images[0].get_array().max() == pytest.approx(weights.detach().max().item())


@pytest.mark.parametrize("shape", [(3, 3), (1, 3, 3), (1, 1, 1, 3, 3)])
def test_show_heatmaps_rejects_other_ranks(shape):
    with pytest.raises(ValueError, match=rf"4 dimensions \(rows, cols, queries, keys\), got {len(shape)}"):
        show_heatmaps(torch.zeros(shape), "k", "q")


def test_show_heatmaps_rejects_other_types_and_bad_labels():
    with pytest.raises(TypeError, match="torch.Tensor or a numpy.ndarray, got list"):
        show_heatmaps([[[[1.0]]]], "k", "q")
    with pytest.raises(ValueError, match=r"one title per column \(2\), got 3"):
        show_heatmaps(torch.zeros(1, 2, 2, 2), "k", "q", titles=["a", "b", "c"])
    with pytest.raises(ValueError, match=r"one label per key \(2\), got 1"):
        show_heatmaps(torch.zeros(1, 1, 2, 2), "k", "q", xticklabels=["a"])


def test_annotated_heatmap_writes_values_and_labels():
    ax = annotated_heatmap(torch.tensor([[0.25, 0.75], [1.0, 0.0]]), xticklabels=["le", "chat"],
                           yticklabels=["the", "cat"], title="alignment")
    texts = sorted(t.get_text() for t in ax.texts)
    assert texts == ["0.00", "0.25", "0.75", "1.00"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["le", "chat"]
    assert ax.get_title() == "alignment"


def test_annotated_heatmap_draws_vector_as_column():
    ax = annotated_heatmap(np.array([5.0, 1.0, 20.0]), fmt=".0f")
    assert [t.get_text() for t in ax.texts] == ["5", "1", "20"]
    assert ax.collections[0].get_coordinates().shape == (4, 2, 2)  # 3 rows x 1 column of cells


def test_annotated_heatmap_errors():
    with pytest.raises(ValueError, match="1 or 2 dimensions, got 3"):
        annotated_heatmap(torch.zeros(1, 2, 2))
    with pytest.raises(ValueError, match=r"one label per row \(2\), got 3"):
        annotated_heatmap(torch.zeros(2, 2), yticklabels=["a", "b", "c"])


def test_plot_curves_draws_one_labelled_line_per_curve():
    ax = plot_curves({"train": [3.0, 2.0, 1.5], "valid": ([1, 3], [2.5, 1.8])}, "update", "loss", logy=True)
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["train", "valid"]
    assert list(lines[0].get_xdata()) == [1, 2, 3] and list(lines[1].get_ydata()) == [2.5, 1.8]
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "update"


def test_plot_curves_errors():
    with pytest.raises(ValueError, match="curve 'bad': x and y must have the same length, got 2 and 1"):
        plot_curves({"bad": ([1, 2], [1.0])}, "x", "y")
    with pytest.raises(ValueError, match="at least one named curve"):
        plot_curves({}, "x", "y")
