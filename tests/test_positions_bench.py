"""Tests of benchmarks/positions.py: its windows, a --quick run, and the committed file."""

import importlib.util
import json
import pathlib

import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("positions_bench",
                                              ROOT / "benchmarks" / "positions.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)
LINES = ["sinusoidal", "learned", "rope", "rope_pi", "rope_pi_tuned", "alibi", "none"]


def test_windows_are_cut_from_the_stream_and_targets_are_the_next_tokens():
    stream = torch.arange(100)
    inputs, targets = bench.random_windows(stream, 8, 5, seed=0)
    assert inputs.shape == targets.shape == (5, 8)
    torch.testing.assert_close(targets, inputs + 1)  # the next token of the stream
    assert torch.all(inputs[:, 1:] - inputs[:, :-1] == 1)  # consecutive tokens


def test_the_stream_joins_the_lines_and_windows_start_at_lines():
    pairs = [(["he", "runs", "."], ["il", "court", "."]),
             (["we", "eat", "."], ["nous", "mangeons", "."]),
             (["i", "sing", "."], ["je", "chante", "."])]
    stream, french, starts, vocab = bench.token_stream(pairs)
    assert vocab.to_tokens(stream[:16].tolist()) == [
        "he", "runs", ".", "=", "il", "court", ".", "<eos>",
        "we", "eat", ".", "=", "nous", "mangeons", ".", "<eos>"]
    assert starts == [0, 8, 16]
    assert french[:8].tolist() == [False] * 4 + [True] * 4  # the French and its <eos>
    inputs, targets, scored = bench.line_windows(stream, french, starts, 7)
    assert inputs[:, 0].tolist() == stream[starts].tolist()  # every line starts one
    torch.testing.assert_close(targets[1], stream[9:16])
    assert scored[1].tolist() == french[9:16].tolist()
    inputs, _, _ = bench.line_windows(stream, french, starts, 10)
    # line 2 starts inside the first window, line 3 leaves no target for 10 tokens
    assert inputs[:, 0].tolist() == [stream[0]]


def test_quick_run_scores_every_encoding_and_writes_nothing(tmp_path):
    out = tmp_path / "result.json"
    result = bench.main(["--quick", "--out", str(out)])
    assert [r["encoding"] for r in result["runs"]] == LINES
    lengths = [str(n) for n in result["eval_lengths"]]
    assert lengths == ["32", "48", "64", "96", "128"]
    for run in result["runs"]:
        assert list(run["by_length"]) == lengths
        for scores in run["by_length"].values():
            assert 0 <= scores["accuracy"] <= 1 and scores["loss"] > 0
        assert len(run["by_position"]["accuracy"]) == 128 // bench.BIN
    assert [r["updates"] for r in result["runs"]] == [20, 20, 20, 0, 5, 20, 20]
    assert set(result["summary"]) == set(LINES)
    assert not out.exists()


def test_the_committed_file_was_made_with_the_scripts_settings():
    committed = json.loads((ROOT / "benchmarks" / "positions.json").read_text())
    for key, value in (("corpus", bench.CORPUS), ("model", bench.MODEL),
                       ("optimiser", bench.OPTIMISER), ("tuning", bench.TUNING),
                       ("batch_size", bench.BATCH_SIZE), ("train_len", bench.TRAIN_LEN),
                       ("bin", bench.BIN)):
        assert committed[key] == value, key
    assert committed["eval_lengths"] == [int(f * bench.TRAIN_LEN) for f in bench.FACTORS]
    runs = {(r["encoding"], r["seed"]) for r in committed["runs"]}
    assert runs == {(e, s) for e in LINES for s in committed["seeds"]}
    assert len(committed["seeds"]) >= 3
    assert all(r["updates"] == committed["updates"] for r in committed["runs"]
               if r["encoding"] not in ("rope_pi", "rope_pi_tuned"))
    assert committed["summary"] == bench.summary(committed["runs"])
