"""Which pen writers a benchmark reads, and a check that its models never saw them.

Settings are tried on the 4 pendigits train writers that every training script holds out
by default (`data.pen_val_writers = 4`, split seed 0; `--writers val`). A model trained
with other settings may have learnt from them, and reading them with it would measure
memory, so the benchmarks refuse it.
"""

from __future__ import annotations

import functools
from pathlib import Path

from src.checkpoint import load_checkpoint
from src.strokes import PenDigit, load_pendigits
from src.training.classifier import held_out_writers, split_pen_writers

ROOT = Path(__file__).resolve().parent.parent
TUNING_WRITERS = 4


@functools.cache
def _pendigits() -> list[PenDigit]:
    return load_pendigits()


def pen_digits(which: str) -> list[PenDigit]:
    """The 14 test writers' digits ("test") or the 4 tuning writers' ("val"), in file order."""
    if which == "test":
        return [d for d in _pendigits() if d.split == "test"]
    return split_pen_writers(_pendigits(), TUNING_WRITERS, 0)[1]


def check_unseen(which: str, path: str | None, kind: str, name: str) -> None:
    """Exit with a sentence when the checkpoint (`path`, else the shipped
    checkpoints/`name`) learnt from the tuning writers it would be tried on."""
    if which == "test":
        return
    path = path or str(ROOT / "checkpoints" / name)
    unseen = held_out_writers(load_checkpoint(path, kind)["train_config"], _pendigits())
    missing = sorted({d.writer for d in pen_digits("val")} - unseen)
    if missing:
        raise SystemExit(
            f"{path} learnt from the tuning writers ({', '.join(missing)}): reading them "
            f"with it would measure memory. Train it with data.pen_val_writers="
            f"{TUNING_WRITERS} and data.split_seed=0 (the defaults)."
        )
