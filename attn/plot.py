"""Plotting helpers: every attention figure in the book comes from here.

Both helpers take torch tensors (any device, with or without grad) or NumPy
arrays, and return the matplotlib object they drew, so tests and readers can
inspect it. Default colour maps are sequential single-hue maps (``Reds``,
``Blues``), which read well in greyscale and for colour-blind readers.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch


def _to_numpy(x, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().to(torch.float64).numpy()
    if isinstance(x, np.ndarray):
        return x.astype(np.float64)
    raise TypeError(f"{name} must be a torch.Tensor or a numpy.ndarray, got {type(x).__name__}")


def show_heatmaps(matrices, xlabel: str, ylabel: str, titles: Sequence[str] | None = None,
                  figsize: tuple[float, float] = (2.5, 2.5), cmap: str = "Reds",
                  xticklabels: Sequence[str] | None = None,
                  yticklabels: Sequence[str] | None = None) -> plt.Figure:
    """Draw a grid of heatmaps that share one colour scale and one colour bar.

    Args:
        matrices: tensor or array of shape (rows, cols, L, S): ``matrices[i, j]``
            is drawn in grid cell (i, j), queries down, keys across.
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
    num_rows, num_cols, num_queries, num_keys = values.shape
    if xticklabels is not None and len(xticklabels) != num_keys:
        raise ValueError(f"xticklabels must have one label per key ({num_keys}), got {len(xticklabels)}")
    if yticklabels is not None and len(yticklabels) != num_queries:
        raise ValueError(f"yticklabels must have one label per query ({num_queries}), got {len(yticklabels)}")
    if titles is not None:
        titles = [list(t) if not isinstance(t, str) else t for t in titles]
        nested = all(isinstance(t, list) for t in titles)
        if nested and (len(titles) != num_rows or any(len(t) != num_cols for t in titles)):
            raise ValueError(f"nested titles must be {num_rows} lists of {num_cols} titles")
        if not nested and len(titles) != num_cols:
            raise ValueError(f"titles must have one title per column ({num_cols}), got {len(titles)}")

    fig, axes = plt.subplots(num_rows, num_cols, figsize=(figsize[0] * num_cols, figsize[1] * num_rows),
                             sharex=True, sharey=True, squeeze=False)
    vmin, vmax = float(values.min()), float(values.max())
    if vmin == vmax:  # a constant matrix still needs a non-empty colour range
        vmin, vmax = vmin - 0.5, vmax + 0.5
    image = None
    for i in range(num_rows):
        for j in range(num_cols):
            ax = axes[i, j]
            image = ax.imshow(values[i, j], cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
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
        matrix: tensor or array of shape (rows, cols); a 1-D vector of length n
            is drawn as a column of shape (n, 1).
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
        values = values[:, None]
    if values.ndim != 2:
        raise ValueError(f"matrix must have 1 or 2 dimensions, got {values.ndim} with shape {values.shape}")
    rows, cols = values.shape
    if xticklabels is not None and len(xticklabels) != cols:
        raise ValueError(f"xticklabels must have one label per column ({cols}), got {len(xticklabels)}")
    if yticklabels is not None and len(yticklabels) != rows:
        raise ValueError(f"yticklabels must have one label per row ({rows}), got {len(yticklabels)}")
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


def plot_curves(curves: dict, xlabel: str, ylabel: str, *, ax: plt.Axes | None = None,
                title: str | None = None, logy: bool = False, marker: str | None = None) -> plt.Axes:
    """Line plot of named curves, for training losses and scores against a variable.

    Args:
        curves: maps a legend label to ``(x, y)`` (two sequences of equal length)
            or to ``y`` alone (plotted against 1, 2, ...).
        xlabel, ylabel: axis labels; title: optional title.
        ax: axes to draw on; a new 5 x 3 inch figure when None.
        logy: logarithmic y axis (for losses); marker: matplotlib marker, e.g. "o".

    Returns:
        The matplotlib Axes drawn on (one line per curve, with a legend).
    """
    if not curves:
        raise ValueError("curves must hold at least one named curve")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3))
    for label, curve in curves.items():
        x, y = curve if isinstance(curve, tuple) else (range(1, len(curve) + 1), curve)
        x, y = _to_numpy(np.asarray(list(x)), "x"), _to_numpy(np.asarray(list(y)), "y")
        if x.shape != y.shape:
            raise ValueError(f"curve {label!r}: x and y must have the same length, got {len(x)} and {len(y)}")
        ax.plot(x, y, label=label, marker=marker)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.legend()
    return ax
