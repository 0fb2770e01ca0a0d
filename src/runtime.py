"""Device choice, seeding and run provenance: the small things every script needs."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import random
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from src.config import save_config

DEVICES = ("auto", "cpu", "cuda", "mps")


def select_device(name: str = "auto") -> torch.device:
    """Resolve `auto | cpu | cuda | mps` to a device; `auto` takes the best available."""
    if name not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {name!r}")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was requested but CUDA is not available here")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' was requested but MPS is not available here")
    return torch.device(name)


def fast_bfloat16(device: torch.device) -> bool:
    """Does `device` compute bfloat16 natively? CUDA does; a CPU does with AMX or
    AVX-512 BF16 (recent Xeons). Elsewhere bfloat16 is emulated, and slower."""
    if device.type == "cuda":
        return True
    if device.type != "cpu":
        return False
    cpu = torch.cpu
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(cpu, name, lambda: False)() for name in checks)


def mixed_precision(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bfloat16 autocast for the convolutions and matrix products of a training step,
    where `device` computes bfloat16 natively (see `fast_bfloat16`); a no-op elsewhere.

    On CPUs with AMX a step takes half the time; bfloat16 keeps float32's range, so no
    loss scaling is needed. Weights, optimiser state and the loss stay float32."""
    if not enabled or not fast_bfloat16(device):
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


@contextlib.contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """The model in eval mode for the duration, the caller's mode back after. Switches
    only when needed: `train()` walks every submodule, a millisecond per call on the
    studio's hot path."""
    was_training = model.training
    if was_training:
        model.eval()
    try:
        yield model
    finally:
        if was_training:
            model.train()


def set_seed(seed: int) -> None:
    """Seed every RNG a run touches: Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def git_commit(repo: Path | None = None) -> str | None:
    """The current commit hash, or None outside a git checkout."""
    repo = repo or Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def write_atomically(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write via a temp file in the same folder, then rename over `path`: readers see the
    old file or the new one, never half of one, even if the writer crashes mid-way."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def start_run(config: Any, name: str) -> Path:
    """What every training script does first: seed the run (`config.training.seed`),
    make the results folder and keep the resolved config there as `<name>_config.yaml`.
    Returns the results folder."""
    set_seed(config.training.seed)
    results = Path(config.output.results_dir)
    results.mkdir(parents=True, exist_ok=True)
    save_config(config, results / f"{name}_config.yaml")
    return results


class EpochLog:
    """A training run's epochs, as an `on_epoch` callback: each epoch's metrics (a
    dataclass with `epoch` and `seconds`) are appended and written to `path` as they
    come, so a stopped run keeps what it did, and the weights of the best epoch so far
    by `score` (higher is better; ties keep the earlier epoch) are kept."""

    def __init__(self, path: Path, score: Callable[[Any], Any]) -> None:
        self.path, self.score = Path(path), score
        self.history: list[dict] = []
        self.best: Any = None  # the best epoch's metrics
        self.best_state: dict | None = None  # and its weights

    def __call__(self, result: Any, model: torch.nn.Module) -> None:
        self.history.append(asdict(result))
        self.path.write_text(json.dumps(self.history, indent=2))
        if self.best is None or self.score(result) > self.score(self.best):
            self.best, self.best_state = result, copy.deepcopy(model.state_dict())

    @property
    def train_seconds(self) -> float:
        return sum(h["seconds"] for h in self.history)
