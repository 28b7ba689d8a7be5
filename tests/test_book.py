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


# --- The page a reader sees (conventions in CONTRIBUTING.md; tests/test_browser.py checks the
# built HTML itself) --------------------------------------------------------------------------

sys_path = str(ROOT / "_ext")


def book_ext():
    """The build's extension module and the Colab cell writer, from _ext/."""
    import importlib
    import sys

    if sys_path not in sys.path:
        sys.path.insert(0, sys_path)
    return importlib.import_module("book_html"), importlib.import_module("colab_cell")


def displayed_text(output):
    """The text a page shows for one output, or None when it shows HTML or an image."""
    if output["output_type"] == "stream":
        return "".join(output["text"])
    data = output.get("data", {})
    if output["output_type"] in ("execute_result", "display_data") and set(data) & {
            "text/html", "image/png", "image/jpeg", "image/svg+xml"}:
        return None
    if output["output_type"] == "error":
        return "\n".join(output.get("traceback", []))
    return "".join(data.get("text/plain", ""))


def shown(cell):
    tags = cell.get("metadata", {}).get("tags", [])
    return not {"remove-cell", "remove-output"} & set(tags)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_cell_installs_from_the_configured_repository(path):
    _, colab_cell = book_ext()
    problem = colab_cell.check(json.loads(path.read_text()), colab_cell.configured_url(ROOT))
    assert problem is None, f"{problem}: run python _ext/colab_cell.py"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_figure_has_alt_text(path):
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] != "code" or not shown(cell):
            continue
        images = [o for o in cell["outputs"] if {"image/png", "image/jpeg", "image/svg+xml"}
                  & set(o.get("data", {}))]
        if images:
            alt = cell["metadata"].get("mystnb", {}).get("image", {}).get("alt", "")
            assert len(alt.split()) >= 4, (
                "a figure needs alt text (cell metadata mystnb.image.alt, a sentence): "
                + "".join(cell["source"])[:80])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_text_outputs_fit_the_page(path):
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] != "code" or not shown(cell):
            continue
        for output in cell["outputs"]:
            text = displayed_text(output)
            long = [line for line in (text or "").splitlines() if len(line) > MAX_CODE_LINE]
            assert not long, (f"an output line of {len(long[0])} characters (at most "
                              f"{MAX_CODE_LINE} fit the page): {long[0][:100]!r}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_widget_state_and_no_traceback_on_the_page(path):
    notebook = json.loads(path.read_text())
    assert "widgets" not in notebook["metadata"], "saved widget state: clear it before committing"
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            assert not any("widget" in mime for mime in output.get("data", {})), \
                "a widget output: use attn.interactive for a figure with a slider"
            assert output["output_type"] != "error", \
                "a traceback on the page: catch the exception and print its message"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_links_the_glossary(path):
    cells = json.loads(path.read_text())["cells"]
    markdown = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    terms = re.findall(r"\{term\}`([^`]+)`", markdown)
    assert len(terms) >= 3, f"only {len(terms)} {{term}} links to the glossary"
    glossary = (ROOT / "book" / "glossary.md").read_text()
    defined = {line.strip().lower() for line in glossary.splitlines()
               if line and not line.startswith((" ", "#", "`", "The ", "\n"))}
    for term in terms:
        target = re.sub(r"^.*<(.+)>$", r"\1", term).strip().lower()
        assert target in defined, f"{{term}}`{term}` is not in book/glossary.md"


def test_nbval_markers_are_removed_from_the_page():
    book_html, _ = book_ext()
    notebook = {"cells": [
        {"cell_type": "code", "source": ["# NBVAL_IGNORE_OUTPUT\n", "x = 1  # keep\n"]},
        {"cell_type": "code", "source": "y = 2\n# NBVAL_SKIP\nz = 3"},
        {"cell_type": "markdown", "source": "# NBVAL_SKIP is prose here"}]}
    cells = book_html.strip_nbval_markers(notebook)["cells"]
    assert [c["source"] if isinstance(c["source"], str) else "".join(c["source"]) for c in cells] \
        == ["x = 1  # keep\n", "y = 2\nz = 3", "# NBVAL_SKIP is prose here"]


def test_notation_page_matches_the_shape_legend():
    import attn

    legend = re.findall(r"^    (\w+) +(.+)$", attn.__doc__.split("Shape legend", 1)[1].split("\n\n", 2)[1],
                        re.M)
    assert len(legend) >= 8, "could not read the shape legend of attn/__init__.py"
    notation = (ROOT / "book" / "notation.md").read_text()
    rows = dict(re.findall(r"^\| (\w+) \| ([^|]+?) \|$", notation, re.M))
    rows.pop("Letter", None)  # the table's header
    assert {letter: meaning for letter, meaning in legend} == \
        {letter: rows.get(letter) for letter, _ in legend}
    assert len(rows) == len(legend), "the notation page has shape letters the legend lacks"


def test_repository_url_is_named_in_one_place():
    _, colab_cell = book_ext()
    url = colab_cell.configured_url(ROOT)
    assert "your-org" not in url and url.startswith("https://github.com/")
    intro = (ROOT / "book" / "intro.md").read_text()
    assert "{{ pip_install }}" in intro and "github.com" not in intro
    for path in [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *(ROOT / "book").glob("*.md")]:
        assert "your-org" not in path.read_text(), f"{path.name} names a placeholder repository"


def test_favicon_ico_is_drawn_from_the_svg(tmp_path):
    """The build serves favicon.ico at the site root, drawn from _ext/static/favicon.svg."""
    from PIL import Image

    book_html, _ = book_ext()
    icon = Image.open(book_html.stage_favicon(tmp_path))
    assert icon.format == "ICO" and icon.info["sizes"] == {(16, 16), (32, 32), (48, 48)}
    pixels = icon.convert("RGBA")  # the largest size, 48 px: 1.5 px per SVG unit
    assert pixels.size == (48, 48)
    assert pixels.getpixel((0, 0))[3] == 0  # a rounded corner
    assert pixels.getpixel((36, 4)) == (0x08, 0x30, 0x6B, 255)  # the dark background
    assert pixels.getpixel((12, 12)) == (0xC6, 0xDB, 0xEF, 255)  # the first diagonal square


COLUMN_PX = 740  # the text column at 1280 px (tests/test_browser.py measures the page itself)


def png_size(data: str) -> tuple[int, int]:
    import base64
    import struct

    header = base64.b64decode(data[:44])  # the signature and the IHDR chunk
    return struct.unpack(">II", header[16:24])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_figures_fit_the_column_at_high_resolution(path):
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] != "code" or not shown(cell):
            continue
        for output in cell["outputs"]:
            if "image/png" not in output.get("data", {}):
                continue
            width, _ = png_size(output["data"]["image/png"])
            shown_width = output.get("metadata", {}).get("image/png", {}).get("width", width)
            where = "".join(cell["source"])[:60]
            assert shown_width <= COLUMN_PX, (
                f"a figure {shown_width} px wide, the column has {COLUMN_PX}: {where}")
            assert width >= 1.9 * shown_width, (
                f"a figure at {width} pixels for {shown_width} px on the page: keep the "
                f"chapter's first cell (retina figures, python _ext/colab_cell.py): {where}")
