"""Small helpers every chapter uses: seeding, device choice, shape checks."""

from __future__ import annotations

import random
from typing import Sequence

import numpy as np
import torch


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


def check_shape(tensor: torch.Tensor, expected: Sequence[int], name: str = "tensor") -> None:
    """Raise ValueError unless ``tensor.shape == expected``.

    Used after each new tensor operation in the chapters, the way a reader would
    check shapes on paper.
    """
    expected = tuple(expected)
    if tuple(tensor.shape) != expected:
        raise ValueError(f"{name} must have shape {expected}, got {tuple(tensor.shape)}")
