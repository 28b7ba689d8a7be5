"""The first cell of every chapter: sharp figures, and on Colab the book's package.

The repository URL lives in one place, ``repository.url`` in ``_config.yml``; this
script writes it into each chapter's first cell (run it after changing the URL):

    python _ext/colab_cell.py          # rewrite the cells of book/[0-9][0-9]_*.ipynb
    python _ext/colab_cell.py --check  # only report chapters whose cell differs

The cell asks IPython for figures at twice the pixel density (shown at their size in
inches, so text stays readable in the book's column); the rest does nothing where
``attn`` imports (a clone with ``pip install -r
requirements.txt``, Binder). It is tagged ``remove-cell`` (not on the HTML page) and
``nbval-skip`` (the tests do not run it). Its output is never saved.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TAGS = ["remove-cell", "nbval-skip"]
MARKER = "BOOK_REPOSITORY = "

TEMPLATE = '''\
# Not on the book's pages. Figures at twice the pixel density, sharp on any screen;
# on Colab: fetch the book, install its package attn and run from the book's folder.
%config InlineBackend.figure_formats = ["retina"]
BOOK_REPOSITORY = "{url}"
try:
    import attn
except ImportError:
    !git clone --quiet --depth 1 {{BOOK_REPOSITORY}} attention-book
    %pip install --quiet ./attention-book
    %cd attention-book/book'''


def pip_target(url: str) -> str:
    """What pip installs the package from: the repository's default branch."""
    return f"attn @ git+{url.rstrip('/')}"


def configured_url(root: Path = ROOT) -> str:
    import yaml

    config = yaml.safe_load((root / "_config.yml").read_text())
    url = (config.get("repository") or {}).get("url", "")
    if not url:
        raise SystemExit("_config.yml has no repository.url")
    return url.rstrip("/")


def cell_source(url: str) -> str:
    return TEMPLATE.format(url=url.rstrip("/"))


def new_cell(url: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "id": "colab-install",
            "metadata": {"tags": list(TAGS)}, "outputs": [], "source": cell_source(url)}


def check(notebook: dict, url: str) -> str | None:
    """None when the notebook starts with the Colab cell for url, else what is wrong."""
    cells = notebook.get("cells", [])
    if not cells or MARKER not in "".join(cells[0].get("source", "")):
        return "the first cell is not the Colab install cell"
    first = cells[0]
    if "".join(first["source"]) != cell_source(url):
        return f"the Colab install cell does not install from repository.url ({url})"
    if sorted(first.get("metadata", {}).get("tags", [])) != sorted(TAGS):
        return f"the Colab install cell needs exactly the tags {TAGS}"
    return None


def apply(notebook: dict, url: str) -> dict:
    """The notebook with its Colab cell set for url (inserted first when missing)."""
    cells = notebook["cells"]
    fresh = new_cell(url)
    if cells and MARKER in "".join(cells[0].get("source", "")):
        fresh["execution_count"] = cells[0].get("execution_count")
        fresh["id"] = cells[0].get("id", fresh["id"])
        cells[0] = fresh
    else:
        cells.insert(0, fresh)
    return notebook


def main(argv: list[str]) -> int:
    import nbformat

    url = configured_url()
    wrong = 0
    for path in sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        problem = check(notebook, url)
        if problem is None:
            continue
        wrong += 1
        if "--check" in argv:
            print(f"{path.name}: {problem}")
            continue
        nbformat.write(nbformat.from_dict(apply(notebook, url)), path)
        print(f"{path.name}: Colab cell installs from {url}")
    return 1 if wrong and "--check" in argv else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
