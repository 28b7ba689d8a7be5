"""Tests of benchmarks/run.py: its results.md section, its notebook timer, and a --quick run."""

import importlib.util
import pathlib
import sys

import nbformat

ROOT = pathlib.Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("bench_run", ROOT / "benchmarks" / "run.py")
bench_run = importlib.util.module_from_spec(spec)
sys.modules["bench_run"] = bench_run  # its dataclasses look their module up there
spec.loader.exec_module(bench_run)

OTHER = "# Benchmark results\n\nThe translation table.\n\n| a | b |\n| --- | --- |\n| 1 | 2 |\n"


def test_the_section_is_appended_then_replaced_and_the_rest_is_kept():
    once = bench_run.replace_section(OTHER, "table one\n")
    assert once.startswith(OTHER) and once.count(bench_run.BEGIN) == 1
    assert f"{bench_run.BEGIN}\ntable one\n{bench_run.END}" in once
    twice = bench_run.replace_section(once + "\nA closing note.\n", "table two\n")
    assert "table one" not in twice and "table two" in twice
    assert twice.startswith(OTHER) and twice.endswith("\nA closing note.\n")
    assert twice.count(bench_run.BEGIN) == twice.count(bench_run.END) == 1


def test_rows_become_one_markdown_table():
    rows = [bench_run.Row("x", "B=1", "2.0 ms", "1.0 ms", "2.00", "<= 1.2 (missed)")]
    table = bench_run.markdown_table(rows, "## Title")
    assert table.splitlines()[2].count("|") == 7
    assert "| x | B=1 | 2.0 ms | 1.0 ms | 2.00 | <= 1.2 (missed) |" in table


def test_a_notebook_is_timed_in_a_fresh_kernel(tmp_path):
    path = tmp_path / "tiny.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import time\ntime.sleep(0.5)")])
    nbformat.write(nb, path)
    rows = bench_run.bench_notebooks([path])
    assert [r.benchmark for r in rows] == ["notebook tiny.ipynb", "all notebooks"]
    seconds = float(rows[0].measured.split()[0])
    assert seconds >= 0.5 and rows[1].measured == rows[0].measured
    assert rows[1].target == "< 300 s (met)"


def test_a_failing_notebook_is_reported_and_the_others_still_timed(tmp_path):
    bad, good = tmp_path / "bad.ipynb", tmp_path / "good.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 / 0")]), bad)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), good)
    rows = bench_run.bench_notebooks([bad, good])
    assert rows[0].measured.startswith("failed (CellExecutionError)")
    assert rows[1].measured.endswith(" s") and rows[1].target.endswith("(met)")
    assert rows[2].measured.startswith("incomplete") and rows[2].target.endswith("(missed)")


def test_decoding_reports_not_available_without_a_cached_transformer(monkeypatch):
    monkeypatch.setattr(bench_run, "transformer_available", lambda: False)
    rows = bench_run.bench_decoding(bench_run.QUICK, quick=True)
    assert len(rows) == 1 and rows[0].measured == "not available"


def test_quick_run_prints_every_section_and_keeps_the_rest_of_the_file(tmp_path, capsys):
    output = tmp_path / "results.md"
    output.write_text(OTHER)
    table = bench_run.main(["--quick", "--threads", "1", "--output", str(output)])
    text = output.read_text()
    assert text.startswith(OTHER) and table in text
    for name in ("fast path (SDPA) / nn.MultiheadAttention", "explicit path",
                 "DotProductAttention / F.scaled_dot_product_attention",
                 "tiled / naive attention: peak memory", "greedy decoding", "notebooks"):
        assert name in table, name
    assert "(met)" not in table and "(missed)" not in table  # --quick judges no target
    assert table in capsys.readouterr().out
