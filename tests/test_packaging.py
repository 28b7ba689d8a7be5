"""The package's imports: declared in pyproject.toml, and layered as the book teaches them.

``pip install`` of attn into a fresh environment (the chapters' first cell does
this on Colab) installs only the distributions that pyproject.toml declares, so
every third-party module that attn imports must come from one of them: at module
level from ``dependencies``, inside a function from ``dependencies`` or an
optional extra. The layering test keeps the mechanisms free of the models and
every module free of another module's private names.
"""

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted((ROOT / "attn").glob("*.py"))


def _name(requirement: str) -> str:
    """The distribution name of a requirement string, normalised ("Foo_bar>=1" -> "foo-bar")."""
    name = re.match(r"[A-Za-z0-9._-]+", requirement.strip()).group(0)
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> tuple[set[str], set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    required = {_name(r) for r in project.get("dependencies", [])}
    optional = {_name(r) for extra in project.get("optional-dependencies", {}).values() for r in extra}
    return required, optional


def imports(path: Path):
    """(top-level module, line, at module level?) for every absolute import in ``path``.

    Imports inside ``try: ... except ImportError`` are optional by construction and left out.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    guarded = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
                isinstance(h.type, ast.Name) and h.type.id in {"ImportError", "ModuleNotFoundError"}
                for h in node.handlers):
            guarded.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    top_level = {id(n) for stmt in tree.body if not isinstance(stmt, (ast.FunctionDef, ast.ClassDef))
                 for n in ast.walk(stmt)}
    for node in ast.walk(tree):
        if id(node) in guarded:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            yield name.split(".")[0], node.lineno, id(node) in top_level


def third_party(module: str) -> bool:
    return module not in sys.stdlib_module_names and module not in {"attn", "__future__"}


def test_every_imported_distribution_is_declared():
    required, optional = declared()
    distributions = importlib.metadata.packages_distributions()
    missing = []
    for path in MODULES:
        for module, line, at_module_level in imports(path):
            if not third_party(module):
                continue
            names = {_name(d) for d in distributions.get(module, [])}
            if not names:
                missing.append(f"{path.name}:{line} imports {module}, which no installed "
                               "distribution provides")
                continue
            allowed = required if at_module_level else required | optional
            if not names & allowed:
                where = "dependencies" if at_module_level else "dependencies or an optional extra"
                missing.append(f"{path.name}:{line} imports {module} (distribution "
                               f"{sorted(names)}), not in pyproject.toml's {where}")
    assert not missing, "\n".join(missing)


def test_the_import_scan_sees_what_the_package_imports():
    """The scan itself: it finds tqdm (attn.utils), sacrebleu (inside a function), torch."""
    found = {(path.name, module, top) for path in MODULES for module, _, top in imports(path)}
    assert ("utils.py", "tqdm", True) in found
    assert ("bleu.py", "sacrebleu", False) in found
    assert ("masking.py", "torch", True) in found
    assert not any(module == "IPython" and top for _, module, top in found)


def test_a_missing_declaration_would_be_found(monkeypatch):
    """Without tqdm in the declared dependencies, the first test fails (the issue's case)."""
    required, optional = declared()
    monkeypatch.setattr(sys.modules[__name__], "declared",
                        lambda: (required - {"tqdm"}, optional))
    with pytest.raises(AssertionError, match="utils.py:.* imports tqdm"):
        test_every_imported_distribution_is_declared()


# --- Layering ---------------------------------------------------------------------------------

MECHANISMS = {"checks", "utils", "masking", "pooling", "scoring", "multihead", "position",
              "efficient", "kv_cache", "measure", "blocks", "interactive"}
MODELS = {"seq2seq", "transformer", "train", "decode", "data", "synthetic", "grammar", "gpt",
          "sampling", "lm", "subword"}


def attn_imports(path: Path):
    """(module of attn, imported names) for every ``from attn.x import ...`` in ``path``."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("attn."):
            yield node.module.split(".")[1], [alias.name for alias in node.names]


def test_no_module_imports_a_private_name_of_another():
    offences = [f"{path.name} imports {name} from attn.{module}"
                for path in MODULES for module, names in attn_imports(path)
                for name in names if name.startswith("_")]
    assert not offences, offences


def test_mechanisms_never_import_models():
    offences = [f"{path.name} imports attn.{module}" for path in MODULES
                if path.stem in MECHANISMS for module, _ in attn_imports(path) if module in MODELS]
    assert not offences, offences


def test_checks_imports_nothing_from_the_package():
    assert list(attn_imports(ROOT / "attn" / "checks.py")) == []


# --- Names stay where the chapters, benchmarks and tests import them ---------------------------

MOVED = {
    "attn.efficient": ["GroupedQueryAttention", "KVCache", "PeakMemory", "TileCounts",
                       "attention_flops", "kv_cache_bytes", "naive_attention", "online_softmax",
                       "tiled_attention"],
    "attn.transformer": ["AddNorm", "PositionWiseFFN", "Transformer", "TransformerConfig",
                         "TransformerDecoder", "TransformerDecoderBlock", "TransformerEncoder",
                         "TransformerEncoderBlock", "TransformerState", "TransformerWeights",
                         "build_transformer", "LayerCache"],
    "attn.train": ["model_device"],
}


@pytest.mark.parametrize("module", sorted(MOVED))
def test_split_modules_still_export_every_name_from_the_old_place(module):
    import importlib

    import attn
    mod = importlib.import_module(module)
    for name in MOVED[module]:
        assert hasattr(mod, name), f"{module}.{name} is gone"
        if name in attn.__all__:
            assert getattr(attn, name) is getattr(mod, name)


@pytest.mark.parametrize("path", ["attn/transformer.py", "attn/efficient.py"])
def test_the_split_modules_stay_readable(path):
    assert len((ROOT / path).read_text().splitlines()) < 350


def test_the_gpt_model_knows_no_corpus_and_no_loop():
    """attn.gpt takes token ids: it builds on mechanisms only; sampling and lm build on it."""
    imported = {module for module, _ in attn_imports(ROOT / "attn" / "gpt.py")}
    assert imported <= MECHANISMS, imported - MECHANISMS


def test_the_grammar_recogniser_reads_only_the_generators_word_lists():
    """attn.grammar judges sentences by its own rules: from attn.synthetic it takes the lexicon
    tables (upper-case names), never a function that builds sentences."""
    imported = dict(attn_imports(ROOT / "attn" / "grammar.py"))
    assert set(imported) == {"synthetic"}, imported
    assert all(name.isupper() for name in imported["synthetic"]), imported["synthetic"]


def test_byte_pair_encoding_knows_no_model():
    """attn.subword works on words and their counts: of the package it uses only attn.checks."""
    imported = {module for module, _ in attn_imports(ROOT / "attn" / "subword.py")}
    assert imported <= {"checks"}, imported


def test_the_optional_tokenizers_import_is_guarded():
    """attn.subword imports Hugging Face tokenizers only inside try/except ImportError, so the
    package installs and imports without it (the scan leaves guarded imports out)."""
    source = (ROOT / "attn" / "subword.py").read_text()
    assert "from tokenizers import" in source
    assert not any(module == "tokenizers" for module, _, _ in imports(ROOT / "attn" / "subword.py"))
