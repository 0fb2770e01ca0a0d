"""Train the line reader (CRNN + CTC) on lines of pen-train-writer and MNIST digits.

    python train_line_reader.py --config config_line_reader.yaml [--set training.epochs=2 ...]
    python train_line_reader.py --recalibrate [--checkpoint checkpoints/line_reader.pth]

Writes the best-by-validation checkpoint to `output.checkpoint`, its temperature fitted
on the validation lines, and per-epoch metrics, a loss curve, a grid of decoded
validation lines and the resolved config under `output.results_dir`. `--recalibrate`
only refits the temperature of an existing checkpoint, keeping its weights and metrics.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from src.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from src.config import ConfigError, config_to_dict, load_config
from src.data import MNISTError, load_mnist
from src.models.line_reader import load_line_reader
from src.runtime import EpochLog, select_device, start_run
from src.training.line_reader import (
    CURVES,
    CURVES_TITLE,
    LineReaderRunConfig,
    LineSet,
    calibrate_line_reader,
    fit_line_reader,
    prepare_lines,
    read_lines,
)
from src.utils.visualization import plot_curves


def decoded_grid(lines: LineSet, read: list[str], path: Path, n: int = 16) -> None:
    """The first `n` validation lines, each under its reading (red when wrong)."""
    rows = []
    for i in range(min(n, len(lines))):
        strip = 255 - lines.strips[i, :, : int(lines.widths[i])].numpy()
        row = Image.new("RGB", (lines.strips.shape[2], strip.shape[0] + 14), "white")
        row.paste(Image.fromarray(strip).convert("RGB"), (0, 0))
        colour = (0, 120, 0) if read[i] == lines.texts[i] else (200, 0, 0)
        ImageDraw.Draw(row).text((2, strip.shape[0]), f"{read[i]}  ({lines.texts[i]})", fill=colour)
        rows.append(np.asarray(row))
    Image.fromarray(np.concatenate(rows)).save(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config_line_reader.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--recalibrate", action="store_true", help="refit --checkpoint's T")
    parser.add_argument("--checkpoint", default=None, help="default: output.checkpoint")
    args = parser.parse_args(argv)
    try:
        config = load_config(LineReaderRunConfig, args.config, args.set)
        splits = load_mnist(config.data.root, config.data.val_size, config.data.split_seed)
        device = select_device(config.training.device)
        checkpoint_path = Path(args.checkpoint or config.output.checkpoint)
        stored = load_checkpoint(checkpoint_path, "line_reader") if args.recalibrate else None
    except (ConfigError, MNISTError, CheckpointError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    results = start_run(config, "line_reader")
    start = time.perf_counter()
    try:
        train, val = prepare_lines(config, splits)
    except OSError as e:
        print(f"error: pen-stroke digits: {e}", file=sys.stderr)
        return 2
    prepare_seconds = time.perf_counter() - start
    print(f"{len(train)} training and {len(val)} validation lines ready in {prepare_seconds:.1f}s")
    if stored is not None:
        model = load_line_reader(checkpoint_path, device)
        calibration = calibrate_line_reader(model, val)
        metrics = {**stored["metrics"], "calibration": calibration}
        save_checkpoint(
            checkpoint_path, "line_reader", model.cpu(), stored["model_config"],
            stored["train_config"], metrics,
        )  # fmt: skip
        print(json.dumps(calibration, indent=2))
        return 0

    log = EpochLog(results / "line_reader_metrics.json", score=lambda r: r.val_line_accuracy)
    model = fit_line_reader(config, train, val, device, log, progress=not args.no_progress)
    model.load_state_dict(log.best_state)
    calibration = calibrate_line_reader(model, val)
    read = read_lines(model, val)
    metrics = {
        "best_epoch": log.best.epoch,
        "val_line_accuracy": log.best.val_line_accuracy,
        "train_lines": len(train),
        "data_prepare_seconds": prepare_seconds,
        "train_seconds": log.train_seconds,
        "history": log.history,
        "calibration": calibration,
    }
    save_checkpoint(
        config.output.checkpoint,
        "line_reader",
        model.cpu(),
        config_to_dict(config.model),
        config_to_dict(config),
        metrics,
    )
    plot_curves(log.history, CURVES, results / "line_reader_curves.png", title=CURVES_TITLE)
    decoded_grid(val, read, results / "line_reader_samples.png")
    print(
        f"best epoch {log.best.epoch}: val lines {log.best.val_line_accuracy:.4f} exact, "
        f"{metrics['train_seconds']:.1f}s training -> {config.output.checkpoint}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
