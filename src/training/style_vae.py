"""Training the restyling VAE: config schema, data, the loop, -ELBO on held-out digits.

It learns from what the studio sees: MNIST training digits as studio views, and the
pendigits *train* writers drawn as sketches and normalised (`src.synth`), so a person's
digits, read by the studio, land where it learnt styles.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from src.config import bounded
from src.data import MNISTSplits, batches, cached, studio_views
from src.models.style_vae import StyleVAE, StyleVAEConfig
from src.models.vae import elbo_terms
from src.runtime import DEVICES
from src.strokes import PenDigit
from src.synth import SYNTH_VERSION, SynthConfig, build_training_set
from src.training.classifier import split_pen_writers
from src.training.vae import cosine_to_tenth, neg_elbo, warm_beta


@dataclass
class StyleDataConfig:
    root: str = "data"  # MNIST folder; $DIGIT_STUDIO_DATA takes precedence
    val_size: int = bounded(5000, 0, 30000)
    split_seed: int = 0  # the same MNIST and pen-writer hold-outs as the classifier's
    pen_val_writers: int = bounded(4, 0, 29)
    pen_renders: int = bounded(3, 0, 100)  # sketches of each pen training digit
    batch_size: int = bounded(128, 1, 8192)
    cache: str = "data/cache"


@dataclass
class StyleTrainingConfig:
    epochs: int = bounded(12, 1, 1000)
    lr: float = bounded(3e-3, 0.0, 1.0)  # Adam, cosine decay to a tenth
    beta: float = bounded(1.0, 0.0, 100.0)
    kl_warmup_epochs: float = bounded(1.0, 0.0, 100.0)
    seed: int = 0
    device: str = bounded("auto", choices=DEVICES)


@dataclass
class StyleOutputConfig:
    checkpoint: str = "checkpoints/style_vae.pth"
    results_dir: str = "results"


@dataclass
class StyleVAERunConfig:
    data: StyleDataConfig = field(default_factory=StyleDataConfig)
    model: StyleVAEConfig = field(default_factory=StyleVAEConfig)
    training: StyleTrainingConfig = field(default_factory=StyleTrainingConfig)
    output: StyleOutputConfig = field(default_factory=StyleOutputConfig)


@dataclass
class StyleData:
    train_images: torch.Tensor  # uint8 (N, 28, 28) studio views
    train_labels: torch.Tensor
    val_images: torch.Tensor  # MNIST validation views, then the held-out pen writers'
    val_labels: torch.Tensor
    val_pen_images: torch.Tensor  # the held-out pen writers' digits alone, one sketch each
    val_pen_labels: torch.Tensor
    val_writers: list[str]  # whose each of those is


def pen_views(pen: list[PenDigit], renders: int, cache: str, seed: int) -> tuple[torch.Tensor, ...]:
    """Each pen digit drawn `renders` times as a sketch and normalised: uint8 views and
    labels, built once and cached."""
    if not pen or renders == 0:
        return torch.zeros(0, 28, 28, dtype=torch.uint8), torch.zeros(0, dtype=torch.long)
    synth = SynthConfig(pen_renders=renders, styled=0, not_digit=0, scan_share=0.0,
                        mnist_scans=0, seed=seed)  # fmt: skip
    digits = [(d.writer, d.label, len(d.strokes)) for d in pen]
    key = f"{SYNTH_VERSION}{sorted(vars(synth).items())}{digits}".encode()
    empty = np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.int64)

    def build() -> tuple[torch.Tensor, torch.Tensor]:
        x, y = build_training_set(pen, *empty, synth)
        return torch.from_numpy(x), torch.from_numpy(y)

    return cached(cache, "style_pen_views", key, build)


def prepare_style_data(
    config: StyleVAERunConfig, splits: MNISTSplits, pen: list[PenDigit] | None = None
) -> StyleData:
    """MNIST studio views plus the pen train writers' sketches; validation from MNIST's
    held-out digits and the held-out pen train writers (never the test writers)."""
    dc = config.data
    if pen is None:
        from src.strokes import load_pendigits

        pen = load_pendigits()
    train_pen, val_pen = split_pen_writers(pen, dc.pen_val_writers, dc.split_seed)
    pen_x, pen_y = pen_views(train_pen, dc.pen_renders, dc.cache, dc.split_seed)
    val_pen_x, val_pen_y = pen_views(val_pen, 1, dc.cache, dc.split_seed)
    # One sketch per digit, in order (a failed render is redrawn, not skipped).
    writers = [d.writer for d in val_pen] if len(val_pen_y) == len(val_pen) else []
    return StyleData(
        torch.cat([studio_views(splits.train_images, cache_dir=dc.cache), pen_x]),
        torch.cat([splits.train_labels, pen_y]),
        torch.cat([studio_views(splits.val_images, cache_dir=dc.cache), val_pen_x]),
        torch.cat([splits.val_labels, val_pen_y]),
        val_pen_x, val_pen_y, writers,
    )  # fmt: skip


@dataclass
class StyleEpochResult:
    epoch: int
    train_loss: float
    val_neg_elbo: float
    beta: float
    seconds: float


def fit_style_vae(
    config: StyleVAERunConfig,
    data: StyleData,
    device: torch.device,
    on_epoch: Callable[[StyleEpochResult, StyleVAE], None] | None = None,
    progress: bool = True,
) -> StyleVAE:
    from tqdm import tqdm

    tc = config.training
    torch.manual_seed(tc.seed)
    generator = torch.Generator().manual_seed(tc.seed)
    model = StyleVAE(config.model).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=tc.lr)
    batch_size = config.data.batch_size
    steps_per_epoch = -(-len(data.train_images) // batch_size)
    total = tc.epochs * steps_per_epoch
    schedule = cosine_to_tenth(optimizer, total)
    warmup = tc.kl_warmup_epochs * steps_per_epoch
    step = 0
    for epoch in range(1, tc.epochs + 1):
        model.train()
        start = time.perf_counter()
        loss_sum, seen = 0.0, 0
        bar = tqdm(
            batches(data.train_images, data.train_labels, batch_size, True, generator),
            total=steps_per_epoch, desc=f"epoch {epoch}/{tc.epochs}",
            disable=not progress, leave=False,
        )  # fmt: skip
        for x, y in bar:
            beta = warm_beta(step, warmup, tc.beta)
            _, _, loss = elbo_terms(model, x.to(device), beta, labels=y.to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            loss_sum += loss.item() * len(x)
            seen += len(x)
        seconds = time.perf_counter() - start
        val = neg_elbo(model, data.val_images, labels=data.val_labels)
        result = StyleEpochResult(epoch, loss_sum / seen, val["neg_elbo"], beta, seconds)
        if progress:
            print(
                f"epoch {epoch}: train loss {result.train_loss:.2f} | val -ELBO "
                f"{result.val_neg_elbo:.2f} | {seconds:.1f}s",
                flush=True,
            )
        if on_epoch is not None:
            on_epoch(result, model)
    return model
