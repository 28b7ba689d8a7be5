"""The real-data benchmark's failure analysis, on made-up sentences (no data needed)."""

import importlib.util
import pathlib

import pytest

import attn

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "translate_real.py"
spec = importlib.util.spec_from_file_location("translate_real", SCRIPT)
translate_real = importlib.util.module_from_spec(spec)
spec.loader.exec_module(translate_real)


def test_where_it_fails_splits_by_length_and_unknown_words():
    vocab = attn.Vocab([["the", "cat", "is", "here", "now"]])
    sources = [["the", "cat"], ["the", "cat", "is", "here", "now"], ["the", "dog", "is", "here", "now"]]
    references = [[["le", "chat"]], [["le", "chat", "est", "ici", "maintenant"]],
                  [["le", "chien", "est", "ici", "maintenant"], ["le", "chien", "est", "là", "maintenant"]]]
    outputs = [["le", "chat"], ["le", "chat", "est", "ici", "maintenant"], ["le", "chat", "est", "là", "maintenant"]]
    result = translate_real.where_it_fails(sources, outputs, references, vocab)
    assert result["exact"] == pytest.approx(2 / 3)  # the third misses both of its references
    assert result["by_length"]["1-4"]["sentences"] == 1 and result["by_length"]["5-7"]["sentences"] == 2
    assert result["by_length"]["8-10"] == {"sentences": 0, "bleu": None}
    assert result["unknown_source"]["sentences"] == 1 and result["known_source"]["sentences"] == 2
    assert result["known_source"]["bleu"] == pytest.approx(100.0)
    assert result["unknown_source"]["bleu"] < 100.0  # "dog" is unknown and the model wrote "chat"
