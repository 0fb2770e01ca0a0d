"""Train the convolutional VAE on MNIST, or evaluate a trained one.

    python train_vae.py --config config_vae.yaml [--set training.epochs=5 ...]
    python train_vae.py --eval-only --checkpoint checkpoints/vae.pth

Training writes the best-by-validation checkpoint to `output.checkpoint`, sample grids
(prior samples over reconstructions of fixed validation digits) to
`output.samples_dir/epoch_XX.png`, a loss-curve plot, metrics JSON and the resolved config.
Evaluation writes results/vae_eval.json: test -ELBO, its two terms and an
importance-sampled -log p(x), all in nats per image.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from src.checkpoint import CheckpointError, save_checkpoint
from src.config import ConfigError, config_to_dict, load_config
from src.data import MNISTError, load_mnist, to_float
from src.models.vae import ConvVAE, load_vae
from src.runtime import EpochLog, select_device, start_run
from src.training.vae import (
    CURVES,
    CURVES_TITLE,
    VAEEpochResult,
    VAERunConfig,
    fit_vae,
    importance_nll,
    neg_elbo,
)
from src.utils.visualization import plot_curves, save_image_grid


def sample_grid(model: ConvVAE, fixed: torch.Tensor, path: Path) -> None:
    """Top rows: 16 prior samples; then 8 validation digits over their reconstructions."""
    model.eval()
    with torch.no_grad():
        samples = model.sample(16, torch.Generator().manual_seed(0))
        recon = model.decode(model.encode(fixed)[0])
    save_image_grid(torch.cat([samples, fixed, recon]).cpu(), path, columns=8)


def evaluate(model: ConvVAE, test_images: torch.Tensor, k: int) -> dict:
    start = time.perf_counter()
    bound = neg_elbo(model, test_images)
    return {
        "test_neg_elbo": bound["neg_elbo"],
        "test_recon": bound["recon"],
        "test_kl": bound["kl"],
        "test_nll_importance": importance_nll(model, test_images, k=k),
        "importance_samples": k,
        "n": len(test_images),
        "units": "nats per image (summed BCE over 784 pixels + KL)",
        "eval_seconds": time.perf_counter() - start,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="config_vae.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--eval-only", action="store_true", help="evaluate --checkpoint")
    parser.add_argument("--checkpoint", default=None, help="default: output.checkpoint")
    parser.add_argument("--importance-samples", type=int, default=100)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        config = load_config(VAERunConfig, args.config, args.set)
        splits = load_mnist(config.data.root, config.data.val_size, config.data.split_seed)
        device = select_device(config.training.device)
        checkpoint_path = Path(args.checkpoint or config.output.checkpoint)
        model = load_vae(checkpoint_path, device) if args.eval_only else None
    except (ConfigError, MNISTError, CheckpointError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    results = Path(config.output.results_dir)
    results.mkdir(parents=True, exist_ok=True)

    if args.eval_only:
        report = evaluate(model, splits.test_images, args.importance_samples)
        (results / "vae_eval.json").write_text(json.dumps(report, indent=2))
        print(json.dumps(report, indent=2))
        return 0

    start_run(config, "vae")
    samples_dir = Path(config.output.samples_dir)
    fixed = to_float(splits.val_images[:8]).to(device)
    log = EpochLog(results / "vae_metrics.json", score=lambda r: -r.val_neg_elbo)

    def on_epoch(result: VAEEpochResult, model: ConvVAE) -> None:
        log(result, model)
        last = result.epoch == config.training.epochs
        if result.epoch % config.training.sample_every == 0 or last:
            sample_grid(model, fixed, samples_dir / f"epoch_{result.epoch:02d}.png")
            model.train()

    model = fit_vae(config, splits, device, on_epoch=on_epoch, progress=not args.no_progress)
    model.load_state_dict(log.best_state)
    metrics = {
        "best_epoch": log.best.epoch,
        "val_neg_elbo": log.best.val_neg_elbo,
        "test_neg_elbo": neg_elbo(model, splits.test_images)["neg_elbo"],
        "train_seconds": log.train_seconds,
        "history": log.history,
    }
    save_checkpoint(
        checkpoint_path, "vae", model.cpu(),
        config_to_dict(config.model), config_to_dict(config), metrics,
    )  # fmt: skip
    plot_curves(log.history, CURVES, results / "vae_curves.png", title=CURVES_TITLE)
    print(
        f"best epoch {log.best.epoch}: val -ELBO {log.best.val_neg_elbo:.2f}, test -ELBO "
        f"{metrics['test_neg_elbo']:.2f}, {metrics['train_seconds']:.1f}s -> {checkpoint_path}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
