"""The HTML shell that every kernel-free figure of ``attn.interactive`` shares.

A figure is one ``<div class="attn-slider">`` holding one ``<svg>``, its controls
(a range input, or ``<select>`` lists) and two scripts: the numbers as JSON and
the drawing code of ``attn/interactive.js``, which lays the figure out at the
width it gets (a phone's column or a desktop's) and redraws it when a control
changes or the width does. No library, no network, no kernel, no widget state:
the fragment works in JupyterLab, on Colab and in the static book alike.

This module holds what the figure kinds have in common: the checks of their
arguments, the rounding of numbers and the assembly of the fragment.
"""

from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import torch

__all__ = ["SliderView", "real_array", "rounded", "check_initial", "check_texts", "render"]


@dataclass(frozen=True)
class SliderView:
    """A kernel-free figure: ``html`` is the whole page fragment.

    Attributes:
        html: self-contained HTML (SVG, controls, script).
        kind: "curves", "heatmaps" or "head_view".
        num_frames: number of views the controls select between.
        labels: the text of each view ("h = 0.25", "cross-attention, layer 1, head 2").
    """

    html: str
    kind: str
    num_frames: int
    labels: tuple[str, ...]

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return f"SliderView({self.kind}, {self.num_frames} frames: {self.labels[0]} ... {self.labels[-1]})"


def real_array(x, name: str, ndim: int, finite: bool = False) -> np.ndarray:
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


def rounded(values: np.ndarray, decimals: int | None = None):
    """Nested lists rounded to 4 significant digits (or to ``decimals`` places).

    NaN and infinities become None (a gap or a blank cell).
    """
    if decimals is None:
        flat = [None if not np.isfinite(v) else float(f"{v:.4g}") for v in values.ravel()]
    else:
        flat = [None if not np.isfinite(v) else round(float(v), decimals) + 0.0  # no -0.0
                for v in values.ravel()]
    return np.array(flat, dtype=object).reshape(values.shape).tolist()


def check_initial(initial: int, num_frames: int, name: str = "initial") -> int:
    """``initial`` as an index in [0, num_frames): an int, not a bool."""
    if isinstance(initial, (bool, np.bool_)) or not isinstance(initial, (int, np.integer)):
        raise TypeError(f"{name} must be a frame index (an int), got {initial!r}")
    if not 0 <= initial < num_frames:
        raise ValueError(f"{name} must be a frame index in [0, {num_frames}), got {initial!r}")
    return int(initial)


def check_texts(**texts) -> None:
    """Each keyword a str (``title`` may also be None)."""
    for name, text in texts.items():
        if not isinstance(text, str) and not (name == "title" and text is None):
            wanted = "a str or None" if name == "title" else "a str"
            raise TypeError(f"{name} must be {wanted}, got {type(text).__name__}")


@lru_cache(maxsize=1)
def script() -> str:
    """The drawing code (attn/interactive.js), without its comment lines."""
    text = resources.files("attn").joinpath("interactive.js").read_text(encoding="utf-8")
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))


def render(kind: str, spec: dict, labels: list[str], controls: str, aria: str,
           after: str = "", above: bool = False) -> SliderView:
    """The fragment of one figure: svg, ``controls`` (HTML, ``above`` the svg or under it),
    ``after`` (HTML), data, script.

    ``spec`` must hold "width" (the widest layout, px) and "height" (its height);
    the element's id is a hash of the data, so the same input gives the same HTML.
    """
    spec = dict(spec, kind=kind, labels=labels)
    payload = json.dumps(spec, separators=(",", ":"), allow_nan=False)
    uid = "attn-slider-" + hashlib.sha1(payload.encode()).hexdigest()[:12]  # same data, same id
    embedded = payload.replace("</", "<\\/")  # no "</script>" inside the JSON
    drawing = (f'<svg role="img" aria-label="{html.escape(aria, quote=True)}" '
               f'viewBox="0 0 {spec["width"]} {spec["height"]}" '
               f'style="width:100%;height:auto;display:block;touch-action:manipulation"></svg>')
    fragment = (
        f'<div class="attn-slider" id="{uid}" '
        f'style="max-width:{max(spec["width"], 400)}px;font-family:sans-serif;font-size:14px">'
        + (controls + drawing if above else drawing + controls) + after +
        f'<script type="application/json">{embedded}</script>'
        f"<script>{script().replace('__UID__', uid)}</script></div>"
    )
    return SliderView(fragment, kind, len(labels), tuple(labels))
