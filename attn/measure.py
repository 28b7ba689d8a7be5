"""Measuring a layer: the memory autograd keeps for it and the CPU time it takes.

These helpers take any callable and its tensor arguments, so they know no model:
chapters time convolutions, recurrent networks and attention with the same code.

- :func:`saved_bytes`: bytes of the tensors autograd saves for the backward pass.
- :func:`cpu_times_ms`, :func:`fastest_ms`, :func:`median_ms`: CPU time of the
  calling thread, per call, in milliseconds.
- :func:`torch_threads`: run a block with a given number of torch threads, then
  restore the previous number.
"""

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator

import torch


def _check_callable(fn) -> None:
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")


def _check_count(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


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
    _check_callable(fn)
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
    _check_callable(fn)
    _check_count("repeats", repeats, 1)
    _check_count("warmup", warmup, 0)
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


@contextlib.contextmanager
def torch_threads(num_threads: int) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(num_threads)``, then restore the old number.

    One thread makes CPU times count work rather than how well an operation is
    parallelised, and lets :func:`cpu_times_ms` see all of it.
    """
    _check_count("num_threads", num_threads, 1)
    previous = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
