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
    cached,
    studio_views,
    to_float,
)
from src.models.classifier import ClassifierConfig, DigitClassifier
from src.reading.config import SegmentConfig
from src.runtime import DEVICES, eval_mode, mixed_precision
from src.strokes import PenDigit
from src.synth import SYNTH_VERSION, SynthConfig, build_training_set

# The training curves: {panel: history keys}, drawn by the script and from a
# shipped checkpoint's history (`scripts/model_figures.py`).
CURVES = {
    "loss": ["train_loss", "val_loss"],
    "accuracy": ["train_accuracy", "val_accuracy", "pen_val_accuracy"],
}
CURVES_TITLE = "Classifier training"


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
    # Pen training writers held out to choose the best epoch and fit the temperature
    # (the pendigits test writers are never used: they are evaluation data).
    pen_val_writers: int = bounded(4, 0, 29)


@dataclass
class ClassifierTrainingConfig:
    epochs: int = bounded(4, 1, 1000)
    lr: float = bounded(4e-3, 0.0, 1.0)  # peak of the one-cycle schedule
    weight_decay: float = bounded(5e-4, 0.0, 1.0)
    label_smoothing: float = bounded(0.1, 0.0, 0.5)
    warmup_frac: float = bounded(0.25, 0.0, 1.0)
    seed: int = 0
    device: str = bounded("auto", choices=DEVICES)
    mixed_precision: bool = True  # bfloat16 autocast: about 2x faster on AMX CPUs


@dataclass
class OutputConfig:
    checkpoint: str = "checkpoints/classifier.pth"
    results_dir: str = "results"


@dataclass
class ClassifierRunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentParams = field(default_factory=AugmentParams)
    model: ClassifierConfig = field(default_factory=ClassifierConfig)
    synth: SynthConfig = field(default_factory=SynthConfig)
    training: ClassifierTrainingConfig = field(default_factory=ClassifierTrainingConfig)
    output: OutputConfig = field(default_factory=OutputConfig)


@dataclass
class EpochResult:
    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    pen_val_accuracy: float  # held-out pen training writers, as the studio sees them
    lr: float
    seconds: float  # training wall time of this epoch, evaluation excluded

    @property
    def selection_score(self) -> float:
        """What picks the best epoch: MNIST and held-out pen writers count alike, since
        the studio reads both kinds of writing."""
        if math.isnan(self.pen_val_accuracy):
            return self.val_accuracy
        return (self.val_accuracy + self.pen_val_accuracy) / 2


@torch.no_grad()
def predict_logits(
    model: torch.nn.Module, images: torch.Tensor, batch_size: int = 2000
) -> torch.Tensor:
    """Logits for uint8 (N, 28, 28) or float (N, 1, 28, 28) images, in eval mode."""
    device = next(model.parameters()).device
    chunks = []
    with eval_mode(model):
        for start in range(0, max(len(images), 1), batch_size):  # no images: (0, outputs)
            x = images[start : start + batch_size]
            x = to_float(x) if x.dtype == torch.uint8 else x
            chunks.append(model(x.to(device)).cpu())
    return torch.cat(chunks)


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


@dataclass
class TrainingData:
    """Everything a classifier run learns from and is selected on."""

    mnist: MNISTSplits
    views: torch.Tensor | None  # MNIST training digits as the studio sees them
    extra_images: torch.Tensor  # pen writers, styles, scans, not-a-digit (uint8)
    extra_labels: torch.Tensor  # 0-9, or 10 for "not a single digit"
    pen_val_images: torch.Tensor  # held-out pen training writers, one drawing each
    pen_val_labels: torch.Tensor
    pen_writers: list[str]  # the pen writers in extra_images, for the record


def split_pen_writers(
    pen: list[PenDigit], n_val: int, seed: int
) -> tuple[list[PenDigit], list[PenDigit]]:
    """(train, validation) digits of the pendigits *train* writers; test writers never."""
    pen = [d for d in pen if d.split == "train"]
    writers = sorted({d.writer for d in pen})
    order = torch.randperm(len(writers), generator=torch.Generator().manual_seed(seed))
    held_out = {writers[i] for i in order[:n_val].tolist()}
    return [d for d in pen if d.writer not in held_out], [d for d in pen if d.writer in held_out]


def held_out_writers(train_config: dict, pen: list[PenDigit]) -> set[str]:
    """The pen train writers a checkpoint's training kept out, by its recorded `data`
    settings (every script splits writers with `split_pen_writers`)."""
    data = train_config.get("data", {})
    held = split_pen_writers(pen, data.get("pen_val_writers", 0), data.get("split_seed", 0))[1]
    return {d.writer for d in held}


def prepare_training_data(
    config: ClassifierRunConfig, splits: MNISTSplits, pen: list[PenDigit] | None = None
) -> TrainingData:
    """MNIST's studio views and the synthetic set (see `src.synth`), built once and
    cached in `data.cache`; `pen` defaults to the pendigits file."""
    views = None
    if config.data.studio_view > 0:
        views = studio_views(splits.train_images, cache_dir=config.data.cache)
    empty = torch.zeros(0, 28, 28, dtype=torch.uint8), torch.zeros(0, dtype=torch.long)
    if not config.synth.enabled:
        return TrainingData(splits, views, *empty, *empty, [])
    if pen is None:
        from src.strokes import load_pendigits

        pen = load_pendigits()
    train_pen, val_pen = split_pen_writers(pen, config.data.pen_val_writers, config.data.split_seed)
    images, labels = splits.train_images.numpy(), splits.train_labels.numpy()

    def build_extra() -> tuple[torch.Tensor, torch.Tensor]:
        x, y = build_training_set(train_pen, images, labels, config.synth)
        return torch.from_numpy(x), torch.from_numpy(y)

    def build_val() -> tuple[torch.Tensor, torch.Tensor]:
        if not val_pen:  # data.pen_val_writers = 0: every train writer is trained on
            return empty
        one_drawing = SynthConfig(pen_renders=1, styled=0, not_digit=0, scan_share=0.0,
                                  mnist_scans=0, seed=config.synth.seed + 1)  # fmt: skip
        x, y = build_training_set(val_pen, images[:0], labels[:0], one_drawing)
        return torch.from_numpy(x), torch.from_numpy(y)

    def key(digits: list[PenDigit]) -> bytes:
        settings = (SYNTH_VERSION, vars(SegmentConfig()), vars(config.synth))
        writers = [(d.writer, d.label) for d in digits]
        return repr((settings, writers)).encode() + images.tobytes()

    extra = cached(config.data.cache, "synth_train", key(train_pen), build_extra)
    val = cached(config.data.cache, "synth_pen_val", key(val_pen), build_val)
    return TrainingData(splits, views, *extra, *val, sorted({d.writer for d in train_pen}))


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
    data: TrainingData,
    device: torch.device,
    on_epoch: Callable[[EpochResult, DigitClassifier], None] | None = None,
    probe: Probe | None = None,
    probe_every: int = 0,
    progress: bool = True,
) -> DigitClassifier:
    """Train a classifier from scratch; returns the model after the last epoch.

    Each epoch shows every MNIST training digit (a fresh `data.studio_view` share of
    them as the studio sees them) and every synthetic item, shuffled together.

    `on_epoch` sees each epoch's metrics and model (for checkpointing the best);
    `probe(model, step, train_seconds)` runs every `probe_every` steps with the clock
    stopped, for benchmarks that track accuracy against training time.
    """
    from tqdm import tqdm

    tc = config.training
    splits = data.mnist
    torch.manual_seed(tc.seed)
    generator = torch.Generator().manual_seed(tc.seed)
    model = DigitClassifier(config.model).to(device, memory_format=torch.channels_last)
    has_rejects = bool((data.extra_labels >= config.model.num_classes).any())
    if has_rejects and not config.model.reject_class:
        raise ValueError("the training set has 'not a digit' items: set model.reject_class")
    optimizer = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    batch_size = config.data.batch_size
    labels = torch.cat([splits.train_labels, data.extra_labels])
    steps_per_epoch = math.ceil(len(labels) / batch_size)
    total_steps = tc.epochs * steps_per_epoch
    step, train_seconds = 0, 0.0
    for epoch in range(1, tc.epochs + 1):
        model.train()
        epoch_start = time.perf_counter()
        paused = 0.0
        loss_sum, correct, seen = 0.0, 0, 0
        mnist = splits.train_images
        if data.views is not None and config.data.studio_view > 0:
            shown = torch.rand(len(mnist), generator=generator) < config.data.studio_view
            mnist = torch.where(shown[:, None, None], data.views, mnist)
        images = torch.cat([mnist, data.extra_images])
        bar = tqdm(
            batches(images, labels, batch_size, True, generator),
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
            with mixed_precision(device, tc.mixed_precision):
                logits = model.all_logits(x).float()
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
        pen_val_acc = float("nan")
        if len(data.pen_val_labels):
            pen_logits = predict_logits(model, data.pen_val_images)
            pen_val_acc = accuracy_and_loss(pen_logits, data.pen_val_labels)[0]
        result = EpochResult(
            epoch, loss_sum / seen, correct / seen, val_loss, val_acc, pen_val_acc,
            optimizer.param_groups[0]["lr"], seconds,
        )  # fmt: skip
        if progress:
            print(
                f"epoch {epoch}: train loss {result.train_loss:.4f} acc {result.train_accuracy:.4f}"
                f" | val loss {val_loss:.4f} acc {val_acc:.4f} | pen val acc {pen_val_acc:.4f}"
                f" | {seconds:.1f}s",
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
