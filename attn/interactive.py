"""Figures with controls that work without a kernel: the static book keeps them live.

Each helper takes precomputed frames (one per slider position, or one per choice of
the ``<select>`` lists) and returns a :class:`SliderView`, whose HTML is
self-contained: an SVG drawing, its controls and a few lines of JavaScript, with
the numbers embedded as JSON (rounded to 4 significant digits). It renders in
JupyterLab, in the HTML book and on Colab, and needs no server, no widget state
and no network. The drawing is laid out at the width it is shown at, so that its
text stays legible on a phone. Colours follow the book's other figures: the
Okabe-Ito palette with one dash pattern per curve (readable in grey and for
colour-blind readers), and a single-hue blue scale for heatmaps.

- :func:`interactive_curves`: curves over one x axis, a slider picks the moving ones.
- :func:`interactive_heatmaps`: a slider picks the matrix (a head, a width, a sentence).
- :func:`head_view` (from ``attn.head_view``): tokens on both sides and one line per
  weight, with lists for the attention kind, the layer and the head.
"""

from __future__ import annotations

import html
from typing import Sequence

import numpy as np

from attn.checks import check_labels
from attn.head_view import head_view
from attn.html_figure import SliderView, check_initial, check_texts, real_array, render, rounded

__all__ = ["SliderView", "interactive_curves", "interactive_heatmaps", "head_view"]


def _slider(slider_label: str, labels: list[str], initial: int) -> str:
    """A range input with its visible label and an output that names the position."""
    name = html.escape(slider_label, quote=True)
    return (f'<label style="display:flex;flex-wrap:wrap;gap:0 0.6em;align-items:center;'
            f'font-size:14px"><span style="flex:none">{html.escape(slider_label)}</span>'
            f'<input type="range" min="0" max="{len(labels) - 1}" step="1" value="{initial}" '
            f'aria-label="{name}" style="flex:1 1 8em;min-width:8em;height:28px;margin:0">'
            f'<output style="flex:0 1 auto;min-width:6em">{html.escape(labels[initial])}</output>'
            f"</label>")


def _figure(kind: str, spec: dict, labels: list[str], initial: int, slider_label: str,
            title: str | None) -> SliderView:
    spec = dict(spec, initial=initial, name=title or slider_label)
    aria = f"{title}: {labels[initial]}" if title else f"{slider_label}: {labels[initial]}"
    return render(kind, spec, labels, _slider(slider_label, labels, initial), aria)


def interactive_curves(x, frames: dict, labels: Sequence[str], *, slider_label: str,
                       xlabel: str, ylabel: str, fixed: dict | None = None,
                       points: tuple | None = None, initial: int = 0,
                       title: str | None = None) -> SliderView:
    """Curves over a shared x axis, the moving ones picked by a slider.

    Args:
        x: shape (n,), the x coordinates of every curve: real and finite.
        frames: dict from a curve's legend label to its y values, shape (F, n):
            row f is drawn when the slider is at position f.
        labels: F strings, the text shown for each slider position ("h = 0.25").
        slider_label: what the slider changes ("bandwidth").
        xlabel, ylabel: axis labels.
        fixed: optional dict from legend label to y values of shape (n,) that stay
            (a ground truth, say).
        points: optional (xs, ys) of equal length, drawn as grey dots (data); xs
            finite, a NaN in ys leaves the dot out.
        initial: the slider position shown first, an int in [0, F) (not a bool).
        title: optional title, also the drawing's accessible name.

    Returns:
        A SliderView; NaN or infinity in y leaves a gap. Complex values are a
        TypeError (their imaginary part would be lost).
    """
    check_texts(slider_label=slider_label, xlabel=xlabel, ylabel=ylabel, title=title)
    xs = real_array(x, "x", 1, finite=True)
    if not isinstance(frames, dict) or not frames:
        raise TypeError(f"frames must be a non-empty dict from label to (F, n) values, got {frames!r:.60}")
    moving = {str(k): real_array(v, f"frames[{k!r}]", 2) for k, v in frames.items()}
    num_frames = next(iter(moving.values())).shape[0]
    for key, values in moving.items():
        if values.shape != (num_frames, len(xs)):
            raise ValueError(f"frames[{key!r}] must have shape (F, n) = ({num_frames}, {len(xs)}), "
                             f"got {values.shape}")
    if fixed is not None and not isinstance(fixed, dict):
        raise TypeError(f"fixed must be a dict from label to (n,) values or None, "
                        f"got {type(fixed).__name__}")
    still = {str(k): real_array(v, f"fixed[{k!r}]", 1) for k, v in (fixed or {}).items()}
    for key, values in still.items():
        if values.shape != xs.shape:
            raise ValueError(f"fixed[{key!r}] must have shape (n,) = ({len(xs)},), got {values.shape}")
    dots = None
    if points is not None:
        if not isinstance(points, tuple) or len(points) != 2:
            raise TypeError("points must be a pair (xs, ys)")
        px, py = real_array(points[0], "points x", 1, finite=True), real_array(points[1], "points y", 1)
        if px.shape != py.shape:
            raise ValueError(f"points must have xs and ys of equal length, got {len(px)} and {len(py)}")
        dots = [rounded(px), rounded(py)]
    labels = check_labels(labels, num_frames, "labels", "frame")
    initial = check_initial(initial, num_frames)
    every_y = [v[np.isfinite(v)] for v in [*moving.values(), *still.values()]]
    if dots is not None:
        every_y.append(py[np.isfinite(py)])
    every_y = np.concatenate(every_y)
    if every_y.size == 0:
        raise ValueError("the curves have no finite value to draw")
    every_x = np.concatenate([xs, px]) if dots is not None else xs
    spec = {"width": 640, "height": 320, "xlabel": xlabel, "ylabel": ylabel, "x": rounded(xs),
            "moving": {k: rounded(v) for k, v in moving.items()},
            "fixed": {k: rounded(v) for k, v in still.items()}, "points": dots,
            "xrange": [float(np.nanmin(every_x)), float(np.nanmax(every_x))],
            "yrange": [float(every_y.min()), float(every_y.max())]}
    return _figure("curves", spec, labels, initial, slider_label, title)


def _per_frame(matrices: list[np.ndarray]) -> bool:
    return len({m.shape for m in matrices}) > 1


def _heatmap_frames(frames) -> list[np.ndarray]:
    """An (F, L, S) array, or a list of F matrices of any shapes, as a list of matrices."""
    if isinstance(frames, (list, tuple)):
        if not frames:
            raise ValueError("frames must not be empty: give an (F, L, S) array or a list of "
                             "F (L, S) matrices")
        return [real_array(m, f"frames[{f}]", 2) for f, m in enumerate(frames)]
    return list(real_array(frames, "frames", 3))


def _ticks(ticklabels, matrices: list[np.ndarray], name: str, axis: int, per: str) -> list:
    """One list of tick labels per frame (empty lists without labels)."""
    if ticklabels is None:
        return [[] for _ in matrices]
    counts = [m.shape[axis] for m in matrices]
    nested = (not isinstance(ticklabels, str) and hasattr(ticklabels, "__len__")
              and len(ticklabels) > 0
              and all(not isinstance(t, str) and hasattr(t, "__iter__") for t in ticklabels))
    if not nested:
        if len(set(counts)) > 1:
            raise ValueError(f"{name} must be a list of label lists, one per frame, when the "
                             f"frames differ in their number of {per}s ({counts}); "
                             f"got one shared list")
        shared = check_labels(ticklabels, counts[0], name, per)
        return [shared for _ in matrices]
    if len(ticklabels) != len(matrices):
        raise ValueError(f"{name} must have one label list per frame ({len(matrices)}), "
                         f"got {len(ticklabels)}")
    return [check_labels(t, n, f"{name}[{f}]", per)
            for f, (t, n) in enumerate(zip(ticklabels, counts))]


def interactive_heatmaps(frames, labels: Sequence[str], *, slider_label: str,
                         xlabel: str = "Keys", ylabel: str = "Queries",
                         xticklabels: Sequence | None = None,
                         yticklabels: Sequence | None = None, initial: int = 0,
                         title: str | None = None) -> SliderView:
    """A heatmap whose matrix a slider picks: a head, a temperature, a sentence.

    Args:
        frames: shape (F, L, S), or a list of F matrices of shapes (L_f, S_f) that
            may differ (several sentences of different lengths): frame f is drawn
            at slider position f, queries down, keys across. All frames share one
            colour scale (white to dark blue); NaN and infinite cells are blank.
        labels: F strings, the text shown for each slider position ("head 2").
        slider_label: what the slider changes.
        xlabel, ylabel: axis labels.
        xticklabels: optional labels of the keys: one list of S strings shared by
            every frame, or a list of F lists, one per frame (needed when the
            frames differ in S). yticklabels: the same for the queries.
        initial: the slider position shown first; title: optional title.

    Returns:
        A SliderView.
    """
    check_texts(slider_label=slider_label, xlabel=xlabel, ylabel=ylabel, title=title)
    matrices = _heatmap_frames(frames)
    labels = check_labels(labels, len(matrices), "labels", "frame")
    initial = check_initial(initial, len(matrices))
    xticks = _ticks(xticklabels, matrices, "xticklabels", 1, "key")
    yticks = _ticks(yticklabels, matrices, "yticklabels", 0, "query")
    finite = np.concatenate([m[np.isfinite(m)] for m in matrices])
    if finite.size == 0:
        raise ValueError("frames has no finite entry to draw (all NaN or infinite)")
    low, high = float(finite.min()), float(finite.max())
    if low == high:
        low, high = low - 0.5, high + 0.5
    rows = max(m.shape[0] for m in matrices)
    cols = max(m.shape[1] for m in matrices)
    # the widest layout (a desktop column); interactive.js lays out again at the real width
    cell = min(36.0, 440.0 / cols, 300.0 / rows)
    ywide = max((len(t) for ticks in yticks for t in ticks), default=0)
    xwide = max((len(t) for ticks in xticks for t in ticks), default=0)
    left = 40 + (8 * ywide + 10 if ywide else 16)
    below = 6 * xwide + 14 if xwide else 8  # rotated key labels
    spec = {"width": int(left + cols * cell + 110), "height": int(12 + rows * cell + below + 24),
            "xlabel": xlabel, "ylabel": ylabel, "frames": [rounded(m) for m in matrices],
            "range": [low, high], "xticks": xticks, "yticks": yticks}
    return _figure("heatmaps", spec, labels, initial, slider_label, title)
