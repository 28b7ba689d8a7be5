"""Tests of benchmarks/translate_real.py: its split, its report, and its quick mode on the real file.

The real Tatoeba file is not in the repository; the quick run is skipped without it.
"""

import importlib.util
import json
import math
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("translate_real", ROOT / "benchmarks" / "translate_real.py")
translate_real = importlib.util.module_from_spec(spec)
spec.loader.exec_module(translate_real)


def test_the_held_out_split_keeps_each_english_sentence_in_one_split():
    # 300 English sentences, each with one or two translations, and two that are too long
    pairs = [([f"s{i}"], [f"t{i}"]) for i in range(300)] + [([f"s{i}"], ["other"]) for i in range(0, 300, 3)]
    pairs += [(["long"] * 11, ["x"]), (["y"], ["long"] * 11)]
    splits = translate_real.held_out_split(pairs, max_len=10)
    sources = [{s[0] for s, _ in part} for part in (splits.train, splits.valid, splits.test)]
    assert sources[2] == {"s0", "s100", "s200"} and sources[1] == {"s50", "s150", "s250"}
    assert not sources[0] & (sources[1] | sources[2])
    assert len(splits.test) == 4 and len(splits.valid) == 4  # s0 and s150 have two translations
    assert sum(map(len, (splits.train, splits.valid, splits.test))) == len(pairs) - 2  # the long ones
    assert (["s0"], ["other"]) in splits.test and (["s0"], ["t0"]) in splits.test


def test_the_report_gives_mean_and_spread_over_seeds(tmp_path):
    base = {"model": "bahdanau", "budget_s": 150, "updates": 100, "updates_per_s": 2.0, "decode_s": 1.0,
            "test_sentences": 2,
            "train_pairs": 10, "test_pairs": 2, "src_vocab": 5, "tgt_vocab": 6, "unk_share": 0.01,
            "settings": {"lr": 0.005}, "machine": "x86_64"}
    path = tmp_path / "runs.jsonl"
    path.write_text("\n".join(json.dumps({**base, "seed": s, "bleu": b, "bleu_multi_ref": b + 10})
                              for s, b in enumerate([20, 22, 24])))
    table = translate_real.report(path)
    assert ("| bahdanau | words | 150 | 3 | 22.0 ± 2.0 (20.0, 22.0, 24.0) | 32.0 ± 2.0 (30.0, 32.0, 34.0) "
            "| 100 | 2.0 | 1.0 |") in table


def test_multi_reference_bleu_takes_the_best_matching_reference():
    outputs = [["a", "b", "c", "d"], ["x", "y", "z", "w"]]
    one = translate_real.multi_reference_bleu(outputs, [[["a", "b", "c", "d"]], [["x", "y", "q", "w"]]])
    two = translate_real.multi_reference_bleu(outputs, [[["a", "b", "c", "d"]],
                                                        [["x", "y", "q", "w"], ["x", "y", "z", "w"]]])
    assert two == pytest.approx(100) and one < 99


@pytest.mark.skipif(not translate_real.DEFAULT_DATA.exists(), reason="the Tatoeba fra.txt is not here")
def test_quick_mode_trains_and_scores_on_the_real_file(capsys):
    result = translate_real.main(["--quick", "--seed", "1"])
    assert result["updates"] >= 1 and result["test_pairs"] > 0 and result["train_pairs"] > 1000
    assert 0 <= result["bleu"] <= 100 and math.isfinite(result["bleu"])
    out = capsys.readouterr().out
    assert "test sacreBLEU" in out and json.loads(out.strip().splitlines()[-1]) == result


def test_the_report_gives_other_settings_of_a_model_their_own_line(tmp_path):
    base = {"budget_s": 150, "updates": 100, "updates_per_s": 2.0, "decode_s": 1.0, "test_sentences": 2,
            "train_pairs": 10, "test_pairs": 2, "src_vocab": 5, "tgt_vocab": 6, "unk_share": 0.01,
            "machine": "x86_64", "bleu": 20, "bleu_multi_ref": 30, "seed": 0}
    path = tmp_path / "runs.jsonl"
    path.write_text("\n".join(json.dumps({**base, **extra}) for extra in (
        {"model": "bahdanau", "settings": {"lr": 0.02}},
        {"model": "transformer", "settings": {"lr": 0.002, "num_heads": 4}})))
    table = translate_real.report(path)
    assert '| transformer | words | 150 | 1 |' in table
    assert 'Settings of transformer: {"lr": 0.002, "num_heads": 4}.' in table


def test_transformer_defaults_differ_from_the_rnn_ones_only_where_given():
    rnn, transformer = translate_real.parse([]), translate_real.parse(["--model", "transformer"])
    assert (rnn.lr, rnn.warmup, rnn.num_layers) == (0.02, 0, 1)
    assert (transformer.lr, transformer.warmup, transformer.num_layers) == (5e-3, 100, 2)
    assert translate_real.parse(["--model", "transformer", "--lr", "1e-3"]).lr == 1e-3
    assert set(translate_real.settings(transformer)) == set(translate_real.TRANSFORMER_SETTINGS)


@pytest.mark.skipif(not translate_real.DEFAULT_DATA.exists(), reason="the Tatoeba fra.txt is not here")
def test_quick_mode_trains_the_transformer_on_the_real_file(capsys):
    result = translate_real.main(["--quick", "--model", "transformer", "--seed", "1"])
    assert result["model"] == "transformer" and result["updates"] >= 1
    assert result["settings"]["num_heads"] == 4 and result["settings"]["warmup"] == 10
    assert 0 <= result["bleu"] <= 100 and math.isfinite(result["bleu"])
    assert "test sacreBLEU" in capsys.readouterr().out


@pytest.mark.skipif(not translate_real.DEFAULT_DATA.exists(), reason="the Tatoeba fra.txt is not here")
def test_eval_split_valid_scores_the_validation_split(capsys):
    common = ["--quick", "--max-updates", "1"]
    test = translate_real.main(common)
    valid = translate_real.main(common + ["--eval-split", "valid", "--label-smoothing", "0"])
    capsys.readouterr()
    pairs = translate_real.attn.read_tatoeba(translate_real.DEFAULT_DATA, max_pairs=5000, seed=0)
    splits = translate_real.held_out_split(pairs, 10)
    assert test["test_pairs"] == min(100, len(splits.test))  # --quick decodes at most 100
    assert valid["test_pairs"] == min(100, len(splits.valid))
    assert valid["eval_split"] == "valid" and test["eval_split"] == "test"
    assert test["label_smoothing"] == 0.1  # the RNN default
    assert valid["label_smoothing"] == 0.0  # as given


def test_the_report_averages_where_the_models_fail(tmp_path):
    base = {"model": "bahdanau", "budget_s": 150, "updates": 100, "updates_per_s": 2.0, "decode_s": 1.0,
            "test_sentences": 3, "train_pairs": 10, "test_pairs": 3, "src_vocab": 5, "tgt_vocab": 6,
            "unk_share": 0.01, "settings": {"lr": 0.02}, "machine": "x86_64", "bleu": 20, "bleu_multi_ref": 30}

    def analysis(exact, short, unknown):
        return {"exact": exact, "by_length": {"1-4": {"sentences": 2, "bleu": short},
                                              "5-7": {"sentences": 1, "bleu": None}},
                "unknown_source": {"sentences": 1, "bleu": unknown},
                "known_source": {"sentences": 2, "bleu": 40.0}}

    path = tmp_path / "runs.jsonl"
    path.write_text("\n".join(json.dumps({**base, "seed": s, "analysis": a}) for s, a in enumerate(
        [analysis(0.1, 20.0, 5.0), analysis(0.2, 30.0, 15.0)])))
    table = translate_real.report(path)
    assert "| bahdanau | words | 150 | 2 | 15.0 | 25.0 | - | 10.0 | 40.0 |" in table
    assert "with an unknown word 1, without 2" in table
    path.write_text(json.dumps({**base, "seed": 0}))  # runs without an analysis: no table
    assert "Where the models fail" not in translate_real.report(path)


def test_the_record_names_the_processor(monkeypatch, tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Example CPU 9000\nflags\t: sse\n")
    assert translate_real.cpu_name(cpuinfo) == "Example CPU 9000"
    monkeypatch.setattr(translate_real.platform, "processor", lambda: "")
    assert translate_real.cpu_name(tmp_path / "absent") == "CPU"  # no cpuinfo, no platform name


def test_gpt_defaults_are_the_transformers_with_four_blocks():
    gpt = translate_real.parse(["--model", "gpt"])
    assert (gpt.lr, gpt.warmup, gpt.label_smoothing, gpt.num_layers) == (5e-3, 100, 0.0, 4)
    assert (gpt.num_hiddens, gpt.num_heads, gpt.ffn_hiddens, gpt.context_len) == (128, 4, 256, 34)
    assert set(translate_real.settings(gpt)) == set(translate_real.GPT_SETTINGS)


def test_the_gpt_reads_one_vocabulary_and_never_writes_unk():
    class Data:
        src_vocab = translate_real.attn.Vocab([["the", "cat", "."]])
        tgt_vocab = translate_real.attn.Vocab([["le", "chat", "."]])

    vocab = translate_real.gpt_vocab(Data)
    assert {"the", "cat", "le", "chat", ".", "="} <= set(vocab.idx_to_token) and len(vocab) == 10
    torch, attn = translate_real.torch, translate_real.attn

    class LovesUnk(attn.GPT):  # <unk> is always the likeliest next token
        def forward(self, *args, **kwargs):
            logits = super().forward(*args, **kwargs).clone()
            logits[..., vocab.unk] += 1000
            return logits

    torch.manual_seed(0)
    model = LovesUnk(attn.GPTConfig(len(vocab), context_len=8))
    wrapped = translate_real.NoUnk(model, vocab.unk)
    tokens = torch.tensor([[vocab.bos, vocab["the"]]])
    assert torch.isinf(wrapped(tokens)[..., vocab.unk]).all()
    assert torch.equal(wrapped(tokens)[..., :vocab.unk], model(tokens)[..., :vocab.unk])
    assert attn.translate_lm(model, vocab, [["the", "cat"]], max_len=4) == [["<unk>"] * 4]
    out = attn.translate_lm(wrapped, vocab, [["the", "cat"]], max_len=4)
    assert "<unk>" not in out[0]


@pytest.mark.skipif(not translate_real.DEFAULT_DATA.exists(), reason="the Tatoeba fra.txt is not here")
def test_quick_mode_trains_the_gpt_on_the_real_file(capsys):
    result = translate_real.main(["--quick", "--model", "gpt", "--seed", "1"])
    assert result["model"] == "gpt" and result["updates"] >= 1 and result["parameters"] > 0
    assert result["settings"]["num_layers"] == 4 and result["settings"]["warmup"] == 10
    assert result["lm_vocab"] <= result["src_vocab"] + result["tgt_vocab"] - 4 + 1
    assert 0 <= result["bleu"] <= 100 and math.isfinite(result["bleu"])
    assert "test sacreBLEU" in capsys.readouterr().out


# --- Subword units: --tokens bpe --merges N ---------------------------------------------------

def test_tokens_are_words_unless_bpe_is_asked_for():
    words, bpe = translate_real.parse([]), translate_real.parse(["--tokens", "bpe", "--merges", "500"])
    assert (words.tokens, words.context_len) == ("word", 34)
    assert (bpe.tokens, bpe.merges, bpe.context_len) == ("bpe", 500, None)  # set from the pieces
    assert translate_real.parse(["--tokens", "bpe", "--quick"]).merges == 300
    assert translate_real.settings(words)["merges"] is None  # words: no merges recorded
    assert translate_real.settings(bpe)["tokens"] == "bpe" and translate_real.settings(bpe)["merges"] == 500
    with pytest.raises(SystemExit):
        translate_real.parse(["--tokens", "bpe", "--merges", "-1"])
    with pytest.raises(SystemExit):
        translate_real.parse(["--tokens", "chars"])


def small_splits():
    pairs = translate_real.attn.synthetic_splits(translate_real.attn.SyntheticConfig(
        num_train=300, num_valid=10, num_test=20, seed=0))
    return pairs


def test_subwords_are_learned_on_the_training_split_of_each_language():
    splits = small_splits()
    splits.test = [(["zyzzyva"] * 3, ["zyzzyva"] * 3)] + splits.test  # a word only the test split has
    en, fr = translate_real.learn_subwords(splits.train, 50)
    assert en.merges == translate_real.attn.learn_merges(
        translate_real.attn.count_words(s for s, _ in splits.train), 50)
    assert fr.merges == translate_real.attn.learn_merges(
        translate_real.attn.count_words(t for _, t in splits.train), 50)
    assert len(en.segment("zyzzyva")) > 1  # never seen: in pieces
    units = translate_real.encode_splits(splits, (en, fr))
    for words, pieces in zip((splits.train, splits.valid, splits.test), (units.train, units.valid, units.test)):
        assert [(en.decode(s), fr.decode(t)) for s, t in pieces] == words
    assert translate_real.encode_splits(splits, None) is splits


def test_outputs_in_pieces_are_joined_into_words_before_scoring(capsys):
    """A model that writes each reference's pieces scores 100 against the word references."""
    attn = translate_real.attn
    splits = small_splits()
    subwords = translate_real.learn_subwords(splits.train, 50)
    units = translate_real.encode_splits(splits, subwords)
    data = attn.load_translation_data(units, batch_size=8, num_steps=40, max_size=None)
    words = attn.Vocab([s for s, _ in splits.train])
    corpus = translate_real.Corpus(splits, units, data, subwords, words, 0.0, 39, [1.0, 1.0])
    pieces_of = {tuple(s): t for s, t in units.test}

    def translate(sources):  # sources arrive as pieces: answer with the reference's pieces
        return [pieces_of[tuple(s)] for s in sources]

    history = attn.History(losses=[1.0, 0.5], seconds=1.0)
    args = translate_real.parse(["--tokens", "bpe", "--merges", "50"])
    record = translate_real.evaluate(args, corpus, history, translate)
    assert record["bleu"] == pytest.approx(100) and record["analysis"]["exact"] == 1.0
    assert (record["tokens"], record["merges"]) == ("bpe", 50)
    assert "</w>" not in capsys.readouterr().out  # the samples print words


def test_the_report_gives_each_kind_of_tokens_its_own_rows(tmp_path):
    base = {"model": "transformer", "budget_s": 150, "updates": 100, "updates_per_s": 2.0, "decode_s": 1.0,
            "test_sentences": 2, "train_pairs": 10, "test_pairs": 2, "src_vocab": 5, "tgt_vocab": 6,
            "unk_share": 0.01, "settings": {"lr": 0.005}, "machine": "x86_64", "bleu": 20,
            "bleu_multi_ref": 30, "seed": 0}
    bpe = {"tokens": "bpe", "merges": 4000, "src_vocab": 4050, "tgt_vocab": 4080, "unk_share": 0.0,
           "units_per_sentence": [7.5, 8.25], "updates": 80, "bleu": 24,
           "settings": {"lr": 0.005, "tokens": "bpe", "merges": 4000}}
    path = tmp_path / "runs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in (base, {**base, **bpe})))  # the first: no tokens
    table = translate_real.report(path)
    assert "| transformer | words | 150 | 1 | 20.0 ± nan (20.0) |" in table
    assert "| transformer | BPE, 4000 merges | 150 | 1 | 24.0 ± nan (24.0) | 30.0 ± nan (30.0) | 80 |" in table
    assert "With BPE, 4000 merges: vocabulary (en, fr) 4050, 4080, 7.5 and 8.2 per training sentence" in table
    assert 'Settings of transformer (BPE, 4000 merges): {"lr": 0.005, "tokens": "bpe"' in table


@pytest.mark.skipif(not translate_real.DEFAULT_DATA.exists(), reason="the Tatoeba fra.txt is not here")
@pytest.mark.parametrize("model", ["bahdanau", "transformer", "gpt"])
def test_quick_mode_trains_on_bpe_pieces_and_scores_words(model, capsys, monkeypatch):
    learned_on = []
    learn = translate_real.learn_subwords
    monkeypatch.setattr(translate_real, "learn_subwords",
                        lambda train, merges, joint=False: learned_on.append(len(train))
                        or learn(train, merges, joint))
    result = translate_real.main(["--quick", "--model", model, "--tokens", "bpe", "--seed", "1",
                                  "--threads", "1", "--max-updates", "5"])
    out = capsys.readouterr().out
    assert learned_on == [result["train_pairs"]]  # the training split only
    assert (result["tokens"], result["merges"], result["settings"]["merges"]) == ("bpe", 300, 300)
    assert result["src_vocab"] < 2000 and result["tgt_vocab"] < 2000  # pieces, not the 2,000 words
    assert result["units_per_sentence"][0] > 7  # longer than the 6.4 words of an English sentence
    assert result["unk_share"] < 0.01  # pieces leave almost no reference token unknown
    assert 0 <= result["bleu"] <= 100 and math.isfinite(result["bleu"])
    samples = [line for line in out.splitlines() if line.startswith("    -> ")]
    assert samples and not any("</w>" in line for line in samples)  # outputs joined into words
    assert json.loads(out.strip().splitlines()[-1]) == result


def test_the_report_reads_several_files_into_one_table(tmp_path, capsys):
    base = {"model": "transformer", "budget_s": 150, "updates": 100, "updates_per_s": 2.0, "decode_s": 1.0,
            "test_sentences": 2, "train_pairs": 10, "test_pairs": 2, "src_vocab": 5, "tgt_vocab": 6,
            "unk_share": 0.01, "settings": {"lr": 0.005}, "machine": "x86_64", "bleu": 20,
            "bleu_multi_ref": 30, "seed": 0}
    words, pieces = tmp_path / "words.jsonl", tmp_path / "pieces.jsonl"
    words.write_text(json.dumps(base) + "\n")
    pieces.write_text(json.dumps({**base, "tokens": "bpe", "merges": 2000, "bleu": 24}) + "\n")
    table = translate_real.report([words, pieces])
    assert table.index("| transformer | words |") < table.index("| transformer | BPE, 2000 merges |")
    assert translate_real.main(["--report", str(words), str(pieces)]) is None
    assert capsys.readouterr().out.strip() == table


def test_joint_bpe_cuts_a_name_the_same_way_in_both_languages():
    train = [(["tom", "sees", "the", "dog"], ["tom", "voit", "le", "chien"]),
             (["tom", "runs"], ["tom", "court"]), (["mary", "runs"], ["marie", "court"])]
    en, fr = translate_real.learn_subwords(train, 20)
    shared, same = translate_real.learn_subwords(train, 20, joint=True)
    assert shared is same and shared.merges != en.merges and shared.merges != fr.merges
    assert shared.segment("tom") == ["tom</w>"]  # 4 occurrences on both sides: learned first
    args = translate_real.parse(["--tokens", "bpe", "--merges", "20", "--joint"])
    assert translate_real.settings(args)["joint"] is True
    assert "joint" not in translate_real.settings(translate_real.parse(["--tokens", "bpe"]))
    assert translate_real.tokens_of({"tokens": "bpe", "merges": 20, "joint": True}) == \
        "joint BPE, 20 merges"
    with pytest.raises(SystemExit):
        translate_real.parse(["--joint"])  # words: nothing to share

