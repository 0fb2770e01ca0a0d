"""One checkpoint format for every model: a plain dict that rebuilds and judges it.

Only tensors and primitive values go in, so `torch.load(weights_only=True)` can read it
and a checkpoint from a stranger cannot run code. Writes are atomic (temp file + rename):
a crash mid-save leaves the previous checkpoint intact.
"""

from __future__ import annotations

import datetime as dt
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.nn as nn

from src.config import ConfigError, from_dict
from src.runtime import git_commit, select_device, write_atomically

FORMAT_VERSION = 1
M = TypeVar("M", bound=nn.Module)


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, of the wrong kind or does not fit the model."""


def save_checkpoint(
    path: str | Path,
    kind: str,
    model: nn.Module,
    model_config: dict,
    train_config: dict | None = None,
    metrics: dict | None = None,
) -> dict:
    """Write `model` with everything needed to rebuild and judge it; returns the dict."""
    path = Path(path)
    checkpoint = {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "model_config": model_config,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "train_config": train_config or {},
        "metrics": metrics or {},
        "torch_version": str(torch.__version__),  # TorchVersion is not a primitive
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
    }
    write_atomically(path, lambda f: torch.save(checkpoint, f))
    return checkpoint


def load_checkpoint(path: str | Path, kind: str) -> dict[str, Any]:
    """Read a checkpoint safely and check it is a `kind` checkpoint of our format."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # weights_only refuses anything but tensors and primitives: a file with pickled
        # objects in it is either not ours or not safe to open.
        detail = next((ln.strip() for ln in str(e).splitlines() if "global" in ln), "")
        raise CheckpointError(
            f"{path}: refused to load: it is not a plain-tensor checkpoint "
            f"(it holds pickled Python objects, which could run code). {detail}"
        ).with_traceback(None) from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: unreadable or truncated checkpoint ({e})") from e
    if not isinstance(checkpoint, dict) or "kind" not in checkpoint:
        raise CheckpointError(f"{path}: not a Digit Insight Studio checkpoint")
    if checkpoint.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {checkpoint.get('format_version')!r} is not "
            f"supported (this version reads format {FORMAT_VERSION})"
        )
    if checkpoint["kind"] != kind:
        raise CheckpointError(
            f"{path}: this is a {checkpoint['kind']!r} checkpoint, expected {kind!r}"
        )
    return checkpoint


def record_metrics(path: str | Path, kind: str, metrics: dict[str, float]) -> dict:
    """Re-measured figures written into a checkpoint's metrics, weights and configs kept:
    for when the code that judges the model changed (the studio's normalisation, say).
    The figures replaced are kept under "remeasured", with the commit that measured."""
    checkpoint = load_checkpoint(path, kind)
    old = checkpoint["metrics"]
    was = {key: old[key] for key in metrics if key in old and old[key] != metrics[key]}
    remeasured = [*old.get("remeasured", []), {"git_commit": git_commit(), "was": was}]
    checkpoint["metrics"] = {**old, **metrics, "remeasured": remeasured}
    write_atomically(Path(path), lambda f: torch.save(checkpoint, f))
    return checkpoint


def restore_weights(model: nn.Module, checkpoint: dict, path: str | Path) -> None:
    """Load the checkpoint's weights into `model`, reporting any shape mismatch clearly."""
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except (RuntimeError, KeyError) as e:
        raise CheckpointError(
            f"{path}: weights do not fit the model built from its config ({e})"
        ) from e


def load_model(
    path: str | Path,
    kind: str,
    config_class: type,
    build: Callable[[Any], M],
    device: str | torch.device = "auto",
) -> M:
    """Rebuild a `kind` model from its checkpoint: check the stored model config against
    `config_class`, build it, load the weights, move to `device`, eval mode."""
    checkpoint = load_checkpoint(path, kind)
    try:
        config = from_dict(config_class, checkpoint["model_config"], f"{path}: model_config")
    except ConfigError as e:
        raise CheckpointError(str(e)) from e
    model = build(config)
    restore_weights(model, checkpoint, path)
    model.card = model_card(checkpoint, path)  # what reports say about this model
    device = select_device(device) if isinstance(device, str) else device
    return model.to(device).eval()


def model_card(checkpoint: dict, path: str | Path) -> dict[str, Any]:
    """Where a model came from and how it measured, as plain values: file, kind, date,
    commit, and its recorded scalar metrics (nested ones as "group.name")."""
    metrics: dict[str, Any] = {}
    for key, value in checkpoint.get("metrics", {}).items():
        items = value.items() if isinstance(value, dict) else [("", value)]
        for sub, v in items:
            if isinstance(v, int | float | str | bool):
                metrics[f"{key}.{sub}" if sub else key] = v
    return {
        "file": Path(path).name,
        "kind": checkpoint.get("kind", ""),
        "created": checkpoint.get("created", ""),
        "git_commit": str(checkpoint.get("git_commit", ""))[:12],
        "metrics": metrics,
    }
