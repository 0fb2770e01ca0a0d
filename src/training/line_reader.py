"""Training the line reader: config schema, data, the CTC loop and line accuracy."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from src.calibration import confidence_error, fit_scale
from src.config import bounded
from src.data import AugmentParams, MNISTSplits, augment_digits, cached
from src.lines import LineDataConfig, build_lines
from src.models.line_reader import BLANK, STRIDE, LineReader, LineReaderConfig, greedy_decode
from src.runtime import DEVICES, eval_mode, mixed_precision
from src.strokes import PenDigit
from src.training.classifier import one_cycle_lr, split_pen_writers

GROUP_BATCHES = 16  # batches are made of similar widths within groups of this many


# The training curves: {panel: history keys}, drawn by the script and from a
# shipped checkpoint's history (`scripts/model_figures.py`).
CURVES = {"CTC loss": ["train_loss"], "val lines exact": ["val_line_accuracy"]}
CURVES_TITLE = "Line reader training"


@dataclass
class LineTrainingConfig:
    epochs: int = bounded(6, 1, 1000)
    batch_size: int = bounded(64, 1, 4096)
    lr: float = bounded(2e-3, 0.0, 1.0)  # peak of the one-cycle schedule (AdamW)
    weight_decay: float = bounded(1e-4, 0.0, 1.0)
    warmup_frac: float = bounded(0.1, 0.0, 1.0)
    grad_clip: float = bounded(5.0, 0.0, 1000.0)  # CTC gradients spike early on
    seed: int = 0
    device: str = bounded("auto", choices=DEVICES)
    mixed_precision: bool = True  # bfloat16 autocast (see src.runtime.mixed_precision)
    augment: bool = True  # distort each batch afresh (see the `augment` section)


@dataclass
class LineOutputConfig:
    checkpoint: str = "checkpoints/line_reader.pth"
    results_dir: str = "results"


@dataclass
class LineDataSource:
    root: str = "data"  # MNIST folder; $DIGIT_STUDIO_DATA takes precedence
    val_size: int = bounded(5000, 0, 30000)
    split_seed: int = 0  # the same MNIST and pen-writer hold-outs as the classifier's
    pen_val_writers: int = bounded(4, 0, 29)
    cache: str = "data/cache"


def line_augment() -> AugmentParams:
    """Fresh distortions of the cached lines each epoch: lean, size, pen, smooth bends.
    No rotation: a tilted line is straightened by the reading before it gets here."""
    return AugmentParams(rotate_deg=0.0, translate_px=1.0, scale_min=0.92, scale_max=1.0,
                         shear_deg=10.0, thickness_prob=0.2, elastic_px=1.5,
                         elastic_prob=0.5)  # fmt: skip


@dataclass
class LineReaderRunConfig:
    data: LineDataSource = field(default_factory=LineDataSource)
    lines: LineDataConfig = field(default_factory=LineDataConfig)
    augment: AugmentParams = field(default_factory=line_augment)
    model: LineReaderConfig = field(default_factory=LineReaderConfig)
    training: LineTrainingConfig = field(default_factory=LineTrainingConfig)
    output: LineOutputConfig = field(default_factory=LineOutputConfig)


@dataclass
class LineSet:
    """Lines as uint8 strips (N, 32, W), their used widths and their digit strings."""

    strips: torch.Tensor
    widths: torch.Tensor
    texts: list[str]

    def __len__(self) -> int:
        return len(self.texts)


def _pack(strips: np.ndarray, widths: np.ndarray, texts: list[str]) -> tuple[torch.Tensor, ...]:
    codes = [torch.tensor([int(c) for c in t], dtype=torch.long) for t in texts]
    return (
        torch.from_numpy(strips),
        torch.from_numpy(widths),
        torch.cat(codes),
        torch.tensor([len(c) for c in codes]),
    )


def _unpack(strips, widths, codes, lengths) -> LineSet:
    texts, start = [], 0
    for n in lengths.tolist():
        texts.append("".join(str(c) for c in codes[start : start + n].tolist()))
        start += n
    return LineSet(strips, widths, texts)


def prepare_lines(
    config: LineReaderRunConfig, splits: MNISTSplits, pen: list[PenDigit] | None = None
) -> tuple[LineSet, LineSet]:
    """(train, validation) lines, built once and cached in `data.cache`. Training lines
    come from the pen train writers minus the held-out ones and MNIST train; validation
    lines from those held-out writers and MNIST validation."""
    if pen is None:
        from src.strokes import load_pendigits

        pen = load_pendigits()
    train_pen, val_pen = split_pen_writers(pen, config.data.pen_val_writers, config.data.split_seed)
    sets = []
    for name, digits, images, labels, count, seed in (
        (
            "lines_train",
            train_pen,
            splits.train_images,
            splits.train_labels,
            config.lines.lines,
            config.lines.seed,
        ),
        (
            "lines_val",
            val_pen,
            splits.val_images,
            splits.val_labels,
            config.lines.val_lines,
            config.lines.seed + 1,
        ),
    ):
        images_np, labels_np = images.numpy(), labels.numpy()

        def build(digits=digits, images_np=images_np, labels_np=labels_np, count=count, seed=seed):
            return _pack(*build_lines(digits, images_np, labels_np, count, config.lines, seed))

        key = repr((vars(config.lines), count, seed, [(d.writer, d.label) for d in digits]))
        sets.append(
            _unpack(*cached(config.data.cache, name, key.encode() + images_np.tobytes(), build))
        )
    return sets[0], sets[1]


def line_batches(lines: LineSet, batch_size: int, generator: torch.Generator):
    """Shuffled batches of similar widths (less padding), each cropped to its widest
    line: (images (B, 1, 32, W) float, targets, target lengths, input lengths)."""
    order = torch.randperm(len(lines), generator=generator)
    group = batch_size * GROUP_BATCHES
    chunks = []
    for start in range(0, len(order), group):
        block = order[start : start + group]
        block = block[torch.argsort(lines.widths[block])]
        chunks += list(block.split(batch_size))
    for i in torch.randperm(len(chunks), generator=generator).tolist():
        yield collate(lines, chunks[i])


def collate(lines: LineSet, index: torch.Tensor):
    widths = lines.widths[index]
    x = lines.strips[index, :, : int(widths.max())].float().div(255).unsqueeze(1)
    texts = [lines.texts[i] for i in index.tolist()]
    targets = torch.tensor([int(c) for t in texts for c in t], dtype=torch.long)
    target_lengths = torch.tensor([len(t) for t in texts])
    return x, targets, target_lengths, widths // STRIDE


@torch.no_grad()
def read_lines(model: LineReader, lines: LineSet, batch_size: int = 256) -> list[str]:
    """Greedy readings of every line, in order."""
    device = next(model.parameters()).device
    texts = []
    with eval_mode(model):
        for start in range(0, len(lines), batch_size):
            index = torch.arange(start, min(start + batch_size, len(lines)))
            x, _, _, input_lengths = collate(lines, index)
            decoded = greedy_decode(model(x.to(device)).cpu(), input_lengths)
            texts += ["".join(str(d.label) for d in line) for line in decoded]
    return texts


def line_accuracy(model: LineReader, lines: LineSet) -> float:
    read = read_lines(model, lines)
    return float(np.mean([r == t for r, t in zip(read, lines.texts, strict=True)]))


@torch.no_grad()
def calibrate_line_reader(model: LineReader, lines: LineSet, batch_size: int = 256) -> dict:
    """Fit the line reader's temperature on held-out lines (minimising their CTC NLL) and
    set it; returns NLL and the digits' calibration error, before and after.

    A digit's confidence is its best per-column probability (`greedy_decode`); it counts
    as right when its line was read with the right number of digits and it matches the
    truth at its place. Lines read with a wrong count are left out of the error."""
    device = next(model.parameters()).device
    model.temperature.fill_(1.0)
    batches = []  # the logits are computed once; every temperature tried rescales them
    with eval_mode(model):
        for start in range(0, len(lines), batch_size):
            x, targets, target_lengths, input_lengths = collate(
                lines, torch.arange(start, min(start + batch_size, len(lines)))
            )
            logits = model.logits(x.to(device)).cpu()
            batches.append((logits, targets, target_lengths, input_lengths))

    def nll(t: torch.Tensor) -> torch.Tensor:
        losses = [
            F.ctc_loss(
                torch.log_softmax(logits / t, dim=-1), targets, inputs, target_lengths,
                blank=BLANK, reduction="sum", zero_infinity=True,
            )
            for logits, targets, target_lengths, inputs in batches
        ]  # fmt: skip
        return torch.stack(losses).sum() / len(lines)

    def digit_error(t: float) -> float:
        confidence, correct = [], []
        texts = iter(lines.texts)
        for logits, _, _, inputs in batches:
            for read in greedy_decode(torch.log_softmax(logits / t, dim=-1), inputs):
                truth = next(texts)
                if len(read) == len(truth):
                    confidence += [d.confidence for d in read]
                    correct += [str(d.label) == c for d, c in zip(read, truth, strict=True)]
        return confidence_error(torch.tensor(confidence), torch.tensor(correct))

    with torch.enable_grad():
        temperature = fit_scale(nll)
    report = {
        "temperature": temperature,
        "ctc_nll_before": float(nll(torch.tensor(1.0))),
        "ctc_nll_after": float(nll(torch.tensor(temperature))),
        "digit_ece_before": digit_error(1.0),
        "digit_ece_after": digit_error(temperature),
    }
    model.temperature.fill_(temperature)
    return report


@dataclass
class LineEpochResult:
    epoch: int
    train_loss: float
    val_line_accuracy: float
    lr: float
    seconds: float


def fit_line_reader(
    config: LineReaderRunConfig,
    train: LineSet,
    val: LineSet,
    device: torch.device,
    on_epoch: Callable[[LineEpochResult, LineReader], None] | None = None,
    progress: bool = True,
) -> LineReader:
    """Train a line reader from scratch with CTC; returns the model after the last epoch."""
    from tqdm import tqdm

    tc = config.training
    torch.manual_seed(tc.seed)
    generator = torch.Generator().manual_seed(tc.seed)
    # Channels-last: convolutions and pooling run faster in NHWC on CPU (the model's
    # features take their input in that layout too).
    model = LineReader(config.model).to(device, memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    group = tc.batch_size * GROUP_BATCHES
    steps_per_epoch = sum(
        math.ceil(min(group, len(train) - s) / tc.batch_size) for s in range(0, len(train), group)
    )
    total = tc.epochs * steps_per_epoch
    step = 0
    for epoch in range(1, tc.epochs + 1):
        model.train()
        start = time.perf_counter()
        loss_sum, seen = 0.0, 0
        bar = tqdm(
            line_batches(train, tc.batch_size, generator),
            total=steps_per_epoch,
            desc=f"epoch {epoch}/{tc.epochs}",
            disable=not progress,
            leave=False,
        )
        for x, targets, target_lengths, input_lengths in bar:
            for group in optimizer.param_groups:
                group["lr"] = one_cycle_lr(step, total, tc.lr, tc.warmup_frac)
            if tc.augment:
                x = augment_digits(x, config.augment, generator)
            with mixed_precision(device, tc.mixed_precision):
                log_probs = model(x.to(device)).float()  # CTC sums many terms: float32
            loss = F.ctc_loss(
                log_probs, targets, input_lengths, target_lengths, blank=BLANK, zero_infinity=True
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if tc.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
            optimizer.step()
            step += 1
            loss_sum += loss.item() * len(x)
            seen += len(x)
            if progress and step % 20 == 0:
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}")
        seconds = time.perf_counter() - start
        result = LineEpochResult(
            epoch,
            loss_sum / max(1, seen),
            line_accuracy(model, val),
            optimizer.param_groups[0]["lr"],
            seconds,
        )
        if progress:
            print(
                f"epoch {epoch}: train loss {result.train_loss:.4f} | val lines "
                f"{result.val_line_accuracy:.4f} | {seconds:.1f}s",
                flush=True,
            )
        if on_epoch is not None:
            on_epoch(result, model)
    return model


__all__ = [
    "LineReaderRunConfig",
    "calibrate_line_reader",
    "LineSet",
    "fit_line_reader",
    "line_accuracy",
    "prepare_lines",
    "read_lines",
]
