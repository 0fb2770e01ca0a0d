"""Train the digit classifier on MNIST.

    python train_classifier.py --config config_classifier.yaml [--set training.epochs=2 ...]

Writes the best-by-validation checkpoint (with its calibration temperature, config and
metrics) to `output.checkpoint`, and per-epoch metrics, a training-curve plot and the
resolved config under `output.results_dir`.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from src.checkpoint import save_checkpoint
from src.config import ConfigError, config_to_dict, load_config
from src.data import MNISTError, load_mnist
from src.runtime import EpochLog, select_device, start_run
from src.training.classifier import (
    CURVES,
    CURVES_TITLE,
    ClassifierRunConfig,
    accuracy_and_loss,
    calibrate,
    fit_classifier,
    predict_logits,
    prepare_training_data,
    studio_view_accuracy,
)
from src.utils.visualization import plot_curves


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config_classifier.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. training.epochs=2")  # fmt: skip
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    try:
        config = load_config(ClassifierRunConfig, args.config, args.set)
        splits = load_mnist(config.data.root, config.data.val_size, config.data.split_seed)
        device = select_device(config.training.device)
    except (ConfigError, MNISTError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    results = start_run(config, "classifier")
    print(f"training on {device}: {len(splits.train_images)} train, {len(splits.val_images)} val")
    start = time.perf_counter()
    try:
        data = prepare_training_data(config, splits)
    except OSError as e:
        print(f"error: pen-stroke digits: {e}", file=sys.stderr)
        return 2
    prepare_seconds = time.perf_counter() - start
    print(
        f"training data ready in {prepare_seconds:.1f}s: {len(splits.train_images)} MNIST, "
        f"{len(data.extra_labels)} synthetic ({int((data.extra_labels == 10).sum())} not a "
        f"digit) from {len(data.pen_writers)} pen writers; {len(data.pen_val_labels)} pen val"
    )

    log = EpochLog(results / "classifier_metrics.json",
                   score=lambda r: (r.selection_score, -r.val_loss))  # fmt: skip
    model = fit_classifier(config, data, device, on_epoch=log, progress=not args.no_progress)
    model.load_state_dict(log.best_state)
    val_logits = predict_logits(model, splits.val_images)
    pen_val_logits = predict_logits(model, data.pen_val_images)
    temperature = calibrate(
        model,
        torch.cat([val_logits, pen_val_logits]),
        torch.cat([splits.val_labels, data.pen_val_labels]),
    )
    val_acc, val_loss = accuracy_and_loss(val_logits, splits.val_labels)
    pen_val_acc = accuracy_and_loss(pen_val_logits, data.pen_val_labels)[0]
    test_acc, test_loss = accuracy_and_loss(
        predict_logits(model, splits.test_images), splits.test_labels
    )
    studio_acc = studio_view_accuracy(
        model, splits.test_images, splits.test_labels, config.data.cache
    )
    metrics = {
        "best_epoch": log.best.epoch,
        "val_accuracy": val_acc,
        "val_loss": val_loss,
        "pen_val_accuracy": pen_val_acc,
        "pen_train_writers": data.pen_writers,
        "synthetic_items": len(data.extra_labels),
        "data_prepare_seconds": prepare_seconds,
        "test_accuracy": test_acc,
        "test_loss": test_loss,
        "test_accuracy_studio_view": studio_acc,
        "temperature": temperature,
        "train_seconds": log.train_seconds,
        "history": log.history,
    }
    save_checkpoint(
        config.output.checkpoint, "classifier", model.cpu(),
        config_to_dict(config.model), config_to_dict(config), metrics,
    )  # fmt: skip
    plot_curves(log.history, CURVES, results / "classifier_curves.png", title=CURVES_TITLE)
    print(
        f"best epoch {log.best.epoch}: val acc {val_acc:.4f}, "
        + (f"pen val acc {pen_val_acc:.4f}, " if len(data.pen_val_labels) else "")
        + f"test acc {test_acc:.4f} "
        f"({studio_acc:.4f} as the studio sees them), "
        f"T={temperature:.3f}, {metrics['train_seconds']:.1f}s training -> "
        f"{config.output.checkpoint}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
