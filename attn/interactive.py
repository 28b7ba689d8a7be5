"""Figures with a slider that work without a kernel: the static book keeps them live.

Each helper takes precomputed frames (one per slider position) and returns a
:class:`SliderView`, whose HTML is self-contained: an SVG drawing, a range input and
a few lines of JavaScript, with the numbers embedded as JSON (rounded to 4
significant digits). It renders in JupyterLab, in the HTML book and on Colab, and
needs no server, no widget state and no network. Colours follow the book's other
figures: the Okabe-Ito palette with one dash pattern per curve (readable in grey
and for colour-blind readers), and a single-hue blue scale for heatmaps.
"""

from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from attn.checks import check_labels

__all__ = ["SliderView", "interactive_curves", "interactive_heatmaps"]


@dataclass(frozen=True)
class SliderView:
    """A figure with a slider: ``html`` is the whole page fragment.

    Attributes:
        html: self-contained HTML (SVG, range input, script).
        kind: "curves" or "heatmaps".
        num_frames: number of slider positions.
        labels: the text shown for each slider position.
    """

    html: str
    kind: str
    num_frames: int
    labels: tuple[str, ...]

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return f"SliderView({self.kind}, {self.num_frames} frames: {self.labels[0]} ... {self.labels[-1]})"


def _array(x, name: str, ndim: int, finite: bool = False) -> np.ndarray:
    """``x`` as a float64 array of ``ndim`` dimensions, not empty; all finite with ``finite``."""
    if isinstance(x, torch.Tensor):
        if x.is_complex():
            raise TypeError(f"{name} must hold real numbers, got a complex tensor ({x.dtype})")
        x = x.detach().cpu().to(torch.float64).numpy()
    try:
        raw = np.asarray(x)
    except (TypeError, ValueError):  # ragged nested lists, say
        raise TypeError(f"{name} must hold real numbers, got {type(x).__name__}") from None
    if np.iscomplexobj(raw):
        raise TypeError(f"{name} must hold real numbers, got complex values ({raw.dtype})")
    if raw.dtype.kind in "SUV":
        raise TypeError(f"{name} must hold real numbers, got {raw.dtype} values")
    try:
        values = raw.astype(np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must hold real numbers, got {type(x).__name__}") from None
    if values.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got {values.ndim} with shape {values.shape}")
    if values.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {values.shape}")
    if finite and not np.isfinite(values).all():
        bad = values[~np.isfinite(values)]
        raise ValueError(f"{name} must be finite (coordinates on the axis), got "
                         f"{bad.size} NaN or infinite entries, the first {bad[0]}")
    return values


def _rounded(values: np.ndarray):
    """Nested lists rounded to 4 significant digits; NaN and infinities become None (a gap)."""
    flat = [None if not np.isfinite(v) else float(f"{v:.4g}") for v in values.ravel()]
    return np.array(flat, dtype=object).reshape(values.shape).tolist()


def _check_initial(initial: int, num_frames: int) -> int:
    if isinstance(initial, (bool, np.bool_)) or not isinstance(initial, (int, np.integer)):
        raise TypeError(f"initial must be a frame index (an int), got {initial!r}")
    if not 0 <= initial < num_frames:
        raise ValueError(f"initial must be a frame index in [0, {num_frames}), got {initial!r}")
    return int(initial)


def _check_texts(**texts) -> None:
    for name, text in texts.items():
        if not isinstance(text, str) and not (name == "title" and text is None):
            wanted = "a str or None" if name == "title" else "a str"
            raise TypeError(f"{name} must be {wanted}, got {type(text).__name__}")


def _render(kind: str, spec: dict, labels: list[str], initial: int, slider_label: str,
            title: str | None) -> SliderView:
    spec = dict(spec, kind=kind, labels=labels, initial=initial, title=title or "")
    payload = json.dumps(spec, separators=(",", ":"), allow_nan=False)
    uid = "attn-slider-" + hashlib.sha1(payload.encode()).hexdigest()[:12]  # same data, same id
    aria = html.escape(title or slider_label, quote=True)
    embedded = payload.replace("</", "<\\/")  # no "</script>" inside the JSON
    fragment = (
        f'<div class="attn-slider" id="{uid}" '
        f'style="max-width:{max(spec["width"], 400)}px;font-family:sans-serif">'
        f'<svg role="img" aria-label="{aria}" viewBox="0 0 {spec["width"]} {spec["height"]}" '
        f'style="width:100%;height:auto;display:block"></svg>'
        f'<label style="display:flex;gap:0.6em;align-items:center;font-size:14px">'
        f'<span>{html.escape(slider_label)}</span>'
        f'<input type="range" min="0" max="{len(labels) - 1}" step="1" value="{initial}" '
        f'aria-label="{html.escape(slider_label, quote=True)}" style="flex:1">'
        f'<output style="min-width:7em">{html.escape(labels[initial])}</output></label>'
        f'<script type="application/json">{embedded}</script>'
        f"<script>{_SCRIPT.replace('__UID__', uid)}</script></div>"
    )
    return SliderView(fragment, kind, len(labels), tuple(labels))


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
    _check_texts(slider_label=slider_label, xlabel=xlabel, ylabel=ylabel, title=title)
    xs = _array(x, "x", 1, finite=True)
    if not isinstance(frames, dict) or not frames:
        raise TypeError(f"frames must be a non-empty dict from label to (F, n) values, got {frames!r:.60}")
    moving = {str(k): _array(v, f"frames[{k!r}]", 2) for k, v in frames.items()}
    num_frames = next(iter(moving.values())).shape[0]
    for key, values in moving.items():
        if values.shape != (num_frames, len(xs)):
            raise ValueError(f"frames[{key!r}] must have shape (F, n) = ({num_frames}, {len(xs)}), "
                             f"got {values.shape}")
    if fixed is not None and not isinstance(fixed, dict):
        raise TypeError(f"fixed must be a dict from label to (n,) values or None, "
                        f"got {type(fixed).__name__}")
    still = {str(k): _array(v, f"fixed[{k!r}]", 1) for k, v in (fixed or {}).items()}
    for key, values in still.items():
        if values.shape != xs.shape:
            raise ValueError(f"fixed[{key!r}] must have shape (n,) = ({len(xs)},), got {values.shape}")
    dots = None
    if points is not None:
        if not isinstance(points, tuple) or len(points) != 2:
            raise TypeError("points must be a pair (xs, ys)")
        px, py = _array(points[0], "points x", 1, finite=True), _array(points[1], "points y", 1)
        if px.shape != py.shape:
            raise ValueError(f"points must have xs and ys of equal length, got {len(px)} and {len(py)}")
        dots = [_rounded(px), _rounded(py)]
    labels = check_labels(labels, num_frames, "labels", "frame")
    initial = _check_initial(initial, num_frames)
    every_y = [v[np.isfinite(v)] for v in [*moving.values(), *still.values()]]
    if dots is not None:
        every_y.append(py[np.isfinite(py)])
    every_y = np.concatenate(every_y)
    if every_y.size == 0:
        raise ValueError("the curves have no finite value to draw")
    every_x = np.concatenate([xs, px]) if dots is not None else xs
    spec = {"width": 640, "height": 320, "xlabel": xlabel, "ylabel": ylabel, "x": _rounded(xs),
            "moving": {k: _rounded(v) for k, v in moving.items()},
            "fixed": {k: _rounded(v) for k, v in still.items()}, "points": dots,
            "xrange": [float(np.nanmin(every_x)), float(np.nanmax(every_x))],
            "yrange": [float(every_y.min()), float(every_y.max())]}
    return _render("curves", spec, labels, initial, slider_label, title)


def interactive_heatmaps(frames, labels: Sequence[str], *, slider_label: str,
                         xlabel: str = "Keys", ylabel: str = "Queries",
                         xticklabels: Sequence[str] | None = None,
                         yticklabels: Sequence[str] | None = None, initial: int = 0,
                         title: str | None = None) -> SliderView:
    """A heatmap whose matrix a slider picks: a head, a temperature, a layer.

    Args:
        frames: shape (F, L, S): frame f is drawn at slider position f, queries
            down, keys across. All frames share one colour scale (white to dark
            blue); NaN and infinite cells are left blank.
        labels: F strings, the text shown for each slider position ("head 2").
        slider_label: what the slider changes.
        xlabel, ylabel: axis labels.
        xticklabels: optional S labels for the keys; yticklabels: optional L
            labels for the queries.
        initial: the slider position shown first; title: optional title.

    Returns:
        A SliderView.
    """
    _check_texts(slider_label=slider_label, xlabel=xlabel, ylabel=ylabel, title=title)
    values = _array(frames, "frames", 3)
    num_frames, num_queries, num_keys = values.shape
    labels = check_labels(labels, num_frames, "labels", "frame")
    initial = _check_initial(initial, num_frames)
    xticks = check_labels(xticklabels, num_keys, "xticklabels", "key") if xticklabels is not None else []
    yticks = (check_labels(yticklabels, num_queries, "yticklabels", "query")
              if yticklabels is not None else [])
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise ValueError("frames has no finite entry to draw (all NaN or infinite)")
    low, high = float(finite.min()), float(finite.max())
    if low == high:
        low, high = low - 0.5, high + 0.5
    cell = min(36.0, 440.0 / num_keys, 300.0 / num_queries)
    left = 40 + (8 * max(map(len, yticks)) + 10 if yticks else 16)
    below = 6 * max(map(len, xticks)) + 14 if xticks else 8  # rotated key labels
    # 110 px right of the cells: the colour bar and its labels
    spec = {"width": int(left + num_keys * cell + 110), "height": int(12 + num_queries * cell + below + 24),
            "left": left, "xlabel": xlabel, "ylabel": ylabel,
            "frames": _rounded(values), "range": [low, high], "cell": cell,
            "xticks": xticks, "yticks": yticks}
    return _render("heatmaps", spec, labels, initial, slider_label, title)


# One drawing routine for both kinds. It reads the JSON next to it, draws frame i into
# the SVG, and redraws on every slider move. No library, no network.
_SCRIPT = r"""
(function () {
  var root = document.getElementById("__UID__");
  if (!root || root.dataset.ready) return;
  root.dataset.ready = "1";
  var spec = JSON.parse(root.querySelector('script[type="application/json"]').textContent);
  var svg = root.querySelector("svg"), input = root.querySelector("input"),
      out = root.querySelector("output"), NS = "http://www.w3.org/2000/svg";
  var COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"];
  var DASHES = ["", "7 4", "2 3", "9 3 2 3", "4 2", "1 5"];
  function el(name, attrs, text) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    svg.appendChild(e);
    return e;
  }
  function ticks(lo, hi) {
    var step = Math.pow(10, Math.floor(Math.log10((hi - lo) / 4 || 1)));
    var err = (hi - lo) / 4 / step;
    step *= err >= 5 ? 5 : err >= 2 ? 2 : 1;
    var out = [];
    for (var t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step)
      out.push(Math.round(t / step) * step);
    return out;
  }
  function fmt(v) {
    var a = Math.abs(v);
    return a !== 0 && (a < 1e-3 || a >= 1e4) ? v.toExponential(1) : String(Number(v.toPrecision(3)));
  }
  function curves(i) {
    var L = 56, R = 630, T = 16, B = spec.height - 44;
    var x0 = spec.xrange[0], x1 = spec.xrange[1], pad = (spec.yrange[1] - spec.yrange[0]) * 0.05 || 0.5;
    var y0 = spec.yrange[0] - pad, y1 = spec.yrange[1] + pad;
    function sx(v) { return L + (v - x0) / (x1 - x0 || 1) * (R - L); }
    function sy(v) { return B - (v - y0) / (y1 - y0) * (B - T); }
    el("rect", {x: L, y: T, width: R - L, height: B - T, fill: "none", stroke: "#444"});
    ticks(x0, x1).forEach(function (t) {
      el("line", {x1: sx(t), x2: sx(t), y1: B, y2: B + 5, stroke: "#444"});
      el("text", {x: sx(t), y: B + 19, "text-anchor": "middle", "font-size": 13}, fmt(t));
    });
    ticks(y0, y1).forEach(function (t) {
      el("line", {x1: L - 5, x2: L, y1: sy(t), y2: sy(t), stroke: "#444"});
      el("text", {x: L - 8, y: sy(t) + 4, "text-anchor": "end", "font-size": 13}, fmt(t));
    });
    el("text", {x: (L + R) / 2, y: spec.height - 6, "text-anchor": "middle", "font-size": 14}, spec.xlabel);
    el("text", {x: 14, y: (T + B) / 2, "text-anchor": "middle", "font-size": 14,
                transform: "rotate(-90 14 " + (T + B) / 2 + ")"}, spec.ylabel);
    if (spec.points) spec.points[0].forEach(function (px, k) {
      var py = spec.points[1][k];
      if (px !== null && py !== null)
        el("circle", {cx: sx(px), cy: sy(py), r: 2.6, fill: "#888", "fill-opacity": 0.7});
    });
    var series = [];
    Object.keys(spec.fixed).forEach(function (k) { series.push([k, spec.fixed[k]]); });
    Object.keys(spec.moving).forEach(function (k) { series.push([k, spec.moving[k][i]]); });
    series.forEach(function (s, n) {
      var d = "", pen = "M";
      s[1].forEach(function (v, k) {
        if (v === null) { pen = "M"; return; }
        d += pen + sx(spec.x[k]).toFixed(1) + "," + sy(v).toFixed(1) + " ";
        pen = "L";
      });
      var style = {d: d, fill: "none", stroke: COLOURS[n % 6], "stroke-width": 2.2,
                   "stroke-dasharray": DASHES[n % 6]};
      el("path", style);
      var ly = T + 14 + 18 * n;
      el("line", {x1: R - 150, x2: R - 122, y1: ly, y2: ly, stroke: COLOURS[n % 6],
                  "stroke-width": 2.2, "stroke-dasharray": DASHES[n % 6]});
      el("text", {x: R - 116, y: ly + 4, "font-size": 13}, s[0]);
    });
  }
  function colour(v) {
    var t = Math.max(0, Math.min(1, (v - spec.range[0]) / (spec.range[1] - spec.range[0])));
    var a = [247, 251, 255], b = [8, 48, 107];
    return "rgb(" + a.map(function (c, k) { return Math.round(c + (b[k] - c) * t); }).join(",") + ")";
  }
  function heatmaps(i) {
    var m = spec.frames[i], c = spec.cell, rows = m.length, cols = m[0].length;
    var L = spec.left, T = 12;
    m.forEach(function (row, r) {
      row.forEach(function (v, k) {
        if (v !== null)
          el("rect", {x: L + k * c, y: T + r * c, width: c, height: c, fill: colour(v)});
      });
    });
    el("rect", {x: L, y: T, width: cols * c, height: rows * c, fill: "none", stroke: "#444"});
    spec.yticks.forEach(function (t, r) {
      el("text", {x: L - 6, y: T + (r + 0.5) * c + 4, "text-anchor": "end", "font-size": 12}, t);
    });
    spec.xticks.forEach(function (t, k) {
      var x = L + (k + 0.5) * c, y = T + rows * c + 8;
      el("text", {x: x, y: y, "text-anchor": "end", "font-size": 12,
                  transform: "rotate(-60 " + x + " " + y + ")"}, t);
    });
    el("text", {x: L + cols * c / 2, y: spec.height - 4, "text-anchor": "middle", "font-size": 14},
       spec.xlabel);
    el("text", {x: 14, y: T + rows * c / 2, "text-anchor": "middle", "font-size": 14,
                transform: "rotate(-90 14 " + (T + rows * c / 2) + ")"}, spec.ylabel);
    var bx = L + cols * c + 24, steps = 20, h = rows * c / steps;
    for (var s = 0; s < steps; s++) {
      var v = spec.range[1] - (s + 0.5) / steps * (spec.range[1] - spec.range[0]);
      el("rect", {x: bx, y: T + s * h, width: 14, height: h + 0.5, fill: colour(v)});
    }
    el("text", {x: bx + 20, y: T + 10, "font-size": 12}, fmt(spec.range[1]));
    el("text", {x: bx + 20, y: T + rows * c, "font-size": 12}, fmt(spec.range[0]));
  }
  function draw() {
    var i = Number(input.value);
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    if (spec.title) svg.setAttribute("aria-label", spec.title + ": " + spec.labels[i]);
    (spec.kind === "curves" ? curves : heatmaps)(i);
    out.textContent = spec.labels[i];
  }
  input.addEventListener("input", draw);
  draw();
})();
"""
