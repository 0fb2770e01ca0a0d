"""Shared fixtures. Tests needing data or a browser skip locally when it is missing,
but fail under CI (CI=true): CI must provide everything, so nothing silently skips."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from src.data import MNIST_FILES, find_idx_file, resolve_data_root  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PENDIGITS = Path(os.environ.get("DIGIT_STUDIO_PENDIGITS", ROOT.parent / "shared/data/pendigits"))

torch.set_num_threads(min(2, torch.get_num_threads()))


def need(condition: bool, what: str) -> None:
    """Skip when `what` is missing, unless in CI, where a missing prerequisite fails."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI must provide {what}")
    pytest.skip(f"needs {what}")


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    root = resolve_data_root()
    present = all(find_idx_file(root, spec) for spec in MNIST_FILES.values())
    need(present, f"MNIST in {root} (set DIGIT_STUDIO_DATA)")
    return root


@pytest.fixture(scope="session")
def pen_digits():
    from src.strokes import load_pendigits, pendigits_path

    need(pendigits_path().exists(), f"pen-stroke digits at {pendigits_path()}")
    return load_pendigits()


@pytest.fixture(scope="session")
def mnist(mnist_root):
    from src.data import load_mnist

    return load_mnist(mnist_root, download=False)


def touching_test_numbers(count: int, seed: int) -> list:
    """`count` numbers of 2-6 digits by the pendigits *test* writers (which no model
    trained on), drawn with neighbours overlapping slightly: the line reader's case."""
    import numpy as np

    from src.strokes import load_pendigits, pendigits_path, render_number

    need(pendigits_path().exists(), f"pen-stroke digits at {pendigits_path()}")
    test_writers = [d for d in load_pendigits() if d.split == "test"]
    rng = np.random.default_rng(seed)
    drawings = []
    for _ in range(count):
        digits = [test_writers[i] for i in rng.choice(len(test_writers), rng.integers(2, 7))]
        drawings.append(render_number(digits, rng, gap_frac=(-0.06, -0.01)))
    return drawings
