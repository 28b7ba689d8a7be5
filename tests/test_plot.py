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


# --- Bad input: a clear error, or a defined result ---------------------------------------------

@pytest.mark.parametrize("matrices, error, message", [
    (np.zeros((1, 1, 0, 3)), ValueError, r"matrices must not be empty, got shape \(1, 1, 0, 3\)"),
    (np.zeros((0, 2, 3, 3)), ValueError, r"must not be empty, got shape \(0, 2, 3, 3\)"),
    (torch.full((1, 1, 2, 2), float("nan")), ValueError, r"no finite entry to draw \(all NaN or infinite\)"),
    (np.array([[[[None, 1.0]]]]), TypeError, "matrices must hold real numbers, got dtype object"),
    (np.array([[[["a"]]]]), TypeError, "matrices must hold real numbers, got dtype <U1"),
    (torch.zeros(1, 1, 2, 2, dtype=torch.complex64), TypeError, "real numbers, got dtype torch.complex64"),
])
def test_show_heatmaps_rejects_empty_and_non_numeric_input(matrices, error, message):
    with pytest.raises(error, match=message):
        show_heatmaps(matrices, "k", "q")


def test_show_heatmaps_leaves_non_finite_cells_blank():
    matrices = torch.tensor([[[[0.25, float("nan")], [float("inf"), 0.75]]]])
    fig = show_heatmaps(matrices, "k", "q")
    image = fig.axes[0].images[0]
    assert image.get_clim() == (0.25, 0.75)  # the colour scale comes from the finite cells
    assert image.get_array().mask.tolist() == [[False, True], [True, False]]


def test_show_heatmaps_draws_bool_masks():
    fig = show_heatmaps(torch.ones(3, 3, dtype=torch.bool).tril().reshape(1, 1, 3, 3), "k", "q")
    assert fig.axes[0].images[0].get_array().tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]


def test_show_heatmaps_rejects_bad_titles_labels_and_figsize():
    matrices = torch.zeros(2, 3, 2, 2)
    cases = [
        (TypeError, "titles must be a list of titles .* not a str", dict(titles="abc")),
        (TypeError, "all strings .* or all lists .* not a mix", dict(titles=["a", ["b"], "c"])),
        (ValueError, r"nested titles must be 2 lists of 3 titles", dict(titles=[["a", "b", "c"], ["d"]])),
        (TypeError, "xticklabels must be a sequence of strings, one per key, not a single str", dict(xticklabels="ab")),
        (ValueError, r"yticklabels must have one label per query \(2\), got 3", dict(yticklabels=["a", "b", "c"])),
        (ValueError, r"figsize must be \(width, height\) of one grid cell, two numbers > 0, got \(2, 0\)",
         dict(figsize=(2, 0))),
        (ValueError, r"figsize must be .*got \(1, 2, 3\)", dict(figsize=(1, 2, 3))),
    ]
    for error, message, kwargs in cases:
        with pytest.raises(error, match=message):
            show_heatmaps(matrices, "k", "q", **kwargs)


def test_annotated_heatmap_bad_input():
    with pytest.raises(ValueError, match=r"matrix must not be empty, got shape \(0, 3\)"):
        annotated_heatmap(torch.zeros(0, 3))
    with pytest.raises(ValueError, match="matrix has no finite entry"):
        annotated_heatmap(np.full((2, 2), np.inf))
    with pytest.raises(ValueError, match="1 or 2 dimensions, got 0"):
        annotated_heatmap(torch.tensor(1.0))
    with pytest.raises(TypeError, match="xticklabels must be a sequence of strings, one per column, not a single str"):
        annotated_heatmap(torch.zeros(2, 2), xticklabels="ab")
    with pytest.raises(TypeError, match="torch.Tensor or a numpy.ndarray, got list"):
        annotated_heatmap([[1.0, 2.0]])
    # NaN and infinite cells are left blank, without a number
    ax = annotated_heatmap(torch.tensor([[0.5, float("nan")], [float("-inf"), 1.0]]))
    assert sorted(t.get_text() for t in ax.texts) == ["0.50", "1.00"]


def test_plot_curves_bad_input():
    cases = [
        (TypeError, "curves must be a dict from label to y or \\(x, y\\), got list", [[1.0, 2.0]]),
        (ValueError, r"curve 'a' must be y or a pair \(x, y\), got a tuple of 3", {"a": ([1], [2], [3])}),
        (ValueError, "curve 'a' is empty", {"a": []}),
        (ValueError, "curve 'a' is empty", {"a": ([], [])}),
        (TypeError, r"curve 'a': y must be a 1-D sequence of numbers, got \[\[1, 2\], \[3\]\]", {"a": [[1, 2], [3]]}),
        (TypeError, "curve 'a': y must be a 1-D sequence of numbers, got 'abc'", {"a": "abc"}),
        (TypeError, "curve 'a': y must be a 1-D sequence of numbers, got 3.0", {"a": 3.0}),
        (ValueError, r"curve 'a': y must be 1-D, got shape \(2, 2\)", {"a": torch.zeros(2, 2)}),
        (TypeError, r"curve 'a': x must be a 1-D sequence of numbers", {"a": (["p", "q"], [1.0, 2.0])}),
    ]
    for error, message, curves in cases:
        with pytest.raises(error, match=message):
            plot_curves(curves, "x", "y")
    with pytest.raises(ValueError, match=r"curve 'b': a logarithmic y axis needs y > 0, got 0.0"):
        plot_curves({"a": [1.0], "b": [2.0, 0.0]}, "x", "y", logy=True)
    assert plt.get_fignums() == []  # every curve is checked before a figure is made


def test_plot_curves_takes_tensors_and_leaves_nan_as_a_gap():
    losses = [torch.tensor(2.0, requires_grad=True) * 1.5, torch.tensor(float("nan")), torch.tensor(1.0)]
    ax = plot_curves({"loss": losses, "steps": (torch.arange(3), np.array([1.0, 2.0, 3.0]))}, "step", "loss")
    first, second = ax.get_lines()
    assert list(first.get_xdata()) == [1, 2, 3]
    y = first.get_ydata()
    assert y[0] == 3.0 and np.isnan(y[1]) and y[2] == 1.0
    assert list(second.get_xdata()) == [0, 1, 2]
