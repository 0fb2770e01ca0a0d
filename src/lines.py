"""Lines of digits for the line reader: what it reads, and what it is trained on.

Lines go to the reader through `src.reading.line_view.line_image`, as the studio's do.
Training lines are made two ways, from training data only:

- **pen lines**: a number of 1-12 digits of one pendigits *train* writer, drawn stroke by
  stroke with one brush (`render_number`), so neighbours touch the way real ones do;
  gaps from overlapping (-30% of the height) to wide, slant, size and baseline jitter;
- **MNIST lines**: MNIST training digits side by side, some with the style edits of
  `src.synth` (slashed zero, crossed seven, flagged one, ...);

and a share of each seen through `scan_look`. Built once in worker processes and cached.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from src.config import bounded
from src.models.line_reader import LINE_HEIGHT
from src.reading.ink import ink_box
from src.reading.line_view import line_image
from src.strokes import PenDigit, render_number
from src.synth import EDITS, mnist_ink, scan_look

MAX_DIGITS = 12


@dataclass
class LineDataConfig:
    lines: int = bounded(60000, 1, 10_000_000)  # training lines, built once and cached
    val_lines: int = bounded(2000, 0, 1_000_000)  # from held-out pen writers and MNIST val
    pen_share: float = bounded(0.6, 0.0, 1.0)  # the rest are MNIST lines
    touching_share: float = bounded(0.4, 0.0, 1.0)  # lines whose neighbours overlap
    style_share: float = bounded(0.15, 0.0, 1.0)  # MNIST digits given a style edit
    scan_share: float = bounded(0.2, 0.0, 1.0)
    fat_pens: float = bounded(0.0, 0.0, 1.0)  # pen lines drawn with a marker (14-30%)
    max_width: int = bounded(384, 64, 4096)  # strip width lines are padded to
    seed: int = 0


def _gap_range(rng: np.random.Generator, touching_share: float) -> tuple[float, float]:
    """Gaps between neighbours, as a share of the digit height, for one whole line."""
    if rng.random() < touching_share:
        lo = rng.uniform(-0.3, -0.05)
        return lo, lo + rng.uniform(0.02, 0.12)
    lo = rng.uniform(-0.02, 0.4)
    return lo, lo + rng.uniform(0.05, 0.4)


def pen_line(
    digits: Sequence[PenDigit],
    rng: np.random.Generator,
    touching_share: float,
    fat_pens: float = 0.0,
):
    height, brush = rng.uniform(28, 90), rng.uniform(0.03, 0.14)
    if fat_pens and rng.random() < fat_pens:  # drawn only then: other lines stay as they were
        brush = rng.uniform(0.14, 0.3)  # a sketchpad brush on small writing
    drawing = render_number(
        digits,
        rng,
        height=height,
        brush_frac=brush,
        gap_frac=_gap_range(rng, touching_share),
        slant_deg=12.0,
        margin_frac=0.1,
    )
    return drawing.image[..., 3].astype(np.float32) / 255.0


def mnist_line(
    images: np.ndarray, labels: np.ndarray, rng: np.random.Generator, config: LineDataConfig
) -> np.ndarray:
    """MNIST digits side by side at one height with baseline jitter; overlaps take the
    brighter ink, as two strokes crossing on paper do."""
    height = 40
    gap_lo, gap_hi = _gap_range(rng, config.touching_share)
    crops, tops = [], []
    for image, label in zip(images, labels, strict=True):
        ink = mnist_ink(image)
        edits = [edit for lab, edit in EDITS.values() if lab == int(label)]
        if edits and rng.random() < config.style_share:
            edited = edits[rng.integers(len(edits))](ink, rng)
            ink = ink if edited is None else edited
        box = ink_box(ink)
        crop = ink[box[1] : box[3], box[0] : box[2]]
        h = height * rng.uniform(0.85, 1.1)
        w = max(1, round(crop.shape[1] * h / crop.shape[0]))
        crops.append(np.asarray(Image.fromarray(crop).resize((w, round(h)), Image.BILINEAR)))
        tops.append(int(rng.uniform(-0.08, 0.08) * height) + 8)
    xs, x = [], 8
    for crop in crops:
        xs.append(x)
        x += crop.shape[1] + int(rng.uniform(gap_lo, gap_hi) * height)
        x = max(x, xs[-1] + 2)
    right = max(left + crop.shape[1] for left, crop in zip(xs, crops, strict=True))
    canvas = np.zeros((height * 2, right + 8), np.float32)
    for left, top, crop in zip(xs, tops, crops, strict=True):
        region = canvas[top : top + crop.shape[0], left : left + crop.shape[1]]
        np.maximum(region, crop[: region.shape[0], : region.shape[1]], out=region)
    return canvas


@dataclass
class LineSources:
    pen_writers: dict  # writer -> list of PenDigit (train writers only)
    mnist: np.ndarray
    mnist_labels: np.ndarray


def make_lines(
    sources: LineSources, count: int, seed: int, config: LineDataConfig
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """`count` lines: uint8 strips (count, LINE_HEIGHT, max_width), their widths, texts."""
    rng = np.random.default_rng(seed)
    writers = sorted(sources.pen_writers)
    strips = np.zeros((count, LINE_HEIGHT, config.max_width), np.uint8)
    widths, texts = np.zeros(count, np.int64), []
    for i in range(count):
        n = int(rng.integers(1, MAX_DIGITS + 1))
        if writers and rng.random() < config.pen_share:
            digits = sources.pen_writers[writers[rng.integers(len(writers))]]
            chosen = [digits[k] for k in rng.choice(len(digits), n)]
            ink = pen_line(chosen, rng, config.touching_share, config.fat_pens)
            text = [d.label for d in chosen]
        else:
            idx = rng.choice(len(sources.mnist), n)
            ink = mnist_line(sources.mnist[idx], sources.mnist_labels[idx], rng, config)
            text = sources.mnist_labels[idx].tolist()
        if rng.random() < config.scan_share:
            ink = scan_look(ink, rng)
        strip = line_image(ink, config.max_width)
        strips[i, :, : strip.shape[1]] = (strip * 255).round().astype(np.uint8)
        widths[i] = strip.shape[1]
        texts.append("".join(str(int(t)) for t in text))
    return strips, widths, texts


_SOURCES: LineSources | None = None  # set once per worker process, not sent per chunk


def _set_sources(sources: LineSources) -> None:
    global _SOURCES
    _SOURCES = sources


def _make_chunk(job: tuple[int, int, LineDataConfig]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    return make_lines(_SOURCES, *job)


def build_lines(
    pen: Sequence[PenDigit],
    mnist_images: np.ndarray,
    mnist_labels: np.ndarray,
    count: int,
    config: LineDataConfig,
    seed: int,
    workers: int | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """`count` lines in chunks over worker processes. Pen digits must be train writers."""
    if any(d.split != "train" or not d.writer.startswith("train-") for d in pen):
        raise ValueError("pendigits test writers are for evaluation only, never for training")
    by_writer: dict[str, list[PenDigit]] = {}
    for d in pen:
        by_writer.setdefault(d.writer, []).append(d)
    sources = LineSources(by_writer, mnist_images, mnist_labels)
    chunk = 1000
    jobs = [(min(chunk, count - s), seed * 1_000_003 + s, config) for s in range(0, count, chunk)]
    workers = workers or min(len(jobs), os.cpu_count() or 1)
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers, initializer=_set_sources, initargs=(sources,)) as pool:
            parts = list(pool.map(_make_chunk, jobs))
    else:
        parts = [make_lines(sources, *job) for job in jobs]
    strips = np.concatenate([p[0] for p in parts])
    widths = np.concatenate([p[1] for p in parts])
    return strips, widths, [t for p in parts for t in p[2]]
