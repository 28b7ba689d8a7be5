"""Sphinx extension for the HTML book: what Jupyter Book 1.x does not do by itself.

Loaded through ``sphinx.local_extensions`` in ``_config.yml``. It

- serves MathJax 3 from the build (the copy that the PyPI package
  ``django-static-mathjax`` ships, Apache-2.0), through ``mathjax_path`` and
  ``html_extra_path``, so the math reads offline; MathJax is loaded on every page,
  and ``static/search-math.js`` typesets the search page's snippets;
- derives everything that names the repository from ``repository.url``: the MyST
  substitutions ``{{ repository_url }}`` and ``{{ pip_install }}`` (the intro's
  install line), and a check that each chapter's Colab cell installs from the same
  URL (``python _ext/colab_cell.py`` rewrites them);
- removes nbval's ``# NBVAL_...`` comment lines from the code a reader sees;
- labels bibliography entries author-year, like the citations in the text;
- sets the column so that 88-character code lines fit on a desktop, and lays the page out
  for a phone (``static/book.css``; ``static/scroll-cue.js`` marks blocks that scroll);
- serves ``favicon.ico`` at the site root, drawn from ``static/favicon.svg`` (browsers ask
  for it on pages without an icon link, such as the index's redirect);
- keeps one copy of each inline script (sphinx-thebe's configuration is added twice).
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import colab_cell  # noqa: E402  (sits next to this file)

# What the page needs from MathJax's es5 folder: the combined TeX-to-CHTML component,
# its fonts, the TeX extensions it may autoload, the menu and accessibility parts.
MATHJAX_PARTS = ["tex-chtml.js", "output/chtml/fonts/woff-v2", "input/tex/extensions", "ui",
                 "a11y", "sre/speech-worker.js"]
NBVAL_COMMENT = re.compile(r"^[ \t]*# NBVAL_[A-Z_]+[ \t]*\n?", re.M)


def mathjax_source() -> Path:
    """The es5 folder of the MathJax 3 copy installed with django-static-mathjax."""
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("MathJax 3 is missing: pip install -r requirements.txt "
                           "(it comes with the package django-static-mathjax)")
    root = Path(list(spec.submodule_search_locations)[0]) / "static" / "mathjax"
    if not (root / "es5" / "tex-chtml.js").is_file():
        raise RuntimeError(f"no es5/tex-chtml.js under {root}: not a MathJax 3 copy")
    return root


def stage_mathjax(staging: Path) -> Path:
    """Copy the parts of MathJax the book uses to staging/_static/mathjax; return staging."""
    source = mathjax_source()
    target = staging / "_static" / "mathjax"
    if (target / "tex-chtml.js").is_file():
        return staging
    target.mkdir(parents=True, exist_ok=True)
    for part in MATHJAX_PARTS:
        src = source / "es5" / part
        if src.is_dir():
            shutil.copytree(src, target / part, dirs_exist_ok=True)
        elif src.is_file():
            (target / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target / part)
    shutil.copy2(source / "LICENSE", target / "LICENSE")
    return staging


def svg_rectangles(svg: Path) -> tuple[float, list[tuple]]:
    """The view box size and the filled rectangles (x, y, width, height, rx, fill) of an
    SVG drawn only with <rect>s, as static/favicon.svg is."""
    import xml.etree.ElementTree as ET

    root = ET.parse(svg).getroot()
    size = float(root.get("viewBox").split()[2])
    rects = []

    def walk(node, fill):
        fill = node.get("fill", fill)
        if node.tag.rsplit("}", 1)[-1] == "rect":
            rects.append(tuple(float(node.get(k, 0)) for k in ("x", "y", "width", "height",
                                                                 "rx")) + (fill,))
        for child in node:
            walk(child, fill)

    walk(root, "#000")
    return size, rects


def stage_favicon(staging: Path, svg: Path = HERE / "static" / "favicon.svg") -> Path:
    """Draw the SVG icon as staging/favicon.ico (16, 32 and 48 px); return its path."""
    from PIL import Image, ImageDraw

    size, rects = svg_rectangles(svg)
    scale = 256 / size  # draw large, then let Pillow scale down each size smoothly
    image = Image.new("RGBA", (256, 256), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    for x, y, width, height, rx, fill in rects:
        box = [x * scale, y * scale, (x + width) * scale - 1, (y + height) * scale - 1]
        draw.rounded_rectangle(box, radius=rx * scale, fill=fill)
    target = staging / "favicon.ico"
    staging.mkdir(parents=True, exist_ok=True)
    image.save(target, sizes=[(16, 16), (32, 32), (48, 48)])
    return target


def repository_url(config) -> str:
    url = (config.html_theme_options or {}).get("repository_url", "").rstrip("/")
    if not url:
        raise RuntimeError("_config.yml needs repository.url: the GitHub URL of the book")
    return url


def on_config_inited(app, config):
    staging = stage_mathjax(Path(app.outdir).parent / "mathjax-staging")
    stage_favicon(staging)
    config.html_extra_path = list(config.html_extra_path) + [str(staging)]
    config.mathjax_path = "mathjax/tex-chtml.js"  # relative to _static
    config.html_static_path = list(config.html_static_path) + [str(HERE / "static")]

    url = repository_url(config)
    substitutions = dict(config.myst_substitutions or {})
    substitutions["repository_url"] = url
    substitutions["repository_link"] = f"[{url}]({url})"
    substitutions["pip_install"] = f'```bash\n!pip install "{colab_cell.pip_target(url)}"\n```'
    config.myst_substitutions = substitutions

    config.bibtex_default_style = "authoryear"


def on_builder_inited(app):
    app.add_js_file("search-math.js", defer="defer")
    app.add_js_file("scroll-cue.js", defer="defer")
    app.add_css_file("book.css")


def strip_nbval_markers(notebook: dict) -> dict:
    """Remove the ``# NBVAL_...`` comment lines from every code cell (in place)."""
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            text = "".join(cell["source"])
            stripped = NBVAL_COMMENT.sub("", text)
            if stripped != text:
                cell["source"] = stripped
    return notebook


def on_source_read(app, docname, source):
    """Hide nbval's markers from the page, and check the Colab cell's URL."""
    path = Path(app.env.doc2path(docname))
    if path.suffix != ".ipynb":
        return
    notebook = json.loads(source[0])
    problem = colab_cell.check(notebook, repository_url(app.config))
    if problem and re.fullmatch(r"book/\d\d_\w+", docname):
        from sphinx.util import logging
        logging.getLogger(__name__).warning(
            f"{problem}; run python _ext/colab_cell.py", location=docname)
    strip_nbval_markers(notebook)
    source[0] = json.dumps(notebook)


def on_page_context(app, pagename, templatename, context, doctree):
    """Drop repeated inline scripts (sphinx-thebe adds its configuration twice), and give
    the theme a colour mode (without one, pydata-sphinx-theme logs an error on every page)."""
    if not context.get("default_mode"):
        context["default_mode"] = "light"
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        # the same inline script is added once with filename None and once with ""
        key = (getattr(script, "filename", script) or "",
               tuple(sorted(getattr(script, "attributes", {}).items())))
        if key in seen:
            continue
        seen.add(key)
        unique.append(script)
    scripts[:] = unique


def register_authoryear_style():
    """A pybtex style whose labels read "James, 1890", as the citations in the text do."""
    from pybtex.plugin import register_plugin
    from pybtex.style.formatting.unsrt import Style as UnsrtStyle
    from pybtex.style.labels import BaseLabelStyle

    class AuthorYearLabels(BaseLabelStyle):
        def format_labels(self, sorted_entries):
            for entry in sorted_entries:
                people = entry.persons.get("author") or entry.persons.get("editor") or []
                names = [" ".join(p.last_names) for p in people]
                if len(names) > 2:
                    who = f"{names[0]} et al."
                elif len(names) == 2:
                    who = f"{names[0]} and {names[1]}"
                else:
                    who = names[0] if names else entry.key
                yield f"{who}, {entry.fields.get('year', 'n.d.')}"

    class AuthorYearStyle(UnsrtStyle):
        default_label_style = AuthorYearLabels
        default_sorting_style = "author_year_title"

    register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle, force=True)


def setup(app):
    register_authoryear_style()
    app.set_html_assets_policy("always")  # MathJax on every page, the search page too
    app.connect("config-inited", on_config_inited)
    app.connect("builder-inited", on_builder_inited)
    app.connect("source-read", on_source_read)
    app.connect("html-page-context", on_page_context, priority=999)  # after the themes
    return {"parallel_read_safe": True, "parallel_write_safe": True}
