"""A head view without a kernel: which token attends to which, one layer and head at a time.

In the spirit of bertviz's head view (Vig, 2019), drawn by the book's own script
(``attn/interactive.js``) into a self-contained HTML fragment: the query tokens
on the left, the key tokens on the right and a line from each query to each key,
as opaque and as wide as the weight is large. Lists pick the attention kind
(encoder self-, decoder self-, cross-attention), the layer and the head; a tap
or click on a token keeps only its lines and prints their weights. Re-exported
by ``attn.interactive``.
"""

from __future__ import annotations

import html
from typing import Mapping, Sequence

import numpy as np

from attn.html_figure import SliderView, check_texts, real_array, render, rounded

__all__ = ["head_view"]

DECIMALS = 3  # weights in the page: 0.001 is far below the faintest line drawn (0.02)
HINT = ("Tap or click a token to see only its lines and their weights; tap it again, "
        "or the drawing's background, to see all lines.")


def _tokens(pair, name: str, length: tuple[int, int]) -> tuple[list[str], list[str]]:
    """(query_tokens, key_tokens) as two lists of str of lengths L and S."""
    if isinstance(pair, str) or not isinstance(pair, Sequence) or len(pair) != 2:
        raise TypeError(f"{name} must be a pair (query_tokens, key_tokens), got {pair!r:.60}")
    lists = []
    for side, tokens, count in zip(("query", "key"), pair, length):
        if isinstance(tokens, str) or not isinstance(tokens, Sequence):
            raise TypeError(f"{name}'s {side} tokens must be a list of str, "
                            f"got {type(tokens).__name__}")
        if not all(isinstance(t, str) for t in tokens):
            raise TypeError(f"{name}'s {side} tokens must all be str, got "
                            f"{sorted({type(t).__name__ for t in tokens})}")
        if len(tokens) != count:
            letter = "L" if side == "query" else "S"
            raise ValueError(f"{name} must have {letter} = {count} {side} tokens (the weights' "
                             f"shape), got {len(tokens)}")
        lists.append(list(tokens))
    return lists[0], lists[1]


def _initial(initial, shapes: dict) -> list[int]:
    """``initial`` = (kind, layer, head) as [kind index, layer, head]; None is the first."""
    if initial is None:
        return [0, 0, 0]
    if not isinstance(initial, tuple) or len(initial) != 3:
        raise TypeError(f"initial must be a tuple (kind, layer, head) or None, got {initial!r:.60}")
    kind, layer, head = initial
    if kind not in shapes:
        raise ValueError(f"initial names the kind {kind!r}, which is not one of {list(shapes)}")
    for name, index, count in (("layer", layer, shapes[kind][0]), ("head", head, shapes[kind][1])):
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"initial's {name} must be an int, got {index!r}")
        if not 0 <= index < count:
            raise ValueError(f"initial's {name} must be in [0, {count}) for {kind!r}, got {index}")
    return [list(shapes).index(kind), int(layer), int(head)]


def _select(role: str, text: str, options: list[str], chosen: int, fixed: bool) -> str:
    """A visible label with a <select>, or plain text when the choice is ``fixed`` (one option)."""
    if fixed:
        return f"<span>{html.escape(text)}: {html.escape(options[0])}</span>"
    lone = " disabled" if len(options) == 1 else ""  # this kind has one; another has more
    items = "".join(f'<option value="{n}"{" selected" if n == chosen else ""}>'
                    f"{html.escape(option)}</option>" for n, option in enumerate(options))
    return (f'<label style="display:inline-flex;gap:0.4em;align-items:center">{html.escape(text)}'
            f' <select data-role="{role}"{lone} style="font-size:14px;max-width:100%">{items}'
            f"</select></label>")


def head_view(weights: Mapping, tokens: Mapping, *, title: str | None = None,
              initial: tuple | None = None) -> SliderView:
    """Attention weights as lines between tokens, with lists for kind, layer and head.

    Args:
        weights: dict from an attention kind's name ("encoder self-attention",
            "decoder self-attention", "cross-attention") to an array or tensor of
            shape (N, H, L, S): layer, head, queries, keys. Finite and
            non-negative; kinds may differ in N and H. A line's opacity and width
            grow with its weight (weights above 1 are scaled by the largest);
            lines under 0.02 are left out.
        tokens: dict with the same keys to a pair (query_tokens, key_tokens) of
            lists of L and S strings.
        title: optional; the drawing's accessible name says it with the kind,
            layer and head shown.
        initial: optional (kind, layer, head) shown first: a key of ``weights``
            and two 0-based indices (the page counts layers and heads from 1).

    Returns:
        A SliderView of kind "head_view" whose labels name every (kind, layer,
        head); weights are embedded rounded to 3 decimals.
    """
    check_texts(title=title)
    if not isinstance(weights, Mapping) or not weights:
        raise TypeError(f"weights must be a non-empty dict from attention kind to (N, H, L, S) "
                        f"weights, got {weights!r:.60}")
    if not isinstance(tokens, Mapping):
        raise TypeError(f"tokens must be a dict from attention kind to (query_tokens, key_tokens), "
                        f"got {type(tokens).__name__}")
    for kind in weights:
        if not isinstance(kind, str) or not kind.strip():
            raise TypeError(f"weights' keys must be non-empty str (the kind's name), got {kind!r}")
    if set(tokens) != set(weights):
        raise ValueError(f"tokens must have the same kinds as weights: expected {list(weights)}, "
                         f"got {list(tokens)}")
    kinds, shapes, largest = [], {}, 0.0
    for kind, value in weights.items():
        w = real_array(value, f"weights[{kind!r}]", 4)
        if not np.isfinite(w).all() or (w < 0).any():
            bad = w[~(np.isfinite(w) & (w >= 0))]
            raise ValueError(f"weights[{kind!r}] must be finite and non-negative, got {bad[0]} "
                             f"({bad.size} such entries)")
        queries, keys = _tokens(tokens[kind], f"tokens[{kind!r}]", w.shape[2:])
        shapes[kind] = w.shape[:2]
        largest = max(largest, float(w.max()))
        kinds.append({"name": kind, "queries": queries, "keys": keys,
                      "weights": rounded(w, DECIMALS)})
    start = _initial(initial, shapes)
    labels = [f"{kind}, layer {n + 1}, head {h + 1}" for kind, (layers, heads) in shapes.items()
              for n in range(layers) for h in range(heads)]
    widest = max(len(t) for k in kinds for t in k["queries"] + k["keys"])
    rows = max(max(len(k["queries"]), len(k["keys"])) for k in kinds)
    spec = {"width": int(min(640, max(400, 2 * (8 * widest + 16) + 300))),
            "height": int(34 + 24 * rows), "kinds": kinds, "initial": start,
            "scale": max(1.0, largest), "name": title or "Attention head view"}
    kind, layers, heads = list(shapes)[start[0]], *shapes[list(shapes)[start[0]]]
    controls = (
        '<div style="display:flex;flex-wrap:wrap;gap:0.4em 1.2em;align-items:center;'
        'margin-bottom:0.3em">'
        + _select("kind", "attention", list(shapes), start[0], len(shapes) == 1)
        + _select("layer", "layer", [str(n + 1) for n in range(layers)], start[1],
                  max(n for n, _ in shapes.values()) == 1)
        + _select("head", "head", [str(h + 1) for h in range(heads)], start[2],
                  max(h for _, h in shapes.values()) == 1) + "</div>")
    hint = f'<p style="font-size:13px;margin:0.3em 0 0;color:#444">{html.escape(HINT)}</p>'
    shown = f"{kind}, layer {start[1] + 1}, head {start[2] + 1}"
    aria = f"{title}: {shown}" if title else f"Attention head view: {shown}"
    return render("head_view", spec, labels, controls, aria, after=hint, above=True)
