"""Speed of attn.MultiHeadAttention against torch.nn.MultiheadAttention on the CPU.

Self-attention on a batch of 32 sequences of 128 tokens, width 256, 8 heads.
Both of our paths are measured against PyTorch's matching configuration:

* explicit path: ``need_weights=True`` (per-head weights), against
  ``nn.MultiheadAttention(..., need_weights=True, average_attn_weights=False)``;
* fast path: ``need_weights=False`` (fused scaled_dot_product_attention),
  against ``nn.MultiheadAttention(..., need_weights=False)``.

"forward" runs in eval mode without gradients (where PyTorch may take its own
fused inference path); "forward+backward" runs in training mode (dropout 0)
and back-propagates the sum of the output. Each time is the median of
``--repeats`` timed runs after warm-up, ours and PyTorch's taking turns; the
ratio is the median of the run-by-run ratios. This is a measurement, not a test:

    python benchmarks/bench_multihead.py [--threads 2] [--repeats 30]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from attn import MultiHeadAttention

B, L, E, H = 32, 128, 256, 8


def copy_weights(theirs: nn.MultiheadAttention, ours: MultiHeadAttention) -> None:
    with torch.no_grad():
        for i, layer in enumerate((ours.W_q, ours.W_k, ours.W_v)):
            layer.weight.copy_(theirs.in_proj_weight[i * E:(i + 1) * E])
            layer.bias.copy_(theirs.in_proj_bias[i * E:(i + 1) * E])
        ours.W_o.weight.copy_(theirs.out_proj.weight)
        ours.W_o.bias.copy_(theirs.out_proj.bias)


def paired_medians(fn_a, fn_b, repeats: int, warmup: int = 3) -> tuple[float, float, float]:
    """Median seconds of fn_a and fn_b, run in turns, and the median of the paired ratios a/b.

    Taking turns makes a change in the machine's load hit both alike.
    """
    for _ in range(warmup):
        fn_a(), fn_b()
    times_a, times_b = [], []
    for _ in range(repeats):
        for fn, times in ((fn_a, times_a), (fn_b, times_b)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    ratios = [a / b for a, b in zip(times_a, times_b)]
    return statistics.median(times_a), statistics.median(times_b), statistics.median(ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    theirs = nn.MultiheadAttention(E, H, bias=True, batch_first=True)
    ours = MultiHeadAttention(E, H, bias=True)
    copy_weights(theirs, ours)
    x = torch.randn(B, L, E)

    def run_ours(need_weights):
        out = ours(x, x, x, need_weights=need_weights)
        return out[0] if need_weights else out

    def run_theirs(need_weights):
        return theirs(x, x, x, need_weights=need_weights, average_attn_weights=False)[0]

    with torch.no_grad():  # the two must agree before their speed means anything
        for need_weights in (True, False):
            torch.testing.assert_close(run_ours(need_weights), run_theirs(need_weights),
                                       atol=1e-5, rtol=0)

    def forward(run, need_weights):
        def fn():
            ours.eval(), theirs.eval()
            with torch.no_grad():
                run(need_weights)
        return fn

    def forward_backward(run, need_weights):
        def fn():
            ours.train(), theirs.train()
            run(need_weights).sum().backward()
        return fn

    print(f"B = {B}, L = S = {L}, E = {E}, H = {H}, {args.threads} threads, "
          f"median of {args.repeats} runs, torch {torch.__version__}")
    print(f"{'path':<26}{'pass':<18}{'ours (ms)':>10}{'PyTorch (ms)':>14}{'ours/PyTorch':>14}")
    for path, need_weights in (("explicit (need_weights)", True), ("fast (SDPA)", False)):
        for name, make in (("forward", forward), ("forward+backward", forward_backward)):
            t_ours, t_theirs, ratio = paired_medians(make(run_ours, need_weights),
                                                     make(run_theirs, need_weights), args.repeats)
            print(f"{path:<26}{name:<18}{1e3 * t_ours:>10.2f}{1e3 * t_theirs:>14.2f}{ratio:>14.2f}")


if __name__ == "__main__":
    main()
