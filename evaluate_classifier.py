"""Evaluate a trained classifier on the MNIST test set.

    python evaluate_classifier.py --config config_classifier.yaml \
        --checkpoint checkpoints/classifier.pth [--record]

Writes results/classifier_eval.json (accuracy, per-class accuracy, NLL and ECE before and
after temperature scaling, accuracy on the test digits as the studio sees them),
results/test_predictions.png (sample grid, mistakes in red), results/confusion_matrix.png
and results/reliability_diagram.png. `--record` writes the test accuracies, raw and as the
studio sees them, into the checkpoint's metrics (the figures they replace kept beside
them): after a change to the studio's normalisation, which the second depends on.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from src.calibration import reliability_bins
from src.checkpoint import CheckpointError, record_metrics
from src.config import ConfigError, load_config
from src.data import MNISTError, load_mnist, to_float
from src.models.classifier import load_classifier
from src.training.classifier import (
    ClassifierRunConfig,
    evaluation_report,
    predict_logits,
    studio_view_accuracy,
)
from src.utils.visualization import plot_confusion_matrix, plot_prediction_grid, plot_reliability


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config_classifier.yaml")
    parser.add_argument("--checkpoint", default=None, help="default: output.checkpoint")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--record", action="store_true", help="write the figures into it")
    args = parser.parse_args(argv)
    try:
        config = load_config(ClassifierRunConfig, args.config, args.set)
        checkpoint = args.checkpoint or config.output.checkpoint
        model = load_classifier(checkpoint, device="cpu")
        splits = load_mnist(config.data.root, config.data.val_size, config.data.split_seed)
    except (ConfigError, CheckpointError, MNISTError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    results = Path(config.output.results_dir)
    results.mkdir(parents=True, exist_ok=True)
    logits = predict_logits(model, splits.test_images)
    labels = splits.test_labels
    temperature = float(model.temperature)
    report = evaluation_report(logits, labels, temperature)
    report["accuracy_studio_view"] = studio_view_accuracy(
        model, splits.test_images, labels, config.data.cache
    )
    (results / "classifier_eval.json").write_text(json.dumps(report, indent=2))
    if args.record:
        record_metrics(checkpoint, "classifier", {
            "test_accuracy": report["accuracy"],
            "test_accuracy_studio_view": report["accuracy_studio_view"],
        })  # fmt: skip

    plot_confusion_matrix(
        torch.tensor(report["confusion_matrix"]).numpy(), results / "confusion_matrix.png"
    )
    plot_reliability(
        reliability_bins(torch.softmax(logits, 1), labels),
        reliability_bins(torch.softmax(logits / temperature, 1), labels),
        results / "reliability_diagram.png",
    )
    # The grid shows the first 30 test digits, then up to 20 mistakes so they can be seen.
    predicted = logits.argmax(1)
    wrong = torch.nonzero(predicted != labels).flatten()[:20]
    shown = torch.cat([torch.arange(30), wrong])
    probs = torch.softmax(logits[shown] / temperature, 1)
    plot_prediction_grid(
        to_float(splits.test_images[shown]),
        labels[shown].tolist(),
        predicted[shown].tolist(),
        probs.max(1).values.tolist(),
        results / "test_predictions.png",
    )
    print(
        f"test accuracy {report['accuracy']:.4%} ({report['errors']} errors / {report['n']}), "
        f"NLL {report['nll']:.4f}, ECE {report['ece_before_scaling']:.4f} -> {report['ece']:.4f}; "
        f"{report['accuracy_studio_view']:.4%} as the studio sees them"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
