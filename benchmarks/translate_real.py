"""Train a translation model on the real Tatoeba English-French file under a time budget.

    python benchmarks/translate_real.py --data PATH/fra.txt --budget-s 150 --model bahdanau
    python benchmarks/translate_real.py --model transformer   # attn.Transformer, with its defaults
    python benchmarks/translate_real.py --model gpt   # a decoder-only attn.GPT, with its defaults
    python benchmarks/translate_real.py --quick            # seconds; what pytest runs
    python benchmarks/translate_real.py --report runs.jsonl > benchmarks/results.md

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
    data = attn.load_translation_data(splits, batch_size=args.batch_size, num_steps=args.max_len + 1,
                                      min_freq=args.min_freq, max_size=args.max_vocab, seed=args.seed)
    test_refs = [tgt for _, tgt in splits.test]
    unk_share = sum(data.tgt_vocab[t] == data.tgt_vocab.unk for r in test_refs for t in r)
    unk_share /= sum(map(len, test_refs))
    print(f"pairs {len(pairs)}, after the length filter: train {len(splits.train)}, "
          f"valid {len(splits.valid)}, test {len(splits.test)}; vocabulary (en, fr) "
          f"{len(data.src_vocab)}, {len(data.tgt_vocab)}; <unk> in test references {unk_share:.1%}; "
          f"read in {time.perf_counter() - start:.1f} s", flush=True)

    torch.manual_seed(args.seed)
    if args.model == "gpt":
        return run_gpt(args, splits, data, unk_share)
    if args.model == "transformer":
        model = attn.build_transformer(attn.TransformerConfig(
            len(data.src_vocab), len(data.tgt_vocab), num_hiddens=args.num_hiddens,
            num_heads=args.num_heads, ffn_hiddens=args.ffn_hiddens, num_layers=args.num_layers,
            dropout=args.dropout, norm_first=args.norm_first)).to(attn.get_device())
    else:
        model = rnn_model(args, data)
    history = attn.train_seq2seq(model, data.train_iter, data.tgt_vocab.bos, train_config(args))
    return evaluate(args, splits, data, model, history, unk_share)


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


def run_gpt(args, splits, data, unk_share) -> dict:
    """Train a decoder-only attn.GPT on "english = french" lines, loss on the French only."""
    vocab = gpt_vocab(data)
    train = [p for p in splits.train if attn.lm.SEPARATOR not in p[0]]  # "=" marks the French
    inputs, targets = attn.lm_arrays(attn.translation_lines(train), vocab,
                                     2 * args.max_len + 2, target_only=True)
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
        return attn.translate_lm(decoder, vocab, sources, max_len=2 * args.max_len + 2)

    record = evaluate(args, splits, data, model, history, unk_share, translate)
    return {**record, "lm_vocab": len(vocab), "parameters": attn.num_parameters(config)}


def rnn_model(args, data):
    config = attn.Seq2SeqConfig(len(data.src_vocab), len(data.tgt_vocab), embed_size=args.embed_size,
                                num_hiddens=args.num_hiddens, attention=args.model == "bahdanau",
                                num_layers=args.num_layers, dropout=args.dropout,
                                attention_hiddens=args.attention_hiddens, output_hiddens=args.output_hiddens,
                                bidirectional=args.bidirectional)
    return attn.build_model(config).to(attn.get_device())


def evaluate(args, splits, data, model, history, unk_share, translate=None) -> dict:
    """Greedy-decode the test split, print BLEU and samples, return the run's record.

    ``translate``: None (an encoder-decoder, ``attn.translate``) or a function from
    English token lists to French token lists.
    """
    test_refs = [tgt for _, tgt in splits.test]
    updates = len(history.losses)
    print(f"trained {updates} updates in {history.seconds:.1f} s ({updates / history.seconds:.1f}/s), "
          f"last loss {history.losses[-1]:.3f}", flush=True)

    start = time.perf_counter()
    references = {}  # each distinct English test sentence -> all its French translations
    for src, tgt in splits.test:
        references.setdefault(tuple(src), []).append(tgt)
    sources = [list(src) for src in references]
    if translate is None:
        outputs, _ = attn.translate(model, sources, data.src_vocab, data.tgt_vocab, data.num_steps,
                                    max_len=2 * args.max_len + 2, allow_unk=args.allow_unk)
    else:
        outputs = translate(sources)
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
    analysis = where_it_fails(sources, outputs, list(references.values()), data.src_vocab)
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
            "src_vocab": len(data.src_vocab), "tgt_vocab": len(data.tgt_vocab), "unk_share": unk_share,
            "settings": settings(args) if args.model in ("transformer", "gpt") else
                        {k: getattr(args, k) for k in ("max_len", "min_freq", "max_vocab", "batch_size",
                                                       "embed_size", "num_hiddens", "attention_hiddens", "output_hiddens",
                                                       "bidirectional", "num_layers",
                                                       "dropout", "lr", "label_smoothing", "threads", "allow_unk")},
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


TRANSFORMER_SETTINGS = ("max_len", "min_freq", "max_vocab", "batch_size", "num_hiddens", "num_heads",
                        "ffn_hiddens", "num_layers", "norm_first", "dropout", "lr", "warmup",
                        "label_smoothing", "threads", "allow_unk")


GPT_SETTINGS = ("max_len", "min_freq", "max_vocab", "batch_size", "num_hiddens", "num_heads",
                "ffn_hiddens", "num_layers", "context_len", "dropout", "lr", "warmup",
                "label_smoothing", "threads", "allow_unk")


def settings(args) -> dict:
    """The settings of a Transformer or GPT run, as its JSON record keeps them."""
    return {k: getattr(args, k) for k in (GPT_SETTINGS if args.model == "gpt" else TRANSFORMER_SETTINGS)}


def report(path: Path) -> str:
    """A markdown table of the runs in a JSON-lines file: BLEU as mean and spread over seeds."""
    runs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    groups = {}
    for r in runs:
        groups.setdefault((r["model"], r["budget_s"]), []).append(r)
    def spread(values):
        sd = statistics.stdev(values) if len(values) > 1 else math.nan
        return f"{statistics.mean(values):.1f} ± {sd:.1f} ({', '.join(f'{v:.1f}' for v in values)})"

    lines = ["| model | budget (s) | seeds | sacreBLEU, test pairs (1 reference) | "
             "sacreBLEU, test sentences (all references) | updates | updates/s | decode (s) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for (model, budget), rs in groups.items():
        lines.append(f"| {model} | {budget:g} | {len(rs)} | {spread([r['bleu'] for r in rs])} | "
                     f"{spread([r['bleu_multi_ref'] for r in rs])} | "
                     f"{statistics.mean(r['updates'] for r in rs):.0f} | "
                     f"{statistics.mean(r['updates_per_s'] for r in rs):.1f} | "
                     f"{statistics.mean(r['decode_s'] for r in rs):.1f} |")
    first = runs[0]
    for model in dict.fromkeys(r["model"] for r in runs):  # a model with other settings: its own line
        first_of = next(r for r in runs if r["model"] == model)
        if first_of["settings"] != first["settings"]:
            lines += ["", f"Settings of {model}: {json.dumps(first_of['settings'])}."]
    lines += ["", f"Settings: {json.dumps(first['settings'])}; training pairs {first['train_pairs']}, "
              f"test pairs {first['test_pairs']} ({first['test_sentences']} sentences), vocabulary (en, fr) {first['src_vocab']}, "
              f"{first['tgt_vocab']}, <unk> in the test references {first['unk_share']:.1%}. "
              f"Machine: {first['machine']}."]
    return "\n".join(lines + failure_table(groups))


def failure_table(groups) -> list[str]:
    """Markdown lines: the mean of each model's ``analysis`` over its seeds (none if absent)."""
    rows = []
    for (model, budget), rs in groups.items():
        found = [r["analysis"] for r in rs if "analysis" in r]
        if not found:
            continue
        def mean(get):
            values = [get(a) for a in found if get(a) is not None]
            return f"{statistics.mean(values):.1f}" if values else "-"
        cells = [mean(lambda a: 100 * a["exact"])]
        cells += [mean(lambda a, b=b: a["by_length"][b]["bleu"]) for b in found[0]["by_length"]]
        cells += [mean(lambda a: a["unknown_source"]["bleu"]), mean(lambda a: a["known_source"]["bleu"])]
        rows.append(f"| {model} | {budget:g} | {len(found)} | " + " | ".join(cells) + " |")
    if not rows:
        return []
    first = next(r["analysis"] for rs in groups.values() for r in rs if "analysis" in r)
    buckets = list(first["by_length"])
    sizes = ", ".join(f"{b}: {first['by_length'][b]['sentences']}" for b in buckets)
    head = ("| model | budget (s) | seeds | exact (%) | "
            + " | ".join(f"BLEU, {b} tokens" for b in buckets)
            + " | BLEU, an English word unknown | BLEU, all words known |")
    return ["", "## Where the models fail", "",
            "Means over the seeds of each run's aggregate analysis of the distinct test sentences "
            "(sacreBLEU against all references): translations equal to one of the references, "
            "BLEU by English length, and BLEU of the sentences with and without an English word "
            f"outside the vocabulary. Sentences per group: {sizes}; with an unknown word "
            f"{first['unknown_source']['sentences']}, without {first['known_source']['sentences']}.",
            "", head, "| --- " * (5 + len(buckets)) + "| --- |", *rows]


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
    parser.add_argument("--quick", action="store_true", help="a few seconds on a sample, for tests")
    parser.add_argument("--report", type=Path, help="print the markdown table of a JSON-lines file")
    args = parser.parse_args(argv)
    transformer = args.model in ("transformer", "gpt")  # the gpt takes the transformer's defaults
    if args.lr is None:
        args.lr = 5e-3 if transformer else 0.02
    if args.num_layers is None:
        args.num_layers = 4 if args.model == "gpt" else 2 if transformer else 1
    if args.context_len is None:
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
