"""Checks of the book as a whole: every chapter is listed, executed and complete.

nbval only compares cells that were executed when the notebook was committed, so a
notebook saved without outputs would pass it while testing nothing; these tests
catch that, and keep the chapter template (summary, exercises, references) honest.
"""

import json
import pathlib
import re

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))


def toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part["chapters"]]
    return files


def test_every_chapter_is_in_the_toc_and_every_toc_entry_exists():
    listed = toc_files()
    for nb in NOTEBOOKS:
        assert f"book/{nb.stem}" in listed, f"{nb.name} is not in _toc.yml"
    for entry in listed:
        assert any((ROOT / f"{entry}{ext}").exists() for ext in (".md", ".ipynb")), f"{entry} in _toc.yml does not exist"
    assert NOTEBOOKS, "the book has no chapter notebooks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_executed_top_to_bottom(path):
    cells = json.loads(path.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    counts = [c["execution_count"] for c in code]
    assert counts == list(range(1, len(code) + 1)), f"execution counts {counts} are not 1..{len(code)}"
    for cell in code:
        tags = cell.get("metadata", {}).get("tags", [])
        if "raises-exception" not in tags:
            assert all(o["output_type"] != "error" for o in cell["outputs"]), "".join(cell["source"])[:80]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_follows_the_template(path):
    cells = json.loads(path.read_text())["cells"]
    markdown = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert re.search(r"^# ", markdown, re.M), "no title"
    assert "{admonition}" in markdown, "no opening admonition (audience, prerequisites, objectives)"
    assert "set_seed(" in code, "the set-up cell does not seed"
    assert re.search(r"^## Summary", markdown, re.M), "no summary section"
    exercises = re.findall(r"`{3,}\{exercise\}", markdown)
    solutions = re.findall(r"`{3,}\{solution\}[^\n]*\n:class: dropdown", markdown)
    assert len(exercises) >= 3, f"only {len(exercises)} exercises"
    assert len(solutions) == len(exercises), "every exercise needs a collapsed (dropdown) solution"
    assert "{bibliography}" in markdown, "no references section"
    # Citations are global in Sphinx: two pages listing the same key warn "duplicate citation"
    # unless each page's bibliography has its own key prefix.
    assert re.search(r":keyprefix: [a-z0-9]+-", markdown), "the page bibliography needs a :keyprefix:"
    assert "assert" in code, "the chapter asserts none of its claims"
