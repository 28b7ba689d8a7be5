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


# --- Code a reader sees: solutions that run, lines that fit the page -------------------------

SOLUTION = re.compile(r"(`{3,})\{solution\}[^\n]*\n(.*?)\n\1(?=\s*$|\n)", re.S | re.M)
PYTHON_BLOCK = re.compile(r"```python\n(.*?)\n```", re.S)
MAX_CODE_LINE = 88  # characters that fit the HTML column without scrolling


def solution_code(cells):
    """(label, code) of every ```python block inside a {solution} directive, in page order."""
    blocks = []
    for cell in cells:
        if cell["cell_type"] != "markdown":
            continue
        for match in SOLUTION.finditer("".join(cell["source"])):
            label = match.group(0).split("}", 1)[1].split("\n", 1)[0].strip()
            blocks += [(label, code) for code in PYTHON_BLOCK.findall(match.group(2))]
    return blocks


def test_solution_blocks_are_found():
    cells = [{"cell_type": "markdown", "source": [
        "````{solution} ex-a\n:class: dropdown\nText.\n\n```python\nx = 1\n```\n````\n\n"
        "```{solution} ex-b\n:class: dropdown\nNo code.\n```\n"]}]
    assert solution_code(cells) == [("ex-a", "x = 1")]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_code_lines_fit_the_page(path):
    cells = json.loads(path.read_text())["cells"]
    sources = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    sources += [code for _, code in solution_code(cells)]
    long = [line for source in sources for line in source.splitlines() if len(line) > MAX_CODE_LINE]
    assert not long, f"{len(long)} code lines longer than {MAX_CODE_LINE} characters, e.g. {long[0]!r}"


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if solution_code(json.loads(p.read_text())["cells"])],
                         ids=lambda p: p.name)
def test_solution_code_runs_where_it_stands(path):
    """Run the chapter, then each solution's code in the same kernel, as a reader at the end would."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    blocks = solution_code(nb.cells)
    first_solution = len(nb.cells)
    for label, code in blocks:
        nb.cells.append(nbformat.v4.new_code_cell(code, metadata={"solution": label}))
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except Exception as error:  # CellExecutionError names the failing code; add which solution
        failing = [c.metadata.get("solution") for c in nb.cells[first_solution:]
                   if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
        raise AssertionError(f"solution code of {failing or 'a chapter cell'} failed: {error}") from None
