"""The book's benchmark suite: one table of speed and memory, written to benchmarks/results.md.

Measurements (all on the CPU, in this one process, with ``--threads`` threads):

* forward+backward time of ``attn.MultiHeadAttention`` against
  ``torch.nn.MultiheadAttention`` (fast path: ``need_weights=False``, fused SDPA;
  explicit path: ``need_weights=True``, per-head weights), and of
  ``attn.DotProductAttention`` against ``F.scaled_dot_product_attention``, at
  batch 32, 128 tokens, width 256, 8 heads. Ours and PyTorch's take turns, and
  the ratio is the median of the run-by-run ratios (``bench_multihead.paired_medians``);
* forward time and peak memory (``attn.PeakMemory``) of ``attn.naive_attention``
  and ``attn.tiled_attention`` at 512, 1024, 2048 and 4096 tokens;
* greedy decoding with ``attn.Transformer`` with and without its key-value
  cache, 20, 40, 80 and 160 tokens;
* the execution time of every notebook in ``book/``, each in a fresh kernel,
  and their total.

Each row names the target it is judged against. Run from the repository root::

    python benchmarks/run.py            # the full suite (several minutes), writes results.md
    python benchmarks/run.py --quick    # small sizes, seconds; prints only (a smoke test)

The table replaces the part of results.md between the two marker comments
``<!-- benchmarks/run.py: begin -->`` and ``<!-- benchmarks/run.py: end -->``
(appended at the end when they are missing); the rest of the file is kept.
"""

from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import platform
import statistics
import sys
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from bench_multihead import paired_medians  # noqa: E402
from translate_real import cpu_name  # noqa: E402

import attn  # noqa: E402

BEGIN = "<!-- benchmarks/run.py: begin -->"
END = "<!-- benchmarks/run.py: end -->"


@dataclass
class Row:
    """One line of the table."""

    benchmark: str
    setting: str
    measured: str
    reference: str = ""
    ratio: str = ""
    target: str = ""


@dataclass
class Sizes:
    """Problem sizes of a run; ``--quick`` shrinks every one of them."""

    batch: int = 32
    tokens: int = 128
    width: int = 256
    heads: int = 8
    repeats: int = 20
    lengths: tuple = (512, 1024, 2048, 4096)
    attention_heads: int = 4
    head_dim: int = 64
    block: int = 256
    memory_repeats: int = 3
    decode_lengths: tuple = (20, 40, 80, 160)
    decode_batch: int = 8
    decode_repeats: int = 3


QUICK = Sizes(batch=2, tokens=8, width=16, heads=2, repeats=1, lengths=(32, 64), head_dim=8,
              block=16, memory_repeats=1, decode_lengths=(2, 4), decode_batch=2, decode_repeats=1)


def median_time(fn, repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def add(rows: list, row: "Row") -> None:
    """Append a row, and show it on stderr while the suite runs (the table comes at the end)."""
    rows.append(row)
    print(f"  {row.benchmark}: {row.measured} vs {row.reference or '-'}", file=sys.stderr, flush=True)


def verdict(ok: bool) -> str:
    return "met" if ok else "missed"


# --- multi-head attention and the dot product against PyTorch --------------------------------

def copy_weights(theirs: nn.MultiheadAttention, ours: attn.MultiHeadAttention) -> None:
    """PyTorch's (3E, E) in-projection and out-projection into our W_q, W_k, W_v, W_o."""
    E = theirs.embed_dim
    with torch.no_grad():
        for i, layer in enumerate((ours.W_q, ours.W_k, ours.W_v)):
            layer.weight.copy_(theirs.in_proj_weight[i * E:(i + 1) * E])
            layer.bias.copy_(theirs.in_proj_bias[i * E:(i + 1) * E])
        ours.W_o.weight.copy_(theirs.out_proj.weight)
        ours.W_o.bias.copy_(theirs.out_proj.bias)


def bench_multihead_attention(s: Sizes) -> list[Row]:
    torch.manual_seed(0)
    E, H, B, L = s.width, s.heads, s.batch, s.tokens
    theirs = nn.MultiheadAttention(E, H, bias=True, batch_first=True)
    ours = attn.MultiHeadAttention(E, H, bias=True)
    copy_weights(theirs, ours)
    ours.train(), theirs.train()  # dropout is 0: training mode only makes autograd record
    x = torch.randn(B, L, E)
    setting = f"B={B}, L={L}, E={E}, H={H}, fwd+bwd"
    rows = []
    for path, need_weights, target in (("fast path (SDPA)", False, 1.2),
                                       ("explicit path (need_weights)", True, None)):
        def run_ours(nw=need_weights):
            out = ours(x, x, x, need_weights=nw)
            (out[0] if nw else out).sum().backward()

        def run_theirs(nw=need_weights):
            theirs(x, x, x, need_weights=nw, average_attn_weights=False)[0].sum().backward()

        with torch.no_grad():  # the two must agree before their speed means anything
            a = ours(x, x, x, need_weights=need_weights)
            b = theirs(x, x, x, need_weights=need_weights, average_attn_weights=False)[0]
            torch.testing.assert_close(a[0] if need_weights else a, b, atol=1e-5, rtol=0)
        t_ours, t_theirs, ratio = paired_medians(run_ours, run_theirs, s.repeats)
        add(rows, Row(f"attn.MultiHeadAttention, {path} / nn.MultiheadAttention", setting,
                        f"{1e3 * t_ours:.2f} ms", f"{1e3 * t_theirs:.2f} ms", f"{ratio:.2f}",
                        f"<= {target} ({verdict(ratio <= target)})" if target else "reported"))

    D = E // H
    q, k, v = (torch.randn(B, H, L, D, requires_grad=True) for _ in range(3))  # (B, H, L, D)
    dot = attn.DotProductAttention()

    def run_dot():  # DotProductAttention works on (B*H, L, D): the heads as batch
        flat = [t.reshape(B * H, L, D) for t in (q, k, v)]
        dot(*flat).sum().backward()

    def run_sdpa():
        F.scaled_dot_product_attention(q, k, v).sum().backward()

    with torch.no_grad():
        torch.testing.assert_close(dot(*[t.reshape(B * H, L, D) for t in (q, k, v)]).view(B, H, L, D),
                                   F.scaled_dot_product_attention(q, k, v), atol=1e-5, rtol=0)
    t_ours, t_theirs, ratio = paired_medians(run_dot, run_sdpa, s.repeats)
    add(rows, Row("attn.DotProductAttention / F.scaled_dot_product_attention",
                    f"B={B}, H={H}, L=S={L}, D={D}, fwd+bwd", f"{1e3 * t_ours:.2f} ms",
                    f"{1e3 * t_theirs:.2f} ms", f"{ratio:.2f}", "reported"))
    return rows


# --- tiled against naive attention ----------------------------------------------------------

def bench_tiled(s: Sizes) -> list[Row]:
    torch.manual_seed(0)
    rows, previous = [], None
    for n in s.lengths:
        x = torch.randn(1, s.attention_heads, n, s.head_dim)  # (B, H, L, D), self-attention
        naive = lambda: attn.naive_attention(x, x, x)  # noqa: E731
        tiled = lambda: attn.tiled_attention(x, x, x, block_size=s.block)  # noqa: E731
        with torch.no_grad():
            error = (naive() - tiled()).abs().max().item()
            assert error < 1e-4, f"tiled and naive attention differ by {error} at {n} tokens"
            t_naive = median_time(naive, s.memory_repeats)
            t_tiled = median_time(tiled, s.memory_repeats)
            with attn.PeakMemory() as m_naive:
                naive()
            with attn.PeakMemory() as m_tiled:
                tiled()
        setting = f"L=S={n}, H={s.attention_heads}, D={s.head_dim}, block {s.block}, forward"
        add(rows, Row("tiled / naive attention: time", setting, f"{1e3 * t_tiled:.1f} ms",
                        f"{1e3 * t_naive:.1f} ms", f"{t_tiled / t_naive:.2f}", "reported"))
        growth = "" if previous is None else m_tiled.peak / previous
        target = ("first length" if previous is None
                  else f"tiled x{growth:.2f} per doubling <= 2.2 ({verdict(growth <= 2.2)})")
        add(rows, Row("tiled / naive attention: peak memory", setting,
                        f"{m_tiled.peak / 1e6:.2f} MB", f"{m_naive.peak / 1e6:.2f} MB",
                        f"{m_tiled.peak / m_naive.peak:.3f}", target))
        previous = m_tiled.peak
    return rows


# --- greedy decoding with and without the key-value cache -----------------------------------

def transformer_available() -> bool:
    try:
        from attn.transformer import Transformer  # noqa: F401
    except ImportError:
        return False
    return hasattr(Transformer, "init_state") and hasattr(Transformer, "step")


def greedy_steps(model, src, src_lens, steps: int, use_cache: bool) -> torch.Tensor:
    """``steps`` greedy tokens for every source (no early stop at <eos>): (B, steps)."""
    state = model.init_state(src, src_lens, use_cache=use_cache)
    tokens = torch.zeros(src.shape[0], dtype=torch.long)  # token 0 as <bos>
    out = []
    for _ in range(steps):
        logits, state, _ = model.step(tokens, state)
        tokens = logits.argmax(dim=-1)  # (B,)
        out.append(tokens)
    return torch.stack(out, dim=1)


def bench_decoding(s: Sizes, quick: bool) -> list[Row]:
    if not transformer_available():
        return [Row("Transformer greedy decoding, cache / no cache", "", "not available",
                    target="attn.transformer has no cached decoding API")]
    from attn.transformer import Transformer, TransformerConfig

    torch.manual_seed(0)
    config = (TransformerConfig(50, 50, num_hiddens=32, num_heads=4, ffn_hiddens=64, num_layers=1)
              if quick else TransformerConfig(1000, 1000, num_hiddens=128, num_heads=4,
                                              ffn_hiddens=512, num_layers=2))
    model = Transformer(config).eval()
    src_len = 20
    src = torch.randint(1, config.src_vocab_size, (s.decode_batch, src_len))
    src_lens = torch.full((s.decode_batch,), src_len)
    setting = (f"B={s.decode_batch}, source {src_len} tokens, E={config.num_hiddens}, "
               f"H={config.num_heads}, {config.num_layers}+{config.num_layers} layers")
    rows = []
    with torch.no_grad():
        for steps in s.decode_lengths:
            cached = greedy_steps(model, src, src_lens, steps, use_cache=True)
            assert torch.equal(cached, greedy_steps(model, src, src_lens, steps, use_cache=False))
            # the two runs above were the warm-up
            t_cache = median_time(lambda: greedy_steps(model, src, src_lens, steps, True),
                                  s.decode_repeats, warmup=0)
            t_plain = median_time(lambda: greedy_steps(model, src, src_lens, steps, False),
                                  s.decode_repeats, warmup=0)
            speedup = t_plain / t_cache
            last = steps == s.decode_lengths[-1]
            target = (f">= 3x at {steps} tokens ({verdict(speedup >= 3)})" if last
                      else "reported")
            add(rows, Row(f"Transformer greedy decoding, {steps} tokens: cache / no cache",
                            setting, f"{1e3 * t_cache:.0f} ms", f"{1e3 * t_plain:.0f} ms",
                            f"speed-up {speedup:.1f}x", target))
    return rows


# --- the notebooks --------------------------------------------------------------------------

def time_notebook(path: pathlib.Path, timeout: int = 600) -> float:
    """Seconds to execute a notebook top to bottom in a fresh kernel, from its folder."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def bench_notebooks(paths: list[pathlib.Path], budget_s: float = 300.0) -> list[Row]:
    if not paths:
        return [Row("notebooks", "", "not run (--quick)", target=f"book < {budget_s:.0f} s")]
    rows, total, failed = [], 0.0, 0
    for path in paths:
        start = time.perf_counter()
        try:
            seconds = time_notebook(path)
        except Exception as error:  # a timeout or a failing cell: report it, time the rest
            failed += 1
            reason = type(error).__name__
            add(rows, Row(f"notebook {path.name}", "fresh kernel",
                          f"failed ({reason}) after {time.perf_counter() - start:.0f} s",
                          target="<= 60 s (missed)"))
            continue
        total += seconds
        add(rows, Row(f"notebook {path.name}", "fresh kernel", f"{seconds:.1f} s",
                      target=f"<= 60 s ({verdict(seconds <= 60)})"))
    if failed:
        add(rows, Row("all notebooks", f"{len(paths)} notebooks, {failed} failed",
                      f"incomplete ({total:.1f} s for the others)", target=f"< {budget_s:.0f} s (missed)"))
    else:
        add(rows, Row("all notebooks", f"{len(paths)} notebooks, one after another",
                      f"{total:.1f} s", target=f"< {budget_s:.0f} s ({verdict(total < budget_s)})"))
    return rows


# --- the table and results.md -----------------------------------------------------------------

def markdown_table(rows: list[Row], header: str) -> str:
    lines = [header, "", "| benchmark | setting | measured | reference | ratio | target |",
             "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r.benchmark} | {r.setting} | {r.measured} | {r.reference} | {r.ratio} | "
              f"{r.target} |" for r in rows]
    return "\n".join(lines) + "\n"


def replace_section(text: str, table: str) -> str:
    """``text`` with the part between BEGIN and END replaced by ``table`` (appended if absent)."""
    section = f"{BEGIN}\n{table}{END}"
    if BEGIN in text and END in text and text.index(BEGIN) < text.index(END):
        before, rest = text.split(BEGIN, 1)
        after = rest.split(END, 1)[1]
        return before + section + after
    return text.rstrip("\n") + "\n\n" + section + "\n"


def machine() -> str:
    return (f"{platform.machine()}, {cpu_name()}, {os.cpu_count()} CPU cores, "
            f"{torch.get_num_threads()} threads, torch {torch.__version__}, Python {platform.python_version()}")


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes and no notebooks, for a smoke test; writes nothing "
                             "unless --output is given")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=pathlib.Path, default=None,
                        help="results file (default benchmarks/results.md; none with --quick)")
    parser.add_argument("--skip-notebooks", action="store_true")
    parser.add_argument("--note", default="", help="a sentence added under the table's heading")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    sizes = QUICK if args.quick else Sizes()
    output = args.output if args.output or args.quick else HERE / "results.md"

    start = time.perf_counter()
    rows = bench_multihead_attention(sizes) + bench_tiled(sizes) + bench_decoding(sizes, args.quick)
    notebooks = ([] if args.quick or args.skip_notebooks
                 else sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb")))
    rows += bench_notebooks(notebooks)
    header = ("## Benchmark suite: speed and memory" + (" (--quick smoke run)" if args.quick else "")
              + f"\n\nMeasured with `python benchmarks/run.py{' --quick' if args.quick else ''}` "
              f"on {datetime.date.today().isoformat()}: {machine()}. Times are medians of "
              f"repeated runs in one process; a ratio below 1 means ours is faster or smaller. "
              f"The suite took {time.perf_counter() - start:.0f} s."
              + (f"\n\n{args.note}" if args.note else ""))
    if args.quick:  # tiny sizes say nothing about the targets
        for row in rows:
            row.target = row.target.replace("(met)", "(not judged)").replace("(missed)", "(not judged)")
    table = markdown_table(rows, header)
    print(table)
    if output is not None:
        text = output.read_text() if output.exists() else ""
        output.write_text(replace_section(text, table))
        print(f"written to {output}")
    return table


if __name__ == "__main__":
    main()
