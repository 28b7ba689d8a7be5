"""Small helpers every chapter uses: seeding, devices, shape checks, progress bars."""

from __future__ import annotations

import itertools
import numbers
import random
import sys
from typing import Iterable, Sequence

import numpy as np
import torch
from tqdm.std import tqdm


def set_seed(seed: int = 0) -> None:
    """Seed Python's, NumPy's and PyTorch's random generators in one call.

    Chapters call this once in their set-up cell so that every number they print
    comes out the same on each run.
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds CUDA generators when a GPU is present


def get_device(prefer_gpu: bool = True) -> torch.device:
    """The device to compute on: CUDA when present and wanted, else CPU.

    The book is tested on CPU; on a GPU machine the same notebooks run unchanged.
    """
    if prefer_gpu and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def model_device(model, default: torch.device | str = "cpu") -> torch.device:
    """Where ``model`` computes: the device of its first parameter or buffer, else ``default``.

    The training and decoding loops move every batch there, so callers may keep
    their data on the CPU.
    """
    if isinstance(model, torch.nn.Module):
        for tensor in itertools.chain(model.parameters(), model.buffers()):
            return tensor.device
    return torch.device(default)


def check_shape(tensor: torch.Tensor, expected: Sequence[int], name: str = "tensor") -> None:
    """Raise ValueError unless ``tensor.shape == expected``.

    Used after each new tensor operation in the chapters, the way a reader would
    check shapes on paper. ``tensor`` must be a torch.Tensor (TypeError for a list
    or an array) and ``expected`` a sequence of ints.
    """
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if isinstance(expected, (str, bytes)) or not isinstance(expected, Iterable):
        raise TypeError(f"expected must be a sequence of ints, got {type(expected).__name__}")
    expected = tuple(expected)
    if not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) for n in expected):
        raise TypeError(f"expected must be a sequence of ints, got {expected!r}")
    if tuple(tensor.shape) != expected:
        raise ValueError(f"{name} must have shape {expected}, got {tuple(tensor.shape)}")


class _DisplayLine:
    """A file for tqdm that shows the last line written as one notebook output, updated in place.

    A notebook then keeps a single text output holding the bar's final state, which
    reads well in the static HTML, instead of a widget (blank without JavaScript)
    or one stream output per refresh.
    """

    def __init__(self):
        from IPython.display import display

        self._text = ""
        self._handle = display({"text/plain": ""}, raw=True, display_id=True)

    def write(self, text: str) -> None:
        parts = [p for p in text.replace("\r", "\n").split("\n") if p.strip()]
        if parts:
            self._text = parts[-1]

    def flush(self) -> None:
        self._handle.update({"text/plain": self._text}, raw=True)


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def progress(iterable: Iterable | None = None, total: int | None = None, desc: str = "",
             disable: bool = False) -> tqdm:
    """A text progress bar (tqdm) that suits both a terminal and a notebook.

    In a terminal it is tqdm's usual bar on stderr. In a Jupyter kernel it is the
    same text, shown as one output that is updated in place at most twice a
    second, so a saved notebook holds only the final line (for example
    ``training: 100%|██████████| 250/250 [00:18<00:00, 13.6it/s, loss=0.018]``).
    """
    notebook = _in_notebook() and not disable
    return tqdm(iterable, total=total, desc=desc, disable=disable, mininterval=0.5, ncols=88,
                file=_DisplayLine() if notebook else sys.stderr, ascii=False if notebook else None)
