"""Tests of benchmarks/synthetic_gpt.py: a --quick run, and that the committed file matches it."""

import importlib.util
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))  # the script imports translate_real from there
spec = importlib.util.spec_from_file_location("synthetic_gpt",
                                              ROOT / "benchmarks" / "synthetic_gpt.py")
synthetic_gpt = importlib.util.module_from_spec(spec)
spec.loader.exec_module(synthetic_gpt)


def test_quick_run_trains_and_scores_every_model_and_writes_nothing(tmp_path):
    out = tmp_path / "result.json"
    result = synthetic_gpt.main(["--quick", "--out", str(out)])
    assert [r["model"] for r in result["runs"]] == list(synthetic_gpt.MODELS)
    assert result["budget_s"] == 1.0 and result["test_pairs"] == 100
    for run in result["runs"]:
        assert run["updates"] >= 1 and 0 <= run["bleu"] <= 100 and 0 <= run["exact"] <= 1
        assert run["train_seconds"] >= 1.0  # the budget is a wall-clock time
    gpt = {r["model"]: r["parameters"] for r in result["runs"]}
    assert gpt["gpt"] == gpt["gpt_french_loss"] != gpt["transformer"]
    assert not out.exists()


def test_the_committed_file_was_made_with_the_scripts_settings():
    committed = json.loads((ROOT / "benchmarks" / "synthetic_gpt.json").read_text())
    for key, value in (("corpus", synthetic_gpt.CORPUS), ("gpt", synthetic_gpt.GPT),
                       ("transformer", synthetic_gpt.TRANSFORMER),
                       ("optimiser", synthetic_gpt.OPTIMISER),
                       ("batch_size", synthetic_gpt.BATCH_SIZE)):
        assert committed[key] == value, key
    seeds = {(r["model"], r["seed"]) for r in committed["runs"]}
    assert seeds == {(m, s) for m in synthetic_gpt.MODELS for s in (0, 1, 2)}
    assert committed["test_pairs"] == committed["corpus"]["num_test"]
