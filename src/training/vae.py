"""Training the VAE: config schema, the loop, evaluation in nats per image."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn as nn
from torch.optim.lr_scheduler import LambdaLR

from src.config import bounded
from src.data import MNISTSplits, batches, to_float
from src.models.vae import ConvVAE, VAEConfig, elbo_terms, importance_log_likelihood
from src.runtime import DEVICES, eval_mode
from src.training.classifier import DataConfig

# The training curves: {panel: history keys}, drawn by the script and from a
# shipped checkpoint's history (`scripts/model_figures.py`).
CURVES = {"objective": ["train_loss", "val_neg_elbo"], "terms (val)": ["val_recon", "val_kl"]}
CURVES_TITLE = "VAE training (nats per image)"


@dataclass
class VAEDataConfig(DataConfig):
    batch_size: int = bounded(128, 1, 8192)
    augment: bool = False  # the VAE models MNIST as it is


@dataclass
class VAETrainingConfig:
    epochs: int = bounded(17, 1, 1000)
    lr: float = bounded(3e-3, 0.0, 1.0)
    beta: float = bounded(1.0, 0.0, 100.0)  # weight of the KL term
    kl_warmup_epochs: float = bounded(1.0, 0.0, 100.0)  # beta ramps up from 0 over these
    seed: int = 0
    device: str = bounded("auto", choices=DEVICES)
    sample_every: int = bounded(5, 1, 1000)  # epochs between sample grids


@dataclass
class VAEOutputConfig:
    checkpoint: str = "checkpoints/vae.pth"
    results_dir: str = "results"
    samples_dir: str = "results/vae_samples"


@dataclass
class VAERunConfig:
    data: VAEDataConfig = field(default_factory=VAEDataConfig)
    model: VAEConfig = field(default_factory=VAEConfig)
    training: VAETrainingConfig = field(default_factory=VAETrainingConfig)
    output: VAEOutputConfig = field(default_factory=VAEOutputConfig)


@dataclass
class VAEEpochResult:
    epoch: int
    train_loss: float  # the beta-weighted objective that was optimised
    val_neg_elbo: float  # beta = 1: the true bound, comparable across runs
    val_recon: float
    val_kl: float
    beta: float
    seconds: float


def cosine_to_tenth(optimizer: torch.optim.Optimizer, total_steps: int) -> LambdaLR:
    """Cosine decay of the learning rate to a tenth of its peak over `total_steps`: the
    last epochs settle instead of bouncing."""
    return LambdaLR(
        optimizer, lambda s: 0.1 + 0.45 * (1 + math.cos(math.pi * min(1.0, s / total_steps)))
    )


def warm_beta(step: int, warmup_steps: float, beta: float) -> float:
    """The KL weight at `step`: from 0 up to `beta` over the warm-up, then `beta`."""
    return beta * min(1.0, step / warmup_steps) if warmup_steps else beta


@torch.no_grad()
def neg_elbo(
    model: nn.Module,
    images: torch.Tensor,
    batch_size: int = 1000,
    seed: int = 0,
    labels: torch.Tensor | None = None,
) -> dict:
    """Mean -ELBO, reconstruction and KL in nats per image (beta = 1), reproducibly;
    `labels` for a conditional model."""
    device = next(model.parameters()).device
    rng_state = torch.get_rng_state()
    torch.manual_seed(seed)  # one posterior sample per image: fix it for comparable numbers
    recon_sum = kl_sum = 0.0
    with eval_mode(model):
        for start in range(0, len(images), batch_size):
            x = to_float(images[start : start + batch_size]).to(device)
            y = None if labels is None else labels[start : start + batch_size].to(device)
            recon, kl, _ = elbo_terms(model, x, labels=y)
            recon_sum += recon.item() * len(x)
            kl_sum += kl.item() * len(x)
    torch.set_rng_state(rng_state)
    n = len(images)
    return {"neg_elbo": (recon_sum + kl_sum) / n, "recon": recon_sum / n, "kl": kl_sum / n}


@torch.no_grad()
def importance_nll(
    model: ConvVAE, images: torch.Tensor, k: int = 100, batch_size: int = 100, seed: int = 0
) -> float:
    """Mean importance-sampled -log p(x) in nats per image: a tighter number than -ELBO."""
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    total = 0.0
    for start in range(0, len(images), batch_size):
        x = to_float(images[start : start + batch_size]).to(device)
        total += importance_log_likelihood(model, x, k, generator).sum().item()
    return -total / len(images)


def fit_vae(
    config: VAERunConfig,
    splits: MNISTSplits,
    device: torch.device,
    on_epoch: Callable[[VAEEpochResult, nn.Module], None] | None = None,
    progress: bool = True,
    build: Callable[[], nn.Module] | None = None,
    labelled: bool = False,
) -> nn.Module:
    """Train a new VAE (`build()`, by default a `ConvVAE`) on `splits`' train images,
    validating on its val images after every epoch. `labelled`: the model is given the
    labels too (the conditional `StyleVAE`). `splits` is anything with train/val images
    and labels; `config` anything with `training` and `data.batch_size` like VAERunConfig."""
    from tqdm import tqdm

    tc = config.training
    torch.manual_seed(tc.seed)
    generator = torch.Generator().manual_seed(tc.seed)
    # Channels-last weights and input, and Adam's fused step: the restyling VAE's 12
    # epochs took 345 s instead of 362 on 2 CPU cores (AVX2, float32).
    model = build() if build is not None else ConvVAE(config.model)
    model = model.to(device, memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=tc.lr, fused=device.type == "cpu")
    batch_size = config.data.batch_size
    steps_per_epoch = -(-len(splits.train_images) // batch_size)
    total_steps = tc.epochs * steps_per_epoch
    schedule = cosine_to_tenth(optimizer, total_steps)
    warmup_steps = tc.kl_warmup_epochs * steps_per_epoch
    step = 0
    for epoch in range(1, tc.epochs + 1):
        model.train()
        start_time = time.perf_counter()
        loss_sum, seen = 0.0, 0
        bar = tqdm(
            batches(splits.train_images, splits.train_labels, batch_size, True, generator),
            total=steps_per_epoch,
            desc=f"epoch {epoch}/{tc.epochs}",
            disable=not progress,
            leave=False,
        )
        for x, y in bar:
            x = x.to(device, memory_format=torch.channels_last)
            beta = warm_beta(step, warmup_steps, tc.beta)
            _, _, loss = elbo_terms(model, x, beta, labels=y.to(device) if labelled else None)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            loss_sum += loss.item() * len(x)
            seen += len(x)
            if progress and step % 50 == 0:
                bar.set_postfix(loss=f"{loss_sum / seen:.2f}")
        seconds = time.perf_counter() - start_time
        val = neg_elbo(model, splits.val_images, labels=splits.val_labels if labelled else None)
        result = VAEEpochResult(
            epoch, loss_sum / seen, val["neg_elbo"], val["recon"], val["kl"], beta, seconds
        )
        if progress:
            print(
                f"epoch {epoch}: train loss {result.train_loss:.2f} | val -ELBO "
                f"{val['neg_elbo']:.2f} (recon {val['recon']:.2f} + KL {val['kl']:.2f}) "
                f"| {seconds:.1f}s",
                flush=True,
            )
        if on_epoch is not None:
            on_epoch(result, model)
    return model
