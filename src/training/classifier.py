"""Training the digit classifier: config schema, the loop, evaluation and calibration."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from src.calibration import (
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
)
from src.config import bounded
from src.data import (
    AugmentParams,
    MNISTSplits,
    augment_digits,
    batches,
    studio_views,
    to_float,
)
from src.models.classifier import ClassifierConfig, DigitClassifier
from src.runtime import DEVICES


@dataclass
class DataConfig:
    root: str = "data"  # $DIGIT_STUDIO_DATA, when set, takes precedence
    val_size: int = bounded(5000, 0, 30000)
    split_seed: int = 0
    batch_size: int = bounded(256, 1, 8192)
    augment: bool = True
    # Share of training digits shown, each epoch, as the studio sees them once drawn
    # (see src.data.studio_views); the rest stay raw MNIST.
    studio_view: float = bounded(0.5, 0.0, 1.0)
    cache: str = "data/cache"  # where those views are kept between runs


@dataclass
class ClassifierTrainingConfig:
    epochs: int = bounded(4, 1, 1000)
    lr: float = bounded(4e-3, 0.0, 1.0)  # peak of the one-cycle schedule
    weight_decay: float = bounded(5e-4, 0.0, 1.0)
    label_smoothing: float = bounded(0.1, 0.0, 0.5)
    warmup_frac: float = bounded(0.25, 0.0, 1.0)
    seed: int = 0
    device: str = bounded("auto", choices=DEVICES)


@dataclass
class OutputConfig:
    checkpoint: str = "checkpoints/classifier.pth"
    results_dir: str = "results"


@dataclass
class ClassifierRunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentParams = field(default_factory=AugmentParams)
    model: ClassifierConfig = field(default_factory=ClassifierConfig)
    training: ClassifierTrainingConfig = field(default_factory=ClassifierTrainingConfig)
    output: OutputConfig = field(default_factory=OutputConfig)


@dataclass
class EpochResult:
    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    lr: float
    seconds: float  # training wall time of this epoch, evaluation excluded


@torch.no_grad()
def predict_logits(
    model: torch.nn.Module, images: torch.Tensor, batch_size: int = 2000
) -> torch.Tensor:
    """Logits for uint8 (N, 28, 28) or float (N, 1, 28, 28) images, in eval mode."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    chunks = []
    for start in range(0, len(images), batch_size):
        x = images[start : start + batch_size]
        x = to_float(x) if x.dtype == torch.uint8 else x
        chunks.append(model(x.to(device)).cpu())
    model.train(was_training)
    return torch.cat(chunks) if chunks else torch.empty(0, 10)


def accuracy_and_loss(logits: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    acc = (logits.argmax(1) == labels).float().mean().item()
    return acc, F.cross_entropy(logits, labels).item()


def one_cycle_lr(step: int, total: int, peak: float, warmup_frac: float) -> float:
    """Linear warm-up to `peak`, then cosine decay to zero: fast and forgiving."""
    warmup = max(1, int(total * warmup_frac))
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


Probe = Callable[[DigitClassifier, int, float], None]


def prepare_views(config: ClassifierRunConfig, splits: MNISTSplits) -> torch.Tensor | None:
    """The training digits as the studio sees them, when the config asks for them."""
    if config.data.studio_view <= 0:
        return None
    return studio_views(splits.train_images, cache_dir=config.data.cache)


def studio_view_accuracy(
    model: torch.nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    cache_dir: str | None = None,
) -> float:
    """Accuracy on uint8 digits as the studio sees them once drawn: what reading rests on."""
    views = studio_views(images, cache_dir=cache_dir)
    return accuracy_and_loss(predict_logits(model, views), labels)[0]


def fit_classifier(
    config: ClassifierRunConfig,
    splits: MNISTSplits,
    device: torch.device,
    on_epoch: Callable[[EpochResult, DigitClassifier], None] | None = None,
    probe: Probe | None = None,
    probe_every: int = 0,
    progress: bool = True,
    views: torch.Tensor | None = None,
) -> DigitClassifier:
    """Train a classifier from scratch; returns the model after the last epoch.

    `views`: the training images as the studio sees them (`src.data.studio_views`);
    each epoch a fresh `data.studio_view` share of digits is shown that way.

    `on_epoch` sees each epoch's metrics and model (for checkpointing the best);
    `probe(model, step, train_seconds)` runs every `probe_every` steps with the clock
    stopped, for benchmarks that track accuracy against training time.
    """
    from tqdm import tqdm

    tc = config.training
    torch.manual_seed(tc.seed)
    generator = torch.Generator().manual_seed(tc.seed)
    model = DigitClassifier(config.model).to(device, memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    batch_size = config.data.batch_size
    steps_per_epoch = math.ceil(len(splits.train_images) / batch_size)
    total_steps = tc.epochs * steps_per_epoch
    step, train_seconds = 0, 0.0
    for epoch in range(1, tc.epochs + 1):
        model.train()
        epoch_start = time.perf_counter()
        paused = 0.0
        loss_sum, correct, seen = 0.0, 0, 0
        images = splits.train_images
        if views is not None and config.data.studio_view > 0:
            shown = torch.rand(len(images), generator=generator) < config.data.studio_view
            images = torch.where(shown[:, None, None], views, images)
        bar = tqdm(
            batches(images, splits.train_labels, batch_size, True, generator),
            total=steps_per_epoch,
            desc=f"epoch {epoch}/{tc.epochs}",
            disable=not progress,
            leave=False,
        )
        for x, y in bar:
            if config.data.augment:
                x = augment_digits(x, config.augment, generator)
            x, y = x.to(device), y.to(device)
            for group in optimizer.param_groups:
                group["lr"] = one_cycle_lr(step, total_steps, tc.lr, tc.warmup_frac)
            logits = model(x)
            loss = F.cross_entropy(logits, y, label_smoothing=tc.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            loss_sum += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
            if progress and step % 20 == 0:
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}")
            if probe is not None and probe_every and step % probe_every == 0:
                pause_start = time.perf_counter()
                probe(model, step, train_seconds + pause_start - epoch_start - paused)
                paused += time.perf_counter() - pause_start
        seconds = time.perf_counter() - epoch_start - paused
        train_seconds += seconds
        val_acc, val_loss = accuracy_and_loss(
            predict_logits(model, splits.val_images), splits.val_labels
        )
        result = EpochResult(
            epoch, loss_sum / seen, correct / seen, val_loss, val_acc,
            optimizer.param_groups[0]["lr"], seconds,
        )  # fmt: skip
        if progress:
            print(
                f"epoch {epoch}: train loss {result.train_loss:.4f} acc {result.train_accuracy:.4f}"
                f" | val loss {val_loss:.4f} acc {val_acc:.4f} | {seconds:.1f}s",
                flush=True,
            )
        if on_epoch is not None:
            on_epoch(result, model)
    return model


def calibrate(model: DigitClassifier, val_logits: torch.Tensor, val_labels: torch.Tensor) -> float:
    """Fit the temperature on validation logits and store it in the model."""
    temperature = fit_temperature(val_logits, val_labels)
    model.temperature.fill_(temperature)
    return temperature


def evaluation_report(logits: torch.Tensor, labels: torch.Tensor, temperature: float) -> dict:
    """Accuracy, per-class accuracy, NLL and ECE (raw and temperature-scaled) as JSON-ready."""
    predicted = logits.argmax(1)
    n_classes = logits.shape[1]
    confusion = torch.bincount(labels * n_classes + predicted, minlength=n_classes**2)
    confusion = confusion.view(n_classes, n_classes)
    per_class = confusion.diag().float() / confusion.sum(1).clamp(min=1)
    raw_probs = torch.softmax(logits, 1)
    scaled_probs = torch.softmax(logits / temperature, 1)
    return {
        "accuracy": (predicted == labels).float().mean().item(),
        "n": len(labels),
        "errors": int((predicted != labels).sum()),
        "per_class_accuracy": {str(c): round(per_class[c].item(), 6) for c in range(n_classes)},
        "temperature": temperature,
        "nll": negative_log_likelihood(logits, labels, temperature),
        "nll_before_scaling": negative_log_likelihood(logits, labels),
        "ece": expected_calibration_error(scaled_probs, labels),
        "ece_before_scaling": expected_calibration_error(raw_probs, labels),
        "confusion_matrix": confusion.tolist(),
    }
