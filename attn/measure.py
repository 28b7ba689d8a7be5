"""Measuring a layer: the memory autograd keeps for it and the CPU time it takes.

These helpers take any callable and its tensor arguments, so they know no model:
chapters time convolutions, recurrent networks and attention with the same code.

- :func:`saved_bytes`: bytes of the tensors autograd saves for the backward pass.
- :func:`cpu_times_ms`, :func:`fastest_ms`, :func:`median_ms`: CPU time of the
  calling thread, per call, in milliseconds.
- :func:`race`: the fastest wall-clock time of several functions run in turns.
- :func:`torch_threads`: run a block with a given number of torch threads, then
  restore the previous number.
- :class:`PeakMemory`: peak of CPU memory allocated by PyTorch inside a ``with``
  block, which shows attention whose memory grows with L * S (the score matrix)
  beside attention whose memory grows linearly (tiles, a key-value cache).
"""

import contextlib
import os
import statistics
import time
from collections.abc import Callable, Iterator

import torch

from attn.checks import check_callable, check_int


def saved_bytes(fn: Callable, *inputs: torch.Tensor) -> int:
    """Bytes of the tensors that autograd saves for the backward pass of ``fn(*inputs)``.

    Every floating-point input is replaced by a detached copy that requires grad,
    so the graph starts there. What is counted is storage, the memory that the
    saved tensors keep alive: each storage once, however many saved tensors view
    it (a matmul of 4-d tensors saves a 3-d view of its input, the same bytes), and
    whole (a saved slice keeps all of its storage). Parameters that a layer saves
    (a weight) count too.

    Args:
        fn: a callable taking the inputs, for example a module or a lambda.
        *inputs: tensors.

    Returns:
        The number of bytes of the distinct storages of the saved tensors.
    """
    check_callable("fn", fn)
    for i, x in enumerate(inputs):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"inputs must be tensors, got {type(x).__name__} at position {i}")
    inputs = tuple(x.detach().requires_grad_() if x.dtype.is_floating_point else x
                   for x in inputs)
    saved: dict[int, int] = {}  # storage address -> bytes

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        saved[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(*inputs)
    return sum(saved.values())


def cpu_times_ms(fn: Callable, *args, repeats: int = 5, warmup: int = 1) -> list[float]:
    """CPU time of the calling thread for each of ``repeats`` calls ``fn(*args)``.

    Runs under ``torch.no_grad()``, after ``warmup`` calls that are not timed.
    It counts the CPU time of this thread only (``time.thread_time``): with one
    torch thread the work runs here, and other programs on the machine do not
    count; with several threads, the work of the others is missed.

    Args:
        fn: the callable to time.
        *args: its arguments.
        repeats: number of timed calls, at least 1.
        warmup: number of untimed calls first, at least 0.

    Returns:
        A list of ``repeats`` times in milliseconds.
    """
    check_callable("fn", fn)
    check_int("repeats", repeats, 1)
    check_int("warmup", warmup, 0)
    times = []
    with torch.no_grad():
        for _ in range(warmup):
            fn(*args)
        for _ in range(repeats):
            start = time.thread_time()
            fn(*args)
            times.append(1000 * (time.thread_time() - start))
    return times


def fastest_ms(fn: Callable, *args, repeats: int = 5, warmup: int = 1) -> float:
    """The smallest of :func:`cpu_times_ms`: the run least disturbed by the machine."""
    return min(cpu_times_ms(fn, *args, repeats=repeats, warmup=warmup))


def median_ms(fn: Callable, *args, repeats: int = 5, warmup: int = 1) -> float:
    """The median of :func:`cpu_times_ms`."""
    return statistics.median(cpu_times_ms(fn, *args, repeats=repeats, warmup=warmup))


def race(fns: dict, rounds: int = 5) -> dict:
    """Fastest wall-clock time, in seconds, of each callable of ``fns``, run in turns.

    After one untimed warm-up call each, every round calls each function once, in
    order, under ``torch.no_grad()``. A burst of other work on the machine slows
    whichever function runs at that moment; taking turns spreads it over all of
    them, and the fastest call of each is the one it disturbed least.

    Args:
        fns: {name: callable taking no arguments}, at least one.
        rounds: timed calls of each function, at least 1.

    Returns:
        {name: seconds of its fastest call}, in the order of ``fns``.
    """
    if not isinstance(fns, dict) or not fns:
        raise TypeError(f"fns must be a non-empty dict of callables, got {fns!r:.60}")
    for name, fn in fns.items():
        check_callable(f"fns[{name!r}]", fn)
    check_int("rounds", rounds, 1)
    with torch.no_grad():
        for fn in fns.values():
            fn()  # warm-up
        best = dict.fromkeys(fns, float("inf"))
        for _ in range(rounds):
            for name, fn in fns.items():
                start = time.perf_counter()
                fn()
                best[name] = min(best[name], time.perf_counter() - start)
    return best


@contextlib.contextmanager
def torch_threads(num_threads: int) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(num_threads)``, then restore the old number.

    One thread makes CPU times count work rather than how well an operation is
    parallelised, and lets :func:`cpu_times_ms` see all of it.
    """
    check_int("num_threads", num_threads, 1)
    previous = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class PeakMemory:
    """Peak of CPU memory allocated by PyTorch inside a ``with`` block, in bytes.

    Uses :mod:`torch.profiler` with ``profile_memory=True``, which records every
    allocation and free of PyTorch's CPU allocator, scratch buffers inside fused
    kernels included. ``peak`` is the largest total allocated at any moment
    above what was allocated on entry; ``net`` is what is still allocated at the
    end. Memory allocated before the block is not counted, nor is its release
    (PyTorch then prints a warning on stderr). Timings taken
    inside the block are slowed by the profiler: measure time separately.

    Example::

        with attn.PeakMemory() as mem:
            scores = torch.empty(1000, 1000)      # 4 MB of float32
        assert mem.peak == 4_000_000
    """

    def __init__(self):
        self.peak: int | None = None
        self.net: int | None = None
        self._profile = None

    def __enter__(self):
        from torch.profiler import ProfilerActivity, profile

        self._profile = profile(activities=[ProfilerActivity.CPU], profile_memory=True)
        with _quiet_stderr():  # the profiler prints a line on stderr when it starts and stops
            self._profile.__enter__()
        return self

    def __exit__(self, *exc):
        if self._profile is None:
            raise RuntimeError("PeakMemory measures inside a with block: "
                               "use `with PeakMemory() as mem:`")
        with _quiet_stderr():
            self._profile.__exit__(*exc)
        changes = sorted((e.start_ns(), e.nbytes()) for e in self._profile.profiler.kineto_results.events()
                         if e.name() == "[memory]")
        total = peak = 0
        for _, nbytes in changes:  # allocations positive, frees negative, in time order
            total += nbytes
            peak = max(peak, total)
        self.peak, self.net = int(peak), int(total)
        self._profile = None
        return False


class _quiet_stderr:
    """Send the process's file descriptor 2 to /dev/null for the length of a ``with`` block."""

    def __enter__(self):
        self._saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)

    def __exit__(self, *exc):
        os.dup2(self._saved, 2)
        os.close(self._saved)
        return False
