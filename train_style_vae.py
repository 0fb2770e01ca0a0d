"""Train the restyling VAE (label + style latent) on MNIST and the pen train writers.

    python train_style_vae.py --config config_style_vae.yaml [--set training.epochs=2 ...]

Writes the best-by-validation checkpoint to `output.checkpoint`; per-epoch metrics, a
loss curve and a style grid (rows: held-out pen train writers' styles, columns: 0-9)
under `output.results_dir`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from src.checkpoint import save_checkpoint
from src.config import ConfigError, config_to_dict, load_config
from src.data import MNISTError, load_mnist, studio_views, to_float
from src.models.style_vae import StyleVAE
from src.runtime import EpochLog, select_device, start_run
from src.training.style_vae import (
    CURVES,
    CURVES_TITLE,
    StyleVAERunConfig,
    fit_style_vae,
    prepare_style_data,
)
from src.training.vae import neg_elbo
from src.utils.visualization import plot_curves, save_image_grid


def style_grid(model: StyleVAE, images: torch.Tensor, labels: torch.Tensor,
               writers: list[str], path: Path) -> None:  # fmt: skip
    """One row per writer: the digits 0-9 written in the style of that writer's digits."""
    rows = []
    for writer in sorted(set(writers)):
        mine = torch.tensor([w == writer for w in writers])
        style = model.style(to_float(images[mine]), labels[mine])
        rows.append(model.write(torch.arange(10), style))
    save_image_grid(torch.cat(rows).cpu(), path, columns=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config_style_vae.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        config = load_config(StyleVAERunConfig, args.config, args.set)
        splits = load_mnist(config.data.root, config.data.val_size, config.data.split_seed)
        device = select_device(config.training.device)
    except (ConfigError, MNISTError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    results = start_run(config, "style_vae")
    start = time.perf_counter()
    try:
        data = prepare_style_data(config, splits)
    except OSError as e:
        print(f"error: pen-stroke digits: {e}", file=sys.stderr)
        return 2
    prepare_seconds = time.perf_counter() - start
    print(f"{len(data.train_images)} training digits ready in {prepare_seconds:.1f}s")

    log = EpochLog(results / "style_vae_metrics.json", score=lambda r: -r.val_neg_elbo)
    model = fit_style_vae(config, data, device, log, progress=not args.no_progress)
    model.load_state_dict(log.best_state)
    model.eval()
    # MNIST's test digits as the studio sees them: what the model learnt and is given.
    test_views = studio_views(splits.test_images, cache_dir=config.data.cache)
    test = neg_elbo(model, test_views, labels=splits.test_labels)
    metrics = {
        "best_epoch": log.best.epoch,
        "val_neg_elbo": log.best.val_neg_elbo,
        "test_neg_elbo": test["neg_elbo"],  # nats per image, MNIST test studio views
        "train_digits": len(data.train_images),
        "data_prepare_seconds": prepare_seconds,
        "train_seconds": log.train_seconds,
        "history": log.history,
    }
    save_checkpoint(
        config.output.checkpoint, "style_vae", model.cpu(),
        config_to_dict(config.model), config_to_dict(config), metrics,
    )  # fmt: skip
    plot_curves(log.history, CURVES, results / "style_vae_curves.png", title=CURVES_TITLE)
    if len(data.val_writers):
        style_grid(model, data.val_pen_images, data.val_pen_labels, data.val_writers,
                   results / "style_grid_val_writers.png")  # fmt: skip
    print(
        f"best epoch {log.best.epoch}: val -ELBO {log.best.val_neg_elbo:.2f}, MNIST test -ELBO "
        f"{test['neg_elbo']:.2f}, {metrics['train_seconds']:.1f}s -> {config.output.checkpoint}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
