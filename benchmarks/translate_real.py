"""Train a translation model on the real Tatoeba English-French file under a time budget.

    python benchmarks/translate_real.py --data PATH/fra.txt --budget-s 150 --model bahdanau
    python benchmarks/translate_real.py --model transformer   # attn.Transformer, with its defaults
    python benchmarks/translate_real.py --model gpt   # a decoder-only attn.GPT, with its defaults
    python benchmarks/translate_real.py --tokens bpe --merges 4000   # subword units
    python benchmarks/translate_real.py --quick            # seconds; what pytest runs
    python benchmarks/translate_real.py --report runs.jsonl [more.jsonl ...]

The file is not part of the repository: download ``fra-eng.zip`` from
https://www.manythings.org/anki/ (CC-BY 2.0, from tatoeba.org). Without ``--data``
the script looks for ``../shared/data/fra-eng/fra.txt`` next to the repository.

The held-out split is deterministic and documented: after a length filter (at most
``--max-len`` tokens on both sides), the distinct English sentences are numbered in
file order; number 0, 100, 200, ... go to the test split and 50, 150, ... to the
validation split, each with all its French translations, and no English sentence of
either split is in the training split. BLEU is reported two ways: over the test
pairs, each pair one example with one reference (an English sentence with three
translations is scored three times, against each), and over the distinct English
test sentences, each translated once and scored against all its translations
(sacreBLEU's multi-reference mode).

A run trains with ``attn.train_seq2seq`` under the wall-clock budget (the cosine
schedule follows the budget), greedy-decodes the whole test split (the validation split with ``--eval-split valid``,
for choosing settings), and prints corpus
sacreBLEU, the updates and updates per second, the decoding time, five sample
translations, and at the end one JSON line for ``--report``.

The decoder-only model (``--model gpt``) reads each pair as one line ``english =
french`` over one vocabulary, the union of the English and the French vocabularies
(the same caps) and ``=``; it is trained with the loss on the French and ``<eos>``
only (``attn.lm_arrays(..., target_only=True)``, ``attn.train_lm``, batches bucketed
by length) and translates by greedy continuation of ``<bos> english =``
(``attn.translate_lm``), never writing ``<unk>`` unless ``--allow-unk``. Its output
is scored against the same references with the same sacreBLEU settings.

With ``--tokens bpe`` the models read and write byte-pair-encoding pieces
(``attn.BPE``, Sennrich et al. 2016) instead of words: ``--merges`` merges learned for
each language on its side of the training split only (English and French keep
separate vocabularies, as the word-level models do; no validation or test sentence is
read; with ``--joint``, one BPE learned on both sides' words, the same pieces for a
name in either language). The split, the length filter (in words) and the references
are those of the word-level rows; every sentence is encoded into pieces for training and decoding, and
the outputs are joined back into words before sacreBLEU, with the same settings. The
piece vocabularies hold every training piece (``--max-vocab`` is not applied to
them); ``--max-vocab`` still defines the word vocabulary that tells the failure
analysis which test sentences hold an unknown English word, so those groups are the
same sentences in word and subword rows.

A time budget measures the machine as much as the model: run it with nothing else on
the cores. OpenMP's default lets waiting threads spin, which is what a quiet machine
wants (measured on the slower machine of ``results.md``: 10.9 updates/s for the
Bahdanau model, against 7.4/s with ``OMP_WAIT_POLICY=PASSIVE``); on a machine that
is busy, spinning threads steal each other's cores and ``OMP_WAIT_POLICY=PASSIVE`` is
the better setting.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from typing import NamedTuple
from pathlib import Path

import torch

import attn

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "fra-eng" / "fra.txt"


def held_out_split(pairs, max_len: int, every: int = 100) -> attn.Splits:
    """Length-filtered pairs split by English sentence: test 0, every, 2 every, ...; valid every / 2, ..."""
    pairs = attn.filter_pairs(pairs, max_src_len=max_len, max_tgt_len=max_len)
    number = {}  # English sentence -> its number in file order
    for src, _ in pairs:
        number.setdefault(tuple(src), len(number))
    train, valid, test = [], [], []
    for pair in pairs:
        i = number[tuple(pair[0])] % every
        (test if i == 0 else valid if i == every // 2 else train).append(pair)
    return attn.Splits(train=train, valid=valid, test=test)


def multi_reference_bleu(outputs, references) -> float:
    """Corpus sacreBLEU of tokenized outputs, each against all of its tokenized references."""
    import sacrebleu

    most = max(map(len, references))
    streams = [[" ".join(refs[k]) if k < len(refs) else None for refs in references]
               for k in range(most)]  # sacreBLEU takes None where a sentence has fewer references
    bleu = sacrebleu.metrics.BLEU(tokenize="none", force=True)
    return bleu.corpus_score([" ".join(o) for o in outputs], streams).score


LENGTH_BUCKETS = ((1, 4), (5, 7), (8, 10))  # English sentence lengths in tokens, both ends included


def where_it_fails(sources, outputs, references, src_vocab) -> dict:
    """Aggregate measures of where a model's translations fall short (no sentence is kept).

    Args:
        sources: the distinct English test sentences (token lists).
        outputs: the model's translation of each (token lists).
        references: all French translations of each (lists of token lists).
        src_vocab: the English vocabulary, to tell which sentences hold an unknown word.

    Returns:
        ``exact``: the share of sentences translated exactly as one of their references;
        ``by_length``: per English length bucket ``"lo-hi"``, the number of sentences and
        their multi-reference BLEU; ``unknown_source`` / ``known_source``: the same for the
        sentences with and without a word outside the English vocabulary.
    """
    def part(indices):
        if not indices:
            return {"sentences": 0, "bleu": None}
        return {"sentences": len(indices),
                "bleu": multi_reference_bleu([outputs[i] for i in indices], [references[i] for i in indices])}

    exact = sum(list(o) in [list(r) for r in refs] for o, refs in zip(outputs, references)) / len(outputs)
    by_length = {f"{lo}-{hi}": part([i for i, s in enumerate(sources) if lo <= len(s) <= hi])
                 for lo, hi in LENGTH_BUCKETS}
    unknown = [i for i, s in enumerate(sources) if any(src_vocab[t] == src_vocab.unk for t in s)]
    known = sorted(set(range(len(sources))) - set(unknown))
    return {"exact": exact, "by_length": by_length, "unknown_source": part(unknown), "known_source": part(known)}


def run(args) -> dict:
    torch.set_num_threads(args.threads)
    attn.set_seed(args.seed)
    start = time.perf_counter()
    pairs = attn.read_tatoeba(args.data, max_pairs=args.max_pairs, seed=0)
    splits = held_out_split(pairs, args.max_len)
    if args.eval_split == "valid":  # for choosing settings without looking at the test split
        splits.test = splits.valid
    if args.max_test is not None:
        splits.test = splits.test[:args.max_test]
    words = attn.Vocab([src for src, _ in splits.train], args.min_freq, args.max_vocab)
    subwords = learn_subwords(splits.train, args.merges, args.joint) if args.tokens == "bpe" else None
    units = encode_splits(splits, subwords)  # what the models read and write: words or pieces
    # the length filter counts words; pieces: the longest training sentence (a longer test
    # source is cut to it, as attn.translate cuts every source to num_steps)
    max_units = args.max_len if subwords is None else max(len(s) for p in units.train for s in p)
    data = attn.load_translation_data(units, batch_size=args.batch_size, num_steps=max_units + 1,
                                      min_freq=args.min_freq, seed=args.seed,
                                      max_size=args.max_vocab if subwords is None else None)
    if args.context_len is None:  # the gpt: a prompt and up to 2 max_units + 2 output tokens
        args.context_len = 3 * max_units + 4
    test_refs = [tgt for _, tgt in units.test]
    unk_share = sum(data.tgt_vocab[t] == data.tgt_vocab.unk for r in test_refs for t in r)
    unk_share /= sum(map(len, test_refs))
    unit = "words" if subwords is None else "pieces"
    per_sentence = [statistics.mean(len(p[side]) for p in units.train) for side in (0, 1)]
    print(f"pairs {len(pairs)}, after the length filter: train {len(splits.train)}, "
          f"valid {len(splits.valid)}, test {len(splits.test)}; vocabulary of {unit} (en, fr) "
          f"{len(data.src_vocab)}, {len(data.tgt_vocab)}; {unit} per training sentence "
          f"(en, fr) {per_sentence[0]:.1f}, {per_sentence[1]:.1f}; <unk> in test references "
          f"{unk_share:.1%}; read in {time.perf_counter() - start:.1f} s", flush=True)

    corpus = Corpus(splits, units, data, subwords, words, unk_share, max_units, per_sentence)
    torch.manual_seed(args.seed)
    if args.model == "gpt":
        return run_gpt(args, corpus)
    if args.model == "transformer":
        model = attn.build_transformer(attn.TransformerConfig(
            len(data.src_vocab), len(data.tgt_vocab), num_hiddens=args.num_hiddens,
            num_heads=args.num_heads, ffn_hiddens=args.ffn_hiddens, num_layers=args.num_layers,
            dropout=args.dropout, norm_first=args.norm_first)).to(attn.get_device())
    else:
        model = rnn_model(args, data)
    history = attn.train_seq2seq(model, data.train_iter, data.tgt_vocab.bos, train_config(args))

    def translate(sources):
        return attn.translate(model, sources, data.src_vocab, data.tgt_vocab, data.num_steps,
                              max_len=2 * corpus.max_units + 2, allow_unk=args.allow_unk)[0]

    return evaluate(args, corpus, history, translate)


class Corpus(NamedTuple):
    """What a run reads: the word splits, the units the model sees, and their vocabularies."""

    splits: attn.Splits  # sentences as words: the references and the failure analysis read these
    units: attn.Splits  # the same sentences as the model's units: words, or BPE pieces
    data: attn.TranslationData  # vocabularies and loaders of the units
    subwords: tuple | None  # (English BPE, French BPE), or None for words
    words: attn.Vocab  # the English word vocabulary that tells which sentences hold unknown words
    unk_share: float  # share of <unk> in the test references, in units
    max_units: int  # the longest sentence, in units
    per_sentence: list  # mean units per training sentence, English and French


def learn_subwords(train, merges: int, joint: bool = False) -> tuple:
    """One BPE per language, learned from its side of the training pairs only.

    With ``joint``: one BPE learned from both sides' words together (Sennrich et al.
    2016's joint BPE), returned twice, so that a word both languages write alike, a
    name say, is cut into the same pieces on both sides.
    """
    if joint:
        shared = attn.BPE.learn(attn.count_words(s for pair in train for s in pair), merges)
        return shared, shared
    return tuple(attn.BPE.learn(attn.count_words(pair[side] for pair in train), merges)
                 for side in (0, 1))


def encode_splits(splits, subwords) -> attn.Splits:
    """The splits with every sentence cut into pieces (None: the splits themselves)."""
    if subwords is None:
        return splits
    en, fr = subwords
    return attn.Splits(*([(en.encode(src), fr.encode(tgt)) for src, tgt in part]
                         for part in (splits.train, splits.valid, splits.test)))


def train_config(args) -> attn.TrainConfig:
    """The training settings of every model: the budget, the cosine schedule, clipping."""
    return attn.TrainConfig(lr=args.lr, num_epochs=10_000, max_seconds=args.budget_s,
                            max_updates=args.max_updates, warmup=args.warmup,
                            grad_clip=1.0, schedule="cosine", seed=args.seed,
                            label_smoothing=args.label_smoothing,
                            progress=sys.stderr.isatty())


def gpt_vocab(data) -> attn.Vocab:
    """One vocabulary for "english = french" lines: the English and French ones and "="."""
    tokens = data.src_vocab.idx_to_token[4:] + data.tgt_vocab.idx_to_token[4:]
    return attn.Vocab([tokens, [attn.lm.SEPARATOR]])


class NoUnk(torch.nn.Module):
    """A language model whose logit of ``<unk>`` is minus infinity: greedy decoding never writes it."""

    def __init__(self, model, unk: int):
        super().__init__()
        self.model, self.unk, self.config = model, unk, model.config

    @property
    def vocab_size(self) -> int:
        return self.model.vocab_size

    def new_cache(self):
        return self.model.new_cache()

    def forward(self, *args, **kwargs):
        logits = self.model(*args, **kwargs).clone()
        logits[..., self.unk] = -math.inf
        return logits


def run_gpt(args, corpus) -> dict:
    """Train a decoder-only attn.GPT on "english = french" lines, loss on the French only."""
    data = corpus.data
    vocab = gpt_vocab(data)
    train = [p for p in corpus.units.train if attn.lm.SEPARATOR not in p[0]]  # "=" marks the French
    inputs, targets = attn.lm_arrays(attn.translation_lines(train), vocab,
                                     2 * corpus.max_units + 2, target_only=True)
    loader = attn.lm_loader(inputs, targets, batch_size=args.batch_size, seed=args.seed,
                            bucket=True)
    config = attn.GPTConfig(len(vocab), context_len=args.context_len, num_layers=args.num_layers,
                            num_hiddens=args.num_hiddens, num_heads=args.num_heads,
                            ffn_hiddens=args.ffn_hiddens, dropout=args.dropout)
    torch.manual_seed(args.seed)
    model = attn.GPT(config).to(attn.get_device())
    print(f"GPT: joint vocabulary {len(vocab)}, {attn.num_parameters(config)} parameters, "
          f"{len(train)} training lines", flush=True)
    history = attn.train_lm(model, loader, train_config(args))
    decoder = model if args.allow_unk else NoUnk(model, vocab.unk)

    def translate(sources):
        return attn.translate_lm(decoder, vocab, sources, max_len=2 * corpus.max_units + 2)

    record = evaluate(args, corpus, history, translate)
    return {**record, "lm_vocab": len(vocab), "parameters": attn.num_parameters(config)}


def rnn_model(args, data):
    config = attn.Seq2SeqConfig(len(data.src_vocab), len(data.tgt_vocab), embed_size=args.embed_size,
                                num_hiddens=args.num_hiddens, attention=args.model == "bahdanau",
                                num_layers=args.num_layers, dropout=args.dropout,
                                attention_hiddens=args.attention_hiddens, output_hiddens=args.output_hiddens,
                                bidirectional=args.bidirectional)
    return attn.build_model(config).to(attn.get_device())


def evaluate(args, corpus, history, translate) -> dict:
    """Greedy-decode the test split, print BLEU and samples, return the run's record.

    ``translate``: a function from English sentences to French ones, in the model's
    units (words or pieces). Pieces are joined back into words before scoring: the
    references, the sacreBLEU settings and the failure analysis are those of words.
    """
    splits, data = corpus.splits, corpus.data
    test_refs = [tgt for _, tgt in splits.test]
    updates = len(history.losses)
    print(f"trained {updates} updates in {history.seconds:.1f} s ({updates / history.seconds:.1f}/s), "
          f"last loss {history.losses[-1]:.3f}", flush=True)

    start = time.perf_counter()
    references = {}  # each distinct English test sentence -> all its French translations
    for src, tgt in splits.test:
        references.setdefault(tuple(src), []).append(tgt)
    sources = [list(src) for src in references]
    if corpus.subwords is None:
        outputs = translate(sources)
    else:
        en, fr = corpus.subwords
        outputs = [fr.decode(out) for out in translate([en.encode(src) for src in sources])]
    decode_s = time.perf_counter() - start
    output_of = {tuple(src): out for src, out in zip(sources, outputs)}
    bleu = attn.sacrebleu_corpus([output_of[tuple(src)] for src, _ in splits.test], test_refs)
    bleu_multi = multi_reference_bleu(outputs, list(references.values()))
    print(f"test sacreBLEU {bleu:.2f} on {len(splits.test)} pairs (one reference each), "
          f"{bleu_multi:.2f} on {len(sources)} sentences (all their references); "
          f"decoded in {decode_s:.1f} s")
    for i in range(0, len(sources), max(1, len(sources) // 5))[:5]:
        print(f"  {' '.join(sources[i])}\n    -> {' '.join(outputs[i])}\n    references: "
              + " | ".join(" ".join(r) for r in references[tuple(sources[i])]))
    analysis = where_it_fails(sources, outputs, list(references.values()), corpus.words)
    print(f"exact translations {analysis['exact']:.1%}; BLEU by English length "
          + ", ".join(f"{k}: {v['bleu']:.1f} ({v['sentences']})" for k, v in analysis["by_length"].items()
                      if v["bleu"] is not None)
          + f"; with an unknown English word {analysis['unknown_source']['bleu'] or 0:.1f} "
          f"({analysis['unknown_source']['sentences']}), without {analysis['known_source']['bleu'] or 0:.1f}")
    return {"model": args.model, "seed": args.seed, "budget_s": args.budget_s, "bleu": bleu,
            "eval_split": args.eval_split, "label_smoothing": args.label_smoothing,
            "bleu_multi_ref": bleu_multi, "test_sentences": len(sources), "analysis": analysis,
            "updates": updates, "updates_per_s": updates / history.seconds, "decode_s": decode_s,
            "train_pairs": len(splits.train), "test_pairs": len(splits.test),
            "src_vocab": len(data.src_vocab), "tgt_vocab": len(data.tgt_vocab), "unk_share": corpus.unk_share,
            "tokens": args.tokens, "merges": args.merges if args.tokens == "bpe" else None,
            **({"joint": True} if args.joint else {}),
            "units_per_sentence": corpus.per_sentence,
            "settings": settings(args),
            "machine": f"{platform.machine()}, {cpu_name()}, {os.cpu_count()} cores, "
                       f"{torch.get_num_threads()} threads, torch {torch.__version__}"}


def cpu_name(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The processor's model name from Linux's ``cpuinfo``, else what ``platform`` knows, else "CPU"."""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "CPU"


RNN_SETTINGS = ("max_len", "min_freq", "max_vocab", "batch_size", "embed_size", "num_hiddens",
                "attention_hiddens", "output_hiddens", "bidirectional", "num_layers", "dropout", "lr",
                "label_smoothing", "threads", "allow_unk", "tokens", "merges")


TRANSFORMER_SETTINGS = ("max_len", "min_freq", "max_vocab", "batch_size", "num_hiddens", "num_heads",
                        "ffn_hiddens", "num_layers", "norm_first", "dropout", "lr", "warmup",
                        "label_smoothing", "threads", "allow_unk", "tokens", "merges")


GPT_SETTINGS = ("max_len", "min_freq", "max_vocab", "batch_size", "num_hiddens", "num_heads",
                "ffn_hiddens", "num_layers", "context_len", "dropout", "lr", "warmup",
                "label_smoothing", "threads", "allow_unk", "tokens", "merges")


def settings(args) -> dict:
    """The settings of a run, as its JSON record keeps them (``merges`` is None for words)."""
    names = {"gpt": GPT_SETTINGS, "transformer": TRANSFORMER_SETTINGS}.get(args.model, RNN_SETTINGS)
    values = {k: getattr(args, k) for k in names}
    if values["tokens"] == "word":
        values["merges"] = None
    if args.joint:  # only then: the records made before --joint compare equal
        values["joint"] = True
    return values


def tokens_of(record) -> str:
    """What a run's model read and wrote, for the report: "words" or "BPE, N merges"."""
    if record.get("tokens", "word") == "word":  # records made before --tokens read words
        return "words"
    return f"{'joint ' if record.get('joint') else ''}BPE, {record['merges']} merges"


def report(paths) -> str:
    """A markdown table of the runs in JSON-lines files: BLEU as mean and spread over seeds.

    ``paths``: one path or several (their runs are read in order, one table for all).
    """
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    runs = [json.loads(line) for path in paths
            for line in Path(path).read_text().splitlines() if line.strip()]
    groups = {}
    for r in runs:
        groups.setdefault((r["model"], tokens_of(r), r["budget_s"]), []).append(r)
    def spread(values):
        sd = statistics.stdev(values) if len(values) > 1 else math.nan
        return f"{statistics.mean(values):.1f} ± {sd:.1f} ({', '.join(f'{v:.1f}' for v in values)})"

    lines = ["| model | tokens | budget (s) | seeds | sacreBLEU, test pairs (1 reference) | "
             "sacreBLEU, test sentences (all references) | updates | updates/s | decode (s) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for (model, tokens, budget), rs in groups.items():
        lines.append(f"| {model} | {tokens} | {budget:g} | {len(rs)} | {spread([r['bleu'] for r in rs])} | "
                     f"{spread([r['bleu_multi_ref'] for r in rs])} | "
                     f"{statistics.mean(r['updates'] for r in rs):.0f} | "
                     f"{statistics.mean(r['updates_per_s'] for r in rs):.1f} | "
                     f"{statistics.mean(r['decode_s'] for r in rs):.1f} |")
    first = runs[0]
    for model, tokens in dict.fromkeys((r["model"], tokens_of(r)) for r in runs):
        first_of = next(r for r in runs if (r["model"], tokens_of(r)) == (model, tokens))
        if first_of["settings"] != first["settings"]:  # a model with other settings: its own line
            name = model if tokens == "words" else f"{model} ({tokens})"
            lines += ["", f"Settings of {name}: {json.dumps(first_of['settings'])}."]
    lines += ["", f"Settings: {json.dumps(first['settings'])}; training pairs {first['train_pairs']}, "
              f"test pairs {first['test_pairs']} ({first['test_sentences']} sentences), vocabulary (en, fr) {first['src_vocab']}, "
              f"{first['tgt_vocab']}, <unk> in the test references {first['unk_share']:.1%}. "
              f"Machine: {first['machine']}."]
    for tokens in dict.fromkeys(map(tokens_of, runs)):  # subwords: other vocabularies, longer lines
        r = next(r for r in runs if tokens_of(r) == tokens)
        if tokens != tokens_of(first) or "units_per_sentence" in r:
            per = r.get("units_per_sentence")
            lines += ["", f"With {tokens}: vocabulary (en, fr) {r['src_vocab']}, {r['tgt_vocab']}"
                      + (f", {per[0]:.1f} and {per[1]:.1f} per training sentence" if per else "")
                      + f", <unk> in the test references {r['unk_share']:.1%}."]
    return "\n".join(lines + failure_table(groups))


def failure_table(groups) -> list[str]:
    """Markdown lines: the mean of each model's ``analysis`` over its seeds (none if absent)."""
    rows = []
    for (model, tokens, budget), rs in groups.items():
        found = [r["analysis"] for r in rs if "analysis" in r]
        if not found:
            continue
        def mean(get):
            values = [get(a) for a in found if get(a) is not None]
            return f"{statistics.mean(values):.1f}" if values else "-"
        cells = [mean(lambda a: 100 * a["exact"])]
        cells += [mean(lambda a, b=b: a["by_length"][b]["bleu"]) for b in found[0]["by_length"]]
        cells += [mean(lambda a: a["unknown_source"]["bleu"]), mean(lambda a: a["known_source"]["bleu"])]
        rows.append(f"| {model} | {tokens} | {budget:g} | {len(found)} | " + " | ".join(cells) + " |")
    if not rows:
        return []
    first = next(r["analysis"] for rs in groups.values() for r in rs if "analysis" in r)
    buckets = list(first["by_length"])
    sizes = ", ".join(f"{b}: {first['by_length'][b]['sentences']}" for b in buckets)
    head = ("| model | tokens | budget (s) | seeds | exact (%) | "
            + " | ".join(f"BLEU, {b} tokens" for b in buckets)
            + " | BLEU, an English word unknown | BLEU, all words known |")
    return ["", "## Where the models fail", "",
            "Means over the seeds of each run's aggregate analysis of the distinct test sentences "
            "(sacreBLEU against all references): translations equal to one of the references, "
            "BLEU by English length, and BLEU of the sentences with and without an English word "
            f"outside the vocabulary. Sentences per group: {sizes}; with an unknown word "
            f"{first['unknown_source']['sentences']}, without {first['known_source']['sentences']}.",
            "", head, "| --- " * (6 + len(buckets)) + "| --- |", *rows]


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the Tatoeba fra.txt")
    parser.add_argument("--model", choices=["bahdanau", "baseline", "transformer", "gpt"],
                        default="bahdanau", help="gpt: a pre-norm decoder-only attn.GPT of 4 blocks "
                        "(as many as the transformer's 2 + 2), width 128, 4 heads, FFN 256, "
                        "learned positions, tied embeddings; lr 5e-3, warm-up 100, no label smoothing")
    parser.add_argument("--budget-s", type=float, default=150.0, help="seconds of training")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-len", type=int, default=10, help="most tokens per sentence, both sides")
    parser.add_argument("--min-freq", type=int, default=1)
    parser.add_argument("--max-vocab", type=int, default=3000, help="most entries per vocabulary")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--embed-size", type=int, default=64)
    parser.add_argument("--num-hiddens", type=int, default=128)
    parser.add_argument("--attention-hiddens", type=int, default=32)
    parser.add_argument("--output-hiddens", type=int, default=128,
                        help="maxout size before the output layer (0: none)")
    parser.add_argument("--max-updates", type=int, default=None, help="also stop after this many updates")
    parser.add_argument("--bidirectional", action="store_true", help="a bidirectional encoder")
    parser.add_argument("--num-layers", type=int, default=None, help="default 1; transformer 2; gpt 4")
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--lr", type=float, default=None, help="default 0.02; transformer and gpt 5e-3")
    # the Transformer's own settings; --num-hiddens, --num-layers and --dropout are shared
    parser.add_argument("--num-heads", type=int, default=4)
    parser.add_argument("--ffn-hiddens", type=int, default=256)
    parser.add_argument("--norm-first", action="store_true", help="pre-norm blocks (the gpt's always are)")
    parser.add_argument("--context-len", type=int, default=None, help="gpt: most tokens of a line "
                        "with its output (default 3 max-len + 4: a prompt and 2 max-len + 2 output tokens)")
    parser.add_argument("--warmup", type=int, default=None, help="updates of linear warm-up "
                        "(default 0; transformer and gpt 100)")
    parser.add_argument("--label-smoothing", type=float, default=None, help="of the training loss "
                        "(default 0.1; transformer and gpt 0: for the transformer 0 scored higher on the "
                        "validation split)")
    parser.add_argument("--eval-split", choices=["test", "valid"], default="test",
                        help="score the validation split instead (to choose settings)")
    parser.add_argument("--allow-unk", action="store_true", help="let the decoder write <unk>")
    parser.add_argument("--max-pairs", type=int, default=None, help="a random sample of the file")
    parser.add_argument("--max-test", type=int, default=None, help="decode only this many test pairs")
    parser.add_argument("--tokens", choices=["word", "bpe"], default="word",
                        help="what the models read and write: words, or byte-pair-encoding pieces "
                        "learned on the training split for each language")
    parser.add_argument("--merges", type=int, default=4000,
                        help="with --tokens bpe: BPE merges per language (--quick: at most 300)")
    parser.add_argument("--joint", action="store_true",
                        help="with --tokens bpe: one BPE learned on both languages' training words")
    parser.add_argument("--quick", action="store_true", help="a few seconds on a sample, for tests")
    parser.add_argument("--report", type=Path, nargs="+",
                        help="print the markdown tables of the runs in JSON-lines files")
    args = parser.parse_args(argv)
    transformer = args.model in ("transformer", "gpt")  # the gpt takes the transformer's defaults
    if args.lr is None:
        args.lr = 5e-3 if transformer else 0.02
    if args.num_layers is None:
        args.num_layers = 4 if args.model == "gpt" else 2 if transformer else 1
    if args.merges < 0:
        parser.error(f"--merges must be >= 0, got {args.merges}")
    if args.joint and args.tokens != "bpe":
        parser.error("--joint needs --tokens bpe")
    if args.context_len is None and args.tokens == "word":  # with pieces: set from their lengths
        args.context_len = 3 * args.max_len + 4
    if args.warmup is None:
        args.warmup = 100 if transformer else 0
    if args.label_smoothing is None:
        args.label_smoothing = 0.0 if transformer else 0.1
    args.output_hiddens = args.output_hiddens or None  # 0: the output layer reads [output, context]
    if args.quick:
        args.budget_s, args.max_pairs, args.max_test = 3.0, 5000, 100
        args.embed_size, args.num_hiddens, args.max_vocab = 32, 64, 2000
        args.ffn_hiddens, args.warmup = 128, min(args.warmup, 10)
        args.merges = min(args.merges, 300)
    return args


def main(argv=None) -> dict | None:
    args = parse(argv)
    if args.report:
        print(report(args.report))
        return None
    if not args.data.exists():
        sys.exit(f"no data at {args.data}: download fra-eng.zip from https://www.manythings.org/anki/")
    result = run(args)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
