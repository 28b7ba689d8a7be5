"""Tests of attn.interactive: kernel-free slider figures carry their frames and check input."""

import json
import re

import numpy as np
import pytest
import torch

from attn.interactive import SliderView, interactive_curves, interactive_heatmaps


def spec_of(view: SliderView) -> dict:
    match = re.search(r'<script type="application/json">(.*?)</script>', view.html, re.S)
    return json.loads(match.group(1).replace("<\\/", "</"))


def test_curves_embed_every_frame_rounded():
    x = torch.linspace(0, 1, 5)
    moving = torch.tensor([[0.123456, 1, 2, 3, 4], [5, 6, 7, 8, float("nan")]])
    view = interactive_curves(x, {"fit": moving}, ["h = 1", "h = 2"], slider_label="bandwidth",
                              xlabel="x", ylabel="y", fixed={"truth": np.zeros(5)},
                              points=(np.array([0.5, 2.0]), np.array([1.0, -1.0])), initial=1)
    assert isinstance(view, SliderView) and view.kind == "curves" and view.num_frames == 2
    spec = spec_of(view)
    assert spec["moving"]["fit"][0][0] == 0.1235  # 4 significant digits
    assert spec["moving"]["fit"][1][4] is None  # NaN becomes a gap
    assert spec["fixed"]["truth"] == [0.0] * 5 and spec["initial"] == 1
    assert spec["xrange"] == [0.0, 2.0]  # the data points widen the x range
    assert spec["yrange"] == [-1.0, 8.0]
    assert 'value="1"' in view.html and ">h = 2</output>" in view.html
    assert "http" not in view.html.replace("http://www.w3.org/2000/svg", "")  # no network
    assert repr(view) == "SliderView(curves, 2 frames: h = 1 ... h = 2)"


def test_heatmaps_share_one_colour_range():
    frames = torch.stack([torch.eye(3), torch.full((3, 3), 0.5)])[:, :2]  # (F, L, S) = (2, 2, 3)
    view = interactive_heatmaps(frames, ["head 1", "head 2"], slider_label="head",
                                xticklabels=["a", "b", "c"], yticklabels=["p", "q"])
    spec = spec_of(view)
    assert view.kind == "heatmaps" and spec["range"] == [0.0, 1.0]
    assert np.array(spec["frames"]).shape == (2, 2, 3)
    assert spec["xticks"] == ["a", "b", "c"] and spec["yticks"] == ["p", "q"]


def test_same_data_same_html_and_distinct_ids_otherwise():
    a = interactive_heatmaps(np.ones((1, 2, 2)), ["only"], slider_label="s")
    b = interactive_heatmaps(np.ones((1, 2, 2)), ["only"], slider_label="s")
    c = interactive_heatmaps(np.zeros((1, 2, 2)), ["only"], slider_label="s")
    ids = [re.search(r'id="(attn-slider-\w+)"', v.html).group(1) for v in (a, b, c)]
    assert a.html == b.html and ids[0] == ids[1] != ids[2]
    assert spec_of(a)["range"] == [0.5, 1.5]  # a constant matrix still gets a colour range


def test_text_is_escaped():
    view = interactive_heatmaps(np.ones((1, 1, 1)), ["</script><b>"], slider_label="<i>",
                                xticklabels=["</script>"])
    outside_json = re.sub(r'<script type="application/json">.*?</script>', "", view.html, flags=re.S)
    assert "<b>" not in outside_json and "<i>" not in outside_json  # escaped as text
    assert view.html.count("</script>") == 2  # only the two real script ends
    assert spec_of(view)["xticks"] == ["</script>"]


def test_bad_input():
    x = np.arange(3.0)
    good = {"fit": np.zeros((2, 3))}
    cases = [
        (ValueError, r"frames\['g'\] must have shape \(F, n\) = \(2, 3\), got \(2, 4\)",
         lambda: interactive_curves(x, {"fit": np.zeros((2, 3)), "g": np.zeros((2, 4))},
                                    ["a", "b"], slider_label="s", xlabel="x", ylabel="y")),
        (ValueError, r"labels must have one label per frame \(2\), got 3",
         lambda: interactive_curves(x, good, ["a", "b", "c"], slider_label="s", xlabel="x",
                                    ylabel="y")),
        (TypeError, "labels must be a sequence of strings",
         lambda: interactive_curves(x, good, "ab", slider_label="s", xlabel="x", ylabel="y")),
        (ValueError, r"initial must be a frame index in \[0, 2\), got 2",
         lambda: interactive_curves(x, good, ["a", "b"], slider_label="s", xlabel="x",
                                    ylabel="y", initial=2)),
        (ValueError, r"fixed\['t'\] must have shape \(n,\) = \(3,\), got \(2,\)",
         lambda: interactive_curves(x, good, ["a", "b"], slider_label="s", xlabel="x",
                                    ylabel="y", fixed={"t": np.zeros(2)})),
        (TypeError, "frames must be a non-empty dict",
         lambda: interactive_curves(x, {}, [], slider_label="s", xlabel="x", ylabel="y")),
        (ValueError, "x must have 1 dimensions, got 2",
         lambda: interactive_curves(np.zeros((2, 2)), good, ["a", "b"], slider_label="s",
                                    xlabel="x", ylabel="y")),
        (ValueError, "frames must have 3 dimensions, got 2",
         lambda: interactive_heatmaps(np.zeros((2, 2)), ["a", "b"], slider_label="s")),
        (ValueError, r"xticklabels must have one label per key \(2\), got 1",
         lambda: interactive_heatmaps(np.zeros((1, 2, 2)), ["a"], slider_label="s",
                                      xticklabels=["k"])),
        (ValueError, "frames has no finite entry",
         lambda: interactive_heatmaps(np.full((1, 2, 2), np.nan), ["a"], slider_label="s")),
        (TypeError, "frames must hold real numbers",
         lambda: interactive_heatmaps([["a"]], ["a"], slider_label="s")),
    ]
    for error, message, call in cases:
        with pytest.raises(error, match=message):
            call()
