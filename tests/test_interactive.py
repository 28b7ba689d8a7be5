"""Tests of attn.interactive: kernel-free figures carry their frames and check input."""

import json
import re
import shutil
import subprocess
import tomllib
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch

from attn.html_figure import script
from attn.interactive import SliderView, head_view, interactive_curves, interactive_heatmaps

ROOT = Path(__file__).resolve().parents[1]


def spec_of(view: SliderView) -> dict:
    match = re.search(r'<script type="application/json">(.*?)</script>', view.html, re.S)
    return json.loads(match.group(1).replace("<\\/", "</"))


def self_contained(view: SliderView) -> bool:
    """No address outside the fragment (the SVG namespace is a name, not a request)."""
    text = view.html.replace("http://www.w3.org/2000/svg", "")
    return not re.search(r"https?:|<script[^>]*\bsrc=|<link|@import", text)


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
    assert 'aria-label="bandwidth: h = 2"' in view.html  # no title: the slider names it
    assert self_contained(view)
    assert repr(view) == "SliderView(curves, 2 frames: h = 1 ... h = 2)"


def test_heatmaps_share_one_colour_range():
    frames = torch.stack([torch.eye(3), torch.full((3, 3), 0.5)])[:, :2]  # (F, L, S) = (2, 2, 3)
    view = interactive_heatmaps(frames, ["head 1", "head 2"], slider_label="head",
                                xticklabels=["a", "b", "c"], yticklabels=["p", "q"])
    spec = spec_of(view)
    assert view.kind == "heatmaps" and spec["range"] == [0.0, 1.0]
    assert np.array(spec["frames"]).shape == (2, 2, 3)
    assert spec["xticks"] == [["a", "b", "c"]] * 2 and spec["yticks"] == [["p", "q"]] * 2
    assert self_contained(view)


def test_heatmaps_of_different_shapes_keep_their_own_labels_and_one_scale():
    short, long = np.array([[0.2, 0.8]]), np.linspace(0, 2, 12).reshape(3, 4)  # (1, 2), (3, 4)
    view = interactive_heatmaps(
        [short, torch.tensor(long)], ["I see", "we see it"], slider_label="sentence",
        xticklabels=[["je", "vois"], ["nous", "le", "voyons", "."]],
        yticklabels=[["I"], ["we", "see", "it"]])
    spec = spec_of(view)
    assert view.num_frames == 2 and spec["range"] == [0.0, 2.0]  # one scale for both
    assert [np.array(f).shape for f in spec["frames"]] == [(1, 2), (3, 4)]
    assert spec["frames"][1][2][3] == 2.0 and spec["frames"][0] == [[0.2, 0.8]]
    assert spec["xticks"][1] == ["nous", "le", "voyons", "."] and spec["yticks"][0] == ["I"]
    # the same shapes given as a list take one shared label list
    same = interactive_heatmaps([long, long * 0.5], ["a", "b"], slider_label="s",
                                xticklabels=list("wxyz"))
    assert spec_of(same)["xticks"] == [list("wxyz")] * 2
    assert spec_of(same)["frames"] == spec_of(
        interactive_heatmaps(np.stack([long, long * 0.5]), ["a", "b"], slider_label="s",
                             xticklabels=list("wxyz")))["frames"]


def test_heatmaps_of_different_shapes_refuse_labels_that_do_not_match():
    frames = [np.ones((1, 2)), np.ones((3, 4))]
    cases = [
        (r"xticklabels must be a list of label lists, one per frame, when the frames differ "
         r"in their number of keys \(\[2, 4\]\); got one shared list",
         {"xticklabels": ["a", "b"]}),
        (r"xticklabels must have one label list per frame \(2\), got 1",
         {"xticklabels": [["a", "b"]]}),
        (r"xticklabels\[1\] must have one label per key \(4\), got 3",
         {"xticklabels": [["a", "b"], ["a", "b", "c"]]}),
        (r"yticklabels\[0\] must have one label per query \(1\), got 2",
         {"yticklabels": [["a", "b"], ["a", "b", "c"]]}),
    ]
    for message, labels in cases:
        with pytest.raises(ValueError, match=message):
            interactive_heatmaps(frames, ["a", "b"], slider_label="s", **labels)
    with pytest.raises(ValueError, match=r"frames\[1\] must have 2 dimensions, got 3"):
        interactive_heatmaps([np.ones((1, 2)), np.ones((1, 2, 2))], ["a", "b"], slider_label="s")
    with pytest.raises(ValueError, match="frames must not be empty"):
        interactive_heatmaps([], [], slider_label="s")


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
    assert spec_of(view)["xticks"] == [["</script>"]]


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
        (TypeError, r"frames\[0\] must hold real numbers",
         lambda: interactive_heatmaps([["a"]], ["a"], slider_label="s")),
    ]
    for error, message, call in cases:
        with pytest.raises(error, match=message):
            call()


# --- The head view --------------------------------------------------------------------------

SRC, TGT = ["the", "cat", "sat"], ["le", "chat", "était", "assis"]


def weights(seed=0):
    gen = torch.Generator().manual_seed(seed)
    return {"encoder self-attention": torch.rand(2, 4, 3, 3, generator=gen).softmax(-1),
            "cross-attention": torch.rand(1, 2, 4, 3, generator=gen).softmax(-1)}


TOKENS = {"encoder self-attention": (SRC, SRC), "cross-attention": (TGT, SRC)}


def options(view: SliderView, role: str) -> list[str]:
    match = re.search(rf'<select data-role="{role}"[^>]*>(.*?)</select>', view.html)
    return re.findall(r"<option[^>]*>(.*?)</option>", match.group(1)) if match else []


def test_head_view_embeds_rounded_weights_and_tokens():
    w = weights()
    view = head_view(w, TOKENS, title="Toy model")
    spec = spec_of(view)
    assert view.kind == "head_view" and view.num_frames == 2 * 4 + 1 * 2
    assert view.labels[0] == "encoder self-attention, layer 1, head 1"
    assert view.labels[-1] == "cross-attention, layer 1, head 2"
    for kind, got in zip(w, spec["kinds"]):
        assert got["name"] == kind and (got["queries"], got["keys"]) == TOKENS[kind]
        np.testing.assert_array_equal(np.array(got["weights"]),
                                      np.round(w[kind].double().numpy(), 3))
    assert spec["initial"] == [0, 0, 0] and spec["scale"] == 1.0
    assert self_contained(view)
    assert 'aria-label="Toy model: encoder self-attention, layer 1, head 1"' in view.html
    assert "Tap or click a token" in view.html  # the hint under the drawing
    assert view.html == head_view(weights(), TOKENS, title="Toy model").html  # deterministic
    assert view.html != head_view(weights(1), TOKENS, title="Toy model").html


def test_head_view_selects_list_every_kind_layer_and_head():
    view = head_view(weights(), TOKENS, initial=("cross-attention", 0, 1))
    assert options(view, "kind") == ["encoder self-attention", "cross-attention"]
    # the lists are those of the kind shown first: one layer, two heads
    assert options(view, "layer") == ["1"] and options(view, "head") == ["1", "2"]
    assert '<select data-role="layer" disabled' in view.html  # encoder's 2 layers: kept
    assert re.search(r'<option value="1" selected>cross-attention</option>', view.html)
    assert re.search(r'data-role="head".*<option value="1" selected>2</option>', view.html)
    assert spec_of(view)["initial"] == [1, 0, 1]
    assert 'aria-label="Attention head view: cross-attention, layer 1, head 2"' in view.html
    # every list under a visible label; a choice of one is plain text, not a list
    for role, text in (("kind", "attention"), ("layer", "layer"), ("head", "head")):
        assert re.search(rf'<label[^>]*>{text} <select data-role="{role}"', view.html)
    single = head_view({"cross-attention": torch.ones(1, 1, 2, 2) / 2},
                       {"cross-attention": (["a", "b"], ["c", "d"])})
    assert "<select" not in single.html and "<span>attention: cross-attention</span>" in single.html


def test_head_view_scales_weights_above_one():
    view = head_view({"sum": np.full((1, 1, 1, 2), 4.0)}, {"sum": (["q"], ["a", "b"])})
    assert spec_of(view)["scale"] == 4.0


def test_head_view_refuses_bad_input_naming_what_was_expected():
    w, cross = weights(), "cross-attention"
    cases = [
        (TypeError, "weights must be a non-empty dict", lambda: head_view({}, {})),
        (TypeError, "tokens must be a dict", lambda: head_view(w, [SRC, SRC])),
        (ValueError, r"tokens must have the same kinds as weights: expected "
                     r"\['encoder self-attention', 'cross-attention'\], got \['cross-attention'\]",
         lambda: head_view(w, {cross: (TGT, SRC)})),
        (ValueError, r"weights\['x'\] must have 4 dimensions, got 3",
         lambda: head_view({"x": np.ones((1, 2, 2))}, {"x": (["a", "b"], ["a", "b"])})),
        (ValueError, r"weights\['x'\] must be finite and non-negative, got -0.5 \(1 such "
                     r"entries\)",
         lambda: head_view({"x": np.array([[[[0.5, -0.5]]]])}, {"x": (["a"], ["a", "b"])})),
        (ValueError, r"weights\['x'\] must be finite and non-negative, got nan",
         lambda: head_view({"x": np.array([[[[0.5, np.nan]]]])}, {"x": (["a"], ["a", "b"])})),
        (ValueError, r"tokens\['cross-attention'\] must have L = 4 query tokens \(the weights' "
                     r"shape\), got 3",
         lambda: head_view(w, {**TOKENS, cross: (SRC, SRC)})),
        (ValueError, r"tokens\['cross-attention'\] must have S = 3 key tokens",
         lambda: head_view(w, {**TOKENS, cross: (TGT, TGT)})),
        (TypeError, r"tokens\['cross-attention'\] must be a pair \(query_tokens, key_tokens\)",
         lambda: head_view(w, {**TOKENS, cross: TGT})),
        (TypeError, r"tokens\['cross-attention'\]'s key tokens must be a list of str, got str",
         lambda: head_view(w, {**TOKENS, cross: (TGT, "the cat sat")})),
        (TypeError, r"tokens\['cross-attention'\]'s query tokens must all be str, got \['int'\]",
         lambda: head_view(w, {**TOKENS, cross: ([1, 2, 3, 4], SRC)})),
        (TypeError, "weights' keys must be non-empty str",
         lambda: head_view({"": np.ones((1, 1, 1, 1))}, {"": (["a"], ["a"])})),
        (TypeError, "weights' keys must be non-empty str",
         lambda: head_view({3: np.ones((1, 1, 1, 1))}, {3: (["a"], ["a"])})),
        (TypeError, r"weights\['x'\] must hold real numbers, got a complex tensor",
         lambda: head_view({"x": torch.ones(1, 1, 1, 1, dtype=torch.complex64)},
                           {"x": (["a"], ["a"])})),
        (ValueError, r"initial names the kind 'decoder', which is not one of",
         lambda: head_view(w, TOKENS, initial=("decoder", 0, 0))),
        (ValueError, r"initial's layer must be in \[0, 1\) for 'cross-attention', got 1",
         lambda: head_view(w, TOKENS, initial=(cross, 1, 0))),
        (ValueError, r"initial's head must be in \[0, 4\) for 'encoder self-attention', got 4",
         lambda: head_view(w, TOKENS, initial=("encoder self-attention", 0, 4))),
        (TypeError, "initial's head must be an int, got True",
         lambda: head_view(w, TOKENS, initial=(cross, 0, True))),
        (TypeError, r"initial must be a tuple \(kind, layer, head\) or None",
         lambda: head_view(w, TOKENS, initial=0)),
        (TypeError, "title must be a str or None, got int",
         lambda: head_view(w, TOKENS, title=3)),
    ]
    for error, message, call in cases:
        with pytest.raises(error, match=message):
            call()


# --- The drawing code -----------------------------------------------------------------------

def test_the_script_ships_with_the_package_and_is_embedded_without_comments():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "interactive.js" in data["package-data"]["attn"]
    source = resources.files("attn").joinpath("interactive.js").read_text(encoding="utf-8")
    assert "__UID__" in source and "// " in source
    assert "__UID__" in script() and not any(l.lstrip().startswith("//")
                                             for l in script().splitlines())
    view = interactive_heatmaps(np.ones((1, 2, 2)), ["only"], slider_label="s")
    uid = re.search(r'id="(attn-slider-\w+)"', view.html).group(1)
    assert "__UID__" not in view.html and view.html.count(uid) == 3  # the div, twice in the script


NODE = shutil.which("node")


def run_js(code: str) -> str:
    return subprocess.run([NODE, "-e", code], capture_output=True, text=True, check=True,
                          timeout=30).stdout


@pytest.mark.skipif(NODE is None, reason="needs node")
def test_the_script_parses():
    path = resources.files("attn").joinpath("interactive.js")
    subprocess.run([NODE, "--check", str(path)], check=True, timeout=30)


@pytest.mark.skipif(NODE is None, reason="needs node")
def test_numbers_are_shown_to_the_precision_of_their_range():
    """The colour bar of softmax weights reads 0, not 1.2e-33; ticks are round numbers."""
    source = resources.files("attn").joinpath("interactive.js").read_text(encoding="utf-8")
    helpers = "".join(re.search(rf"  function {name}\(.*?\n  }}\n", source, re.S).group(0)
                      for name in ("ticks", "fmt"))
    got = json.loads(run_js(helpers + """console.log(JSON.stringify([
        fmt(1.2e-33, 0.098), fmt(0.9812, 0.098), fmt(0.5, 0.1), fmt(-2.5, 0.5), fmt(300, 100),
        fmt(2e-5, 1e-5), fmt(123456, 1e4), ticks(0, 0.98, 3), ticks(-1.3, 2.1, 6)]))"""))
    assert got[:7] == ["0", "0.98", "0.5", "-2.5", "300", "2.0e-5", "1.2e5"]
    assert got[7] == {"values": [0, 0.5], "step": 0.5}
    assert got[8] == {"values": [-1, 0, 1, 2], "step": 1}  # at most 6 intervals: 1, not 0.5
