"""Training the restyling VAE: config schema, data, the loop, -ELBO on held-out digits.

It learns from what the studio sees: MNIST training digits as studio views, and the
pendigits *train* writers drawn as sketches and normalised (`src.synth`), so a person's
digits, read by the studio, land where it learnt styles.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from src.config import bounded
from src.data import MNISTSplits, cached, studio_views
from src.models.style_vae import StyleVAE, StyleVAEConfig
from src.reading.config import SegmentConfig
from src.runtime import DEVICES
from src.strokes import PenDigit
from src.synth import SYNTH_VERSION, SynthConfig, build_training_set
from src.training.classifier import split_pen_writers
from src.training.vae import VAEEpochResult, fit_vae

# The training curves: {panel: history keys}, drawn by the script and from a
# shipped checkpoint's history (`scripts/model_figures.py`).
CURVES = {"-ELBO (nats)": ["train_loss", "val_neg_elbo"]}
CURVES_TITLE = "Restyling VAE training"


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
    # The reading's normalisation makes the views: its settings are part of the key.
    settings = (SYNTH_VERSION, sorted(vars(synth).items()), sorted(vars(SegmentConfig()).items()))
    key = f"{settings}{digits}".encode()
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


def fit_style_vae(
    config: StyleVAERunConfig,
    data: StyleData,
    device: torch.device,
    on_epoch: Callable[[VAEEpochResult, StyleVAE], None] | None = None,
    progress: bool = True,
) -> StyleVAE:
    """The VAE loop (`fit_vae`) on a new StyleVAE, given the labels."""

    def build() -> StyleVAE:
        return StyleVAE(config.model)

    return fit_vae(config, data, device, on_epoch, progress, build=build, labelled=True)
