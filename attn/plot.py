"""Plotting helpers: every attention figure in the book comes from here.

The helpers take torch tensors (any device, with or without grad) or NumPy
arrays of real numbers, and return the matplotlib object they drew, so tests and
readers can inspect it. In a heatmap, NaN and infinite cells are left blank and
the colour scale comes from the finite ones. Default colour maps are sequential
single-hue maps (``Reds``, ``Blues``), which read well in greyscale and for
colour-blind readers.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch

from attn.checks import check_labels


def _to_numpy(x, name: str) -> np.ndarray:
    """A float64 copy of a tensor or array of real numbers (bool included)."""
    if isinstance(x, torch.Tensor):
        if x.dtype.is_complex:
            raise TypeError(f"{name} must hold real numbers, got dtype {x.dtype}")
        return x.detach().cpu().to(torch.float64).numpy()
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "biuf":  # bool, int, unsigned, float: no objects, strings, complex
            raise TypeError(f"{name} must hold real numbers, got dtype {x.dtype}")
        return x.astype(np.float64)
    raise TypeError(f"{name} must be a torch.Tensor or a numpy.ndarray, got {type(x).__name__}")


def _check_matrix_values(values: np.ndarray, name: str) -> np.ndarray:
    """Reject an empty or an all-NaN/inf array; return it with non-finite cells as NaN (drawn blank)."""
    if values.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {values.shape}")
    finite = np.isfinite(values)
    if not finite.any():
        raise ValueError(f"{name} has no finite entry to draw (all NaN or infinite)")
    return np.where(finite, values, np.nan)


def _check_labels(labels, count: int, name: str, per: str) -> None:
    if labels is not None:
        check_labels(labels, count, name, per)


def show_heatmaps(matrices, xlabel: str, ylabel: str, titles: Sequence[str] | None = None,
                  figsize: tuple[float, float] = (2.5, 2.5), cmap: str = "Reds",
                  xticklabels: Sequence[str] | None = None,
                  yticklabels: Sequence[str] | None = None) -> plt.Figure:
    """Draw a grid of heatmaps that share one colour scale and one colour bar.

    Args:
        matrices: tensor or array of shape (rows, cols, L, S), not empty:
            ``matrices[i, j]`` is drawn in grid cell (i, j), queries down, keys
            across. NaN and infinite cells are left blank.
        xlabel: label under the bottom row (usually "Keys").
        ylabel: label left of the first column (usually "Queries").
        titles: optional titles, one per column (length cols), or one per grid
            cell (rows lists of length cols).
        figsize: size of one grid cell in inches (width, height).
        cmap: matplotlib colour map name.
        xticklabels: optional S labels for the keys (tokens, say).
        yticklabels: optional L labels for the queries.

    Returns:
        The matplotlib Figure (it has rows * cols heatmap axes plus one colour bar).
    """
    values = _to_numpy(matrices, "matrices")
    if values.ndim != 4:
        raise ValueError(
            f"matrices must have 4 dimensions (rows, cols, queries, keys), "
            f"got {values.ndim} with shape {values.shape}"
        )
    values = _check_matrix_values(values, "matrices")
    num_rows, num_cols, num_queries, num_keys = values.shape
    _check_labels(xticklabels, num_keys, "xticklabels", "key")
    _check_labels(yticklabels, num_queries, "yticklabels", "query")
    if titles is not None:
        if isinstance(titles, str):
            raise TypeError("titles must be a list of titles (one per column) or a list of such lists, not a str")
        titles = [t if isinstance(t, str) else list(t) for t in titles]
        nested = all(isinstance(t, list) for t in titles)
        if not nested and not all(isinstance(t, str) for t in titles):
            raise TypeError("titles must be all strings (one per column) or all lists (one per row), not a mix")
        if nested and (len(titles) != num_rows or any(len(t) != num_cols for t in titles)):
            raise ValueError(f"nested titles must be {num_rows} lists of {num_cols} titles")
        if not nested and len(titles) != num_cols:
            raise ValueError(f"titles must have one title per column ({num_cols}), got {len(titles)}")
    if len(figsize) != 2 or not all(isinstance(x, (int, float)) and x > 0 for x in figsize):
        raise ValueError(f"figsize must be (width, height) of one grid cell, two numbers > 0, got {figsize!r}")

    fig, axes = plt.subplots(num_rows, num_cols, figsize=(figsize[0] * num_cols, figsize[1] * num_rows),
                             sharex=True, sharey=True, squeeze=False)
    vmin, vmax = float(np.nanmin(values)), float(np.nanmax(values))
    if vmin == vmax:  # a constant matrix still needs a non-empty colour range
        vmin, vmax = vmin - 0.5, vmax + 0.5
    image = None
    for i in range(num_rows):
        for j in range(num_cols):
            ax = axes[i, j]
            # a masked array: imshow leaves NaN cells blank
            image = ax.imshow(np.ma.masked_invalid(values[i, j]), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
            if i == num_rows - 1:
                ax.set_xlabel(xlabel)
            if j == 0:
                ax.set_ylabel(ylabel)
            if titles is not None:
                ax.set_title(titles[i][j] if isinstance(titles[i], list) else titles[j])
            if xticklabels is not None:
                ax.set_xticks(range(num_keys), labels=list(xticklabels), rotation=90)
            if yticklabels is not None:
                ax.set_yticks(range(num_queries), labels=list(yticklabels))
    fig.colorbar(image, ax=axes, shrink=0.6)
    return fig


def annotated_heatmap(matrix, xticklabels: Sequence[str] | None = None,
                      yticklabels: Sequence[str] | None = None, *, ax: plt.Axes | None = None,
                      title: str | None = None, xlabel: str | None = None, ylabel: str | None = None,
                      cmap: str = "Blues", fmt: str = ".2f", cbar: bool = False,
                      vmin: float | None = None, vmax: float | None = None) -> plt.Axes:
    """One small heatmap with each cell's value written in it (seaborn).

    For alignments between tokens and for the small vectors of a worked example.

    Args:
        matrix: tensor or array of shape (rows, cols), not empty; a 1-D vector
            of length n is drawn as a column of shape (n, 1). NaN and infinite
            cells are left blank, without a number.
        xticklabels: optional labels for the columns (for example source tokens).
        yticklabels: optional labels for the rows (for example output tokens).
        ax: axes to draw on; a new figure sized to the matrix when None.
        title, xlabel, ylabel: optional text.
        cmap: colour map name; fmt: number format of the annotations.
        cbar: whether to add a colour bar; vmin, vmax: colour range.

    Returns:
        The matplotlib Axes drawn on.
    """
    values = _to_numpy(matrix, "matrix")
    if values.ndim == 1:
        values = values[:, None]  # (n,) -> (n, 1)
    if values.ndim != 2:
        raise ValueError(f"matrix must have 1 or 2 dimensions, got {values.ndim} with shape {values.shape}")
    values = _check_matrix_values(values, "matrix")
    rows, cols = values.shape
    _check_labels(xticklabels, cols, "xticklabels", "column")
    _check_labels(yticklabels, rows, "yticklabels", "row")
    if ax is None:
        _, ax = plt.subplots(figsize=(0.7 * cols + 1.2, 0.45 * rows + 0.8))
    sns.heatmap(values, annot=True, fmt=fmt, cmap=cmap, cbar=cbar, linewidths=1, linecolor="white",
                vmin=vmin, vmax=vmax, square=False, ax=ax,
                xticklabels=list(xticklabels) if xticklabels is not None else False,
                yticklabels=list(yticklabels) if yticklabels is not None else False)
    if yticklabels is not None:
        ax.tick_params(axis="y", rotation=0)
    if title:
        ax.set_title(title)
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    return ax


def _to_vector(seq, name: str) -> np.ndarray:
    """A 1-D float64 array from a tensor, an array or a sequence of numbers."""
    if not isinstance(seq, (torch.Tensor, np.ndarray)):
        try:
            if isinstance(seq, str):
                raise TypeError
            # one number at a time: takes a list of 0-d tensors (losses) too, and rejects nesting
            seq = np.array([float(v.detach() if isinstance(v, torch.Tensor) else v) for v in seq])
        except (TypeError, ValueError):  # not iterable, nested, or not numbers
            raise TypeError(f"{name} must be a 1-D sequence of numbers, got {seq!r:.60}") from None
    values = _to_numpy(seq, name)
    if values.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {values.shape}")
    return values


def plot_curves(curves: dict, xlabel: str, ylabel: str, *, ax: plt.Axes | None = None,
                title: str | None = None, logy: bool = False, marker: str | None = None) -> plt.Axes:
    """Line plot of named curves, for training losses and scores against a variable.

    Args:
        curves: a dict that maps a legend label to ``(x, y)`` (two 1-D sequences
            of numbers, of equal length) or to ``y`` alone (plotted against 1, 2,
            ...); no curve may be empty. NaN in y leaves a gap in the line.
        xlabel, ylabel: axis labels; title: optional title.
        ax: axes to draw on; a new 5 x 3 inch figure when None.
        logy: logarithmic y axis (for losses); marker: matplotlib marker, e.g. "o".

    Returns:
        The matplotlib Axes drawn on (one line per curve, with a legend).
    """
    if not isinstance(curves, dict):
        raise TypeError(f"curves must be a dict from label to y or (x, y), got {type(curves).__name__}")
    if not curves:
        raise ValueError("curves must hold at least one named curve")
    lines = {}  # check every curve before drawing any
    for label, curve in curves.items():
        if isinstance(curve, tuple):
            if len(curve) != 2:
                raise ValueError(f"curve {label!r} must be y or a pair (x, y), got a tuple of {len(curve)}")
            x, y = _to_vector(curve[0], f"curve {label!r}: x"), _to_vector(curve[1], f"curve {label!r}: y")
        else:
            y = _to_vector(curve, f"curve {label!r}: y")
            x = np.arange(1, len(y) + 1, dtype=np.float64)
        if x.shape != y.shape:
            raise ValueError(f"curve {label!r}: x and y must have the same length, got {len(x)} and {len(y)}")
        if len(y) == 0:
            raise ValueError(f"curve {label!r} is empty")
        if logy and (y <= 0).any():
            raise ValueError(f"curve {label!r}: a logarithmic y axis needs y > 0, got {y[y <= 0][0]}")
        lines[label] = x, y
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3))
    for label, (x, y) in lines.items():
        ax.plot(x, y, label=label, marker=marker)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.legend()
    return ax
