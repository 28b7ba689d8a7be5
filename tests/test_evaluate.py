"""Tests of attn.evaluate: each measurement on cases whose answer is known by hand."""

import statistics

import pytest
import torch
from torch import nn

import attn
from attn.evaluate import (BleuCurve, adjective_crossings, bleu_by_length, crossings_followed,
                           first_by_length, first_reaching, ms_per_token, offset_weights,
                           output_shapes, seed_statistics, update_times_ms)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def tiny_transformer(seed=0, **kw):
    torch.manual_seed(seed)
    return attn.build_transformer(attn.TransformerConfig(11, 13, num_hiddens=8, num_heads=2,
                                                         ffn_hiddens=16, num_layers=2, **kw))


def tiny_batch(B=3, S=5, T=4):
    gen = torch.Generator().manual_seed(0)
    src = torch.randint(4, 11, (B, S), generator=gen)
    tgt = torch.randint(4, 13, (B, T), generator=gen)
    return src, torch.full((B,), S), tgt, torch.full((B,), T)


# --- output_shapes ----------------------------------------------------------------------

def test_output_shapes_in_the_order_the_parts_finish_and_hooks_removed():
    model = tiny_transformer()
    src, src_len, tgt, _ = tiny_batch()
    names = ["decoder.dense", "encoder.blocks.0", "encoder.blocks.1"]
    shapes, (logits, _) = output_shapes(model, names, lambda: model(src, src_len, tgt))
    assert logits.shape == (3, 4, 13)
    assert shapes == [("encoder.blocks.0", (3, 5, 8)), ("encoder.blocks.1", (3, 5, 8)),
                      ("decoder.dense", (3, 4, 13))]
    assert all(not m._forward_hooks for m in model.modules())


def test_output_shapes_removes_its_hooks_when_the_call_fails():
    model = tiny_transformer()

    def fail():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        output_shapes(model, ["encoder"], fail)
    assert not model.encoder._forward_hooks


def test_output_shapes_names_a_missing_part():
    with pytest.raises(ValueError, match="no submodule 'encoder.blocks.7'"):
        output_shapes(tiny_transformer(), ["encoder.blocks.7"], lambda: None)
    with pytest.raises(ValueError, match="non-empty list"):
        output_shapes(tiny_transformer(), "encoder", lambda: None)
    with pytest.raises(TypeError, match="nn.Module"):
        output_shapes("model", ["encoder"], lambda: None)


# --- distinct_by_length, bleu_by_length, first_reaching -----------------------------------

def test_first_by_length_gives_distinct_sentences_of_increasing_length():
    sentences = [["a"] * n for n in (13, 27, 8, 22, 28)]
    # the old way, the first sentence of at least n tokens, picked 27 tokens for n = 14 and
    # then 22 for n = 22: the lengths went down; each range holds one sentence at most once
    assert first_by_length(sentences, [(6, 9), (13, 17), (20, 24), (27, 30)]) == [2, 0, 3, 1]
    assert first_by_length(sentences, [(1, 13), (14, 30)]) == [0, 1]
    with pytest.raises(ValueError, match="between 14 and 20"):
        first_by_length(sentences, [(14, 20)])
    for bad in ([(6, 14), (14, 20)], [(14, 20), (6, 9)], [(9, 6)], []):
        with pytest.raises(ValueError, match="increasing, disjoint"):
            first_by_length(sentences, bad)


def test_bleu_by_length_scores_each_bucket_alone():
    sources = [["x"] * 4, ["x"] * 5, ["x"] * 9]
    refs = [["le", "chat", "noir", "dort", "."]] * 3
    outputs = [refs[0], refs[0], ["un", "chien", "blanc", "mange", "!"]]
    short, long = bleu_by_length(outputs, sources, refs, [(1, 5), (6, 10)])
    assert short == pytest.approx(100.0) and long == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="between 11 and 20"):
        bleu_by_length(outputs, sources, refs, [(11, 20)])
    with pytest.raises(ValueError, match="same length"):
        bleu_by_length(outputs[:2], sources, refs, [(1, 5)])


def test_first_reaching_takes_the_first_point_at_or_above():
    points = [(25, 1.0, 40.0), (50, 2.0, 80.0), (75, 3.0, 79.0), (100, 4.0, 95.0)]
    assert first_reaching(points, 80) == (50, 2.0)
    assert first_reaching(points, 90) == (100, 4.0)
    assert first_reaching(points, 96) == (None, None)


def test_bleu_curve_records_every_few_updates_and_leaves_training_mode():
    corpus = attn.SyntheticConfig(seed=0, num_train=50, num_valid=4, num_test=4)
    splits = attn.synthetic_splits(corpus)
    data = attn.load_translation_data(splits, batch_size=8, num_steps=32)
    model = attn.build_transformer(attn.TransformerConfig(
        len(data.src_vocab), len(data.tgt_vocab), num_hiddens=8, num_heads=2, ffn_hiddens=8,
        num_layers=1))
    sources, references = [s for s, _ in splits.valid], [t for _, t in splits.valid]
    curve = BleuCurve(model, sources, references, data.src_vocab, data.tgt_vocab, 32, every=2)
    model.train()
    for update in range(1, 6):
        curve(update)
    assert [u for u, _, _ in curve.points] == [2, 4]
    assert model.training
    seconds = [s for _, s, _ in curve.points]
    assert 0 <= seconds[0] <= seconds[1] and curve.eval_seconds > 0
    with pytest.raises(ValueError, match="every must be a positive int"):
        BleuCurve(model, sources, references, data.src_vocab, data.tgt_vocab, 32, every=0)
    with pytest.raises(ValueError, match="same length"):
        BleuCurve(model, sources, references[:1], data.src_vocab, data.tgt_vocab, 32)


# --- timing -----------------------------------------------------------------------------

def test_ms_per_token_is_positive_and_checks_its_lengths():
    model = tiny_transformer().eval()
    src, src_len, _, _ = tiny_batch()
    for use_cache in (True, False):
        ms = ms_per_token(model, src, src_len, 1, [2, 5], use_cache=use_cache, repeats=1)
        assert len(ms) == 2 and all(0 < m < 1000 for m in ms)
    ticks = iter(range(0, 10_000, 2))  # a clock that advances 2 s at every reading
    ms = ms_per_token(model, src, src_len, 1, [1, 4], use_cache=True, repeats=1,
                      clock=lambda: next(ticks))
    # read at the start (0), after token 1 (2 s: 2 s per token), after token 4 (4 s: 1 s)
    assert ms == [2000.0, 1000.0]
    with pytest.raises(ValueError, match="increasing positive ints"):
        ms_per_token(model, src, src_len, 1, [5, 2], use_cache=True)
    with pytest.raises(ValueError, match="repeats"):
        ms_per_token(model, src, src_len, 1, [2], use_cache=True, repeats=0)


def test_update_times_split_an_update_into_its_parts():
    models = {"a": tiny_transformer(0), "b": tiny_transformer(1, norm_first=True)}
    times = update_times_ms(models, tiny_batch(), bos=1, repeats=3, warmup=1)
    for name in models:
        t = times[name]
        assert set(t) == {"encoder", "decoder", "loss", "backward", "optimizer step", "update"}
        assert all(v > 0 for v in t.values())
        # the parts happen one after the other inside the update (medians, so some slack)
        assert t["encoder"] + t["decoder"] + t["loss"] + t["backward"] < 1.5 * t["update"]
    assert not any(m._forward_hooks or m._forward_pre_hooks
                   for model in models.values() for m in model.modules())


def test_update_times_train_the_models_like_train_seq2seq():
    model = tiny_transformer()
    before = [p.detach().clone() for p in model.parameters()]
    update_times_ms({"m": model}, tiny_batch(), bos=1, repeats=1, warmup=0, lr=1e-2)
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))
    with pytest.raises(ValueError, match="4 items|got 3 items"):
        update_times_ms({"m": model}, tiny_batch()[:3], bos=1)
    with pytest.raises(ValueError, match="no submodule 'embedding'"):
        update_times_ms({"m": model}, tiny_batch(), bos=1, parts=("embedding",))


def test_update_times_see_a_slower_part():
    class Slow(nn.Module):
        def __init__(self, inner, seconds):
            super().__init__()
            self.inner, self.seconds = inner, seconds

        def forward(self, *args):
            import time
            time.sleep(self.seconds)
            return self.inner(*args)

    model = tiny_transformer()
    model.encoder = Slow(model.encoder, 0.02)
    t = update_times_ms({"m": model}, tiny_batch(), bos=1, repeats=2, warmup=0)["m"]
    assert t["encoder"] >= 20 and t["decoder"] < t["encoder"] and t["update"] >= 20


# --- seed_statistics --------------------------------------------------------------------

def test_seed_statistics_follow_the_records():
    records = [{"model": "m", "bleu": b, "analysis": {"by_length": {"1-4": {"bleu": b + 1}}}}
               for b in (30.0, 32.0, 34.5)] + [{"model": "other", "bleu": 99.0}]
    s = seed_statistics(records, "m", "bleu")
    assert s == {"seeds": 3, "mean": pytest.approx(32.1666666), "min": 30.0, "max": 34.5,
                 "std": pytest.approx(statistics.stdev([30.0, 32.0, 34.5]))}
    assert s["std"] == pytest.approx(2.2546248)  # sample deviation, by hand
    nested = seed_statistics(records, "m", "analysis.by_length.1-4.bleu")
    assert nested["mean"] == pytest.approx(33.1666666)
    with pytest.raises(ValueError, match="no field 'analysis.gaps'"):
        seed_statistics(records, "m", "analysis.gaps")
    with pytest.raises(ValueError, match="at least 2 records"):
        seed_statistics(records, "other", "bleu")


# --- attention statistics ---------------------------------------------------------------

def test_adjective_crossings_find_the_french_noun_and_adjective():
    source = "my neighbour breaks these black shirts but i hide my beautiful chair .".split()
    output = ("ma voisine casse ces chemises noires mais je cache ma belle chaise .").split()
    # "black shirts" crosses (French puts noires after chemises); "beautiful chair" does not
    assert adjective_crossings(source, output) == [(4, 4, 5)]
    two = "the red car and the red boxes .".split()
    two_fr = "la voiture rouge et les boîtes rouges .".split()
    assert adjective_crossings(two, two_fr) == [(1, 1, 2), (5, 5, 6)]
    with pytest.raises(ValueError, match="correct translation"):
        adjective_crossings(two, "la voiture et les boîtes .".split())


def test_crossings_followed_counts_heads_that_cross():
    B, H, T, S = 1, 2, 4, 4
    w = torch.full((B, H, T, S), 0.1)
    # crossing: English adjective at 1, noun at 2; French noun written at row 2, adjective at 3
    w[0, 0, 2, 2], w[0, 0, 3, 1] = 0.7, 0.7  # head 0 follows the crossing
    w[0, 1, 2, 1], w[0, 1, 3, 2] = 0.7, 0.7  # head 1 keeps English order
    share, weight = crossings_followed(w, [(0, 1, 2, 3)])
    assert share.tolist() == [1.0, 0.0]
    assert weight.tolist() == pytest.approx([0.7, 0.1])
    with pytest.raises(ValueError, match="empty"):
        crossings_followed(w, [])
    with pytest.raises(ValueError, match=r"\(B, H, T, S\)"):
        crossings_followed(w[0], [(0, 1, 2, 3)])


def test_offset_weights_of_positional_heads():
    S = 5
    same = torch.eye(S)
    previous = torch.diag(torch.ones(S - 1), -1)
    previous[0, 0] = 1.0  # the first query has no previous key: it keeps itself
    w = torch.stack([same, previous])[None].repeat(2, 1, 1, 1)  # (B=2, H=2, S, S)
    lens = torch.tensor([5, 3])
    table = offset_weights(w, lens)  # (H, 3): previous, same, next
    assert table[0].tolist() == pytest.approx([0.0, 1.0, 0.0])
    # head 1: every query with a previous key puts all on it; counted over real pairs only
    assert table[1, 0].item() == pytest.approx(1.0)
    assert table[1, 1].item() == pytest.approx(2 / 8)  # the first query of each sentence
    uniform = torch.ones(1, 1, S, S) / 4
    assert offset_weights(uniform, torch.tensor([4])).flatten().tolist() == pytest.approx([0.25] * 3)
    with pytest.raises(ValueError, match=r"valid_lens must have shape \(2,\)"):
        offset_weights(w, torch.tensor([5]))
    with pytest.raises(ValueError, match=r"\(B, H, S, S\)"):
        offset_weights(w[..., :4], lens)
