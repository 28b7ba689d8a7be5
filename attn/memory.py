"""Peak memory of PyTorch's CPU allocator inside a ``with`` block.

:class:`PeakMemory` is how the book shows the difference between attention
whose memory grows with L * S (the score matrix) and attention whose memory
grows linearly (tiles, a key-value cache).
"""

from __future__ import annotations

import os

__all__ = ["PeakMemory"]


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
